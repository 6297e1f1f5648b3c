"""A registered credit-default model as scoring uses it: load by alias, predict fast, explain exactly.

Training logs one imbalanced-learn ``Pipeline`` per model version with ``mlflow.sklearn`` (cloudpickle format):
named steps ``preprocess`` (a ``ColumnTransformer``: ``numeric`` columns imputed/scaled 1:1, ``categorical``
columns one-hot encoded), an optional ``sampler`` (skipped when predicting), an optional ``pca`` and the
``classifier``. The MLflow model's metadata carries the decision threshold, the input feature names and, for linear
models, the mean of the transformed training rows (the background of the contributions).

Contributions (:meth:`LoadedModel.contributions`) are in log-odds and add up, with the base value, to the model's
raw score:

- LightGBM: exact TreeSHAP from ``booster_.predict(X, pred_contrib=True)`` (no shap import);
- logistic regression: ``coef * (x - background)``; through a PCA the coefficients are projected back on the
  pre-PCA features (``components_.T @ coef``, background ``pca.mean_``), which is exact because both are linear;
- random forest / histogram gradient boosting: ``shap.TreeExplainer`` (imported lazily; slower);
- the dummy baseline: zeros.

Numeric features map 1:1 to the model's inputs. A categorical column becomes one indicator per level
(``<COLUMN>_<level>``); its contribution is the **sum of its indicators' contributions** (SHAP values are additive,
so the sum is the contribution of the column as a whole). A tree model behind a PCA cannot be mapped back: its
contributions are reported per component (``pca0``, ``pca1`` ...) and :attr:`LoadedModel.exact_inputs` is false.

:class:`EarlyStoppingLGBMClassifier` lives here because every process that loads a pickled pipeline must be able to
import its classes, and ``credit_shared`` is installed in every service.
"""

from __future__ import annotations

import logging
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from lightgbm import LGBMClassifier, early_stopping
from sklearn.model_selection import train_test_split

from credit_shared.settings import MlflowSettings

log = logging.getLogger(__name__)

THRESHOLD_KEY = "threshold"
FEATURES_KEY = "feature_names"
BACKGROUND_KEY = "background"
FAMILY_KEY = "family"
_UNSAFE = re.compile(r"[^0-9A-Za-z_-]")


class EarlyStoppingLGBMClassifier(LGBMClassifier):  # type: ignore[misc]
    """``LGBMClassifier`` that holds out a stratified validation split inside ``fit`` and stops early on it.

    Args:
        early_stopping_rounds: rounds without improvement of the validation ROC AUC before stopping (AUC, not
            log-loss: with class weighting the fitted probabilities are inflated on purpose, and the unweighted
            log-loss would stop the boosting far too early).
        validation_fraction: share of the rows held out (0 disables early stopping).
        **kwargs: every ``LGBMClassifier`` parameter.
    """

    def __init__(self, *, early_stopping_rounds: int = 200, validation_fraction: float = 0.15, **kwargs: Any) -> None:
        self.early_stopping_rounds = early_stopping_rounds
        self.validation_fraction = validation_fraction
        super().__init__(**kwargs)

    def fit(  # type: ignore[override]
        self,
        X: Any,  # noqa: N803 - the scikit-learn name
        y: Any,
        sample_weight: Any = None,
        **fit_params: Any,
    ) -> EarlyStoppingLGBMClassifier:
        """Fit on ``1 - validation_fraction`` of the rows, stopping when the held-out ROC AUC stops improving."""
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


def one_hot_name(feature: str, category: Any) -> str:
    """Name of a one-hot indicator: ``<feature>_<level>`` with every character but letters, digits, ``_`` and ``-``
    replaced by ``_`` (LightGBM refuses JSON special characters in feature names)."""
    return f"{feature}_{_UNSAFE.sub('_', str(category))}"


def source_columns(preprocess: Any) -> dict[str, str]:
    """Map each output column of the fitted ``preprocess`` ColumnTransformer to the input column it comes from."""
    mapping: dict[str, str] = {}
    for _, transformer, columns in preprocess.transformers_:
        if transformer == "drop" or not len(columns):
            continue
        cols = [str(c) for c in columns]
        outputs = [str(n) for n in transformer.get_feature_names_out(cols)] if transformer != "passthrough" else cols
        by_length = sorted(cols, key=len, reverse=True)
        for out in outputs:
            mapping[out] = out if out in cols else next((c for c in by_length if out.startswith(f"{c}_")), out)
    return mapping


@dataclass
class LoadedModel:
    """A fitted pipeline with its decision threshold and registry identity."""

    pipeline: Any
    threshold: float
    name: str
    version: str
    feature_names: list[str]
    alias: str | None = None
    run_id: str | None = None
    family: str | None = None
    background: np.ndarray | None = None
    numeric: list[str] = field(init=False)
    categorical: list[str] = field(init=False)

    def __post_init__(self) -> None:
        preprocess = self.pipeline.named_steps["preprocess"]
        kinds = {name: [str(c) for c in cols] for name, _, cols in preprocess.transformers_}
        self.categorical = kinds.get("categorical", [])
        self.numeric = [c for c in self.feature_names if c not in set(self.categorical)]

    @property
    def classifier(self) -> Any:
        """The fitted final estimator."""
        return self.pipeline.named_steps["classifier"]

    @property
    def exact_inputs(self) -> bool:
        """Contributions map back onto input columns (false only for a tree model behind a PCA)."""
        return "pca" not in self.pipeline.named_steps or self.family == "logistic_regression"

    def frame(self, X: np.ndarray | pd.DataFrame) -> pd.DataFrame:  # noqa: N803
        """The rows as the DataFrame the pipeline expects (columns in order, numbers as floats).

        Args:
            X: a DataFrame with (at least) the input columns, or a 2-D array in :attr:`feature_names` order.
        """
        if isinstance(X, pd.DataFrame):
            df = X.reindex(columns=self.feature_names)
        else:
            arr = np.asarray(X, dtype=object)
            df = pd.DataFrame(arr.reshape(-1, len(self.feature_names)), columns=self.feature_names)
        # Columns already of a NumPy number type become floats in one block (about 800 per-column conversions were
        # most of a scoring batch's time); anything else is coerced column by column as before.
        dtypes = dict(zip(df.columns, df.dtypes, strict=True))
        plain = [c for c in self.numeric if isinstance(dtypes[c], np.dtype) and dtypes[c].kind in "biuf"]
        numbers = pd.DataFrame(df[plain].to_numpy(dtype="float64"), columns=plain, index=df.index)
        fixed = set(plain)
        coerced = {c: pd.to_numeric(df[c], errors="coerce").astype("float64") for c in self.numeric if c not in fixed}
        cats = {c: df[c].astype(object).where(df[c].notna(), None) for c in self.categorical}
        others = pd.DataFrame({**coerced, **cats}, index=df.index)
        return pd.concat([numbers, others], axis=1)[self.feature_names]

    def transform(self, X: np.ndarray | pd.DataFrame) -> pd.DataFrame:  # noqa: N803
        """The rows as the classifier sees them (samplers are skipped at prediction)."""
        out = self.pipeline[:-1].transform(self.frame(X))
        return out if isinstance(out, pd.DataFrame) else pd.DataFrame(out)

    def predict_proba(self, X: np.ndarray | pd.DataFrame) -> np.ndarray:  # noqa: N803
        """Probability of default of each row (1-D)."""
        transformed = self.transform(X)
        clf = self.classifier
        if hasattr(clf, "booster_"):  # the raw booster skips the sklearn wrapper's validation overhead
            return np.asarray(clf.booster_.predict(transformed.to_numpy(dtype=float)), dtype=float)
        return np.asarray(clf.predict_proba(transformed)[:, 1], dtype=float)

    def decide(self, probability: np.ndarray) -> np.ndarray:
        """True where the applicant is refused (probability at or above the threshold)."""
        return np.asarray(probability) >= self.threshold

    def contributions(self, X: np.ndarray | pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:  # noqa: N803
        """Per-row contributions (log-odds) by input column, and the base value of each row.

        Returns:
            ``(contributions, base)``: a DataFrame with one column per input feature (or per PCA component when
            :attr:`exact_inputs` is false) and the base values, so that ``contributions.sum(1) + base`` is the
            model's raw score.
        """
        frame = self.frame(X)
        transformed = pd.DataFrame(self.pipeline[:-1].transform(frame))
        values, base = self._raw_contributions(frame, transformed)
        if "pca" in self.pipeline.named_steps and self.family == "logistic_regression":
            transformed = self._before_pca(frame)
        names = [str(c) for c in transformed.columns]
        raw = pd.DataFrame(values, columns=names, index=transformed.index)
        if "pca" in self.pipeline.named_steps and self.family != "logistic_regression":
            return raw, base
        mapping = source_columns(self.pipeline.named_steps["preprocess"])
        grouped = raw.T.groupby(lambda n: mapping.get(str(n), str(n)), sort=False).sum().T
        ordered = [c for c in self.feature_names if c in grouped.columns]
        return grouped[ordered], base

    def _before_pca(self, frame: pd.DataFrame) -> pd.DataFrame:
        steps = list(self.pipeline.named_steps)
        return pd.DataFrame(self.pipeline[: steps.index("pca")].transform(frame))

    def _raw_contributions(self, frame: pd.DataFrame, transformed: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        clf = self.classifier
        x = transformed.to_numpy(dtype=float)
        if hasattr(clf, "booster_"):
            out = np.asarray(clf.booster_.predict(x, pred_contrib=True), dtype=float)
            return out[:, :-1], out[:, -1]
        if hasattr(clf, "coef_"):
            return self._linear_contributions(frame, x)
        if self.family == "dummy" or not hasattr(clf, "n_features_in_"):
            prior = float(np.clip(clf.predict_proba(transformed[:1])[0, 1], 1e-12, 1 - 1e-12))
            return np.zeros_like(x), np.full(len(x), np.log(prior / (1 - prior)))
        import shap  # slow path, only for forests and histogram boosting

        explainer = shap.TreeExplainer(clf)
        values = explainer.shap_values(transformed)
        values = values[1] if isinstance(values, list) else values
        values = values[..., 1] if np.ndim(values) == 3 else values
        expected = np.ravel(explainer.expected_value)
        return np.asarray(values, dtype=float), np.full(len(x), float(expected[-1]))

    def _linear_contributions(self, frame: pd.DataFrame, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        coef = np.ravel(self.classifier.coef_)
        intercept = float(np.ravel(self.classifier.intercept_)[0])
        pca = self.pipeline.named_steps.get("pca")
        if pca is not None:  # logit = coef . ((x - mean) C^T) + b = (C^T coef) . (x - mean) + b: exact
            x_pre = self._before_pca(frame).to_numpy(dtype=float)
            return (pca.components_.T @ coef) * (x_pre - pca.mean_), np.full(len(x_pre), intercept)
        background = self.background if self.background is not None else np.zeros(x.shape[1])
        return coef * (x - background), np.full(len(x), intercept + float(coef @ background))


def load_model(
    settings: MlflowSettings | str, name: str | None = None, alias: str = "champion", *, version: str | None = None
) -> LoadedModel:
    """Load a registered version by alias (``models:/<name>@<alias>``), with its threshold and metadata.

    Args:
        settings: the MLflow settings, or a tracking URI.
        name: registered model name (default: ``settings.model_name``, else ``credit-default``).
        alias: ``champion`` or ``challenger`` (or any alias).
        version: load this version number instead (``models:/<name>/<version>``); the result then has no alias.

    Raises:
        LookupError: when no version carries the alias (or the version does not exist).
        ValueError: when the version has no decision threshold.
    """
    import mlflow.sklearn
    from mlflow import MlflowClient
    from mlflow.artifacts import download_artifacts
    from mlflow.exceptions import MlflowException
    from mlflow.models import Model

    uri = settings if isinstance(settings, str) else settings.tracking_uri
    name = name or (settings.model_name if isinstance(settings, MlflowSettings) else "credit-default")
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    try:
        found = client.get_model_version(name, version) if version else client.get_model_version_by_alias(name, alias)
    except MlflowException as exc:
        missing = (
            f"{name!r} has no version {version!r}" if version else f"no version of {name!r} has the alias {alias!r}"
        )
        raise LookupError(missing) from exc
    loaded_alias = None if version else alias
    with tempfile.TemporaryDirectory(prefix="credit-model-") as tmp:
        # the version's own artifact location, not ``models:/``: MLflow resolves a ``models:/`` URI against the
        # process-wide registry URI whatever ``registry_uri`` says (a local ./mlflow.db when it is unset)
        local = download_artifacts(
            artifact_uri=client.get_model_version_download_uri(name, found.version), dst_path=tmp, tracking_uri=uri
        )
        pipeline = mlflow.sklearn.load_model(local)
        metadata = Model.load(Path(local) / "MLmodel").metadata or {}
    threshold = metadata.get(THRESHOLD_KEY, found.tags.get(THRESHOLD_KEY))
    if threshold is None:
        raise ValueError(f"{name} version {found.version} has no decision threshold")
    background = metadata.get(BACKGROUND_KEY)
    log.info("loaded %s version %s (%s), threshold %s", name, found.version, loaded_alias, threshold)
    return LoadedModel(
        pipeline=pipeline,
        threshold=float(threshold),
        name=name,
        version=str(found.version),
        feature_names=list(metadata.get(FEATURES_KEY) or pipeline.feature_names_in_),
        alias=loaded_alias,
        run_id=found.run_id,
        family=metadata.get(FAMILY_KEY),
        background=None if background is None else np.asarray(background, dtype=float),
    )
