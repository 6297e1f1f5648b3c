"""The LightGBM classifier of the pipelines, with its own early stopping and per-feature monotone constraints.

It lives in ``credit_shared`` because every process that loads a pickled pipeline must be able to import its
classes, and ``credit_shared`` is installed in every service (:mod:`credit_shared.model_loading` keeps its old name,
``credit_shared.models``, resolvable, so versions registered before the move still load).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from lightgbm import LGBMClassifier, early_stopping
from sklearn.model_selection import train_test_split

# Parameters of the wrapper that are not LightGBM parameters (the rest are names LightGBM knows as aliases).
WRAPPER_ONLY = frozenset(
    {"n_estimators", "class_weight", "importance_type", "objective", "early_stopping_rounds", "validation_fraction"}
    | {"monotone"}
)


def monotone_vector(monotone: Mapping[str, int] | None, columns: Sequence[str]) -> list[int] | None:
    """LightGBM's ``monotone_constraints`` for the classifier's input ``columns`` (None when there are none).

    Args:
        monotone: input feature -> direction (1: the probability of default may only rise with the value, -1: only
            fall, 0: free); features not named are free.
        columns: the classifier's input columns, in order (a numeric feature keeps its name through preprocessing).
    """
    if not monotone:
        return None
    return [int(monotone.get(str(c), 0)) for c in columns]


class EarlyStoppingLGBMClassifier(LGBMClassifier):  # type: ignore[misc]
    """``LGBMClassifier`` that may hold out a stratified validation split inside ``fit`` and stop early on it.

    The training service chooses the number of trees by cross-validation instead (``validation_fraction=0`` and a
    fixed ``n_estimators``); the internal split remains for fits without cross-validation.

    Args:
        early_stopping_rounds: rounds without improvement of the validation ROC AUC before stopping (AUC, not
            log-loss: with class weighting the fitted probabilities are inflated on purpose, and the unweighted
            log-loss would stop the boosting far too early).
        validation_fraction: share of the rows held out (0 disables early stopping).
        monotone: input feature -> monotone direction (see :func:`monotone_vector`); needs a DataFrame in ``fit``.
        **kwargs: every ``LGBMClassifier`` parameter.
    """

    # class-level defaults: a classifier pickled before these parameters existed still answers get_params()
    monotone: dict[str, int] | None = None

    def __init__(
        self,
        *,
        early_stopping_rounds: int = 200,
        validation_fraction: float = 0.15,
        monotone: dict[str, int] | None = None,
        **kwargs: Any,
    ) -> None:
        self.early_stopping_rounds = early_stopping_rounds
        self.validation_fraction = validation_fraction
        self.monotone = monotone
        super().__init__(**kwargs)

    def fit(  # type: ignore[override]
        self,
        X: Any,  # noqa: N803 - the scikit-learn name
        y: Any,
        sample_weight: Any = None,
        **fit_params: Any,
    ) -> EarlyStoppingLGBMClassifier:
        """Fit on ``1 - validation_fraction`` of the rows, stopping when the held-out ROC AUC stops improving."""
        if self.monotone:
            if not isinstance(X, pd.DataFrame):
                raise TypeError("monotone constraints are given by feature name: fit needs a DataFrame")
            self.set_params(monotone_constraints=monotone_vector(self.monotone, [str(c) for c in X.columns]))
        y_arr = np.asarray(y)
        if (
            not self.validation_fraction
            or ("eval_set" in fit_params or "eval_X" in fit_params)
            or len(np.unique(y_arr)) < 2
        ):
            super().fit(X, y, sample_weight=sample_weight, **fit_params)
            return self
        index = np.arange(len(y_arr))
        fit_idx, val_idx = train_test_split(
            index, test_size=self.validation_fraction, stratify=y_arr, random_state=self.random_state
        )
        frame = isinstance(X, pd.DataFrame)
        x_fit, x_val = (X.iloc[fit_idx], X.iloc[val_idx]) if frame else (X[fit_idx], X[val_idx])
        weights = None if sample_weight is None else np.asarray(sample_weight)[fit_idx]
        super().fit(
            x_fit,
            y_arr[fit_idx],
            sample_weight=weights,
            eval_X=x_val,
            eval_y=y_arr[val_idx],
            eval_metric="auc",
            callbacks=[early_stopping(self.early_stopping_rounds, first_metric_only=True, verbose=False)],
            **fit_params,
        )
        return self

    def _process_params(self, stage: str) -> dict[str, Any]:
        # LightGBM's wrapper hands every get_params() entry to LightGBM itself, which would read our
        # early_stopping_rounds as its own early_stopping_round (and fail without a validation set) and choke on the
        # monotone mapping: only LightGBM's parameters go through.
        params: dict[str, Any] = super()._process_params(stage)
        for name in ("early_stopping_rounds", "validation_fraction", "monotone"):
            params.pop(name, None)
        return params

    def native_params(self, columns: Sequence[str]) -> dict[str, Any]:
        """This classifier's parameters as LightGBM's own ``train`` takes them (binary objective, ROC AUC metric),
        for boosting several folds in lockstep exactly as :meth:`fit` would boost each.

        Args:
            columns: the classifier's input columns (for the monotone constraints).
        """
        params = {k: v for k, v in self.get_params(deep=False).items() if k not in WRAPPER_ONLY and v is not None}
        params.update(objective="binary", metric="auc")
        constraints = monotone_vector(self.monotone, columns)
        if constraints is not None:
            params["monotone_constraints"] = constraints
        return params
