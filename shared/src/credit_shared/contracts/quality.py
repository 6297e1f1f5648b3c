"""What makes a model's inputs lawful and its probabilities usable: the feature policy of the dataset and training
commands, and the training command's calibration, refit and monotone-constraint options.

:class:`FeaturePolicy` is a field of both :class:`~credit_shared.contracts.ingestion.BuildDataset` and
:class:`~credit_shared.contracts.training.TrainModel`; :class:`TrainingOptions` holds the training command's other
options (the command inherits them, so they are fields of the command itself). How a policy is applied to a
feature set is :mod:`credit_shared.feature_policy`.
"""

from __future__ import annotations

from typing import Any, Final, Literal

from pydantic import BaseModel, Field, field_validator, model_validator

# Prohibited bases of a credit decision present in the Home Credit application table: sex (CODE_GENDER) and marital
# status (NAME_FAMILY_STATUS) under the US Equal Credit Opportunity Act (12 CFR 1002.2(z), 1002.4(a)) and EU
# equal-treatment law. Age is not excluded by default: it may be used in an empirically derived system as long as
# it does not count against elderly applicants (12 CFR 1002.6(b)(2)), so it is flagged for review instead.
DEFAULT_PROTECTED: Final = ("CODE_GENDER", "NAME_FAMILY_STATUS")
DEFAULT_FLAGGED: Final = ("DAYS_BIRTH",)
MAX_NAMES: Final = 1000
NAME_PATTERN: Final = r"^[A-Za-z0-9_]{1,120}$"
Calibration = Literal["auto", "sigmoid", "isotonic"]
Direction = Literal[-1, 0, 1]


def _known_names() -> tuple[frozenset[str], frozenset[str]]:
    """The application table's columns and every feature of the feature set (imported when first validating)."""
    from credit_shared.features import FEATURE_COLUMNS
    from credit_shared.homecredit.application import APPLICATION, ID, TARGET

    raw = frozenset(c for c in APPLICATION.names if c not in {ID, TARGET})
    return raw, frozenset(FEATURE_COLUMNS)


class FeaturePolicy(BaseModel):
    """Which inputs a model may use: protected attributes are excluded and kept aside for the fairness table.

    A feature computed from an excluded column (a ratio with it) is excluded with it. Names are the application
    table's columns (``protected``) or features of the feature set (``flagged``, ``excluded``).
    """

    protected: list[str] = Field(
        default_factory=lambda: list(DEFAULT_PROTECTED),
        max_length=50,
        description="Protected attributes: never model inputs, kept aside to measure fairness (application columns)",
        examples=[list(DEFAULT_PROTECTED)],
    )
    flagged: list[str] = Field(
        default_factory=lambda: list(DEFAULT_FLAGGED),
        max_length=50,
        description="Inputs allowed but flagged for legal review in the model card (age by default)",
        examples=[list(DEFAULT_FLAGGED)],
    )
    excluded: list[str] = Field(
        default_factory=list,
        max_length=MAX_NAMES,
        description="Other features the lender chooses not to use (dropped, not kept aside)",
        examples=[["FLAG_MOBIL"]],
    )

    @field_validator("protected", "flagged", "excluded")
    @classmethod
    def _unique(cls, names: list[str]) -> list[str]:
        return list(dict.fromkeys(names))

    @model_validator(mode="after")
    def _known(self) -> FeaturePolicy:
        raw, features = _known_names()
        problems = [f"protected {n!r} is not a column of the application table" for n in self.protected if n not in raw]
        problems += [f"{kind} {n!r} is not a feature" for kind, names in (("flagged", self.flagged),
                     ("excluded", self.excluded)) for n in names if n not in features]  # fmt: skip
        problems += [f"{n!r} is both protected and flagged" for n in self.protected if n in set(self.flagged)]
        if problems:
            raise ValueError("; ".join(problems[:20]))
        return self


class TrainingOptions(BaseModel):
    """The training command's options for lawful inputs and usable probabilities (fields of :class:`TrainModel`)."""

    feature_policy: FeaturePolicy = Field(
        default_factory=FeaturePolicy,
        description="Protected attributes excluded from the inputs (kept aside for fairness), flagged and excluded "
        "features; applied on top of the dataset's own policy",
    )
    calibration: Calibration = Field(
        "auto",
        description="How the probabilities are calibrated on out-of-fold predictions: sigmoid (Platt), isotonic, or "
        "auto (isotonic only when it lowers the cross-validated log-loss by more than 1 %)",
    )
    monotone_constraints: dict[str, Direction] = Field(
        default_factory=dict,
        max_length=MAX_NAMES,
        description="LightGBM only: numeric feature -> 1 (the probability of default may only rise with the value), "
        "-1 (only fall) or 0 (free)",
        examples=[{"EXT_SOURCE_3": -1, "EXT_SOURCES_MEAN": -1}],
    )
    refit_all_rows: bool = Field(
        False,
        description="After the test split is measured, refit the registered model on every labelled row (test rows "
        "included) for production; the reported metrics stay those of the fit without the test rows",
    )

    @field_validator("monotone_constraints")
    @classmethod
    def _names(cls, value: dict[str, int]) -> dict[str, int]:
        import re

        bad = [n for n in value if not re.fullmatch(NAME_PATTERN, n)]
        if bad:
            raise ValueError(f"not a feature name: {bad[:5]}")
        return value

    @model_validator(mode="after")
    def _constraints_fit_the_family(self) -> Any:
        constrained = {k: v for k, v in self.monotone_constraints.items() if v}
        family = getattr(self, "family", None)
        if constrained and str(family) != "lightgbm":
            raise ValueError(f"monotone constraints are LightGBM's: family {family} takes none")
        if constrained and getattr(self, "pca_variance", None) is not None:
            raise ValueError("monotone constraints apply to features, not to PCA components: drop pca_variance")
        policy = self.feature_policy
        dropped = sorted(set(constrained) & {*policy.protected, *policy.excluded})
        if dropped:
            raise ValueError(f"monotone constraints on features the policy excludes: {dropped}")
        return self
