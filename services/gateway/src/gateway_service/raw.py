"""The raw Home Credit tables as the gateway shows them: where they are, their size, a cached sample of each.

Tables can be far larger than memory (``bureau_balance`` has 27 million rows), so the gateway keeps the first
``raw_sample_rows`` rows of each, validated by the shared readers, and computes charts on that sample.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pandas as pd
import pyarrow.parquet as pq

from credit_shared.homecredit import glossary
from credit_shared.homecredit.readers import find_table_file, iter_table, read_table
from credit_shared.homecredit.schema import TableSpec
from credit_shared.homecredit.tables import TABLES
from credit_shared.homecredit.validation import SchemaError
from gateway_service.data import DataCache
from gateway_service.settings import Settings

log = logging.getLogger(__name__)

Mode = Literal["strict", "sample"]
SourceKind = Literal["configured", "kaggle", "synthetic", "sample"]


@dataclass(frozen=True)
class RawSource:
    """A folder of raw tables and how strictly they are read."""

    folder: Path
    kind: SourceKind
    mode: Mode


@dataclass(frozen=True)
class RawTable:
    """A raw table found in the source."""

    name: str
    path: Path
    spec: TableSpec
    rows: int | None
    stamp: int


def source(settings: Settings) -> RawSource | None:
    """Where the raw tables are read from, or None when no source is configured or present."""
    candidates: list[tuple[Path | None, SourceKind, Mode]] = [
        (settings.raw_dir, "configured", "strict"),
        (settings.platform.data_dir, "kaggle", "strict"),
        (settings.platform.home / "raw" / "synthetic", "synthetic", "strict"),
        (settings.sample_dir, "sample", "sample"),
    ]
    for folder, kind, mode in candidates:
        if folder is not None and folder.is_dir():
            return RawSource(folder, kind, mode)
    return None


def glossary_table(table: str) -> str:
    """The glossary's name of a table (both application tables share one entry)."""
    return glossary.APPLICATION_TABLE if table.startswith("application_") else table


def count_rows(path: Path) -> int:
    """Data rows of a table file: Parquet metadata, or the lines of a CSV after its header."""
    if path.name.endswith(".parquet"):
        return int(pq.ParquetFile(path).metadata.num_rows)
    if path.name.endswith(".gz"):
        import gzip

        opener = gzip.open
    else:
        opener = open  # type: ignore[assignment]
    lines = 0
    last = b"\n"
    with opener(path, "rb") as handle:
        while chunk := handle.read(1 << 22):
            lines += chunk.count(b"\n")
            last = chunk[-1:]
    return lines + (last != b"\n") - 1


def tables(settings: Settings, cache: DataCache) -> list[RawTable]:
    """Every raw table present in the source, with its row count (counted once per file version)."""
    found = source(settings)
    if found is None:
        return []
    result = []
    for name, spec in TABLES.items():
        try:
            path = find_table_file(found.folder, name, mode=found.mode)
        except SchemaError:
            continue
        stamp = path.stat().st_mtime_ns
        rows: int = cache.get(("raw-rows", str(path), stamp), lambda p=path: count_rows(p))  # type: ignore[misc]
        result.append(RawTable(name, path, spec, rows, stamp))
    return result


def table(settings: Settings, cache: DataCache, name: str) -> RawTable | None:
    """One raw table by name (looked up among the known ones), or None."""
    return next((t for t in tables(settings, cache) if t.name == name), None)


def sample(settings: Settings, cache: DataCache, found: RawTable) -> pd.DataFrame:
    """The first ``raw_sample_rows`` validated rows of a table, loaded once per file version.

    Raises:
        SchemaError: when the file does not match the table's specification.
    """
    src = source(settings)
    mode: Mode = src.mode if src else "strict"
    limit = settings.raw_sample_rows

    def load() -> pd.DataFrame:
        frames = []
        taken = 0
        for frame in iter_table(found.path, found.spec, mode=mode, chunk_rows=limit):
            frames.append(frame)
            taken += len(frame)
            if taken >= limit:
                break
        if not frames:
            return pd.DataFrame(columns=found.spec.names)
        log.info("raw table %s: %d sample rows loaded from %s", found.name, min(taken, limit), found.path)
        return pd.concat(frames, ignore_index=True).head(limit)

    frame: pd.DataFrame = cache.get(("raw-sample", found.name, str(found.path), found.stamp, limit), load)
    return frame


def full(settings: Settings, cache: DataCache, name: str) -> pd.DataFrame | None:
    """A whole raw table (the application tables, for client look-ups), loaded once per file version.

    Raises:
        SchemaError: when the file does not match the table's specification.
    """
    found = table(settings, cache, name)
    if found is None:
        return None
    src = source(settings)
    mode: Mode = src.mode if src else "strict"

    def load() -> pd.DataFrame:
        frame = read_table(found.path, found.name, mode=mode)
        log.info("raw table %s: %d rows loaded whole from %s", found.name, len(frame), found.path)
        return frame.set_index(found.spec.key[0], drop=False) if found.spec.key else frame

    loaded: pd.DataFrame = cache.get(("raw-full", found.name, str(found.path), found.stamp), load)
    return loaded
