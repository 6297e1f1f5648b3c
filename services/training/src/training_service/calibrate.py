"""Calibrating the chosen candidate's probabilities on its out-of-fold predictions.

The out-of-fold probabilities come from models that never saw the rows they predict, so a map fitted on them is what
scikit-learn's ``CalibratedClassifierCV(ensemble=False)`` fits; the registered pipeline applies it after the final
model (:class:`~credit_shared.calibration.CalibratedPipeline`). Both maps are cross-fitted on the out-of-fold rows
(:data:`FOLDS` stratified folds: each row calibrated by a map fitted without it), and compared on log-loss:

- ``sigmoid`` (Platt): affine in log-odds, two parameters; it keeps the contributions exact on the calibrated scale;
- ``isotonic``: any non-decreasing map; it needs many defaults and overfits few.

``auto`` takes isotonic only when its cross-fitted log-loss is lower than the sigmoid's by more than
:data:`AUTO_MARGIN` (relative): it must earn the exactness it gives up. The cross-fitted calibrated probabilities of
the chosen map are what the decision threshold is tuned on and what the out-of-fold metrics describe (honest: never
the map's in-sample fit); the registered map is then fitted on every out-of-fold row.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

import numpy as np
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold

from credit_shared.calibration import Calibrator, Method, logit
from credit_shared.contracts.quality import Calibration
from credit_shared.evaluation import calibration_metrics

FOLDS: Final = 5
AUTO_MARGIN: Final = 0.01
METHODS: Final[tuple[Method, ...]] = ("sigmoid", "isotonic")


def fit_sigmoid(probability: np.ndarray, y: np.ndarray) -> Calibrator:
    """Platt scaling: logistic regression of the outcome on the classifier's log-odds."""
    z = logit(probability).reshape(-1, 1)
    model = LogisticRegression(C=1e6, max_iter=1000).fit(z, np.asarray(y, dtype=int))
    return Calibrator("sigmoid", slope=float(model.coef_[0, 0]), intercept=float(model.intercept_[0]))


def fit_isotonic(probability: np.ndarray, y: np.ndarray) -> Calibrator:
    """Isotonic regression of the outcome on the classifier's probability (knots kept, interpolated between)."""
    model = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(probability, np.asarray(y, float))
    return Calibrator("isotonic", knots_x=model.X_thresholds_, knots_y=model.y_thresholds_)


FITTERS: Final = {"sigmoid": fit_sigmoid, "isotonic": fit_isotonic}


@dataclass
class Calibrated:
    """The chosen map, fitted on every out-of-fold row, and what the choice was made on."""

    calibrator: Calibrator
    oof: np.ndarray  # the chosen map's cross-fitted calibrated out-of-fold probabilities
    log_loss: dict[str, float] = field(default_factory=dict)  # cross-fitted log-loss of each map
    requested: str = "auto"

    @property
    def method(self) -> str:
        """``sigmoid`` or ``isotonic``."""
        return self.calibrator.method


def cross_fitted(method: Method, probability: np.ndarray, y: np.ndarray, seed: int) -> np.ndarray:
    """Each row's calibrated probability from the ``method`` map fitted on the other folds."""
    minority = int(min(np.bincount(y, minlength=2)))
    folds = StratifiedKFold(max(2, min(FOLDS, minority)), shuffle=True, random_state=seed)
    out = np.zeros(len(y))
    for train, held in folds.split(probability.reshape(-1, 1), y):
        out[held] = FITTERS[method](probability[train], y[train]).transform(probability[held])
    return out


def calibrate(probability: np.ndarray, y: np.ndarray, requested: Calibration, seed: int) -> Calibrated:
    """Choose and fit the calibrator of out-of-fold ``probability`` (see the module's text)."""
    y = np.asarray(y, dtype=int)
    p = np.asarray(probability, dtype=float)
    methods: tuple[Method, ...] = METHODS if requested == "auto" else (requested,)
    oof = {m: cross_fitted(m, p, y, seed) for m in methods}
    losses: dict[str, float] = {m: calibration_metrics(y, q)["log_loss"] for m, q in oof.items()}
    chosen: Method = requested if requested != "auto" else "sigmoid"
    if requested == "auto" and losses["isotonic"] < losses["sigmoid"] * (1 - AUTO_MARGIN):
        chosen = "isotonic"
    return Calibrated(FITTERS[chosen](p, y), oof[chosen], losses, requested)
