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

import gzip
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from credit_shared.homecredit.application import TARGET
from credit_shared.homecredit.schema import Kind, TableSpec
from credit_shared.homecredit.tables import SAMPLE_FILE_NAMES, SAMPLE_MISSING_COLUMNS, TABLES, spec_for_file
from credit_shared.homecredit.validation import (
    KeyTracker,
    SchemaError,
    check_header,
    example,
    locate_csv_error,
)

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


def _is_parquet(path: Path) -> bool:
    return path.name.endswith(".parquet")


def _present_columns(path: Path) -> list[str]:
    if _is_parquet(path):
        return list(pq.ParquetFile(path).schema_arrow.names)
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rb") as stream:
        first = stream.readline()
    try:
        line = first.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SchemaError(path.name, f"header is not valid UTF-8 ({exc.reason} at byte {exc.start})") from exc
    return [c.strip().strip('"') for c in line.rstrip("\r\n").split(",")]


def _block_size(path: Path, chunk_rows: int) -> int:
    """Bytes per CSV batch for about ``chunk_rows`` rows, from the line length of the file's first megabyte."""
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rb") as stream:
        head = stream.read(1 << 20)
    line = len(head) / max(head.count(b"\n"), 1)
    return int(min(max(chunk_rows * line, 1 << 14), 1 << 26))


def _csv_batches(path: Path, spec: TableSpec, present: list[str], chunk_rows: int) -> Iterator[pa.RecordBatch]:
    types = {
        c.name: pa.string() if c.kind is Kind.CATEGORY else pa.float64() for c in spec.columns if c.name in present
    }
    reader = pacsv.open_csv(
        str(path),
        read_options=pacsv.ReadOptions(block_size=_block_size(path, chunk_rows)),
        convert_options=pacsv.ConvertOptions(column_types=types, strings_can_be_null=True, include_columns=list(types)),
    )
    yield from reader


def _parquet_batches(path: Path, spec: TableSpec, present: list[str], chunk_rows: int) -> Iterator[pa.RecordBatch]:
    file = pq.ParquetFile(path)
    schema = file.schema_arrow
    wanted = [c for c in spec.columns if c.name in present]
    for column in wanted:
        kind = schema.field(column.name).type
        if pa.types.is_dictionary(kind):
            kind = kind.value_type
        numeric = pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_null(kind)
        text = pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_null(kind)
        if (column.kind is Kind.CATEGORY and not text) or (column.kind is not Kind.CATEGORY and not numeric):
            expected = "strings" if column.kind is Kind.CATEGORY else "numbers"
            raise SchemaError(path.name, f"column {column.name} has Parquet type {kind}, expected {expected}")
    for batch in file.iter_batches(batch_size=chunk_rows, columns=[c.name for c in wanted]):
        arrays = [
            pc.cast(batch.column(c.name), pa.string() if c.kind is Kind.CATEGORY else pa.float64()) for c in wanted
        ]
        yield pa.RecordBatch.from_arrays(arrays, names=[c.name for c in wanted])


def _check_batch(path: Path, spec: TableSpec, batch: pa.RecordBatch, offset: int) -> dict[str, np.ndarray[Any, Any]]:
    """Validate one batch; return each column as numpy (category columns as codes, -1 = missing)."""
    out: dict[str, np.ndarray[Any, Any]] = {}
    for name in batch.schema.names:
        column = spec.by_name[name]
        array = batch.column(name)
        if column.kind is Kind.CATEGORY:
            codes = pc.index_in(array, value_set=pa.array(column.categories, pa.string()))
            unknown = pc.and_(pc.is_null(codes), pc.is_valid(array))
            bad = _first(unknown)
            if bad is not None:
                value = array[bad].as_py()
                raise SchemaError(
                    path.name,
                    f"column {name} has unknown category {value!r}",
                    column=name,
                    row=offset + bad + 1,
                    key=example(batch, spec, bad),
                )
            values = codes.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int16)
            if not column.nullable and (values < 0).any():
                _raise_missing(path, spec, batch, name, row=int(np.flatnonzero(values < 0)[0]), offset=offset)
        else:
            values = array.to_numpy(zero_copy_only=False).astype(np.float64, copy=False)
            _check_numbers(path, spec, batch, name, values=values, offset=offset)
        out[name] = values
    return out


def _check_numbers(
    path: Path, spec: TableSpec, batch: pa.RecordBatch, name: str, *, values: np.ndarray[Any, Any], offset: int
) -> None:
    column = spec.by_name[name]
    missing = np.isnan(values)
    if not column.nullable and missing.any():
        _raise_missing(path, spec, batch, name, row=int(np.flatnonzero(missing)[0]), offset=offset)
    present = values[~missing]
    problems: list[tuple[np.ndarray[Any, Any], str]] = [(~np.isfinite(values) & ~missing, "must be finite")]
    if column.kind is Kind.INT and present.size and not np.array_equal(present, np.floor(present)):
        problems.append((~missing & (values != np.floor(values)), "must be an integer"))
    if name == TARGET:
        problems.append((~missing & (values != 0) & (values != 1), "must be 0 or 1"))
    for mask, what in problems:
        if mask.any():
            row = int(np.flatnonzero(mask)[0])
            raise SchemaError(
                path.name,
                f"column {name} {what}, got {float(values[row])!r}",
                column=name,
                row=offset + row + 1,
                key=example(batch, spec, row),
            )


def _raise_missing(path: Path, spec: TableSpec, batch: pa.RecordBatch, name: str, *, row: int, offset: int) -> None:
    raise SchemaError(
        path.name,
        f"column {name} is missing a value (it is never missing in the Kaggle data)",
        column=name,
        row=offset + row + 1,
        key=example(batch, spec, row),
    )


def _first(mask: pa.ChunkedArray | pa.Array) -> int | None:
    values = np.asarray(mask.to_numpy(zero_copy_only=False), dtype=bool)
    hits = np.flatnonzero(values)
    return int(hits[0]) if hits.size else None


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
    present = _present_columns(path)
    tolerated = SAMPLE_MISSING_COLUMNS.get(spec.name, ()) if mode == "sample" else ()
    absent = check_header(path.name, spec, present, tolerated)
    if _is_parquet(path):
        batches = _parquet_batches(path, spec, present, chunk_rows)
    else:
        batches = _csv_batches(path, spec, present, chunk_rows)
    offset = 0
    try:
        for batch in batches:
            columns = _check_batch(path, spec, batch, offset)
            keys.add(columns, offset)
            offset += batch.num_rows
            yield _frame(spec, columns, absent, batch.num_rows)
    except pa.ArrowInvalid as exc:
        if _is_parquet(path):
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
    absent = tuple(c for c in spec.names if c not in _present_columns(path))
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
