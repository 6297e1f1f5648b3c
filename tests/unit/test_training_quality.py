"""What makes a trained model credit-grade: the number of trees chosen by lockstep cross-validation on every fold, the
calibrated probabilities and the threshold tuned on them, the refit, the feature policy, monotone constraints, and
what the model card says about them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError
from sklearn.model_selection import StratifiedKFold
from test_training_pipeline import FAST_LGBM, _dataset, make_applicants, make_command

from credit_shared.boosting import EarlyStoppingLGBMClassifier
from credit_shared.contracts.quality import FeaturePolicy
from credit_shared.feature_policy import apply_policy
from training_service.pipeline import Columns, build_pipeline
from training_service.rounds import lockstep_cv, native_booster
from training_service.trainer import TrainingError, train_model

pytestmark = pytest.mark.unit

CALM = {**FAST_LGBM, "n_estimators": 300, "learning_rate": 0.05, "early_stopping_rounds": 30, "min_estimators": 20}


def train(tmp_path: Path, n: int = 1500, **command: Any) -> Any:
    frame, y = make_applicants(n)
    values = {"imbalance": "class_weight", "params": CALM, "folds": 3, **command}
    return train_model(make_command(**values), _dataset(frame, y), tmp_path, lambda *a: None)


@pytest.mark.parametrize(
    "extra",
    [{}, {"class_weight": "balanced", "subsample": 0.7, "subsample_freq": 1}, {"monotone": {"EXT_SOURCE_2": -1}}],
    ids=["plain", "weighted-bagged", "monotone"],
)
def test_a_fold_boosted_natively_is_the_model_the_wrapper_fits(extra: dict[str, Any]) -> None:
    frame, y = make_applicants(800)
    X = frame[["EXT_SOURCE_2", "AMT_CREDIT", "DAYS_BIRTH", "NOISE"]]
    params = {"n_estimators": 23, "learning_rate": 0.1, "num_leaves": 7, "validation_fraction": 0, "random_state": 5}
    wrapper = EarlyStoppingLGBMClassifier(**params, n_jobs=1, verbose=-1, **extra).fit(X, y)
    booster = native_booster(EarlyStoppingLGBMClassifier(**params, n_jobs=1, verbose=-1, **extra), X, y)
    for _ in range(23):
        booster.update()
    np.testing.assert_array_equal(booster.predict(X), wrapper.predict_proba(X)[:, 1])


def lockstep(floor: int) -> Any:
    frame, y = make_applicants(900)
    command = make_command(imbalance="class_weight")
    splits = list(StratifiedKFold(3, shuffle=True, random_state=0).split(frame, y))
    params = {**FAST_LGBM, "learning_rate": 0.2}
    build = lambda: build_pipeline(command, Columns.of(frame), params)  # noqa: E731
    return lockstep_cv(build, frame, y, splits, cap=300, patience=25, floor=floor, say=lambda _: None)


def test_lockstep_cv_chooses_the_round_of_the_best_mean_validation_auc() -> None:
    found = lockstep(floor=1)
    assert found.n_estimators == int(np.argmax(found.curve)) + 1
    assert len(found.curve) - found.n_estimators == 25, "it stops once the mean has not improved for 25 rounds"
    assert found.oof.shape == (900,)
    assert 0 < found.oof.min() < found.oof.max() < 1


def test_lockstep_cv_never_chooses_fewer_trees_than_the_floor() -> None:
    free, floored = lockstep(floor=1), lockstep(floor=120)
    assert free.n_estimators < 120
    assert floored.n_estimators == 120
    assert not np.allclose(free.oof, floored.oof), "the out-of-fold probabilities are those of the chosen round"


def test_the_registered_model_holds_the_chosen_trees_fitted_on_every_training_row(tmp_path: Path) -> None:
    trained = train(tmp_path)
    m = trained.metrics
    clf = trained.pipeline.named_steps["classifier"]
    assert clf.booster_.num_trees() == m["trees"] >= 20
    assert trained.params["n_estimators"] == m["trees"]
    assert m["registered_fit_rows"] == m["train_rows"] == round(1500 * 0.8)
    cv = pd.read_csv(tmp_path / "cv_results.csv")
    assert int(cv.loc[cv["chosen"], "trees"].iloc[0]) == m["trees"]
    assert {"boosting_rounds.json", "boosting_rounds.png"} <= {p.name for p in (tmp_path / "figures").iterdir()}


def test_probabilities_are_calibrated_and_the_threshold_is_tuned_on_them(tmp_path: Path) -> None:
    trained = train(tmp_path, n=3000)
    m = trained.metrics
    assert trained.pipeline.calibrator is not None
    assert m["test_brier"] < m["test_constant_brier"]
    assert 0.8 <= m["test_expected_observed_ratio"] <= 1.25
    assert abs(m["oof_expected_default_rate"] - m["oof_observed_default_rate"]) < 0.01
    assert trained.threshold < 0.3, "class weighting put the raw optimum near 0.5; calibrated PDs put it near 1/11"
    calibration = json.loads((tmp_path / "calibration.json").read_text())
    assert calibration["method"] in {"sigmoid", "isotonic"}
    assert set(calibration["cross_fitted_log_loss"]) == {"sigmoid", "isotonic"}
    figure = json.loads((tmp_path / "figures" / "calibration.json").read_text())
    assert set(figure["series"]) == {"test", "out_of_fold"}
    assert sum(figure["series"]["test"]["count"]) == m["test_rows"]


def test_refit_all_rows_registers_a_model_fitted_on_every_labelled_row(tmp_path: Path) -> None:
    trained = train(tmp_path, n=900, family="logistic_regression", params={}, refit_all_rows=True)
    assert trained.metrics["registered_fit_rows"] == 900
    frame, y = make_applicants(900)
    inputs = frame.drop(columns=["CODE_GENDER"])
    command = make_command(family="logistic_regression", imbalance="class_weight", params={})
    by_hand = build_pipeline(command, Columns.of(inputs), {}).fit(inputs, y)
    by_hand.calibrator = trained.pipeline.calibrator
    np.testing.assert_allclose(trained.pipeline.predict_proba(inputs), by_hand.predict_proba(inputs))
    assert "every labelled row, test rows included" in (tmp_path / "model_card.md").read_text()


def test_protected_attributes_are_never_inputs_but_give_the_fairness_table(tmp_path: Path) -> None:
    trained = train(tmp_path, n=600)
    assert "CODE_GENDER" not in trained.feature_names
    fairness = json.loads((tmp_path / "fairness.json").read_text())
    assert {r["group"] for r in fairness if r["attribute"] == "CODE_GENDER"} == {"F", "M"}
    inputs = json.loads((tmp_path / "inputs.json").read_text())
    assert "prohibited basis" in inputs["excluded"]["CODE_GENDER"]
    assert "DAYS_BIRTH" in inputs["flagged"]
    card = (tmp_path / "model_card.md").read_text()
    assert "- `CODE_GENDER`: sex is a prohibited basis" in card
    assert "Kept aside for the fairness table, never inputs: CODE_GENDER" in card


def test_a_policy_that_protects_nothing_lets_the_attribute_in(tmp_path: Path) -> None:
    policy = {"protected": [], "flagged": ["CODE_GENDER"]}
    trained = train(tmp_path, n=600, feature_policy=policy)
    assert "CODE_GENDER" in trained.feature_names


def test_protecting_a_column_excludes_the_features_computed_from_it() -> None:
    policy = FeaturePolicy(protected=["DAYS_BIRTH"], flagged=[], excluded=["FLAG_MOBIL"])
    outcome = apply_policy(["DAYS_BIRTH", "DAYS_EMPLOYED_PERC", "AMT_CREDIT", "FLAG_MOBIL"], policy)
    assert outcome.inputs == ["AMT_CREDIT"]
    assert outcome.excluded["DAYS_EMPLOYED_PERC"].startswith("computed from DAYS_BIRTH")
    assert outcome.excluded["FLAG_MOBIL"] == "excluded by the feature policy"
    assert outcome.aside == ["DAYS_BIRTH"]


def test_a_policy_naming_what_does_not_exist_is_refused_with_the_names() -> None:
    with pytest.raises(ValidationError, match="protected 'SALARY' is not a column") as caught:
        FeaturePolicy(protected=["SALARY"], flagged=["NOPE"])
    assert "flagged 'NOPE' is not a feature" in str(caught.value)
    with pytest.raises(ValidationError, match="both protected and flagged"):
        FeaturePolicy(protected=["DAYS_BIRTH"], flagged=["DAYS_BIRTH"])


def test_monotone_constraints_hold_and_are_shown_in_the_card(tmp_path: Path) -> None:
    constraints = {"EXT_SOURCE_2": -1, "AMT_CREDIT": 1}
    trained = train(tmp_path, n=900, monotone_constraints=constraints)
    frame, _ = make_applicants(50, seed=9)
    rows = frame[trained.feature_names]
    previous = None
    for value in np.linspace(0, 1, 21):
        p = trained.pipeline.predict_proba(rows.assign(EXT_SOURCE_2=value))[:, 1]
        if previous is not None:
            assert np.all(p <= previous + 1e-12), "a better external score never raises the risk"
        previous = p
    card = (tmp_path / "model_card.md").read_text()
    assert "- `EXT_SOURCE_2`: risk may only fall as the value rises" in card
    assert "- `AMT_CREDIT`: risk may only rise with the value" in card


def test_monotone_constraints_must_name_numeric_inputs_of_lightgbm(tmp_path: Path) -> None:
    with pytest.raises(TrainingError, match="not numeric model inputs: \\['NAME_TYPE_SUITE'\\]"):
        train(tmp_path, n=300, monotone_constraints={"NAME_TYPE_SUITE": 1})
    with pytest.raises(ValidationError, match="monotone constraints are LightGBM's"):
        make_command(family="logistic_regression", params={}, monotone_constraints={"AMT_CREDIT": 1})
    with pytest.raises(ValidationError, match="the policy excludes"):
        make_command(monotone_constraints={"CODE_GENDER": 1})
