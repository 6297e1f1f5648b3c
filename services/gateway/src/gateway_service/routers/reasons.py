"""``/v1/reasons``: the reason catalogue, the factor groups every refusal's reasons are stated in (docs/models.md)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from credit_shared.reasons import ReasonCatalogue, ReasonGroup, catalogue
from gateway_service.deps import Viewer
from gateway_service.problems import not_found, responses

router = APIRouter(prefix="/reasons", tags=["reasons"], responses=responses(401, 403, 422))


@router.get(
    "",
    summary="The reason catalogue",
    description="Every factor group a refusal's reasons are stated in: its stable code, its name, the sentence an "
    "applicant reads, and whether it is a protected attribute (never stated) or under review (age). A decision's "
    "`reasons[].code` is one of these codes.",
)
async def get_catalogue(_: Viewer) -> ReasonCatalogue:
    return catalogue()


@router.get("/{code}", summary="One factor group of the reason catalogue", responses=responses(404))
async def get_group(_: Viewer, code: Annotated[str, Path(pattern=r"^[A-Z][0-9]{2}$", examples=["R01"])]) -> ReasonGroup:
    found = next((g for g in catalogue().groups if g.code == code), None)
    if found is None:
        raise not_found(f"the reason catalogue has no code {code!r}")
    return found
