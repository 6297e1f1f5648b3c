"""``/v1/decisions``: the audit trail of decisions, by client, by time range, by request id."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, Field

from credit_shared.contracts.common import ApplicantId, Moment, RequestId
from credit_shared.contracts.loans import Decision
from credit_shared.db import as_utc
from credit_shared.decisions_view import AuditedDecision, find_decisions, read_model_inputs
from gateway_service.deps import GatewayDep, Viewer
from gateway_service.problems import not_found, responses

router = APIRouter(prefix="/decisions", tags=["decisions"], responses=responses(401, 403, 422))


class DecisionView(BaseModel):
    """One audited decision."""

    request_id: str = Field(examples=["lo-2026-000001"])
    sk_id_curr: int = Field(examples=[100001])
    received_at: datetime
    decided_at: datetime
    probability: float = Field(examples=[0.137])
    threshold: float = Field(examples=[0.091])
    decision: str = Field(examples=["refused"])
    reasons: list[Any]
    model_name: str = Field(examples=["credit-default"])
    model_version: str = Field(examples=["3"])
    model_alias: str | None = Field(examples=["champion"])
    run_id: str
    shadow: dict[str, Any] | None = Field(None, description="The challenger's shadow score, when one ran")
    latency_ms: float
    input_hash: str = Field(description="SHA-256 of the application as received")
    features: dict[str, Any] | None = Field(None, description="The features it was made on (when asked for)")


class DecisionPage(BaseModel):
    """Decisions, newest first."""

    items: list[DecisionView]
    next_before: datetime | None = Field(None, description="Pass as `before` for the next (older) page")


def to_view(row: AuditedDecision, *, features: dict[str, Any] | None = None) -> DecisionView:
    """The client view of a recorded decision, with the model input it was decided on when given."""
    return DecisionView.model_validate(row, from_attributes=True).model_copy(update={"features": features})


@router.get(
    "",
    summary="Decisions by client, request id and time range, newest first (paginated)",
    description="Filters combine. The range is `since <= decided_at < until`: an empty one (`since` at or after "
    "`until`) holds no decision. `request_id` finds one decision whatever characters its id holds (a client "
    "rewrites `.` and `..` in a path).",
)
def list_decisions(
    *,
    gateway: GatewayDep,
    _: Viewer,
    sk_id_curr: Annotated[ApplicantId | None, Query(description="Only this client")] = None,
    request_id: Annotated[RequestId | None, Query(description="Only the decision of this request id")] = None,
    since: Annotated[Moment | None, Query(description="Decided at or after (RFC 3339, with its offset)")] = None,
    until: Annotated[Moment | None, Query(description="Decided before (RFC 3339, with its offset)")] = None,
    before: Annotated[Moment | None, Query(description="Page cursor (`next_before`): decided strictly before")] = None,
    decision: Annotated[Decision | None, Query(description="Only approved or only refused decisions")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    features: Annotated[bool, Query(description="Include the features of each decision")] = False,
) -> DecisionPage:
    since, until, before = (as_utc(t) if t else None for t in (since, until, before))
    bounds = [t for t in (until, before) if t is not None]
    rows = find_decisions(
        gateway.engine,
        sk_id_curr=sk_id_curr,
        request_id=request_id,
        since=since,
        before=min(bounds) if bounds else None,
        decision=decision.value if decision else None,
        limit=limit,
    )
    inputs = read_model_inputs(gateway.engine, [r.request_id for r in rows]) if features else {}
    items = [to_view(r, features=inputs.get(r.request_id)) for r in rows]
    return DecisionPage(items=items, next_before=items[-1].decided_at if len(items) == limit else None)


@router.get(
    "/{request_id:path}",
    summary="The decision of one request id",
    description="The id may hold any character its contract allows, `/` included (percent-encode it, or use "
    "`GET /v1/decisions?request_id=`).",
    responses=responses(404),
)
def get_decision(
    gateway: GatewayDep,
    _: Viewer,
    request_id: Annotated[RequestId, Path(description="The request id of the application")],
) -> DecisionView:
    found = find_decisions(gateway.engine, request_id=request_id, limit=1)
    if not found:
        raise not_found(f"no decision for request id {request_id!r}")
    return to_view(found[0], features=read_model_inputs(gateway.engine, [request_id]).get(request_id))
