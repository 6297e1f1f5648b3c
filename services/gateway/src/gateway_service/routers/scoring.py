"""``/v1/scoring``: decide one application synchronously (request/reply over Kafka, 504 on timeout)."""

from __future__ import annotations

import asyncio
import logging
from typing import Annotated, Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from credit_shared.contracts.envelope import new_id
from credit_shared.contracts.loans import (
    EXAMPLE_APPLICATION,
    MAX_REQUEST_ID_LENGTH,
    Decision,
    LoanApplicationMessage,
    LoanDecision,
    message_key,
    validate_application,
)
from credit_shared.topics import LOAN_APPLICATIONS, SCORING_REPLIES
from gateway_service.deps import Gateway, GatewayDep, LimitedAnalyst
from gateway_service.problems import ProblemError, responses
from gateway_service.replies import ReplyTimeout

log = logging.getLogger(__name__)
MAX_BATCH = 1000
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
    return await decide_application(gateway, body.application, body.request_id)


class BatchRequest(BaseModel):
    """Up to 1,000 applications to decide now."""

    applications: list[dict[str, Any]] = Field(
        min_length=1, max_length=MAX_BATCH, description="Applications (SK_ID_CURR required in each)"
    )

    @field_validator("applications", mode="before")
    @classmethod
    def _validate(cls, value: Any) -> list[dict[str, Any]]:
        if not isinstance(value, list):
            raise ValueError("applications must be a list")
        errors, clean = [], []
        for i, application in enumerate(value[: MAX_BATCH + 1]):
            try:
                clean.append(validate_application(application))
            except ValueError as exc:
                errors.append(f"application {i}: {exc}")
        if errors:
            raise ValueError("; ".join(errors[:10]))
        return clean


class FeatureWeight(BaseModel):
    """How much a feature weighed over a batch."""

    feature: str = Field(examples=["EXT_SOURCE_3"])
    label: str = Field(examples=["External credit score 3"])
    mean_abs_contribution: float = Field(description="Mean |contribution| over the batch's decisions")
    decisions: int = Field(description="Decisions whose reasons name the feature")


class BatchDecisions(BaseModel):
    """The decisions of a batch, in request order, and the features that weighed most."""

    decisions: list[LoanDecision]
    refused: int
    features: list[FeatureWeight] = Field(
        description="Mean absolute contribution of each feature named in the decisions' reason codes (a feature "
        "absent from a decision's reasons counts as 0), largest first"
    )


@router.post(
    "/batches",
    summary="Decide a batch of up to 1,000 applications now",
    description="Each application is decided like a single one (request/reply); the answer adds the mean "
    "absolute contribution of each feature over the batch.",
    responses=responses(413, 503, 504),
)
async def decide_batch(gateway: GatewayDep, _: LimitedAnalyst, body: BatchRequest) -> BatchDecisions:
    prefix = new_id()[:12]
    results = await asyncio.gather(
        *(decide_application(gateway, a, f"gwb-{prefix}-{i}") for i, a in enumerate(body.applications)),
        return_exceptions=True,
    )
    for result in results:
        if isinstance(result, BaseException):
            raise result
    decisions = [r for r in results if isinstance(r, LoanDecision)]
    totals: dict[str, list[float]] = {}
    labels: dict[str, str] = {}
    for decision in decisions:
        for reason in decision.reasons:
            totals.setdefault(reason.feature, []).append(abs(reason.contribution))
            labels[reason.feature] = reason.label
    weights = [
        FeatureWeight(feature=f, label=labels[f], mean_abs_contribution=sum(v) / len(decisions), decisions=len(v))
        for f, v in totals.items()
    ]
    weights.sort(key=lambda w: w.mean_abs_contribution, reverse=True)
    refused = sum(d.decision == Decision.REFUSED for d in decisions)
    return BatchDecisions(decisions=decisions, refused=refused, features=weights)


async def decide_application(gateway: Gateway, application: dict[str, Any], request_id: str | None) -> LoanDecision:
    """Publish one validated application with a reply address and wait for its decision.

    Raises:
        ProblemError: 503 when the broker is unreachable, 504 when no decision arrives in time, 422 when the
            scoring service refuses the application, 502 when its reply is not a decision.
    """
    correlation_id = new_id()
    message = LoanApplicationMessage(
        request_id=request_id or f"gw-{correlation_id}",
        application=application,
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
