"""``/v1/datasets/{dataset_id}/scorings``: score a whole dataset part (a job), list its scorings, read one
(summary, then its rows page by page). The scoring service stores them under ``<home>/scorings/<id>``."""

from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from fastapi import APIRouter, Body, Path, Query, Response
from pydantic import BaseModel, Field, create_model

from credit_shared import datasets as store
from credit_shared import scorings
from credit_shared.contracts.loans import Decision
from credit_shared.contracts.scoring import (
    SCORE_DATASET,
    SCORING_ID_PATTERN,
    DatasetPart,
    DatasetScored,
    ScoreDataset,
    ScoredRow,
    ScoringSummary,
)
from credit_shared.topics import SCORING_COMMANDS
from gateway_service.deps import DatasetPath, Gateway, GatewayDep, LimitedAnalyst, RowLimit, RowOffset, Viewer
from gateway_service.job_start import build_command, new_job_id, start_job
from gateway_service.jobs import JobView
from gateway_service.problems import ProblemError, not_found, responses
from gateway_service.routers.registry import read_registry

router = APIRouter(prefix="/datasets", tags=["scoring"], responses=responses(401, 403, 422))

ScoringId = Annotated[
    str, Path(description="Scoring id (the id of the job that made it)", pattern=SCORING_ID_PATTERN, max_length=64)
]


REQUEST_FIELDS = ("part", "sample_size", "seed", "model_version")

if TYPE_CHECKING:

    class ScoringRequest(BaseModel):
        """What to score (the command's own fields, with its constraints)."""

        part: DatasetPart = DatasetPart.PRODUCTION
        sample_size: int | None = None
        seed: int = 42
        model_version: str | None = None

else:
    ScoringRequest = create_model(
        "DatasetScoringRequest",
        __doc__="What to score: a part of the dataset, all of it or a seeded sample, with the champion or a named "
        "registered version (the request id is the job id).",
        **{n: (f.annotation, f) for n, f in ScoreDataset.model_fields.items() if n in REQUEST_FIELDS},
    )


REQUEST_EXAMPLES: dict[str, Any] = {
    "everything": {
        "summary": "Every production applicant, with the champion",
        "value": {"part": "production"},
    },
    "sample": {
        "summary": "A seeded sample of 1,000 production applicants",
        "value": {"part": "production", "sample_size": 1000, "seed": 42},
    },
    "named_version": {
        "summary": "The labelled training rows, with a named registered version",
        "value": {"part": "train", "model_version": "3"},
    },
}


class ScoringView(DatasetScored):
    """A stored scoring in a list: its headline figures and links."""

    sample_size: int | None
    seed: int
    created_at: datetime
    url: str = Field(examples=["/v1/datasets/ds-20261124-101500-a1b2c3/scorings/3f2a9c0e1b7d4e5f8a6b2c1d0e9f8a7b"])
    rows_url: str = Field(description="The scored rows, paginated")


class ScoringDetail(ScoringSummary):
    """A stored scoring: the summary (every feature's mean |contribution| included) and links."""

    url: str
    rows_url: str = Field(description="The scored rows, paginated")


class ScoredRowsPage(BaseModel):
    """A page of the rows of a scoring, in the dataset's order."""

    scoring_id: str
    dataset_id: str
    decision: Decision | None = Field(description="Only the rows with this decision, when asked")
    offset: int
    limit: int
    total: int = Field(description="Rows matching (all the scoring's rows without a decision filter)")
    rows: list[ScoredRow]
    next: str | None = Field(None, description="URL of the next page")


def _links(summary: DatasetScored) -> dict[str, str]:
    url = f"/v1/datasets/{summary.dataset_id}/scorings/{summary.scoring_id}"
    return {"url": url, "rows_url": f"{url}/rows"}


def _root(gateway: Gateway) -> Any:
    return scorings.scorings_dir(gateway.settings.platform.home)


def _summary(gateway: Gateway, dataset_id: str, scoring_id: str) -> ScoringSummary:
    try:
        summary = scorings.read_summary(_root(gateway), scoring_id)
    except (FileNotFoundError, ValueError):
        raise not_found(f"dataset {dataset_id!r} has no scoring {scoring_id!r}") from None
    if summary.dataset_id != dataset_id:
        raise not_found(f"dataset {dataset_id!r} has no scoring {scoring_id!r}")
    return summary


@router.post(
    "/{dataset_id}/scorings",
    status_code=202,
    summary="Score a whole dataset part (asynchronous)",
    description="Publishes the scoring command; follow the job at the `Location` URL. When it succeeds, its "
    "`result_url` is the stored scoring: the summary (refusal rate, probability quantiles, mean |contribution| "
    "of each feature, model identity) and, page by page, each applicant's probability, decision and reasons. "
    "404 for an unknown dataset or version, 409 when no champion is registered and no version is named.",
    responses=responses(404, 409, 429, 503),
)
async def score_dataset(
    gateway: GatewayDep,
    principal: LimitedAnalyst,
    dataset_id: DatasetPath,
    response: Response,
    body: Annotated[ScoringRequest, Body(openapi_examples=REQUEST_EXAMPLES)] = ScoringRequest(),  # noqa: B008
) -> JobView:
    try:
        manifest = store.read_manifest(gateway.settings.platform.datasets_dir, dataset_id)
    except (FileNotFoundError, ValueError):
        raise not_found(f"dataset {dataset_id!r} does not exist") from None
    if manifest.sizes.get(body.part.value) == 0:
        raise ProblemError(409, f"the {body.part.value} part of dataset {dataset_id!r} has no rows")
    registry = await read_registry(gateway)
    if body.model_version is None and "champion" not in registry.aliases:
        raise ProblemError(409, f"no version of {registry.name!r} is champion; promote one or name a version")
    if body.model_version is not None and body.model_version not in {v.version for v in registry.versions}:
        raise not_found(f"version {body.model_version} of {registry.name!r} does not exist")
    job_id = new_job_id()
    command = build_command(
        ScoreDataset, request_id=job_id, dataset_id=dataset_id, requested_by=principal.key_id, **body.model_dump()
    )
    return await start_job(
        gateway,
        response,
        kind=SCORE_DATASET,
        topic=SCORING_COMMANDS,
        command=command,
        principal=principal,
        job_id=job_id,
    )


@router.get("/{dataset_id}/scorings", summary="The stored scorings of a dataset, newest first")
def list_scorings(gateway: GatewayDep, _: Viewer, dataset_id: DatasetPath) -> list[ScoringView]:
    found = scorings.list_summaries(_root(gateway), dataset_id)
    if not found and not store.dataset_dir(gateway.settings.platform.datasets_dir, dataset_id).is_dir():
        raise not_found(f"dataset {dataset_id!r} does not exist")
    fields = set(ScoringView.model_fields) - {"url", "rows_url"}
    return [ScoringView(**s.model_dump(include=fields), **_links(s)) for s in found]


@router.get(
    "/{dataset_id}/scorings/{scoring_id}",
    summary="One stored scoring: refusal rate, probability quantiles, feature influence, model",
    responses=responses(404),
)
def get_scoring(gateway: GatewayDep, _: Viewer, dataset_id: DatasetPath, scoring_id: ScoringId) -> ScoringDetail:
    summary = _summary(gateway, dataset_id, scoring_id)
    return ScoringDetail(**summary.model_dump(), **_links(summary))


@router.get(
    "/{dataset_id}/scorings/{scoring_id}/rows",
    summary="The scored rows of a scoring (probability, decision, reasons), paginated",
    responses=responses(404),
)
def scoring_rows(
    *,
    gateway: GatewayDep,
    _: Viewer,
    dataset_id: DatasetPath,
    scoring_id: ScoringId,
    offset: RowOffset = 0,
    limit: RowLimit = 100,
    decision: Annotated[Decision | None, Query(description="Only approved or only refused rows")] = None,
) -> ScoredRowsPage:
    _summary(gateway, dataset_id, scoring_id)
    path = scorings.rows_path(_root(gateway), scoring_id)
    try:
        stamp = path.stat().st_mtime_ns
    except FileNotFoundError:
        raise not_found(f"scoring {scoring_id!r} has no rows") from None
    table: pa.Table = gateway.data.get(("scoring", scoring_id, stamp), lambda: pq.read_table(path))
    if decision is not None:
        table = table.filter(pc.equal(table["decision"], decision.value))
    page = table.slice(offset, limit).to_pylist()
    rows = [ScoredRow(**{**row, "reasons": json.loads(row["reasons"])}) for row in page]
    nxt = offset + limit
    query = f"offset={nxt}&limit={limit}" + (f"&decision={decision.value}" if decision else "")
    return ScoredRowsPage(
        scoring_id=scoring_id,
        dataset_id=dataset_id,
        decision=decision,
        offset=offset,
        limit=limit,
        total=table.num_rows,
        rows=rows,
        next=f"/v1/datasets/{dataset_id}/scorings/{scoring_id}/rows?{query}" if nxt < table.num_rows else None,
    )
