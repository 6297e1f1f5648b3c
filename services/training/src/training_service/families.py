"""The estimators behind each model family, built from the command's parameters (validated against the registry)."""

from __future__ import annotations

import os
from typing import Any

from sklearn.dummy import DummyClassifier
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression

from credit_shared.boosting import EarlyStoppingLGBMClassifier
from credit_shared.contracts.model_families import FAMILIES, SMOTE_K_NEIGHBORS, ModelFamily, ParamValue, family_defaults
from credit_shared.contracts.training import Imbalance

MIN_ESTIMATORS = "min_estimators"

MAX_THREADS = max(1, os.cpu_count() or 1)
# The registry says 0 for "unlimited" where the estimator wants None (a JSON form has no None for a number).
_ZERO_IS_NONE = {ModelFamily.HIST_GRADIENT_BOOSTING: {"max_depth"}, ModelFamily.RANDOM_FOREST: {"max_depth"}}


def estimator_params(family: ModelFamily, params: dict[str, ParamValue]) -> dict[str, Any]:
    """Defaults overridden by ``params`` (sampler parameters removed), in the estimator's own types."""
    merged: dict[str, Any] = {**family_defaults(family), **params}
    merged.pop(SMOTE_K_NEIGHBORS, None)
    merged.pop(MIN_ESTIMATORS, None)  # the floor of the cross-validated number of trees, not an estimator argument
    for spec in FAMILIES[family].parameters:
        if spec.kind.value == "int" and spec.name in merged:
            merged[spec.name] = round(merged[spec.name])
    for name in _ZERO_IS_NONE.get(family, set()):
        if merged.get(name) == 0:
            merged[name] = None
    return merged


def build_classifier(
    family: ModelFamily,
    params: dict[str, ParamValue],
    imbalance: Imbalance,
    seed: int,
    *,
    threads: int = 1,
    monotone: dict[str, int] | None = None,
) -> Any:
    """A fresh, unfitted classifier of ``family``.

    Args:
        family: the model family.
        params: the chosen parameters (registry names; anything missing takes its default).
        imbalance: class weighting is set here; samplers are pipeline steps.
        seed: random state of the estimator.
        threads: threads of LightGBM and the random forest (1 on small data: more threads only add contention).
        monotone: LightGBM only: feature -> monotone direction of the probability of default.
    """
    kwargs = estimator_params(family, params)
    weight = "balanced" if imbalance is Imbalance.CLASS_WEIGHT else None
    if family is ModelFamily.LOGISTIC_REGRESSION:
        return LogisticRegression(**kwargs, class_weight=weight, random_state=seed)
    if family is ModelFamily.LIGHTGBM:
        return EarlyStoppingLGBMClassifier(
            **kwargs,
            class_weight=weight,
            random_state=seed,
            n_jobs=min(threads, MAX_THREADS),
            verbose=-1,
            monotone=monotone,
        )
    if family is ModelFamily.HIST_GRADIENT_BOOSTING:
        return HistGradientBoostingClassifier(**kwargs, early_stopping=True, class_weight=weight, random_state=seed)
    if family is ModelFamily.RANDOM_FOREST:
        return RandomForestClassifier(
            **kwargs, class_weight=weight, random_state=seed, n_jobs=min(threads, MAX_THREADS)
        )
    if family is ModelFamily.DUMMY:
        return DummyClassifier(**kwargs, random_state=seed)
    raise ValueError(f"unknown model family {family!r}")  # pragma: no cover - the enum is exhaustive
