"""``/v1/datasets``: build (a job), list, detail, paginated rows of each part, column distributions, delete."""

from __future__ import annotations

import asyncio
import logging
import shutil
import uuid
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any

import pyarrow as pa
import pyarrow.parquet as pq
from fastapi import APIRouter, Path, Query, Response
from pydantic import BaseModel, Field, create_model

from credit_shared import datasets as store
from credit_shared.contracts.common import ColumnName
from credit_shared.contracts.ingestion import BUILD, BuildDataset
from credit_shared.datasets import DatasetManifest
from credit_shared.homecredit.application import ID
from credit_shared.topics import DATASET_COMMANDS
from gateway_service.data import json_rows
from gateway_service.deps import (
    Admin,
    DatasetPath,
    Gateway,
    GatewayDep,
    LimitedAnalyst,
    LimitedViewer,
    RowLimit,
    RowOffset,
    Viewer,
)
from gateway_service.job_start import build_command, new_job_id, start_job
from gateway_service.jobs import JobView
from gateway_service.problems import ProblemError, not_found, responses
from gateway_service.stats import Distribution, distribution

log = logging.getLogger(__name__)
router = APIRouter(prefix="/datasets", tags=["datasets"], responses=responses(401, 403, 422))

TARGET = "TARGET"
ColumnPath = Annotated[ColumnName, Path(description="Column name")]

if TYPE_CHECKING:
    BuildRequest = BuildDataset
else:
    BuildRequest = create_model(
        "DatasetBuildRequest",
        __doc__="The cleaning parameters of a new dataset (the request id is the job id).",
        **{n: (f.annotation, f) for n, f in BuildDataset.model_fields.items() if n != "request_id"},
    )


class Part(StrEnum):
    """A part of a dataset: the labelled features, their target, the unlabelled production applicants."""

    TRAIN = "train"
    TARGET = "target"
    PRODUCTION = "production"


class DatasetSummary(BaseModel):
    """A dataset in a list."""

    dataset_id: str = Field(examples=["ds-20261124-101500-a1b2c3"])
    name: str = Field(examples=["baseline"])
    description: str
    created_at: datetime
    source_kind: str = Field(examples=["synthetic"])
    features: int = Field(description="Feature columns kept")
    dropped: int = Field(description="Feature columns dropped by cleaning")
    sizes: dict[str, int]
    target_rate: float | None
    url: str = Field(examples=["/v1/datasets/ds-20261124-101500-a1b2c3"])


class RowsPage(BaseModel):
    """A page of rows of one part of a dataset."""

    dataset_id: str
    part: Part
    offset: int
    limit: int
    total: int = Field(description="Rows in the part")
    columns: list[str]
    rows: list[dict[str, Any]]
    next: str | None = Field(None, description="URL of the next page")


def dataset_manifest(gateway: Gateway, dataset_id: str) -> DatasetManifest:
    """The manifest of a dataset (404 when there is none)."""
    try:
        return store.read_manifest(gateway.settings.platform.datasets_dir, dataset_id)
    except (FileNotFoundError, ValueError):
        raise not_found(f"dataset {dataset_id!r} does not exist") from None


def _table(gateway: Gateway, dataset_id: str, part: Part) -> tuple[pa.Table, int]:
    folder = store.dataset_dir(gateway.settings.platform.datasets_dir, dataset_id)
    path = folder / (store.PRODUCTION if part is Part.PRODUCTION else store.TRAIN)
    try:
        stamp = path.stat().st_mtime_ns
    except FileNotFoundError:
        raise not_found(f"dataset {dataset_id!r} has no {part.value} part") from None

    def load() -> pa.Table:
        if part is Part.TARGET:
            return pq.read_table(path, columns=[ID, TARGET])
        return pq.read_table(path)

    table: pa.Table = gateway.data.get(("dataset", dataset_id, part.value, stamp), load)
    return table, stamp


def _summary(m: DatasetManifest) -> DatasetSummary:
    return DatasetSummary(
        dataset_id=m.dataset_id,
        name=m.name,
        description=m.description,
        created_at=m.created_at,
        source_kind=m.source_kind,
        features=len(m.features),
        dropped=len(m.dropped),
        sizes=m.sizes,
        target_rate=m.target_rate,
        url=f"/v1/datasets/{m.dataset_id}",
    )


@router.get("", summary="Every dataset, newest first")
def list_datasets(gateway: GatewayDep, _: Viewer) -> list[DatasetSummary]:
    return [_summary(m) for m in store.list_manifests(gateway.settings.platform.datasets_dir)]


@router.post(
    "",
    status_code=202,
    summary="Build a dataset (asynchronous)",
    description="Publishes the build command; follow the job at the `Location` URL.",
    responses=responses(429, 503),
)
async def build_dataset(
    gateway: GatewayDep, principal: LimitedAnalyst, body: BuildRequest, response: Response
) -> JobView:
    job_id = new_job_id()
    command = build_command(BuildDataset, request_id=job_id, **body.model_dump())
    return await start_job(
        gateway, response, kind=BUILD, topic=DATASET_COMMANDS, command=command, principal=principal, job_id=job_id
    )


@router.get("/{dataset_id}", summary="One dataset: parameters, sizes, features, what cleaning dropped")
def get_dataset(gateway: GatewayDep, _: Viewer, dataset_id: DatasetPath) -> DatasetManifest:
    return dataset_manifest(gateway, dataset_id)


@router.get("/{dataset_id}/parts/{part}/rows", summary="Rows of one part of a dataset, paginated")
def dataset_rows(
    *,
    gateway: GatewayDep,
    _: Viewer,
    dataset_id: DatasetPath,
    part: Part,
    offset: RowOffset = 0,
    limit: RowLimit = 100,
    columns: Annotated[
        list[ColumnName] | None, Query(description="Only these columns (and the id)", max_length=200)
    ] = None,
) -> RowsPage:
    dataset_manifest(gateway, dataset_id)
    table, _stamp = _table(gateway, dataset_id, part)
    names = table.column_names
    if columns:
        unknown = [c for c in columns if c not in names]
        if unknown:
            raise not_found(f"dataset {dataset_id!r} has no column {unknown[0]!r} in its {part.value} part")
        keep = [ID, *(c for c in columns if c != ID)] if ID in names else columns
        table = table.select(keep)
    page = table.slice(offset, limit)
    total = table.num_rows
    nxt = offset + limit
    return RowsPage(
        dataset_id=dataset_id,
        part=part,
        offset=offset,
        limit=limit,
        total=total,
        columns=table.column_names,
        rows=json_rows(page.to_pylist()),
        next=f"/v1/datasets/{dataset_id}/parts/{part.value}/rows?offset={nxt}&limit={limit}" if nxt < total else None,
    )


@router.get(
    "/{dataset_id}/columns/{column}/distribution",
    summary="Distribution of one column (histogram or category counts)",
    responses=responses(404, 429),
)
def dataset_column_distribution(
    gateway: GatewayDep,
    _: LimitedViewer,
    dataset_id: DatasetPath,
    column: ColumnPath,
    part: Annotated[Part, Query(description="Which part")] = Part.TRAIN,
    bins: Annotated[int, Query(ge=2, le=200)] = 30,
) -> Distribution:
    dataset_manifest(gateway, dataset_id)
    table, stamp = _table(gateway, dataset_id, part)
    if column not in table.column_names:
        raise not_found(f"dataset {dataset_id!r} has no column {column!r} in its {part.value} part")
    key = ("distribution", dataset_id, part.value, column, bins, stamp)
    result: Distribution = gateway.data.get(key, lambda: distribution(column, table.column(column).to_pandas(), bins))
    return result


@router.delete("/{dataset_id}", status_code=204, summary="Delete a dataset (administrators)", responses=responses(404))
async def delete_dataset(gateway: GatewayDep, _: Admin, dataset_id: DatasetPath) -> Response:
    await asyncio.to_thread(_delete, gateway, dataset_id)
    return Response(status_code=204)


def _delete(gateway: Gateway, dataset_id: str) -> None:
    dataset_manifest(gateway, dataset_id)
    root = gateway.settings.platform.datasets_dir
    folder = store.dataset_dir(root, dataset_id)
    trash = root / f".deleted-{dataset_id}-{uuid.uuid4().hex[:8]}"  # not a dataset id: invisible at once
    try:
        folder.rename(trash)
    except FileNotFoundError:
        raise not_found(f"dataset {dataset_id!r} does not exist") from None
    except OSError as exc:
        raise ProblemError(409, f"dataset {dataset_id!r} cannot be deleted now: {exc}") from exc
    gateway.data.drop(lambda key: isinstance(key, tuple) and len(key) > 1 and key[1] == dataset_id)
    shutil.rmtree(trash, ignore_errors=True)
    log.info("deleted dataset %s", dataset_id)
