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
import json
import shutil
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from sqlalchemy import create_engine, select, text

from credit_local import infra, launcher
from credit_local.bootstrap import BootstrapError, follow
from credit_local.loans_cli import messages, production_applications
from credit_local.processes import free_port, http_ok, tail
from credit_shared import topics
from credit_shared.db.models import DecisionRecord
from tests.e2e.conftest import Running, start_platform

pytestmark = pytest.mark.e2e

T = TypeVar("T")
RATE_PER_S = 8.0  # applications per second: a steady stream that two busy cores still decide without a backlog
SCORING_GROUP = "scoring"  # the scoring service's consumer group (SCORING_GROUP_ID's default)


class Traffic:
    """A lending application publishing applications continuously from a background thread; remembers each id."""

    def __init__(self, bootstrap: str, rows: list[dict[str, Any]], rate_per_s: float = RATE_PER_S) -> None:
        self._bootstrap, self._rate = bootstrap, rate_per_s
        self._messages = messages(rows, 10**9, 0.0, seed=7)
        self._sent: list[str] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), name="traffic", daemon=True)
        self.error: BaseException | None = None

    def __enter__(self) -> Traffic:
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self._stopping.set()
        self._thread.join(timeout=30)

    @property
    def sent(self) -> list[str]:
        """Request ids published so far (acknowledged by the broker), in order."""
        with self._lock:
            return list(self._sent)

    def published_after(self, start: int, count: int, timeout_s: float = 60.0) -> list[str]:
        """Wait until ``count`` more request ids than the first ``start`` are published; those ids."""
        window = eventually(
            lambda: len(sent := self.sent) >= start + count and sent[start : start + count],
            lambda: f"only {len(self.sent) - start} of {count} published (error: {self.error!r})",
            timeout_s,
        )
        assert isinstance(window, list)
        return window

    def stop(self) -> list[str]:
        """Stop publishing; every request id published.

        Raises:
            AssertionError: when the publisher failed (its error is chained).
        """
        self._stopping.set()
        self._thread.join(timeout=30)
        assert not self._thread.is_alive(), "the publisher did not stop"
        if self.error is not None:
            raise AssertionError(f"publishing failed: {self.error!r}") from self.error
        return self.sent

    async def _run(self) -> None:
        producer = AIOKafkaProducer(bootstrap_servers=self._bootstrap)
        await producer.start()
        try:
            while not self._stopping.is_set():
                key, value = next(self._messages)
                await producer.send_and_wait(topics.LOAN_APPLICATIONS.name, value, key=key)
                with self._lock:
                    self._sent.append(json.loads(value)["request_id"])
                await asyncio.sleep(1 / self._rate)
        except BaseException as exc:
            self.error = exc
            raise
        finally:
            await producer.stop()


def eventually(check: Callable[[], T], what: Callable[[], str], timeout_s: float = 120.0) -> T:
    """Poll ``check`` until it returns something truthy, and return it; fail with ``what()`` after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not (result := check()):
        assert time.monotonic() < deadline, f"not within {timeout_s:.0f} s: {what()}"
        time.sleep(0.5)
    return result


def decisions(bootstrap: str) -> Counter[str]:
    """Decisions published so far on ``loan-decisions``, counted by request id (the topic read from its start)."""

    async def read() -> Counter[str]:
        consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)
        await consumer.start()
        try:
            name = topics.LOAN_DECISIONS.name
            partitions = [TopicPartition(name, p) for p in sorted(await _partitions(consumer, name))]
            consumer.assign(partitions)
            await consumer.seek_to_beginning(*partitions)
            end = await consumer.end_offsets(partitions)
            seen: Counter[str] = Counter()
            while [p for p in partitions if await consumer.position(p) < end[p]]:
                for records in (await consumer.getmany(*partitions, timeout_ms=1000)).values():
                    seen.update(json.loads(r.value or b"{}")["request_id"] for r in records)
            return seen
        finally:
            await consumer.stop()

    return asyncio.run(read())


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


def audited(database_url: str) -> set[str]:
    """Request ids with an audit row (the table's key is the request id: at most one row each)."""
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            return set(conn.scalars(select(DecisionRecord.request_id)))
    finally:
        engine.dispose()


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


def counter(running: Running, service: str, metric: str) -> float:
    """A counter of a worker's ``/metrics`` (0 when not exposed yet)."""
    text_ = httpx.get(f"http://127.0.0.1:{running.local.port_of(service)}/metrics", timeout=10).text
    return sum(float(line.rsplit(" ", 1)[1]) for line in text_.splitlines() if line.startswith(metric + " "))


def pids(running: Running) -> dict[str, int]:
    """Pid of every live process of the platform."""
    return {s.name: s.pid for s in launcher.status(running.settings) if s.alive}


def logs(running: Running, *names: str) -> str:
    """The last lines of the named processes' logs (for failure messages)."""
    return "\n".join(f"--- {n}.log:\n{tail(running.home / 'logs' / f'{n}.log', 30)}" for n in names)


def api(running: Running) -> httpx.Client:
    """An administrator's client of the gateway."""
    return httpx.Client(base_url=running.platform.urls["api"], headers=running.headers("admin"), timeout=60.0)


def post_job(client: httpx.Client, path: str, body: dict[str, Any]) -> dict[str, Any]:
    """Ask for asynchronous work; the accepted job."""
    response = client.post(path, json=body)
    assert response.status_code == 202, f"POST {path} answered {response.status_code}: {response.text[:500]}"
    job: dict[str, Any] = response.json()
    return job


def quiet(stage: str, percent: float, message: str) -> None:
    """A progress report nobody reads."""


def every_request_decided(running: Running, sent: list[str], database_url: str, timeout_s: float = 180.0) -> None:
    """Wait until every published request id has an audit row and at least one decision (nothing lost)."""
    kafka = running.platform.urls["kafka"]

    def missing() -> tuple[set[str], set[str]]:
        return set(sent) - audited(database_url), set(sent) - set(decisions(kafka))

    eventually(
        lambda: missing() == (set(), set()),
        lambda: "of {} published, without an audit row: {}; without a decision: {}\n{}".format(
            len(sent), *(len(m) for m in missing()), logs(running, "scoring")
        ),
        timeout_s,
    )


def dummy_training(dataset_id: str) -> dict[str, Any]:
    """The cheapest real training (a prior-class baseline, two folds): seconds, so the test stays short."""
    return {"dataset_id": dataset_id, "run_name": "fault-test", "family": "dummy", "folds": 2}


def test_mlflow_down_scoring_goes_on_training_and_promotion_fail_clearly_then_recover(tmp_path: Path) -> None:
    with start_platform(tmp_path / "home") as running, api(running) as client:
        served, kafka = running.served, running.platform.urls["kafka"]
        database_url = launcher.layout_of(running.settings).database_url
        rows = production_applications(running.home, served.dataset_id)
        before = pids(running)
        with Traffic(kafka, rows) as traffic:
            eventually(lambda: len(audited(database_url)) >= 10, lambda: logs(running, "scoring"))

            assert launcher.stop_process(running.settings, "mlflow")
            assert not http_ok(f"{running.platform.urls['mlflow']}/health")
            stopped_at = len(traffic.sent)

            # scoring goes on with the model it holds: what was published after the stop is decided by that version
            during = traffic.published_after(stopped_at, 40)
            eventually(
                lambda: set(during) <= set(decisions(kafka)),
                lambda: (
                    f"{len(set(during) - set(decisions(kafka)))} of {len(during)} undecided\n"
                    + logs(running, "scoring")
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
            promotion = post_job(client, "/v1/registry/aliases/challenger", {"version": served.version})
            with pytest.raises(BootstrapError, match="MLflow") as promoted:
                follow(client, promotion, "promotion", quiet, timeout_s=120)
            assert "no version" not in str(promoted.value), promoted.value  # not mistaken for a missing version

            # MLflow comes back on the same port with the same backend: both work again
            launcher.start_process(running.settings, "mlflow")
            result = follow(client, post_job(client, "/v1/training", dummy_training(served.dataset_id)), "training",
                            quiet, timeout_s=300)  # fmt: skip
            follow(client, post_job(client, "/v1/registry/aliases/challenger", {"version": result["version"]}),
                   "promotion", quiet, timeout_s=120)  # fmt: skip
            for name in ("training", "gateway"):
                wait_readiness(running, name, 200)
            sent = traffic.stop()

        every_request_decided(running, sent, database_url)
        versions = _decided_versions(database_url, during)
        assert versions == {served.version}, versions
        assert pids(running) == {**before, "mlflow": pids(running)["mlflow"]}, "a service died or was restarted"
    print(
        f"\nMLflow down: {len(during)} applications decided while it was down; training failed with "
        f"{trained.value}; promotion failed with {promoted.value}; {len(sent)} published, none lost"
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
    with start_platform(tmp_path / "home") as running:
        assert launcher.layout_of(running.settings).database_url == own_postgres.url
        kafka = running.platform.urls["kafka"]
        rows = production_applications(running.home, running.served.dataset_id)
        before = pids(running)
        with Traffic(kafka, rows) as traffic:
            eventually(lambda: len(audited(own_postgres.url)) >= 10, lambda: logs(running, "scoring"))

            infra.stop_postgres(own_postgres.data_dir)
            for name in ("scoring", "gateway"):
                body = wait_readiness(running, name, 503, timeout_s=60)
                assert body["checks"]["database"] is False, body

            # scoring holds the applications: it retries the batch and commits nothing while the database is down
            held = committed_offsets(kafka)
            failures, published = counter(running, "scoring", "scoring_batch_failures_total"), len(traffic.sent)
            eventually(
                lambda: (
                    counter(running, "scoring", "scoring_batch_failures_total") >= failures + 3
                    and len(traffic.sent) >= published + 20
                ),
                lambda: logs(running, "scoring"),
            )
            assert committed_offsets(kafka) == held, "scoring committed offsets of applications it could not audit"
            assert pids(running) == before, "a process died while the database was down"

            infra.start_postgres(own_postgres.data_dir, own_postgres.port)
            for name in ("scoring", "gateway"):
                wait_readiness(running, name, 200)
            sent = traffic.stop()

        every_request_decided(running, sent, own_postgres.url)
        assert pids(running) == before, "a process died or was restarted"
        for name in launcher.WORKERS:
            assert readiness(running, name)[0] == 200, (name, readiness(running, name))
    print(f"\ndatabase down: {len(sent)} applications published, every one audited once and decided")
