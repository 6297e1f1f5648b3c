"""A registered credit-default model as scoring uses it: predict fast, explain exactly.

Training logs one imbalanced-learn ``Pipeline`` per model version with ``mlflow.sklearn`` (cloudpickle format):
named steps ``preprocess`` (a ``ColumnTransformer``: ``numeric`` columns imputed/scaled 1:1, ``categorical``
columns one-hot encoded), an optional ``sampler`` (skipped when predicting), an optional ``pca`` and the
``classifier``. :func:`credit_shared.model_loading.load_model` reads it from the registry with the decision threshold,
the input feature names and, for linear models, the mean of the transformed training rows (the background of the
contributions).

Contributions (:meth:`LoadedModel.contributions`) are in log-odds and add up, with the base value, to the model's
raw score:

- LightGBM: exact TreeSHAP from ``booster_.predict(X, pred_contrib=True)`` (no shap import);
- logistic regression: ``coef * (x - background)``; through a PCA the coefficients are projected back on the
  pre-PCA features (``components_.T @ coef``, background ``pca.mean_``), which is exact because both are linear;
- random forest / histogram gradient boosting: ``shap.TreeExplainer`` (imported lazily; slower);
- the dummy baseline: zeros.

A categorical column's contribution is the **sum of its indicators' contributions** (SHAP values are additive, so
the sum is the contribution of the column as a whole). A tree model behind a PCA cannot be mapped back: its
contributions are reported per component (``pca0``, ``pca1`` ...) and :attr:`LoadedModel.exact_inputs` is false.

A pipeline may carry a calibrator (:mod:`credit_shared.calibration`): :meth:`LoadedModel.predict_proba` then returns
calibrated probabilities, applied as a one-dimensional map after the fast path. With a sigmoid calibrator (affine in
log-odds) the contributions are those of the calibrated log-odds (the raw ones times the slope, an exact Shapley
decomposition still), so ``contributions.sum(1) + base`` is the log-odds of the served probability; with an
isotonic one they stay those of the raw score (:attr:`LoadedModel.explains_probability` says which).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from credit_shared.calibration import calibrator_of, logit
from credit_shared.model_inputs import Columns, InputLayout, ModelInput, source_columns
from credit_shared.preprocessing import CompiledPreprocess, compile_preprocess, probe

log = logging.getLogger(__name__)


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
