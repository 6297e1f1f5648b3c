"""Realized performance: outcomes joined with the audited decisions, per model version, vintage and grade.

The monitoring service computes a :class:`PerformanceReport` and stores it; the gateway reads it through
:mod:`credit_shared.performance_view` (never monitoring's own tables). Every rate comes with a 95 % interval
(Wilson for rates, DeLong for the AUC, normal for a mean cost). Figures "with an outcome" are measured on the
decisions whose outcome is known: refused applicants usually have none (reject inference), so say which population
a figure describes. Changes are additive only.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final, Literal

from pydantic import BaseModel, Field

ALERT: Final = "performance.alert"  # envelope type of a performance alert on monitoring.events.v1
Role = Literal["champion", "challenger"]
AlertKind = Literal["realized_auc_below_test", "expected_observed_out_of_band", "psi_above_act", "challenger_better"]
Interval = tuple[float, float]


class Figures(BaseModel):
    """What is known of a set of decisions, before and after their outcomes."""

    decisions: int = Field(description="Decisions made (or shadow-scored) in this cell", examples=[12000])
    approved: int = Field(description="Decisions that approve (for a shadow version: that it would approve)")
    approval_rate: float | None = Field(description="approved / decisions", examples=[0.91])
    approval_rate_interval: Interval | None = Field(None, description="95 % Wilson interval of the approval rate")
    predicted_default_rate: float | None = Field(
        description="Mean calibrated PD of every decision (known before any outcome)", examples=[0.081]
    )
    expected_cost_per_applicant: float | None = Field(
        description="Expected business cost per decision from the calibrated PDs: 10 PD for an approval, 1 - PD for "
        "a refusal (known before any outcome)"
    )
    outcomes: int = Field(description="Decisions with an outcome", examples=[3000])
    defaults: int = Field(description="Outcomes that are defaults")
    observed_default_rate: float | None = Field(description="defaults / outcomes", examples=[0.078])
    observed_default_rate_interval: Interval | None = Field(None, description="95 % Wilson interval")
    expected_default_rate: float | None = Field(
        description="Mean calibrated PD of the decisions with an outcome", examples=[0.081]
    )
    expected_observed_ratio: float | None = Field(
        description="expected / observed default rate (1 is perfect; alerts outside [0.8, 1.25])"
    )
    realized_auc: float | None = Field(description="ROC AUC of the PDs on the outcomes (null: one class only)")
    realized_auc_interval: Interval | None = Field(None, description="95 % DeLong interval of the realized AUC")
    realized_cost_per_applicant: float | None = Field(
        description="Business cost per decision with an outcome at the version's threshold: 10 per approved "
        "defaulter, 1 per refused good client"
    )
    realized_cost_interval: Interval | None = Field(None, description="95 % normal interval of the mean cost")


class CalibrationBin(BaseModel):
    """One PD decile of the decisions with an outcome: expected (mean PD) against observed default rate."""

    pd_low: float = Field(description="Lowest PD in the bin")
    pd_high: float = Field(description="Highest PD in the bin")
    outcomes: int
    expected_default_rate: float
    observed_default_rate: float
    observed_interval: Interval = Field(description="95 % Wilson interval of the observed rate")


class VersionPerformance(Figures):
    """One model version over every decision it made (champion) or shadow-scored (challenger)."""

    version: str = Field(examples=["3"])
    model_name: str = Field(examples=["credit-default"])
    alias: Role = Field(description="champion: it decided; challenger: shadow-scored beside the champion")
    threshold: float | None = Field(description="The version's decision threshold (mean over its decisions)")
    test_auc: float | None = Field(None, description="The version's AUC on its held-out test set (training run)")
    estimated_auc: float | None = Field(
        None, description="Label-free AUC estimate (CBPE) of its latest window of served traffic"
    )
    psi: float | None = Field(None, description="PSI of its PDs in its latest window against the training reference")
    calibration: list[CalibrationBin] = Field(default_factory=list, description="By PD decile, with an outcome")


class VintagePerformance(Figures):
    """One model version's decisions of one month (the vintage)."""

    version: str
    alias: Role
    vintage: str = Field(description="Month of the decision, YYYY-MM (UTC)", examples=["2026-11"])


class GradePerformance(Figures):
    """One model version's decisions in one risk grade (for a shadow version, the grade of its own PD)."""

    version: str
    alias: Role
    grade: str = Field(examples=["C"])


class Comparison(BaseModel):
    """Champion against challenger on the same applicants (decisions both scored, with an outcome)."""

    champion: str
    challenger: str
    applicants: int = Field(description="Applicants both versions scored, with an outcome")
    champion_cost_per_applicant: float | None
    challenger_cost_per_applicant: float | None
    cost_saving_per_applicant: float | None = Field(description="champion cost - challenger cost (positive: better)")
    cost_saving_interval: Interval | None = Field(None, description="95 % interval of the paired difference")
    champion_auc: float | None
    challenger_auc: float | None


class PerformanceAlert(BaseModel):
    """Something the realized figures (or the stability of the PDs) say needs doing."""

    kind: AlertKind
    model_version: str
    message: str = Field(description="What was seen, in words")
    action: str = Field(description="What to do", examples=["retrain"])
    command: str = Field(description="How to do it", examples=["POST /v1/training"])


class PerformanceReport(BaseModel):
    """The realized performance of every served version, as last computed by monitoring."""

    computed_at: datetime
    outcomes_received: int = Field(description="Request ids with an outcome (the latest of each)")
    outcomes_held: int = Field(description="Outcomes whose decision is not recorded yet (joined when it lands)")
    population: str = Field(
        "decisions with an outcome; refused applicants have one only when the lender reports it",
        description="Which population the realized figures describe",
    )
    versions: list[VersionPerformance] = Field(default_factory=list)
    vintages: list[VintagePerformance] = Field(default_factory=list)
    grades: list[GradePerformance] = Field(default_factory=list)
    comparisons: list[Comparison] = Field(
        default_factory=list, description="Each champion against the challenger shadow-scored beside it"
    )
    alerts: list[PerformanceAlert] = Field(default_factory=list)
