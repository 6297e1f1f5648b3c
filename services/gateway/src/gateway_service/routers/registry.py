"""``/v1/registry``: the registered versions of the credit-default model and their aliases (from MLflow)."""

from __future__ import annotations

import asyncio
import logging
from typing import Annotated, Final, Literal, get_args

from fastapi import APIRouter, Path

from credit_shared.contracts.common import matching
from gateway_service.deps import Gateway, GatewayDep, Viewer
from gateway_service.model_registry import ModelVersionView, Registry
from gateway_service.problems import ProblemError, not_found, responses

log = logging.getLogger(__name__)
router = APIRouter(prefix="/registry", tags=["registry"], responses=responses(401, 403, 422))

Alias = Literal["champion", "challenger"]
ALIASES: Final = get_args(Alias)
VersionRef = Annotated[
    str,
    Path(description="A version number, or champion or challenger", examples=["3", "champion"]),
    *matching(r"^([1-9][0-9]{0,8}|champion|challenger)$", "must be a version number, or champion or challenger"),
]


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


def find_version(registry: Registry, ref: str) -> ModelVersionView:
    """The version ``ref`` names: a version number, or an alias pointing at one (404 otherwise)."""
    if ref in ALIASES:
        number = registry.aliases.get(ref)
        if number is None:
            raise not_found(f"no version of {registry.name!r} is {ref}")
        ref = number
    for found in registry.versions:
        if found.version == ref:
            return found
    raise not_found(f"version {ref} of {registry.name!r} does not exist")


@router.get(
    "/versions/{version}",
    summary="One registered version (a number, or champion / challenger)",
    description="`champion` and `challenger` name the version the alias points at (404 when it points nowhere).",
    responses=responses(404, 503),
)
async def get_version(gateway: GatewayDep, _: Viewer, version: VersionRef) -> ModelVersionView:
    return find_version(await read_registry(gateway), version)


@router.get(
    "/aliases/{alias}",
    summary="Which version an alias points at: the champion, or the challenger",
    description="The version, with its threshold and headline metrics; 404 when the alias points nowhere. "
    "`POST` on the same path moves the alias.",
    responses=responses(404, 503),
)
async def get_alias(
    gateway: GatewayDep, _: Viewer, alias: Annotated[Alias, Path(description="champion or challenger")]
) -> ModelVersionView:
    return find_version(await read_registry(gateway), alias)
