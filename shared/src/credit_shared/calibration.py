"""Calibrated probabilities of default: a one-dimensional map applied after the classifier, inside the pipeline.

Class weighting, SMOTE and under-sampling raise the fitted probabilities of the rare defaults on purpose; the
classifier's output is then a score, not a probability. The training service fits a :class:`Calibrator` on
out-of-fold predictions (see ``training_service.calibrate``) and stores it in the :class:`CalibratedPipeline` it
registers, so every process that loads the pipeline (scoring, the gateway, MLflow's pyfunc) serves calibrated
probabilities without knowing it.

Two maps:

- ``sigmoid`` (Platt scaling): ``p = 1 / (1 + exp(-(slope * z + intercept)))`` with ``z`` the classifier's log-odds.
  It is affine in log-odds, so the exact contributions of the raw log-odds, multiplied by ``slope`` (and the base
  value mapped by ``slope * base + intercept``), are the exact contributions of the calibrated log-odds;
- ``isotonic``: a non-decreasing, piecewise-linear map of the classifier's probability (knots from isotonic
  regression). It keeps the order of the applicants but is not affine: contributions then describe the raw score.

Both live in ``credit_shared`` because the pickled pipeline references them.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from imblearn.pipeline import Pipeline

Method = Literal["sigmoid", "isotonic"]
EPS = 1e-15  # log-odds of probabilities clipped here stay finite (about +-34.5)
FLOOR = 1e-6  # an isotonic map never says exactly 0 or 1: a probability of default is never certain


def logit(p: np.ndarray) -> np.ndarray:
    """Log-odds of probabilities (clipped to ``[EPS, 1 - EPS]``)."""
    q = np.clip(np.asarray(p, dtype=float), EPS, 1 - EPS)
    out: np.ndarray = np.log(q) - np.log1p(-q)
    return out


def sigmoid(z: np.ndarray) -> np.ndarray:
    """The logistic function, without overflow warnings."""
    out: np.ndarray = 0.5 * (1.0 + np.tanh(0.5 * np.asarray(z, dtype=float)))
    return out


class Calibrator:
    """A fitted map from the classifier's probability of default to a calibrated one (plain data: it pickles).

    Args:
        method: ``sigmoid`` or ``isotonic``.
        slope: sigmoid: multiplies the raw log-odds.
        intercept: sigmoid: added to the scaled log-odds.
        knots_x: isotonic: raw probabilities of the knots, increasing.
        knots_y: isotonic: calibrated probabilities at the knots, non-decreasing.
    """

    def __init__(
        self,
        method: Method,
        *,
        slope: float = 1.0,
        intercept: float = 0.0,
        knots_x: np.ndarray | None = None,
        knots_y: np.ndarray | None = None,
    ) -> None:
        if method not in ("sigmoid", "isotonic"):
            raise ValueError(f"unknown calibration method {method!r}")
        if method == "isotonic" and (knots_x is None or knots_y is None or len(knots_x) != len(knots_y)):
            raise ValueError("an isotonic calibrator needs knots_x and knots_y of equal length")
        if method == "sigmoid" and not (np.isfinite(slope) and np.isfinite(intercept)):
            raise ValueError("a sigmoid calibrator needs a finite slope and intercept")
        self.method: Method = method
        self.slope = float(slope)
        self.intercept = float(intercept)
        self.knots_x = None if knots_x is None else np.asarray(knots_x, dtype=float)
        self.knots_y = None if knots_y is None else np.clip(np.asarray(knots_y, dtype=float), FLOOR, 1 - FLOOR)

    def transform(self, probability: np.ndarray) -> np.ndarray:
        """Calibrated probabilities of default of the classifier's ``probability`` (1-D, any length)."""
        p = np.asarray(probability, dtype=float)
        if self.method == "sigmoid":
            return sigmoid(self.slope * logit(p) + self.intercept)
        assert self.knots_x is not None
        assert self.knots_y is not None
        mapped: np.ndarray = np.interp(p, self.knots_x, self.knots_y)
        return mapped

    def from_log_odds(self, z: np.ndarray) -> np.ndarray:
        """Calibrated probabilities of the classifier's raw log-odds ``z`` (no round trip through a probability)."""
        if self.method == "sigmoid":
            return sigmoid(self.slope * np.asarray(z, dtype=float) + self.intercept)
        return self.transform(sigmoid(z))

    @property
    def log_odds_map(self) -> tuple[float, float] | None:
        """``(slope, intercept)`` when calibrated log-odds are an affine map of raw ones (sigmoid), else None."""
        return (self.slope, self.intercept) if self.method == "sigmoid" else None

    def describe(self) -> dict[str, Any]:
        """The calibrator as JSON-able data (for the run's artifacts and the model card)."""
        if self.method == "sigmoid":
            return {"method": "sigmoid", "slope": self.slope, "intercept": self.intercept}
        assert self.knots_x is not None
        assert self.knots_y is not None
        return {"method": "isotonic", "knots": len(self.knots_x), "x": self.knots_x.tolist(),
                "y": self.knots_y.tolist()}  # fmt: skip

    def __repr__(self) -> str:
        if self.method == "sigmoid":
            return f"Calibrator('sigmoid', slope={self.slope:.4g}, intercept={self.intercept:.4g})"
        return f"Calibrator('isotonic', knots={0 if self.knots_x is None else len(self.knots_x)})"


class CalibratedPipeline(Pipeline):  # type: ignore[misc]
    """An imbalanced-learn ``Pipeline`` whose probabilities pass through its ``calibrator`` (when it has one).

    The steps are those of any model pipeline (``preprocess``, optional ``sampler`` and ``pca``, ``classifier``);
    ``calibrator`` is a fitted :class:`Calibrator`, set after the fit from out-of-fold predictions (a prefit
    parameter, as in scikit-learn's ``CalibratedClassifierCV(cv="prefit")``). ``predict_proba`` returns calibrated
    probabilities; ``predict`` decides at 0.5 of them (the platform decides at each version's own threshold).
    """

    def __init__(
        self,
        steps: list[tuple[str, Any]],
        *,
        calibrator: Calibrator | None = None,
        transform_input: list[str] | None = None,
        memory: Any = None,
        verbose: bool = False,
    ) -> None:
        super().__init__(steps, transform_input=transform_input, memory=memory, verbose=verbose)
        self.calibrator = calibrator

    def predict_proba(self, X: Any, **params: Any) -> np.ndarray:  # noqa: N803 - the scikit-learn name
        """Probabilities of each class, the default one calibrated."""
        raw = np.asarray(super().predict_proba(X, **params), dtype=float)
        if self.calibrator is None:
            return raw
        p = self.calibrator.transform(raw[:, 1])
        return np.column_stack([1.0 - p, p])

    def predict(self, X: Any, **params: Any) -> np.ndarray:  # noqa: N803 - the scikit-learn name
        """1 where the calibrated probability of default is at least 0.5."""
        if self.calibrator is None:
            return np.asarray(super().predict(X, **params))
        return (self.predict_proba(X, **params)[:, 1] >= 0.5).astype(int)


def calibrator_of(pipeline: Any) -> Calibrator | None:
    """The calibrator of a loaded pipeline (None for one registered before calibration existed)."""
    found = getattr(pipeline, "calibrator", None)
    return found if isinstance(found, Calibrator) else None
