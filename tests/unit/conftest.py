"""Fixtures shared by the gateway's unit test modules (the gateway itself comes from ``test_gateway_api.starter``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from test_gateway_api import Running, starter


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Callable[..., Running]]:
    """Start a gateway (with the given fake services) on an in-memory broker and a fresh database."""
    yield from starter(tmp_path)


@pytest.fixture
def gw(start: Callable[..., Running]) -> Running:
    """A gateway with the default fakes."""
    return start()
