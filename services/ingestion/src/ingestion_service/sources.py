"""Where a build's raw tables come from, and reading the application tables."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pandas as pd

from credit_shared.homecredit.application import APPLICATION, TARGET
from credit_shared.homecredit.schema import Kind

SourceKind = Literal["kaggle", "synthetic", "sample"]
APPLICATION_FILES = ("application_train", "application_test")


class SourceError(ValueError):
    """The raw tables asked for are not available."""


@dataclass(frozen=True)
class RawSource:
    """A folder of raw tables and what kind they are."""

    kind: SourceKind
    folder: Path

    def files(self) -> list[Path]:
        """Every table file of the folder (CSV or Parquet)."""
        return sorted(p for p in self.folder.iterdir() if p.suffix in {".csv", ".parquet", ".gz"} and p.is_file())


def resolve(requested: str, *, data_dir: Path | None, home: Path, sample_dir: Path | None) -> RawSource:
    """The raw tables of a build: Kaggle files, the synthetic tables under the run folder, or the real sample.

    Raises:
        SourceError: when the requested tables are not configured or not present.
    """
    synthetic = home / "raw" / "synthetic"
    if requested == "auto":
        requested = "kaggle" if data_dir is not None else "synthetic"
    candidates: dict[str, Path | None] = {"kaggle": data_dir, "synthetic": synthetic, "sample": sample_dir}
    if requested not in candidates:
        raise SourceError(f"unknown source {requested!r}; use kaggle, synthetic, sample or auto")
    folder = candidates[requested]
    hints = {
        "kaggle": "set CREDIT_DATA_DIR to the folder of the Kaggle files",
        "synthetic": "generate them with `credit data synth --out <CREDIT_HOME>/raw/synthetic`",
        "sample": "set INGESTION_SAMPLE_DIR to the folder of the sample tables",
    }
    if folder is None or not folder.is_dir():
        raise SourceError(f"no {requested} tables at {folder}: {hints[requested]}")
    if application_file(folder, "application_train") is None:
        raise SourceError(f"no application_train table in {folder}: {hints[requested]}")
    return RawSource(requested, folder)  # type: ignore[arg-type]


def application_file(folder: Path, table: str) -> Path | None:
    """The file of an application table in a folder (Parquet preferred), or None."""
    for suffix in (".parquet", ".csv", ".csv.gz"):
        path = folder / f"{table}{suffix}"
        if path.is_file():
            return path
    return None


def read_applications(folder: Path) -> pd.DataFrame:
    """``application_train`` (with ``TARGET``) and ``application_test`` (``TARGET`` missing) as one frame."""
    dtypes: dict[str, str] = {c.name: ("string" if c.kind is Kind.CATEGORY else "float64") for c in APPLICATION.columns}
    dtypes["SK_ID_CURR"] = "int64"
    parts = []
    for table in APPLICATION_FILES:
        path = application_file(folder, table)
        if path is None:
            continue
        if path.suffix == ".parquet":
            frame = pd.read_parquet(path)
        else:
            frame = pd.read_csv(path, dtype={**dtypes, TARGET: "float64"}, encoding="utf-8")
        if TARGET not in frame.columns:
            frame[TARGET] = float("nan")
        parts.append(frame)
    return pd.concat(parts, ignore_index=True)
