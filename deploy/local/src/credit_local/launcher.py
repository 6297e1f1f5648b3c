"""The embedded platform: everything on one machine, no Docker, no external service.

``up`` migrates the application database, starts a tansu broker (and creates the topics), an MLflow server (SQLite,
local proxied artifacts), the four workers, the gateway and the Streamlit dashboard, each as its own process with its
own log, waits until each is healthy and returns the URLs and the development keys. ``down`` stops exactly what
``up`` started, from the PID files. Everything lives under ``CREDIT_HOME`` (see :mod:`credit_local.platform_home`);
how each process is started is :mod:`credit_local.service_processes`.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import psutil
from sqlalchemy import make_url

from credit_local import infra
from credit_local.platform_home import (
    INFRASTRUCTURE,
    SERVICES,
    AlreadyRunningError,
    Layout,
    LocalSettings,
    dev_keys,
    exclusive,
    layout_of,
    recorded_ports,
    running,
)
from credit_local.processes import ProcessRecord, StartError, ensure_ports_free, healthy, records, stop, wait_healthy
from credit_local.service_processes import spawn_mlflow, spawn_service
from credit_shared import db
from credit_shared.settings import PlatformSettings

log = logging.getLogger(__name__)

Report = Callable[[str], None]


@dataclass
class Platform:
    """What ``up`` started: the URLs, the development keys and how long each part took."""

    urls: dict[str, str] = field(default_factory=dict)
    keys: dict[str, str] = field(default_factory=dict)
    started_in_s: float = 0.0
    healthy_after_s: dict[str, float] = field(default_factory=dict)


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
    with exclusive(layout):
        _refuse_if_running(layout)
        keys = _prepare(layout, local, report)
        timings = _start_all(layout, local, keys, report, started)
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


def _refuse_if_running(layout: Layout) -> None:
    alive = running(layout)
    if alive:
        exited = sorted({r.name for r in records(layout.run)} - {r.name for r in alive})
        note = f"; exited: {', '.join(exited)} (`./credit logs NAME` shows why)" if exited else ""
        raise AlreadyRunningError(
            f"the platform is already running from {layout.home} ({', '.join(r.name for r in alive)}{note}); "
            "`./credit status` (or `make status`) shows it, `make down` stops it"
        )


def _prepare(layout: Layout, local: LocalSettings, report: Report) -> dict[str, str]:
    """Check the ports, make the folders, forget dead processes, migrate the database; the development keys."""
    ensure_ports_free(local.ports())
    for folder in (layout.logs, layout.mlflow / "artifacts"):
        folder.mkdir(parents=True, exist_ok=True)
    for stale in layout.run.glob("*.pid"):  # records of processes that are gone
        stale.unlink()
    report("database: migrating the application schema")
    migrate(layout.database_url)
    keys = dev_keys(layout)
    layout.ports_file.write_text(local.model_dump_json(indent=2))
    return keys


def _start_all(
    layout: Layout, local: LocalSettings, keys: dict[str, str], report: Report, started: float
) -> dict[str, float]:
    """Start MLflow, the broker, then every service; the seconds after ``started`` at which each was healthy.

    Everything started is stopped again when one fails.
    """
    timings: dict[str, float] = {}

    def remaining() -> float:
        return max(local.start_timeout_s - (time.monotonic() - started), 1.0)

    def became_healthy(record: ProcessRecord) -> None:
        timings[record.name] = round(time.monotonic() - started, 1)
        report(f"{record.name}: healthy after {timings[record.name]:.1f} s")

    try:
        report(f"mlflow: starting the tracking server on 127.0.0.1:{local.mlflow_port}")
        mlflow = spawn_mlflow(layout, local)
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
            pending.append(spawn_service(layout, local, keys, name))
        report("waiting until every service is healthy")
        wait_healthy(pending, timeout_s=remaining(), on_healthy=became_healthy)
    except BaseException:
        report("start-up failed: stopping what was started")
        _stop_all(layout, report)
        raise
    return timings


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
    with exclusive(layout):
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
    with exclusive(layout):
        return _start_one(layout, name, report, timeout_s)


def _start_one(layout: Layout, name: str, report: Report, timeout_s: float | None) -> ProcessRecord:
    alive = next((r for r in running(layout) if r.name == name), None)
    if alive is not None:
        raise AlreadyRunningError(f"{name} is already running (pid {alive.pid}); `./credit restart {name}` restarts it")
    local = recorded_ports(layout, name)
    wait_s = local.start_timeout_s if timeout_s is None else timeout_s
    for stale in [r for r in records(layout.run) if r.name == name]:  # dead, maybe with children left behind
        stop([stale], layout.run)
    report(f"{name}: starting on 127.0.0.1:{local.port_of(name)}")
    if name == "kafka":
        record = infra.start_tansu(local.kafka_port, run_dir=layout.run, log_dir=layout.logs, timeout_s=wait_s)
    else:
        record = (
            spawn_mlflow(layout, local) if name == "mlflow" else spawn_service(layout, local, dev_keys(layout), name)
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
    with exclusive(layout):
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
    with exclusive(layout):
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
