"""Commands and events of dataset scoring (topics ``scoring.commands.v1`` / ``scoring.events.v1``).

Envelope types: ``scoring.score_dataset`` (command); ``scoring.progress``, ``scoring.dataset_scored`` and
``scoring.failed`` (events; progress and failure use :mod:`credit_shared.contracts.common`).

A scoring is stored under its id (the command's request id) by :mod:`credit_shared.scorings`: one row per applicant
(``SK_ID_CURR``, probability, decision, reason codes) and a :class:`ScoringSummary`. The ``dataset_scored`` event
carries the headline figures and the reference, not the rows.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Final

from pydantic import BaseModel, ConfigDict, Field

from credit_shared.contracts.common import JsonInt, ModelVersion
from credit_shared.contracts.envelope import utc_now
from credit_shared.contracts.loans import Decision, ModelRef, Reason
from credit_shared.datasets import DATASET_ID_PATTERN

SCORE_DATASET: Final = "scoring.score_dataset"
PROGRESS: Final = "scoring.progress"
DATASET_SCORED: Final = "scoring.dataset_scored"
FAILED: Final = "scoring.failed"

SCORING_ID_PATTERN: Final = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"
TOP_FEATURES: Final = 10


class DatasetPart(StrEnum):
    """Which rows of a dataset are scored: the unlabelled production applicants, or the labelled training ones."""

    PRODUCTION = "production"
    TRAIN = "train"


class ScoreDataset(BaseModel):
    """Score every applicant of a dataset part (or a seeded random sample) with the champion or a named version."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "request_id": "3f2a9c0e1b7d4e5f8a6b2c1d0e9f8a7b",
                    "dataset_id": "ds-20261124-101500-a1b2c3",
                    "part": "production",
                    "sample_size": 1000,
                    "seed": 42,
                    "model_version": None,
                }
            ]
        }
    )

    request_id: str = Field(
        pattern=SCORING_ID_PATTERN,
        description="Idempotency key: the same id scores once; also the id of the stored scoring",
        examples=["3f2a9c0e1b7d4e5f8a6b2c1d0e9f8a7b"],
    )
    dataset_id: str = Field(
        pattern=DATASET_ID_PATTERN.pattern, description="Dataset to score", examples=["ds-20261124-101500-a1b2c3"]
    )
    part: DatasetPart = Field(DatasetPart.PRODUCTION, description="production (default) or train")
    sample_size: JsonInt | None = Field(
        None, ge=1, le=10_000_000, description="Score a random sample of this many rows; null = every row"
    )
    seed: JsonInt = Field(42, ge=0, le=2**31 - 1, description="Seed of the sample (the same seed draws the same rows)")
    model_version: ModelVersion | None = Field(
        None, description="Registered version to score with; null = the champion"
    )
    requested_by: str | None = Field(None, max_length=120, description="Who asked (for the audit trail)")


class ProbabilitySummary(BaseModel):
    """The distribution of the probabilities of default over the scored rows."""

    mean: float
    min: float
    p01: float
    p05: float
    p10: float
    p25: float
    p50: float
    p75: float
    p90: float
    p95: float
    p99: float
    max: float


class FeatureInfluence(BaseModel):
    """How much a feature moved the scores of a dataset."""

    feature: str = Field(examples=["EXT_SOURCE_3"])
    label: str = Field(examples=["External credit score 3"])
    mean_abs_contribution: float = Field(
        description="Mean over every scored row of |contribution| to the log-odds of default (exact SHAP)",
        examples=[0.31],
    )


class DatasetScored(BaseModel):
    """A dataset part was scored and the result stored under ``scoring_id`` (the rows are referenced, not carried)."""

    request_id: str
    scoring_id: str = Field(description="Id of the stored scoring", examples=["3f2a9c0e1b7d4e5f8a6b2c1d0e9f8a7b"])
    dataset_id: str = Field(examples=["ds-20261124-101500-a1b2c3"])
    part: DatasetPart
    rows: int = Field(description="Rows scored", examples=[1000])
    part_rows: int = Field(description="Rows in the part (more than ``rows`` when sampled)", examples=[48744])
    refused: int = Field(description="Rows refused", examples=[212])
    refusal_rate: float = Field(ge=0, le=1, description="Share of the rows refused", examples=[0.212])
    threshold: float = Field(description="Decision threshold of the version: refused when probability >= it")
    probability: ProbabilitySummary
    top_features: list[FeatureInfluence] = Field(
        description=f"The {TOP_FEATURES} features with the largest mean |contribution|, largest first"
    )
    model: ModelRef = Field(description="The version that scored (alias null when a version was named)")
    duration_s: float


class ScoringSummary(DatasetScored):
    """Everything stored about a scoring besides its rows."""

    sample_size: int | None = Field(description="Sample size asked for (null = every row)")
    seed: int
    features: list[FeatureInfluence] = Field(description="Every model feature, largest mean |contribution| first")
    missing_features: list[str] = Field(
        default_factory=list, description="Model features absent from the dataset (scored as missing values)"
    )
    requested_by: str | None = None
    created_at: datetime = Field(default_factory=utc_now)


class ScoredRow(BaseModel):
    """The decision on one applicant of a scored dataset."""

    SK_ID_CURR: int = Field(examples=[100001])
    probability: float = Field(ge=0, le=1, examples=[0.137])
    decision: Decision = Field(description="approved or refused", examples=["refused"])
    reasons: list[Reason] = Field(
        description="Reasons of a refusal: the (at most four) factor groups that pushed the probability up the most"
    )
    score: int | None = Field(None, description="Credit score (scorecard points, higher is safer)", examples=[587])
    grade: str | None = Field(None, description="Risk grade: the band of probability of default", examples=["E"])
