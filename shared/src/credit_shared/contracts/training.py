"""Commands and events of the training service (topics ``training.commands.v1`` / ``training.events.v1``).

Envelope types: ``model.train`` and ``model.promote`` (commands); ``model.progress``, ``model.trained``,
``model.promoted`` and ``model.failed`` (events; progress and failure use :mod:`credit_shared.contracts.common`).

The parameter registry :data:`FAMILIES` describes every hyper-parameter a user may set or search, with the
estimator's real name, type, bounds and default; the gateway serves it to the training form. A :class:`TrainModel`
is validated against it when it is built, so a bad command is refused with a precise message before any work.
"""

from __future__ import annotations

import math
from enum import StrEnum
from typing import Any, Final, Literal

from pydantic import BaseModel, Field, StrictBool, StrictFloat, model_validator

from credit_shared.contracts.common import DatasetId, JsonInt, ModelVersion, Name, RequestId, Text
from credit_shared.contracts.quality import TrainingOptions

TRAIN: Final = "model.train"
PROMOTE: Final = "model.promote"
PROGRESS: Final = "model.progress"
TRAINED: Final = "model.trained"
PROMOTED: Final = "model.promoted"
FAILED: Final = "model.failed"

ParamValue = bool | int | float | str


class ModelFamily(StrEnum):
    """The model families the training service can fit."""

    LOGISTIC_REGRESSION = "logistic_regression"
    LIGHTGBM = "lightgbm"
    HIST_GRADIENT_BOOSTING = "hist_gradient_boosting"
    RANDOM_FOREST = "random_forest"
    DUMMY = "dummy"


class Imbalance(StrEnum):
    """How the rare defaults are handled while fitting (samplers never touch scoring)."""

    NONE = "none"
    CLASS_WEIGHT = "class_weight"
    SMOTE = "smote"
    RANDOM_UNDER = "random_under"


class SearchMethod(StrEnum):
    """How candidates are drawn from the search space."""

    GRID = "grid"
    RANDOM = "random"
    HALVING = "halving"


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
    ModelFamily.LIGHTGBM: FamilySpec(
        family=ModelFamily.LIGHTGBM,
        label="LightGBM",
        handles_missing=True,
        early_stopping=True,
        default_scaling=False,
        parameters=[
            _num("n_estimators", INT, 2000, 10, 20_000, True, "Most boosting rounds (cross-validation picks fewer)"),
            _num("min_estimators", INT, 50, 1, 20_000, True, "Fewest boosting rounds cross-validation may pick"),
            _num("learning_rate", FLT, 0.03, 1e-4, 1.0, True, "Shrinkage"),
            _num("num_leaves", INT, 31, 2, 4096, True, "Maximum leaves per tree"),
            _num("max_depth", INT, -1, -1, 64, False, "Maximum tree depth (-1 = unlimited)"),
            _num("min_child_samples", INT, 20, 1, 10_000, True, "Minimum rows in a leaf"),
            _num("min_child_weight", FLT, 1e-3, 1e-5, 1e3, True, "Minimum hessian sum in a leaf"),
            _num("min_split_gain", FLT, 0.0, 0.0, 10.0, False, "Minimum gain to split"),
            _num("subsample", FLT, 1.0, 0.1, 1.0, False, "Row share sampled per bagging round"),
            _num("subsample_freq", INT, 0, 0, 100, False, "Bagging every k rounds (0 = off)"),
            _num("colsample_bytree", FLT, 1.0, 0.05, 1.0, False, "Feature share sampled per tree"),
            _num("reg_alpha", FLT, 0.0, 0.0, 1e3, False, "L1 regularisation"),
            _num("reg_lambda", FLT, 0.0, 0.0, 1e3, False, "L2 regularisation"),
            _cat("boosting_type", "gbdt", ["gbdt", "dart", "rf"], "Boosting algorithm"),
            _num("early_stopping_rounds", INT, 200, 5, 2000, True, "Rounds without mean CV ROC AUC gain: stop"),
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


class SearchDimension(BaseModel):
    """One searched parameter: an explicit list of values, or a range (linear or log) with a number of values."""

    values: list[ParamValue] | None = Field(None, max_length=1000, description="Explicit values (numbers or levels)")
    low: StrictFloat | None = Field(None, description="Lower bound of a numeric range")
    high: StrictFloat | None = Field(None, description="Upper bound of a numeric range")
    scale: Literal["linear", "log"] = Field("linear", description="Spacing of the range")
    num: JsonInt = Field(5, ge=1, le=1000, description="Number of grid values taken from the range")


class SearchSpace(BaseModel):
    """Hyper-parameter search: method, budget and the searched parameters."""

    method: SearchMethod = Field(SearchMethod.RANDOM, description="grid, random or successive halving")
    budget: JsonInt = Field(8, ge=1, le=500, description="Most candidates evaluated (halving: candidates of round 1)")
    halving_factor: JsonInt = Field(3, ge=2, le=10, description="Halving: keep 1/factor of the candidates per round")
    parameters: dict[str, SearchDimension] = Field(max_length=64, description="Parameter name -> values or range")


class CostWeightsModel(BaseModel):
    """What each error costs the lender: a defaulter accepted (fn), a good client refused (fp); the ratio counts."""

    fn: StrictFloat = Field(10.0, ge=1e-3, le=1e6, description="Cost of a false negative (default accepted)")
    fp: StrictFloat = Field(1.0, ge=1e-3, le=1e6, description="Cost of a false positive (good client refused)")


class TrainModel(TrainingOptions):
    """Train, tune and register a model on a dataset (validated against :data:`FAMILIES` when built)."""

    request_id: RequestId = Field(description="Idempotency key: the same id trains once")
    dataset_id: DatasetId = Field(description="Dataset to train on", examples=["ds-a1"])
    run_name: Name = Field(max_length=120, description="MLflow run name", examples=["lgbm-weighted"])
    family: ModelFamily = Field(description="Model family", examples=["lightgbm"])
    imbalance: Imbalance = Field(Imbalance.NONE, description="none, class_weight, smote or random_under")
    scaling: StrictBool | None = Field(None, description="Standardise numeric features; null = the family's default")
    pca_variance: StrictFloat | None = Field(None, gt=0, lt=1, description="Keep the PCA components explaining this")
    params: dict[str, ParamValue] = Field(default_factory=dict, max_length=64, description="Fixed parameters by name")
    search: SearchSpace | None = Field(None, description="Searched parameters; null = fit the fixed ones")
    folds: JsonInt = Field(5, ge=2, le=20, description="Stratified shuffled cross-validation folds")
    test_share: StrictFloat = Field(0.2, ge=0.05, le=0.5, description="Share of rows held out as the test split")
    cost: CostWeightsModel = Field(default_factory=CostWeightsModel, description="Business cost weights")
    seed: JsonInt = Field(42, ge=0, le=2**31 - 1, description="Seed of every random choice")
    description: Text = Field("", max_length=2000, description="Free text stored with the run")

    @model_validator(mode="after")
    def _check_against_family(self) -> TrainModel:
        problems = command_problems(self)
        if problems:
            raise ValueError("; ".join(problems))
        return self


def _allowed_parameters(command: TrainModel) -> dict[str, ParameterSpec]:
    allowed = {p.name: p for p in FAMILIES[command.family].parameters}
    if command.imbalance is Imbalance.SMOTE:
        allowed[SMOTE_K_NEIGHBORS] = SMOTE_PARAMETER
    return allowed


def value_problem(spec: ParameterSpec, value: Any) -> str | None:  # noqa: PLR0911 - one return per rule
    """Why ``value`` is not a valid value of the parameter, or ``None`` when it is."""
    if spec.kind is ParamKind.BOOL:
        return None if isinstance(value, bool) else f"expects true or false, got {value!r}"
    if spec.kind is ParamKind.CATEGORICAL:
        return None if value in (spec.choices or []) else f"expects one of {spec.choices}, got {value!r}"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return f"expects a number ({spec.kind.value}), got {value!r}"
    if spec.kind is ParamKind.INT and float(value) != int(value):
        return f"expects an integer, got {value!r}"
    if not math.isfinite(float(value)):
        return f"expects a finite number, got {value!r}"
    if spec.low is not None and spec.high is not None and not spec.low <= value <= spec.high:
        return f"must lie in [{spec.low:g}, {spec.high:g}], got {value!r}"
    return None


def dimension_problems(spec: ParameterSpec, dim: SearchDimension) -> list[str]:
    """Why a search dimension is impossible for the parameter (empty when it is fine)."""
    where = f"search parameter {spec.name!r}"
    if dim.values is not None:
        if dim.low is not None or dim.high is not None:
            return [f"{where}: give either values or a range, not both"]
        if not dim.values:
            return [f"{where}: empty list of values"]
        return [f"{where}: {p}" for v in dim.values if (p := value_problem(spec, v))]
    if dim.low is None or dim.high is None:
        return [f"{where}: give values, or both low and high"]
    if spec.kind in (ParamKind.BOOL, ParamKind.CATEGORICAL):
        return [f"{where}: a {spec.kind.value} parameter takes a list of values, not a range"]
    problems = [f"{where}: low {p}" for p in [value_problem(spec, dim.low)] if p]
    problems += [f"{where}: high {p}" for p in [value_problem(spec, dim.high)] if p]
    if dim.low > dim.high:
        problems.append(f"{where}: empty range, low {dim.low:g} > high {dim.high:g}")
    if dim.scale == "log" and (not spec.log or dim.low <= 0):
        reason = "this parameter has no log scale" if not spec.log else "a log range needs low > 0"
        problems.append(f"{where}: {reason}")
    if spec.kind is ParamKind.INT and math.floor(dim.high) < math.ceil(dim.low):
        problems.append(f"{where}: no integer between {dim.low:g} and {dim.high:g}")
    return problems


def command_problems(command: TrainModel) -> list[str]:
    """Every reason to refuse a training command, checked against the family's real parameters."""
    allowed = _allowed_parameters(command)
    family = command.family.value
    problems: list[str] = []
    for name, value in command.params.items():
        spec = allowed.get(name)
        if spec is None:
            problems.append(f"unknown parameter {name!r} for {family}; known: {sorted(allowed)}")
        elif problem := value_problem(spec, value):
            problems.append(f"parameter {name!r} {problem}")
    if command.search is not None:
        if not command.search.parameters:
            problems.append("empty search space: give at least one parameter to search, or no search at all")
        for name, dim in command.search.parameters.items():
            spec = allowed.get(name)
            if spec is None:
                problems.append(f"unknown search parameter {name!r} for {family}; known: {sorted(allowed)}")
                continue
            if name in command.params:
                problems.append(f"parameter {name!r} is both fixed and searched")
            problems.extend(dimension_problems(spec, dim))
    if command.family is ModelFamily.DUMMY and command.imbalance is not Imbalance.NONE:
        problems.append("the dummy baseline takes no imbalance strategy")
    return problems


class PromoteModel(BaseModel):
    """Point the ``champion`` or ``challenger`` alias at a registered version."""

    request_id: RequestId = Field(description="Idempotency key")
    version: ModelVersion = Field(description="Registered version", examples=["3"])
    alias: Literal["champion", "challenger"] = Field("champion", description="Alias to move")
    force: StrictBool = Field(False, description="Skip the champion gate (AUC, calibration): administrators only")
    requested_by: str | None = Field(None, max_length=120, description="Who asked (for the audit trail)")


class ModelTrained(BaseModel):
    """A model was trained, logged and registered (it is referenced, not carried)."""

    request_id: str
    dataset_id: str
    family: ModelFamily
    run_id: str = Field(description="MLflow run", examples=["5b0c1f0e6b2e4b39a7d3c1f2e0a9b8c7"])
    experiment_id: str
    model_name: str = Field(examples=["credit-default"])
    version: str = Field(description="Registered version", examples=["3"])
    model_uri: str = Field(examples=["models:/credit-default/3"])
    threshold: float = Field(description="Decision threshold: refuse when probability >= threshold")
    metrics: dict[str, float] = Field(description="Headline metrics (cv_*, test_*)")
    best_params: dict[str, ParamValue] = Field(default_factory=dict, description="Chosen parameters")
    duration_s: float


class ModelPromoted(BaseModel):
    """An alias now points at a version; scoring reloads it."""

    request_id: str
    model_name: str
    version: str
    alias: Literal["champion", "challenger"]
    previous_version: str | None = Field(description="Version the alias pointed at before, if any")
    run_id: str | None
    forced: bool = Field(description="The gate was skipped by an administrator")
    test_roc_auc: float | None
    baseline_roc_auc: float | None
    test_expected_observed_ratio: float | None = Field(None, description="Mean PD / default rate on the test split")
