"""SQL of the history features, generated from :mod:`credit_shared.features.spec`.

The SQL is built from the specification's constants only (identifiers, levels), never from user text, hence the
``S608`` exemptions. Category shares are not computed here: one ``GROUP BY client, category`` count per column is
much cheaper than one ``CASE`` per level, and :mod:`credit_shared.features.history` turns the counts into shares.
"""

from __future__ import annotations

from typing import Final

from credit_shared.features.levels import dummy_name
from credit_shared.features.spec import (
    BUREAU_BALANCE_DUMMIES,
    HISTORY_AGGREGATES,
    PREVIOUS_DAYS,
    TABLE_LEVELS,
    Aggregate,
)
from credit_shared.homecredit.application import ID
from credit_shared.homecredit.side_tables import BUREAU, BUREAU_BALANCE, INSTALMENTS, PREVIOUS
from credit_shared.homecredit.tables import SENTINEL

SUBSET_COLUMN: Final = {BUREAU: "CREDIT_ACTIVE", PREVIOUS: "NAME_CONTRACT_STATUS"}
ROW_COUNT: Final = "__rows"


def lit(text: str) -> str:
    """A SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def is_computed_dummy(agg: Aggregate) -> bool:
    """True for an aggregate of a 0/1 indicator of a category level (computed from per-level counts)."""
    return agg.dummy is not None and agg.column == dummy_name(*agg.dummy)


def aggregate_sql(agg: Aggregate) -> str:
    """The SQL expression of one numeric aggregate (the subset is a ``WHERE`` of the enclosing query)."""
    value = f'"{agg.column}"'
    match agg.func:
        case "min" | "max":
            expr = f"{agg.func}({value})"
        case "mean":
            expr = f"avg({value})"
        case "var":
            expr = f"var_samp({value})"
        case "sum":  # as pandas: 0 for a client whose rows are all missing (a client without rows has no row)
            expr = f"coalesce(sum({value}), 0)"
        case "size":
            expr = "count(*)"
        case "nunique":
            expr = f"count(DISTINCT {value})"
        case _:  # pragma: no cover - the spec only uses the functions above
            raise ValueError(f"unknown aggregate function {agg.func!r} in {agg.name}")
    return f'CAST({expr} AS DOUBLE) AS "{agg.name}"'


def rows_sql(table: str, prefix: str) -> str:
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


def bureau_balance_sql(prefix: str) -> str:
    """Per-credit aggregates of bureau_balance (months of balance, share of months per status)."""
    shares = ", ".join(
        f'avg(CASE WHEN "{column}" = {lit(level)} THEN 1.0 ELSE 0.0 END) AS "{name}_MEAN"'
        for name, column, level in BUREAU_BALANCE_DUMMIES
        if level is not None
    )
    known = ", ".join(lit(level) for _, _, level in BUREAU_BALANCE_DUMMIES if level is not None)
    missing = next(name for name, _, level in BUREAU_BALANCE_DUMMIES if level is None)
    return (
        f'CREATE TEMP TABLE "{prefix}bb_credit" AS SELECT SK_ID_BUREAU,'  # noqa: S608
        " CAST(min(MONTHS_BALANCE) AS DOUBLE) AS MONTHS_BALANCE_MIN,"
        " CAST(max(MONTHS_BALANCE) AS DOUBLE) AS MONTHS_BALANCE_MAX,"
        f" CAST(count(*) AS DOUBLE) AS MONTHS_BALANCE_SIZE, {shares},"
        f' avg(CASE WHEN STATUS IS NULL OR STATUS NOT IN ({known}) THEN 1.0 ELSE 0.0 END) AS "{missing}_MEAN"'
        f' FROM "{prefix}{BUREAU_BALANCE}" GROUP BY SK_ID_BUREAU'
    )


def numeric_aggregates(table: str, subset: str | None) -> list[Aggregate]:
    """The aggregates of a table (and subset) computed in SQL: everything but the category-level indicators."""
    return [a for a in HISTORY_AGGREGATES if a.table == table and a.subset == subset and not is_computed_dummy(a)]


def level_count_name(column: str, index: int) -> str:
    """Result column of the number of a client's rows with the ``index``-th level of ``column``."""
    return f"__n_{column}_{index}"


def numeric_sql(table: str, relation: str, subset: str | None, *, level_counts: bool = False) -> str:
    """One row per client: the row count and the numeric aggregates over the client's rows (in the subset).

    With ``level_counts``, also the rows per level of each category column (:func:`level_count_name`).
    """
    parts = [aggregate_sql(a) for a in numeric_aggregates(table, subset)]
    if level_counts:
        parts += [
            f'count(*) FILTER (WHERE "{column}" = {lit(level)}) AS "{level_count_name(column, i)}"'
            for column, levels in TABLE_LEVELS[table].items()
            for i, level in enumerate(levels)
        ]
    aggs = ", ".join(parts)
    where = "" if subset is None else f' WHERE "{SUBSET_COLUMN[table]}" = {lit(subset)}'
    return f'SELECT {ID}, count(*) AS "{ROW_COUNT}", {aggs} FROM "{relation}"{where} GROUP BY {ID}'  # noqa: S608


def level_counts_sql(relation: str, column: str) -> str:
    """Rows per client and value of a category column (NULL counted as its own value)."""
    return f'SELECT {ID}, "{column}" AS level, count(*) AS n FROM "{relation}" GROUP BY ALL'  # noqa: S608
