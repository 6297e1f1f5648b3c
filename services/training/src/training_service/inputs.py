"""A training command's model inputs: the dataset's features under the command's feature policy, the protected
columns kept aside for the fairness table, and the monotone constraints checked against the inputs."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from credit_shared.contracts.training import TrainModel
from credit_shared.feature_policy import apply_policy
from training_service.pipeline import Columns


class InputError(ValueError):
    """The command asks for inputs the dataset cannot give (the message names them)."""


@dataclass
class ModelInputs:
    """The rows a model is trained on and what the policy set apart.

    Attributes:
        X: the model's input features.
        aside: protected columns (never inputs), aligned with ``X``, for the fairness table.
        excluded: feature excluded from the inputs -> why (the dataset's exclusions included).
        flagged: input flagged for review -> why.
    """

    X: pd.DataFrame
    aside: pd.DataFrame
    excluded: dict[str, str] = field(default_factory=dict)
    flagged: dict[str, str] = field(default_factory=dict)


def model_inputs(
    command: TrainModel,
    features: pd.DataFrame,
    aside: pd.DataFrame,
    *,
    dataset_excluded: dict[str, str] | None = None,
    dataset_flagged: dict[str, str] | None = None,
) -> ModelInputs:
    """Apply the command's feature policy on top of the dataset's (a model never takes a protected attribute).

    Raises:
        InputError: no input left, or a monotone constraint on a feature that is not a numeric input.
    """
    outcome = apply_policy([str(c) for c in features.columns], command.feature_policy, present=list(aside.columns))
    if not outcome.inputs:
        raise InputError("the feature policy leaves no model input")
    kept_aside = [c for c in outcome.aside if c not in aside.columns]  # a protected column the dataset had as feature
    held = pd.concat([aside.reset_index(drop=True), features[kept_aside].reset_index(drop=True)], axis=1)
    held.index = features.index
    X = features[outcome.inputs]  # noqa: N806 - the scikit-learn name
    numeric = set(Columns.of(X).numeric)
    constrained = {k for k, v in command.monotone_constraints.items() if v}
    bad = sorted(constrained - numeric)
    if bad:
        raise InputError(f"monotone constraints on features that are not numeric model inputs: {bad[:10]}")
    flagged = {**(dataset_flagged or {}), **outcome.flagged}
    return ModelInputs(
        X,
        held,
        {**(dataset_excluded or {}), **outcome.excluded},
        {k: v for k, v in flagged.items() if k in set(outcome.inputs)},
    )
