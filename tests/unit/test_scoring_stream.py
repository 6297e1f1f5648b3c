"""The scoring stream with a fake served model and the in-memory broker: decisions, dead letters, audit, hold."""

import asyncio
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from faststream.kafka import KafkaBroker, TestKafkaBroker
from prometheus_client import CollectorRegistry
from sqlalchemy import select

from credit_shared import db, topics
from credit_shared.contracts.loans import EXAMPLE_APPLICATION, DeadLetter, LoanDecision, ModelRef
from credit_shared.db.models import DecisionRecord
from credit_shared.features import application_parts
from credit_shared.models import Columns, InputLayout, ModelInput
from credit_shared.settings import DatabaseSettings
from scoring_service.handlers import Scoring
from scoring_service.holder import ModelHolder
from scoring_service.metrics import ScoringMetrics
from scoring_service.settings import Settings

pytestmark = pytest.mark.unit

FEATURES = ["EXT_SOURCE_3", "AMT_CREDIT", "PAYMENT_RATE", "BURO_DAYS_CREDIT_MAX", "CODE_GENDER"]
LAYOUT = InputLayout(FEATURES, FEATURES[:-1], FEATURES[-1:])


class FakeModel:
    """Probability 1 - EXT_SOURCE_3; contributions: EXT_SOURCE_3 pushes up when low, credit size a little."""

    def __init__(self, version: str = "1", threshold: float = 0.5) -> None:
        self._ref = ModelRef(name="credit-default", version=version, alias="champion", run_id=f"run-{version}")
        self._threshold = threshold
        self.history_calls: list[list[int]] = []

    @property
    def ref(self) -> ModelRef:
        return self._ref

    @property
    def threshold(self) -> float:
        return self._threshold

    @property
    def feature_names(self) -> list[str]:
        return FEATURES

    def prepare(self, features: pd.DataFrame | Columns) -> ModelInput:
        numbers, categories, index = LAYOUT.blocks(features)
        return ModelInput(numbers, categories, np.zeros((len(numbers), 0)), LAYOUT, index)

    def predict_proba(self, inputs: ModelInput) -> np.ndarray:
        return np.clip(1 - inputs.frame["EXT_SOURCE_3"].fillna(0.5).to_numpy(), 0, 1)

    def contributions(self, inputs: ModelInput) -> tuple[np.ndarray, np.ndarray]:
        features = inputs.frame
        n = len(features)
        out = np.zeros((n, len(FEATURES)))
        out[:, 0] = 0.5 - features["EXT_SOURCE_3"].fillna(0.5).to_numpy()
        out[:, 1] = 0.1
        out[:, 3] = -0.2
        return out, np.full(n, -2.0)

    def label(self, feature: str) -> str:
        return f"label of {feature}"

    def history(self, ids: Sequence[int]) -> pd.DataFrame:
        self.history_calls.append(list(ids))
        values = [-100.0 if i == 100001 else np.nan for i in ids]
        return pd.DataFrame({"SK_ID_CURR": list(ids), "BURO_DAYS_CREDIT_MAX": values})


def make_message(request_id: str, **overrides: object) -> bytes:
    return json.dumps({"request_id": request_id, "application": {**EXAMPLE_APPLICATION, **overrides}}).encode()


def make_scoring(tmp_path: Path, model: FakeModel | None) -> tuple[KafkaBroker, Scoring]:
    url = f"sqlite:///{tmp_path / 'app.db'}"
    db.migrate(url)
    settings = Settings(database=DatabaseSettings(url=url), hold_wait_s=0.05, retry_backoff_s=0)
    holder = ModelHolder(lambda alias, _current: model if alias == "champion" else None)
    scoring = Scoring(
        settings, ScoringMetrics.create(CollectorRegistry()), holder, db.make_engine(url), application_parts
    )
    broker = KafkaBroker()
    scoring.register(broker)
    return broker, scoring


def collect(broker: KafkaBroker) -> tuple[list[LoanDecision], list[DeadLetter]]:
    decisions: list[LoanDecision] = []
    letters: list[DeadLetter] = []
    broker.subscriber(topics.LOAN_DECISIONS.name)(lambda d: decisions.append(LoanDecision.model_validate(d)))
    broker.subscriber(topics.LOAN_APPLICATIONS_DLQ.name)(lambda d: letters.append(DeadLetter.model_validate(d)))
    return decisions, letters


def audit_rows(scoring: Scoring) -> list[DecisionRecord]:
    with db.make_sessionmaker(scoring.engine)() as session:
        return list(session.scalars(select(DecisionRecord).order_by(DecisionRecord.request_id)))


@pytest.mark.anyio
async def test_refusal_carries_the_features_that_pushed_the_probability_up(tmp_path: Path) -> None:
    broker, scoring = make_scoring(tmp_path, FakeModel())
    decisions, letters = collect(broker)
    await scoring.holder.reload()
    async with TestKafkaBroker(broker) as br:
        await br.publish_batch(make_message("low", EXT_SOURCE_3=0.1), make_message("high", EXT_SOURCE_3=0.9),
                               topic=topics.LOAN_APPLICATIONS.name)  # fmt: skip
    by_id = {d.request_id: d for d in decisions}
    refused, approved = by_id["low"], by_id["high"]
    assert (refused.decision.value, approved.decision.value) == ("refused", "approved")
    assert refused.probability == pytest.approx(0.9)
    assert [r.feature for r in refused.reasons] == ["EXT_SOURCE_3", "AMT_CREDIT"]  # only positive contributions
    assert refused.reasons[0].label == "label of EXT_SOURCE_3"
    assert refused.reasons[0].value == pytest.approx(0.1)
    assert refused.model.version == "1"
    assert approved.reasons == []
    assert letters == []


@pytest.mark.anyio
async def test_history_comes_in_one_lookup_per_batch_and_a_new_client_gets_missing_values(tmp_path: Path) -> None:
    model = FakeModel()
    broker, scoring = make_scoring(tmp_path, model)
    await scoring.holder.reload()
    async with TestKafkaBroker(broker) as br:
        await br.publish_batch(
            make_message("a"), make_message("b", SK_ID_CURR=555), topic=topics.LOAN_APPLICATIONS.name
        )
    assert model.history_calls == [[100001, 555]]
    rows = {r.request_id: r for r in audit_rows(scoring)}
    assert rows["a"].features["BURO_DAYS_CREDIT_MAX"] == -100.0
    assert rows["b"].features["BURO_DAYS_CREDIT_MAX"] is None


@pytest.mark.anyio
async def test_a_republished_request_keeps_one_audit_record(tmp_path: Path) -> None:
    broker, scoring = make_scoring(tmp_path, FakeModel())
    await scoring.holder.reload()
    async with TestKafkaBroker(broker) as br:
        await br.publish_batch(make_message("same"), topic=topics.LOAN_APPLICATIONS.name)
        await br.publish_batch(make_message("same", EXT_SOURCE_3=0.01), topic=topics.LOAN_APPLICATIONS.name)
    rows = audit_rows(scoring)
    assert [r.request_id for r in rows] == ["same"]
    assert rows[0].model_version == "1"
    assert len(rows[0].input_hash) == 64


@pytest.mark.anyio
async def test_bad_messages_go_to_the_dead_letter_topic_and_the_good_ones_are_decided(tmp_path: Path) -> None:
    broker, scoring = make_scoring(tmp_path, FakeModel())
    decisions, letters = collect(broker)
    await scoring.holder.reload()
    async with TestKafkaBroker(broker) as br:
        await br.publish_batch(make_message("ok"), b"\xff", make_message("bad", AMT_CREDIT="x"), b"{",
                               topic=topics.LOAN_APPLICATIONS.name)  # fmt: skip
    assert [d.request_id for d in decisions] == ["ok"]
    assert sorted(letter.reason for letter in letters) == ["invalid", "not_json", "not_utf8"]
    assert next(letter for letter in letters if letter.reason == "invalid").request_id == "bad"


@pytest.mark.anyio
async def test_without_a_champion_the_stream_is_held_not_dead_lettered(tmp_path: Path) -> None:
    broker, scoring = make_scoring(tmp_path, None)
    decisions, letters = collect(broker)
    await scoring.holder.reload()
    async with TestKafkaBroker(broker) as br:
        await br.publish_batch(make_message("waiting"), topic=topics.LOAN_APPLICATIONS.name)
    assert (decisions, letters, audit_rows(scoring)) == ([], [], [])
    assert not scoring.holder.ready


@pytest.mark.anyio
async def test_the_challenger_is_scored_in_shadow_and_recorded_only_in_the_audit(tmp_path: Path) -> None:
    champion, challenger = FakeModel("1"), FakeModel("2", threshold=0.95)
    broker, scoring = make_scoring(tmp_path, champion)
    scoring.holder._loader = lambda alias, _current: champion if alias == "champion" else challenger
    decisions, _ = collect(broker)
    await scoring.holder.reload()
    async with TestKafkaBroker(broker) as br:
        await br.publish_batch(make_message("s", EXT_SOURCE_3=0.2), topic=topics.LOAN_APPLICATIONS.name)
    assert decisions[0].model.version == "1"
    assert decisions[0].decision.value == "refused"
    shadow = audit_rows(scoring)[0].shadow
    assert shadow == {"version": "2", "probability": pytest.approx(0.8), "threshold": 0.95, "decision": "approved"}


@pytest.mark.anyio
async def test_a_decision_is_also_sent_to_the_reply_address(tmp_path: Path) -> None:
    broker, scoring = make_scoring(tmp_path, FakeModel())
    replies: list[LoanDecision] = []
    broker.subscriber(topics.SCORING_REPLIES.name)(lambda d: replies.append(LoanDecision.model_validate(d)))
    await scoring.holder.reload()
    message = json.dumps({"request_id": "rr", "application": EXAMPLE_APPLICATION,
                          "reply_to": topics.SCORING_REPLIES.name, "correlation_id": "c-1"}).encode()  # fmt: skip
    async with TestKafkaBroker(broker) as br:
        await br.publish_batch(message, topic=topics.LOAN_APPLICATIONS.name)
    assert [(r.request_id, r.correlation_id) for r in replies] == [("rr", "c-1")]


@pytest.mark.anyio
async def test_a_failing_database_leaves_the_batch_unacknowledged(tmp_path: Path) -> None:
    broker, scoring = make_scoring(tmp_path, FakeModel())
    scoring.engine = db.make_engine("postgresql+psycopg2://nobody@127.0.0.1:1/none")
    await scoring.holder.reload()
    async with TestKafkaBroker(broker) as br:
        await br.publish_batch(make_message("x"), topic=topics.LOAN_APPLICATIONS.name)
    assert scoring.metrics.failures._value.get() == 1


@pytest.mark.anyio
async def test_a_waiting_client_is_told_when_its_request_cannot_be_decided(tmp_path: Path) -> None:
    broker, scoring = make_scoring(tmp_path, FakeModel())
    replies: list[dict[str, str]] = []

    @broker.subscriber(topics.SCORING_REPLIES.name)
    async def collect(reply: dict[str, str]) -> None:
        replies.append(reply)

    await scoring.holder.reload()
    bad = {**EXAMPLE_APPLICATION, "AMT_CREDIT": "x"}
    message = json.dumps({"request_id": "rr", "application": bad,
                          "reply_to": topics.SCORING_REPLIES.name, "correlation_id": "c-2"}).encode()  # fmt: skip
    async with TestKafkaBroker(broker) as br:
        await br.publish_batch(message, topic=topics.LOAN_APPLICATIONS.name)
    assert [(r["correlation_id"], r["reason"]) for r in replies] == [("c-2", "invalid")]
    assert "AMT_CREDIT must be a number" in replies[0]["error"]


@pytest.mark.anyio
async def test_a_periodic_reload_keeps_the_served_model_when_no_alias_moved() -> None:
    served = FakeModel("3")
    seen: list[tuple[str, object]] = []

    def loader(alias: str, current: object) -> object:
        seen.append((alias, current))
        return current if current is not None else (served if alias == "champion" else None)

    holder = ModelHolder(loader)  # type: ignore[arg-type]
    await holder.reload()
    await holder.reload()
    assert holder.served.champion is served
    assert seen[2:] == [("champion", served), ("challenger", None)]  # the second check hands over what is served


@pytest.mark.anyio
async def test_a_promotion_event_swaps_the_champion_and_the_version_gauge_follows(tmp_path: Path) -> None:
    """Regression: the gauge of the version served moved only at the periodic check, not on a model-promoted event."""
    from credit_shared.contracts.envelope import envelope
    from credit_shared.contracts.training import PROMOTED, ModelPromoted

    champion = {"now": FakeModel("1")}
    broker, scoring = make_scoring(tmp_path, None)
    scoring.holder = ModelHolder(lambda alias, _current: champion["now"] if alias == "champion" else None)
    promoted = ModelPromoted(
        request_id="p", model_name="credit-default", version="2", alias="champion", previous_version="1",
        run_id="run-2", forced=True, test_roc_auc=None, baseline_roc_auc=None,
    )  # fmt: skip
    gauge = scoring.metrics.model_version.labels("champion")
    async with TestKafkaBroker(broker) as test_broker:
        await scoring.holder.reload()
        champion["now"] = FakeModel("2")
        await test_broker.publish(envelope(promoted, type_=PROMOTED, source="training"), topics.TRAINING_EVENTS.name)
        for _ in range(100):  # the new version loads in the background
            if gauge._value.get() == 2.0:
                break
            await asyncio.sleep(0.01)
    assert scoring.holder.served.champion is champion["now"]
    assert gauge._value.get() == 2.0
