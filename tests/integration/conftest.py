"""Fixtures of the integration tests beyond the session's infrastructure (``tests/conftest.py``)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from credit_local import infra
from credit_local.processes import free_port, records
from tests.integration.flow import Flow, start_flow


@pytest.fixture(scope="module")
def own_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``host:port`` of a tansu broker for one module alone.

    For tests that count every decision or dead letter on the public topics: on the session's broker, the session's
    ``flow`` keeps a scoring service consuming ``loan-applications`` in its own group, which decides (and
    dead-letters) their messages a second time.
    """
    folder = tmp_path_factory.mktemp("broker")
    port = free_port()
    infra.start_tansu(port, run_dir=folder / "run", log_dir=folder / "logs", name=f"kafka-{port}",
                      setting="the own_broker fixture")  # fmt: skip
    yield f"127.0.0.1:{port}"
    infra.stop(records(folder / "run"), folder / "run")


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
