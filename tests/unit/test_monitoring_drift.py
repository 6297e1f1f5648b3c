"""The drift engine: per-column verdicts, false positives, determinism, PSI, severity, agreement with Evidently."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from monitoring_service.domain import (
    ColumnDrift,
    DriftResult,
    MethodChoice,
    SeverityRules,
    at_least,
    default_method,
    is_drifted,
    rank_drifted,
)
from monitoring_service.evidently_report import run_report
from monitoring_service.profile import ReferenceProfile, js_from_shares, psi, psi_from_shares
from monitoring_service.synthetic import shift, synthetic_frame, synthetic_kinds

pytestmark = pytest.mark.unit

KINDS = synthetic_kinds(numerical=50, categorical=10)


@pytest.fixture(scope="module")
def reference() -> pd.DataFrame:
    return synthetic_frame(5000, KINDS, seed=1)


@pytest.fixture(scope="module")
def profile(reference: pd.DataFrame) -> ReferenceProfile:
    return ReferenceProfile.build(reference, KINDS)


def chosen(k: int) -> list[str]:
    columns = list(KINDS)
    return columns[:: max(len(columns) // max(k, 1), 1)][:k]


@pytest.mark.parametrize("k", [0, 3, 20])
def test_shifted_columns_drift_and_the_others_mostly_do_not(profile: ReferenceProfile, k: int) -> None:
    columns = chosen(k)
    false_positives, others = 0, 0
    for seed in range(5):
        window = shift(synthetic_frame(1000, KINDS, seed=100 + seed), columns, KINDS, seed=seed)
        drifted = set(profile.compare(window).drifted)
        assert set(columns) <= drifted, f"missed {set(columns) - drifted}"
        false_positives += len(drifted - set(columns))
        others += len(KINDS) - k
    assert false_positives / others <= 0.05


def test_the_same_window_twice_gives_the_same_verdicts(reference: pd.DataFrame, tmp_path: Path) -> None:
    window = shift(synthetic_frame(1000, KINDS, seed=7), chosen(3), KINDS)
    first = ReferenceProfile.build(reference, KINDS)
    first.save(tmp_path)
    assert first.compare(window) == first.compare(window)
    assert ReferenceProfile.build(reference, KINDS).compare(window) == first.compare(window)
    assert ReferenceProfile.load(tmp_path).compare(window) == first.compare(window)


def test_verdicts_do_not_depend_on_the_column_order_of_the_window(profile: ReferenceProfile) -> None:
    window = shift(synthetic_frame(1000, KINDS, seed=8), chosen(3), KINDS)
    reversed_window = window[list(reversed(window.columns))]
    assert profile.compare(reversed_window) == profile.compare(window)


def test_a_column_absent_from_the_window_gets_no_score_and_no_drift(profile: ReferenceProfile) -> None:
    window = synthetic_frame(500, KINDS, seed=9).drop(columns=["NUM_000", "CAT_000"])
    verdicts = profile.compare(window).by_column()
    assert verdicts["NUM_000"].score is None
    assert not verdicts["NUM_000"].drifted
    assert verdicts["CAT_000"].score is None
    assert not verdicts["CAT_000"].drifted


def test_normed_wasserstein_matches_scipy_within_two_percent() -> None:
    rng = np.random.default_rng(3)
    reference = pd.DataFrame({"x": rng.lognormal(10, 0.8, 20_000)})
    window = pd.DataFrame({"x": rng.lognormal(10.05, 0.8, 1000)})
    score = ReferenceProfile.build(reference, {"x": "numerical"}).compare(window).columns[0].score
    exact = stats.wasserstein_distance(reference["x"], window["x"]) / np.std(reference["x"])
    assert score == pytest.approx(exact, rel=0.02)


def test_psi_is_zero_for_identical_distributions_and_known_for_a_moved_one() -> None:
    assert psi_from_shares(np.array([0.5, 0.5]), np.array([0.5, 0.5])) == 0.0
    expected = (0.8 - 0.5) * np.log(0.8 / 0.5) + (0.2 - 0.5) * np.log(0.2 / 0.5)
    assert psi_from_shares(np.array([0.5, 0.5]), np.array([0.8, 0.2])) == pytest.approx(expected)
    uniform = np.linspace(0, 1, 10_000, endpoint=False)
    assert psi(uniform, uniform) == pytest.approx(0.0, abs=1e-9)
    # all current values in the top decile: 0.9 * (1e-4 - 0.1) * ln(1e-4 / 0.1) + (1 - 0.1) * ln(1 / 0.1)
    top = np.full(1000, 0.95)
    empty = 1e-4 / (1 + 9e-4)
    bins = 9 * (empty - 0.1) * np.log(empty / 0.1) + (1 / (1 + 9e-4) - 0.1) * np.log((1 / (1 + 9e-4)) / 0.1)
    assert psi(uniform, top) == pytest.approx(bins, rel=1e-6)


def test_jensen_shannon_matches_scipy() -> None:
    from scipy.spatial import distance

    p, q = np.array([0.2, 0.3, 0.5]), np.array([0.4, 0.4, 0.2])
    assert js_from_shares(p, q) == pytest.approx(distance.jensenshannon(p, q))


def test_default_methods_follow_evidently() -> None:
    assert default_method("numerical", 20_000, 100) == "wasserstein"
    assert default_method("numerical", 20_000, 2) == "jensenshannon"
    assert default_method("categorical", 20_000, 12) == "jensenshannon"
    assert default_method("numerical", 800, 100) == "ks"
    assert default_method("categorical", 800, 3) == "chisquare"
    assert is_drifted("ks", 0.01, 0.05)
    assert not is_drifted("ks", 0.2, 0.05)
    assert is_drifted("wasserstein", 0.1, 0.1)
    assert not is_drifted("wasserstein", 0.09, 0.1)
    assert not is_drifted("psi", None, 0.1)


def test_a_method_configured_per_column_type_is_used_with_its_threshold(reference: pd.DataFrame) -> None:
    choice = MethodChoice(numerical="psi", categorical="chisquare", thresholds={"psi": 0.2})
    profile = ReferenceProfile.build(reference, KINDS, choice)
    verdicts = profile.compare(shift(synthetic_frame(1000, KINDS, seed=4), ["NUM_001"], KINDS)).by_column()
    assert (verdicts["NUM_001"].method, verdicts["NUM_001"].threshold) == ("psi", 0.2)
    assert verdicts["NUM_001"].drifted
    assert (verdicts["CAT_000"].method, verdicts["CAT_000"].threshold) == ("chisquare", 0.05)


def test_a_small_reference_is_compared_with_tests(reference: pd.DataFrame) -> None:
    small = ReferenceProfile.build(reference.head(800), KINDS)
    window = shift(synthetic_frame(500, KINDS, seed=5), ["NUM_002", "CAT_001"], KINDS)
    verdicts = small.compare(window).by_column()
    assert verdicts["NUM_002"].method == "ks"
    assert verdicts["NUM_002"].drifted
    assert verdicts["CAT_001"].method == "chisquare"
    assert verdicts["CAT_001"].drifted


def test_a_categorical_column_refuses_a_numerical_method(reference: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match="categorical"):
        ReferenceProfile.build(reference, KINDS, MethodChoice(categorical="wasserstein"))


def names(*drifted: str) -> list[str]:
    return list(drifted)


def test_severity_is_the_share_of_the_model_importance_that_drifted() -> None:
    rules = SeverityRules(orange_share=0.5, red_share=0.75)
    columns = [f"c{i}" for i in range(100)]
    assert rules.severity([f"c{i}" for i in range(49)], {}, columns) == ("green", [])  # plain share without importances
    assert rules.severity([f"c{i}" for i in range(50)], {}, columns)[0] == "orange"
    assert rules.severity([f"c{i}" for i in range(75)], {}, columns)[0] == "red"


def test_columns_the_model_ignores_never_raise_the_severity() -> None:
    importances = {"f0": 6.0, "f1": 3.0, "f2": 1.0} | {f"z{i}": 0.0 for i in range(400)}
    rules = SeverityRules(orange_share=0.5, red_share=0.75, important_top_k=2)
    columns = list(importances)
    assert rules.severity([f"z{i}" for i in range(400)], importances, columns) == ("green", [])  # the old rule: red
    assert rules.severity(["f1", "f2"], importances, columns) == ("green", ["f1"])  # 40 % of the weight
    assert rules.severity(["f0"], importances, columns) == ("orange", ["f0"])
    assert rules.severity(["f0", "f1"], importances, columns) == ("red", ["f0", "f1"])
    assert rules.weighted_share(["f1", "z3"], importances, columns) == pytest.approx(0.3)


def drift(column: str, score: float, method: str = "wasserstein", threshold: float = 0.1) -> ColumnDrift:
    return ColumnDrift(column, "numerical", method, threshold, score, is_drifted(method, score, threshold))


def test_only_material_drift_sets_the_severity_noise_just_past_a_threshold_does_not() -> None:
    rules = SeverityRules()  # orange from 20 % of the importance drifting materially (twice a distance's threshold)
    importances = {"ext_mean": 0.18, "ext_min": 0.14, "ext_2": 0.09, "other": 0.59}
    columns = list(importances)
    noise = [drift("ext_mean", 0.102), drift("ext_min", 0.104), drift("ext_2", 0.095), drift("other", 0.02)]
    assert rules.material(noise) == []  # the production part of the training data: just past the threshold
    drifted = [c.column for c in noise if c.drifted]
    assert rules.severity(drifted, importances, columns, rules.material(noise)) == ("green", ["ext_mean", "ext_min"])
    broken = [drift("ext_mean", 2.3), drift("ext_min", 1.7), drift("ext_2", 2.1), drift("other", 0.05)]
    assert rules.material(broken) == ["ext_mean", "ext_min", "ext_2"]  # a broken feed: many times past it
    assert rules.severity(["ext_mean", "ext_min", "ext_2"], importances, columns, rules.material(broken))[0] == "orange"
    tests = [drift("a", 0.01, "ks", 0.05), drift("b", 0.0001, "ks", 0.05), drift("c", 0.2, "ks", 0.05)]
    assert rules.material(tests) == ["b"]  # a p-value below 0.05 / 100


def test_alert_levels_are_ordered() -> None:
    assert at_least("red", "orange")
    assert at_least("orange", "orange")
    assert not at_least("green", "orange")


def test_drifted_columns_are_ranked_by_importance_then_by_strength() -> None:
    result = DriftResult(
        (
            ColumnDrift("a", "numerical", "wasserstein", 0.1, 0.9, True),
            ColumnDrift("b", "numerical", "wasserstein", 0.1, 0.2, True),
            ColumnDrift("c", "numerical", "wasserstein", 0.1, 0.5, True),
            ColumnDrift("d", "numerical", "wasserstein", 0.1, 0.01, False),
        ),
        rows=10,
        reference_rows=10,
    )
    ranked = rank_drifted(result, {"b": 5.0, "d": 9.0})
    assert [r.drift.column for r in ranked] == ["b", "a", "c"]
    assert ranked[0].importance == 5.0


def test_evidently_report_gives_the_same_verdicts_as_the_fast_check(tmp_path: Path) -> None:
    kinds = synthetic_kinds(numerical=5, categorical=2)
    reference = synthetic_frame(2000, kinds, seed=1)
    profile = ReferenceProfile.build(reference, kinds)
    window = shift(synthetic_frame(500, kinds, seed=2), ["NUM_001", "CAT_000"], kinds)
    report = run_report(reference, window, profile)
    fast = profile.compare(window)
    assert [c.drifted for c in report.result.columns] == [c.drifted for c in fast.columns]
    assert {"NUM_001", "CAT_000"} <= set(report.result.drifted)
    for ours, theirs in zip(fast.columns, report.result.columns, strict=True):
        assert (ours.column, ours.method, ours.threshold) == (theirs.column, theirs.method, theirs.threshold)
        assert theirs.score is not None
    assert report.save_html(tmp_path / "r.html") > 10_000


def test_evidently_report_on_one_column_refuses_an_unknown_column() -> None:
    kinds = synthetic_kinds(numerical=2, categorical=0)
    reference = synthetic_frame(1500, kinds, seed=1)
    profile = ReferenceProfile.build(reference, kinds)
    with pytest.raises(ValueError, match="not in the model"):
        run_report(reference, reference, profile, ["NOPE"])
    one = run_report(reference, synthetic_frame(300, kinds, seed=3), profile, ["NUM_001"])
    assert [c.column for c in one.result.columns] == ["NUM_001"]


def test_evidently_report_in_column_blocks_and_worker_processes_matches_one_process(tmp_path: Path) -> None:
    kinds = synthetic_kinds(numerical=45, categorical=3)  # two blocks of columns
    reference = synthetic_frame(800, kinds, seed=1)  # a small reference: ks and chi-square, also on 0/1 columns
    profile = ReferenceProfile.build(reference, kinds)
    assert "chisquare" in {m for m, k in zip(profile.methods, profile.kinds, strict=True) if k == "numerical"}
    window = shift(synthetic_frame(600, kinds, seed=2), ["NUM_001", "NUM_040"], kinds)
    single = run_report(reference, window, profile, workers=1)
    pooled = run_report(reference, window, profile, workers=2)
    # Evidently sums chi-square terms in the order of a set of category names, which string hashing shuffles from
    # one process to the next: scores agree to rounding, verdicts exactly.
    for ours, theirs in zip(single.result.columns, pooled.result.columns, strict=True):
        assert replace(ours, score=None) == replace(theirs, score=None)
        assert ours.score == pytest.approx(theirs.score, rel=1e-9)
    assert {"NUM_001", "NUM_040"} <= set(pooled.result.drifted)
    fast = profile.compare(window)
    assert [c.drifted for c in pooled.result.columns] == [c.drifted for c in fast.columns]
    pooled.save_html(tmp_path / "r.html")
    html = (tmp_path / "r.html").read_text()
    assert "Data Drift Summary" in html
    assert f"({len(pooled.result.drifted)} out of {len(kinds)})" in html
