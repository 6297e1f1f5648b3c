"""Commands and events of the monitoring service (topics ``monitoring.commands.v1`` / ``monitoring.events.v1``).

Envelope types: ``drift.report`` (command: a drift report on demand); ``drift.progress`` (:class:`Progress`),
``drift.report_ready`` (the on-demand report is stored), ``drift.reported`` (a window of served traffic was
compared with its reference), ``drift.alert`` (a report's severity reached the configured level), ``drift.failed``
(:class:`Failed`). Events carry a report id and a summary; the HTML and JSON live in the artifact store.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Final, Literal

from pydantic import BaseModel, Field

from credit_shared.contracts.common import ColumnName, DatasetId, JsonInt, ModelVersion, RequestId, matching

REPORT: Final = "drift.report"
PROGRESS: Final = "drift.progress"
REPORT_READY: Final = "drift.report_ready"
REPORTED: Final = "drift.reported"
ALERT: Final = "drift.alert"
FAILED: Final = "drift.failed"

MODEL_NAME_PATTERN: Final = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"
ALIAS_PATTERN: Final = r"^[A-Za-z0-9_-]{1,64}$"
ModelName = Annotated[
    str, *matching(MODEL_NAME_PATTERN, "must be a model name: letters, digits, dots, dashes and underscores")
]
Alias = Annotated[str, *matching(ALIAS_PATTERN, "must be an alias: letters, digits, dashes and underscores")]

Severity = Literal["green", "orange", "red"]
DatasetPart = Literal["train", "production"]
ReportKind = Literal["window", "on_demand"]


class RequestDriftReport(BaseModel):
    """Compare one column, or every column, of a dataset part with a model version's training reference."""

    request_id: RequestId = Field(description="Idempotency key: the same id reports once", examples=["job-3f2a"])
    model_name: ModelName | None = Field(None, description="Registered model name; default the configured one")
    model_version: ModelVersion | None = Field(
        None, description="Registered model version; null = the version the alias points to", examples=["3"]
    )
    alias: Alias = Field("champion", description="Alias used when no version is given", examples=["champion"])
    dataset_id: DatasetId | None = Field(
        None, description="Dataset to read the part from; null = the dataset the model was trained on"
    )
    part: DatasetPart = Field("production", description="Which part of the dataset is compared")
    column: ColumnName | None = Field(
        None, description="One column; null = every feature column", examples=["EXT_SOURCE_3"]
    )
    max_rows: JsonInt = Field(
        50_000,
        ge=100,
        le=1_000_000,
        description="Seeded sample of the part when it has more rows than this",
    )


class ColumnDriftSummary(BaseModel):
    """The verdict on one column."""

    column: str = Field(examples=["EXT_SOURCE_3"])
    kind: Literal["numerical", "categorical"] = Field(description="How the column was compared")
    method: str = Field(description="Drift method", examples=["wasserstein"])
    threshold: float = Field(description="Threshold of the method", examples=[0.1])
    score: float | None = Field(description="Drift score (p-value for tests, distance otherwise); null if no data")
    drifted: bool = Field(description="The verdict")
    importance: float | None = Field(None, description="Importance of the feature in the model, when known")


class PredictionDriftSummary(BaseModel):
    """How the served probabilities moved against the model version's reference distribution."""

    psi: float | None = Field(description="PSI of the probabilities (10 reference-quantile bins); null = no reference")
    reference: str = Field(description="Where the reference probabilities come from", examples=["first_window"])
    approval_rate: float = Field(description="Share of approvals in the window", examples=[0.91])
    reference_approval_rate: float | None = Field(description="Share of approvals at the same threshold, reference")
    approval_rate_shift: float | None = Field(description="approval_rate - reference_approval_rate")
    psi_band: Literal["stable", "watch", "act"] | None = Field(
        None, description="Band of the PSI: below 0.1 stable, up to 0.25 watch, above act"
    )
    psi_significant: bool | None = Field(
        None, description="The PSI exceeds what chance gives at these sample sizes (99 %): small windows inflate it"
    )
    expected_default_rate: float | None = Field(
        None, description="Mean calibrated PD of the window: the default rate expected before any outcome"
    )
    expected_cost_per_applicant: float | None = Field(
        None, description="Expected business cost per decision from the PDs (10 PD if approved, 1 - PD if refused)"
    )
    estimated_auc: float | None = Field(
        None, description="Label-free ROC AUC estimate from the calibrated PDs (CBPE), before outcomes arrive"
    )


class DriftReported(BaseModel):
    """A drift report was computed and stored (window of served traffic or on-demand)."""

    report_id: str = Field(description="Id of the report in the artifact store", examples=["w-3-20261124T1000-1a2b"])
    kind: ReportKind
    request_id: str | None = Field(None, description="The on-demand command's request id")
    model_name: str = Field(examples=["credit-default"])
    model_version: str = Field(examples=["3"])
    dataset_id: str | None = Field(None, description="Dataset of the reference (and of the compared part)")
    part: str | None = Field(None, description="Compared dataset part (on-demand) or null for served traffic")
    window_start: datetime | None = None
    window_end: datetime | None = None
    rows: int = Field(description="Rows compared")
    columns: int = Field(description="Columns compared")
    drifted: int = Field(description="Columns that drifted")
    drift_share: float = Field(description="drifted / columns")
    unstable_columns: list[str] = Field(
        default_factory=list, description="Columns whose CSI is above 0.25 and significant for the window's size"
    )
    severity: Severity
    important_drifted: list[str] = Field(default_factory=list, description="Drifted top-k important features")
    top_drifted: list[ColumnDriftSummary] = Field(
        default_factory=list, description="Drifted columns, most important (then highest score) first, at most 20"
    )
    prediction: PredictionDriftSummary | None = None
    html: bool = Field(description="An Evidently HTML report is stored with it")


class DriftAlert(BaseModel):
    """A report's severity reached the configured alert level."""

    report_id: str
    model_name: str
    model_version: str
    severity: Severity
    drifted: int
    columns: int
    important_drifted: list[str] = Field(default_factory=list)
    message: str = Field(description="For people", examples=["17 of 798 columns drifted, EXT_SOURCE_3 among them"])


class DriftReportReady(BaseModel):
    """The on-demand report is stored (``report`` is its summary)."""

    request_id: str
    report: DriftReported
    duration_s: float
