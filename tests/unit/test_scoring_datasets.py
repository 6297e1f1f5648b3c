"""Scoring a whole dataset with a fake served model and the in-memory broker: stored rows and summary, progress,
failures with their reason, idempotency, and the stream decided while a dataset is being scored."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from faststream.kafka import KafkaBroker, TestKafkaBroker

from credit_shared import datasets as store
from credit_shared import scorings, topics
from credit_shared.contracts.envelope import envelope
from credit_shared.contracts.scoring import SCORE_DATASET, ScoreDataset
from credit_shared.model_inputs import ModelInput
from credit_shared.settings import DatabaseSettings, PlatformSettings
from scoring_service.dataset_handlers import DatasetScoring
from scoring_service.served import ServedModel
from scoring_service.settings import Settings
from scoring_service.versions import UnknownVersion, VersionCache
from tests.unit.test_scoring_stream import FakeModel, FakePredictor, Scoring, make_message, make_scoring

pytestmark = pytest.mark.unit

DATASET = "ds-unit-scoring"
ROWS = 40


def write_feature_dataset(datasets_dir: Path, dataset_id: str = DATASET, rows: int = ROWS) -> pd.DataFrame:
    """A dataset whose parts hold FakeModel's features but PAYMENT_RATE (absent features are scored as missing)."""
    frame = pd.DataFrame(
        {
            "SK_ID_CURR": np.arange(200000, 200000 + rows, dtype="int64"),
            "EXT_SOURCE_3": np.linspace(0.05, 0.95, rows),
            "AMT_CREDIT": np.linspace(1e5, 1e6, rows),
            "BURO_DAYS_CREDIT_MAX": [np.nan if i % 4 == 0 else -10.0 * i for i in range(rows)],
            "CODE_GENDER": ["F" if i % 2 else "M" for i in range(rows)],
        }
    )
    folder = store.dataset_dir(datasets_dir, dataset_id)
    folder.mkdir(parents=True)
    frame.to_parquet(folder / store.PRODUCTION)
    frame.assign(TARGET=[i % 2 for i in range(rows)]).head(10).to_parquet(folder / store.TRAIN)
    features = [
        {"name": c, "type": "float", "label": c, "source": "application", "online": "request"}
        for c in frame.columns[1:]
    ]
    manifest = store.DatasetManifest(
        dataset_id=dataset_id,
        name="unit",
        source_checksum="0" * 64,
        source_kind="sample",
        features=features,  # type: ignore[arg-type]
        sizes={"train": 10, "production": rows, "features": len(features)},
    )
    (folder / store.MANIFEST).write_text(manifest.model_dump_json())
    return frame


@dataclass
class Service:
    """The scoring service's stream (in-memory transport) and dataset handler (in-memory broker), sharing the served
    models, and what they published."""

    broker: KafkaBroker
    scoring: Scoring
    datasets: DatasetScoring
    home: Path
    events: list[dict[str, Any]] = field(default_factory=list)

    def of(self, request_id: str, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["type"] == kind and e["payload"]["request_id"] == request_id]


def make_service(
    tmp_path: Path, champion: ServedModel | None, versions: dict[str, ServedModel] | None = None
) -> Service:
    url = f"sqlite:///{tmp_path / 'app.db'}"
    home = tmp_path / "home"
    settings = Settings(
        platform=PlatformSettings(home=home),
        database=DatabaseSettings(url=url),
        hold_wait_s=0.05,
        retry_backoff_s=0,
        dataset_chunk_rows=100,
    )
    known = versions or {}

    def load_version(version: str) -> ServedModel:
        if version not in known:
            raise UnknownVersion(f"credit-default has no version {version}")
        return known[version]

    cache = VersionCache(load_version, 2)
    scoring = make_scoring(tmp_path, champion)
    scoring.versions = cache
    broker = KafkaBroker()
    datasets = DatasetScoring(settings, scoring.holder, cache, scoring.engine)
    datasets.register(broker)
    service = Service(broker, scoring, datasets, home)

    @broker.subscriber(topics.SCORING_EVENTS.name)
    async def on_event(event: dict[str, Any]) -> None:
        service.events.append(event)

    return service


def command(request_id: str, **values: Any) -> Any:
    payload = ScoreDataset(request_id=request_id, dataset_id=values.pop("dataset_id", DATASET), **values)
    return envelope(payload, type_=SCORE_DATASET, source="test", correlation_id=f"job-{request_id}")


def stored_rows(service: Service, scoring_id: str) -> pd.DataFrame:
    return pd.read_parquet(scorings.rows_path(scorings.scorings_dir(service.home), scoring_id))


@pytest.mark.anyio
async def test_every_production_row_is_decided_like_the_stream_and_stored_with_a_summary(tmp_path: Path) -> None:
    service = make_service(tmp_path, FakeModel(threshold=0.5))
    frame = write_feature_dataset(service.home / "datasets")
    await service.scoring.holder.reload()
    async with TestKafkaBroker(service.broker) as br:
        await br.publish(command("s1"), topic=topics.SCORING_COMMANDS.name)
    [done] = service.of("s1", "scoring.dataset_scored")
    assert done["correlation_id"] == "job-s1"
    result = done["payload"]
    assert (result["scoring_id"], result["dataset_id"], result["part"]) == ("s1", DATASET, "production")
    assert (result["rows"], result["part_rows"]) == (ROWS, ROWS)
    assert result["model"] == {"name": "credit-default", "version": "1", "alias": "champion", "run_id": "run-1"}

    rows = stored_rows(service, "s1")
    assert rows["SK_ID_CURR"].tolist() == frame["SK_ID_CURR"].tolist()
    np.testing.assert_allclose(rows["probability"], 1 - frame["EXT_SOURCE_3"], rtol=0, atol=1e-12)
    refused = rows["probability"] >= 0.5
    assert (rows["decision"] == np.where(refused, "refused", "approved")).all()
    reasons = [json.loads(r) for r in rows["reasons"]]
    assert all(r == [] for r, no in zip(reasons, ~refused, strict=True) if no)
    first = next(r for r, yes in zip(reasons, refused, strict=True) if yes)
    assert [r["feature"] for r in first] == ["EXT_SOURCE_3", "AMT_CREDIT"]  # the stream's reason codes
    assert first[0]["label"] == "label of EXT_SOURCE_3"

    summary = scorings.read_summary(scorings.scorings_dir(service.home), "s1")
    assert summary.refused == int(refused.sum())
    assert summary.refusal_rate == pytest.approx(refused.mean())
    assert summary.probability.p50 == pytest.approx(float(np.median(rows["probability"])))
    assert summary.probability.min <= summary.probability.p05 <= summary.probability.p95 <= summary.probability.max
    weights = {f.feature: f.mean_abs_contribution for f in summary.features}
    assert weights["AMT_CREDIT"] == pytest.approx(0.1)
    assert weights["BURO_DAYS_CREDIT_MAX"] == pytest.approx(0.2)  # |negative| contributions count too
    assert weights["EXT_SOURCE_3"] == pytest.approx(np.abs(0.5 - frame["EXT_SOURCE_3"]).mean())
    assert [f.feature for f in summary.features][:1] == ["EXT_SOURCE_3"]
    assert summary.missing_features == ["PAYMENT_RATE"]
    progress = service.of("s1", "scoring.progress")
    assert progress
    assert all(p["correlation_id"] == "job-s1" for p in progress)


@pytest.mark.anyio
async def test_a_seeded_sample_draws_the_same_rows_and_the_train_part_can_be_scored(tmp_path: Path) -> None:
    service = make_service(tmp_path, FakeModel())
    frame = write_feature_dataset(service.home / "datasets")
    await service.scoring.holder.reload()
    async with TestKafkaBroker(service.broker) as br:
        for request_id, seed in (("a", 7), ("b", 7), ("c", 8)):
            await br.publish(command(request_id, sample_size=15, seed=seed), topic=topics.SCORING_COMMANDS.name)
        await br.publish(command("t", part="train", sample_size=1000), topic=topics.SCORING_COMMANDS.name)
    a, b, c = (stored_rows(service, i)["SK_ID_CURR"].tolist() for i in "abc")
    assert len(a) == 15
    assert a == b
    assert a != c
    assert set(a) <= set(frame["SK_ID_CURR"])
    assert a == sorted(a, key=frame["SK_ID_CURR"].tolist().index)  # in the dataset's order
    [train] = service.of("t", "scoring.dataset_scored")
    assert (train["payload"]["rows"], train["payload"]["part_rows"]) == (10, 10)


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("champion", "values", "reason"),
    [
        (FakeModel(), {"dataset_id": "ds-nowhere"}, "dataset_not_found"),
        (None, {}, "no_champion"),
        (FakeModel(), {"model_version": "9"}, "unknown_model_version"),
    ],
)
async def test_a_scoring_that_cannot_run_publishes_a_failed_event_with_the_reason(
    tmp_path: Path, champion: ServedModel | None, values: dict[str, Any], reason: str
) -> None:
    service = make_service(tmp_path, champion)
    write_feature_dataset(service.home / "datasets")
    await service.scoring.holder.reload()
    async with TestKafkaBroker(service.broker) as br:
        await br.publish(command("f", **values), topic=topics.SCORING_COMMANDS.name)
    [failed] = service.of("f", "scoring.failed")
    assert failed["payload"]["reason"] == reason
    assert failed["correlation_id"] == "job-f"
    assert failed["payload"]["detail"]
    assert service.of("f", "scoring.dataset_scored") == []
    assert not scorings.scorings_dir(service.home).exists()


@pytest.mark.anyio
async def test_a_malformed_command_is_refused_with_every_problem_named(tmp_path: Path) -> None:
    service = make_service(tmp_path, FakeModel())
    bad = {"type": SCORE_DATASET, "source": "t", "correlation_id": "job-x",
           "payload": {"request_id": "x", "dataset_id": "../etc", "part": "everything"}}  # fmt: skip
    async with TestKafkaBroker(service.broker) as br:
        await br.publish(json.dumps(bad).encode(), topic=topics.SCORING_COMMANDS.name)
        await br.publish(b"\xff not json", topic=topics.SCORING_COMMANDS.name)
    failures = [e["payload"] for e in service.events if e["type"] == "scoring.failed"]
    assert [f["reason"] for f in failures] == ["invalid_command", "invalid_command"]
    assert "payload.dataset_id" in failures[0]["detail"]
    assert "payload.part" in failures[0]["detail"]


class CountingPredictor(FakePredictor):
    """Counts the rows it scores."""

    scored = 0

    def predict_proba(self, X: ModelInput) -> np.ndarray:  # noqa: N803
        self.scored += len(X)
        return super().predict_proba(X)


def CountingModel() -> ServedModel:
    return replace(FakeModel(), model=CountingPredictor())


@pytest.mark.anyio
async def test_a_redelivered_command_is_not_scored_again_but_its_result_is_published_again(tmp_path: Path) -> None:
    model = CountingModel()
    service = make_service(tmp_path, model)
    write_feature_dataset(service.home / "datasets")
    await service.scoring.holder.reload()
    async with TestKafkaBroker(service.broker) as br:
        await br.publish(command("r"), topic=topics.SCORING_COMMANDS.name)
        await br.publish(command("r"), topic=topics.SCORING_COMMANDS.name)
    assert model.model.scored == ROWS  # type: ignore[attr-defined]
    first, again = service.of("r", "scoring.dataset_scored")
    assert first["payload"] == again["payload"]


@pytest.mark.anyio
async def test_a_named_version_scores_without_the_champion_alias(tmp_path: Path) -> None:
    service = make_service(tmp_path, FakeModel("1"), versions={"2": FakeModel("2", threshold=0.95)})
    write_feature_dataset(service.home / "datasets")
    await service.scoring.holder.reload()
    async with TestKafkaBroker(service.broker) as br:
        await br.publish(command("v", model_version="2"), topic=topics.SCORING_COMMANDS.name)
    [done] = service.of("v", "scoring.dataset_scored")
    assert (done["payload"]["model"]["version"], done["payload"]["model"]["alias"]) == ("2", None)
    assert done["payload"]["threshold"] == 0.95


class BlockingPredictor(FakePredictor):
    """A version that holds the dataset scoring inside ``predict_proba`` until the test lets it go."""

    def __init__(self) -> None:
        super().__init__()
        self.entered = threading.Event()
        self.release = threading.Event()

    def predict_proba(self, X: ModelInput) -> np.ndarray:  # noqa: N803
        self.entered.set()
        assert self.release.wait(60), "never released"
        return super().predict_proba(X)


async def until(condition: Callable[[], bool], timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


@pytest.mark.anyio
async def test_the_stream_is_decided_while_a_dataset_is_being_scored(tmp_path: Path) -> None:
    blocking = BlockingPredictor()
    service = make_service(tmp_path, FakeModel("1"), versions={"2": replace(FakeModel("2"), model=blocking)})
    write_feature_dataset(service.home / "datasets")
    await service.scoring.holder.reload()
    async with TestKafkaBroker(service.broker) as br:
        scoring = asyncio.create_task(
            br.publish(command("long", model_version="2"), topic=topics.SCORING_COMMANDS.name)
        )
        try:
            await until(blocking.entered.is_set)
            await service.scoring.publish_batch(make_message("during"))
            assert [d.request_id for d in service.scoring.decisions()] == ["during"]
            assert not scoring.done()
            assert service.of("long", "scoring.dataset_scored") == []
        finally:
            blocking.release.set()
        await scoring
    assert len(service.of("long", "scoring.dataset_scored")) == 1
