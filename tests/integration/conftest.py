"""Fixtures of the integration tests beyond the session's infrastructure (``tests/conftest.py``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.integration.flow import Flow, start_flow


@pytest.fixture(scope="session")
async def flow(
    anyio_backend: str, tmp_path_factory: pytest.TempPathFactory, kafka_bootstrap: str, mlflow_server: str,
    sample_data: Path,
) -> AsyncIterator[Flow]:  # fmt: skip
    """Ingestion, training and scoring running in this process, serving a champion trained on the real sample.

    Built once per session (a build and a training take minutes here): tests publish with their own request ids
    and count only what they published.
    """
    async with start_flow(tmp_path_factory.mktemp("flow"), kafka_bootstrap, mlflow_server, sample_data) as running:
        yield running
