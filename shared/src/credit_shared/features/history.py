"""History features: the side-table aggregates of :mod:`credit_shared.features.spec`, computed by DuckDB.

The SQL is generated from the feature specification only (identifiers from constants, file paths quoted as
literals), never from user text, hence the ``S608`` exemptions below.

DuckDB runs the aggregations as SQL straight over the CSV or Parquet files, on ``threads`` cores, within
``memory_limit`` (spilling to a temporary folder beyond it), so the full Kaggle data (58.5 million side rows) is
aggregated in bounded memory. One query per table family, materialised as a temporary table; then one join on the
requested clients. The plain-pandas reference in ``tests/oracle`` computes the same values.
"""

from __future__ import annotations

import logging
import tempfile
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Final

import duckdb
import numpy as np
import pandas as pd

from credit_shared.features.levels import BUREAU_BALANCE_LEVELS, dummy_name
from credit_shared.features.sources import Source, register_tables
from credit_shared.features.spec import (
    BUREAU,
    BUREAU_BALANCE,
    BUREAU_BALANCE_DUMMIES,
    CREDIT_CARD,
    HISTORY_AGGREGATES,
    HISTORY_COLUMNS,
    INSTALMENTS,
    POS_CASH,
    PREVIOUS,
    PREVIOUS_DAYS,
    SENTINEL,
    TABLE_LEVELS,
    Aggregate,
)
from credit_shared.homecredit.application import ID

log = logging.getLogger(__name__)

SUBSET_COLUMN: Final = {BUREAU: "CREDIT_ACTIVE", PREVIOUS: "NAME_CONTRACT_STATUS"}
FAMILIES: Final = (BUREAU, PREVIOUS, POS_CASH, INSTALMENTS, CREDIT_CARD)
Progress = Callable[[str, float], None]


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _dummy_sql(column: str, level: str | None, levels: tuple[str, ...]) -> str:
    if level is not None:
        return f"""(CASE WHEN "{column}" = {_lit(level)} THEN 1.0 ELSE 0.0 END)"""
    known = ", ".join(_lit(v) for v in levels)
    return f"""(CASE WHEN "{column}" IS NULL OR "{column}" NOT IN ({known}) THEN 1.0 ELSE 0.0 END)"""


def aggregate_sql(agg: Aggregate, levels: dict[str, tuple[str, ...]]) -> str:
    """The SQL expression of one aggregate over the rows of its table's family relation."""
    if agg.dummy is not None and agg.column == dummy_name(*agg.dummy):  # an indicator computed on the fly
        value = _dummy_sql(agg.dummy[0], agg.dummy[1], levels[agg.dummy[0]])
    else:
        value = f'"{agg.column}"'
    where = ""
    if agg.subset is not None:
        where = f' FILTER (WHERE "{SUBSET_COLUMN[agg.table]}" = {_lit(agg.subset)})'
    rows = f"count(*){where}"
    match agg.func:
        case "min" | "max":
            expr = f"{agg.func}({value}){where}"
        case "mean":
            expr = f"avg({value}){where}"
        case "var":
            expr = f"var_samp({value}){where}"
        case "sum":  # as pandas: 0 for a client whose rows are all missing, missing for a client without rows
            expr = f"coalesce(sum({value}){where}, 0)"
        case "size":
            expr = rows
        case "nunique":
            expr = f"count(DISTINCT {value}){where}"
        case _:  # pragma: no cover - the spec only uses the functions above
            raise ValueError(f"unknown aggregate function {agg.func!r} in {agg.name}")
    if agg.subset is not None and agg.func in ("sum", "size", "nunique"):
        expr = f"(CASE WHEN {rows} > 0 THEN {expr} END)"
    return f'CAST({expr} AS DOUBLE) AS "{agg.name}"'


def _family_rows(table: str, prefix: str) -> str:
    """The rows one family aggregates: the typed table plus its derived columns."""
    v = f'"{prefix}{table}"'
    if table == BUREAU:
        return f'SELECT b.*, c.* EXCLUDE (SK_ID_BUREAU) FROM {v} b LEFT JOIN "{prefix}bb_credit" c USING (SK_ID_BUREAU)'  # noqa: S608
    if table == PREVIOUS:
        days = ", ".join(f'(CASE WHEN "{c}" = {SENTINEL} THEN NULL ELSE "{c}" END) AS "{c}"' for c in PREVIOUS_DAYS)
        return f"SELECT * REPLACE ({days}), AMT_APPLICATION / NULLIF(AMT_CREDIT, 0) AS APP_CREDIT_PERC FROM {v}"  # noqa: S608
    if table == INSTALMENTS:
        late = "DAYS_ENTRY_PAYMENT - DAYS_INSTALMENT"
        early = "DAYS_INSTALMENT - DAYS_ENTRY_PAYMENT"
        return (
            f"SELECT *, AMT_PAYMENT / NULLIF(AMT_INSTALMENT, 0) AS PAYMENT_PERC,"  # noqa: S608
            f" AMT_INSTALMENT - AMT_PAYMENT AS PAYMENT_DIFF,"
            f" (CASE WHEN {late} > 0 THEN {late} WHEN {late} <= 0 THEN 0.0 END) AS DPD,"
            f" (CASE WHEN {early} > 0 THEN {early} WHEN {early} <= 0 THEN 0.0 END) AS DBD FROM {v}"
        )
    return f"SELECT * FROM {v}"  # noqa: S608


def _bureau_balance_sql(prefix: str) -> str:
    levels = BUREAU_BALANCE_LEVELS["STATUS"]
    shares = ", ".join(
        f'avg({_dummy_sql(column, level, levels)}) AS "{name}_MEAN"' for name, column, level in BUREAU_BALANCE_DUMMIES
    )
    return (
        f'CREATE TEMP TABLE "{prefix}bb_credit" AS SELECT SK_ID_BUREAU,'  # noqa: S608
        " CAST(min(MONTHS_BALANCE) AS DOUBLE) AS MONTHS_BALANCE_MIN,"
        " CAST(max(MONTHS_BALANCE) AS DOUBLE) AS MONTHS_BALANCE_MAX,"
        f" CAST(count(*) AS DOUBLE) AS MONTHS_BALANCE_SIZE, {shares}"
        f' FROM "{prefix}{BUREAU_BALANCE}" GROUP BY SK_ID_BUREAU'
    )


def family_sql(table: str, prefix: str) -> str:
    """``CREATE TEMP TABLE`` of one family's aggregates, one row per client with rows in ``table``."""
    levels = TABLE_LEVELS[table]
    aggs = ", ".join(aggregate_sql(a, levels) for a in HISTORY_AGGREGATES if a.table == table)
    return (
        f'CREATE TEMP TABLE "{prefix}f_{table}" AS SELECT {ID}, {aggs}'  # noqa: S608
        f" FROM ({_family_rows(table, prefix)}) GROUP BY {ID}"
    )


def _connect(memory_limit: str, threads: int, temp_dir: Path) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(config={"threads": threads, "memory_limit": memory_limit})
    con.execute(f"SET temp_directory = {_lit(str(temp_dir))}")
    con.execute("SET preserve_insertion_order = false")
    return con


def history_features(
    source: Source,
    ids: Sequence[int] | np.ndarray | None = None,
    *,
    memory_limit: str = "3GB",
    threads: int = 2,
    temp_dir: Path | None = None,
    progress: Progress | None = None,
) -> pd.DataFrame:
    """The history aggregates of every client, from the six side tables.

    Args:
        source: a folder with the side-table files (``bureau.csv`` or ``bureau.parquet`` ...), a mapping table name
            -> file, or a DuckDB connection holding relations named like the tables (``bureau``,
            ``bureau_balance``, ``previous_application``, ``POS_CASH_balance``, ``installments_payments``,
            ``credit_card_balance``).
        ids: the clients wanted, in the order wanted (a client without history gets a row of NaN). ``None``: every
            client with at least one side row, sorted by id.
        memory_limit: DuckDB memory limit when this function opens the connection (e.g. ``"3GB"``).
        threads: DuckDB threads when this function opens the connection.
        temp_dir: where DuckDB spills beyond the memory limit; a fresh temporary folder by default.
        progress: called as ``progress(stage, share_done)`` after each stage (``bureau_balance``, ``bureau``,
            ``previous_application``, ``POS_CASH_balance``, ``installments_payments``, ``credit_card_balance``,
            ``join``).

    Returns:
        ``SK_ID_CURR`` (int64) then :data:`HISTORY_COLUMNS` (float64), always the same columns in the same order.

    Raises:
        FileNotFoundError: when a side table has no file.
        ValueError: when a table lacks its key column.
        duckdb.Error: when a file cannot be parsed (the message names the file, line and column).
    """
    with tempfile.TemporaryDirectory(prefix="credit-features-") as fresh:
        if isinstance(source, duckdb.DuckDBPyConnection):
            return _run(source, source, ids, progress)
        con = _connect(memory_limit, threads, temp_dir or Path(fresh))
        try:
            return _run(con, source, ids, progress)
        finally:
            con.close()


def _run(
    con: duckdb.DuckDBPyConnection, source: Source, ids: Sequence[int] | np.ndarray | None, progress: Progress | None
) -> pd.DataFrame:
    prefix = f"hf_{uuid.uuid4().hex[:8]}_"
    stages = [BUREAU_BALANCE, *FAMILIES, "join"]
    created: list[str] = []

    def done(stage: str) -> None:
        log.info("history features: %s done", stage)
        if progress is not None:
            progress(stage, (stages.index(stage) + 1) / len(stages))

    try:
        register_tables(con, source, prefix)
        con.execute(_bureau_balance_sql(prefix))
        created.append(f"{prefix}bb_credit")
        done(BUREAU_BALANCE)
        for table in FAMILIES:
            con.execute(family_sql(table, prefix))
            created.append(f"{prefix}f_{table}")
            done(table)
        result = _join(con, prefix, ids)
        done("join")
        return result
    finally:
        for name in created:
            con.execute(f'DROP TABLE IF EXISTS "{name}"')


def _join(con: duckdb.DuckDBPyConnection, prefix: str, ids: Sequence[int] | np.ndarray | None) -> pd.DataFrame:
    families = [f'"{prefix}f_{t}"' for t in FAMILIES]
    if ids is None:
        union = " UNION ".join(f"SELECT {ID} FROM {f}" for f in families)  # noqa: S608
        con.execute(
            f'CREATE TEMP TABLE "{prefix}ids" AS SELECT {ID}, row_number() OVER (ORDER BY {ID}) AS _pos FROM ({union})'  # noqa: S608
        )
    else:
        wanted = pd.DataFrame({ID: np.asarray(ids, dtype="int64"), "_pos": np.arange(len(ids), dtype="int64")})
        con.register(f"{prefix}wanted", wanted)
        con.execute(f'CREATE TEMP TABLE "{prefix}ids" AS SELECT * FROM "{prefix}wanted"')  # noqa: S608
        con.unregister(f"{prefix}wanted")
    joins = " ".join(f"LEFT JOIN {f} USING ({ID})" for f in families)
    columns = ", ".join(f'"{c}"' for c in HISTORY_COLUMNS)
    try:
        table = con.sql(f'SELECT {ID}, {columns} FROM "{prefix}ids" {joins} ORDER BY _pos').to_arrow_table()  # noqa: S608
    finally:
        con.execute(f'DROP TABLE IF EXISTS "{prefix}ids"')
    frame: pd.DataFrame = table.to_pandas(self_destruct=True, split_blocks=True)
    frame[ID] = frame[ID].astype("int64")
    return frame
