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

A pipeline may carry a calibrator (:mod:`credit_shared.calibration`): :meth:`LoadedModel.predict_proba` then returns
calibrated probabilities, applied as a one-dimensional map after the fast path. With a sigmoid calibrator (affine in
log-odds) the contributions are those of the calibrated log-odds (the raw ones times the slope, an exact Shapley
decomposition still), so ``contributions.sum(1) + base`` is the log-odds of the served probability; with an
isotonic one they stay those of the raw score (:attr:`LoadedModel.explains_probability` says which).

``EarlyStoppingLGBMClassifier`` (now in :mod:`credit_shared.boosting`) is re-exported here: versions pickled
before it moved reference it by this module's name.
"""

from __future__ import annotations

import logging
import math
import re
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from credit_shared.boosting import EarlyStoppingLGBMClassifier
from credit_shared.calibration import calibrator_of, logit
from credit_shared.preprocessing import CompiledPreprocess, categorical_block, compile_preprocess, numeric_block, probe
from credit_shared.settings import MlflowSettings

__all__ = ["EarlyStoppingLGBMClassifier", "InputLayout", "LoadedModel", "ModelInput", "load_model"]
log = logging.getLogger(__name__)

THRESHOLD_KEY = "threshold"
FEATURES_KEY = "feature_names"
BACKGROUND_KEY = "background"
FAMILY_KEY = "family"
_UNSAFE = re.compile(r"[^0-9A-Za-z_-]")


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


Columns = Mapping[str, np.ndarray]


class InputLayout:
    """A model's input features split as the pipeline splits them: a float block of the numeric ones and an object
    block of the categorical ones, each in the model's order."""

    def __init__(self, feature_names: Sequence[str], numeric: Sequence[str], categorical: Sequence[str]) -> None:
        self.feature_names = list(feature_names)
        self.numeric = list(numeric)
        self.categorical = list(categorical)
        self.index = pd.Index(self.feature_names)
        at_numeric = {c: k for k, c in enumerate(self.numeric)}
        at_categorical = {c: k for k, c in enumerate(self.categorical)}
        self.numeric_positions = np.array([self.feature_names.index(c) for c in self.numeric], dtype="int64")
        self.categorical_positions = np.array([self.feature_names.index(c) for c in self.categorical], dtype="int64")
        self.where = [(True, at_numeric[c]) if c in at_numeric else (False, at_categorical[c]) for c in feature_names]

    def blocks(self, X: pd.DataFrame | Columns) -> tuple[np.ndarray, np.ndarray, pd.Index | None]:  # noqa: N803
        """The numeric block (float64, NaN missing), the categorical block (object, None missing) and the row labels
        of a frame with the input columns, or of columns of equal length by name (an absent one is missing)."""
        if isinstance(X, pd.DataFrame):
            df = X if X.columns.equals(self.index) else X.reindex(columns=self.feature_names)
            return numeric_block(df, self.numeric), categorical_block(df, self.categorical), df.index
        rows = len(next(iter(X.values())))
        missing = np.full(rows, np.nan)
        numbers = np.empty((rows, len(self.numeric)))
        for k, name in enumerate(self.numeric):
            numbers[:, k] = X.get(name, missing)
        categories = np.empty((rows, len(self.categorical)), dtype=object)
        for k, name in enumerate(self.categorical):
            categories[:, k] = X.get(name, missing)
        categories[pd.isna(categories)] = None
        return numbers, categories, None

    def frame(self, numbers: np.ndarray, categories: np.ndarray, index: pd.Index | None = None) -> pd.DataFrame:
        """The blocks as the DataFrame the pipeline takes (columns in the model's order)."""
        parts = [
            pd.DataFrame(numbers, columns=self.numeric, index=index),
            pd.DataFrame(categories, columns=self.categorical, index=index),
        ]
        return pd.concat(parts, axis=1)[self.feature_names]


@dataclass(frozen=True)
class ModelInput:
    """Rows prepared once for both predicting and explaining them: the input blocks (see :class:`InputLayout`) and
    the classifier's input matrix."""

    numbers: np.ndarray
    categories: np.ndarray
    x: np.ndarray
    layout: InputLayout
    index: pd.Index | None = None

    @property
    def frame(self) -> pd.DataFrame:
        """The rows as the pipeline's input frame."""
        return self.layout.frame(self.numbers, self.categories, self.index)

    def take(self, rows: np.ndarray | Sequence[int]) -> ModelInput:
        """The given rows (positions in this input)."""
        picked = np.asarray(rows, dtype="int64")
        index = None if self.index is None else self.index[picked]
        return ModelInput(self.numbers[picked], self.categories[picked], self.x[picked], self.layout, index)

    def value(self, row: int, feature: int) -> float | str | None:
        """Input feature ``feature`` (a position in the model's feature names) of ``row``: a float, a category, or
        None when missing."""
        numeric, k = self.layout.where[feature]
        if numeric:
            number = float(self.numbers[row, k])
            return None if math.isnan(number) else number
        level = self.categories[row, k]
        return None if level is None else str(level)

    def records(self) -> list[dict[str, float | str | None]]:
        """Each row as ``{feature: value}`` in the model's order (None for a missing value), built as one object
        array: about 800 features make a value-by-value conversion a hot spot of every batch."""
        table = np.empty((len(self.numbers), len(self.layout.feature_names)), dtype=object)
        block = self.numbers.astype(object)
        block[np.isnan(self.numbers)] = None
        table[:, self.layout.numeric_positions] = block
        table[:, self.layout.categorical_positions] = self.categories
        names = self.layout.feature_names
        return [dict(zip(names, row, strict=True)) for row in table.tolist()]

    def __len__(self) -> int:
        return len(self.x)


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
        self.layout = InputLayout(self.feature_names, self.numeric, self.categorical)
        self._columns = [str(c) for c in preprocess.get_feature_names_out()]  # the classifier's inputs (no PCA)
        self._compiled = self._compile(preprocess)
        self._groups = _groups(self._columns, source_columns(preprocess), self.feature_names)
        self.calibrator = calibrator_of(self.pipeline)

    def _compile(self, preprocess: Any) -> CompiledPreprocess | None:
        """The preprocessing as array operations, when it can be and gives exactly scikit-learn's output."""
        if set(self.pipeline.named_steps) - {"preprocess", "sampler", "classifier"}:
            return None  # a PCA goes through scikit-learn
        compiled = compile_preprocess(preprocess, self.numeric, self.categorical)
        if compiled is None:
            return None
        rows = probe(self.numeric, self.categorical, preprocess)
        try:
            expected = np.asarray(preprocess.transform(self.frame(rows)), dtype="float64")
            numbers, categories, _ = self.layout.blocks(rows)
            same = np.array_equal(compiled.transform(numbers, categories), expected, equal_nan=True)
        except (TypeError, ValueError) as exc:
            log.warning("preprocessing of %s v%s not compiled: %s", self.name, self.version, exc)
            return None
        if not same:
            log.warning("preprocessing of %s v%s not compiled: it differs from scikit-learn's", self.name, self.version)
            return None
        return compiled

    @property
    def compiled_preprocess(self) -> bool:
        """The preprocessing runs as array operations (proven equal to scikit-learn's on a probe at load)."""
        return self._compiled is not None

    @property
    def classifier(self) -> Any:
        """The fitted final estimator."""
        return self.pipeline.named_steps["classifier"]

    @property
    def exact_inputs(self) -> bool:
        """Contributions map back onto input columns (false only for a tree model behind a PCA)."""
        return "pca" not in self.pipeline.named_steps or self.family == "logistic_regression"

    def frame(self, X: np.ndarray | pd.DataFrame | Columns) -> pd.DataFrame:  # noqa: N803
        """The rows as the DataFrame the pipeline expects (columns in order, numbers as floats, None for a missing
        category).

        Args:
            X: a DataFrame with (at least) the input columns, a 2-D array in :attr:`feature_names` order, or columns
                by name.
        """
        return self.layout.frame(*self.layout.blocks(self._columns_of(X)))

    def _columns_of(self, X: np.ndarray | pd.DataFrame | Columns) -> pd.DataFrame | Columns:  # noqa: N803
        if isinstance(X, np.ndarray):
            arr = np.asarray(X, dtype=object)
            return pd.DataFrame(arr.reshape(-1, len(self.feature_names)), columns=self.feature_names)
        return X

    def prepare(self, X: np.ndarray | pd.DataFrame | Columns | ModelInput) -> ModelInput:  # noqa: N803
        """The rows as the classifier sees them (samplers are skipped at prediction), computed once for
        :meth:`predict_proba` and :meth:`contributions`.

        Args:
            X: a DataFrame with the input columns, a 2-D array in :attr:`feature_names` order, or columns by name
                (1-D arrays of equal length; an absent one is missing).
        """
        if isinstance(X, ModelInput):
            return X
        numbers, categories, index = self.layout.blocks(self._columns_of(X))
        if self._compiled is not None:
            x = self._compiled.transform(numbers, categories)
        else:
            x = np.asarray(self.pipeline[:-1].transform(self.layout.frame(numbers, categories, index)), dtype="float64")
        return ModelInput(numbers, categories, x, self.layout, index)

    def transform(self, X: np.ndarray | pd.DataFrame | Columns) -> pd.DataFrame:  # noqa: N803
        """The rows as the classifier sees them, with the classifier's column names."""
        inputs = self.prepare(X)
        return pd.DataFrame(inputs.x, columns=self._x_columns(), index=inputs.index)

    def _x_columns(self) -> list[str]:
        pca = self.pipeline.named_steps.get("pca")
        return [str(c) for c in pca.get_feature_names_out()] if pca is not None else self._columns

    @property
    def explains_probability(self) -> bool:
        """``contributions.sum(1) + base`` is the log-odds of :meth:`predict_proba` (no calibrator, or an affine one
        in log-odds); false for an isotonic calibrator, whose contributions describe the raw score."""
        return self.calibrator is None or self.calibrator.log_odds_map is not None

    def predict_proba(self, X: np.ndarray | pd.DataFrame | Columns | ModelInput) -> np.ndarray:  # noqa: N803
        """Probability of default of each row (1-D), calibrated when the pipeline has a calibrator."""
        clf = self.classifier
        if self.calibrator is not None and self.calibrator.log_odds_map is not None and hasattr(clf, "booster_"):
            # sigmoid calibration from the booster's raw log-odds: one multiply-add, no round trip through a
            # probability (and exactly the scale the contributions are on)
            z = clf.booster_.predict(self.prepare(X).x, raw_score=True, num_threads=1)
            return self.calibrator.from_log_odds(np.asarray(z, dtype=float))
        raw = self.raw_proba(X)
        return raw if self.calibrator is None else self.calibrator.transform(raw)

    def raw_proba(self, X: np.ndarray | pd.DataFrame | Columns | ModelInput) -> np.ndarray:  # noqa: N803
        """The classifier's own probability of default of each row (before calibration)."""
        inputs = self.prepare(X)
        clf = self.classifier
        if hasattr(clf, "booster_"):  # the raw booster skips the sklearn wrapper's validation overhead
            # one thread: a prediction is cheap, and OpenMP's hand-over to a second thread cost 4 ms per call
            # whenever the other core was busy (the broker, the event loop)
            return np.asarray(clf.booster_.predict(inputs.x, num_threads=1), dtype=float)
        named = pd.DataFrame(inputs.x, columns=self._x_columns())
        return np.asarray(clf.predict_proba(named)[:, 1], dtype=float)

    def decide(self, probability: np.ndarray) -> np.ndarray:
        """True where the applicant is refused (probability at or above the threshold)."""
        return np.asarray(probability) >= self.threshold

    def contributions(self, X: np.ndarray | pd.DataFrame | Columns | ModelInput) -> tuple[pd.DataFrame, np.ndarray]:  # noqa: N803
        """Per-row contributions (log-odds) by input column, and the base value of each row.

        Returns:
            ``(contributions, base)``: a DataFrame with one column per input feature (or per PCA component when
            :attr:`exact_inputs` is false) and the base values, so that ``contributions.sum(1) + base`` is the
            log-odds of the calibrated probability (sigmoid calibrator: the raw contributions times its slope) or,
            with an isotonic calibrator, the model's raw score (see :attr:`explains_probability`).
        """
        inputs = self.prepare(X)
        index = inputs.index
        values, base = self._raw_contributions(inputs)
        affine = None if self.calibrator is None else self.calibrator.log_odds_map
        if affine is not None:  # Shapley values are linear: those of slope * f + intercept are slope * those of f
            values, base = values * affine[0], base * affine[0] + affine[1]
        pca = "pca" in self.pipeline.named_steps
        if pca and self.family != "logistic_regression":
            return pd.DataFrame(values, columns=self._x_columns(), index=index), base
        direct, summed, present = self._groups  # a linear model's are per column before the PCA: the same groups
        out = np.zeros((len(values), len(self.feature_names)))
        out[:, direct[1]] = values[:, direct[0]]
        for position, columns in summed:
            out[:, position] = values[:, columns].sum(axis=1)
        return pd.DataFrame(out[:, present], columns=[self.feature_names[k] for k in present], index=index), base

    def _before_pca(self, frame: pd.DataFrame) -> pd.DataFrame:
        steps = list(self.pipeline.named_steps)
        return pd.DataFrame(self.pipeline[: steps.index("pca")].transform(frame))

    def _raw_contributions(self, inputs: ModelInput) -> tuple[np.ndarray, np.ndarray]:
        clf, x = self.classifier, inputs.x
        if hasattr(clf, "booster_"):
            out = np.asarray(clf.booster_.predict(x, pred_contrib=True), dtype=float)
            return out[:, :-1], out[:, -1]
        if hasattr(clf, "coef_"):
            return self._linear_contributions(inputs)
        transformed = pd.DataFrame(x, columns=self._x_columns())
        if self.family == "dummy" or not hasattr(clf, "n_features_in_"):
            prior = logit(clf.predict_proba(transformed[:1])[:, 1])  # clipped as the calibrator clips
            return np.zeros_like(x), np.full(len(x), float(prior[0]))
        import shap  # slow path, only for forests and histogram boosting

        explainer = shap.TreeExplainer(clf)
        values = explainer.shap_values(transformed)
        values = values[1] if isinstance(values, list) else values
        values = values[..., 1] if np.ndim(values) == 3 else values
        expected = np.ravel(explainer.expected_value)
        return np.asarray(values, dtype=float), np.full(len(x), float(expected[-1]))

    def _linear_contributions(self, inputs: ModelInput) -> tuple[np.ndarray, np.ndarray]:
        coef = np.ravel(self.classifier.coef_)
        intercept = float(np.ravel(self.classifier.intercept_)[0])
        pca, x = self.pipeline.named_steps.get("pca"), inputs.x
        if pca is not None:  # logit = coef . ((x - mean) C^T) + b = (C^T coef) . (x - mean) + b: exact
            x_pre = self._before_pca(inputs.frame).to_numpy(dtype=float)
            return (pca.components_.T @ coef) * (x_pre - pca.mean_), np.full(len(x_pre), intercept)
        background = self.background if self.background is not None else np.zeros(x.shape[1])
        return coef * (x - background), np.full(len(x), intercept + float(coef @ background))


def _groups(
    columns: list[str], sources: dict[str, str], features: list[str]
) -> tuple[tuple[np.ndarray, np.ndarray], list[tuple[int, np.ndarray]], list[int]]:
    """How the classifier's input columns add up to the model's input features: ``(direct, summed, present)``, the
    columns that are a feature as they are (column positions, feature positions), the features that are sums of
    several columns (a category's indicators), and the positions of the features that reach the classifier."""
    position = {f: k for k, f in enumerate(features)}
    members: dict[int, list[int]] = {}
    for k, column in enumerate(columns):
        source = sources.get(column, column)
        if source in position:
            members.setdefault(position[source], []).append(k)
    single = sorted((cols[0], p) for p, cols in members.items() if len(cols) == 1 and columns[cols[0]] == features[p])
    direct = (np.array([c for c, _ in single], dtype="int64"), np.array([p for _, p in single], dtype="int64"))
    done = {p for _, p in single}
    summed = [(p, np.array(cols, dtype="int64")) for p, cols in members.items() if p not in done]
    return direct, summed, sorted(members)


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
