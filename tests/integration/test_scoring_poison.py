"""The poison suite, on the real broker: every bad value the stream issue found, through Kafka and through the REST
API, each followed by valid traffic that must be decided, audited once and committed, with the bad message in the
dead-letter topic with its reason (or refused with a 4xx by the API) and nothing republished in a loop.

One scoring process (``python -m scoring_service``) serves the module, on the module's own tansu broker, with a small
LightGBM registered on the session's MLflow server and a SQLite audit store; a gateway (in this process) shares the
broker and the store.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from sqlalchemy import func, select

from credit_local.processes import http_ok
from credit_shared import db, topics
from credit_shared.contracts.loans import DeadLetter, LoanApplicationMessage, LoanDecision, message_key
from credit_shared.db.models import DeadLetterRecord, DecisionRecord
from credit_shared.decisions_view import read_model_inputs
from credit_shared.settings import MlflowSettings
from tests.integration.live_scoring import Scoring, Tail, delta, scoring, start_group_at_end
from tests.scoring_models import register, train_lightgbm

pytestmark = pytest.mark.integration

VALID_AFTER = 20  # valid applications published after each bad message
NOT_JSON = "not_json"


@dataclass(frozen=True)
class Place:
    """Where the module's scoring process finds everything."""

    bootstrap: str
    mlflow: MlflowSettings
    database_url: str
    folder: Path
    applications: list[LoanApplicationMessage]
    group: str


@pytest.fixture(scope="module")
def place(tmp_path_factory: pytest.TempPathFactory, own_broker: str, mlflow_server: str, sample_data: Path) -> Place:
    folder = tmp_path_factory.mktemp("scoring-poison")
    settings = MlflowSettings(tracking_uri=mlflow_server, model_name=f"credit-default-{uuid.uuid4().hex[:6]}")
    trained = train_lightgbm(sample_data, seed=0)
    version = register(trained, tracking_uri=mlflow_server, name=settings.model_name, dataset_id="ds-poison")
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=mlflow_server, registry_uri=mlflow_server)
    client.set_registered_model_alias(settings.model_name, "champion", version)
    database_url = f"sqlite:///{folder / 'credit.db'}"
    db.migrate(database_url)
    group = f"scoring-poison-{uuid.uuid4().hex[:6]}"
    asyncio.run(start_group_at_end(own_broker, group))
    return Place(own_broker, settings, database_url, folder, trained.applications[:200], group)


@pytest.fixture(scope="module")
def steady(place: Place) -> Iterator[Scoring]:
    with scoring(place, place.group, "scoring-poison") as process:
        yield process


def valid(place: Place, prefix: str, count: int = VALID_AFTER) -> tuple[list[str], list[tuple[bytes, bytes]]]:
    ids = [f"{prefix}-ok-{k}" for k in range(count)]
    out = []
    for k, request_id in enumerate(ids):
        application = place.applications[k % len(place.applications)]
        body = {"request_id": request_id, "application": application.application}
        out.append((message_key(application.sk_id_curr), json.dumps(body).encode()))
    return ids, out


def body(prefix: str, place: Place, **application: Any) -> bytes:
    values = {**place.applications[0].application, **application}
    return json.dumps({"request_id": f"{prefix}-bad", "application": values}).encode()


def poison(place: Place, prefix: str) -> dict[str, tuple[bytes, str]]:
    """Every bad value the issue names (and their kin): the raw message and the dead-letter reason it must get."""
    app = json.dumps(place.applications[0].application)
    head = f'{{"request_id": "{prefix}-bad", "application": '
    nan = head + app.replace('"SK_ID_CURR"', '"AMT_CREDIT": NaN, "SK_ID_CURR"', 1) + "}"
    infinity = head + '{"SK_ID_CURR": 5, "AMT_CREDIT": Infinity}}'
    digits = head + '{"SK_ID_CURR": ' + "7" * 5000 + "}}"
    nul = {"request_id": f"{prefix}\u0000bad", "application": {"SK_ID_CURR": 7}}
    unknown_reply = {"request_id": f"{prefix}-bad", "application": {"SK_ID_CURR": 7}, "reply_to": "no-such-topic",
                     "correlation_id": "c"}  # fmt: skip
    huge = {"request_id": f"{prefix}-bad", "application": {"SK_ID_CURR": 7}, "padding": "p" * (3 * 1024 * 1024)}
    return {
        "id 2**63": (body(prefix, place, SK_ID_CURR=2**63), "invalid"),
        "id 10**23": (body(prefix, place, SK_ID_CURR=10**23), "invalid"),
        "negative id": (body(prefix, place, SK_ID_CURR=-42), "invalid"),
        "zero id": (body(prefix, place, SK_ID_CURR=0), "invalid"),
        "NaN literal": (nan.encode(), NOT_JSON),
        "Infinity literal": (infinity.encode(), NOT_JSON),
        "integer column beyond 64 bits": (body(prefix, place, DAYS_BIRTH=2**64), "invalid"),
        "number beyond any float": (body(prefix, place, AMT_CREDIT=10**400), "invalid"),
        "5000-digit literal": (digits.encode(), NOT_JSON),
        "nested too deep": (b"[" * 200_000 + b"]" * 200_000, NOT_JSON),
        "NUL in the request id": (json.dumps(nul).encode(), "invalid"),
        "unknown reply address": (json.dumps(unknown_reply).encode(), "invalid"),
        "3 MB message": (json.dumps(huge).encode(), "too_large"),
    }


async def publish(bootstrap: str, messages: list[tuple[bytes | None, bytes]]) -> list[tuple[int, int]]:
    """Publish in order (the bad one first, the valid traffic behind it); the (partition, offset) of each."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, max_request_size=8 * 1024 * 1024, linger_ms=5)
    await producer.start()
    try:
        sent = []
        for key, value in messages:
            meta = await producer.send_and_wait(topics.LOAN_APPLICATIONS.name, value, key=key)
            sent.append((meta.partition, meta.offset))
        return sent
    finally:
        await producer.stop()


def decided_ids(records: list[Any]) -> set[str]:
    return {LoanDecision.model_validate_json(r.value).request_id for r in records}


async def committed_to_the_end(bootstrap: str, group: str) -> bool:
    """Every partition of loan-applications committed up to its end by the scoring group."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    await consumer.start()
    try:
        numbers = sorted(consumer.partitions_for_topic(topics.LOAN_APPLICATIONS.name) or [])
        partitions = [TopicPartition(topics.LOAN_APPLICATIONS.name, p) for p in numbers]
        ends = await consumer.end_offsets(partitions)
        committed = {tp: await consumer.committed(tp) or 0 for tp in partitions}
        return all(committed[tp] == ends[tp] for tp in partitions)
    finally:
        await consumer.stop()


def audited(place: Place, ids: list[str]) -> int:
    engine = db.make_engine(place.database_url)
    try:
        with engine.connect() as conn:
            query = select(func.count()).select_from(DecisionRecord).where(DecisionRecord.request_id.in_(ids))
            return int(conn.scalar(query) or 0)
    finally:
        engine.dispose()


async def until(check: Any, what: str, timeout_s: float = 120.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, f"not within {timeout_s:.0f} s: {what}"
        await asyncio.sleep(0.25)


@pytest.mark.anyio
async def test_every_bad_value_through_kafka_is_dead_lettered_once_and_the_stream_goes_on(
    place: Place, steady: Scoring
) -> None:
    prefix = f"p-{uuid.uuid4().hex[:6]}"
    cases = poison(place, prefix)
    before = steady.metrics()
    decisions = await Tail.open(place.bootstrap, topics.LOAN_DECISIONS.name)
    letters = await Tail.open(place.bootstrap, topics.LOAN_APPLICATIONS_DLQ.name)
    expected: dict[tuple[int, int], tuple[str, bytes, str]] = {}
    all_ids: list[str] = []
    try:
        for name, (raw, reason) in cases.items():
            ids, traffic = valid(place, f"{prefix}-{len(expected)}")
            sent = await publish(place.bootstrap, [(b"poison", raw), *traffic])
            expected[sent[0]] = (name, raw, reason)
            all_ids += ids
        wanted = set(all_ids)
        await decisions.until(lambda records: wanted <= decided_ids(records), steady.log_tail)
        await letters.until(lambda records: len(records) >= len(expected), steady.log_tail)
        await until(lambda: asyncio.to_thread(lambda: audited(place, all_ids) == len(all_ids)), "audited")
        await until(lambda: committed_to_the_end(place.bootstrap, place.group), "committed to the end")
        await asyncio.gather(decisions.drain(), letters.drain())  # nothing more comes: no loop
        after = steady.metrics()
        ready = http_ok(steady.url("/ready"), timeout_s=5.0)
    finally:
        await decisions.close()
        await letters.close()
    decided = [LoanDecision.model_validate_json(r.value) for r in decisions.records]
    assert sorted(d.request_id for d in decided if d.request_id in wanted) == sorted(all_ids), "each decided once"
    dead = [DeadLetter.model_validate_json(r.value) for r in letters.records]
    assert len(dead) == len(expected), "one dead letter per bad message, none republished"
    assert {(d.partition, d.offset) for d in dead} == set(expected), "each names its source partition and offset"
    for letter in dead:
        name, raw, reason = expected[(letter.partition or 0, letter.offset or 0)]
        assert letter.reason == reason, f"{name}: {letter.reason}: {letter.error}"
        assert letter.original_size == len(raw), name
        assert letter.original_sha256 == hashlib.sha256(raw).hexdigest(), name
        assert letter.original_encoding == "utf-8", name
        assert raw.startswith(letter.original.encode()), name
        assert letter.original_truncated == (len(raw) > 64 * 1024), name
    assert ready, "the stream is ready again after the poison"
    assert delta(before, after, "scoring_batch_failures_total") == 0
    assert delta(before, after, "scoring_messages_received_total") == len(all_ids) + len(expected), "read once each"
    engine = db.make_engine(place.database_url)
    with engine.connect() as conn:
        huge = conn.execute(select(DeadLetterRecord).where(DeadLetterRecord.original_size > 2 * 1024 * 1024)).one()
    assert huge.original_whole, "kept whole in the store"
    assert len(huge.original) == huge.original_size
    assert len(read_model_inputs(engine, all_ids)) == len(all_ids), "every model input rebuilt exactly"
    engine.dispose()


@pytest.fixture(scope="module")
def gateway(place: Place, steady: Scoring, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The gateway on the module's broker and audit store (in this process), answered by the scoring process."""
    from fastapi.testclient import TestClient

    from credit_shared.settings import DatabaseSettings, Environment, KafkaSettings, PlatformSettings
    from gateway_service.app import create_app
    from gateway_service.settings import Settings as GatewaySettings

    folder = tmp_path_factory.mktemp("poison-gateway")
    keys = folder / "keys.json"
    keys.write_text(json.dumps(KEYS))
    settings = GatewaySettings(
        platform=PlatformSettings(home=folder / "home", env=Environment.DEVELOPMENT),
        database=DatabaseSettings(url=place.database_url),
        kafka=KafkaSettings(bootstrap_servers=place.bootstrap, session_timeout_ms=6000, heartbeat_interval_ms=500),
        mlflow=place.mlflow,
        dev_keys_file=keys,
        jobs_group=f"gateway-jobs-{uuid.uuid4().hex[:8]}",
        decision_timeout_s=60.0,
    )
    with TestClient(create_app(settings)) as client:
        yield client


KEYS = {"viewer": "poison-viewer", "analyst": "poison-analyst", "admin": "poison-admin"}


def rest_poison(place: Place) -> dict[str, bytes]:
    """The bad values of the issue as REST bodies (raw: some are not JSON)."""
    app = place.applications[0].application

    def with_(**values: Any) -> bytes:
        return json.dumps({"application": {**app, **values}}).encode()

    return {
        "id 2**63": with_(SK_ID_CURR=2**63),
        "id 10**23": with_(SK_ID_CURR=10**23),
        "negative id": with_(SK_ID_CURR=-42),
        "integer column beyond 64 bits": with_(DAYS_BIRTH=2**64),
        "number beyond any float": with_(AMT_CREDIT=10**400),
        "Infinity literal": b'{"application": {"SK_ID_CURR": 5, "AMT_CREDIT": Infinity}}',
        "unknown category": with_(CODE_GENDER="?" * 10_000),
    }


def test_every_bad_value_through_the_rest_api_gets_a_4xx_and_the_next_applications_are_decided(
    place: Place, gateway: Any
) -> None:
    headers = {"X-API-Key": KEYS["analyst"], "content-type": "application/json"}
    for name, raw in rest_poison(place).items():
        refused = gateway.post("/v1/scoring/decisions", content=raw, headers=headers)
        assert 400 <= refused.status_code < 500, f"{name}: {refused.status_code} {refused.text[:300]}"
        for k in range(3):
            application = place.applications[(k + 1) % len(place.applications)].application
            request_id = f"rest-{uuid.uuid4().hex[:8]}"
            answer = gateway.post("/v1/scoring/decisions", json={"request_id": request_id, "application": application},
                                  headers=headers)  # fmt: skip
            assert answer.status_code == 200, f"after {name}: {answer.status_code} {answer.text[:300]}"
            assert answer.json()["request_id"] == request_id
            assert audited(place, [request_id]) == 1


@pytest.mark.parametrize(
    ("name", "raw"),
    [
        ("NaN literal", b'{"application": {"SK_ID_CURR": 5, "AMT_CREDIT": NaN}}'),
        ("NUL in the request id", b'{"request_id": "a\\u0000b", "application": {"SK_ID_CURR": 5}}'),
        ("nested too deep", b'{"application": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"),
    ],
)
def test_non_json_and_unstorable_rest_bodies_get_a_4xx(place: Place, gateway: Any, name: str, raw: bytes) -> None:
    headers = {"X-API-Key": KEYS["analyst"], "content-type": "application/json"}
    refused = gateway.post("/v1/scoring/decisions", content=raw, headers=headers)
    assert 400 <= refused.status_code < 500, f"{name}: {refused.status_code} {refused.text[:300]}"
    application = place.applications[1].application
    answer = gateway.post("/v1/scoring/decisions", json={"application": application}, headers=headers)
    assert answer.status_code == 200, f"after {name}: {answer.status_code} {answer.text[:300]}"
