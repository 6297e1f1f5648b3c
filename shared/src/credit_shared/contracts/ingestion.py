"""Commands and events of the ingestion service (topics ``ingestion.commands.v1`` / ``ingestion.events.v1``).

Envelope types: ``dataset.build`` (command); ``dataset.progress``, ``dataset.built``, ``dataset.failed`` (events).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final, Literal

from pydantic import BaseModel, Field

from credit_shared.contracts.common import Name, RequestId, Text
from credit_shared.contracts.quality import FeaturePolicy

BUILD: Final = "dataset.build"
PROGRESS: Final = "dataset.progress"
BUILT: Final = "dataset.built"
FAILED: Final = "dataset.failed"
MAX_VARIANCE: Final = 1e15


class Imputation(StrEnum):
    """How missing values are filled after cleaning (tree models handle them: none by default)."""

    NONE = "none"
    MEAN = "mean"
    MEDIAN = "median"
    MOST_FREQUENT = "most_frequent"


class BuildDataset(BaseModel):
    """Build a versioned dataset from the raw tables, with the user's cleaning parameters."""

    request_id: RequestId = Field(description="Idempotency key: the same id builds once")
    name: Name = Field(max_length=80, description="Name for people (no control character)", examples=["baseline"])
    description: Text = Field("", max_length=2000, description="Free text (tabs and line breaks allowed)")
    source: Literal["auto", "kaggle", "synthetic", "sample"] = Field(
        "auto",
        description="Raw tables to use: the Kaggle files of CREDIT_DATA_DIR, the synthetic tables under CREDIT_HOME, "
        "the real sample; auto = Kaggle when configured, else synthetic",
    )
    max_missing_rate: float = Field(
        0.8, strict=True, ge=0, le=1, description="Drop a feature missing in more than this share"
    )
    imputation: Imputation = Field(Imputation.NONE, description="How missing values are filled")
    max_correlation: float | None = Field(
        0.98,
        strict=True,
        gt=0,
        le=1,
        description="Drop one feature of each pair whose |Pearson r| exceeds this; null = keep all",
    )
    min_variance: float | None = Field(
        0.0,
        strict=True,
        ge=0,
        le=MAX_VARIANCE,
        description="Drop a numeric feature whose variance is at most this; null = keep all (at most 1e15: no "
        "feature of the Home Credit tables varies more)",
    )
    leakage_auc: float | None = Field(
        0.95,
        strict=True,
        gt=0.5,
        le=1,
        description="Drop a feature that alone predicts the target with ROC AUC above this; null = no guard",
    )
    feature_policy: FeaturePolicy = Field(
        default_factory=FeaturePolicy,
        description="Protected attributes kept aside (stored for the fairness table, never features), flagged and "
        "excluded features",
    )


class DatasetBuilt(BaseModel):
    """A dataset was built and is ready (it is referenced, not carried)."""

    request_id: str
    dataset_id: str = Field(description="Id of the new dataset", examples=["ds-20261124-101500-a1b2c3"])
    name: str
    rows_train: int
    rows_production: int
    features: int
    dropped: int = Field(description="Features dropped by cleaning")
    mlflow_experiment_id: str | None
    baseline_run_id: str | None
    duration_s: float
    absent_tables: list[str] = Field(
        default_factory=list, description="Side tables the source lacked (their history features are missing)"
    )
    aside: list[str] = Field(default_factory=list, description="Protected columns kept aside, never features")
