"""Where the side tables come from: files in a folder (CSV as Kaggle ships them, or Parquet) or a DuckDB connection.

Each table becomes a typed DuckDB relation with every column the features need: ids as BIGINT, categories as
VARCHAR, everything else as DOUBLE, and a column the file lacks as NULL (an altered extract may have dropped
columns; their features are then missing rather than the build failing).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Final

import duckdb

from credit_shared.features.spec import CREDIT_CARD_NUMERIC, PREVIOUS_DAYS, PREVIOUS_NUM, TABLE_LEVELS
from credit_shared.homecredit.readers import find_table_file
from credit_shared.homecredit.side_tables import (
    BUREAU,
    BUREAU_BALANCE,
    CREDIT_CARD,
    INSTALMENTS,
    POS_CASH,
    PREVIOUS,
    SIDE_TABLES,
)
from credit_shared.homecredit.validation import SchemaError

IDS: Final = ("SK_ID_CURR", "SK_ID_BUREAU", "SK_ID_PREV")
CATEGORIES: Final[dict[str, tuple[str, ...]]] = {t: tuple(TABLE_LEVELS[t]) for t in SIDE_TABLES}
NUMBERS: Final[dict[str, tuple[str, ...]]] = {
    BUREAU: (
        "DAYS_CREDIT",
        "CREDIT_DAY_OVERDUE",
        "DAYS_CREDIT_ENDDATE",
        "DAYS_ENDDATE_FACT",
        "AMT_CREDIT_MAX_OVERDUE",
        "CNT_CREDIT_PROLONG",
        "AMT_CREDIT_SUM",
        "AMT_CREDIT_SUM_DEBT",
        "AMT_CREDIT_SUM_LIMIT",
        "AMT_CREDIT_SUM_OVERDUE",
        "DAYS_CREDIT_UPDATE",
        "AMT_ANNUITY",
    ),
    BUREAU_BALANCE: ("MONTHS_BALANCE",),
    PREVIOUS: tuple(dict.fromkeys([*(c for c in PREVIOUS_NUM if c != "APP_CREDIT_PERC"), *PREVIOUS_DAYS])),
    POS_CASH: ("MONTHS_BALANCE", "CNT_INSTALMENT", "CNT_INSTALMENT_FUTURE", "SK_DPD", "SK_DPD_DEF"),
    INSTALMENTS: (
        "NUM_INSTALMENT_VERSION",
        "NUM_INSTALMENT_NUMBER",
        "DAYS_INSTALMENT",
        "DAYS_ENTRY_PAYMENT",
        "AMT_INSTALMENT",
        "AMT_PAYMENT",
    ),
    CREDIT_CARD: CREDIT_CARD_NUMERIC,
}
KEYS: Final[dict[str, tuple[str, ...]]] = {
    BUREAU: ("SK_ID_CURR", "SK_ID_BUREAU"),
    BUREAU_BALANCE: ("SK_ID_BUREAU",),
    PREVIOUS: ("SK_ID_CURR", "SK_ID_PREV"),
    POS_CASH: ("SK_ID_CURR", "SK_ID_PREV"),
    INSTALMENTS: ("SK_ID_CURR", "SK_ID_PREV"),
    CREDIT_CARD: ("SK_ID_CURR", "SK_ID_PREV"),
}

Source = Path | Mapping[str, Path] | duckdb.DuckDBPyConnection


def find_tables(data_dir: Path) -> dict[str, Path]:
    """The file of each side table in a folder (``<table>.parquet``, ``.csv`` or ``.csv.gz``; the sample's
    ``previous_application_IMPUTED.csv`` is accepted too), as :func:`credit_shared.homecredit.readers.find_table_file`.

    Raises:
        FileNotFoundError: naming the first table with no file, and the names tried.
    """
    found: dict[str, Path] = {}
    for table in SIDE_TABLES:
        try:
            found[table] = find_table_file(data_dir, table, mode="sample")
        except SchemaError as error:
            raise FileNotFoundError(str(error)) from error
    return found


def present_tables(data_dir: Path) -> tuple[dict[str, Path], list[str]]:
    """The side tables of a folder that have a file, and those that have none (their features are then missing).

    A lender may hold only the application tables: every side table is optional for a build.
    """
    found: dict[str, Path] = {}
    absent: list[str] = []
    for table in SIDE_TABLES:
        try:
            found[table] = find_table_file(data_dir, table, mode="sample")
        except SchemaError:
            absent.append(table)
    return found, absent


def empty_view_sql(table: str) -> str:
    """``SELECT`` of no rows with every typed column of a table that is absent."""
    parts = [f'CAST(NULL AS {t}) AS "{c}"' for c, t in _wanted(table)]
    return f"SELECT {', '.join(parts)} FROM (SELECT 1) AS nothing WHERE FALSE"  # noqa: S608


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _wanted(table: str) -> list[tuple[str, str]]:
    return [
        *((c, "BIGINT") for c in KEYS[table]),
        *((c, "VARCHAR") for c in CATEGORIES[table]),
        *((c, "DOUBLE") for c in NUMBERS[table]),
    ]


def _file_relation(con: duckdb.DuckDBPyConnection, table: str, path: Path) -> str:
    if path.name.endswith(".parquet"):
        return f"read_parquet({_quote(str(path))})"
    # Types are given for every column (never guessed from the first rows of a 27-million-row file).
    header = _columns(con, f"read_csv({_quote(str(path))}, header=true, all_varchar=true)")
    known = dict(_wanted(table))
    types = ", ".join(f"{_quote(c)}: {_quote(known.get(c, 'VARCHAR'))}" for c in header)
    return f"read_csv({_quote(str(path))}, header=true, types={{{types}}})"


def _columns(con: duckdb.DuckDBPyConnection, relation: str) -> list[str]:
    return [str(row[0]) for row in con.execute(f"DESCRIBE SELECT * FROM {relation}").fetchall()]  # noqa: S608


def typed_view_sql(table: str, relation: str, present: list[str]) -> str:
    """``SELECT`` of a table with the needed columns typed, missing ones as NULL.

    Parquet columns may have any numeric type; they are cast here.
    """
    wanted = _wanted(table)
    missing_keys = [c for c in KEYS[table] if c not in present]
    if missing_keys:
        raise ValueError(f"table {table} has no column {missing_keys[0]} (its key)")
    parts = [f'CAST("{c}" AS {t}) AS "{c}"' if c in present else f'CAST(NULL AS {t}) AS "{c}"' for c, t in wanted]
    return f"SELECT {', '.join(parts)} FROM {relation}"  # noqa: S608


def register_tables(con: duckdb.DuckDBPyConnection, source: Source, prefix: str) -> None:
    """Create one typed temporary view ``<prefix><table>`` per side table (an empty one for a table without a file).

    Args:
        con: the connection the views are created in.
        source: a data folder, a mapping table -> file (a table not in it is absent), or a connection holding
            relations named like the tables (then ``con`` must be that connection).
        prefix: prefix of the view names.
    """
    if isinstance(source, duckdb.DuckDBPyConnection):
        relations = {t: f'"{t}"' for t in SIDE_TABLES}
    else:
        files = present_tables(source)[0] if isinstance(source, Path) else {t: Path(p) for t, p in source.items()}
        relations = {t: _file_relation(con, t, p) for t, p in files.items() if t in SIDE_TABLES}
    for table in SIDE_TABLES:
        if table not in relations:
            con.execute(f'CREATE OR REPLACE TEMP VIEW "{prefix}{table}" AS {empty_view_sql(table)}')
    for table, relation in relations.items():
        present = _columns(con, relation)
        con.execute(f'CREATE OR REPLACE TEMP VIEW "{prefix}{table}" AS {typed_view_sql(table, relation, present)}')
