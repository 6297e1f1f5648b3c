"""One imbalanced-learn pipeline per model: preprocessing by column type, optional sampler and PCA, classifier.

Steps (named, so scoring and explanations can find them): ``preprocess`` (``ColumnTransformer`` with ``numeric``:
median imputation when the estimator, the sampler or PCA cannot take missing values, then optional scaling; and
``categorical``: one-hot encoding, missing as its own level, unseen levels ignored), ``sampler`` (SMOTE or random
under-sampling, applied only while fitting), ``pca`` (keeps the requested share of variance), ``classifier``.
The pipeline is a :class:`~credit_shared.calibration.CalibratedPipeline`: the trainer sets its calibrator after the
fit, from out-of-fold predictions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd
from imblearn.over_sampling import SMOTE
from imblearn.under_sampling import RandomUnderSampler
from sklearn.compose import ColumnTransformer
from sklearn.decomposition import PCA
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline as SkPipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from credit_shared.calibration import CalibratedPipeline
from credit_shared.contracts.model_families import FAMILIES, SMOTE_K_NEIGHBORS, ParamValue
from credit_shared.contracts.training import Imbalance, TrainModel
from credit_shared.model_inputs import one_hot_name
from training_service.families import build_classifier


@dataclass(frozen=True)
class Columns:
    """Input columns by type."""

    numeric: list[str]
    categorical: list[str]

    @property
    def all(self) -> list[str]:
        """Every input column, numeric first."""
        return [*self.numeric, *self.categorical]

    @classmethod
    def of(cls, frame: pd.DataFrame) -> Columns:
        """Split a frame's columns: numbers and booleans are numeric, everything else categorical."""
        numeric = [
            str(c)
            for c in frame.columns
            if pd.api.types.is_numeric_dtype(frame[c]) and not isinstance(frame[c].dtype, pd.CategoricalDtype)
        ]
        return cls(numeric=numeric, categorical=[str(c) for c in frame.columns if str(c) not in set(numeric)])


def needs_imputation(command: TrainModel) -> bool:
    """Missing values must be filled: the estimator, SMOTE or PCA cannot take them."""
    return (
        not FAMILIES[command.family].handles_missing
        or command.imbalance is Imbalance.SMOTE
        or command.pca_variance is not None
    )


def _numeric_step(command: TrainModel) -> Any:
    scaling = FAMILIES[command.family].default_scaling if command.scaling is None else command.scaling
    steps: list[tuple[str, Any]] = []
    if needs_imputation(command):
        steps.append(("impute", SimpleImputer(strategy="median", keep_empty_features=True)))
    if scaling:
        steps.append(("scale", StandardScaler()))
    return SkPipeline(steps) if steps else "passthrough"


def build_pipeline(
    command: TrainModel, columns: Columns, params: dict[str, ParamValue], *, threads: int = 1
) -> CalibratedPipeline:
    """The unfitted pipeline for ``command`` with the candidate's ``params``.

    Args:
        command: the validated training command (family, imbalance, scaling, PCA, seed).
        columns: the input columns by type.
        params: the candidate's parameters (fixed and searched ones, registry names).
        threads: threads the classifier may use.
    """
    encoder = OneHotEncoder(
        handle_unknown="ignore", sparse_output=False, dtype="float64", feature_name_combiner=one_hot_name
    )
    preprocess = ColumnTransformer(
        [("numeric", _numeric_step(command), columns.numeric), ("categorical", encoder, columns.categorical)],
        remainder="drop",
        verbose_feature_names_out=False,
    ).set_output(transform="pandas")
    steps: list[tuple[str, Any]] = [("preprocess", preprocess)]
    if command.imbalance is Imbalance.SMOTE:
        k = int(params.get(SMOTE_K_NEIGHBORS, 5))
        steps.append(("sampler", SMOTE(k_neighbors=k, random_state=command.seed)))
    elif command.imbalance is Imbalance.RANDOM_UNDER:
        steps.append(("sampler", RandomUnderSampler(random_state=command.seed)))
    if command.pca_variance is not None:
        pca = PCA(n_components=command.pca_variance, svd_solver="full", random_state=command.seed)
        steps.append(("pca", pca.set_output(transform="pandas")))
    monotone = {k: int(v) for k, v in command.monotone_constraints.items() if v} or None
    classifier = build_classifier(command.family, params, command.imbalance, command.seed, threads=threads,
                                  monotone=monotone)  # fmt: skip
    steps.append(("classifier", classifier))
    return CalibratedPipeline(steps)


def fit_head(pipeline: CalibratedPipeline, X: pd.DataFrame, y: Any) -> tuple[pd.DataFrame, Any]:  # noqa: N803
    """Fit every step but the classifier (samplers resample) and return what the classifier is fitted on."""
    xt, yt = X, y
    for _, step in pipeline.steps[:-1]:
        if hasattr(step, "fit_resample"):
            xt, yt = step.fit_resample(xt, yt)
        else:
            xt = step.fit_transform(xt, yt)
    return xt, yt


def transform_head(pipeline: CalibratedPipeline, X: pd.DataFrame) -> pd.DataFrame:  # noqa: N803
    """Rows as the fitted classifier sees them when predicting (samplers are skipped)."""
    xt = X
    for _, step in pipeline.steps[:-1]:
        if not hasattr(step, "fit_resample"):
            xt = step.transform(xt)
    return xt
