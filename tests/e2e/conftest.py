"""The embedded platform as `make up` starts it (``launcher.up`` then the first-start ``bootstrap``), for e2e tests.

``embedded_platform`` is one platform for the whole session, with synthetic data, a dataset and a LightGBM champion,
shared by the tests that only read from it or add traffic. Tests that break it on purpose (killing processes,
stopping MLflow or the database) start their own with ``start_platform``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, text

from credit_local import launcher, platform_home
from credit_local.bootstrap import Bootstrapped, BootstrapSettings, bootstrap, follow
from credit_local.processes import free_port
from credit_shared.settings import PlatformSettings

# small enough to keep the first start near a minute on two cores, large enough for a model with real signal
APPLICANTS = 3_000
TEST_WINDOW = 1_000  # decisions per drift window on the shared platform


@dataclass(frozen=True)
class Running:
    """A started platform: its settings, URLs, keys, and what the first start created."""

    settings: PlatformSettings
    local: platform_home.LocalSettings
    platform: launcher.Platform
    served: Bootstrapped

    @property
    def home(self) -> Path:
        return platform_home.layout_of(self.settings).home

    def headers(self, role: str = "admin") -> dict[str, str]:
        return {"X-API-Key": self.platform.keys[role]}


def api(running: Running, role: str = "admin") -> httpx.Client:
    """A client of the gateway with ``role``'s development key."""
    return httpx.Client(base_url=running.platform.urls["api"], headers=running.headers(role), timeout=60.0)


def follow_job(client: httpx.Client, job: dict[str, Any], timeout_s: float = 600.0) -> dict[str, Any]:
    """Poll an accepted job until it succeeds, as the first start does (:func:`credit_local.bootstrap.follow`); its
    result. A failed job, or one still running after ``timeout_s``, fails the test with the job's message."""
    return follow(client, job, f"job {job['url']}", lambda stage, percent, message: None, timeout_s)


def counter(metrics_url: str, name: str) -> float:
    """A Prometheus counter's value (0 when not exposed yet)."""
    for line in httpx.get(metrics_url, timeout=5).text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def audit_rows(running: Running, prefix: str) -> dict[str, int]:
    """Audit rows per request id, read from the platform's database."""
    engine = create_engine(platform_home.layout_of(running.settings).database_url)
    try:
        with engine.connect() as conn:
            found = conn.execute(
                text("SELECT request_id, COUNT(*) FROM decisions WHERE request_id LIKE :p GROUP BY request_id"),
                {"p": f"{prefix}%"},
            )
            return {str(r[0]): int(r[1]) for r in found}
    finally:
        engine.dispose()


def free_ports() -> platform_home.LocalSettings:
    """Local settings with every port free (tests never collide with a running `make up`)."""
    names = [n for n in platform_home.LocalSettings.model_fields if n.endswith("_port")]
    return platform_home.LocalSettings.model_validate({n: free_port() for n in names})


@contextlib.contextmanager
def start_platform(home: Path, *, applicants: int = APPLICANTS) -> Iterator[Running]:
    """Start the embedded platform in ``home``, prepare a dataset and a champion through the gateway, stop it after."""
    settings, local = PlatformSettings(home=home), free_ports()
    started = launcher.up(settings, local)
    try:
        served = bootstrap(
            settings,
            started.urls["api"],
            started.keys["admin"],
            BootstrapSettings(applicants=applicants, folds=2, timeout_s=900.0),
            lambda stage, percent, message: None,
            scoring_url=f"http://127.0.0.1:{local.scoring_port}",
        )
        yield Running(settings, local, started, served)
    finally:
        launcher.down(settings)


@pytest.fixture(scope="session")
def embedded_platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    """One bootstrapped platform for the session (synthetic data, a dataset, a champion).

    Its drift windows close every 1,000 decisions (the default is 2,000) so that the monitoring tests publish less.
    """
    with pytest.MonkeyPatch.context() as env:
        env.setenv("MONITORING_WINDOW_SIZE", str(TEST_WINDOW))  # the services inherit it
        with start_platform(tmp_path_factory.mktemp("embedded") / "home") as running:
            yield running
