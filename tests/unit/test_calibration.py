"""Calibrated probabilities of default: the calibrators, the pipeline that carries one, the loaded model's fast path and
its contributions, and the trainer's choice on out-of-fold predictions."""

from __future__ import annotations

from typing import Any

import cloudpickle
import numpy as np
import pandas as pd
import pytest
from imblearn.pipeline import Pipeline
from test_training_pipeline import FAST_LGBM, make_applicants, make_command

from credit_shared.calibration import CalibratedPipeline, Calibrator, logit, sigmoid
from credit_shared.evaluation import calibration_metrics, expected_calibration_error
from credit_shared.loaded_model import LoadedModel
from training_service.calibrate import AUTO_MARGIN, calibrate, fit_isotonic, fit_sigmoid
from training_service.pipeline import Columns, build_pipeline

pytestmark = pytest.mark.unit


def make_scores(n: int = 20_000, seed: int = 0, *, bent: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """True default probabilities around 8 %, and a classifier's inflated score of them (as class weighting does).

    ``bent``: the true log-odds are a cubic of the score's, which no sigmoid of the score's log-odds can follow.
    """
    rng = np.random.default_rng(seed)
    z = rng.normal(-2.6, 0.8, n)
    truth = sigmoid(-2.6 + 1.5 * (z + 2.6) ** 3 if bent else z)
    y = (rng.random(n) < truth).astype(int)
    return sigmoid(z + 2.4), y  # log-odds shifted by about ln(12)


def fitted_pipeline(calibrator: Calibrator | None, **command: Any) -> tuple[CalibratedPipeline, pd.DataFrame]:
    frame, y = make_applicants(500)
    values = {"imbalance": "class_weight", **command}
    spec = make_command(**values)
    pipeline = build_pipeline(spec, Columns.of(frame), spec.params).fit(frame, y)
    pipeline.calibrator = calibrator
    return pipeline, frame


def test_sigmoid_calibration_brings_inflated_scores_back_to_the_default_rate() -> None:
    raw, y = make_scores()
    assert raw.mean() > 3 * y.mean()  # what class weighting does to the scores
    calibrated = fit_sigmoid(raw, y).transform(raw)
    assert calibrated.mean() == pytest.approx(y.mean(), rel=0.02)
    assert expected_calibration_error(y, calibrated) < 0.01 < expected_calibration_error(y, raw)
    assert calibration_metrics(y, calibrated)["log_loss"] < calibration_metrics(y, raw)["log_loss"]


def test_isotonic_calibration_is_non_decreasing_and_never_certain() -> None:
    raw, y = make_scores(5000)
    calibrator = fit_isotonic(raw, y)
    grid = np.linspace(0, 1, 501)
    mapped = calibrator.transform(grid)
    assert np.all(np.diff(mapped) >= 0)
    assert mapped.min() > 0
    assert mapped.max() < 1
    assert calibrator.log_odds_map is None


def test_auto_takes_isotonic_only_when_it_clearly_lowers_the_log_loss() -> None:
    raw, y = make_scores()
    plain = calibrate(raw, y, "auto", seed=1)
    assert plain.method == "sigmoid"  # a log-odds shift is exactly what the sigmoid fits
    bent, y_bent = make_scores(bent=True, seed=2)
    chosen = calibrate(bent, y_bent, "auto", seed=1)
    assert chosen.log_loss["isotonic"] < chosen.log_loss["sigmoid"] * (1 - AUTO_MARGIN)
    assert chosen.method == "isotonic"
    assert calibrate(bent, y_bent, "sigmoid", seed=1).method == "sigmoid"
    assert set(calibrate(bent, y_bent, "isotonic", seed=1).log_loss) == {"isotonic"}


def test_calibrated_out_of_fold_probabilities_are_cross_fitted_not_the_maps_own_fit() -> None:
    raw, y = make_scores(3000, seed=4)
    found = calibrate(raw, y, "isotonic", seed=0)
    in_sample = found.calibrator.transform(raw)
    assert not np.allclose(found.oof, in_sample)
    assert calibration_metrics(y, in_sample)["log_loss"] <= calibration_metrics(y, found.oof)["log_loss"]


def test_the_pipeline_serves_calibrated_probabilities_and_the_fast_path_agrees() -> None:
    raw_pipeline, frame = fitted_pipeline(None)
    raw = raw_pipeline.predict_proba(frame)[:, 1]
    calibrator = fit_sigmoid(raw, (raw > np.median(raw)).astype(int))
    raw_pipeline.calibrator = calibrator
    served = raw_pipeline.predict_proba(frame)
    np.testing.assert_allclose(served[:, 1], calibrator.transform(raw))
    np.testing.assert_allclose(served.sum(axis=1), 1.0)
    model = LoadedModel(raw_pipeline, 0.1, "m", "1", list(frame.columns), family="lightgbm")
    assert model.compiled_preprocess
    np.testing.assert_allclose(model.predict_proba(frame), served[:, 1], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(model.raw_proba(frame), raw, rtol=1e-12, atol=1e-12)
    restored = cloudpickle.loads(cloudpickle.dumps(raw_pipeline))  # how MLflow stores it
    np.testing.assert_allclose(restored.predict_proba(frame)[:, 1], served[:, 1])


@pytest.mark.parametrize("family", ["lightgbm", "logistic_regression"])
def test_sigmoid_contributions_add_up_to_the_log_odds_of_the_calibrated_probability(family: str) -> None:
    pipeline, frame = fitted_pipeline(
        Calibrator("sigmoid", slope=0.7, intercept=-1.9),
        family=family,
        params=FAST_LGBM if family == "lightgbm" else {},
    )
    background = None
    if family == "logistic_regression":
        background = pipeline[:-1].transform(frame).mean(axis=0).to_numpy()
    model = LoadedModel(pipeline, 0.1, "m", "1", list(frame.columns), family=family, background=background)
    contributions, base = model.contributions(frame.head(30))
    p = model.predict_proba(frame.head(30))
    assert model.explains_probability
    np.testing.assert_allclose(contributions.sum(axis=1) + base, logit(p), rtol=1e-6, atol=1e-6)


def test_isotonic_contributions_stay_those_of_the_raw_score() -> None:
    pipeline, frame = fitted_pipeline(fit_isotonic(*make_scores(4000)), params=FAST_LGBM)
    model = LoadedModel(pipeline, 0.1, "m", "1", list(frame.columns), family="lightgbm")
    contributions, base = model.contributions(frame.head(30))
    assert not model.explains_probability
    np.testing.assert_allclose(contributions.sum(axis=1) + base, logit(model.raw_proba(frame.head(30))), atol=1e-6)
    order = np.argsort(model.raw_proba(frame.head(30)))
    assert np.all(np.diff(model.predict_proba(frame.head(30))[order]) >= 0), "the calibrated PD keeps the ranking"


def test_a_pipeline_registered_before_calibration_is_served_as_it_was() -> None:
    frame, y = make_applicants(300)
    spec = make_command()
    fitted = build_pipeline(spec, Columns.of(frame), spec.params).fit(frame, y)
    old = Pipeline(fitted.steps)  # what versions registered before calibration existed hold
    model = LoadedModel(old, 0.1, "m", "1", list(frame.columns), family="lightgbm")
    assert model.calibrator is None
    assert model.explains_probability
    np.testing.assert_allclose(model.predict_proba(frame), old.predict_proba(frame)[:, 1])


def test_a_calibrator_refuses_what_it_cannot_map() -> None:
    with pytest.raises(ValueError, match="unknown calibration method"):
        Calibrator("beta")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="knots"):
        Calibrator("isotonic", knots_x=np.array([0.1, 0.2]))
    with pytest.raises(ValueError, match="finite"):
        Calibrator("sigmoid", slope=float("nan"))
