"""A scoring service running as a real process (``python -m scoring_service``, so a test can SIGKILL it), and the
Kafka side of a test that streams applications to it and reads what comes out.

The process is configured by environment variables, as the launcher configures it; consumers read from the offsets a
topic had when they opened, and a fresh consumer group can be started at the end of ``loan-applications``, so a test
counts only its own messages on the session's shared broker.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.structs import RecordMetadata
from prometheus_client.parser import text_string_to_metric_families

from credit_local.processes import ProcessRecord, free_port, http_ok, spawn, stop, wait_until
from credit_shared import topics
from credit_shared.settings import MlflowSettings

WAIT_S = 300.0  # bound of every wait on a stream (the machine is shared; a healthy run needs a fraction)
SEND_BATCH = 500  # concurrent sends per round trip

Metrics = dict[tuple[str, tuple[tuple[str, str], ...]], float]  # Prometheus samples: (name, labels) -> value


class Place(Protocol):
    """Where the process finds everything, and the folder of its run and log files."""

    @property
    def bootstrap(self) -> str: ...

    @property
    def mlflow(self) -> MlflowSettings: ...

    @property
    def database_url(self) -> str: ...

    @property
    def folder(self) -> Path: ...


class Scoring:
    """One ``python -m scoring_service`` process, configured by environment variables like the launcher does."""

    def __init__(self, place: Place, group: str, name: str, **env: str) -> None:
        self.name, self.port = name, free_port()
        self.run_dir, self.log_dir = place.folder / "run", place.folder / "logs"
        self.env = {
            **os.environ,
            "PYTHONUNBUFFERED": "1",
            "NO_PROXY": "127.0.0.1,localhost",
            "no_proxy": "127.0.0.1,localhost",
            "CREDIT_HOME": str(place.folder / "home"),
            "KAFKA_BOOTSTRAP_SERVERS": place.bootstrap,
            "KAFKA_SESSION_TIMEOUT_MS": "6000",  # a killed member leaves the group quickly
            "KAFKA_HEARTBEAT_INTERVAL_MS": "500",
            "MLFLOW_TRACKING_URI": place.mlflow.tracking_uri,
            "MLFLOW_MODEL_NAME": place.mlflow.model_name,
            "DATABASE_URL": place.database_url,
            "SCORING_PORT": str(self.port),
            "SCORING_GROUP_ID": group,
            **env,
        }
        self.record: ProcessRecord | None = None

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def start(self, *, ready: bool = True) -> ProcessRecord:
        """Start the process and wait until it is ready (a champion served, the stream consuming, the database
        answering), or only alive (``ready=False``: its health answers)."""
        self.record = spawn(
            self.name,
            [sys.executable, "-m", "scoring_service"],
            env=self.env,
            run_dir=self.run_dir,
            log_dir=self.log_dir,
            port=self.port,
            health_url=self.url("/health"),
        )
        path = "/ready" if ready else "/health"
        wait_until(self.record, lambda: http_ok(self.url(path), timeout_s=5.0), timeout_s=180.0, interval_s=0.5)
        return self.record

    def ready_body(self) -> dict[str, Any]:
        """What ``/ready`` answers (whatever its status)."""
        import json
        import urllib.error
        import urllib.request

        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        try:
            with opener.open(self.url("/ready"), timeout=10) as r:
                body: dict[str, Any] = json.loads(r.read())
        except urllib.error.HTTPError as exc:
            body = json.loads(exc.read())
        return body

    def kill(self) -> None:
        """SIGKILL: no shutdown hook runs, nothing is flushed or committed."""
        assert self.record is not None
        proc = self.record.process()
        assert proc is not None, f"{self.name} is not running"
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)

    def stop(self) -> None:
        if self.record is not None:
            stop([self.record], self.run_dir)

    def metrics(self) -> Metrics:
        """The process's Prometheus samples: (name, labels) -> value."""
        import urllib.request

        with urllib.request.build_opener(urllib.request.ProxyHandler({})).open(self.url("/metrics"), timeout=10) as r:
            text = r.read().decode()
        return {
            (s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text)
            for s in family.samples
        }

    def log_tail(self) -> str:
        path = self.log_dir / f"{self.name}.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-30:]) if path.is_file() else ""


@contextmanager
def scoring(place: Place, group: str, name: str, **env: str) -> Iterator[Scoring]:
    """A started scoring process, stopped at the end whatever happens."""
    process = Scoring(place, group, name, **env)
    try:
        process.start()
        yield process
    finally:
        process.stop()


async def start_group_at_end(bootstrap: str, group: str) -> None:
    """Commit a fresh consumer group at the current end of ``loan-applications``: its first read is this test's."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = sorted(consumer.partitions_for_topic(topics.LOAN_APPLICATIONS.name) or [])
        assert partitions, "loan-applications has no partitions"
        assigned = [TopicPartition(topics.LOAN_APPLICATIONS.name, p) for p in partitions]
        consumer.assign(assigned)
        await consumer.commit(await consumer.end_offsets(assigned))
    finally:
        await consumer.stop()


class Tail:
    """Every record a topic receives after :meth:`open` (no consumer group: no join to wait for)."""

    def __init__(self, consumer: AIOKafkaConsumer) -> None:
        self.consumer = consumer
        self.records: list[Any] = []

    @classmethod
    async def open(cls, bootstrap: str, topic: str) -> Tail:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap, enable_auto_commit=False, max_partition_fetch_bytes=8 * 1024 * 1024
        )
        await consumer.start()
        assigned = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or [])]
        consumer.assign(assigned)
        for tp, offset in (await consumer.end_offsets(assigned)).items():
            consumer.seek(tp, offset)
        return cls(consumer)

    async def until(
        self, done: Callable[[list[Any]], bool], what: Callable[[], str], timeout_s: float = WAIT_S
    ) -> None:
        """Read until ``done(records)``; fail, saying ``what()``, after ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        while not done(self.records):
            if time.monotonic() > deadline:
                raise AssertionError(f"not done after {timeout_s:.0f} s: {what()}")
            batches = await self.consumer.getmany(timeout_ms=300, max_records=5_000)
            self.records += [r for batch in batches.values() for r in batch]

    async def drain(self, quiet_s: float = 3.0) -> None:
        """Read until nothing more arrives for ``quiet_s`` (after the expected records, to catch extra ones)."""
        quiet_until = time.monotonic() + quiet_s
        while time.monotonic() < quiet_until:
            batches = await self.consumer.getmany(timeout_ms=300)
            fresh = [r for batch in batches.values() for r in batch]
            if fresh:
                self.records += fresh
                quiet_until = time.monotonic() + quiet_s

    async def close(self) -> None:
        await self.consumer.stop()


async def publish(bootstrap: str, messages: Sequence[tuple[bytes | None, bytes]]) -> list[RecordMetadata]:
    """Publish on ``loan-applications`` in batches of concurrent sends; the metadata of each message, in order."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5, max_request_size=4 * 1024 * 1024)
    await producer.start()
    sent: list[RecordMetadata] = []
    try:
        for at in range(0, len(messages), SEND_BATCH):
            futures = [
                await producer.send(topics.LOAN_APPLICATIONS.name, value, key=key)
                for key, value in messages[at : at + SEND_BATCH]
            ]
            sent += await asyncio.gather(*futures)
    finally:
        await producer.stop()
    return sent


def sample(metrics: Metrics, name: str, **labels: str) -> float:
    return metrics.get((name, tuple(sorted(labels.items()))), 0.0)


def delta(before: Metrics, after: Metrics, name: str, **labels: str) -> float:
    return sample(after, name, **labels) - sample(before, name, **labels)
