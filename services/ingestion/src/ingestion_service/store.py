"""Writing a dataset version: Parquet parts and manifest into a temporary folder, renamed into place at the end.

A reader never sees a half-written dataset: until the rename, the folder has a name that is not a dataset id.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import uuid
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from credit_shared.datasets import ASIDE, MANIFEST, PRODUCTION, TRAIN, DatasetManifest, dataset_dir

log = logging.getLogger(__name__)


def new_dataset_id(now: pd.Timestamp | None = None) -> str:
    """A new dataset id, sortable by time: ``ds-YYYYMMDD-HHMMSS-xxxxxx``."""
    now = now or pd.Timestamp.now(tz="UTC")
    return f"ds-{now:%Y%m%d-%H%M%S}-{uuid.uuid4().hex[:6]}"


def sources_checksum(files: Iterable[Path]) -> str:
    """SHA-256 over the names and SHA-256 contents of the source files (order-independent)."""
    outer = hashlib.sha256()
    for path in sorted(files, key=lambda p: p.name):
        with path.open("rb") as handle:
            digest = hashlib.file_digest(handle, "sha256").hexdigest()
        outer.update(f"{path.name}:{digest}\n".encode())
    return outer.hexdigest()


def statistics(frame: pd.DataFrame) -> dict[str, dict[str, float | None]]:
    """Per numeric column: mean, std, min, max and missing share; per category: missing share and levels."""
    stats: dict[str, dict[str, float | None]] = {}
    for col in frame.columns:
        series = frame[col]
        missing = float(series.isna().mean())
        if pd.api.types.is_numeric_dtype(series) and not isinstance(series.dtype, pd.CategoricalDtype):
            values = series.to_numpy(dtype=float)
            present = values[~np.isnan(values)]
            stats[col] = {
                "mean": _finite(present.mean()) if present.size else None,
                "std": _finite(present.std()) if present.size else None,
                "min": _finite(present.min()) if present.size else None,
                "max": _finite(present.max()) if present.size else None,
                "missing": missing,
            }
        else:
            stats[col] = {"missing": missing, "levels": float(series.nunique(dropna=True))}
    return stats


def _finite(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


def write_dataset(
    datasets_dir: Path,
    manifest: DatasetManifest,
    train: pd.DataFrame,
    production: pd.DataFrame,
    aside: pd.DataFrame | None = None,
) -> Path:
    """Write the parts, the columns kept aside (when any) and the manifest, then make the dataset visible with one
    rename.

    Returns:
        The dataset's folder.
    """
    final = dataset_dir(datasets_dir, manifest.dataset_id)
    if final.exists():
        raise FileExistsError(f"dataset {manifest.dataset_id} already exists")
    staging = datasets_dir / f".staging-{manifest.dataset_id}-{uuid.uuid4().hex[:8]}"
    staging.mkdir(parents=True)
    try:
        train.to_parquet(staging / TRAIN, index=False)
        production.to_parquet(staging / PRODUCTION, index=False)
        if aside is not None:
            aside.to_parquet(staging / ASIDE, index=False)
        (staging / MANIFEST).write_text(manifest.model_dump_json(indent=2))
        staging.rename(final)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    log.info("dataset %s written to %s", manifest.dataset_id, final)
    return final


def remove_stale_staging(datasets_dir: Path) -> None:
    """Remove staging folders left by a build that was killed (they were never visible)."""
    if datasets_dir.is_dir():
        for stale in datasets_dir.glob(".staging-*"):
            shutil.rmtree(stale, ignore_errors=True)
