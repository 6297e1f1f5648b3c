"""The embedded platform: everything on one machine, no Docker, no external service.

``up`` migrates the application database, starts a tansu broker (and creates the topics), an MLflow server (SQLite,
local proxied artifacts), the four workers, the gateway and the Streamlit dashboard, each as its own process with its
own log, waits until each is healthy and returns the URLs and the development keys. ``down`` stops exactly what
``up`` started, from the PID files. Everything lives under ``CREDIT_HOME`` (default ``.credit``)::

    run/<name>.pid   pid, start time, port, health URL, log of each process
    run/dev-keys.json  development API keys by role (0600)
    logs/<name>.log  output of each process
    credit.db        application database (unless DATABASE_URL names another)
    mlflow/          MLflow backend (mlflow.db) and artifacts
    datasets/        versioned datasets
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib.util
import json
import logging
import os
import secrets
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psutil
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy import make_url

from credit_local import infra
from credit_local.processes import (
    ProcessRecord,
    StartError,
    ensure_ports_free,
    healthy,
    records,
    spawn,
    stop,
    wait_healthy,
)
from credit_shared import db
from credit_shared.settings import PlatformSettings

log = logging.getLogger(__name__)

WORKERS = ("ingestion", "training", "scoring", "monitoring")
SERVICES = (*WORKERS, "gateway", "frontend")
INFRASTRUCTURE = ("kafka", "mlflow")
ROLES = ("viewer", "analyst", "admin")

Report = Callable[[str], None]


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


@dataclass
class Platform:
    """What ``up`` started: the URLs, the development keys and how long each part took."""

    urls: dict[str, str] = field(default_factory=dict)
    keys: dict[str, str] = field(default_factory=dict)
    started_in_s: float = 0.0
    healthy_after_s: dict[str, float] = field(default_factory=dict)


def layout_of(platform: PlatformSettings) -> Layout:
    """The state folders of the platform configured by ``platform`` (``CREDIT_HOME``), as absolute paths."""
    return Layout(platform.home.expanduser().resolve())


@contextlib.contextmanager
def _exclusive(layout: Layout) -> Iterator[None]:
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


def frontend_app() -> Path:
    """The dashboard's Streamlit script (located, not imported: importing it would draw the page)."""
    spec = importlib.util.find_spec("credit_frontend")
    if spec is None or spec.origin is None:
        raise FileNotFoundError("the credit-frontend package is not installed: run `make install`")
    return Path(spec.origin).parent / "app.py"


def service_env(layout: Layout, local: LocalSettings, keys: dict[str, str]) -> dict[str, str]:
    """The environment of every service process: this one's, plus where everything is."""
    no_proxy = ",".join(filter(None, (os.environ.get("NO_PROXY") or os.environ.get("no_proxy"), "127.0.0.1,localhost")))
    return {
        **os.environ,
        "PYTHONUNBUFFERED": "1",
        "NO_PROXY": no_proxy,  # everything of the embedded platform is on 127.0.0.1
        "no_proxy": no_proxy,
        "CREDIT_HOME": str(layout.home),
        "CREDIT_ENV": os.environ.get("CREDIT_ENV", "development"),
        "KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{local.kafka_port}",
        "MLFLOW_TRACKING_URI": f"http://127.0.0.1:{local.mlflow_port}",
        "DATABASE_URL": layout.database_url,
        "GATEWAY_DEV_KEYS_FILE": str(layout.keys_file),
        "FRONTEND_GATEWAY_URL": f"http://127.0.0.1:{local.gateway_port}",
        "FRONTEND_API_KEY": keys["admin"],
        **{f"{name.upper()}_PORT": str(local.port_of(name)) for name in (*WORKERS, "gateway")},
    }


def service_commands(local: LocalSettings) -> dict[str, tuple[list[str], str]]:
    """Name -> (command, health URL) of each service process, in start order."""
    out: dict[str, tuple[list[str], str]] = {}
    for name in (*WORKERS, "gateway"):
        port = local.port_of(name)
        out[name] = ([sys.executable, "-m", f"{name}_service"], f"http://127.0.0.1:{port}/health")
    streamlit = [
        sys.executable, "-m", "streamlit", "run", str(frontend_app()),
        "--server.headless", "true", "--server.address", "127.0.0.1",
        "--server.port", str(local.frontend_port), "--browser.gatherUsageStats", "false",
    ]  # fmt: skip
    out["frontend"] = (streamlit, f"http://127.0.0.1:{local.frontend_port}/_stcore/health")
    return out


def migrate(url: str) -> None:
    """Bring the application database to the latest schema.

    Raises:
        StartError: naming the database (without its password) and the cause, when the migration fails.
    """
    try:
        db.migrate(url)
    except Exception as exc:  # any failure stops the start-up with one clear message
        shown = make_url(url).render_as_string(hide_password=True)
        raise StartError(f"could not migrate the application database {shown}: {exc}") from exc


def up(platform: PlatformSettings, local: LocalSettings, report: Report = log.info) -> Platform:
    """Start the embedded platform and wait until every process is healthy (the code behind ``credit up``).

    Args:
        platform: the platform settings (``CREDIT_HOME`` is the state folder).
        local: the ports and the start-up deadline.
        report: receives one line per stage (progress).

    Returns:
        The URLs, the development keys and the start-up timings.

    Raises:
        AlreadyRunningError: when processes of an earlier ``up`` are alive (nothing is started).
        PortBusyError: when a port is taken (nothing is started).
        StartError: when a process exits or is not healthy in time; everything started is stopped again.
    """
    started = time.monotonic()
    layout = layout_of(platform)
    with _exclusive(layout):
        alive = running(layout)
        if alive:
            exited = sorted({r.name for r in records(layout.run)} - {r.name for r in alive})
            note = f"; exited: {', '.join(exited)} (`./credit logs NAME` shows why)" if exited else ""
            raise AlreadyRunningError(
                f"the platform is already running from {layout.home} ({', '.join(r.name for r in alive)}{note}); "
                "`./credit status` (or `make status`) shows it, `make down` stops it"
            )
        ensure_ports_free(local.ports())
        for folder in (layout.logs, layout.mlflow / "artifacts"):
            folder.mkdir(parents=True, exist_ok=True)
        for stale in layout.run.glob("*.pid"):  # records of processes that are gone
            stale.unlink()
        report("database: migrating the application schema")
        migrate(layout.database_url)
        keys = dev_keys(layout)
        layout.ports_file.write_text(local.model_dump_json(indent=2))
        timings: dict[str, float] = {}

        def remaining() -> float:
            return max(local.start_timeout_s - (time.monotonic() - started), 1.0)

        def became_healthy(record: ProcessRecord) -> None:
            timings[record.name] = round(time.monotonic() - started, 1)
            report(f"{record.name}: healthy after {timings[record.name]:.1f} s")

        try:
            report(f"mlflow: starting the tracking server on 127.0.0.1:{local.mlflow_port}")
            mlflow = _spawn_mlflow(layout, local)
            report(f"kafka: starting tansu on 127.0.0.1:{local.kafka_port} and creating the topics")
            infra.start_tansu(local.kafka_port, run_dir=layout.run, log_dir=layout.logs)
            timings["kafka"] = round(time.monotonic() - started, 1)
            # the services read the registry as they start: with MLflow not answering yet, its client would retry
            # with a backoff of up to minutes, so they start once it is healthy
            report("mlflow: waiting until healthy")
            wait_healthy([mlflow], timeout_s=remaining(), on_healthy=became_healthy)
            pending = []
            for name in SERVICES:
                report(f"{name}: starting")
                pending.append(_spawn_service(layout, local, keys, name))
            report("waiting until every service is healthy")
            wait_healthy(pending, timeout_s=remaining(), on_healthy=became_healthy)
        except BaseException:
            report("start-up failed: stopping what was started")
            _stop_all(layout, report)
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
        healthy_after_s=timings,
    )


def _spawn_mlflow(layout: Layout, local: LocalSettings) -> ProcessRecord:
    return infra.spawn_mlflow(
        local.mlflow_port,
        backend_uri=f"sqlite:///{layout.mlflow / 'mlflow.db'}",
        artifacts_destination=str(layout.mlflow / "artifacts"),
        run_dir=layout.run,
        log_dir=layout.logs,
    )


def _spawn_service(layout: Layout, local: LocalSettings, keys: dict[str, str], name: str) -> ProcessRecord:
    command, health = service_commands(local)[name]
    env = service_env(layout, local, keys)
    return spawn(name, command, env=env, run_dir=layout.run, log_dir=layout.logs, port=local.port_of(name),
                 health_url=health)  # fmt: skip


def _local_of(layout: Layout, name: str) -> LocalSettings:
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


def _check_name(name: str) -> None:
    if name not in (*INFRASTRUCTURE, *SERVICES):
        known = ", ".join((*INFRASTRUCTURE, *SERVICES))
        raise ValueError(f"unknown process {name!r}; the platform's processes are: {known}")


def stop_process(platform: PlatformSettings, name: str, report: Report = log.info) -> bool:
    """Stop one process of the running platform (SIGTERM to its group, SIGKILL after a deadline).

    Other processes keep running: this is how an operator (or a fault test) takes one part away.

    Returns:
        True when it was running (or had left processes of its group behind), False when nothing was found.

    Raises:
        ValueError: when ``name`` is not a process of the platform.
    """
    _check_name(name)
    layout = layout_of(platform)
    with _exclusive(layout):
        return _stop_one(layout, name, report)


def _stop_one(layout: Layout, name: str, report: Report) -> bool:
    record = next((r for r in records(layout.run) if r.name == name), None)
    if record is None:
        return False
    stopped = bool(stop([record], layout.run))
    if stopped:
        report(f"{name}: stopped")
    return stopped


def start_process(
    platform: PlatformSettings, name: str, report: Report = log.info, *, timeout_s: float | None = None
) -> ProcessRecord:
    """Start one process of the running platform again, exactly as ``up`` started it, and wait until it is healthy.

    It gets the ports ``up`` chose, the same environment and the same development keys. The broker (tansu, in
    memory) comes back empty, with its topics created again: a reset, not a recovery.

    Args:
        platform: the platform settings (``CREDIT_HOME``).
        name: ``kafka``, ``mlflow`` or a service.
        report: receives one line per stage.
        timeout_s: the longest wait for health (default: ``CREDIT_LOCAL_START_TIMEOUT_S`` as ``up`` used it).

    Returns:
        The new process's record.

    Raises:
        ValueError: when ``name`` is not a process of the platform.
        AlreadyRunningError: when it is running already (nothing is started).
        StartError: when no ``up`` recorded the ports, or the process exits or is not healthy in time (it is
            stopped again).
    """
    _check_name(name)
    layout = layout_of(platform)
    with _exclusive(layout):
        return _start_one(layout, name, report, timeout_s)


def _start_one(layout: Layout, name: str, report: Report, timeout_s: float | None) -> ProcessRecord:
    alive = next((r for r in running(layout) if r.name == name), None)
    if alive is not None:
        raise AlreadyRunningError(f"{name} is already running (pid {alive.pid}); `./credit restart {name}` restarts it")
    local = _local_of(layout, name)
    wait_s = local.start_timeout_s if timeout_s is None else timeout_s
    for stale in [r for r in records(layout.run) if r.name == name]:  # dead, maybe with children left behind
        stop([stale], layout.run)
    report(f"{name}: starting on 127.0.0.1:{local.port_of(name)}")
    if name == "kafka":
        record = infra.start_tansu(local.kafka_port, run_dir=layout.run, log_dir=layout.logs, timeout_s=wait_s)
    else:
        record = (
            _spawn_mlflow(layout, local) if name == "mlflow" else _spawn_service(layout, local, dev_keys(layout), name)
        )
        try:
            wait_healthy([record], timeout_s=wait_s)
        except BaseException:
            stop([record], layout.run)
            raise
    report(f"{name}: healthy")
    return record


def restart(
    platform: PlatformSettings, name: str, report: Report = log.info, *, timeout_s: float | None = None
) -> ProcessRecord:
    """Stop one process if it runs (or clean up after it when it died), start it again and wait until it is healthy.

    The code behind ``credit restart NAME``; see :func:`stop_process` and :func:`start_process`.
    """
    _check_name(name)
    layout = layout_of(platform)
    with _exclusive(layout):
        _stop_one(layout, name, report)
        return _start_one(layout, name, report, timeout_s)


def down(platform: PlatformSettings, report: Report = log.info) -> list[str]:
    """Stop every process ``up`` started (the code behind ``credit down``): services, then MLflow, then the broker.

    The broker goes last so that the services can finish or release the messages in hand.

    Returns:
        The names of the processes that were running.
    """
    layout = layout_of(platform)
    if not layout.run.is_dir():
        return []
    with _exclusive(layout):
        return _stop_all(layout, report)


def _stop_all(layout: Layout, report: Report) -> list[str]:
    found = records(layout.run)
    stopped = stop([r for r in found if r.name not in INFRASTRUCTURE], layout.run)
    for name in ("mlflow", "kafka"):
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
    uptime_s: float
    log: str


def status(platform: PlatformSettings) -> list[ProcessStatus]:
    """Each process of the embedded platform (the code behind ``credit status``).

    RSS counts the process and its children (MLflow's server runs a worker process).
    """
    out = []
    for record in records(layout_of(platform).run):
        proc = record.process()
        rss = 0
        if proc is not None:
            for member in [proc, *proc.children(recursive=True)]:
                with contextlib.suppress(psutil.Error):
                    rss += member.memory_info().rss
        uptime = time.time() - record.create_time if proc is not None else 0.0
        out.append(
            ProcessStatus(
                name=record.name,
                pid=record.pid,
                alive=proc is not None,
                healthy=healthy(record),
                rss_mb=rss / 2**20,
                port=record.port,
                uptime_s=uptime,
                log=record.log,
            )
        )
    return out
