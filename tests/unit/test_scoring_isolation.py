"""Isolation at every step of the decision stream, on the in-memory transport: one bad message is dead-lettered with
the step that failed and the rest go on; an outage holds the stream without dead-lettering; nothing is committed past a
message that has neither a decision nor a dead letter; a message read again republishes its stored decision."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.exc import OperationalError
from test_scoring_stream import FakeModel, Scoring, audit_rows, make_message, make_scoring

from credit_shared import topics
from credit_shared.contracts.dead_letters import MAX_DEAD_LETTER_ORIGINAL_BYTES
from credit_shared.contracts.loans import MAX_MESSAGE_BYTES
from credit_shared.db.models import DeadLetterRecord
from scoring_service.health import readiness

pytestmark = pytest.mark.unit

APPLICATIONS = topics.LOAN_APPLICATIONS.name


def committed_offset(scoring: Scoring) -> int:
    return scoring.broker.offsets.get(("scoring", APPLICATIONS), 0)


async def ready_scoring(tmp_path: Path, **options: Any) -> Scoring:
    scoring = make_scoring(tmp_path, FakeModel(), **options)
    await scoring.holder.reload()
    return scoring


@pytest.mark.anyio
async def test_a_row_the_model_cannot_score_is_dead_lettered_at_the_scoring_step_and_its_neighbours_decided(
    tmp_path: Path,
) -> None:
    scoring = await ready_scoring(tmp_path)
    scoring.holder.served.champion.model.fail_when = lambda row: row["AMT_CREDIT"] == 666.0  # type: ignore[union-attr]
    await scoring.publish_batch(*(make_message(f"r{k}", AMT_CREDIT=666.0 if k == 3 else 1000.0) for k in range(8)))
    assert sorted(d.request_id for d in scoring.decisions()) == sorted(f"r{k}" for k in range(8) if k != 3)
    (letter,) = scoring.letters()
    assert (letter.reason, letter.step, letter.request_id) == ("processing_failed", "scoring", "r3")
    assert "cannot score this row" in letter.error
    assert committed_offset(scoring) == 8, "the whole batch is committed: every message has a decision or a letter"
    assert scoring.metrics.step_failures.labels("scoring")._value.get() == 1


@pytest.mark.anyio
async def test_a_model_failing_on_every_row_holds_the_batch_instead_of_dead_lettering_it(tmp_path: Path) -> None:
    scoring = await ready_scoring(tmp_path)
    scoring.holder.served.champion.model.fail_when = lambda row: True  # type: ignore[union-attr]
    await scoring.publish_batch(make_message("a"), make_message("b"))
    assert (scoring.decisions(), scoring.letters(), committed_offset(scoring)) == ([], [], 0)
    assert scoring.metrics.failures._value.get() == 1
    scoring.holder.served.champion.model.fail_when = None  # type: ignore[union-attr]
    await scoring.run_until_committed()
    assert sorted(d.request_id for d in scoring.decisions()) == ["a", "b"]


@pytest.mark.anyio
async def test_a_row_the_audit_store_refuses_is_dead_lettered_at_the_audit_step_and_not_published(
    tmp_path: Path,
) -> None:
    scoring = await ready_scoring(tmp_path)
    record = scoring.store.record

    def refusing(rows: Any) -> int:
        if any(r["request_id"] == "refused-by-store" for r in rows):
            raise OverflowError("Python int too large to convert to SQLite INTEGER")
        return record(rows)

    scoring.store.record = refusing  # type: ignore[method-assign]
    await scoring.publish_batch(make_message("fine-1"), make_message("refused-by-store"), make_message("fine-2"))
    assert sorted(d.request_id for d in scoring.decisions()) == ["fine-1", "fine-2"]
    (letter,) = scoring.letters()
    assert (letter.step, letter.request_id) == ("audit", "refused-by-store")
    assert sorted(r.request_id for r in audit_rows(scoring)) == ["fine-1", "fine-2"]
    assert committed_offset(scoring) == 3


@pytest.mark.anyio
async def test_an_unreachable_database_holds_the_stream_and_says_why_then_it_resumes(tmp_path: Path) -> None:
    scoring = await ready_scoring(tmp_path)
    scoring.health.connected = True
    record = scoring.store.record
    down = {"now": True}

    def outage(rows: Any) -> int:
        if down["now"]:
            raise OperationalError("INSERT", {}, ConnectionRefusedError("database is down"))
        return record(rows)

    scoring.store.record = outage  # type: ignore[method-assign]
    await scoring.publish_batch(make_message("waits"))
    for _ in range(3):
        await scoring.cycle()
    assert (scoring.decisions(), scoring.letters(), committed_offset(scoring)) == ([], [], 0)
    ok, why = readiness(scoring.health, scoring.holder)["stream"]
    assert not ok
    assert "failed 4 times in a row" in why
    assert "database is down" in why
    down["now"] = False
    await scoring.run_until_committed()
    assert [d.request_id for d in scoring.decisions()] == ["waits"]
    assert readiness(scoring.health, scoring.holder)["stream"] == (True, "")


@pytest.mark.anyio
async def test_a_decision_the_producer_refuses_is_dead_lettered_at_the_publishing_step_on_the_retry(
    tmp_path: Path,
) -> None:
    scoring = await ready_scoring(tmp_path)

    def refuse(topic: str, value: bytes) -> BaseException | None:
        if topic == topics.LOAN_DECISIONS.name and b'"request_id":"unsendable"' in value:
            return ValueError("the broker refuses this record")
        return None

    scoring.transport.fail_send = refuse
    await scoring.publish_batch(make_message("before"), make_message("unsendable"), make_message("after"))
    assert committed_offset(scoring) == 0, "nothing committed past a message with neither decision nor letter"
    await scoring.run_until_committed()
    decided = [d.request_id for d in scoring.decisions()]
    assert sorted(set(decided)) == ["after", "before"]
    (letter,) = scoring.letters()
    assert (letter.step, letter.request_id) == ("publishing", "unsendable")
    assert committed_offset(scoring) == 3


@pytest.mark.anyio
async def test_an_oversized_message_is_dead_lettered_with_a_bounded_prefix_and_kept_whole_in_the_store(
    tmp_path: Path,
) -> None:
    scoring = await ready_scoring(tmp_path)
    body = {"request_id": "huge", "application": {"SK_ID_CURR": 1}, "padding": "x" * (3 * 1024 * 1024)}
    raw = json.dumps(body).encode()
    await scoring.publish_batch(make_message("neighbour-1"), raw, make_message("neighbour-2"))
    assert sorted(d.request_id for d in scoring.decisions()) == ["neighbour-1", "neighbour-2"]
    (letter,) = scoring.letters()
    assert (letter.reason, letter.original_truncated, letter.original_size) == ("too_large", True, len(raw))
    assert letter.original.encode() == raw[:MAX_DEAD_LETTER_ORIGINAL_BYTES]
    assert len(raw) > MAX_MESSAGE_BYTES
    with scoring.store.engine.connect() as conn:
        stored = conn.execute(DeadLetterRecord.__table__.select()).mappings().one()
    assert (bytes(stored["original"]), stored["original_whole"], stored["step"]) == (raw, True, "validation")
    import hashlib

    assert stored["original_sha256"] == letter.original_sha256 == hashlib.sha256(raw).hexdigest()


@pytest.mark.anyio
async def test_a_message_read_again_after_a_failed_commit_republishes_its_stored_decision_not_a_new_one(
    tmp_path: Path,
) -> None:
    scoring = await ready_scoring(tmp_path)
    scoring.transport.fail_commit = ConnectionError("the broker went away before the commit")
    await scoring.publish_batch(make_message("once"))
    first = scoring.decisions(committed=False)  # sent, not committed (at least once: a reader may see it)
    scoring.transport.fail_commit = None
    await scoring.run_until_committed()
    again = scoring.decisions(committed=False)
    assert len(first) == 1
    assert len(again) == 2, "at least once: the batch's decision went out again"
    assert again[0].model_dump() == again[1].model_dump(), "the same decision, not a second one"
    assert scoring.metrics.redelivered._value.get() == 1
    assert [r.request_id for r in audit_rows(scoring)] == ["once"]


@pytest.mark.anyio
async def test_in_a_transaction_a_failed_commit_leaves_nothing_for_a_read_committed_reader(tmp_path: Path) -> None:
    scoring = await ready_scoring(tmp_path, transactional=True)
    scoring.transport.fail_commit = ConnectionError("the broker went away before the commit")
    await scoring.publish_batch(make_message("exactly"), b"not json")
    assert (scoring.decisions(), scoring.letters()) == ([], []), "the aborted transaction is invisible"
    assert len(scoring.decisions(committed=False)) == 1
    scoring.transport.fail_commit = None
    await scoring.run_until_committed()
    assert [d.request_id for d in scoring.decisions()] == ["exactly"], "one decision for a read_committed reader"
    assert [letter.reason for letter in scoring.letters()] == ["not_json"]
    assert committed_offset(scoring) == 2


@pytest.mark.anyio
async def test_a_republished_request_id_is_not_decided_again_and_its_first_decision_is_replayed_to_its_reply_address(
    tmp_path: Path,
) -> None:
    scoring = await ready_scoring(tmp_path)
    await scoring.publish_batch(make_message("lender-7", EXT_SOURCE_3=0.2))
    again = json.dumps({"request_id": "lender-7", "application": {"SK_ID_CURR": 100001, "EXT_SOURCE_3": 0.99},
                        "reply_to": topics.SCORING_REPLIES.name, "correlation_id": "c-again"}).encode()  # fmt: skip
    await scoring.publish_batch(again, make_message("lender-7"))  # twice more, once with a reply address
    (decision,) = scoring.decisions()
    (reply,) = scoring.replies()
    assert reply["probability"] == decision.probability == pytest.approx(0.8), "the first decision stands"
    assert (reply["request_id"], reply["correlation_id"]) == ("lender-7", "c-again")
    assert scoring.metrics.duplicates._value.get() == 2
    assert committed_offset(scoring) == 3


@pytest.mark.anyio
async def test_the_same_request_id_twice_in_one_batch_is_decided_once(tmp_path: Path) -> None:
    scoring = await ready_scoring(tmp_path)
    await scoring.publish_batch(make_message("twin"), make_message("twin", EXT_SOURCE_3=0.01))
    assert [d.request_id for d in scoring.decisions()] == ["twin"]
    assert scoring.metrics.duplicates._value.get() == 1


@pytest.mark.anyio
async def test_applications_waiting_without_a_commit_make_the_stream_not_ready(tmp_path: Path) -> None:
    scoring = make_scoring(tmp_path, None)  # no champion: the stream holds
    await scoring.holder.reload()
    scoring.health.connected = True
    scoring.health.stall_after_s = 0.0
    await scoring.publish_batch(make_message("stuck"))
    scoring.health.observe_lag(await scoring.transport.lag())
    checks = readiness(scoring.health, scoring.holder)
    assert checks["model"] == (False, "no model loaded: no registered version carries the champion alias")
    ok, why = checks["stream"]
    assert not ok
    assert "1 application(s) waiting and no batch committed" in why


@pytest.mark.anyio
async def test_the_kafka_transport_fetches_rarely_once_the_stream_is_quiet_and_often_again_when_it_flows() -> None:
    from types import SimpleNamespace

    from credit_shared.settings import KafkaSettings
    from scoring_service.transport import KafkaTransport

    waits = {"fetch_wait_ms": 5, "idle_fetch_wait_ms": 250, "idle_after_s": 0.0, "poll_timeout_ms": 1}
    transport = KafkaTransport(KafkaSettings(), topic=APPLICATIONS, group_id="g", client_id="c", transactional_id=None,
                               **waits)  # type: ignore[arg-type]  # fmt: skip
    batches: list[dict[Any, list[Any]]] = [{}, {("t", 0): [SimpleNamespace(offset=1)]}]

    async def getmany(**_: Any) -> dict[Any, list[Any]]:
        return batches.pop(0)

    fetcher = SimpleNamespace(_fetch_max_wait_ms=5)
    transport.consumer = SimpleNamespace(getmany=getmany, _fetcher=fetcher)  # type: ignore[assignment]
    assert await transport.poll(10) == []
    assert fetcher._fetch_max_wait_ms == 250, "quiet: long fetches"
    assert len(await transport.poll(10)) == 1
    assert fetcher._fetch_max_wait_ms == 5, "flowing again: short fetches"
