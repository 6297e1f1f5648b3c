"""A lending application's view of the platform: an independent Kafka client (confluent-kafka / librdkafka).

Nothing of the platform's code is used here: topic names are spelled as ARCHITECTURE.md documents them, and the
applications are rows of the real Home Credit ``application_test.csv`` sent the way a client would send them.
"""

from __future__ import annotations

import csv
import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition

APPLICATIONS, DECISIONS, DEAD_LETTERS = "loan-applications", "loan-decisions", "loan-applications.dlq"
WAIT_S = 180.0


def kaggle_rows(sample: Path, count: int, table: str = "application_test.csv") -> list[dict[str, Any]]:
    """Rows of ``table`` (in ``sample``) as a lending application sends them: numbers as numbers, empty as null."""

    def value(text: str) -> Any:
        if text == "":
            return None
        for kind in (int, float):
            try:
                return kind(text)
            except ValueError:
                continue
        return text

    with (sample / table).open(newline="") as handle:
        reader = csv.DictReader(handle)
        return [{k: value(v) for k, v in row.items()} for _, row in zip(range(count), reader, strict=False)]


def application_message(request_id: str, application: dict[str, Any], **extra: Any) -> bytes:
    """A ``loan-applications`` value as documented: UTF-8 JSON with ``request_id`` and ``application``."""
    return json.dumps({"request_id": request_id, "application": application, **extra}).encode()


def make_producer(kafka: str, **config: Any) -> Producer:
    """A plain producer; it lets oversized messages through, so that the platform (not the client) refuses them."""
    return Producer({"bootstrap.servers": kafka, "message.max.bytes": 4 << 20, "linger.ms": 0, "acks": "all", **config})


def produce(producer: Producer, key: str, value: bytes) -> None:
    """Publish one message on ``loan-applications`` and wait until the broker has it."""
    errors: list[Any] = []
    producer.produce(APPLICATIONS, value=value, key=key.encode(), on_delivery=lambda err, _m: errors.append(err))
    producer.flush(30)
    assert errors == [None], f"delivery failed: {errors}"


def as_json(message: Any) -> dict[str, Any]:
    """A message value decoded as the contract says: UTF-8 JSON, one object."""
    value = json.loads(message.value().decode("utf-8"))
    assert isinstance(value, dict)
    return value


def request_ids(messages: list[Any]) -> list[str | None]:
    """The ``request_id`` of each message."""
    return [as_json(m).get("request_id") for m in messages]


class TopicReader:
    """Reads a topic from its current end (explicit assignment at the high watermarks: no consumer group to join)."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.topic = topic
        self.consumer = Consumer(
            {"bootstrap.servers": bootstrap, "group.id": f"outside-{uuid.uuid4().hex}", "enable.auto.commit": False}
        )
        metadata = self.consumer.list_topics(topic, timeout=20)
        partitions = sorted(metadata.topics[topic].partitions)
        assert partitions, f"{topic} has no partitions"
        starts = []
        for partition in partitions:
            _low, high = self.consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=20)
            starts.append(TopicPartition(topic, partition, high))
        self.consumer.assign(starts)
        self.messages: list[Any] = []

    def poll(self, timeout_s: float = 0.5) -> Any | None:
        """One message (kept in ``messages``), or None."""
        message = self.consumer.poll(timeout_s)
        if message is None:
            return None
        error = message.error()
        assert error is None or error.code() == KafkaError._PARTITION_EOF, error
        if error is not None:
            return None
        self.messages.append(message)
        return message

    def read_until(self, done: Callable[[list[Any]], bool], what: str, timeout_s: float = WAIT_S) -> list[Any]:
        """Poll until ``done(messages so far)``; fail naming ``what`` after ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        while not done(self.messages):
            assert time.monotonic() < deadline, f"{self.topic}: {what} not seen within {timeout_s:.0f} s"
            self.poll()
        return self.messages

    def close(self) -> None:
        self.consumer.close()


@dataclass
class Traffic:
    """Applications published continuously on a thread, and the decisions read back on another."""

    kafka: str
    rows: list[dict[str, Any]]
    run: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    sent: list[str] = field(default_factory=list)  # handed to the client
    delivered: set[str] = field(default_factory=set)  # acknowledged by the broker
    decided: dict[str, int] = field(default_factory=dict)  # request id -> decisions seen
    stop: threading.Event = field(default_factory=threading.Event)
    errors: list[str] = field(default_factory=list)
    rate_per_s: float = 30.0  # applications per second
    drain_s: float = 240.0  # longest wait, in finish(), for the last decisions

    def __post_init__(self) -> None:
        self.reader = TopicReader(self.kafka, DECISIONS)  # positioned before the first message is sent
        self.threads = [
            threading.Thread(target=self._guarded, args=(f,), daemon=True) for f in (self._publish, self._read)
        ]
        self.reading = threading.Event()

    def start(self) -> None:
        for thread in self.threads:
            thread.start()

    def _guarded(self, work: Any) -> None:
        try:
            work()
        except Exception as exc:  # noqa: BLE001 - a failure on a thread is reported by the test, not lost
            self.errors.append(f"{work.__name__}: {exc!r}")

    def _publish(self) -> None:
        producer = make_producer(self.kafka, **{"linger.ms": 5})

        def delivered(err: Any, message: Any) -> None:
            if err is None:
                self.delivered.add(as_json(message)["request_id"])
            else:
                self.errors.append(str(err))

        started = time.monotonic()
        while not self.stop.is_set():
            n = len(self.sent)
            row = self.rows[n % len(self.rows)]
            request_id = f"fault-{self.run}-{n}"
            producer.produce("loan-applications", value=application_message(request_id, row),
                             key=str(row["SK_ID_CURR"]).encode(), on_delivery=delivered)  # fmt: skip
            self.sent.append(request_id)
            producer.poll(0)
            pause = started + (n + 1) / self.rate_per_s - time.monotonic()
            if pause > 0:
                time.sleep(pause)
        producer.flush(60)

    def _read(self) -> None:
        while not self.reading.is_set():
            message = self.reader.poll(0.5)
            if message is not None:
                request_id = str(as_json(message)["request_id"])
                self.decided[request_id] = self.decided.get(request_id, 0) + 1
                self.reader.messages.clear()  # only the counts are kept

    def finish(self) -> None:
        """Stop publishing; wait until every delivered request has a decision (or the deadline passes)."""
        self.stop.set()
        self.threads[0].join()
        deadline = time.monotonic() + self.drain_s
        while not self.delivered <= set(self.decided) and time.monotonic() < deadline:
            time.sleep(1)
        self.reading.set()
        self.threads[1].join()
        self.reader.close()
