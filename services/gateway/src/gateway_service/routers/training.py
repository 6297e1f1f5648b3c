"""``/v1/models`` and ``/v1/training``: the model families' parameters, starting a training, promoting a version."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Annotated

from fastapi import APIRouter, Path, Response
from pydantic import BaseModel, Field, create_model

from credit_shared.contracts import training as contract
from credit_shared.contracts.common import ModelVersion
from credit_shared.contracts.model_families import FAMILIES, FamilySpec, ModelFamily
from credit_shared.topics import TRAINING_COMMANDS
from gateway_service.deps import Admin, GatewayDep, LimitedAnalyst, Viewer
from gateway_service.job_start import build_command, new_job_id, start_job
from gateway_service.jobs import JobView
from gateway_service.problems import not_found, responses
from gateway_service.routers.datasets import dataset_manifest
from gateway_service.routers.registry import Alias, find_version, read_registry

router = APIRouter(tags=["training"], responses=responses(401, 403, 422))

if TYPE_CHECKING:
    TrainRequest = contract.TrainModel
else:
    TrainRequest = create_model(
        "TrainRequest",
        __doc__="What to train: dataset, model family, imbalance strategy, fixed or searched parameters, costs.",
        **{n: (f.annotation, f) for n, f in contract.TrainModel.model_fields.items() if n != "request_id"},
    )


class PromoteRequest(BaseModel):
    """Which version the alias should point at."""

    version: ModelVersion = Field(description="Registered version", examples=["3"])
    force: bool = Field(
        False,
        strict=True,
        description="Skip the champion gate (test ROC AUC above the dataset baseline, test expected/observed default "
        "rate within [0.8, 1.25]); the route is for administrators only",
    )


@router.get("/models/families", summary="Model families with their parameters, defaults, types and ranges")
def list_families(_: Viewer) -> list[FamilySpec]:
    return list(FAMILIES.values())


@router.get("/models/families/{family}", summary="One model family", responses=responses(404))
def get_family(_: Viewer, family: ModelFamily) -> FamilySpec:
    spec = FAMILIES.get(family)
    if spec is None:
        raise not_found(f"model family {family!r} does not exist")
    return spec


@router.post(
    "/training",
    status_code=202,
    summary="Train a model (asynchronous)",
    description="Validated against the family's parameters (422 naming each problem) and the dataset (404 when it "
    "does not exist), then published; the job's result links to the registered version.",
    responses=responses(404, 429, 503),
)
async def train(gateway: GatewayDep, principal: LimitedAnalyst, body: TrainRequest, response: Response) -> JobView:
    await asyncio.to_thread(dataset_manifest, gateway, body.dataset_id)
    job_id = new_job_id()
    command = build_command(contract.TrainModel, request_id=job_id, **body.model_dump())
    return await start_job(
        gateway, response, kind=contract.TRAIN, topic=TRAINING_COMMANDS, command=command, principal=principal,
        job_id=job_id,
    )  # fmt: skip


@router.post(
    "/registry/aliases/{alias}",
    status_code=202,
    tags=["registry"],
    summary="Point champion or challenger at a version (administrators, asynchronous)",
    description="404 when the version is not registered; the job then checks the champion gate (the version must "
    "beat its dataset's baseline) unless `force` is set.",
    responses=responses(404, 503),
)
async def promote(
    gateway: GatewayDep,
    principal: Admin,
    alias: Annotated[Alias, Path(description="Alias to move")],
    body: PromoteRequest,
    response: Response,
) -> JobView:
    find_version(await read_registry(gateway), body.version)
    job_id = new_job_id()
    command = build_command(
        contract.PromoteModel,
        request_id=job_id,
        version=body.version,
        alias=alias,
        force=body.force,
        requested_by=principal.name[:120],
    )
    job = await start_job(
        gateway, response, kind=contract.PROMOTE, topic=TRAINING_COMMANDS, command=command, principal=principal,
        job_id=job_id,
    )  # fmt: skip
    forget = getattr(gateway.models, "forget", None)
    if callable(forget):
        forget()
    return job
