"""``/v1/scoring``: decide one application synchronously (request/reply over Kafka, 504 on timeout)."""

from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from credit_shared.contracts.envelope import new_id
from credit_shared.contracts.loans import (
    EXAMPLE_APPLICATION,
    MAX_REQUEST_ID_LENGTH,
    LoanApplicationMessage,
    LoanDecision,
    message_key,
    validate_application,
)
from credit_shared.topics import LOAN_APPLICATIONS, SCORING_REPLIES
from gateway_service.deps import GatewayDep, LimitedAnalyst
from gateway_service.problems import ProblemError, responses
from gateway_service.replies import ReplyTimeout

log = logging.getLogger(__name__)
router = APIRouter(prefix="/scoring", tags=["scoring"], responses=responses(401, 403, 422, 429))


class DecideRequest(BaseModel):
    """An application to decide now."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"application": EXAMPLE_APPLICATION}]})

    request_id: Annotated[str | None, Field(min_length=1, max_length=MAX_REQUEST_ID_LENGTH)] = Field(
        None, description="Idempotency key; a new one is chosen when absent", examples=["web-2026-000001"]
    )
    application: dict[str, Any] = Field(
        description="Columns of the Home Credit application table; SK_ID_CURR required", examples=[EXAMPLE_APPLICATION]
    )

    @field_validator("application", mode="before")
    @classmethod
    def _validate(cls, value: Any) -> dict[str, Any]:
        return validate_application(value)


@router.post(
    "/decisions",
    summary="Decide one application now",
    description="Published on `loan-applications` with a reply address; the scoring service's decision is "
    "returned (and audited). 504 when no decision arrives in time.",
    responses=responses(503, 504),
)
async def decide(gateway: GatewayDep, _: LimitedAnalyst, body: DecideRequest) -> LoanDecision:
    correlation_id = new_id()
    message = LoanApplicationMessage(
        request_id=body.request_id or f"gw-{correlation_id}",
        application=body.application,
        reply_to=SCORING_REPLIES.name,
        correlation_id=correlation_id,
    )

    async def publish() -> None:
        try:
            await gateway.broker.publish(
                message,
                topic=LOAN_APPLICATIONS.name,
                key=message_key(message.sk_id_curr),
                correlation_id=correlation_id,
            )
        except Exception as exc:
            log.warning("could not publish a decision request: %s", exc)
            raise ProblemError(503, "the message broker is not reachable; try again later") from exc

    try:
        reply = await gateway.replies.request(correlation_id, publish, gateway.settings.decision_timeout_s)
    except ReplyTimeout:
        raise ProblemError(
            504, f"no decision within {gateway.settings.decision_timeout_s:g} s; the scoring service may be down"
        ) from None
    if "decision" not in reply:
        raise ProblemError(422, f"the application cannot be decided: {reply.get('error', 'rejected')}")
    try:
        return LoanDecision.model_validate(reply)
    except ValidationError as exc:
        log.error("the scoring service replied with an invalid decision: %s", exc)
        raise ProblemError(502, "the scoring service replied with an invalid decision") from exc
