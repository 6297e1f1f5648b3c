import asyncio
from pathlib import Path

import pytest

from credit_shared import db
from credit_shared.commands import CommandLedger, ProgressReporter
from credit_shared.contracts.common import Progress

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
