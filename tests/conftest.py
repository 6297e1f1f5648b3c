"""Session fixtures that start real parts on free ports, lazily: a tansu broker, an MLflow server, PostgreSQL.

They use the same code as ``make up`` (``credit_local.infra``). Tests marked ``docker`` are skipped, with the reason,
when no Docker engine answers.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from credit_local import infra
from credit_local.infra import free_port, stop
from credit_local.processes import records

ROOT = Path(__file__).resolve().parents[1]
SAMPLE_DATA = ROOT.parent / "shared" / "data" / "home-credit"


@pytest.fixture(autouse=True)
def keep_main_module() -> Iterator[None]:
    """Put back ``sys.modules["__main__"]`` after each test.

    Streamlit's ``AppTest`` leaves its page script there; a process pool started later (forkserver or spawn) then
    re-runs that script in every worker, which fails (seen: the monitoring report's pool after the dashboard's tests).
    """
    main = sys.modules["__main__"]
    yield
    sys.modules["__main__"] = main


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def sample_data() -> Path:
    """The real Home Credit rows beside the repository (skips when absent)."""
    if not SAMPLE_DATA.is_dir():
        pytest.skip(f"the real Home Credit sample is not at {SAMPLE_DATA}")
    return SAMPLE_DATA


@pytest.fixture(scope="session")
def infra_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Run folder of the session's infrastructure; everything started there is stopped at the end."""
    folder = tmp_path_factory.mktemp("infra")
    yield folder
    stop(records(folder / "run"), folder / "run")


@pytest.fixture(scope="session")
def kafka_bootstrap(infra_dir: Path) -> str:
    """``host:port`` of a running tansu broker with every topic created."""
    port = free_port()
    infra.start_tansu(
        port,
        run_dir=infra_dir / "run",
        log_dir=infra_dir / "logs",
        name=f"kafka-{port}",
        setting="the kafka_bootstrap fixture",
    )
    return f"127.0.0.1:{port}"


@pytest.fixture(scope="session")
def mlflow_server(infra_dir: Path) -> str:
    """URL of a running MLflow server with a model registry (SQLite backend, proxied local artifacts)."""
    port = free_port()
    home = infra_dir / f"mlflow-{port}"
    (home / "artifacts").mkdir(parents=True)
    infra.start_mlflow(
        port,
        backend_uri=f"sqlite:///{home / 'mlflow.db'}",
        artifacts_destination=str(home / "artifacts"),
        run_dir=infra_dir / "run",
        log_dir=infra_dir / "logs",
        name=f"mlflow-{port}",
        setting="the mlflow_server fixture",
    )
    return f"http://127.0.0.1:{port}"


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """Server URL (no database) of a throwaway PostgreSQL cluster."""
    # directly under the system temp folder: the postgres user must be able to reach it (pytest's are private)
    data_dir = Path(tempfile.mkdtemp(prefix="credit-pg-"))
    try:
        url = infra.start_postgres(data_dir, free_port())
    except FileNotFoundError as exc:
        pytest.skip(f"PostgreSQL is not installed here: {exc}")
    yield url
    infra.stop_postgres(data_dir)
    shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture
def postgres_url(postgres_server: str) -> str:
    """SQLAlchemy URL of a fresh, empty database in the throwaway cluster."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    engine = create_engine(f"{postgres_server}/postgres", isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return f"{postgres_server}/{name}"


def _docker_engine_answers() -> bool:
    try:
        import docker

        docker.from_env(timeout=3).ping()
    except Exception:  # noqa: BLE001 - any failure means no usable engine
        return False
    return True


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip ``docker`` tests, with the reason, when no Docker engine answers."""
    docker_items = [item for item in items if item.get_closest_marker("docker")]
    if docker_items and not _docker_engine_answers():
        skip = pytest.mark.skip(reason="no Docker engine")
        for item in docker_items:
            item.add_marker(skip)
