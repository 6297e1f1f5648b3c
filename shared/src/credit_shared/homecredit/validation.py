"""The pieces of table validation: the error type, header, value and key checks, and locating a CSV parse error.

Used by :mod:`credit_shared.homecredit.readers`; :class:`SchemaError` is the one exception callers catch.
"""

from __future__ import annotations

import csv
import gzip
import io
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from credit_shared.homecredit.application import TARGET
from credit_shared.homecredit.schema import Kind, TableSpec

_ID_COLUMNS = ("SK_ID_CURR", "SK_ID_BUREAU", "SK_ID_PREV")
MISSING = "is missing a value (it is never missing in the Kaggle data)"
_MONTH_BITS = 20  # a composite key packs (id, month) as id * 2**20 + month offset


class SchemaError(ValueError):
    """A table file does not match its specification.

    Attributes:
        table: the file (or table) name, as in the message.
        column: the column concerned, if any.
        row: the 1-based data row of the example (file line ``row + 1`` of a CSV), if any.
        key: the identifying columns of that row (``SK_ID_BUREAU=5714462``), if known.
    """

    def __init__(
        self,
        table: str,
        message: str,
        *,
        column: str | None = None,
        row: int | None = None,
        key: dict[str, Any] | None = None,
    ) -> None:
        self.table = table
        self.column = column
        self.row = row
        self.key = key or {}
        where = [f"row {row}"] if row is not None else []
        where.extend(f"{k}={v}" for k, v in self.key.items())
        suffix = f" ({', '.join(where)})" if where else ""
        super().__init__(f"{table}: {message}{suffix}")


def check_header(file_name: str, spec: TableSpec, present: list[str], tolerated: tuple[str, ...]) -> tuple[str, ...]:
    """Check a file's columns against the specification; return the tolerated absent columns.

    Raises:
        SchemaError: on a duplicated, extra or missing column.
    """
    seen: set[str] = set()
    for name in present:
        if name in seen:
            raise SchemaError(file_name, f"column {name} appears twice in the header", column=name)
        seen.add(name)
    extra = [c for c in present if c not in spec.by_name]
    if extra:
        raise SchemaError(file_name, f"unexpected column {extra[0]} (not in the {spec.name} schema)", column=extra[0])
    absent = [c for c in spec.names if c not in seen]
    missing = [c for c in absent if c not in tolerated]
    if missing:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise SchemaError(file_name, f"column {missing[0]} is missing{more}", column=missing[0])
    return tuple(absent)


def identifying_columns(spec: TableSpec) -> tuple[str, ...]:
    """The columns that identify a row in messages: the key, or the ids when there is no key."""
    return spec.key or tuple(c for c in _ID_COLUMNS if c in spec.by_name)


def _plain(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def example(batch: pa.RecordBatch, spec: TableSpec, row: int) -> dict[str, Any]:
    """The identifying values of one row of a batch (``{"SK_ID_BUREAU": 5714462}``)."""
    names = batch.schema.names
    return {c: _plain(batch.column(c)[row].as_py()) for c in identifying_columns(spec) if c in names}


def check_batch(path: Path, spec: TableSpec, batch: pa.RecordBatch, offset: int) -> dict[str, np.ndarray[Any, Any]]:
    """Validate one batch of a file (its first row is data row ``offset + 1``); return each column as numpy
    (category columns as codes, -1 = missing).

    Raises:
        SchemaError: on the first unknown category, missing required value, non-finite or non-integer number, or
            target other than 0 and 1.
    """
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
                raise _problem(path, spec, batch, name, f"has unknown category {value!r}", row=bad, offset=offset)
            values = codes.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int16)
            if not column.nullable and (values < 0).any():
                raise _problem(path, spec, batch, name, MISSING, row=int(np.flatnonzero(values < 0)[0]), offset=offset)
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
        raise _problem(path, spec, batch, name, MISSING, row=int(np.flatnonzero(missing)[0]), offset=offset)
    present = values[~missing]
    problems: list[tuple[np.ndarray[Any, Any], str]] = [(~np.isfinite(values) & ~missing, "must be finite")]
    if column.kind is Kind.INT and present.size and not np.array_equal(present, np.floor(present)):
        problems.append((~missing & (values != np.floor(values)), "must be an integer"))
    if name == TARGET:
        problems.append((~missing & (values != 0) & (values != 1), "must be 0 or 1"))
    for mask, what in problems:
        if mask.any():
            row = int(np.flatnonzero(mask)[0])
            raise _problem(path, spec, batch, name, f"{what}, got {float(values[row])!r}", row=row, offset=offset)


def _problem(
    path: Path, spec: TableSpec, batch: pa.RecordBatch, name: str, what: str, *, row: int, offset: int
) -> SchemaError:
    """The error about column ``name`` at ``row`` of the batch (``offset`` rows into the file)."""
    return SchemaError(
        path.name, f"column {name} {what}", column=name, row=offset + row + 1, key=example(batch, spec, row)
    )


def _first(mask: pa.ChunkedArray | pa.Array) -> int | None:
    values = np.asarray(mask.to_numpy(zero_copy_only=False), dtype=bool)
    hits = np.flatnonzero(values)
    return int(hits[0]) if hits.size else None


class KeyTracker:
    """Collects a table's keys batch by batch (8 bytes per row) and finds duplicates at the end.

    With ``tolerate_repeats`` (the ``sample`` mode) a key repeated with the same row (floats compared in single
    precision, so two serialisations of one value match) is counted in :attr:`repeated` instead of raising: the
    shared samples were assembled from several extracts and hold a few rows twice.
    """

    def __init__(self, file_name: str, spec: TableSpec, *, tolerate_repeats: bool = False) -> None:
        self.file_name = file_name
        self.spec = spec
        self.tolerate_repeats = tolerate_repeats
        self.parts: list[np.ndarray[Any, Any]] = []
        self.hashes: list[np.ndarray[Any, Any]] = []
        self.repeated = 0

    def add(self, columns: dict[str, np.ndarray[Any, Any]], offset: int) -> None:
        """Record the keys of one validated batch (numbers as float64 arrays, categories as int16 codes)."""
        if not self.spec.key:
            return
        first = columns[self.spec.key[0]].astype(np.int64)
        if self.tolerate_repeats:
            rounded = pd.DataFrame(
                {n: v.astype(np.float32) if v.dtype == np.float64 else v for n, v in columns.items()}
            )
            self.hashes.append(pd.util.hash_pandas_object(rounded, index=False).to_numpy())
        if len(self.spec.key) == 1:
            self.parts.append(first)
            return
        second = columns[self.spec.key[1]].astype(np.int64)
        limit = 1 << (_MONTH_BITS - 1)
        bad = np.flatnonzero((second < -limit) | (second >= limit) | (first < 0) | (first >= 1 << 42))
        if bad.size:
            row = int(bad[0])
            raise SchemaError(
                self.file_name,
                f"key ({first[row]}, {second[row]}) is out of the supported range",
                column=self.spec.key[1],
                row=offset + row + 1,
            )
        self.parts.append((first << _MONTH_BITS) + (second + limit))

    def finish(self) -> None:
        """Raise on the first duplicated key (in file order of its second occurrence).

        Raises:
            SchemaError: naming the key values and the rows of both occurrences.
        """
        if not self.parts:
            return
        ordered = np.concatenate(self.parts)
        ordered.sort()  # in place: the batches' arrays keep the file order for locating rows
        repeated = np.unique(ordered[1:][ordered[1:] == ordered[:-1]])
        del ordered
        if not repeated.size:
            self.parts = []
            return
        hashes = np.concatenate(self.hashes) if self.hashes else None
        first_seen: dict[int, int] = {}
        offset = 0
        for part in self.parts:
            for index in np.flatnonzero(np.isin(part, repeated)).tolist():
                self._check_repeat(int(part[index]), offset + index, first_seen, hashes)
            offset += part.size
        self.parts = []

    def _check_repeat(
        self, value: int, row: int, first_seen: dict[int, int], hashes: np.ndarray[Any, Any] | None
    ) -> None:
        if value not in first_seen:
            first_seen[value] = row
            return
        if hashes is not None and hashes[row] == hashes[first_seen[value]]:
            self.repeated += 1
            return
        raise SchemaError(
            self.file_name,
            f"duplicated key {self._describe(value)} (first at row {first_seen[value] + 1})",
            column=self.spec.key[0],
            row=row + 1,
        )

    def _describe(self, value: int) -> str:
        names = self.spec.key
        if len(names) == 1:
            values = [value]
        else:
            limit = 1 << (_MONTH_BITS - 1)
            values = [value >> _MONTH_BITS, (value & ((1 << _MONTH_BITS) - 1)) - limit]
        return ", ".join(f"{n}={v}" for n, v in zip(names, values, strict=True))


def _lines(path: Path) -> Iterator[bytes]:
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rb") as handle:
        yield from handle


def locate_csv_error(path: Path, spec: TableSpec, present: list[str], cause: Exception) -> SchemaError:
    """Find the row and column behind a pyarrow CSV error by re-reading the file slowly (error path only).

    Returns:
        A :class:`SchemaError` naming the row, the column and the offending value (or the cause's text when
        nothing more precise is found).
    """
    width = len(present)
    ids = [present.index(c) for c in identifying_columns(spec) if c in present]
    numeric = [
        (i, name)
        for i, name in enumerate(present)
        if name in spec.by_name and spec.by_name[name].kind is not Kind.CATEGORY
    ]
    for number, raw in enumerate(_lines(path)):
        if number == 0:
            continue
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            fields = next(csv.reader(io.StringIO(raw.decode("latin-1"))), [])
            column = _column_at(raw, exc.start, present)
            key = {present[i]: fields[i] for i in ids if i < len(fields)}
            return SchemaError(
                path.name,
                f"column {column} is not valid UTF-8 (byte {raw[exc.start]:#04x}; is the file latin-1 encoded?)",
                column=column,
                row=number,
                key=key,
            )
        fields = next(csv.reader(io.StringIO(text)), [])
        if not fields or (len(fields) == 1 and not fields[0].strip()):
            continue
        key = {present[i]: fields[i] for i in ids if i < len(fields)}
        if len(fields) != width:
            return SchemaError(path.name, f"line has {len(fields)} fields, expected {width}", row=number, key=key)
        for index, name in numeric:
            value = fields[index].strip()
            if value in {"", "NA", "NaN", "nan", "null", "NULL", "N/A", "-nan", "#N/A", "None"}:
                continue
            try:
                parsed = float(value)
            except ValueError:
                parsed = math.nan
            if math.isnan(parsed):
                expected = "an integer" if spec.by_name[name].kind is Kind.INT else "a number"
                return SchemaError(
                    path.name, f"column {name} must be {expected}, got {value!r}", column=name, row=number, key=key
                )
    return SchemaError(path.name, f"unreadable CSV: {cause}")


def _column_at(raw: bytes, position: int, present: list[str]) -> str:
    before = next(csv.reader(io.StringIO(raw[:position].decode("utf-8", errors="replace"))), [""])
    index = len(before) - 1
    return present[index] if 0 <= index < len(present) else "?"
