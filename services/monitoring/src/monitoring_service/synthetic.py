"""Synthetic feature frames with the shapes of engineered credit features, for tests and the benchmark.

Numerical columns mix normal, log-normal (amounts), bounded scores and 0/1 flags, with missing values;
categorical columns have a few to a few dozen unequally frequent values. :func:`shift` moves chosen columns.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from credit_shared.datasets import MANIFEST, PRODUCTION, TRAIN, DatasetManifest, FeatureInfo, dataset_dir
from monitoring_service.domain import Kind


def synthetic_kinds(numerical: int, categorical: int) -> dict[str, Kind]:
    """Column names and types: ``NUM_000``... then ``CAT_000``..."""
    kinds: dict[str, Kind] = {f"NUM_{i:03d}": "numerical" for i in range(numerical)}
    kinds.update({f"CAT_{i:03d}": "categorical" for i in range(categorical)})
    return kinds


def synthetic_frame(rows: int, kinds: dict[str, Kind], seed: int, *, layout_seed: int = 12345) -> pd.DataFrame:
    """Rows drawn from fixed per-column distributions (``layout_seed`` fixes the distributions, ``seed`` the rows)."""
    layout = np.random.default_rng(layout_seed)
    rng = np.random.default_rng(seed)
    data: dict[str, np.ndarray] = {}
    for name, kind in kinds.items():
        missing = layout.choice([0.0, 0.05, 0.3])
        if kind == "categorical":
            size = int(layout.integers(2, 30))
            weights = layout.dirichlet(np.ones(size))
            values = rng.choice(np.array([f"v{k}" for k in range(size)], dtype=object), size=rows, p=weights)
        else:
            family = layout.integers(0, 4)
            loc, scale = layout.normal(0, 5), layout.uniform(0.5, 3)
            if family == 0:
                values = rng.normal(loc, scale, rows)
            elif family == 1:
                values = rng.lognormal(layout.uniform(8, 12), layout.uniform(0.3, 1.0), rows)
            elif family == 2:
                values = rng.beta(layout.uniform(1, 5), layout.uniform(1, 5), rows)
            else:
                values = (rng.random(rows) < layout.uniform(0.05, 0.5)).astype(float)
        values = values.astype(object) if kind == "categorical" else values.astype(float)
        mask = rng.random(rows) < missing
        if kind == "categorical":
            values[mask] = None
        else:
            values[mask] = np.nan
        data[name] = values
    return pd.DataFrame(data)


def shift(frame: pd.DataFrame, columns: Iterable[str], kinds: dict[str, Kind], seed: int = 0) -> pd.DataFrame:
    """A copy of ``frame`` where each of ``columns`` has moved clearly.

    Numerical columns move by one standard deviation (0/1 flags become 90 % of the rarer value); categorical columns see
    their most frequent value replaced by a value never seen before in 60 % of the rows.
    """
    rng = np.random.default_rng(seed)
    moved = frame.copy()
    for column in columns:
        values = moved[column]
        if kinds[column] == "categorical":
            top = values.mode(dropna=True).iloc[0]
            hit = values.notna() & (rng.random(len(values)) < 0.6)
            moved[column] = values.where(~hit, "new-" + str(top))
        elif set(values.dropna().unique()) <= {0.0, 1.0}:
            share = 0.9 if values.mean() < 0.5 else 0.1
            flags = (rng.random(len(values)) < share).astype(float)
            moved[column] = values.where(values.isna(), flags)
        else:
            moved[column] = values + float(np.nanstd(values.to_numpy(float)))
    return moved


def write_dataset(
    datasets_dir: Path,
    dataset_id: str,
    train: pd.DataFrame,
    kinds: dict[str, Kind],
    production: pd.DataFrame | None = None,
) -> Path:
    """Write a dataset in the platform's layout (``train.parquet`` with a target, a manifest); returns its folder."""
    folder = dataset_dir(datasets_dir, dataset_id)
    folder.mkdir(parents=True, exist_ok=True)
    frame = train.copy()
    frame.insert(0, "SK_ID_CURR", np.arange(100_000, 100_000 + len(frame)))
    frame["TARGET"] = (np.random.default_rng(0).random(len(frame)) < 0.08).astype(int)
    frame.to_parquet(folder / TRAIN, index=False, row_group_size=5000)
    if production is not None:
        unlabelled = production.copy()
        unlabelled.insert(0, "SK_ID_CURR", np.arange(500_000, 500_000 + len(unlabelled)))
        unlabelled.to_parquet(folder / PRODUCTION, index=False, row_group_size=5000)
    features = [
        FeatureInfo(
            name=c, type="category" if k == "categorical" else "float", label=c, source="synthetic", online="request"
        )
        for c, k in kinds.items()
    ]
    manifest = DatasetManifest(
        dataset_id=dataset_id,
        name="synthetic",
        source_checksum="0" * 64,
        source_kind="synthetic",
        features=features,
        sizes={"train": len(frame), "production": 0 if production is None else len(production), "features": len(kinds)},
    )
    (folder / MANIFEST).write_text(manifest.model_dump_json(indent=2))
    return folder
