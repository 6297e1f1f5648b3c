"""Commands and events of the training service (topics ``training.commands.v1`` / ``training.events.v1``).

Envelope types: ``model.train`` and ``model.promote`` (commands); ``model.progress``, ``model.trained``,
``model.promoted`` and ``model.failed`` (events; progress and failure use :mod:`credit_shared.contracts.common`).

A :class:`TrainModel` is validated against the parameter registry
(:data:`~credit_shared.contracts.model_families.FAMILIES`) when it is built, so a bad command is refused with a
precise message before any work.
"""

from __future__ import annotations

import math
from enum import StrEnum
from typing import Any, Final, Literal

from pydantic import BaseModel, Field, StrictBool, StrictFloat, model_validator

from credit_shared.contracts.common import DatasetId, JsonInt, ModelVersion, Name, RequestId, Text
from credit_shared.contracts.model_families import (
    FAMILIES,
    SMOTE_K_NEIGHBORS,
    SMOTE_PARAMETER,
    ModelFamily,
    ParameterSpec,
    ParamKind,
    ParamValue,
)
from credit_shared.contracts.quality import TrainingOptions

TRAIN: Final = "model.train"
PROMOTE: Final = "model.promote"
PROGRESS: Final = "model.progress"
TRAINED: Final = "model.trained"
PROMOTED: Final = "model.promoted"
FAILED: Final = "model.failed"


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


def allowed_parameters(command: TrainModel) -> dict[str, ParameterSpec]:
    """The parameters a command may set or search, by name: its family's, and SMOTE's ``k`` when it uses SMOTE."""
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
    allowed = allowed_parameters(command)
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
