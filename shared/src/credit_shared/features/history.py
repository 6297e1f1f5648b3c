"""History features: the side-table aggregates of :mod:`credit_shared.features.spec`, computed by DuckDB.

DuckDB runs the aggregations as SQL straight over the CSV or Parquet files, on ``threads`` cores, within
``memory_limit`` (spilling to a temporary folder beyond it), so the full Kaggle data (58.5 million side rows) is
aggregated in bounded memory. Per table: one query for the numeric aggregates (and one per subset, e.g. active
credits), one count per category column from which the shares are computed with numpy. The results are written
straight into one float64 matrix (a single pandas block, no copy). The plain-pandas reference in
``tests/oracle`` computes the same values.
"""

from __future__ import annotations

import logging
import tempfile
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Final, TypedDict, Unpack

import duckdb
import numpy as np
import pandas as pd

from credit_shared.features.history_sql import (
    ROW_COUNT,
    bureau_balance_sql,
    is_computed_dummy,
    level_count_name,
    level_counts_sql,
    lit,
    numeric_aggregates,
    numeric_sql,
    rows_sql,
)
from credit_shared.features.sources import Source, register_tables
from credit_shared.features.spec import HISTORY_AGGREGATES, HISTORY_COLUMNS, TABLE_LEVELS, Aggregate
from credit_shared.homecredit.application import ID
from credit_shared.homecredit.side_tables import BUREAU, BUREAU_BALANCE, CREDIT_CARD, INSTALMENTS, POS_CASH, PREVIOUS

log = logging.getLogger(__name__)

FAMILIES: Final = (BUREAU, PREVIOUS, POS_CASH, INSTALMENTS, CREDIT_CARD)
SUBSETS: Final = {BUREAU: ("Active", "Closed"), PREVIOUS: ("Approved", "Refused")}
MATERIALISED: Final = (BUREAU, PREVIOUS)  # scanned many times (subsets, many category columns): kept as tables
Progress = Callable[[str, float], None]


class HistoryOptions(TypedDict, total=False):
    """How the history aggregation runs (the keyword arguments of :func:`fill_history`, defaults there)."""

    memory_limit: str
    threads: int
    temp_dir: Path | None
    progress: Progress | None


class FeatureMatrix:
    """Feature columns of many clients in one (columns x clients) float64 matrix, NaN until written.

    The matrix becomes a DataFrame's single float block without a copy, which matters at 356,255 x 700.

    Args:
        ids: the clients (rows), unique; ``None``: the clients written, sorted (rows are then kept until
            :meth:`frame`).
        columns: the float columns, in order.
    """

    def __init__(self, ids: Sequence[int] | np.ndarray | None, columns: Sequence[str] = HISTORY_COLUMNS) -> None:
        self.columns = list(columns)
        self.column_index = {name: i for i, name in enumerate(self.columns)}
        self.ids = None if ids is None else np.asarray(ids, dtype="int64")
        self.pending: list[tuple[np.ndarray, dict[str, np.ndarray]]] = []
        self.values: np.ndarray | None = None
        self.index: pd.Index | None = None
        if self.ids is not None:
            self._allocate(self.ids)

    def _allocate(self, ids: np.ndarray) -> None:
        self.index = pd.Index(ids)
        if not self.index.is_unique:
            raise ValueError(f"ids: {ID} values must be unique")
        self.values = np.full((len(self.columns), len(ids)), np.nan)

    def add(self, clients: np.ndarray, columns: dict[str, np.ndarray]) -> None:
        """Write the values of ``columns`` for ``clients`` (clients outside the matrix's ids are ignored)."""
        if self.values is None:
            self.pending.append((clients, columns))
            return
        assert self.index is not None
        positions = self.index.get_indexer(pd.Index(clients))
        keep = positions >= 0
        rows = positions[keep]
        for name, values in columns.items():
            self.values[self.column_index[name], rows] = values[keep]

    def frame(self) -> pd.DataFrame:
        """``SK_ID_CURR`` then the columns, sharing the matrix's memory."""
        if self.values is None:
            clients = [c for c, _ in self.pending]
            self.ids = np.unique(np.concatenate(clients)) if clients else np.empty(0, dtype="int64")
            self._allocate(self.ids)
            pending, self.pending = self.pending, []
            for clients_, columns in pending:
                self.add(clients_, columns)
        assert self.values is not None
        assert self.ids is not None
        features = pd.DataFrame(self.values.T, columns=self.columns, copy=False)
        features.insert(0, ID, self.ids)
        return features


def _numbers(table: duckdb.DuckDBPyRelation, names: list[str]) -> dict[str, np.ndarray]:
    arrow = table.to_arrow_table()
    return {n: arrow.column(n).to_numpy(zero_copy_only=False).astype("float64", copy=False) for n in names}


def _counts_by_group(table: str, column: str, clients: np.ndarray, counts: duckdb.DuckDBPyRelation) -> np.ndarray:
    """Rows per (client, level) from a ``GROUP BY client, level`` count; last column: missing or unknown."""
    levels = TABLE_LEVELS[table][column]
    arrow = counts.to_arrow_table()
    codes = pd.Categorical(arrow.column("level").to_pandas(), categories=list(levels)).codes.astype("int64")
    codes[codes < 0] = len(levels)  # missing or unknown value: the missing-value indicator
    owner = pd.Index(clients).get_indexer(pd.Index(arrow.column(ID).to_numpy()))
    per_level = np.zeros((len(clients), len(levels) + 1))
    np.add.at(per_level, (owner, codes), arrow.column("n").to_numpy().astype("float64"))
    return per_level


def _counts_from_columns(table: str, column: str, main: dict[str, np.ndarray], rows: np.ndarray) -> np.ndarray:
    """Rows per (client, level) from the filtered counts of the main query; last column: the rest."""
    levels = TABLE_LEVELS[table][column]
    known = np.column_stack([main.pop(level_count_name(column, i)) for i in range(len(levels))])
    return np.column_stack([known, rows - known.sum(axis=1)])


def _level_columns(table: str, column: str, per_level: np.ndarray, rows: np.ndarray) -> dict[str, np.ndarray]:
    """Aggregates of the indicators of one category column, from the rows per client and level."""
    levels = TABLE_LEVELS[table][column]
    out: dict[str, np.ndarray] = {}
    with np.errstate(divide="ignore", invalid="ignore"):
        for agg in _indicator_aggregates(table, column):
            assert agg.dummy is not None
            k = per_level[:, len(levels) if agg.dummy[1] is None else levels.index(agg.dummy[1])]
            out[agg.name] = _indicator_value(agg.func, k, rows)
    return out


def _indicator_aggregates(table: str, column: str) -> list[Aggregate]:
    return [
        a
        for a in HISTORY_AGGREGATES
        if a.table == table and is_computed_dummy(a) and a.dummy is not None and a.dummy[0] == column
    ]


def _indicator_value(func: str, k: np.ndarray, n: np.ndarray) -> np.ndarray:
    """``func`` of a 0/1 indicator that is 1 on ``k`` of a client's ``n`` rows."""
    match func:
        case "mean":
            share: np.ndarray = k / n
            return share
        case "sum":
            return k
        case "min":
            return np.asarray(k == n, dtype="float64")
        case "max":
            return np.asarray(k > 0, dtype="float64")
        case "var":  # sample variance of k ones and n - k zeros
            out: np.ndarray = np.where(n > 1, k * (n - k) / (n * (n - 1)), np.nan)
            return out
        case _:  # pragma: no cover - the spec only uses the functions above
            raise ValueError(f"no indicator aggregate {func!r}")


def _connect(memory_limit: str, threads: int, temp_dir: Path) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(config={"threads": threads, "memory_limit": memory_limit})
    con.execute(f"SET temp_directory = {lit(str(temp_dir))}")
    con.execute("SET preserve_insertion_order = false")
    return con


def history_features(
    source: Source, ids: Sequence[int] | np.ndarray | None = None, **options: Unpack[HistoryOptions]
) -> pd.DataFrame:
    """The history aggregates of every client, from the six side tables.

    Args:
        source: a folder with the side-table files (``bureau.csv`` or ``bureau.parquet`` ...), a mapping table name
            -> file, or a DuckDB connection holding relations named like the tables (``bureau``,
            ``bureau_balance``, ``previous_application``, ``POS_CASH_balance``, ``installments_payments``,
            ``credit_card_balance``).
        ids: the clients wanted, in the order wanted (a client without history gets a row of NaN). ``None``: every
            client with at least one side row, sorted by id.
        **options: how the aggregation runs (:class:`HistoryOptions`): ``memory_limit``, the DuckDB memory limit when
            this function opens the connection (``"3GB"``); ``threads``, its DuckDB threads (2); ``temp_dir``, where
            DuckDB spills beyond the memory limit (a fresh temporary folder); ``progress``, called as
            ``progress(stage, share_done)`` after each stage (``bureau_balance``, ``bureau``,
            ``previous_application``, ``POS_CASH_balance``, ``installments_payments``, ``credit_card_balance``).

    Returns:
        ``SK_ID_CURR`` (int64) then :data:`HISTORY_COLUMNS` (float64), always the same columns in the same order.

    A side table without a file (or absent from the mapping) counts as empty: its features are missing for every
    client (:func:`~credit_shared.features.sources.present_tables` says which tables a folder lacks).

    Raises:
        ValueError: when a table lacks its key column.
        duckdb.Error: when a file cannot be parsed (the message names the file, line and column).
    """
    matrix = FeatureMatrix(ids)
    fill_history(matrix, source, **options)
    return matrix.frame()


def fill_history(
    matrix: FeatureMatrix,
    source: Source,
    *,
    memory_limit: str = "3GB",
    threads: int = 2,
    temp_dir: Path | None = None,
    progress: Progress | None = None,
) -> None:
    """Compute the history aggregates into ``matrix`` (which must have every history column).

    Arguments as :func:`history_features`; used directly by the batch build to fill one matrix with everything.
    """
    missing = [c for c in HISTORY_COLUMNS if c not in matrix.column_index]
    if missing:
        raise ValueError(f"the feature matrix lacks history columns, e.g. {missing[0]}")
    with tempfile.TemporaryDirectory(prefix="credit-features-") as fresh:
        if isinstance(source, duckdb.DuckDBPyConnection):
            _run(source, source, matrix, progress)
            return
        con = _connect(memory_limit, threads, temp_dir or Path(fresh))
        try:
            _run(con, source, matrix, progress)
        finally:
            con.close()


def _run(con: duckdb.DuckDBPyConnection, source: Source, assembler: FeatureMatrix, progress: Progress | None) -> None:
    prefix = f"hf_{uuid.uuid4().hex[:8]}_"
    stages = [BUREAU_BALANCE, *FAMILIES]
    created: list[str] = []

    def done(stage: str) -> None:
        log.info("history features: %s done", stage)
        if progress is not None:
            progress(stage, (stages.index(stage) + 1) / len(stages))

    try:
        register_tables(con, source, prefix)
        con.execute(bureau_balance_sql(prefix))
        created.append(f"{prefix}bb_credit")
        done(BUREAU_BALANCE)
        for table in FAMILIES:
            relation = f"{prefix}rows_{table}"
            kind = "TABLE" if table in MATERIALISED else "VIEW"
            con.execute(f'CREATE TEMP {kind} "{relation}" AS {rows_sql(table, prefix)}')
            try:
                _family(con, table, relation, assembler)
            finally:
                con.execute(f'DROP {kind} IF EXISTS "{relation}"')
            done(table)
    finally:
        for name in created:
            con.execute(f'DROP TABLE IF EXISTS "{name}"')


def _family(con: duckdb.DuckDBPyConnection, table: str, relation: str, assembler: FeatureMatrix) -> None:
    """Every aggregate of one table, written into the assembler."""
    # A table read once (a view over the file) counts its levels in the same scan; a materialised one groups.
    inline = table not in MATERIALISED
    names = [a.name for a in numeric_aggregates(table, None)]
    if inline:
        names += [level_count_name(c, i) for c, levels in TABLE_LEVELS[table].items() for i in range(len(levels))]
    main = _numbers(con.sql(numeric_sql(table, relation, None, level_counts=inline)), [ID, ROW_COUNT, *names])
    clients, rows = main.pop(ID).astype("int64"), main.pop(ROW_COUNT)
    for column in TABLE_LEVELS[table]:
        if inline:
            per_level = _counts_from_columns(table, column, main, rows)
        else:
            per_level = _counts_by_group(table, column, clients, con.sql(level_counts_sql(relation, column)))
        assembler.add(clients, _level_columns(table, column, per_level, rows))
    assembler.add(clients, main)
    for subset in SUBSETS.get(table, ()):
        names = [a.name for a in numeric_aggregates(table, subset)]
        part = _numbers(con.sql(numeric_sql(table, relation, subset)), [ID, *names])
        assembler.add(part.pop(ID).astype("int64"), part)
