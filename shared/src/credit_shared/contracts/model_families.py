"""The model families the training service can fit and every hyper-parameter a user may set or search.

The parameter registry :data:`FAMILIES` describes each parameter with the estimator's real name, type, bounds and
default; the gateway serves it to the training form, and a training command
(:class:`~credit_shared.contracts.training.TrainModel`) is validated against it when it is built.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final

from pydantic import BaseModel, Field

ParamValue = bool | int | float | str


class ModelFamily(StrEnum):
    """The model families the training service can fit."""

    LOGISTIC_REGRESSION = "logistic_regression"
    LIGHTGBM = "lightgbm"
    HIST_GRADIENT_BOOSTING = "hist_gradient_boosting"
    RANDOM_FOREST = "random_forest"
    DUMMY = "dummy"


class ParamKind(StrEnum):
    """Type of a hyper-parameter."""

    INT = "int"
    FLOAT = "float"
    CATEGORICAL = "categorical"
    BOOL = "bool"


class ParameterSpec(BaseModel):
    """One hyper-parameter of a model family, as the estimator names it."""

    name: str = Field(description="Estimator argument name", examples=["num_leaves"])
    kind: ParamKind = Field(description="int, float, categorical or bool")
    default: ParamValue | None = Field(description="Value used when the command does not set it")
    low: float | None = Field(None, description="Smallest allowed value (int/float)")
    high: float | None = Field(None, description="Largest allowed value (int/float)")
    log: bool = Field(False, description="A log-scale range is allowed (all values > 0)")
    choices: list[ParamValue] | None = Field(None, description="Allowed values (categorical)")
    description: str = Field("", description="What it does")


class FamilySpec(BaseModel):
    """A model family and its tunable parameters."""

    family: ModelFamily
    label: str = Field(examples=["LightGBM"])
    handles_missing: bool = Field(description="The estimator accepts missing values (no imputation needed)")
    early_stopping: bool = Field(description="Stops boosting on a validation split inside fit")
    default_scaling: bool = Field(description="Numeric features are standardised unless the command says otherwise")
    parameters: list[ParameterSpec]

    def parameter(self, name: str) -> ParameterSpec | None:
        """The parameter called ``name``, if the family has one."""
        return next((p for p in self.parameters if p.name == name), None)


def _num(  # noqa: PLR0917 - a compact table of parameters reads better positionally
    name: str, kind: ParamKind, default: float, low: float, high: float, log: bool, text: str
) -> ParameterSpec:
    return ParameterSpec(name=name, kind=kind, default=default, low=low, high=high, log=log, description=text)


def _cat(name: str, default: ParamValue | None, choices: list[ParamValue], text: str) -> ParameterSpec:
    return ParameterSpec(name=name, kind=ParamKind.CATEGORICAL, default=default, choices=choices, description=text)


def _bool(name: str, default: bool, text: str) -> ParameterSpec:
    return ParameterSpec(name=name, kind=ParamKind.BOOL, default=default, description=text)


INT, FLT = ParamKind.INT, ParamKind.FLOAT
SMOTE_K_NEIGHBORS: Final = "smote_k_neighbors"
SMOTE_PARAMETER: Final = _num(SMOTE_K_NEIGHBORS, INT, 5, 1, 50, False, "SMOTE: neighbours used to synthesise defaults")

FAMILIES: Final[dict[ModelFamily, FamilySpec]] = {
    ModelFamily.LOGISTIC_REGRESSION: FamilySpec(
        family=ModelFamily.LOGISTIC_REGRESSION,
        label="Logistic regression",
        handles_missing=False,
        early_stopping=False,
        default_scaling=True,
        parameters=[
            _num("C", FLT, 1.0, 1e-5, 1e5, True, "Inverse of the regularisation strength"),
            _num("l1_ratio", FLT, 0.0, 0.0, 1.0, False, "Elastic-net mixing: 0 = L2, 1 = L1 (needs solver saga)"),
            _cat("solver", "lbfgs", ["lbfgs", "liblinear", "newton-cg", "newton-cholesky", "sag", "saga"], "Solver"),
            _num("max_iter", INT, 1000, 10, 100_000, True, "Maximum solver iterations"),
            _num("tol", FLT, 1e-4, 1e-8, 1e-1, True, "Stopping tolerance"),
            _bool("fit_intercept", True, "Fit an intercept"),
        ],
    ),
    # LightGBM's defaults are the platform's first model (what the first start trains, what the training form
    # proposes, what bench/quality.py measures): small trees with large leaves, row and column sampling and L2
    # shrinkage (few defaults: a calm model generalises, and its calibration carries over from the folds to the final
    # fit), the number of trees chosen by lockstep cross-validation (at least 50, early stopping after 100 rounds)
    ModelFamily.LIGHTGBM: FamilySpec(
        family=ModelFamily.LIGHTGBM,
        label="LightGBM",
        handles_missing=True,
        early_stopping=True,
        default_scaling=False,
        parameters=[
            _num("n_estimators", INT, 1500, 10, 20_000, True, "Most boosting rounds (cross-validation picks fewer)"),
            _num("min_estimators", INT, 50, 1, 20_000, True, "Fewest boosting rounds cross-validation may pick"),
            _num("learning_rate", FLT, 0.03, 1e-4, 1.0, True, "Shrinkage"),
            _num("num_leaves", INT, 15, 2, 4096, True, "Maximum leaves per tree"),
            _num("max_depth", INT, -1, -1, 64, False, "Maximum tree depth (-1 = unlimited)"),
            _num("min_child_samples", INT, 50, 1, 10_000, True, "Minimum rows in a leaf"),
            _num("min_child_weight", FLT, 1e-3, 1e-5, 1e3, True, "Minimum hessian sum in a leaf"),
            _num("min_split_gain", FLT, 0.0, 0.0, 10.0, False, "Minimum gain to split"),
            _num("subsample", FLT, 0.8, 0.1, 1.0, False, "Row share sampled per bagging round"),
            _num("subsample_freq", INT, 1, 0, 100, False, "Bagging every k rounds (0 = off)"),
            _num("colsample_bytree", FLT, 0.5, 0.05, 1.0, False, "Feature share sampled per tree"),
            _num("reg_alpha", FLT, 0.0, 0.0, 1e3, False, "L1 regularisation"),
            _num("reg_lambda", FLT, 5.0, 0.0, 1e3, False, "L2 regularisation"),
            _cat("boosting_type", "gbdt", ["gbdt", "dart", "rf"], "Boosting algorithm"),
            _num("early_stopping_rounds", INT, 100, 5, 2000, True, "Rounds without mean CV ROC AUC gain: stop"),
            _num("validation_fraction", FLT, 0.15, 0.05, 0.5, False, "dart only: rows held out for early stopping"),
        ],
    ),
    ModelFamily.HIST_GRADIENT_BOOSTING: FamilySpec(
        family=ModelFamily.HIST_GRADIENT_BOOSTING,
        label="Histogram gradient boosting",
        handles_missing=True,
        early_stopping=True,
        default_scaling=False,
        parameters=[
            _num("learning_rate", FLT, 0.1, 1e-4, 1.0, True, "Shrinkage"),
            _num("max_iter", INT, 500, 10, 20_000, True, "Maximum boosting iterations (early stopping picks fewer)"),
            _num("max_leaf_nodes", INT, 31, 2, 4096, True, "Maximum leaves per tree"),
            _num("max_depth", INT, 0, 0, 64, False, "Maximum tree depth (0 = unlimited)"),
            _num("min_samples_leaf", INT, 20, 1, 10_000, True, "Minimum rows in a leaf"),
            _num("l2_regularization", FLT, 0.0, 0.0, 1e3, False, "L2 regularisation"),
            _num("max_features", FLT, 1.0, 0.05, 1.0, False, "Feature share considered at each split"),
            _num("max_bins", INT, 255, 2, 255, False, "Histogram bins per feature"),
            _num("n_iter_no_change", INT, 10, 1, 1000, True, "Iterations without improvement before stopping"),
            _num(
                "validation_fraction", FLT, 0.1, 0.05, 0.5, False, "Share of the fit rows held out for early stopping"
            ),
        ],
    ),
    ModelFamily.RANDOM_FOREST: FamilySpec(
        family=ModelFamily.RANDOM_FOREST,
        label="Random forest",
        handles_missing=False,
        early_stopping=False,
        default_scaling=False,
        parameters=[
            _num("n_estimators", INT, 300, 10, 5000, True, "Number of trees"),
            _num("max_depth", INT, 0, 0, 128, False, "Maximum tree depth (0 = unlimited)"),
            _num("min_samples_split", INT, 2, 2, 10_000, True, "Minimum rows to split a node"),
            _num("min_samples_leaf", INT, 1, 1, 10_000, True, "Minimum rows in a leaf"),
            _cat("max_features", "sqrt", ["sqrt", "log2", 0.1, 0.2, 0.3, 0.5, 1.0], "Features considered per split"),
            _cat("criterion", "gini", ["gini", "entropy", "log_loss"], "Split quality measure"),
            _bool("bootstrap", True, "Sample rows with replacement for each tree"),
            _num("ccp_alpha", FLT, 0.0, 0.0, 1.0, False, "Cost-complexity pruning"),
        ],
    ),
    ModelFamily.DUMMY: FamilySpec(
        family=ModelFamily.DUMMY,
        label="Baseline (most frequent class)",
        handles_missing=True,
        early_stopping=False,
        default_scaling=False,
        parameters=[_cat("strategy", "most_frequent", ["most_frequent", "prior", "stratified", "uniform"], "Rule")],
    ),
}


def family_defaults(family: ModelFamily) -> dict[str, ParamValue]:
    """The registry's default of every parameter of ``family`` (what a command that sets none of them trains)."""
    return {p.name: p.default for p in FAMILIES[family].parameters if p.default is not None}
