"""The training reference of each model version: a seeded sample of its training rows and their statistics.

The reference is fixed per model version: ``max_rows`` training rows drawn with a seeded generator from the
``train.parquet`` of the dataset the version was trained on, and its :class:`ReferenceProfile`, both computed once
and cached on disk (``<root>/<model>/<version>/``) and in memory. The same model version, seed and method
configuration always give the same reference, hence the same verdicts for the same window.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import shutil
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from credit_shared.datasets import TRAIN, dataset_dir, read_manifest
from monitoring_service.domain import Kind, MethodChoice
from monitoring_service.profile import ReferenceProfile

log = logging.getLogger(__name__)

SAFE_NAME = re.compile(r"^[A-Za-z0-9._-]{1,128}$")


@dataclass(frozen=True)
class ModelInfo:
    """What monitoring needs to know about a registered model version."""

    name: str
    version: str
    dataset_id: str
    run_id: str | None = None
    importances: dict[str, float] = field(default_factory=dict)
    reference_probabilities: list[float] | None = None  # e.g. the model's out-of-fold probabilities
    test_auc: float | None = None  # ROC AUC on the held-out test set of its training run


class ModelCatalog(Protocol):
    """Where model versions are described (the MLflow registry, or a fake in tests)."""

    def describe(self, name: str, version: str) -> ModelInfo:
        """Describe one model version (raises ``LookupError`` when unknown)."""
        ...

    def resolve_alias(self, name: str, alias: str) -> str:
        """The version an alias points to (raises ``LookupError`` when unset)."""
        ...


@dataclass(frozen=True)
class Reference:
    """The reference of one model version."""

    model: ModelInfo
    sample: pd.DataFrame
    profile: ReferenceProfile
    kinds: dict[str, Kind]


def column_kinds(datasets_dir: Path, dataset_id: str) -> dict[str, Kind]:
    """The feature columns of a dataset and how each is compared (``category`` columns as categories)."""
    manifest = read_manifest(datasets_dir, dataset_id)
    return {f.name: "categorical" if f.type == "category" else "numerical" for f in manifest.features}


def sample_parquet(path: Path, columns: list[str], max_rows: int, seed: int) -> pd.DataFrame:
    """A seeded sample of at most ``max_rows`` rows of a Parquet file, read one row group at a time.

    The rows keep their file order, so the sample depends only on the file, ``max_rows`` and ``seed``.
    """
    file = pq.ParquetFile(path)
    total = file.metadata.num_rows
    rng = np.random.default_rng(seed)
    chosen = np.sort(rng.choice(total, size=max_rows, replace=False)) if total > max_rows else np.arange(total)
    tables: list[pa.Table] = []
    start = 0
    for group in range(file.num_row_groups):
        size = file.metadata.row_group(group).num_rows
        lo, hi = np.searchsorted(chosen, [start, start + size])
        if hi > lo:
            tables.append(file.read_row_group(group, columns=columns).take(pa.array(chosen[lo:hi] - start)))
        start += size
    if not tables:
        return pd.DataFrame(columns=columns)
    frame: pd.DataFrame = pa.concat_tables(tables).to_pandas()
    return frame


class ReferenceStore:
    """Builds, caches and serves the reference of each model version (thread-safe)."""

    def __init__(
        self,
        root: Path,
        datasets_dir: Path,
        catalog: ModelCatalog,
        *,
        max_rows: int = 20_000,
        seed: int = 0,
        choice: MethodChoice | None = None,
        memory_slots: int = 4,
    ) -> None:
        self.root = root
        self.datasets_dir = datasets_dir
        self.catalog = catalog
        self.max_rows = max_rows
        self.seed = seed
        self.choice = choice or MethodChoice()
        self.memory_slots = memory_slots
        self._cache: OrderedDict[tuple[str, str], Reference] = OrderedDict()
        self._lock = threading.Lock()

    def folder(self, name: str, version: str) -> Path:
        """Where a model version's reference is cached (names are checked: no path tricks)."""
        for part in (name, version):
            if not SAFE_NAME.fullmatch(part):
                raise ValueError(f"not a model name or version: {part!r}")
        return self.root / name / version

    def get(self, name: str, version: str) -> Reference:
        """The reference of a model version, from memory, from disk, or built from its training rows.

        Raises:
            LookupError: when the model version is unknown.
            FileNotFoundError: when its dataset is missing.
        """
        key = (name, version)
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
            reference = self._load_or_build(name, version)
            self._cache[key] = reference
            while len(self._cache) > self.memory_slots:
                self._cache.popitem(last=False)
            return reference

    def _fingerprint(self, model: ModelInfo) -> str:
        config = {
            "dataset_id": model.dataset_id,
            "max_rows": self.max_rows,
            "seed": self.seed,
            "numerical": self.choice.numerical,
            "categorical": self.choice.categorical,
            "thresholds": self.choice.thresholds,
        }
        return hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()[:16]

    def _load_or_build(self, name: str, version: str) -> Reference:
        model = self.catalog.describe(name, version)
        kinds = column_kinds(self.datasets_dir, model.dataset_id)
        folder = self.folder(name, version)
        fingerprint = self._fingerprint(model)
        meta_path = folder / "reference.json"
        if meta_path.is_file() and json.loads(meta_path.read_text()).get("fingerprint") == fingerprint:
            sample = pd.read_parquet(folder / "sample.parquet")
            return Reference(model, sample, ReferenceProfile.load(folder), kinds)
        log.info("building the reference of %s v%s from dataset %s", name, version, model.dataset_id)
        path = dataset_dir(self.datasets_dir, model.dataset_id) / TRAIN
        sample = sample_parquet(path, list(kinds), self.max_rows, self.seed)
        profile = ReferenceProfile.build(sample, kinds, self.choice)
        staging = folder.with_name(f".{version}.tmp")
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        sample.to_parquet(staging / "sample.parquet", index=False)
        profile.save(staging)
        meta = {"fingerprint": fingerprint, "dataset_id": model.dataset_id, "rows": len(sample), "seed": self.seed}
        (staging / "reference.json").write_text(json.dumps(meta, indent=2))
        preserved = folder / "predictions.json"
        if preserved.is_file():
            shutil.copy2(preserved, staging / "predictions.json")
        shutil.rmtree(folder, ignore_errors=True)
        staging.rename(folder)
        return Reference(model, sample, profile, kinds)

    def prediction_reference(self, model: ModelInfo) -> tuple[list[float], str] | None:
        """The reference distribution of probabilities of a model version and where it comes from.

        The model's own reference probabilities (logged with its training run) when it has some, else the
        probabilities of the first window of served traffic, frozen by :meth:`freeze_predictions`; ``None`` before.
        """
        if model.reference_probabilities:
            return model.reference_probabilities, "training_run"
        path = self.folder(model.name, model.version) / "predictions.json"
        if path.is_file():
            return list(json.loads(path.read_text())), "first_window"
        return None

    def freeze_predictions(self, model: ModelInfo, probabilities: list[float]) -> None:
        """Keep the probabilities of the first served window as the model version's prediction reference."""
        path = self.folder(model.name, model.version) / "predictions.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists():
            tmp = path.with_suffix(".tmp")
            tmp.write_text(json.dumps(probabilities))
            tmp.rename(path)
