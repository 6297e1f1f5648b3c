"""The metrics of a credit-default model, one definition for the dataset baseline, training and monitoring.

The business cost is ``(fn_weight * FN + fp_weight * FP) / n``: a defaulter accepted (false negative) costs ten times
a good client refused (false positive) by default. ROC and PR AUC are computed on probabilities, never on labels.

Calibration (is the probability of default a probability?): Brier score, log-loss, expected calibration error over
:data:`ECE_BINS` equal-frequency bins (the mean gap between the mean probability and the observed default rate of
each bin, weighted by its size), and the expected default rate (mean probability) against the observed one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    balanced_accuracy_score,
    brier_score_loss,
    f1_score,
    log_loss,
    precision_score,
    recall_score,
    roc_auc_score,
)

METRICS: Final = (
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
    "log_loss",
    "ece",
    "expected_default_rate",
    "observed_default_rate",
    "expected_observed_ratio",
)
ECE_BINS: Final = 10
CLIP: Final = 1e-15


@dataclass(frozen=True)
class CostWeights:
    """What each error costs the lender, per applicant."""

    fn: float = 10.0
    fp: float = 1.0


def business_cost(y_true: np.ndarray, refused: np.ndarray, weights: CostWeights = CostWeights()) -> float:
    """Mean cost per applicant of refusing ``refused`` (bool) when ``y_true`` says who defaults."""
    y = np.asarray(y_true, dtype=bool)
    r = np.asarray(refused, dtype=bool)
    fn = np.count_nonzero(y & ~r)
    fp = np.count_nonzero(~y & r)
    return float((weights.fn * fn + weights.fp * fp) / max(len(y), 1))


def cost_curve(
    y_true: np.ndarray, probability: np.ndarray, thresholds: np.ndarray, weights: CostWeights = CostWeights()
) -> np.ndarray:
    """Business cost at each threshold (refuse when probability >= threshold), vectorised by sorting once."""
    y = np.asarray(y_true, dtype=bool)
    p = np.asarray(probability, dtype=float)
    order = np.argsort(p)
    p_sorted, y_sorted = p[order], y[order]
    below = np.searchsorted(p_sorted, thresholds, side="left")  # accepted: probability < threshold
    defaults_accepted = np.concatenate([[0], np.cumsum(y_sorted)])[below]
    goods_refused = np.count_nonzero(~y) - (below - defaults_accepted)
    return np.asarray((weights.fn * defaults_accepted + weights.fp * goods_refused) / max(len(y), 1), dtype=float)


def best_threshold(
    y_true: np.ndarray, probability: np.ndarray, weights: CostWeights = CostWeights(), step: float = 0.001
) -> tuple[float, float]:
    """The threshold on a fine grid that minimises the business cost, and that cost (lowest threshold on ties)."""
    grid = np.round(np.arange(0.0, 1.0 + step / 2, step), 6)
    costs = cost_curve(y_true, probability, grid, weights)
    k = int(np.argmin(costs))
    return float(grid[k]), float(costs[k])


def evaluate(
    y_true: np.ndarray, probability: np.ndarray, threshold: float, weights: CostWeights = CostWeights()
) -> dict[str, float]:
    """Every metric of :data:`METRICS` for probabilities decided at ``threshold``."""
    y = np.asarray(y_true, dtype=int)
    p = np.asarray(probability, dtype=float)
    refused = p >= threshold
    two_classes = len(np.unique(y)) == 2
    return {
        "roc_auc": float(roc_auc_score(y, p)) if two_classes else float("nan"),
        "pr_auc": float(average_precision_score(y, p)) if two_classes else float("nan"),
        "business_cost": business_cost(y, refused, weights),
        "recall": float(recall_score(y, refused, zero_division=0)),
        "precision": float(precision_score(y, refused, zero_division=0)),
        "f1": float(f1_score(y, refused, zero_division=0)),
        "accuracy": float(accuracy_score(y, refused)),
        "balanced_accuracy": float(balanced_accuracy_score(y, refused)),
        "brier": float(brier_score_loss(y, p)),
        "refusal_rate": float(refused.mean()) if len(refused) else 0.0,
        **calibration_metrics(y, p),
    }


def expected_calibration_error(y_true: np.ndarray, probability: np.ndarray, bins: int = ECE_BINS) -> float:
    """Size-weighted mean of ``|mean probability - observed default rate|`` over equal-frequency bins."""
    y = np.asarray(y_true, dtype=float)
    p = np.asarray(probability, dtype=float)
    if not len(y):
        return float("nan")
    order = np.argsort(p, kind="stable")
    gaps = [abs(float(p[part].mean()) - float(y[part].mean())) * len(part) for part in np.array_split(order, bins)
            if len(part)]  # fmt: skip
    return float(sum(gaps) / len(y))


def calibration_metrics(y_true: np.ndarray, probability: np.ndarray) -> dict[str, float]:
    """Log-loss, expected calibration error, expected and observed default rates and their ratio."""
    y = np.asarray(y_true, dtype=int)
    p = np.asarray(probability, dtype=float)
    expected = float(p.mean()) if len(p) else float("nan")
    observed = float(y.mean()) if len(y) else float("nan")
    return {
        "log_loss": float(log_loss(y, np.clip(p, CLIP, 1 - CLIP), labels=[0, 1])) if len(y) else float("nan"),
        "ece": expected_calibration_error(y, p),
        "expected_default_rate": expected,
        "observed_default_rate": observed,
        "expected_observed_ratio": expected / observed if observed > 0 else float("nan"),
    }
