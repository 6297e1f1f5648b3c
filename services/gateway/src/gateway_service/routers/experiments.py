"""``/v1/experiments`` and ``/v1/runs``: MLflow experiments, metrics tables, one run's details, figures, model card."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Path, Query, Response
from pydantic import BaseModel, Field, StringConstraints

from gateway_service.deps import Admin, Gateway, GatewayDep, Viewer
from gateway_service.problems import ProblemError, not_found, responses
from gateway_service.runs import ExperimentView, NotFound, RunView, json_artifact

log = logging.getLogger(__name__)
router = APIRouter(tags=["experiments"], responses=responses(401, 403, 404, 422, 503))

# at most 18 digits: every such id fits the 64-bit integer MLflow keeps it as (a 19-digit one may not)
ExperimentId = Annotated[str, Path(description="MLflow experiment id", pattern=r"^[0-9]{1,18}$", examples=["1"])]
RunId = Annotated[str, Path(description="MLflow run id", pattern=r"^[0-9a-f]{32}$")]
FigureName = Annotated[str, Path(description="Figure name", pattern=r"^[A-Za-z0-9_]{1,64}$")]
T = TypeVar("T")


class CvResults(BaseModel):
    """The cross-validation results of a run's search: one row per candidate."""

    run_id: str
    rows: list[dict[str, Any]]


class ModelCard(BaseModel):
    """A run's model card."""

    run_id: str
    markdown: str = Field(description="The card in Markdown")


async def call(gateway: Gateway, what: Callable[[], T]) -> T:
    """Call the MLflow adapter off the event loop: 404 when missing, 503 when MLflow does not answer."""
    try:
        return await asyncio.to_thread(what)
    except NotFound as exc:
        raise not_found(str(exc)) from None
    except Exception as exc:
        log.warning("MLflow not readable: %s", exc)
        raise ProblemError(503, "the tracking server (MLflow) is not reachable; try again later") from exc


def _cached(gateway: Gateway, key: tuple[Any, ...], load: Callable[[], T]) -> Callable[[], T]:
    return lambda: gateway.data.get(key, load)  # artifacts of a finished run never change


@router.get("/experiments", summary="MLflow experiments (one per dataset), newest first")
async def list_experiments(gateway: GatewayDep, _: Viewer) -> list[ExperimentView]:
    return await call(gateway, gateway.runs.experiments)


@router.get("/experiments/{experiment_id}/runs", summary="Runs of an experiment: the metrics table")
async def list_runs(
    gateway: GatewayDep,
    _: Viewer,
    experiment_id: ExperimentId,
    metrics: Annotated[
        list[Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.-]{1,64}$")]] | None,
        Query(description="Only metrics starting with these prefixes (test_, cv_, train_ ...)", max_length=20),
    ] = None,
) -> list[RunView]:
    runs = await call(gateway, lambda: gateway.runs.runs(experiment_id))
    if metrics:
        prefixes = tuple(metrics)
        runs = [r.model_copy(update={"metrics": {k: v for k, v in r.metrics.items() if k.startswith(prefixes)}})
                for r in runs]  # fmt: skip
    return runs


@router.get("/runs/{run_id}", summary="One run: parameters, metrics, tags and the figures it has")
async def get_run(gateway: GatewayDep, _: Viewer, run_id: RunId) -> RunView:
    return await call(gateway, lambda: gateway.runs.run(run_id))


@router.get("/runs/{run_id}/cv-results", summary="Cross-validation results of the run's search")
async def get_cv_results(gateway: GatewayDep, _: Viewer, run_id: RunId) -> CvResults:
    rows = await call(
        gateway, _cached(gateway, ("cv", run_id), lambda: json_artifact(gateway.runs, run_id, "cv_results.json"))
    )
    return CvResults(run_id=run_id, rows=rows if isinstance(rows, list) else [])


@router.get("/runs/{run_id}/model-card", summary="The run's model card (Markdown)")
async def get_model_card(gateway: GatewayDep, _: Viewer, run_id: RunId) -> ModelCard:
    text = await call(
        gateway, _cached(gateway, ("card", run_id), lambda: gateway.runs.artifact(run_id, "model_card.md"))
    )
    return ModelCard(run_id=run_id, markdown=text.decode("utf-8", errors="replace"))


@router.get("/runs/{run_id}/figures/{name}", summary="One figure of the run as chart data (JSON)")
async def get_figure(gateway: GatewayDep, _: Viewer, run_id: RunId, name: FigureName) -> Any:
    path = f"figures/{name}.json"
    return await call(
        gateway, _cached(gateway, ("figure", run_id, name), lambda: json_artifact(gateway.runs, run_id, path))
    )


@router.get(
    "/runs/{run_id}/figures/{name}/png",
    summary="One figure of the run as a PNG image",
    response_class=Response,
    responses={200: {"content": {"image/png": {}}, "description": "The image"}},
)
async def get_figure_png(gateway: GatewayDep, _: Viewer, run_id: RunId, name: FigureName) -> Response:
    path = f"figures/{name}.png"
    data = await call(gateway, _cached(gateway, ("png", run_id, name), lambda: gateway.runs.artifact(run_id, path)))
    return Response(data, media_type="image/png", headers={"Cache-Control": "private, max-age=3600"})


@router.delete("/runs/{run_id}", status_code=204, summary="Delete a run (administrators)")
async def delete_run(gateway: GatewayDep, _: Admin, run_id: RunId) -> Response:
    await call(gateway, lambda: gateway.runs.delete(run_id))
    gateway.data.drop(lambda key: isinstance(key, tuple) and len(key) > 1 and key[1] == run_id)
    return Response(status_code=204)
