import asyncio
import threading
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, Field

from credit_shared import db
from credit_shared.commands import CommandLedger, CommandRefused, CommandRunner, ProgressReporter
from credit_shared.contracts.common import Progress
from credit_shared.kafka import group_options
from credit_shared.settings import KafkaSettings

pytestmark = pytest.mark.unit


@pytest.fixture
def ledger(tmp_path: Path) -> CommandLedger:
    url = f"sqlite:///{tmp_path / 'app.db'}"
    db.migrate(url)
    return CommandLedger(db.make_engine(url), "ingestion")


def test_the_same_request_id_is_claimed_once(ledger: CommandLedger) -> None:
    assert ledger.claim("r1", "dataset.build").new
    ledger.finish("r1", "succeeded", {"dataset_id": "ds-1"})
    again = ledger.claim("r1", "dataset.build")
    assert (again.new, again.status, again.result) == (False, "succeeded", {"dataset_id": "ds-1"})


def test_a_command_left_running_by_a_dead_worker_is_claimed_again(ledger: CommandLedger) -> None:
    ledger.claim("r2", "dataset.build")
    assert ledger.claim("r2", "dataset.build").new


def test_ledgers_of_two_services_do_not_collide(ledger: CommandLedger) -> None:
    other = CommandLedger(ledger.engine, "training")
    ledger.claim("r3", "x")
    ledger.finish("r3", "failed", None)
    assert other.claim("r3", "x").new


@pytest.mark.anyio
async def test_progress_from_a_thread_is_published_throttled_with_stage_changes_and_the_end() -> None:
    sent: list[Progress] = []

    async def publish(event: Progress) -> None:
        sent.append(event)

    report = ProgressReporter("r", publish, asyncio.get_running_loop(), min_interval_s=60)

    def work() -> None:
        for i in range(1, 51):
            report("features", i)
        report("writing", 60)
        report("writing", 100)

    await asyncio.to_thread(work)
    for _ in range(100):
        if len(sent) == 3:
            break
        await asyncio.sleep(0.01)
    assert [(e.stage, e.percent) for e in sent] == [("features", 1), ("writing", 60), ("writing", 100)]
    assert sent[-1].eta_s == 0


class Ping(BaseModel):
    request_id: str
    times: int = Field(1, ge=1)


class Pong(BaseModel):
    request_id: str
    times: int


@dataclass
class Published:
    events: list[tuple[str, BaseModel, str | None]] = field(default_factory=list)

    async def __call__(self, payload: BaseModel, type_: str, correlation_id: str | None) -> None:
        self.events.append((type_, payload, correlation_id))

    def types(self) -> list[str]:
        return [t for t, _, _ in self.events]


def make_runner(ledger: CommandLedger) -> tuple[CommandRunner, Published]:
    published = Published()
    return CommandRunner(ledger, published, "ping.progress", "ping.failed"), published


def ping(request_id: str, times: int = 1) -> dict[str, Any]:
    """A ``ping`` command envelope as a client publishes it (not validated: it may break the contract)."""
    payload = {"request_id": request_id, "times": times}
    return {"type": "ping", "source": "test", "correlation_id": "job", "payload": payload}


@pytest.mark.anyio
async def test_a_command_runs_once_and_a_redelivery_publishes_its_result_again(ledger: CommandLedger) -> None:
    runner, published = make_runner(ledger)
    runs: list[str] = []

    def work(command: Ping, progress: ProgressReporter) -> Pong:
        runs.append(threading.current_thread().name)
        progress("pinging", 100, "done")
        return Pong(request_id=command.request_id, times=command.times)

    for _ in range(2):
        accepted = await runner.accept(ping("p1", 3), {"ping": Ping})
        assert accepted is not None
        await runner.run(accepted, partial(work, accepted.command), "ping.ponged", Pong)
    assert len(runs) == 1
    assert runs[0] != threading.current_thread().name  # off the event loop
    assert [t for t in published.types() if t != "ping.progress"] == ["ping.ponged", "ping.ponged"]
    assert all(correlation == "job" for _, _, correlation in published.events)
    assert published.events[-1][1] == Pong(request_id="p1", times=3)
    assert ledger.claim("p1", "ping").status == "succeeded"


@pytest.mark.anyio
async def test_a_refusal_is_published_with_its_reason_and_an_unexpected_error_as_internal(
    ledger: CommandLedger,
) -> None:
    runner, published = make_runner(ledger)

    def refuse(progress: ProgressReporter) -> Pong:
        raise CommandRefused("no_pong", "the table is empty")

    def crash(progress: ProgressReporter) -> Pong:
        raise KeyError("pong")

    for request_id, work in (("p2", refuse), ("p3", crash)):
        accepted = await runner.accept(ping(request_id), {"ping": Ping})
        assert accepted is not None
        await runner.run(accepted, work, "ping.ponged", Pong)
    failed = [payload.model_dump() for type_, payload, _ in published.events if type_ == "ping.failed"]
    assert failed == [
        {"request_id": "p2", "reason": "no_pong", "detail": "the table is empty"},
        {"request_id": "p3", "reason": "internal_error", "detail": "KeyError: 'pong'"},
    ]
    assert ledger.claim("p2", "ping").status == "failed"


@pytest.mark.anyio
async def test_a_command_the_contract_refuses_gets_a_failed_event_naming_every_problem(ledger: CommandLedger) -> None:
    runner, published = make_runner(ledger)
    assert await runner.accept(ping("p4", 0), {"ping": Ping}) is None
    assert await runner.accept({"type": "pong", "payload": {"request_id": "p5"}}, {"ping": Ping}) is None
    assert await runner.accept(b"\xff not json", {"ping": Ping}) is None
    failed = [payload for type_, payload, _ in published.events if type_ == "ping.failed"]
    assert [(f.request_id, f.reason) for f in failed] == [  # type: ignore[attr-defined]
        ("p4", "invalid_command"),
        ("p5", "unknown_command"),
        ("unknown", "invalid_command"),
    ]
    assert "payload.times: Input should be greater than or equal to 1" in failed[0].detail  # type: ignore[attr-defined]
    assert ledger.claim("p4", "ping").new  # a refused command is not recorded


def test_long_work_never_leaves_the_group() -> None:
    settings = KafkaSettings(session_timeout_ms=6000)
    quick, long = group_options(settings, "g"), group_options(settings, "g", long_work=True)
    assert (quick["group_id"], quick["auto_offset_reset"], quick["session_timeout_ms"]) == ("g", "earliest", 6000)
    assert "max_poll_interval_ms" not in quick
    assert long["max_poll_interval_ms"] >= 3600 * 1000
