"""Where the embedded platform lives and on which ports: ``CREDIT_HOME``'s folders, the ports, the development keys.

Everything lives under ``CREDIT_HOME`` (default ``.credit``)::

    run/<name>.pid   pid, start time, port, health URL, log of each process
    run/dev-keys.json  development API keys by role (0600)
    run/ports.json   the ports ``up`` chose
    logs/<name>.log  output of each process
    credit.db        application database (unless DATABASE_URL names another)
    mlflow/          MLflow backend (mlflow.db) and artifacts
    datasets/        versioned datasets
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from credit_local.processes import ProcessRecord, StartError, records
from credit_shared.settings import PlatformSettings

WORKERS = ("ingestion", "training", "scoring", "monitoring")
SERVICES = (*WORKERS, "gateway", "frontend")
INFRASTRUCTURE = ("kafka", "mlflow")
ROLES = ("viewer", "analyst", "admin")


class LocalSettings(BaseSettings):
    """Ports and limits of the embedded platform (prefix ``CREDIT_LOCAL_``)."""

    model_config = SettingsConfigDict(env_prefix="CREDIT_LOCAL_", extra="ignore")

    kafka_port: int = Field(9092, ge=1, le=65535, description="Port of the embedded Kafka-protocol broker (tansu)")
    mlflow_port: int = Field(5000, ge=1, le=65535, description="Port of the embedded MLflow server")
    gateway_port: int = Field(8000, ge=1, le=65535, description="Port of the REST API")
    frontend_port: int = Field(8501, ge=1, le=65535, description="Port of the dashboard")
    ingestion_port: int = Field(8101, ge=1, le=65535, description="Health/metrics port of the ingestion worker")
    training_port: int = Field(8102, ge=1, le=65535, description="Health/metrics port of the training worker")
    scoring_port: int = Field(8103, ge=1, le=65535, description="Health/metrics port of the scoring worker")
    monitoring_port: int = Field(8104, ge=1, le=65535, description="Health/metrics port of the monitoring worker")
    start_timeout_s: float = Field(240.0, gt=0, description="Longest wait for the whole platform to become healthy")

    def port_of(self, name: str) -> int:
        """The port of a process (``kafka``, ``mlflow``, a service)."""
        return int(getattr(self, f"{name}_port"))

    def ports(self) -> dict[str, int]:
        """Environment variable -> port, for every port the platform binds."""
        return {f"CREDIT_LOCAL_{name.upper()}_PORT": self.port_of(name) for name in (*INFRASTRUCTURE, *SERVICES)}


@dataclass(frozen=True)
class Layout:
    """Where the embedded platform keeps its state (see the module's docstring)."""

    home: Path

    @property
    def run(self) -> Path:
        """PID files, the lock and the development keys."""
        return self.home / "run"

    @property
    def logs(self) -> Path:
        """One log file per process."""
        return self.home / "logs"

    @property
    def mlflow(self) -> Path:
        """MLflow's backend database and artifacts."""
        return self.home / "mlflow"

    @property
    def ports_file(self) -> Path:
        """The ports ``up`` chose, so that one process can be started again on its own (``restart``)."""
        return self.run / "ports.json"

    @property
    def keys_file(self) -> Path:
        """Development API keys by role."""
        return self.run / "dev-keys.json"

    @property
    def database_url(self) -> str:
        """The application database: ``DATABASE_URL`` when set, else a SQLite file under the home folder."""
        return os.environ.get("DATABASE_URL") or f"sqlite:///{self.home / 'credit.db'}"


class AlreadyRunningError(StartError):
    """``up`` while the platform (or another ``up``/``down``) is running."""


def layout_of(platform: PlatformSettings) -> Layout:
    """The state folders of the platform configured by ``platform`` (``CREDIT_HOME``), as absolute paths."""
    return Layout(platform.home.expanduser().resolve())


@contextlib.contextmanager
def exclusive(layout: Layout) -> Iterator[None]:
    """One ``up`` or ``down`` at a time per home folder."""
    layout.run.mkdir(parents=True, exist_ok=True)
    with (layout.run / ".lock").open("w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise AlreadyRunningError(f"another `credit up` or `credit down` is working on {layout.home}") from exc
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def running(layout: Layout) -> list[ProcessRecord]:
    """Records of our processes that are still alive (pid and start time match)."""
    return [r for r in records(layout.run) if r.process() is not None]


def dev_keys(layout: Layout) -> dict[str, str]:
    """The development API keys, one per role: created once, kept across restarts, readable by the owner only."""
    if layout.keys_file.is_file():
        with contextlib.suppress(ValueError, OSError):
            keys = json.loads(layout.keys_file.read_text())
            if isinstance(keys, dict) and set(keys) == set(ROLES) and all(isinstance(v, str) for v in keys.values()):
                layout.keys_file.chmod(0o600)
                return keys
    layout.run.mkdir(parents=True, exist_ok=True)
    keys = {role: f"dev-{role}-{secrets.token_urlsafe(24)}" for role in ROLES}
    partial = layout.keys_file.with_name(".dev-keys.partial")
    partial.unlink(missing_ok=True)
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # never readable by others
    with os.fdopen(descriptor, "w") as out:
        json.dump(keys, out, indent=2)
    partial.replace(layout.keys_file)
    return keys


def recorded_ports(layout: Layout, name: str) -> LocalSettings:
    """The ports of the running platform: those ``up`` wrote, overridden by what the PID files say.

    Raises:
        StartError: when the port of ``name``, of the broker or of MLflow is known from neither.
    """
    chosen: dict[str, object] = {}
    with contextlib.suppress(OSError, ValueError):
        chosen = dict(json.loads(layout.ports_file.read_text()))
    chosen.update({f"{r.name}_port": r.port for r in records(layout.run) if r.port is not None})
    missing = [p for p in ("kafka", "mlflow", name) if f"{p}_port" not in chosen]
    if missing:
        raise StartError(
            f"the port(s) of {', '.join(missing)} are not recorded in {layout.run}: start the platform with `make up`"
        )
    return LocalSettings.model_validate(chosen)
