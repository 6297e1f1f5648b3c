"""A dataset folder made of application features only, from a Kaggle ``application_train`` file.

For benchmarks and tests (and for training before a full dataset is built): the application-level features of
:mod:`credit_shared.features.application` (the raw columns plus the kernel's ratios), in the layout of
:mod:`credit_shared.datasets`, written to a temporary folder and renamed into place.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pandas as pd

from credit_shared.datasets import MANIFEST, PRODUCTION, TRAIN, DatasetManifest, FeatureInfo, dataset_dir
from credit_shared.features.application import application_features

TARGET = "TARGET"


def _kind(series: pd.Series) -> str:
    if isinstance(series.dtype, pd.CategoricalDtype) or not pd.api.types.is_numeric_dtype(series):
        return "category"
    return "bool" if pd.api.types.is_bool_dtype(series) else "float"


def write_application_dataset(
    csv: Path, datasets_dir: Path, dataset_id: str, *, rows: int | None = None, name: str = "application sample"
) -> DatasetManifest:
    """Write a dataset of application features from ``csv`` (which must have ``TARGET``).

    Args:
        csv: an ``application_train`` CSV file.
        datasets_dir: folder of the datasets.
        dataset_id: id of the new dataset (replaces one with the same id).
        rows: read only the first ``rows`` rows.
        name: the dataset's name.
    """
    raw = pd.read_csv(csv, nrows=rows)
    features = application_features(raw.drop(columns=[TARGET]))
    train = features.assign(**{TARGET: raw[TARGET].astype(int).to_numpy()})
    columns = [c for c in features.columns if c != "SK_ID_CURR"]
    manifest = DatasetManifest(
        dataset_id=dataset_id,
        name=name,
        source_checksum=hashlib.sha256(csv.read_bytes()).hexdigest(),
        source_kind="sample",
        features=[
            FeatureInfo(name=c, type=_kind(features[c]), label=c, source="application", online="request")  # type: ignore[arg-type]
            for c in columns
        ],
        sizes={"train": len(train), "production": 0, "features": len(columns)},
        target_rate=float(train[TARGET].mean()),
    )
    final = dataset_dir(datasets_dir, dataset_id)
    tmp = final.with_name(f".{dataset_id}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    train.to_parquet(tmp / TRAIN, index=False)
    features.head(0).to_parquet(tmp / PRODUCTION, index=False)
    (tmp / MANIFEST).write_text(manifest.model_dump_json(indent=1))
    shutil.rmtree(final, ignore_errors=True)
    tmp.rename(final)
    return manifest
