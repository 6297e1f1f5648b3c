"""``/v1/raw``: the eight raw Home Credit tables: schema with glossary, sample rows, distributions, correlations."""

from __future__ import annotations

from typing import Annotated, Any

import pandas as pd
from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, Field

from credit_shared.contracts.common import ColumnName
from credit_shared.homecredit import glossary
from credit_shared.homecredit.validation import SchemaError
from gateway_service import raw
from gateway_service.data import json_rows
from gateway_service.deps import Gateway, GatewayDep, LimitedViewer, RowLimit, RowOffset, Viewer
from gateway_service.problems import ProblemError, not_found, responses
from gateway_service.stats import CorrelationSpread, Distribution, correlation_spread, distribution

router = APIRouter(prefix="/raw/tables", tags=["raw data"], responses=responses(401, 403, 404, 422))

TableName = Annotated[str, Path(description="Table name", pattern=r"^[A-Za-z_]{1,40}$", examples=["bureau"])]
ColumnPath = Annotated[ColumnName, Path(description="Column name")]


class TableInfo(BaseModel):
    """A raw table."""

    name: str = Field(examples=["application_train"])
    rows: int | None = Field(description="Rows in the file", examples=[307511])
    columns: int = Field(description="Columns of its specification", examples=[122])
    key: list[str] = Field(description="Primary key columns", examples=[["SK_ID_CURR"]])
    source: str = Field(description="kaggle, synthetic, sample or configured", examples=["kaggle"])
    description: str = Field(description="What one row is")


class ColumnInfo(BaseModel):
    """A column of a raw table with its glossary entry."""

    name: str = Field(examples=["AMT_CREDIT"])
    type: str = Field(description="int, float or category", examples=["float"])
    nullable: bool
    label: str = Field(examples=["Credit amount"])
    description: str | None = Field(description="The official Home Credit description")
    categories: list[str] | None = Field(None, description="Levels of a categorical column")


class RawRows(BaseModel):
    """Rows of a raw table's cached sample."""

    table: str
    offset: int
    limit: int
    total: int = Field(description="Rows in the sample")
    sampled: bool = Field(description="The sample is the first rows of a larger table")
    columns: list[str]
    rows: list[dict[str, Any]]


ROW_MEANING = {
    "application_train": "One loan application with its outcome (TARGET)",
    "application_test": "One loan application to score",
    "bureau": "One credit of the client reported by the credit bureau",
    "bureau_balance": "One month of a bureau credit",
    "previous_application": "One previous Home Credit application of the client",
    "POS_CASH_balance": "One month of a previous point-of-sale or cash loan",
    "installments_payments": "One instalment of a previous credit, due and paid",
    "credit_card_balance": "One month of a previous credit card",
}


def _table(gateway: Gateway, name: str) -> raw.RawTable:
    found = raw.table(gateway.settings, gateway.data, name)
    if found is None:
        raise not_found(f"raw table {name!r} is not available")
    return found


def _sample(gateway: Gateway, found: raw.RawTable) -> pd.DataFrame:
    try:
        return raw.sample(gateway.settings, gateway.data, found)
    except SchemaError as exc:
        raise ProblemError(503, f"raw table {found.name!r} cannot be read: {exc}") from exc


def _column(found: raw.RawTable, column: str) -> None:
    if column not in found.spec.by_name:
        raise not_found(f"raw table {found.name!r} has no column {column!r}")


@router.get("", summary="The raw tables present, with their sizes")
def list_tables(gateway: GatewayDep, _: Viewer) -> list[TableInfo]:
    src = raw.source(gateway.settings)
    return [
        TableInfo(
            name=t.name,
            rows=t.rows,
            columns=len(t.spec.columns),
            key=list(t.spec.key),
            source=src.kind if src else "",
            description=ROW_MEANING.get(t.name, ""),
        )
        for t in raw.tables(gateway.settings, gateway.data)
    ]


@router.get("/{table}/columns", summary="Schema of a raw table with the glossary")
def table_columns(gateway: GatewayDep, _: Viewer, table: TableName) -> list[ColumnInfo]:
    found = _table(gateway, table)
    return [_column_info(found, c.name) for c in found.spec.columns]


def _column_info(found: raw.RawTable, name: str) -> ColumnInfo:
    spec = found.spec.by_name[name]
    gtable = raw.glossary_table(found.name)
    return ColumnInfo(
        name=name,
        type=spec.kind.value,
        nullable=spec.nullable,
        label=glossary.raw_label(gtable, name),
        description=glossary.description(gtable, name),
        categories=list(spec.categories) or None,
    )


@router.get("/{table}/columns/{column}", summary="Glossary entry of one column")
def table_column(gateway: GatewayDep, _: Viewer, table: TableName, column: ColumnPath) -> ColumnInfo:
    found = _table(gateway, table)
    _column(found, column)
    return _column_info(found, column)


@router.get("/{table}/rows", summary="Rows of a raw table (from its cached sample), paginated")
def table_rows(
    gateway: GatewayDep,
    _: Viewer,
    table: TableName,
    offset: RowOffset = 0,
    limit: RowLimit = 100,
) -> RawRows:
    found = _table(gateway, table)
    frame = _sample(gateway, found)
    chunk = frame.iloc[offset : offset + limit]
    records = chunk.astype(object).where(chunk.notna(), None).to_dict(orient="records")
    return RawRows(
        table=found.name,
        offset=offset,
        limit=limit,
        total=len(frame),
        sampled=found.rows is None or found.rows > len(frame),
        columns=list(frame.columns),
        rows=json_rows(records),  # type: ignore[arg-type]
    )


@router.get(
    "/{table}/columns/{column}/distribution",
    summary="Distribution of one column (on the cached sample)",
    responses=responses(429),
)
def table_distribution(
    gateway: GatewayDep,
    _: LimitedViewer,
    table: TableName,
    column: ColumnPath,
    bins: Annotated[int, Query(ge=2, le=200)] = 30,
) -> Distribution:
    found = _table(gateway, table)
    _column(found, column)
    frame = _sample(gateway, found)
    key = ("raw-distribution", found.name, found.stamp, column, bins)
    result: Distribution = gateway.data.get(key, lambda: distribution(column, frame[column], bins))
    return result


@router.get(
    "/{table}/correlations",
    summary="Distribution of the pairwise Pearson correlations of the numeric columns (on the cached sample)",
    responses=responses(429),
)
def table_correlations(
    gateway: GatewayDep, _: LimitedViewer, table: TableName, top: Annotated[int, Query(ge=1, le=200)] = 20
) -> CorrelationSpread:
    found = _table(gateway, table)
    frame = _sample(gateway, found)
    ids = [c for c in found.spec.names if c.startswith("SK_ID")]
    key = ("raw-correlations", found.name, found.stamp, top)
    spread: CorrelationSpread = gateway.data.get(key, lambda: correlation_spread(frame.drop(columns=ids), top=top))
    return spread
