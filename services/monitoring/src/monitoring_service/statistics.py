"""The statistics of realized performance: intervals, the realized AUC with DeLong's variance, the label-free AUC
estimate (CBPE) and the noise floor of a PSI.

Plain NumPy functions: every figure of a performance report is one of these on arrays of PDs and outcomes.
"""

from __future__ import annotations

import math
from typing import Any, Final

import numpy as np
from scipy import stats

Z95: Final = 1.959963984540054
FloatArray = np.ndarray[Any, np.dtype[np.float64]]
Interval = tuple[float, float]


def wilson(successes: int, trials: int, z: float = Z95) -> Interval | None:
    """The Wilson score interval of a proportion (None without trials)."""
    if trials <= 0:
        return None
    p = successes / trials
    denominator = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denominator
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def mean_interval(values: FloatArray, z: float = Z95) -> Interval | None:
    """A normal interval of the mean of ``values`` (None with fewer than two)."""
    if values.size < 2:
        return None
    mean = float(values.mean())
    half = z * float(values.std(ddof=1)) / math.sqrt(values.size)
    return mean - half, mean + half


def auc_delong(scores: FloatArray, defaulted: np.ndarray, z: float = Z95) -> tuple[float | None, Interval | None]:
    """The ROC AUC of ``scores`` (higher: riskier) against ``defaulted``, and its DeLong 95 % interval.

    The AUC is the Mann-Whitney statistic on mid-ranks (ties count half), exactly scikit-learn's ``roc_auc_score``;
    the variance is DeLong's (1988), with the mid-rank computation of Sun and Xu (2014). None when a class is empty.
    """
    labels = np.asarray(defaulted, dtype=bool)
    positives, negatives = scores[labels], scores[~labels]
    m, n = positives.size, negatives.size
    if m == 0 or n == 0:
        return None, None
    together = stats.rankdata(np.concatenate([positives, negatives]))
    within_positive, within_negative = stats.rankdata(positives), stats.rankdata(negatives)
    auc = float((together[:m].sum() - m * (m + 1) / 2) / (m * n))
    if m < 2 or n < 2:
        return auc, None
    v10 = (together[:m] - within_positive) / n  # each defaulter's share of good clients ranked below it
    v01 = 1 - (together[m:] - within_negative) / m  # each good client's share of defaulters ranked above it
    se = math.sqrt(float(v10.var(ddof=1)) / m + float(v01.var(ddof=1)) / n)
    return auc, (max(0.0, auc - z * se), min(1.0, auc + z * se))


def cbpe_auc(probability: FloatArray) -> float | None:
    """The expected ROC AUC of calibrated PDs before any outcome (confidence-based performance estimation).

    With calibrated PDs, the label of each decision is Bernoulli(p): at each threshold the expected true positives are
    the sum of the PDs above it and the expected false positives the sum of their complements. The estimate is the
    area under that expected ROC curve (NannyML's CBPE for ROC AUC); None for fewer than two distinct PDs.
    """
    p = np.asarray(probability, dtype=np.float64)
    p = p[np.isfinite(p)]
    levels, inverse = np.unique(-p, return_inverse=True)  # riskiest first, ties grouped
    if levels.size < 2:
        return None
    positives = np.bincount(inverse, weights=p)
    negatives = np.bincount(inverse, weights=1 - p)
    if positives.sum() <= 0 or negatives.sum() <= 0:
        return None
    tpr = np.concatenate([[0.0], np.cumsum(positives) / positives.sum()])
    fpr = np.concatenate([[0.0], np.cumsum(negatives) / negatives.sum()])
    return float(np.sum((fpr[1:] - fpr[:-1]) * (tpr[1:] + tpr[:-1]) / 2))


def psi_noise(reference_rows: int, current_rows: int, bins: int, level: float = 0.99) -> float:
    """The PSI two samples of these sizes reach by chance alone at ``level`` (no shift): PSI is about
    ``(1/n + 1/m) chi2(bins - 1)`` under no change, so a small window inflates it."""
    if reference_rows <= 0 or current_rows <= 0 or bins < 2:
        return math.inf
    return float(stats.chi2.ppf(level, bins - 1)) * (1 / reference_rows + 1 / current_rows)
