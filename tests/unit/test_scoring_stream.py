"""The scoring stream with a fake served model and the in-memory transport: decisions, dead letters, audit, hold."""

import asyncio
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from faststream.kafka import KafkaBroker, TestKafkaBroker
from prometheus_client import CollectorRegistry
from sqlalchemy import select

from credit_shared import db, topics
from credit_shared.contracts.loans import EXAMPLE_APPLICATION, DeadLetter, LoanDecision, ModelRef
from credit_shared.db.models import DecisionRecord
from credit_shared.decisions_view import read_model_inputs
from credit_shared.model_inputs import Columns, InputLayout, ModelInput
from credit_shared.online_features import write_online_features
from credit_shared.settings import DatabaseSettings
from scoring_service.app import decision_stream, on_promotions
from scoring_service.audit import AuditStore
from scoring_service.holder import ModelHolder
from scoring_service.metrics import ScoringMetrics
from scoring_service.served import ServedModel
from scoring_service.settings import Settings
from scoring_service.stream import DecisionStream
from scoring_service.versions import VersionCache
from tests.memory_stream import MemoryBroker, MemoryTransport

pytestmark = pytest.mark.unit

FEATURES = ["EXT_SOURCE_3", "AMT_CREDIT", "PAYMENT_RATE", "BURO_DAYS_CREDIT_MAX", "CODE_GENDER"]
LAYOUT = InputLayout(FEATURES, FEATURES[:-1], FEATURES[-1:])
DATASET = "ds-fake"
HISTORY = {100001: -100.0}  # BURO_DAYS_CREDIT_MAX of the clients with a history; the others have none


class FakePredictor:
    """Probability 1 - EXT_SOURCE_3; contributions: EXT_SOURCE_3 pushes up when low, credit size a little."""

    def __init__(self, threshold: float = 0.5) -> None:
        self.threshold = threshold
        self.feature_names = FEATURES
        self.categorical = FEATURES[-1:]
        self.fail_when: Any = None  # a row predicate that makes predict_proba raise (a poison row)

    def prepare(self, X: pd.DataFrame | Columns) -> ModelInput:  # noqa: N803
        numbers, categories, index = LAYOUT.blocks(X)
        return ModelInput(numbers, categories, np.zeros((len(numbers), 0)), LAYOUT, index)

    def predict_proba(self, X: ModelInput) -> np.ndarray:  # noqa: N803
        frame = X.frame
        if self.fail_when is not None and any(self.fail_when(row) for _, row in frame.iterrows()):
            raise ValueError("the model cannot score this row")
        return np.clip(1 - frame["EXT_SOURCE_3"].fillna(0.5).to_numpy(), 0, 1)

    def contributions(self, X: ModelInput) -> tuple[pd.DataFrame, np.ndarray]:  # noqa: N803
        features = X.frame
        n = len(features)
        out = np.zeros((n, len(FEATURES)))
        out[:, 0] = 0.5 - features["EXT_SOURCE_3"].fillna(0.5).to_numpy()
        out[:, 1] = 0.1
        out[:, 3] = -0.2
        return pd.DataFrame(out, columns=FEATURES), np.full(n, -2.0)


class CountingHistory:
    """The clients' history of :data:`HISTORY`, counting the lookups (the online table holds the same values)."""

    dataset_id = DATASET
    columns = ["BURO_DAYS_CREDIT_MAX"]

    def __init__(self) -> None:
        self.calls: list[list[int]] = []

    def __call__(self, ids: Sequence[int]) -> pd.DataFrame:
        self.calls.append(list(ids))
        values = [HISTORY.get(i, np.nan) for i in ids]
        return pd.DataFrame({"SK_ID_CURR": list(ids), "BURO_DAYS_CREDIT_MAX": values})


def FakeModel(version: str = "1", threshold: float = 0.5) -> ServedModel:
    """A served version with the fake predictor and the counting history."""
    ref = ModelRef(name="credit-default", version=version, alias="champion", run_id=f"run-{version}")
    return ServedModel(FakePredictor(threshold), ref, CountingHistory(), label=lambda f: f"label of {f}")


def make_message(request_id: str, **overrides: object) -> bytes:
    return json.dumps({"request_id": request_id, "application": {**EXAMPLE_APPLICATION, **overrides}}).encode()


class Scoring:
    """The decision stream on an in-memory broker, with a SQLite audit store: publish a batch, read what came out."""

    def __init__(self, tmp_path: Path, model: ServedModel | None, *, transactional: bool = False) -> None:
        url = f"sqlite:///{tmp_path / 'app.db'}"
        db.migrate(url)
        self.settings = Settings(database=DatabaseSettings(url=url), hold_wait_s=0.05, retry_backoff_s=0)
        self.engine = db.make_engine(url)
        frame = pd.DataFrame({"SK_ID_CURR": list(HISTORY), "BURO_DAYS_CREDIT_MAX": list(HISTORY.values())})
        write_online_features(self.engine, DATASET, frame, ["BURO_DAYS_CREDIT_MAX"])
        self.metrics = ScoringMetrics.create(CollectorRegistry())
        self.holder = ModelHolder(lambda alias, _current: model if alias == "champion" else None)
        self.store = AuditStore(self.engine)
        self.broker = MemoryBroker()
        self.transport = MemoryTransport(self.broker, transactional=transactional)
        self.stream: DecisionStream
        self.stream, self.health = decision_stream(
            self.settings, holder=self.holder, versions=VersionCache(_no_registry, 0), store=self.store,
            metrics=self.metrics, connect=lambda: self.transport,
        )  # fmt: skip
        self.stream.bind(self.transport)

    @property
    def versions(self) -> VersionCache:
        return self.stream.decider.requests.versions

    @versions.setter
    def versions(self, cache: VersionCache) -> None:
        self.stream.decider.requests.versions = cache

    def use_engine(self, engine: Any) -> None:
        """Point the audit store at another database (a broken one)."""
        self.store.engine = engine

    async def publish_batch(self, *messages: bytes, key: bytes | None = None) -> None:
        """Publish the messages and let the stream read them once, as one batch, and commit it."""
        for message in messages:
            self.broker.append(topics.LOAN_APPLICATIONS.name, message, key)
        await self.cycle()

    async def cycle(self) -> None:
        """One reading of what is there, decided and committed (or failed)."""
        records = await self.transport.poll(self.settings.batch_max_messages)
        if records:
            self.metrics.received.inc(len(records))
            await self.stream.handle(self.transport, records)
        await self.stream.settle(self.transport)

    async def run_until_committed(self, cycles: int = 10) -> None:
        """Read again until everything published is committed (the retries a failure leads to)."""
        for _ in range(cycles):
            if self.transport.position >= len(self.broker.read(topics.LOAN_APPLICATIONS.name)):
                await self.stream.settle(self.transport)
                if self.transport.position >= len(self.broker.read(topics.LOAN_APPLICATIONS.name)):
                    return
            await self.cycle()

    def decisions(self, *, committed: bool = True) -> list[LoanDecision]:
        return [LoanDecision.model_validate_json(r.value or b"")
                for r in self.broker.read(topics.LOAN_DECISIONS.name, committed=committed)]  # fmt: skip

    def letters(self) -> list[DeadLetter]:
        return [DeadLetter.model_validate_json(r.value or b"")
                for r in self.broker.read(topics.LOAN_APPLICATIONS_DLQ.name)]  # fmt: skip

    def replies(self) -> list[dict[str, Any]]:
        return [json.loads(r.value or b"") for r in self.broker.read(topics.SCORING_REPLIES.name)]


def _no_registry(version: str) -> ServedModel:
    from scoring_service.served import UnknownVersion

    raise UnknownVersion(f"version {version} cannot be named here: only the served models are known")


def make_scoring(tmp_path: Path, model: ServedModel | None, *, transactional: bool = False) -> Scoring:
    return Scoring(tmp_path, model, transactional=transactional)


def audit_rows(scoring: Scoring) -> list[DecisionRecord]:
    with db.make_sessionmaker(scoring.engine)() as session:
        return list(session.scalars(select(DecisionRecord).order_by(DecisionRecord.request_id)))


@pytest.mark.anyio
async def test_refusal_carries_the_features_that_pushed_the_probability_up(tmp_path: Path) -> None:
    scoring = make_scoring(tmp_path, FakeModel())
    await scoring.holder.reload()
    await scoring.publish_batch(make_message("low", EXT_SOURCE_3=0.1), make_message("high", EXT_SOURCE_3=0.9))
    decisions, letters = scoring.decisions(), scoring.letters()
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
    scoring = make_scoring(tmp_path, model)
    await scoring.holder.reload()
    await scoring.publish_batch(make_message("a"), make_message("b", SK_ID_CURR=555))
    assert model.history.calls == [[100001, 555]]  # type: ignore[attr-defined]
    features = read_model_inputs(scoring.engine, ["a", "b"])  # the audit's model input, rebuilt exactly
    assert features["a"]["BURO_DAYS_CREDIT_MAX"] == -100.0
    assert features["b"]["BURO_DAYS_CREDIT_MAX"] is None


@pytest.mark.anyio
async def test_a_republished_request_keeps_one_audit_record(tmp_path: Path) -> None:
    scoring = make_scoring(tmp_path, FakeModel())
    await scoring.holder.reload()
    await scoring.publish_batch(make_message("same"))
    await scoring.publish_batch(make_message("same", EXT_SOURCE_3=0.01))
    rows = audit_rows(scoring)
    assert [r.request_id for r in rows] == ["same"]
    assert rows[0].model_version == "1"
    assert len(rows[0].input_hash) == 64
    assert [d.request_id for d in scoring.decisions()] == ["same"], "the first decision stands: no second one"
    assert scoring.metrics.duplicates._value.get() == 1


@pytest.mark.anyio
async def test_bad_messages_go_to_the_dead_letter_topic_and_the_good_ones_are_decided(tmp_path: Path) -> None:
    scoring = make_scoring(tmp_path, FakeModel())
    await scoring.holder.reload()
    await scoring.publish_batch(make_message("ok"), b"\xff", make_message("bad", AMT_CREDIT="x"), b"{")
    decisions, letters = scoring.decisions(), scoring.letters()
    assert [d.request_id for d in decisions] == ["ok"]
    assert sorted(letter.reason for letter in letters) == ["invalid", "not_json", "not_utf8"]
    assert next(letter for letter in letters if letter.reason == "invalid").request_id == "bad"


@pytest.mark.anyio
async def test_without_a_champion_the_stream_is_held_not_dead_lettered(tmp_path: Path) -> None:
    scoring = make_scoring(tmp_path, None)
    await scoring.holder.reload()
    await scoring.publish_batch(make_message("waiting"))
    assert (scoring.decisions(), scoring.letters(), audit_rows(scoring)) == ([], [], [])
    assert not scoring.holder.ready


@pytest.mark.anyio
async def test_the_challenger_is_scored_in_shadow_and_recorded_only_in_the_audit(tmp_path: Path) -> None:
    champion, challenger = FakeModel("1"), FakeModel("2", threshold=0.95)
    scoring = make_scoring(tmp_path, champion)
    scoring.holder._loader = lambda alias, _current: champion if alias == "champion" else challenger
    await scoring.holder.reload()
    await scoring.publish_batch(make_message("s", EXT_SOURCE_3=0.2))
    decisions = scoring.decisions()
    assert decisions[0].model.version == "1"
    assert decisions[0].decision.value == "refused"
    shadow = audit_rows(scoring)[0].shadow
    assert shadow == {"version": "2", "probability": pytest.approx(0.8), "threshold": 0.95, "decision": "approved"}


@pytest.mark.anyio
async def test_a_decision_is_also_sent_to_the_reply_address(tmp_path: Path) -> None:
    scoring = make_scoring(tmp_path, FakeModel())
    await scoring.holder.reload()
    message = json.dumps({"request_id": "rr", "application": EXAMPLE_APPLICATION,
                          "reply_to": topics.SCORING_REPLIES.name, "correlation_id": "c-1"}).encode()  # fmt: skip
    await scoring.publish_batch(message)
    replies = [LoanDecision.model_validate(r) for r in scoring.replies()]
    assert [(r.request_id, r.correlation_id) for r in replies] == [("rr", "c-1")]


@pytest.mark.anyio
async def test_a_failing_database_leaves_the_batch_unacknowledged(tmp_path: Path) -> None:
    scoring = make_scoring(tmp_path, FakeModel())
    scoring.use_engine(db.make_engine("postgresql+psycopg2://nobody@127.0.0.1:1/none"))
    await scoring.holder.reload()
    await scoring.publish_batch(make_message("x"))
    assert scoring.metrics.failures._value.get() == 1
    assert (scoring.decisions(), scoring.letters()) == ([], []), "an outage dead-letters nothing"
    assert scoring.broker.offsets.get(("scoring", topics.LOAN_APPLICATIONS.name), 0) == 0, "nothing committed"


@pytest.mark.anyio
async def test_a_waiting_client_is_told_when_its_request_cannot_be_decided(tmp_path: Path) -> None:
    scoring = make_scoring(tmp_path, FakeModel())
    await scoring.holder.reload()
    bad = {**EXAMPLE_APPLICATION, "AMT_CREDIT": "x"}
    message = json.dumps({"request_id": "rr", "application": bad,
                          "reply_to": topics.SCORING_REPLIES.name, "correlation_id": "c-2"}).encode()  # fmt: skip
    await scoring.publish_batch(message)
    replies = scoring.replies()
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
    scoring = make_scoring(tmp_path, None)
    holder = ModelHolder(lambda alias, _current: champion["now"] if alias == "champion" else None)
    broker = KafkaBroker()
    on_promotions(broker, scoring.settings, holder, scoring.metrics)
    promoted = ModelPromoted(
        request_id="p", model_name="credit-default", version="2", alias="champion", previous_version="1",
        run_id="run-2", forced=True, test_roc_auc=None, baseline_roc_auc=None,
    )  # fmt: skip
    gauge = scoring.metrics.model_version.labels("champion")
    async with TestKafkaBroker(broker) as test_broker:
        await holder.reload()
        champion["now"] = FakeModel("2")
        await test_broker.publish(envelope(promoted, type_=PROMOTED, source="training"), topics.TRAINING_EVENTS.name)
        for _ in range(100):  # the new version loads in the background
            if gauge._value.get() == 2.0:
                break
            await asyncio.sleep(0.01)
    assert holder.served.champion is champion["now"]
    assert gauge._value.get() == 2.0
