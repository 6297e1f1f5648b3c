"""The monitoring service logic: references per model version, windows of served traffic, on-demand reports."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from credit_shared.contracts.monitoring import DriftReported, RequestDriftReport
from monitoring_service.artifacts import LocalArtifactStore
from monitoring_service.domain import SeverityRules
from monitoring_service.reference import ModelInfo, ReferenceStore, sample_parquet
from monitoring_service.service import MonitoringService
from monitoring_service.synthetic import shift, synthetic_frame, synthetic_kinds, write_dataset
from monitoring_service.windows import Served, Window, WindowBuffer

pytestmark = pytest.mark.unit

KINDS = synthetic_kinds(numerical=30, categorical=6)
IMPORTANT = {c: float(len(KINDS) - i) for i, c in enumerate(KINDS)}  # NUM_000 most important


@dataclass
class FakeCatalog:
    models: dict[tuple[str, str], ModelInfo]
    aliases: dict[tuple[str, str], str] = field(default_factory=dict)
    described: int = 0

    def describe(self, name: str, version: str) -> ModelInfo:
        self.described += 1
        if (name, version) not in self.models:
            raise LookupError(f"model {name} v{version} is not registered")
        return self.models[name, version]

    def resolve_alias(self, name: str, alias: str) -> str:
        if (name, alias) not in self.aliases:
            raise LookupError(f"model {name}@{alias} is not registered")
        return self.aliases[name, alias]


@dataclass
class Audit:
    features: dict[str, dict[str, Any]] = field(default_factory=dict)
    rows: list[tuple[DriftReported, dict[str, Any]]] = field(default_factory=list)

    def lookup(self, ids: list[str]) -> dict[str, dict[str, Any]]:
        return {i: self.features[i] for i in ids if i in self.features}

    def save(self, report: DriftReported, summary: dict[str, Any]) -> None:
        self.rows.append((report, summary))


@dataclass
class Platform:
    home: Path
    catalog: FakeCatalog
    references: ReferenceStore
    audit: Audit
    service: MonitoringService


def make_platform(tmp_path: Path, **service_options: Any) -> Platform:
    datasets = tmp_path / "datasets"
    train = synthetic_frame(6000, KINDS, seed=1)
    production = shift(synthetic_frame(3000, KINDS, seed=2), ["NUM_003", "CAT_001"], KINDS)
    write_dataset(datasets, "ds-synthetic", train, KINDS, production=production)
    catalog = FakeCatalog(
        {("credit-default", "1"): ModelInfo("credit-default", "1", "ds-synthetic", "run-1", IMPORTANT)},
        {("credit-default", "champion"): "1"},
    )
    references = ReferenceStore(tmp_path / "refs", datasets, catalog, max_rows=4000, seed=7)
    audit = Audit()
    options: dict[str, Any] = {
        "html_every_windows": 0,
        "html_max_columns": 4,
        "rules": SeverityRules(orange_share=0.02, red_share=0.05, important_top_k=3),  # one input weighs 0.2 % - 5 %
    } | service_options
    service = MonitoringService(
        references=references,
        catalog=catalog,
        artifacts=LocalArtifactStore(tmp_path / "reports"),
        features=audit.lookup,
        save_row=audit.save,
        **options,
    )
    return Platform(tmp_path, catalog, references, audit, service)


def served_window(audit: Audit, frame: pd.DataFrame, prefix: str, *, probability: float = 0.1) -> Window:
    start = datetime(2026, 11, 24, 10, tzinfo=UTC)
    window = Window("credit-default", "1")
    for i, row in enumerate(frame.to_dict(orient="records")):
        request_id = f"{prefix}-{i}"
        audit.features[request_id] = {k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in row.items()}
        approved = probability < 0.2
        window.decisions.append(Served(request_id, probability, 0.2, approved, start + timedelta(seconds=i)))
    return window


def test_the_reference_is_a_seeded_sample_built_once_and_cached(tmp_path: Path) -> None:
    platform = make_platform(tmp_path)
    first = platform.references.get("credit-default", "1")
    assert len(first.sample) == 4000
    assert list(first.sample.columns) == list(KINDS)
    again = ReferenceStore(tmp_path / "refs", tmp_path / "datasets", platform.catalog, max_rows=4000, seed=7)
    loaded = again.get("credit-default", "1")
    pd.testing.assert_frame_equal(loaded.sample, first.sample)
    assert loaded.profile.methods == first.profile.methods
    assert (tmp_path / "refs" / "credit-default" / "1" / "profile.npz").is_file()


def test_a_different_seed_gives_a_different_sample_and_the_same_seed_the_same(tmp_path: Path) -> None:
    path = make_platform(tmp_path).references.datasets_dir / "ds-synthetic" / "train.parquet"
    a = sample_parquet(path, ["NUM_000"], 500, seed=1)
    pd.testing.assert_frame_equal(a, sample_parquet(path, ["NUM_000"], 500, seed=1))
    assert not a.equals(sample_parquet(path, ["NUM_000"], 500, seed=2))


def test_an_unknown_model_version_is_refused(tmp_path: Path) -> None:
    with pytest.raises(LookupError, match="v9"):
        make_platform(tmp_path).references.get("credit-default", "9")
    with pytest.raises(ValueError, match="not a model"):
        make_platform(tmp_path).references.folder("../x", "1")


def test_a_quiet_window_is_green_and_stored(tmp_path: Path) -> None:
    platform = make_platform(tmp_path)
    window = served_window(platform.audit, synthetic_frame(1000, KINDS, seed=11), "q")
    outcome = platform.service.check_window(window)
    report = outcome.report
    assert report is not None
    assert (report.severity, report.rows, report.columns) == ("green", 1000, len(KINDS))
    assert outcome.alert is None
    assert report.window_start == window.decisions[0].decided_at
    stored = json.loads((tmp_path / "reports" / report.report_id / "summary.json").read_text())
    assert len(stored["all_columns"]) == len(KINDS)
    row_report, row_summary = platform.audit.rows[0]
    assert row_report.report_id == report.report_id
    assert row_summary == stored  # the database row carries every column's verdict too
    assert report.prediction is not None
    assert report.prediction.reference == "first_window"


def test_a_shift_of_an_important_feature_raises_a_red_alert_with_an_html_report(tmp_path: Path) -> None:
    platform = make_platform(tmp_path)
    frame = shift(synthetic_frame(1000, KINDS, seed=12), ["NUM_000", "NUM_020"], KINDS)
    outcome = platform.service.check_window(served_window(platform.audit, frame, "s"))
    assert outcome.report is not None
    assert outcome.alert is not None
    assert outcome.alert.severity == "red"
    assert outcome.alert.important_drifted == ["NUM_000"]
    assert outcome.report.top_drifted[0].column == "NUM_000"
    assert "NUM_020" in {c.column for c in outcome.report.top_drifted}
    assert outcome.report.html
    assert (tmp_path / "reports" / outcome.report.report_id / "report.html").stat().st_size > 10_000


def test_the_alert_level_is_configurable(tmp_path: Path) -> None:
    platform = make_platform(
        tmp_path, alert_level="red", rules=SeverityRules(orange_share=0.1, red_share=0.5, important_top_k=0)
    )
    frame = shift(synthetic_frame(1000, KINDS, seed=13), ["NUM_005", "NUM_006", "NUM_007"], KINDS)
    outcome = platform.service.check_window(served_window(platform.audit, frame, "o"))
    assert outcome.report is not None
    assert outcome.report.severity == "orange"
    assert outcome.alert is None


def test_the_same_window_twice_gives_the_same_report(tmp_path: Path) -> None:
    platform = make_platform(tmp_path)
    frame = shift(synthetic_frame(1000, KINDS, seed=14), ["NUM_010"], KINDS)
    window = served_window(platform.audit, frame, "t")
    first, second = platform.service.check_window(window), platform.service.check_window(window)
    assert first.report is not None
    assert second.report is not None
    assert first.report.report_id == second.report.report_id
    assert first.report.top_drifted == second.report.top_drifted


def test_prediction_drift_compares_with_the_first_window_of_the_version(tmp_path: Path) -> None:
    platform = make_platform(tmp_path)
    rng = np.random.default_rng(0)
    first = served_window(platform.audit, synthetic_frame(500, KINDS, seed=15), "p1")
    first.decisions = [Served(d.request_id, float(rng.beta(2, 8)), 0.2, True, d.decided_at) for d in first.decisions]
    platform.service.check_window(first)
    later = served_window(platform.audit, synthetic_frame(500, KINDS, seed=16), "p2")
    later.decisions = [Served(d.request_id, float(rng.beta(5, 5)), 0.2, False, d.decided_at) for d in later.decisions]
    report = platform.service.check_window(later).report
    assert report is not None
    assert report.prediction is not None
    assert report.prediction.reference == "first_window"
    assert report.prediction.psi is not None
    assert report.prediction.psi > 0.25
    assert report.prediction.approval_rate == 0.0
    assert report.prediction.approval_rate_shift is not None
    assert report.prediction.approval_rate_shift < -0.5


def test_prediction_drift_prefers_the_probabilities_of_the_training_run(tmp_path: Path) -> None:
    platform = make_platform(tmp_path)
    model = ModelInfo("credit-default", "1", "ds-synthetic", reference_probabilities=[0.1] * 50 + [0.3] * 50)
    served = [Served(f"r{i}", 0.1, 0.2, True, datetime.now(UTC)) for i in range(100)]
    summary = platform.service.prediction_drift(model, served)
    assert summary.reference == "training_run"
    assert summary.reference_approval_rate == 0.5
    assert summary.approval_rate_shift == 0.5


def test_decisions_without_features_yet_are_retried_then_dropped(tmp_path: Path) -> None:
    platform = make_platform(tmp_path, features_max_attempts=2)
    window = served_window(platform.audit, synthetic_frame(200, KINDS, seed=17), "m")
    missing = window.decisions[0].request_id
    del platform.audit.features[missing]
    outcome = platform.service.check_window(window)
    assert outcome.report is not None
    assert outcome.report.rows == 199
    assert [d.request_id for d in outcome.retry] == [missing]
    again = platform.service.check_window(Window("credit-default", "1", outcome.retry))
    assert again.report is None
    assert again.retry == []


def test_on_demand_report_of_one_column_and_of_all_columns(tmp_path: Path) -> None:
    platform = make_platform(tmp_path)
    steps: list[tuple[str, float]] = []

    def progress(stage: str, percent: float, message: str | None) -> None:
        steps.append((stage, percent))

    one = platform.service.report_on_demand(
        RequestDriftReport(request_id="job-1", column="NUM_003"), "credit-default", progress
    )
    assert (one.columns, one.drifted, one.kind, one.part) == (1, 1, "on_demand", "production")
    assert steps[-1] == ("stored", 100.0)
    everything = platform.service.report_on_demand(
        RequestDriftReport(request_id="job-2", part="production", max_rows=1000), "credit-default", progress
    )
    assert everything.columns == len(KINDS)
    assert {"NUM_003", "CAT_001"} <= {c.column for c in everything.top_drifted}
    assert (tmp_path / "reports" / everything.report_id / "report.html").is_file()
    train = platform.service.report_on_demand(
        RequestDriftReport(request_id="job-3", part="train", column="NUM_003"), "credit-default", progress
    )
    assert train.drifted == 0


def test_on_demand_report_refuses_an_unknown_column_or_alias(tmp_path: Path) -> None:
    platform = make_platform(tmp_path)
    with pytest.raises(ValueError, match="not a feature"):
        platform.service.report_on_demand(RequestDriftReport(request_id="x", column="NOPE"), "credit-default", print)
    with pytest.raises(LookupError, match="challenger"):
        platform.service.report_on_demand(
            RequestDriftReport(request_id="y", alias="challenger"), "credit-default", print
        )


def test_windows_close_by_count_and_by_age_per_model_version() -> None:
    buffer = WindowBuffer(size=3, max_age_s=60, min_rows=2)
    now = datetime.now(UTC)

    def served(i: int) -> Served:
        return Served(f"r{i}", 0.1, 0.2, True, now)

    assert buffer.add("m", "1", served(1), now=0) == []
    assert buffer.add("m", "2", served(2), now=0) == []
    assert buffer.add("m", "1", served(3), now=1) == []
    closed = buffer.add("m", "1", served(4), now=2)
    assert [len(w.decisions) for w in closed] == [3]
    assert buffer.due(now=100) == []  # version 2 holds one decision: fewer than min_rows
    buffer.add("m", "2", served(5), now=101)
    assert [(w.model_version, len(w.decisions)) for w in buffer.due(now=102)] == [("2", 2)]
    assert buffer.pending() == 0
