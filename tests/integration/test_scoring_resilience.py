"""The scoring service under failure, on real parts: issue 5's "exactly one record per request", "poison" and
"hot swap".

The scoring service runs as ``python -m scoring_service`` (a real process, started the way the launcher starts it, so
that it can be SIGKILLed) against the session's tansu broker and MLflow server and a SQLite audit store. Two small
LightGBM versions (``tests.scoring_models``: training's own pipeline, registered the way training registers) are
registered under a model name of this module. Each test streams 5,000 real applications (request ids unique to the
test) with an aiokafka producer and reads ``loan-decisions`` / ``loan-applications.dlq`` from the offsets they had
before the test, so nothing another test published is counted.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import random
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import psutil
import pytest
from aiokafka import AIOKafkaProducer
from sqlalchemy import func, select

from credit_local.processes import http_ok
from credit_shared import db, topics
from credit_shared.contracts import training as training_contract
from credit_shared.contracts.dead_letters import MAX_DEAD_LETTER_ORIGINAL_BYTES
from credit_shared.contracts.envelope import envelope
from credit_shared.contracts.loans import (
    MAX_MESSAGE_BYTES,
    DeadLetter,
    LoanApplicationMessage,
    LoanDecision,
    message_key,
)
from credit_shared.contracts.training import PromoteModel
from credit_shared.db.models import DecisionRecord
from credit_shared.features import application_features
from credit_shared.model_loading import load_model
from credit_shared.settings import MlflowSettings
from scoring_service.scorer import application_frame
from tests.integration.live_scoring import (
    Metrics,
    Scoring,
    Tail,
    delta,
    publish,
    sample,
    scoring,
    start_group_at_end,
)
from tests.scoring_models import register, train_lightgbm

pytestmark = pytest.mark.integration

COUNT = 5_000  # valid applications per test
POISON = 500  # malformed messages mixed into the poison test's stream
KILL_AFTER = 500  # decisions seen before the first process is killed (some out, far from all)
SWITCH_BOUND_S = 30.0  # promotion to the first decision of the new version: a correctness bound, not a timing test


@dataclass(frozen=True)
class Setup:
    """What the three tests share: where everything is, the two registered versions and their probabilities."""

    bootstrap: str
    mlflow: MlflowSettings
    database_url: str
    folder: Path
    applications: list[LoanApplicationMessage]
    v1: str
    v2: str
    run_ids: dict[str, str]
    expected: dict[str, np.ndarray]  # version -> probability of each of ``applications``, from the registry's copy

    def set_champion(self, version: str) -> None:
        """Point the champion alias at ``version`` directly (test set-up, no event)."""
        from mlflow import MlflowClient

        client = MlflowClient(tracking_uri=self.mlflow.tracking_uri, registry_uri=self.mlflow.tracking_uri)
        client.set_registered_model_alias(self.mlflow.model_name, "champion", version)


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory, own_broker: str, mlflow_server: str, sample_data: Path) -> Setup:
    """Two LightGBM versions of a model of this module (version 1 champion) and an empty audit store.

    The model name is unique to the module: the session's MLflow server is shared with tests that expect no
    ``credit-default`` there. The versions differ by their seed (their early-stopping split), so every row's
    probability tells which one decided.
    """
    folder = tmp_path_factory.mktemp("scoring-resilience")
    settings = MlflowSettings(tracking_uri=mlflow_server, model_name=f"credit-default-{uuid.uuid4().hex[:6]}")
    first, second = train_lightgbm(sample_data, seed=0), train_lightgbm(sample_data, seed=1)
    dataset_id = "ds-resilience"  # no online features: history features are missing, as for a new client
    v1 = register(first, tracking_uri=mlflow_server, name=settings.model_name, dataset_id=dataset_id)
    v2 = register(second, tracking_uri=mlflow_server, name=settings.model_name, dataset_id=dataset_id)
    database_url = f"sqlite:///{folder / 'credit.db'}"
    db.migrate(database_url)
    applications = first.applications
    features = application_features(application_frame(applications))
    loaded = {v: load_model(settings, version=v) for v in (v1, v2)}
    expected = {v: model.predict_proba(features) for v, model in loaded.items()}
    assert np.all(np.abs(expected[v1] - expected[v2]) > 1e-6), "the two versions must tell themselves apart"
    made = Setup(
        bootstrap=own_broker,
        mlflow=settings,
        database_url=database_url,
        folder=folder,
        applications=applications,
        v1=v1,
        v2=v2,
        run_ids={v: str(model.run_id) for v, model in loaded.items()},
        expected=expected,
    )
    made.set_champion(v1)
    return made


@pytest.fixture(scope="module")
def steady(setup: Setup) -> Iterator[Scoring]:
    """One scoring process for the poison and hot-swap tests (a start costs tens of seconds on a busy machine).

    Its periodic registry check is pushed beyond the module's run: only a model-promoted event can make it swap.
    """
    group = unique("scoring-steady")
    asyncio.run(start_group_at_end(setup.bootstrap, group))
    with scoring(setup, group, f"scoring-{group}", SCORING_RELOAD_INTERVAL_S="3600") as process:
        yield process


def applications(setup: Setup, prefix: str) -> tuple[list[str], list[tuple[bytes | None, bytes]]]:
    """``COUNT`` valid applications (request ids ``<prefix>-<k>``, row ``k`` modulo the sample) as (key, value)."""
    ids = [f"{prefix}-{k}" for k in range(COUNT)]
    messages: list[tuple[bytes | None, bytes]] = []
    for k, request_id in enumerate(ids):
        application = setup.applications[k % len(setup.applications)]
        body = {"request_id": request_id, "application": application.application}
        messages.append((message_key(application.sk_id_curr), json.dumps(body).encode()))
    return ids, messages


def decisions_of(records: list[Any], prefix: str) -> list[LoanDecision]:
    """The decisions of this test's request ids, in the order read."""
    out = []
    for record in records:
        decision = LoanDecision.model_validate_json(record.value)
        if decision.request_id.startswith(f"{prefix}-"):
            out.append(decision)
    return out


def all_decided(ids: list[str], prefix: str) -> Callable[[list[Any]], bool]:
    wanted = set(ids)
    return lambda records: wanted <= {d.request_id for d in decisions_of(records, prefix)}


def audit_rows(setup: Setup, prefix: str) -> list[DecisionRecord]:
    """The audit rows of this test's request ids."""
    from sqlalchemy.orm import Session

    engine = db.make_engine(setup.database_url)
    try:
        with Session(engine) as session:
            query = select(DecisionRecord).where(DecisionRecord.request_id.like(f"{prefix}-%"))
            rows = list(session.scalars(query))
            session.expunge_all()
            return rows
    finally:
        engine.dispose()


def audit_count(setup: Setup, prefix: str) -> int:
    engine = db.make_engine(setup.database_url)
    try:
        with engine.connect() as conn:
            query = select(func.count()).select_from(DecisionRecord)
            return int(conn.scalar(query.where(DecisionRecord.request_id.like(f"{prefix}-%"))) or 0)
    finally:
        engine.dispose()


async def wait_audited(setup: Setup, prefix: str, count: int, timeout_s: float = 60.0) -> None:
    """The audit row is written right after its decision is published: wait for the last batch's rows."""
    deadline = time.monotonic() + timeout_s
    while (found := await asyncio.to_thread(audit_count, setup, prefix)) < count:
        assert time.monotonic() < deadline, f"{found} audit rows of {count} after {timeout_s:.0f} s"
        await asyncio.sleep(0.5)


def read_once(before: Metrics, after: Metrics) -> int:
    """Messages read, less those already decided before (another test's, read again because tansu's end offsets can
    trail its latest records by a few when a group or a tail is started at the end: seen in CI). A message of this
    test read twice is caught by the exact counts of decisions and dead letters, which are published again."""
    received = delta(before, after, "scoring_messages_received_total")
    return int(received - delta(before, after, "scoring_redelivered_decisions_total"))


def original_text(letter: DeadLetter) -> str:
    """The dead-lettered message as text (a base64 original decoded, undecodable bytes replaced)."""
    if letter.original_encoding == "utf-8":
        return letter.original
    return base64.b64decode(letter.original).decode(errors="replace")


def unique(kind: str) -> str:
    return f"{kind}-{uuid.uuid4().hex[:8]}"


# ----------------------------------------------------------------------------------------------------- the tests


def test_a_version_loads_from_the_registry_it_is_given_whatever_mlflows_global_uri_says(
    setup: Setup, tmp_path: Path
) -> None:
    """Regression: ``load_model`` downloaded ``models:/<name>/<version>``, which MLflow resolves against the
    process-wide registry URI; in a process where it was unset that is ``./mlflow.db``, and the load failed."""
    import mlflow

    previous = mlflow.get_tracking_uri(), mlflow.get_registry_uri()
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'elsewhere.db'}")
    mlflow.set_registry_uri(f"sqlite:///{tmp_path / 'elsewhere.db'}")
    try:
        model = load_model(setup.mlflow, version=setup.v2)
    finally:
        mlflow.set_tracking_uri(previous[0])
        mlflow.set_registry_uri(previous[1])
    features = application_features(application_frame(setup.applications[:50]))
    np.testing.assert_allclose(model.predict_proba(features), setup.expected[setup.v2][:50], rtol=0, atol=1e-12)


@pytest.mark.anyio
async def test_a_scoring_process_killed_mid_stream_leaves_exactly_one_audit_row_per_request(setup: Setup) -> None:
    started = time.monotonic()
    prefix, group = unique("kill"), unique("scoring-kill")
    ids, messages = applications(setup, prefix)
    half = COUNT // 2
    await start_group_at_end(setup.bootstrap, group)
    decisions = await Tail.open(setup.bootstrap, topics.LOAN_DECISIONS.name)
    try:
        with scoring(setup, group, f"scoring-{prefix}-1") as first:
            await publish(setup.bootstrap, messages[:half])
            await decisions.until(
                lambda records: len(decisions_of(records, prefix)) >= KILL_AFTER,
                lambda: f"{len(decisions_of(decisions.records, prefix))} decisions; log:\n{first.log_tail()}",
            )
            first.kill()
            killed_pid = first.record.pid if first.record else None
        out_before_kill = {d.request_id for d in decisions_of(decisions.records, prefix)}
        audited_before_kill = audit_count(setup, prefix)
        # the rest of the stream arrives while no scoring process runs; a new one picks the group up
        await publish(setup.bootstrap, messages[half:])
        with scoring(setup, group, f"scoring-{prefix}-2") as second:
            assert second.record is not None
            assert second.record.pid != killed_pid
            await decisions.until(
                all_decided(ids, prefix),
                lambda: (
                    f"{len({d.request_id for d in decisions_of(decisions.records, prefix)})} of {COUNT} "
                    f"decided; log:\n{second.log_tail()}"
                ),
            )
            await wait_audited(setup, prefix, COUNT)
    finally:
        await decisions.close()

    decided = decisions_of(decisions.records, prefix)
    rows = audit_rows(setup, prefix)
    per_request = Counter(row.request_id for row in rows)
    assert KILL_AFTER <= len(out_before_kill) < half, "the kill came in the middle of the stream"
    assert sorted(per_request) == sorted(ids), "no request lost, none invented"
    assert set(per_request.values()) == {1}, "exactly one audit row per request id"
    assert {d.request_id for d in decided} == set(ids), "at least one decision message per request id"
    by_id = {d.request_id: d for d in decided}
    assert all(row.probability == pytest.approx(by_id[row.request_id].probability, abs=1e-12) for row in rows)
    print(
        f"\nkill: {len(out_before_kill)} decided before SIGKILL ({audited_before_kill} audited), "
        f"{len(decided) - COUNT} decision message(s) published twice after the restart; "
        f"{time.monotonic() - started:.1f} s"
    )


def malformed(setup: Setup, prefix: str) -> list[tuple[str, bytes]]:
    """``POISON`` messages that cannot be decided, with the dead-letter reason each must get."""
    app = setup.applications[0].application
    out: list[tuple[str, bytes]] = []
    for k in range(POISON):
        kind = k % 50
        if kind < 12:
            out.append(("not_json", f'{{"request_id": "{prefix}-bad-{k}", "application": {{"SK_ID_CURR": '.encode()))
        elif kind < 24:
            out.append(("not_utf8", b'{"request_id": "' + prefix.encode() + b'\xff\xfe\xfd"}'))
        elif kind < 36:
            body = {
                "request_id": f"{prefix}-bad-{k}",
                "application": {c: v for c, v in app.items() if c != "SK_ID_CURR"},
            }
            out.append(("missing_sk_id_curr", json.dumps(body).encode()))
        elif kind < 49:
            wrong: Any = {**app, "AMT_CREDIT": "a lot"} if k % 2 else [app["SK_ID_CURR"]]
            out.append(("invalid", json.dumps({"request_id": f"{prefix}-bad-{k}", "application": wrong}).encode()))
        else:
            body = {"request_id": f"{prefix}-bad-{k}", "application": app, "padding": "x" * (MAX_MESSAGE_BYTES + 10)}
            out.append(("too_large", json.dumps(body).encode()))
    return out


@pytest.mark.anyio
async def test_malformed_messages_mixed_into_a_stream_are_dead_lettered_and_the_process_goes_on(
    setup: Setup, steady: Scoring
) -> None:
    started = time.monotonic()
    prefix = unique("poison")
    ids, valid = applications(setup, prefix)
    bad = malformed(setup, prefix)
    stream: list[tuple[str | None, tuple[bytes | None, bytes]]] = [(None, m) for m in valid]
    stream += [(reason, (None, raw)) for reason, raw in bad]
    random.Random(5).shuffle(stream)
    assert steady.record is not None
    pid, before = steady.record.pid, steady.metrics()
    decisions = await Tail.open(setup.bootstrap, topics.LOAN_DECISIONS.name)
    letters = await Tail.open(setup.bootstrap, topics.LOAN_APPLICATIONS_DLQ.name)
    try:
        sent = await publish(setup.bootstrap, [m for _, m in stream])
        poisoned = {
            (meta.partition, meta.offset): (reason, raw)
            for (reason, (_, raw)), meta in zip(stream, sent, strict=True)
            if reason is not None
        }
        await decisions.until(all_decided(ids, prefix), lambda: f"log:\n{steady.log_tail()}")
        await letters.until(lambda records: len(records) >= POISON, lambda: f"{len(letters.records)} dead letters")
        await wait_audited(setup, prefix, COUNT)
        await asyncio.gather(decisions.drain(), letters.drain())
        alive = psutil.pid_exists(pid) and steady.record.process() is not None
        healthy = http_ok(steady.url("/health")) and http_ok(steady.url("/ready"), timeout_s=5.0)
        after = steady.metrics()
    finally:
        await decisions.close()
        await letters.close()

    decided = decisions_of(decisions.records, prefix)
    assert len(decided) == COUNT, "exactly one decision per request (no redelivery either)"
    assert {d.request_id for d in decided} == set(ids)
    assert audit_count(setup, prefix) == COUNT
    dead = [DeadLetter.model_validate_json(r.value) for r in letters.records]
    assert len(dead) == POISON, "exactly one dead letter per malformed message"
    assert {(d.partition, d.offset) for d in dead} == set(poisoned), "each names its source partition and offset"
    for letter in dead:
        reason, raw = poisoned[(letter.partition, letter.offset)]
        original = (
            letter.original.encode() if letter.original_encoding == "utf-8" else base64.b64decode(letter.original)
        )
        kept = raw[: len(original)] if letter.original_truncated else raw  # an original too large: its prefix
        assert (letter.reason, original, letter.topic) == (reason, kept, topics.LOAN_APPLICATIONS.name)
        assert letter.original_truncated == (len(raw) > MAX_DEAD_LETTER_ORIGINAL_BYTES)
        assert (letter.original_size, letter.original_sha256) == (len(raw), hashlib.sha256(raw).hexdigest())
        assert letter.error.strip()
        assert letter.failed_at.tzinfo is not None
    assert alive, "the same process: one bad message never stops the service"
    assert healthy
    by_reason = Counter(reason for reason, _ in bad)
    counted = {r: delta(before, after, "scoring_dead_letters_total", reason=r) for r in by_reason}
    assert counted == by_reason, "dead letters are counted by reason"
    assert read_once(before, after) == COUNT + POISON, "each message read once"
    assert delta(before, after, "scoring_batch_failures_total") == 0
    print(f"\npoison: {dict(by_reason)} dead-lettered beside {COUNT} decisions; {time.monotonic() - started:.1f} s")


@pytest.mark.anyio
async def test_a_champion_promoted_mid_stream_takes_over_without_a_failed_request(
    setup: Setup, steady: Scoring
) -> None:
    started = time.monotonic()
    prefix = unique("swap")
    ids, messages = applications(setup, prefix)
    half = COUNT // 2
    before = steady.metrics()
    assert sample(before, "scoring_model_version", alias="champion") == float(setup.v1)
    decisions = await Tail.open(setup.bootstrap, topics.LOAN_DECISIONS.name)
    letters = await Tail.open(setup.bootstrap, topics.LOAN_APPLICATIONS_DLQ.name)
    try:
        await publish(setup.bootstrap, messages[:half])
        await decisions.until(
            lambda records: len(decisions_of(records, prefix)) >= KILL_AFTER, lambda: f"log:\n{steady.log_tail()}"
        )
        promoted_at = await promote(setup, setup.v2)
        await publish(setup.bootstrap, messages[half:])
        await decisions.until(all_decided(ids, prefix), lambda: f"log:\n{steady.log_tail()}")
        await wait_audited(setup, prefix, COUNT)
        await decisions.drain()
        after = steady.metrics()
        await letters.drain(quiet_s=1.0)
    finally:
        await decisions.close()
        await letters.close()
        setup.set_champion(setup.v1)

    decided = decisions_of(decisions.records, prefix)
    assert len(decided) == COUNT, "no failed or repeated request"
    assert {d.request_id for d in decided} == set(ids)
    ours = [r for r in letters.records if prefix in original_text(DeadLetter.model_validate_json(r.value))]
    assert not ours, f"dead letters: {[r.value[:300] for r in ours[:3]]}"
    assert read_once(before, after) == COUNT, "each application read once"
    assert sample(after, "scoring_model_version", alias="champion") == float(setup.v2), "the gauge follows the swap"
    assert delta(before, after, "scoring_batch_failures_total") == 0
    row_of = {request_id: k % len(setup.applications) for k, request_id in enumerate(ids)}
    for decision in decided:
        version = decision.model.version
        assert version in (setup.v1, setup.v2)
        assert (decision.model.alias, decision.model.run_id) == ("champion", setup.run_ids[version])
        assert abs(decision.probability - setup.expected[version][row_of[decision.request_id]]) < 1e-9
    old = [d.scored_at for d in decided if d.model.version == setup.v1]
    new = [d.scored_at for d in decided if d.model.version == setup.v2]
    assert old, "version 1 decided the start of the stream"
    assert new, "version 2 took over"
    assert max(old) <= min(new), "once version 2 decides, version 1 never decides again"
    switch_s = (min(new) - promoted_at).total_seconds()
    rows = {row.request_id: row for row in audit_rows(setup, prefix)}
    assert all(rows[d.request_id].model_version == d.model.version for d in decided), "the audit names the version"
    print(
        f"\nhot swap: {len(old)} decisions by v{setup.v1}, {len(new)} by v{setup.v2}; first v{setup.v2} decision "
        f"{switch_s:.2f} s after the promotion; {time.monotonic() - started:.1f} s"
    )
    assert switch_s < SWITCH_BOUND_S


async def promote(setup: Setup, version: str) -> datetime:
    """Promote as the platform does: the gateway's model.promote command is carried out by the training service's
    tracker (alias moved), which publishes model.promoted on training.events.v1. Returns when the event was sent."""
    import mlflow

    from training_service.tracking import MlflowTracker

    previous = mlflow.get_tracking_uri(), mlflow.get_registry_uri()
    try:  # the tracker points MLflow's global URIs at its server: restore them for the other tests of the session
        command = PromoteModel(request_id=unique("promote"), version=version, force=True, requested_by="test")
        event = await asyncio.to_thread(MlflowTracker(setup.mlflow).promote, command)
    finally:
        mlflow.set_tracking_uri(previous[0])
        mlflow.set_registry_uri(previous[1])
    message = envelope(event, type_=training_contract.PROMOTED, source="training", correlation_id=command.request_id)
    producer = AIOKafkaProducer(bootstrap_servers=setup.bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(topics.TRAINING_EVENTS.name, message.model_dump_json().encode())
    finally:
        await producer.stop()
    return datetime.now(UTC)
