"""Synthetic Home Credit tables at any scale: the eight Kaggle files with the real schema and plausible content.

``generate(out_dir, applicants, seed)`` writes ``application_train.csv`` (with ``TARGET``, about 86 % of the
applicants), ``application_test.csv`` (the rest, in the Kaggle ratio 307,511 : 48,744) and the six side tables,
with the real columns, types, category levels and missing-value patterns (learned from the real rows, see
:mod:`~credit_local.synthetic.profile`), consistent keys (every side row joins), the real per-client
history sizes and coverage, the ``365243`` sentinels, and a default rate near 8 % driven by plausible features
(:mod:`~credit_local.synthetic.application`). At 356,255 applicants it reaches the full Kaggle sizes
(about 58.5 million side-table rows).

Applicants are generated in chunks of :data:`CHUNK_APPLICANTS`; each chunk appends its rows to all eight files,
so memory stays bounded whatever the scale. Each chunk and table draws from its own generator seeded by
``(seed, chunk, table)``: the output is a function of ``(applicants, seed)`` only. Files are written under a
temporary name and renamed when complete.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from credit_local.synthetic.application import application_rows, default_draw, traits
from credit_local.synthetic.history import bureau_tables, previous_table
from credit_local.synthetic.loans import credit_cards, pos_and_instalments
from credit_shared.homecredit.application import FULL_APPLICANTS, TARGET
from credit_shared.homecredit.schema import Kind, TableSpec
from credit_shared.homecredit.side_tables import BUREAU, BUREAU_BALANCE, CREDIT_CARD, INSTALMENTS, POS_CASH, PREVIOUS
from credit_shared.homecredit.tables import APPLICATION_TEST, APPLICATION_TRAIN, TABLES

logger = logging.getLogger(__name__)

Format = Literal["csv", "parquet"]
Progress = Callable[[int, int], None]
"""Called after each chunk with (applicants done, applicants in total)."""
Array = np.ndarray[Any, Any]

CHUNK_APPLICANTS: Final = 20_000
TEST_SHARE: Final = 48_744 / FULL_APPLICANTS
FIRST_CURR: Final = 100_002
FIRST_BUREAU: Final = 5_000_000
FIRST_PREV: Final = 1_000_000
MANIFEST: Final = "synthetic.json"
_STREAMS: Final = ("traits", "application", "split", "target", BUREAU, PREVIOUS, POS_CASH, CREDIT_CARD)


@dataclass(frozen=True, slots=True)
class SynthReport:
    """What :func:`generate` wrote."""

    out_dir: Path
    applicants: int
    seed: int
    format: Format
    rows: dict[str, int]
    files: dict[str, Path] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def side_rows(self) -> int:
        """Rows of the six side tables."""
        return sum(v for k, v in self.rows.items() if k not in (APPLICATION_TRAIN, APPLICATION_TEST))


def arrow_schema(spec: TableSpec) -> pa.Schema:
    """The Arrow schema a table is written with: strings, ``int64`` for required integers, else ``float64``."""

    def kind(column: Any) -> pa.DataType:
        if column.kind is Kind.CATEGORY:
            return pa.string()
        return pa.int64() if column.kind is Kind.INT and not column.nullable else pa.float64()

    return pa.schema([pa.field(c.name, kind(c), nullable=c.nullable) for c in spec.columns])


def to_arrow(spec: TableSpec, columns: dict[str, Array], rows: Array | None = None) -> pa.Table:
    """A table of generated columns (categories as level codes, ``-1`` = missing; numbers with NaN = missing)."""
    arrays = []
    for column in spec.columns:
        values = columns[column.name] if rows is None else columns[column.name][rows]
        if column.kind is Kind.CATEGORY:
            codes = pa.array(values.astype(np.int32), mask=values < 0)
            dictionary = pa.array(column.categories, pa.string())
            arrays.append(pa.DictionaryArray.from_arrays(codes, dictionary).dictionary_decode())
        elif column.kind is Kind.INT and not column.nullable:
            arrays.append(pa.array(values.astype(np.int64)))
        else:
            arrays.append(pa.array(values.astype(np.float64), from_pandas=True))
    return pa.Table.from_arrays(arrays, schema=arrow_schema(spec))


class _Writers:
    """One appending writer per table, writing to ``<file>.partial`` until :meth:`close` renames them."""

    def __init__(self, out_dir: Path, fmt: Format) -> None:
        self.out_dir = out_dir
        self.fmt = fmt
        self.rows = dict.fromkeys(TABLES, 0)
        self.paths = {name: out_dir / f"{name}.{fmt}" for name in TABLES}
        self.writers: dict[str, Any] = {}
        for name, path in self.paths.items():
            partial = path.with_name(path.name + ".partial")
            schema = arrow_schema(TABLES[name])
            if fmt == "csv":
                options = pacsv.WriteOptions(quoting_style="needed")
                self.writers[name] = pacsv.CSVWriter(str(partial), schema, write_options=options)
            else:
                self.writers[name] = pq.ParquetWriter(str(partial), schema, compression="zstd")

    def write(self, name: str, table: pa.Table) -> None:
        self.writers[name].write_table(table)
        self.rows[name] += table.num_rows

    def close(self, *, keep: bool) -> None:
        for name, writer in self.writers.items():
            writer.close()
            partial = self.paths[name].with_name(self.paths[name].name + ".partial")
            if keep:
                partial.replace(self.paths[name])
            else:
                partial.unlink(missing_ok=True)


def _generators(seed: int, chunk: int) -> dict[str, np.random.Generator]:
    return {
        name: np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, chunk, index])))
        for index, name in enumerate(_STREAMS)
    }


def _applications(rng: dict[str, np.random.Generator], first: int, n: int) -> tuple[dict[str, Array], Array, Array]:
    """One chunk's application columns with ``TARGET``, which rows go to ``application_test``, and the traits."""
    ids = FIRST_CURR + first + np.arange(n, dtype=np.int64)
    q, late = traits(rng["traits"], n)
    application, logit = application_rows(rng["application"], ids, q, late)
    test = rng["split"].random(n) < TEST_SHARE
    application[TARGET] = default_draw(rng["target"], logit)
    return application, test, late


def labels(applicants: int, seed: int = 0) -> dict[int, int]:
    """``SK_ID_CURR`` -> ``TARGET`` of every applicant of ``generate(out, applicants, seed)``, the test part's too.

    The generator draws every applicant's outcome and writes it for ``application_train`` only: this is the truth a
    lender learns later about the applicants the models never saw (``credit loans outcomes`` publishes it).
    """
    out: dict[int, int] = {}
    for chunk, first in enumerate(range(0, applicants, CHUNK_APPLICANTS)):
        application, _, _ = _applications(_generators(seed, chunk), first, min(CHUNK_APPLICANTS, applicants - first))
        out.update(zip(application["SK_ID_CURR"].tolist(), application[TARGET].tolist(), strict=True))
    return out


def _chunk(writers: _Writers, seed: int, chunk: int, first: int, n: int) -> None:
    rng = _generators(seed, chunk)
    application, test, late = _applications(rng, first, n)
    ids = application["SK_ID_CURR"]
    writers.write(APPLICATION_TRAIN, to_arrow(TABLES[APPLICATION_TRAIN], application, np.flatnonzero(~test)))
    writers.write(APPLICATION_TEST, to_arrow(TABLES[APPLICATION_TEST], application, np.flatnonzero(test)))
    del application

    bureau, balance = bureau_tables(rng[BUREAU], ids, late, FIRST_BUREAU + writers.rows[BUREAU])
    writers.write(BUREAU, to_arrow(TABLES[BUREAU], bureau))
    writers.write(BUREAU_BALANCE, to_arrow(TABLES[BUREAU_BALANCE], balance))
    del bureau, balance

    previous, owner, card = previous_table(rng[PREVIOUS], ids, late, FIRST_PREV + writers.rows[PREVIOUS])
    writers.write(PREVIOUS, to_arrow(TABLES[PREVIOUS], previous))
    pos, instalments = pos_and_instalments(rng[POS_CASH], previous, late[owner])
    writers.write(POS_CASH, to_arrow(TABLES[POS_CASH], pos))
    writers.write(INSTALMENTS, to_arrow(TABLES[INSTALMENTS], instalments))
    del pos, instalments
    cards, card_payments = credit_cards(rng[CREDIT_CARD], previous, card, late[owner])
    writers.write(CREDIT_CARD, to_arrow(TABLES[CREDIT_CARD], cards))
    writers.write(INSTALMENTS, to_arrow(TABLES[INSTALMENTS], card_payments))


def generate(
    out_dir: Path,
    applicants: int,
    seed: int = 0,
    *,
    fmt: Format = "csv",
    progress: Progress | None = None,
) -> SynthReport:
    """Write the eight synthetic tables into ``out_dir`` (created if needed; existing table files are replaced).

    Args:
        out_dir: the folder, laid out like the Kaggle download (``bureau.csv`` ...).
        applicants: applicants in total (train and test); 356,255 gives the full Kaggle sizes.
        seed: the seed; the same ``(applicants, seed)`` gives byte-identical files.
        fmt: ``csv`` (as Kaggle ships them) or ``parquet``.
        progress: called after each chunk with (applicants done, applicants in total).

    Returns:
        The row counts and files written.

    Raises:
        ValueError: when ``applicants`` is not positive.
    """
    if applicants < 1:
        raise ValueError(f"applicants must be positive, got {applicants}")
    started = time.perf_counter()
    out_dir.mkdir(parents=True, exist_ok=True)
    writers = _Writers(out_dir, fmt)
    ok = False
    try:
        for chunk, first in enumerate(range(0, applicants, CHUNK_APPLICANTS)):
            n = min(CHUNK_APPLICANTS, applicants - first)
            _chunk(writers, seed, chunk, first, n)
            if progress is not None:
                progress(first + n, applicants)
        ok = True
    finally:
        writers.close(keep=ok)
    seconds = time.perf_counter() - started
    report = SynthReport(out_dir, applicants, seed, fmt, dict(writers.rows), dict(writers.paths), seconds)
    manifest = {"applicants": applicants, "seed": seed, "format": fmt, "rows": report.rows, "generator": 1}
    (out_dir / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    logger.info("synthetic tables: %d applicants, %d side rows in %.1f s", applicants, report.side_rows, seconds)
    return report
