"""The on-disk layout of a versioned dataset, shared by ingestion (writer), training, scoring and monitoring.

A dataset lives in ``<datasets_dir>/<dataset_id>/``:

- ``train.parquet``: ``SK_ID_CURR``, the feature columns, ``TARGET`` (labelled applicants);
- ``production.parquet``: ``SK_ID_CURR`` and the same feature columns (the unlabelled applicants to score);
- ``train_aside.parquet`` (when the feature policy keeps any): ``SK_ID_CURR`` and the protected columns of the
  labelled applicants, row by row as ``train.parquet``, for the fairness table; never features;
- ``manifest.json``: a :class:`DatasetManifest`.

A dataset is written to a temporary folder and renamed into place, so a half-written one is never visible.
"""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from typing import Any, Final, Literal

from pydantic import BaseModel, Field

from credit_shared.contracts.common import DATASET_ID
from credit_shared.contracts.envelope import utc_now

MANIFEST: Final = "manifest.json"
TRAIN: Final = "train.parquet"
PRODUCTION: Final = "production.parquet"
ASIDE: Final = "train_aside.parquet"
DATASET_ID_PATTERN: Final = re.compile(DATASET_ID)

FeatureType = Literal["int", "float", "category", "bool"]


class FeatureInfo(BaseModel):
    """One feature column of a dataset."""

    name: str = Field(description="Column name", examples=["BUREAU_DAYS_CREDIT_MAX"])
    type: FeatureType = Field(description="Logical type", examples=["float"])
    label: str = Field(description="Human-readable label", examples=["Max of days since bureau credit"])
    source: str = Field(description="Table it comes from", examples=["bureau"])
    online: Literal["request", "history"] = Field(
        description="request: computed from the application at request time; history: read from online features"
    )


class DatasetManifest(BaseModel):
    """Everything known about a dataset version."""

    dataset_id: str = Field(pattern=DATASET_ID_PATTERN.pattern, description="Dataset id", examples=["ds-20261124-a1"])
    name: str = Field(description="Name given by the user", examples=["baseline"])
    description: str = Field("", description="Free text")
    created_at: datetime = Field(default_factory=utc_now)
    source_checksum: str = Field(description="SHA-256 over the source files' checksums")
    source_kind: Literal["kaggle", "synthetic", "sample"] = Field(description="Where the raw tables came from")
    parameters: dict[str, Any] = Field(default_factory=dict, description="Cleaning parameters as requested")
    features: list[FeatureInfo] = Field(description="Feature columns, in column order")
    dropped: dict[str, str] = Field(default_factory=dict, description="Dropped column -> reason")
    sizes: dict[str, int] = Field(default_factory=dict, description="Row counts: train, production, features")
    target_rate: float | None = Field(None, description="Share of defaults in the training part")
    statistics: dict[str, dict[str, float | None]] = Field(
        default_factory=dict, description="Per feature: mean, std, min, max, missing share (training part)"
    )
    absent_tables: list[str] = Field(
        default_factory=list, description="Side tables the source lacked: their history features are missing"
    )
    aside: list[str] = Field(
        default_factory=list, description="Protected columns stored apart (train_aside.parquet) for fairness"
    )
    excluded: dict[str, str] = Field(default_factory=dict, description="Feature excluded by the policy -> why")
    flagged: dict[str, str] = Field(default_factory=dict, description="Feature flagged by the policy -> why")
    mlflow_experiment_id: str | None = Field(None, description="The dataset's MLflow experiment")
    baseline_run_id: str | None = Field(None, description="The most-frequent-class baseline run")


def dataset_dir(datasets_dir: Path, dataset_id: str) -> Path:
    """The folder of a dataset, refusing any id that is not a plain dataset id (no path tricks).

    Raises:
        ValueError: when ``dataset_id`` is not a valid id.
    """
    return id_folder(datasets_dir, dataset_id, DATASET_ID_PATTERN, "dataset")


def id_folder(root: Path, value: str, pattern: re.Pattern[str], what: str) -> Path:
    """``root / value`` when ``value`` is a whole match of ``pattern`` (an id, never a path), else ValueError."""
    if not pattern.fullmatch(value):
        raise ValueError(f"not a {what} id: {value!r}")
    return root / value


def read_manifest(datasets_dir: Path, dataset_id: str) -> DatasetManifest:
    """Read a dataset's manifest.

    Raises:
        FileNotFoundError: when the dataset does not exist.
    """
    path = dataset_dir(datasets_dir, dataset_id) / MANIFEST
    if not path.is_file():
        raise FileNotFoundError(f"dataset {dataset_id!r} does not exist")
    return DatasetManifest.model_validate_json(path.read_text())


def list_manifests(datasets_dir: Path) -> list[DatasetManifest]:
    """Every complete dataset, newest first."""
    if not datasets_dir.is_dir():
        return []
    found = [
        DatasetManifest.model_validate_json((d / MANIFEST).read_text())
        for d in datasets_dir.iterdir()
        if DATASET_ID_PATTERN.fullmatch(d.name) and (d / MANIFEST).is_file()
    ]
    return sorted(found, key=lambda m: m.created_at, reverse=True)
