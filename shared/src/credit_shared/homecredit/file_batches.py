"""A table file as Arrow batches of the specification's columns: categories as strings, every number as float64.

CSV files (plain or gzipped) are cut into batches by bytes, sized from the line length of the file's first
megabyte; Parquet files are read by row groups and cast, refusing a column whose Parquet type cannot hold the
specification's kind.
"""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from credit_shared.homecredit.schema import Kind, TableSpec
from credit_shared.homecredit.validation import SchemaError


def is_parquet(path: Path) -> bool:
    """The file is Parquet (else CSV, maybe gzipped)."""
    return path.name.endswith(".parquet")


def present_columns(path: Path) -> list[str]:
    """The column names the file holds (a CSV's header line, a Parquet file's schema).

    Raises:
        SchemaError: when a CSV header is not valid UTF-8.
    """
    if is_parquet(path):
        return list(pq.ParquetFile(path).schema_arrow.names)
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rb") as stream:
        first = stream.readline()
    try:
        line = first.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SchemaError(path.name, f"header is not valid UTF-8 ({exc.reason} at byte {exc.start})") from exc
    return [c.strip().strip('"') for c in line.rstrip("\r\n").split(",")]


def batches(path: Path, spec: TableSpec, present: list[str], chunk_rows: int) -> Iterator[pa.RecordBatch]:
    """The file's batches of about ``chunk_rows`` rows, with the specification's columns among ``present``.

    Raises:
        SchemaError: when a Parquet column has a type that cannot hold its kind.
    """
    if is_parquet(path):
        return _parquet_batches(path, spec, present, chunk_rows)
    return _csv_batches(path, spec, present, chunk_rows)


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
