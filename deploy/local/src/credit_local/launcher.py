"""The embedded platform: everything on one machine, no Docker, no external service.

``up`` starts a tansu broker, an MLflow server (SQLite, local proxied artifacts), the four workers, the gateway and
the Streamlit dashboard, each as its own process, waits until each is healthy and returns the URLs. ``down`` stops
exactly what ``up`` started, from the PID files. Everything lives under ``CREDIT_HOME`` (default ``.credit``).
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import secrets
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from credit_local import infra
from credit_local.processes import (
    ProcessRecord,
    StartError,
    ensure_ports_free,
    http_ok,
    records,
    spawn,
    stop,
    tcp_ok,
    wait_until,
)
from credit_shared import db
from credit_shared.settings import PlatformSettings

log = logging.getLogger(__name__)

WORKERS = ("ingestion", "training", "scoring", "monitoring")
ROLES = ("viewer", "analyst", "admin")


class LocalSettings(BaseSettings):
    """Ports and limits of the embedded platform (prefix ``CREDIT_LOCAL_``)."""

    model_config = SettingsConfigDict(env_prefix="CREDIT_LOCAL_", extra="ignore")

    kafka_port: int = Field(9092, description="Port of the embedded Kafka-protocol broker (tansu)")
    mlflow_port: int = Field(5000, description="Port of the embedded MLflow server")
    gateway_port: int = Field(8000, description="Port of the REST API")
    frontend_port: int = Field(8501, description="Port of the dashboard")
    ingestion_port: int = Field(8101, description="Health/metrics port of the ingestion worker")
    training_port: int = Field(8102, description="Health/metrics port of the training worker")
    scoring_port: int = Field(8103, description="Health/metrics port of the scoring worker")
    monitoring_port: int = Field(8104, description="Health/metrics port of the monitoring worker")
    start_timeout_s: float = Field(180.0, gt=0, description="Longest wait for one process to become healthy")

    def ports(self) -> dict[str, int]:
        """Environment variable -> port, for every port the platform binds."""
        return {
            f"CREDIT_LOCAL_{name.upper()}": value for name, value in self.model_dump().items() if name.endswith("_port")
        }


@dataclass(frozen=True)
class Layout:
    """Where the embedded platform keeps its state."""

    home: Path

    @property
    def run(self) -> Path:
        """PID files and development keys."""
        return self.home / "run"

    @property
    def logs(self) -> Path:
        """One log file per process."""
        return self.home / "logs"

    @property
    def database_url(self) -> str:
        """The application database (SQLite)."""
        return f"sqlite:///{self.home / 'credit.db'}"

    @property
    def keys_file(self) -> Path:
        """Development API keys by role."""
        return self.home / "dev-keys.json"


class AlreadyRunningError(StartError):
    """``up`` while the platform is running."""


@dataclass
class Platform:
    """What ``up`` started: the URLs and the development keys."""

    urls: dict[str, str] = field(default_factory=dict)
    keys: dict[str, str] = field(default_factory=dict)
    started_in_s: float = 0.0


Report = Callable[[str], None]


def running(layout: Layout) -> list[ProcessRecord]:
    """Records of our processes that are still alive."""
    if not layout.run.is_dir():
        return []
    return [r for r in records(layout.run) if r.process() is not None]


def dev_keys(layout: Layout) -> dict[str, str]:
    """The development API keys (created once, kept across restarts, readable by the owner only)."""
    layout.home.mkdir(parents=True, exist_ok=True)
    if layout.keys_file.is_file():
        keys: dict[str, str] = json.loads(layout.keys_file.read_text())
        if set(keys) == set(ROLES):
            return keys
    keys = {role: f"dev-{role}-{secrets.token_urlsafe(24)}" for role in ROLES}
    layout.keys_file.touch(mode=0o600)
    layout.keys_file.chmod(0o600)
    layout.keys_file.write_text(json.dumps(keys, indent=2))
    return keys


def frontend_app() -> Path:
    """The dashboard's Streamlit script (located, not imported)."""
    spec = importlib.util.find_spec("credit_frontend")
    if spec is None or spec.origin is None:
        raise FileNotFoundError("the credit-frontend package is not installed")
    return Path(spec.origin).parent / "app.py"


def service_env(layout: Layout, local: LocalSettings, keys: dict[str, str]) -> dict[str, str]:
    """The environment every service process gets."""
    return {
        **os.environ,
        "PYTHONUNBUFFERED": "1",
        "CREDIT_HOME": str(layout.home),
        "CREDIT_ENV": os.environ.get("CREDIT_ENV", "development"),
        "KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{local.kafka_port}",
        "MLFLOW_TRACKING_URI": f"http://127.0.0.1:{local.mlflow_port}",
        "DATABASE_URL": layout.database_url,
        "GATEWAY_DEV_KEYS_FILE": str(layout.keys_file),
        "FRONTEND_GATEWAY_URL": f"http://127.0.0.1:{local.gateway_port}",
        "FRONTEND_API_KEY": keys["admin"],
        **{f"{w.upper()}_PORT": str(getattr(local, f"{w}_port")) for w in WORKERS},
        "GATEWAY_PORT": str(local.gateway_port),
    }


def up(platform: PlatformSettings, local: LocalSettings, report: Report = log.info) -> Platform:
    """Start the embedded platform and wait until every process is healthy.

    Raises:
        PortBusyError: when a port is taken (nothing is started).
        StartError: when a process does not become healthy (everything started is stopped again).
    """
    started = time.monotonic()
    layout = Layout(platform.home.resolve())
    alive = running(layout)
    if alive:
        raise AlreadyRunningError(
            f"the platform is already running from {layout.home} ({', '.join(r.name for r in alive)}); "
            "`make status` shows it, `make down` stops it"
        )
    ensure_ports_free(local.ports())
    for folder in (layout.run, layout.logs, layout.home / "mlflow" / "artifacts"):
        folder.mkdir(parents=True, exist_ok=True)
    for stale in layout.run.glob("*.json"):  # records of processes that are gone
        stale.unlink()
    report("database: migrating the application schema")
    db.migrate(layout.database_url)
    keys = dev_keys(layout)
    try:
        report(f"kafka: starting tansu on 127.0.0.1:{local.kafka_port} and creating the topics")
        infra.start_tansu(local.kafka_port, run_dir=layout.run, log_dir=layout.logs)
        report(f"mlflow: starting the tracking server on 127.0.0.1:{local.mlflow_port}")
        infra.start_mlflow(
            local.mlflow_port,
            backend_uri=f"sqlite:///{layout.home / 'mlflow' / 'mlflow.db'}",
            artifacts_destination=str(layout.home / "mlflow" / "artifacts"),
            run_dir=layout.run,
            log_dir=layout.logs,
            timeout_s=local.start_timeout_s,
        )
        env = service_env(layout, local, keys)
        pending: list[tuple[ProcessRecord, str]] = []
        for worker in WORKERS:
            port = getattr(local, f"{worker}_port")
            health = f"http://127.0.0.1:{port}/health"
            command = [sys.executable, "-m", f"{worker}_service"]
            pending.append((spawn(worker, command, env=env, run_dir=layout.run, log_dir=layout.logs, port=port,
                                  health_url=health), health))  # fmt: skip
        gateway_health = f"http://127.0.0.1:{local.gateway_port}/health"
        pending.append((spawn("gateway", [sys.executable, "-m", "gateway_service"], env=env, run_dir=layout.run,
                              log_dir=layout.logs, port=local.gateway_port, health_url=gateway_health),
                        gateway_health))  # fmt: skip
        frontend_health = f"http://127.0.0.1:{local.frontend_port}/_stcore/health"
        frontend = [
            sys.executable, "-m", "streamlit", "run", str(frontend_app()),
            "--server.headless", "true", "--server.address", "127.0.0.1",
            "--server.port", str(local.frontend_port), "--browser.gatherUsageStats", "false",
        ]  # fmt: skip
        pending.append((spawn("frontend", frontend, env=env, run_dir=layout.run, log_dir=layout.logs,
                              port=local.frontend_port, health_url=frontend_health), frontend_health))  # fmt: skip
        for record, health in pending:
            report(f"{record.name}: waiting until healthy")
            wait_until(record, lambda url=health: http_ok(url), timeout_s=local.start_timeout_s)  # type: ignore[misc]
    except BaseException:
        down(platform)
        raise
    return Platform(
        urls={
            "dashboard": f"http://127.0.0.1:{local.frontend_port}",
            "api": f"http://127.0.0.1:{local.gateway_port}",
            "api docs": f"http://127.0.0.1:{local.gateway_port}/docs",
            "mlflow": f"http://127.0.0.1:{local.mlflow_port}",
            "kafka": f"127.0.0.1:{local.kafka_port}",
        },
        keys=keys,
        started_in_s=time.monotonic() - started,
    )


def down(platform: PlatformSettings, report: Report = log.info) -> list[str]:
    """Stop every process ``up`` started: the services together first, then MLflow, then the broker.

    Returns:
        The names of the processes that were running.
    """
    layout = Layout(platform.home.resolve())
    if not layout.run.is_dir():
        return []
    found = records(layout.run)
    infra_names = ("mlflow", "kafka")
    stopped = stop([r for r in found if r.name not in infra_names], layout.run)
    for name in infra_names:
        stopped += stop([r for r in found if r.name == name], layout.run)
    for name in stopped:
        report(f"{name}: stopped")
    return stopped


@dataclass(frozen=True)
class ProcessStatus:
    """One line of ``credit status``."""

    name: str
    pid: int
    alive: bool
    healthy: bool
    rss_mb: float
    port: int | None
    url: str | None


def status(platform: PlatformSettings) -> list[ProcessStatus]:
    """Each process of the embedded platform with its memory and health."""
    layout = Layout(platform.home.resolve())
    if not layout.run.is_dir():
        return []
    out = []
    for record in records(layout.run):
        proc = record.process()
        rss = 0.0
        if proc is not None:
            family = [proc, *proc.children(recursive=True)]
            rss = sum(p.memory_info().rss for p in family if p.is_running()) / 1e6
        if record.health_url:
            healthy = proc is not None and http_ok(record.health_url)
        else:
            healthy = proc is not None and record.port is not None and tcp_ok(record.port)
        out.append(
            ProcessStatus(record.name, record.pid, proc is not None, healthy, rss, record.port, record.health_url)
        )
    return out
