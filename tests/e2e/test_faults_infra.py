"""Infrastructure faults on the embedded platform, with applications flowing: the MLflow server, then the database.

Each scenario starts its own platform (``start_platform``) and breaks only that one:

- **MLflow stops**: scoring keeps deciding with the model it holds; a training and a promotion asked through the
  gateway fail with an error that names MLflow (they do not hang); MLflow comes back on the same port and backend,
  and a training and a promotion succeed again. No application is lost.
- **PostgreSQL stops** (the platform runs on ``DATABASE_URL`` pointing at a throwaway cluster): scoring and the
  gateway answer 503 on ``/ready`` naming the database; scoring stops committing offsets instead of dropping
  applications; no process dies. PostgreSQL comes back on the same port and data folder, the services become ready
  and every application ends with exactly one audit row and at least one decision.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from sqlalchemy import create_engine, select, text

from credit_local import infra, launcher, platform_home
from credit_local.bootstrap import BootstrapError, follow
from credit_local.loans_cli import production_applications
from credit_local.processes import free_port, http_ok, tail
from credit_shared import topics
from credit_shared.db.models import DecisionRecord
from tests.e2e.conftest import Running, api, audit_rows, counter, start_platform
from tests.e2e.outside import Traffic

pytestmark = pytest.mark.e2e

T = TypeVar("T")
RATE_PER_S = 8.0  # applications per second: a steady stream that busy cores decide without a growing backlog
SCORING_GROUP = "scoring"  # the scoring service's consumer group (SCORING_GROUP_ID's default)


def eventually(check: Callable[[], T], what: Callable[[], str], timeout_s: float = 120.0) -> T:
    """Poll ``check`` until it returns something truthy, and return it; fail with ``what()`` after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not (result := check()):
        assert time.monotonic() < deadline, f"not within {timeout_s:.0f} s: {what()}"
        time.sleep(0.5)
    return result


async def _partitions(consumer: AIOKafkaConsumer, topic: str) -> set[int]:
    await consumer.topics()  # fetches the metadata
    return consumer.partitions_for_topic(topic) or set()


def committed_offsets(bootstrap: str, group: str = SCORING_GROUP) -> dict[int, int | None]:
    """The offsets ``group`` committed on ``loan-applications``, by partition (read without joining the group)."""

    async def read() -> dict[int, int | None]:
        consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
        await consumer.start()
        try:
            name = topics.LOAN_APPLICATIONS.name
            return {p: await consumer.committed(TopicPartition(name, p)) for p in await _partitions(consumer, name)}
        finally:
            await consumer.stop()

    return asyncio.run(read())


def readiness(running: Running, name: str) -> tuple[int, dict[str, Any]]:
    """Status and body of a service's ``GET /ready``."""
    response = httpx.get(f"http://127.0.0.1:{running.local.port_of(name)}/ready", timeout=10)
    return response.status_code, response.json()


def wait_readiness(running: Running, name: str, status: int, timeout_s: float = 120.0) -> dict[str, Any]:
    """Wait until a service's ``GET /ready`` answers ``status``; the body of that answer."""

    def answered() -> dict[str, Any]:
        code, body = readiness(running, name)
        return body if code == status else {}

    return eventually(answered, lambda: f"{name} /ready: {readiness(running, name)}\n{logs(running, name)}", timeout_s)


def pids(running: Running) -> dict[str, int]:
    """Pid of every live process of the platform."""
    return {s.name: s.pid for s in launcher.status(running.settings) if s.alive}


def logs(running: Running, *names: str) -> str:
    """The last lines of the named processes' logs (for failure messages)."""
    return "\n".join(f"--- {n}.log:\n{tail(running.home / 'logs' / f'{n}.log', 30)}" for n in names)


def post_job(client: httpx.Client, path: str, body: dict[str, Any]) -> dict[str, Any]:
    """Ask for asynchronous work; the accepted job."""
    response = client.post(path, json=body)
    assert response.status_code == 202, f"POST {path} answered {response.status_code}: {response.text[:500]}"
    job: dict[str, Any] = response.json()
    return job


def quiet(stage: str, percent: float, message: str) -> None:
    """A progress report nobody reads."""


@contextlib.contextmanager
def flowing(running: Running, rows: list[dict[str, Any]]) -> Iterator[Traffic]:
    """Applications published continuously (and decisions read back) while the block runs; stopped on the way out."""
    traffic = Traffic(running.platform.urls["kafka"], rows, rate_per_s=RATE_PER_S)
    traffic.start()
    try:
        yield traffic
    finally:  # after finish() a no-op; on a failure, the threads end without waiting for the last decisions
        traffic.stop.set()
        traffic.reading.set()


def published_after(traffic: Traffic, start: int, count: int) -> list[str]:
    """Wait until ``count`` more applications than the first ``start`` are published; their request ids."""
    window = eventually(
        lambda: len(traffic.sent) >= start + count and traffic.sent[start : start + count],
        lambda: f"only {len(traffic.sent) - start} of {count} published (errors: {traffic.errors})",
        timeout_s=60,
    )
    assert isinstance(window, list)
    return window


def nothing_lost(running: Running, traffic: Traffic) -> dict[str, int]:
    """Stop the traffic; check every delivered application has at least one decision and exactly one audit row."""
    traffic.finish()
    assert traffic.errors == [], traffic.errors
    assert traffic.delivered, "nothing was published"
    undecided = traffic.delivered - set(traffic.decided)
    assert not undecided, f"{len(undecided)} of {len(traffic.delivered)} without a decision\n{logs(running, 'scoring')}"
    prefix = f"fault-{traffic.run}-"
    audit = eventually(
        lambda: (rows := audit_rows(running, prefix)).keys() >= traffic.delivered and rows,
        lambda: f"{len(traffic.delivered - audit_rows(running, prefix).keys())} without an audit row",
        timeout_s=60,
    )
    assert isinstance(audit, dict)
    assert set(audit.values()) == {1}, {k: n for k, n in audit.items() if n != 1}
    assert set(audit) <= set(traffic.sent)
    return audit


def dummy_training(dataset_id: str) -> dict[str, Any]:
    """The cheapest real training (a prior-class baseline, two folds): seconds, so the test stays short."""
    return {"dataset_id": dataset_id, "run_name": "fault-test", "family": "dummy", "folds": 2}


def test_mlflow_down_scoring_goes_on_training_and_promotion_fail_clearly_then_recover(tmp_path: Path) -> None:
    with start_platform(tmp_path / "home") as running, api(running) as client:
        served = running.served
        before = pids(running)
        with flowing(running, production_applications(running.home, served.dataset_id)) as traffic:
            eventually(lambda: len(traffic.decided) >= 10, lambda: logs(running, "scoring"))

            assert launcher.stop_process(running.settings, "mlflow")
            assert not http_ok(f"{running.platform.urls['mlflow']}/health")

            # scoring goes on with the model it holds: what is published after the stop is decided
            during = published_after(traffic, len(traffic.sent), 40)
            eventually(
                lambda: set(during) <= set(traffic.decided),
                lambda: (
                    f"{len(set(during) - set(traffic.decided))} of {len(during)} undecided\n" + logs(running, "scoring")
                ),
            )
            status, body = readiness(running, "scoring")
            assert status == 200, body  # it holds its champion: MLflow is not needed to decide
            status, body = readiness(running, "training")
            assert (status, body["checks"]["mlflow"]) == (503, False), body
            status, body = readiness(running, "gateway")
            assert body["checks"]["mlflow"] is False, body

            # training and promotion fail, naming MLflow, instead of hanging
            training = post_job(client, "/v1/training", dummy_training(served.dataset_id))
            with pytest.raises(BootstrapError, match="MLflow") as trained:
                follow(client, training, "training", quiet, timeout_s=120)
            # promotion is refused at once: the gateway checks the version in the registry before it publishes
            promoted = client.post("/v1/registry/aliases/challenger", json={"version": served.version})
            assert promoted.status_code == 503, promoted.text
            assert "MLflow" in promoted.json()["detail"], promoted.text  # not mistaken for a missing version (404)

            # MLflow comes back on the same port with the same backend: both work again
            launcher.start_process(running.settings, "mlflow")
            result = follow(client, post_job(client, "/v1/training", dummy_training(served.dataset_id)), "training",
                            quiet, timeout_s=300)  # fmt: skip
            follow(client, post_job(client, "/v1/registry/aliases/challenger", {"version": result["version"]}),
                   "promotion", quiet, timeout_s=120)  # fmt: skip
            for name in ("training", "gateway"):
                wait_readiness(running, name, 200)
            audit = nothing_lost(running, traffic)

        versions = _decided_versions(platform_home.layout_of(running.settings).database_url, during)
        assert versions == {served.version}, versions  # decided by the model held while MLflow was away
        assert pids(running) == {**before, "mlflow": pids(running)["mlflow"]}, "a service died or was restarted"
    print(
        f"\nMLflow down: {len(during)} applications decided while it was down; training failed with "
        f"{trained.value}; promotion refused with {promoted.json()['detail']}; {len(audit)} published, none lost"
    )


def _decided_versions(database_url: str, request_ids: list[str]) -> set[str]:
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            query = select(DecisionRecord.model_version).where(DecisionRecord.request_id.in_(request_ids))
            return set(conn.scalars(query))
    finally:
        engine.dispose()


@dataclass(frozen=True)
class Cluster:
    """A PostgreSQL cluster of this test alone: it stops and starts it."""

    data_dir: Path
    port: int
    url: str  # of the platform's database


@pytest.fixture
def own_postgres(monkeypatch: pytest.MonkeyPatch) -> Iterator[Cluster]:
    """A throwaway PostgreSQL cluster with an empty ``credit`` database, named by ``DATABASE_URL`` for ``up``."""
    # directly under the system temp folder: the postgres user must be able to reach it (pytest's are private)
    data_dir, port = Path(tempfile.mkdtemp(prefix="credit-pg-")), free_port()
    try:
        server = infra.start_postgres(data_dir, port)
    except FileNotFoundError as exc:
        shutil.rmtree(data_dir, ignore_errors=True)
        pytest.skip(f"PostgreSQL is not installed here: {exc}")
    try:
        engine = create_engine(f"{server}/postgres", isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(text('CREATE DATABASE "credit"'))
        engine.dispose()
        monkeypatch.setenv("DATABASE_URL", f"{server}/credit")
        yield Cluster(data_dir, port, f"{server}/credit")
    finally:
        infra.stop_postgres(data_dir)
        shutil.rmtree(data_dir, ignore_errors=True)


def test_database_down_services_report_not_ready_keep_every_application_and_recover(
    tmp_path: Path, own_postgres: Cluster
) -> None:
    every = (*platform_home.WORKERS, "gateway")  # each has a database readiness check
    with start_platform(tmp_path / "home") as running:
        assert platform_home.layout_of(running.settings).database_url == own_postgres.url
        kafka = running.platform.urls["kafka"]
        failures_total = f"http://127.0.0.1:{running.local.scoring_port}/metrics", "scoring_batch_failures_total"
        before = pids(running)
        with flowing(running, production_applications(running.home, running.served.dataset_id)) as traffic:
            eventually(lambda: len(traffic.decided) >= 10, lambda: logs(running, "scoring"))

            infra.stop_postgres(own_postgres.data_dir)
            for name in every:
                body = wait_readiness(running, name, 503, timeout_s=60)
                assert body["checks"]["database"] is False, (name, body)

            # scoring holds the applications: it retries the batch and commits nothing while the database is down
            held, failures, published = committed_offsets(kafka), counter(*failures_total), len(traffic.sent)
            eventually(
                lambda: counter(*failures_total) >= failures + 3 and len(traffic.sent) >= published + 20,
                lambda: logs(running, "scoring"),
            )
            assert committed_offsets(kafka) == held, "scoring committed offsets of applications it could not audit"
            assert pids(running) == before, "a process died while the database was down"

            infra.start_postgres(own_postgres.data_dir, own_postgres.port)
            for name in every:
                wait_readiness(running, name, 200)
            audit = nothing_lost(running, traffic)

        assert pids(running) == before, "a process died or was restarted"
    print(f"\ndatabase down: {len(audit)} applications published, each audited once and decided")
