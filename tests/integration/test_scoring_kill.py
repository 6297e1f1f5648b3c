"""SIGKILLs of scoring at three random moments of a 5,000-application stream with 200 republished request ids, on the
embedded broker (tansu), which has no transactions: what holds there, and that it refuses the transactional path.

Tansu 0.6 answers InitProducerId with an unknown error for a transactional (and for an idempotent) producer, so the
guarantee it allows is at least once: every request id is decided and audited exactly once, a decision may be
published again after a crash (the same decision, from the audit: a consumer sees one distinct decision per request
id), and a republished request id is never decided again. The transactional path (exactly once for a
``read_committed`` consumer) runs the same scenario on Apache Kafka in ``tests/docker/test_exactly_once.py`` and on
the in-memory transactional transport in ``tests/unit/test_scoring_isolation.py``.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from credit_local.processes import http_ok
from credit_shared import db
from credit_shared.contracts.loans import LoanApplicationMessage
from credit_shared.settings import MlflowSettings
from tests.integration.kill_scenario import COUNT, KILLS, REPUBLISHED, sigkill_stream
from tests.integration.live_scoring import Scoring, sample
from tests.scoring_models import register, train_lightgbm

pytestmark = pytest.mark.integration


@dataclass(frozen=True)
class Place:
    bootstrap: str
    mlflow: MlflowSettings
    database_url: str
    folder: Path
    applications: list[LoanApplicationMessage]


@pytest.fixture(scope="module")
def place(tmp_path_factory: pytest.TempPathFactory, own_broker: str, mlflow_server: str, sample_data: Path) -> Place:
    folder = tmp_path_factory.mktemp("scoring-kill")
    settings = MlflowSettings(tracking_uri=mlflow_server, model_name=f"credit-default-{uuid.uuid4().hex[:6]}")
    trained = train_lightgbm(sample_data, seed=0)
    version = register(trained, tracking_uri=mlflow_server, name=settings.model_name, dataset_id="ds-kill")
    from mlflow import MlflowClient

    MlflowClient(tracking_uri=mlflow_server, registry_uri=mlflow_server).set_registered_model_alias(
        settings.model_name, "champion", version
    )
    database_url = f"sqlite:///{folder / 'credit.db'}"
    db.migrate(database_url)
    return Place(own_broker, settings, database_url, folder, trained.applications)


@pytest.mark.anyio
async def test_the_embedded_broker_refuses_a_transactional_producer(place: Place) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=place.bootstrap, transactional_id=f"probe-{uuid.uuid4().hex[:6]}")
    with pytest.raises(KafkaError):
        await asyncio.wait_for(producer.start(), 60)
    await producer.stop()


def test_exactly_once_on_the_embedded_broker_is_not_ready_and_says_why(place: Place) -> None:
    process = Scoring(place, f"scoring-eos-{uuid.uuid4().hex[:6]}", "scoring-eos", SCORING_DELIVERY="exactly_once")
    try:
        process.start(ready=False)
        deadline = time.monotonic() + 60
        while "cannot connect" not in str(why := process.ready_body()) and time.monotonic() < deadline:
            time.sleep(0.5)  # the transactional producer's first start is refused by the broker
        assert why["ready"] is False
        assert "cannot connect" in why["why"]["stream"], why
        assert why["delivery"] == "exactly_once"
        assert not http_ok(process.url("/ready"), timeout_s=5.0)
    finally:
        process.stop()


@pytest.mark.anyio
async def test_three_sigkills_and_republished_ids_leave_one_decision_and_one_audit_row_per_request_id(
    place: Place,
) -> None:
    prefix = f"kill3-{uuid.uuid4().hex[:6]}"
    run = await sigkill_stream(place, place.applications, prefix, seed=17)
    copies = run.copies()
    assert set(copies) == set(run.ids), "every request id decided, none invented"
    assert dict(run.audit) == dict.fromkeys(run.ids, 1), "the audit holds one row per request id"
    distinct = run.distinct()
    assert all(len(kinds) == 1 for kinds in distinct.values()), "every copy of a request id is the same decision"
    extra = sum(copies.values()) - COUNT
    assert extra <= KILLS * 2 * 200, "copies come only from the batches in flight at a kill (two batches of 200)"
    assert len(run.seen_at_kills) == KILLS
    assert run.seen_at_kills == sorted(set(run.seen_at_kills)), "each kill while its process was deciding"
    assert run.seen_at_kills[-1] < COUNT, "the kills came in the middle of the stream"
    assert sample(run.metrics, "scoring_batch_failures_total") == 0
    print(
        f"\nat least once on tansu: {COUNT} request ids, {KILLS} SIGKILLs after {run.seen_at_kills} decisions, "
        f"{REPUBLISHED} republished; {extra} identical copies published again, {len(distinct)} distinct decisions"
    )
