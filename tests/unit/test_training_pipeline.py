"""The training pipeline, the cost-tuned search and the loaded model's fast paths, on small synthetic data."""

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from credit_shared.contracts.training import TrainModel
from credit_shared.datasets import DatasetManifest, FeatureInfo
from credit_shared.evaluation import CostWeights, best_threshold, business_cost
from credit_shared.loaded_model import LoadedModel
from credit_shared.model_inputs import source_columns
from training_service.card import age_band, fairness_table
from training_service.pipeline import Columns, build_pipeline
from training_service.search import Searcher
from training_service.trainer import Dataset, TrainingError, train_model

pytestmark = pytest.mark.unit

FAST_LGBM = {"n_estimators": 60, "learning_rate": 0.1, "num_leaves": 7, "min_child_samples": 10}


def make_applicants(n: int = 400, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "EXT_SOURCE_2": rng.uniform(0, 1, n),
            "AMT_CREDIT": rng.lognormal(12, 0.5, n),
            "DAYS_BIRTH": -rng.integers(20 * 365, 70 * 365, n).astype(float),
            "NOISE": rng.normal(size=n),
            "CODE_GENDER": pd.Categorical(rng.choice(["F", "M"], n)),
            "NAME_TYPE_SUITE": pd.Categorical(rng.choice(["Unaccompanied", "Spouse, partner", "Family"], n)),
        }
    )
    frame.loc[rng.random(n) < 0.1, "AMT_CREDIT"] = np.nan
    logit = -2.2 - 3.0 * (frame["EXT_SOURCE_2"] - 0.5) + 0.8 * (frame["NAME_TYPE_SUITE"] == "Family")
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return frame, y


def make_command(**overrides: Any) -> TrainModel:
    values: dict[str, Any] = {
        "request_id": "r",
        "dataset_id": "ds",
        "run_name": "t",
        "family": "lightgbm",
        "params": FAST_LGBM,
        "folds": 3,
        "seed": 3,
    }
    return TrainModel(**{**values, **overrides})


def test_columns_are_split_by_type() -> None:
    frame, _ = make_applicants(20)
    columns = Columns.of(frame)
    assert columns.categorical == ["CODE_GENDER", "NAME_TYPE_SUITE"]
    assert "AMT_CREDIT" in columns.numeric


@pytest.mark.parametrize("imbalance", ["none", "class_weight", "smote", "random_under"])
@pytest.mark.parametrize("family", ["lightgbm", "logistic_regression"])
def test_pipeline_fits_with_each_imbalance_strategy_and_scores_every_row(family: str, imbalance: str) -> None:
    frame, y = make_applicants()
    params = FAST_LGBM if family == "lightgbm" else {}
    command = make_command(family=family, imbalance=imbalance, params=params)
    pipeline = build_pipeline(command, Columns.of(frame), command.params).fit(frame, y)
    assert next(iter(pipeline.named_steps)) == "preprocess"
    assert ("sampler" in pipeline.named_steps) == (imbalance in {"smote", "random_under"})
    p = pipeline.predict_proba(frame)[:, 1]
    assert p.shape == (len(frame),)  # the sampler is not applied when predicting
    assert roc_auc_score(y, p) > 0.7


@pytest.mark.parametrize("family", ["hist_gradient_boosting", "random_forest", "dummy"])
def test_other_families_fit_through_the_same_pipeline(family: str) -> None:
    frame, y = make_applicants()
    params: dict[str, Any] = {"random_forest": {"n_estimators": 20}, "hist_gradient_boosting": {"max_iter": 30}}.get(
        family, {}
    )
    command = make_command(family=family, params=params)
    pipeline = build_pipeline(command, Columns.of(frame), command.params).fit(frame, y)
    assert pipeline.predict_proba(frame).shape == (len(frame), 2)


def test_pca_keeps_the_requested_share_of_variance() -> None:
    frame, y = make_applicants()
    command = make_command(family="logistic_regression", params={}, pca_variance=0.9, scaling=True)
    pipeline = build_pipeline(command, Columns.of(frame), {}).fit(frame, y)
    assert pipeline.named_steps["pca"].explained_variance_ratio_.sum() >= 0.9


def test_boosting_stops_early_on_its_validation_split() -> None:
    frame, y = make_applicants(600)
    params = {**FAST_LGBM, "n_estimators": 2000, "early_stopping_rounds": 10}
    pipeline = build_pipeline(make_command(params=params), Columns.of(frame), params).fit(frame, y)
    assert 0 < pipeline.named_steps["classifier"].best_iteration_ < 2000
    hgb = make_command(family="hist_gradient_boosting", params={"max_iter": 2000, "n_iter_no_change": 5})
    fitted = build_pipeline(hgb, Columns.of(frame), hgb.params).fit(frame, y)
    assert fitted.named_steps["classifier"].n_iter_ < 2000


def test_cost_weighs_false_negatives_by_the_command_weights() -> None:
    y = np.array([1, 1, 0, 0, 0])
    refused = np.array([True, False, True, False, False])  # one missed default, one refused good client
    assert business_cost(y, refused, CostWeights(fn=5, fp=2)) == pytest.approx((5 + 2) / 5)


def test_threshold_search_finds_the_known_optimum_for_the_cost_weights() -> None:
    # a defaulter at 0.3 sits below two good clients at 0.35 and 0.4. Refusing from just above 0.2 costs 2 fp;
    # refusing only above 0.4 costs 1 fn: which is cheaper depends on the weights (lowest threshold on ties).
    y = np.array([0, 0, 1, 0, 0, 1])
    p = np.array([0.1, 0.2, 0.3, 0.35, 0.4, 0.8])
    assert best_threshold(y, p, CostWeights(fn=10, fp=1)) == (pytest.approx(0.201), pytest.approx(2 / 6))
    assert best_threshold(y, p, CostWeights(fn=0.5, fp=1)) == (pytest.approx(0.401), pytest.approx(0.5 / 6))


def test_search_reports_fold_and_candidate_progress_and_keeps_the_cheapest() -> None:
    frame, y = make_applicants()
    search = {"method": "grid", "parameters": {"num_leaves": {"values": [3, 15]}}}
    command = make_command(params={k: v for k, v in FAST_LGBM.items() if k != "num_leaves"}, search=search)
    messages: list[str | None] = []
    outcome = Searcher(command, Columns.of(frame), lambda s, p, m=None: messages.append(m), span=(0, 100)).run(frame, y)
    assert "candidate 2 of 2, fold 3 of 3" in messages
    assert outcome.best is not None
    assert outcome.best.best_cost == min(r.best_cost for r in outcome.results)
    assert outcome.best.threshold == best_threshold(y, outcome.best.oof, CostWeights())[0]


def test_successive_halving_keeps_a_third_of_the_candidates_per_round() -> None:
    frame, y = make_applicants(900)
    search = {
        "method": "halving",
        "budget": 9,
        "halving_factor": 3,
        "parameters": {"C": {"low": 0.001, "high": 100, "scale": "log"}},
    }
    command = make_command(family="logistic_regression", params={}, search=search)
    outcome = Searcher(command, Columns.of(frame), lambda *a: None, span=(0, 100)).run(frame, y)
    per_round = [sum(r.round == k for r in outcome.results) for k in range(3)]
    rows = [max(r.rows for r in outcome.results if r.round == k) for k in range(3)]
    assert per_round == [9, 3, 1]
    assert rows[0] < rows[1] < rows[2] == len(y)
    assert outcome.best is not None
    assert outcome.best.rows == len(y)


@pytest.mark.parametrize(
    ("family", "extra"),
    [("lightgbm", {}), ("logistic_regression", {}), ("logistic_regression", {"pca_variance": 0.95, "scaling": True})],
)
def test_contributions_add_up_to_the_raw_score_by_input_feature(family: str, extra: dict[str, Any]) -> None:
    frame, y = make_applicants()
    command = make_command(family=family, params=FAST_LGBM if family == "lightgbm" else {}, **extra)
    pipeline = build_pipeline(command, Columns.of(frame), command.params).fit(frame, y)
    background = None
    if family == "logistic_regression" and "pca_variance" not in extra:
        background = pipeline[:-1].transform(frame).mean(axis=0).to_numpy()
    model = LoadedModel(pipeline, 0.2, "m", "1", list(frame.columns), family=family, background=background)
    contributions, base = model.contributions(frame.head(20))
    assert list(contributions.columns) == list(frame.columns)  # one-hot indicators summed back to their column
    p = model.predict_proba(frame.head(20))
    np.testing.assert_allclose(contributions.sum(axis=1) + base, np.log(p / (1 - p)), rtol=1e-6, atol=1e-6)
    from_array = model.predict_proba(frame.head(20).to_numpy(dtype=object))
    np.testing.assert_allclose(from_array, p)


def test_one_hot_indicators_map_back_to_their_source_column() -> None:
    frame, y = make_applicants()
    pipeline = build_pipeline(make_command(), Columns.of(frame), FAST_LGBM).fit(frame, y)
    mapping = source_columns(pipeline.named_steps["preprocess"])
    assert mapping["NAME_TYPE_SUITE_Spouse__partner"] == "NAME_TYPE_SUITE"
    assert mapping["AMT_CREDIT"] == "AMT_CREDIT"


def test_fairness_flags_a_group_approved_far_less_often() -> None:
    groups = {"CODE_GENDER": pd.Series(["F"] * 10 + ["M"] * 10)}
    y = np.array([0, 1] * 10)
    refused = np.array([False] * 10 + [True] * 5 + [False] * 5)  # F approved 100 %, M 50 %
    rows = {r["group"]: r for r in fairness_table(groups, y, refused)}
    assert rows["M"]["disparate_impact"] == pytest.approx(0.5)
    assert rows["M"]["flagged"]
    assert not rows["F"]["flagged"]
    assert rows["M"]["tpr_gap"] == pytest.approx(rows["M"]["tpr"] - rows["F"]["tpr"])
    assert list(age_band(pd.Series([-365.25 * 25, -365.25 * 45, np.nan]))) == ["<30", "40-49", np.nan]


def _dataset(frame: pd.DataFrame, y: np.ndarray) -> Dataset:
    features = [
        FeatureInfo(
            name=c,
            type="category" if c in {"CODE_GENDER", "NAME_TYPE_SUITE"} else "float",
            label=c,
            source="application",
            online="request",
        )
        for c in frame.columns
    ]
    manifest = DatasetManifest(
        dataset_id="ds", name="t", source_checksum="x", source_kind="synthetic", features=features
    )
    return Dataset(manifest, frame, y)


def test_training_writes_metrics_figures_and_a_model_card(tmp_path: Path) -> None:
    frame, y = make_applicants(500)
    trained = train_model(make_command(imbalance="class_weight"), _dataset(frame, y), tmp_path, lambda *a: None)
    m = trained.metrics
    for split in ("cv", "train", "test"):
        for name in (
            "roc_auc",
            "pr_auc",
            "business_cost",
            "recall",
            "precision",
            "f1",
            "accuracy",
            "balanced_accuracy",
            "brier",
            "refusal_rate",
        ):
            assert f"{split}_{name}" in m
    assert m["test_business_cost"] < m["test_cost_accept_all"]
    assert {"test_cost_at_0_5", "training_time_s", "inference_ms_per_row", "cv_roc_auc_std"} <= set(m)
    figures = {p.name for p in (tmp_path / "figures").iterdir()}
    for name in (
        "roc_curve",
        "pr_curve",
        "confusion_train",
        "confusion_test",
        "cost_vs_threshold",
        "calibration",
        "importance_shap",
        "importance_model",
        "shap_summary",
    ):
        assert {f"{name}.json", f"{name}.png"} <= figures
    card = (tmp_path / "model_card.md").read_text()
    assert "| CODE_GENDER | F |" in card
    assert "age_band" in card
    assert f"{trained.threshold:.3f}" in card
    assert (tmp_path / "cv_results.csv").is_file()
    reference = json.loads((tmp_path / "reference_probabilities.json").read_text())
    assert len(reference) == round(500 * make_command().test_share)
    assert all(0.0 <= p <= 1.0 for p in reference)


def test_too_few_defaults_for_the_folds_is_refused(tmp_path: Path) -> None:
    frame, _ = make_applicants(60)
    y = np.zeros(60, dtype=int)
    y[:3] = 1
    with pytest.raises(TrainingError, match="cannot fill 3 folds"):
        train_model(make_command(), _dataset(frame, y), tmp_path, lambda *a: None)
