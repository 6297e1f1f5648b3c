"""The number of LightGBM trees, chosen by cross-validation: every fold boosted in lockstep, stopped on their mean.

Early stopping on one held-out split judges on few defaults (about 65 on the real sample) and stops at once, or late,
by chance. Here each fold's booster grows one tree at a time beside the others; after each round the validation ROC
AUC of every fold is measured on its own out-of-fold rows, and boosting stops when the **mean** over the folds has not
improved for ``patience`` rounds (as ``lightgbm.cv`` does). The chosen number of trees is the best mean round, never
below ``floor``; the out-of-fold probabilities are each fold's at that round, so they describe the model the final
fit builds (the same parameters, the same number of trees, on every training row).

Each fold goes through its own pipeline: preprocessing and sampler fitted on the fold's training rows only. The
boosters are LightGBM's own (``Booster.update``), built from the wrapper's parameters
(:meth:`~credit_shared.boosting.EarlyStoppingLGBMClassifier.native_params`), so a fold boosted to ``n`` rounds is the
model the wrapper fits with ``n_estimators=n``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.utils.class_weight import compute_sample_weight

from credit_shared.calibration import CalibratedPipeline
from training_service.pipeline import fit_head, transform_head

Say = Callable[[str], None]


@dataclass
class Lockstep:
    """What the lockstep cross-validation found."""

    oof: np.ndarray
    n_estimators: int
    curve: list[float] = field(default_factory=list)  # mean validation ROC AUC after each round
    fit_s: float = 0.0


def native_booster(
    clf: Any, xt: pd.DataFrame, yt: np.ndarray, validation: tuple[pd.DataFrame, np.ndarray] | None = None
) -> lgb.Booster:
    """An untrained LightGBM booster with ``clf``'s parameters on the rows ``xt`` (class weights as the wrapper's),
    evaluating ``validation`` after each round when given."""
    params = clf.native_params([str(c) for c in xt.columns])
    weight = None if clf.class_weight is None else compute_sample_weight(clf.class_weight, yt)
    train = lgb.Dataset(xt, label=yt, weight=weight, params=params)
    booster = lgb.Booster(params=params, train_set=train)
    if validation is not None:
        booster.add_valid(lgb.Dataset(validation[0], label=validation[1], reference=train, params=params), "val")
    return booster


@dataclass
class _Fold:
    booster: lgb.Booster
    x_val: pd.DataFrame
    rows: np.ndarray


Splits = Sequence[tuple[np.ndarray, np.ndarray]]


def _prepare(
    build: Callable[[], CalibratedPipeline], rows: pd.DataFrame, y: np.ndarray, splits: Splits, say: Say
) -> list[_Fold]:
    folds: list[_Fold] = []
    for k, (train_idx, val_idx) in enumerate(splits, start=1):
        say(f"fold {k} of {len(splits)}")
        pipeline = build()
        xt, yt = fit_head(pipeline, rows.iloc[train_idx], y[train_idx])
        x_val = transform_head(pipeline, rows.iloc[val_idx])
        booster = native_booster(pipeline.steps[-1][1], xt, np.asarray(yt), (x_val, y[val_idx]))
        folds.append(_Fold(booster, x_val, np.asarray(val_idx)))
    return folds


def lockstep_cv(
    build: Callable[[], CalibratedPipeline],
    X: pd.DataFrame,  # noqa: N803
    y: np.ndarray,
    splits: Splits,
    *,
    cap: int,
    patience: int,
    floor: int,
    say: Say,
) -> Lockstep:
    """Boost every fold in lockstep and choose the number of trees on the mean validation ROC AUC.

    Args:
        build: a fresh unfitted pipeline of the candidate (its classifier an ``EarlyStoppingLGBMClassifier``).
        X: the rows searched on.
        y: their labels.
        splits: the cross-validation folds (training positions, validation positions).
        cap: most rounds.
        patience: rounds without improvement of the mean before stopping.
        floor: fewest trees chosen.
        say: progress messages.
    """
    started = time.perf_counter()
    floor = max(1, min(floor, cap))
    folds = _prepare(build, X, y, splits, say)
    curve: list[float] = []
    best, best_at = -np.inf, 0
    report_every = max(1, cap // 10)
    for round_ in range(1, cap + 1):
        for fold in folds:
            fold.booster.update()
        mean = float(np.mean([fold.booster.eval_valid()[0][2] for fold in folds]))
        curve.append(mean)
        if mean > best:
            best, best_at = mean, round_
        if round_ % report_every == 0:
            say(f"boosting round {round_} of at most {cap}, mean validation ROC AUC {mean:.4f}")
        if round_ - best_at >= patience and round_ >= floor:
            break
    chosen = max(best_at, floor)
    oof = np.zeros(len(y))
    for fold in folds:
        oof[fold.rows] = fold.booster.predict(fold.x_val, num_iteration=chosen)
    return Lockstep(oof, chosen, curve, time.perf_counter() - started)
