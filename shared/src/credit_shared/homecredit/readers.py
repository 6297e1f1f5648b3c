"""Read and validate the Home Credit tables (CSV as Kaggle ships them, gzipped CSV, or Parquet), in bounded memory.

Files are streamed in batches (``chunk_rows`` rows) with pyarrow, so a 27-million-row ``bureau_balance`` is
validated without loading it. Every problem raises a :class:`SchemaError` naming the file, the column and an
example row, e.g. ``bureau.csv: column CREDIT_ACTIVE has unknown category 'Foo' (row 17, SK_ID_BUREAU=5714462)``.
Rows are numbered from 1 for the first data row (file line 2 of a CSV).

Types in the frames returned: categories as ``pandas.Categorical`` with the full Kaggle levels; integer columns
that are never missing as ``int64``; every other number, including integer columns that may be missing, as
``float64`` (what pandas gives on the Kaggle files, and what the models take), integer-ness being validated.

Modes: ``strict`` (the default) wants exactly the columns of the specification; ``sample`` also accepts the
altered extract of the joinable sample (``previous_application_IMPUTED.csv`` without its two
``RATE_INTEREST_*`` columns, see :data:`~credit_shared.homecredit.tables.SAMPLE_MISSING_COLUMNS`); the absent
columns come back all-missing.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal

import numpy as np
import pandas as pd
import pyarrow as pa

from credit_shared.homecredit.file_batches import batches, is_parquet, present_columns
from credit_shared.homecredit.schema import Kind, TableSpec
from credit_shared.homecredit.tables import SAMPLE_FILE_NAMES, SAMPLE_MISSING_COLUMNS, TABLES, spec_for_file
from credit_shared.homecredit.validation import KeyTracker, SchemaError, check_batch, check_header, locate_csv_error

logger = logging.getLogger(__name__)

Mode = Literal["strict", "sample"]
CHUNK_ROWS: Final = 250_000
SUFFIXES: Final = (".parquet", ".csv", ".csv.gz")

__all__ = [
    "CHUNK_ROWS",
    "Mode",
    "SchemaError",
    "TableReport",
    "find_table_file",
    "iter_table",
    "read_table",
    "validate_folder",
    "validate_table",
]


@dataclass(frozen=True, slots=True)
class TableReport:
    """What a validation found in one file."""

    table: str
    path: Path
    rows: int
    columns: int
    absent_columns: tuple[str, ...] = ()
    repeated_rows: int = 0
    missing_share: dict[str, float] = field(default_factory=dict)


def find_table_file(data_dir: Path, table: str, *, mode: Mode = "strict") -> Path:
    """The file of ``table`` in ``data_dir``: ``<table>.parquet``, ``<table>.csv`` or ``<table>.csv.gz``.

    In ``sample`` mode the sample's altered extracts (``previous_application_IMPUTED.csv``) are accepted too.

    Raises:
        KeyError: when ``table`` is not a Home Credit table.
        SchemaError: when no file of the table exists.
    """
    if table not in TABLES:
        raise KeyError(f"unknown table {table!r} (known: {', '.join(TABLES)})")
    names = [f"{table}{suffix}" for suffix in SUFFIXES]
    if mode == "sample":
        names.extend(SAMPLE_FILE_NAMES.get(table, ()))
    for name in names:
        if (data_dir / name).is_file():
            return data_dir / name
    raise SchemaError(table, f"table is missing: none of {', '.join(names)} in {data_dir}")


def _frame(
    spec: TableSpec, columns: dict[str, np.ndarray[Any, Any]], absent: tuple[str, ...], rows: int
) -> pd.DataFrame:
    data: dict[str, Any] = {}
    for column in spec.columns:
        values = columns.get(column.name)
        if column.kind is Kind.CATEGORY:
            codes = values if values is not None else np.full(rows, -1, np.int16)
            data[column.name] = pd.Categorical.from_codes(codes, dtype=pd.CategoricalDtype(list(column.categories)))
        elif values is None:
            data[column.name] = np.full(rows, np.nan)
        elif column.kind is Kind.INT and not column.nullable:
            data[column.name] = values.astype(np.int64)
        else:
            data[column.name] = values
    if absent:
        logger.debug("%s: columns %s absent, filled as missing", spec.name, ", ".join(absent))
    return pd.DataFrame(data)


def iter_table(
    path: Path,
    spec: TableSpec | None = None,
    *,
    mode: Mode = "strict",
    chunk_rows: int = CHUNK_ROWS,
) -> Iterator[pd.DataFrame]:
    """Stream a table file as validated, typed frames of at most about ``chunk_rows`` rows.

    The duplicate-key check needs every key, so it runs after the last batch: a consumer that stops early
    skips it. Memory: one batch plus 8 bytes per row for the keys (16 in ``sample`` mode).

    Args:
        path: a ``.csv``, ``.csv.gz`` or ``.parquet`` file.
        spec: the table's specification; by default the one named by the file.
        mode: ``strict``, or ``sample`` (tolerates the documented absent columns of the sample's extracts and
            rows the sample holds twice).
        chunk_rows: rows per batch (CSV batches are cut by bytes, so about this many).

    Raises:
        SchemaError: on the first problem found (missing or extra column, wrong type, unknown category,
            missing required value, duplicated key, invalid UTF-8, malformed line).
    """
    spec = spec or spec_for_file(path.name)
    yield from _stream(path, spec, mode, chunk_rows, KeyTracker(path.name, spec, tolerate_repeats=mode == "sample"))


def _stream(path: Path, spec: TableSpec, mode: Mode, chunk_rows: int, keys: KeyTracker) -> Iterator[pd.DataFrame]:
    if not path.is_file():
        raise SchemaError(path.name, f"table is missing: no file {path}")
    present = present_columns(path)
    tolerated = SAMPLE_MISSING_COLUMNS.get(spec.name, ()) if mode == "sample" else ()
    absent = check_header(path.name, spec, present, tolerated)
    offset = 0
    try:
        for batch in batches(path, spec, present, chunk_rows):
            columns = check_batch(path, spec, batch, offset)
            keys.add(columns, offset)
            offset += batch.num_rows
            yield _frame(spec, columns, absent, batch.num_rows)
    except pa.ArrowInvalid as exc:
        if is_parquet(path):
            raise SchemaError(path.name, f"unreadable Parquet file: {exc}") from exc
        raise locate_csv_error(path, spec, present, exc) from exc
    keys.finish()


def read_table(
    source: Path, table: str | None = None, *, mode: Mode = "strict", chunk_rows: int = CHUNK_ROWS
) -> pd.DataFrame:
    """Read and validate a whole table into memory (for the samples and tests; stream big files instead).

    Args:
        source: a data folder (then ``table`` is required) or a table file.
        table: the table name (``bureau``, ``POS_CASH_balance`` ...) when ``source`` is a folder.
        mode: ``strict`` or ``sample`` (in which a row held twice is kept once).
        chunk_rows: rows per streamed batch.

    Raises:
        SchemaError: see :func:`iter_table`.
    """
    if source.is_dir():
        if table is None:
            raise ValueError("a table name is needed to read from a folder")
        path = find_table_file(source, table, mode=mode)
    else:
        path = source
    spec = TABLES[table] if table is not None else spec_for_file(path.name)
    frames = list(iter_table(path, spec, mode=mode, chunk_rows=chunk_rows))
    if not frames:  # a file with a header and no rows: the typed, empty frame
        return _frame(spec, {}, (), 0)
    frame = frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)
    if mode == "sample" and spec.key:
        frame = frame.drop_duplicates(list(spec.key), ignore_index=True)
    return frame


def validate_table(
    path: Path, spec: TableSpec | None = None, *, mode: Mode = "strict", chunk_rows: int = CHUNK_ROWS
) -> TableReport:
    """Validate a table file by streaming it (bounded memory); nothing is kept but counts.

    Raises:
        SchemaError: see :func:`iter_table`.
    """
    spec = spec or spec_for_file(path.name)
    keys = KeyTracker(path.name, spec, tolerate_repeats=mode == "sample")
    rows = 0
    missing: dict[str, int] = {}
    for frame in _stream(path, spec, mode, chunk_rows, keys):
        rows += len(frame)
        for name, count in frame.isna().sum().items():
            missing[str(name)] = missing.get(str(name), 0) + int(count)
    absent = tuple(c for c in spec.names if c not in present_columns(path))
    share = {name: count / rows for name, count in missing.items()} if rows else {}
    return TableReport(spec.name, path, rows, len(spec.columns), absent, keys.repeated, share)


def validate_folder(
    data_dir: Path, *, mode: Mode = "strict", tables: tuple[str, ...] | None = None, chunk_rows: int = CHUNK_ROWS
) -> dict[str, TableReport]:
    """Validate every table of a data folder (all eight by default).

    Raises:
        SchemaError: for the first table with a problem (a missing table included).
    """
    return {
        name: validate_table(find_table_file(data_dir, name, mode=mode), TABLES[name], mode=mode, chunk_rows=chunk_rows)
        for name in tables or tuple(TABLES)
    }
