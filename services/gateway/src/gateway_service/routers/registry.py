"""``/v1/registry``: the registered versions of the credit-default model and their aliases (from MLflow)."""

from __future__ import annotations

import asyncio
import logging
from typing import Annotated

from fastapi import APIRouter, Path

from gateway_service.deps import Gateway, GatewayDep, Viewer
from gateway_service.models import ModelVersionView, Registry
from gateway_service.problems import ProblemError, not_found, responses

log = logging.getLogger(__name__)
router = APIRouter(prefix="/registry", tags=["registry"], responses=responses(401, 403, 422))


async def read_registry(gateway: Gateway) -> Registry:
    """The registry, cached for a few seconds by the adapter (503 when MLflow does not answer)."""
    try:
        registry = await asyncio.to_thread(gateway.models.read)
    except Exception as exc:
        log.warning("MLflow registry not readable: %s", exc)
        raise ProblemError(503, "the model registry (MLflow) is not reachable; try again later") from exc
    return registry


@router.get("", summary="Registered versions and aliases", responses=responses(503))
async def get_registry(gateway: GatewayDep, _: Viewer) -> Registry:
    return await read_registry(gateway)


@router.get("/versions/{version}", summary="One registered version", responses=responses(404, 503))
async def get_version(
    gateway: GatewayDep, _: Viewer, version: Annotated[str, Path(pattern=r"^[0-9]{1,9}$")]
) -> ModelVersionView:
    registry = await read_registry(gateway)
    for found in registry.versions:
        if found.version == version:
            return found
    raise not_found(f"version {version} of {registry.name!r} does not exist")
