"""``/v1/scoring``: decide one application synchronously (request/reply over Kafka, 504 on timeout)."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field, field_validator

from credit_shared.contracts.applications import application_schema
from credit_shared.contracts.common import ModelVersion, RequestId
from credit_shared.contracts.envelope import new_id
from credit_shared.contracts.loans import EXAMPLE_APPLICATION, Decision, LoanDecision, validate_application
from gateway_service.deps import Gateway, GatewayDep, LimitedAnalyst
from gateway_service.problems import ProblemError, responses
from gateway_service.scoring_requests import decide_application

MAX_BATCH = 1000
router = APIRouter(prefix="/scoring", tags=["scoring"], responses=responses(401, 403, 422, 429))
NamedVersion = Annotated[
    ModelVersion | None,
    Field(
        description="A registered version of the model to decide with instead of the champion (an analyst's "
        "what-if: audited with this version and no alias, not published on loan-decisions); 404 when it is not "
        "registered or archived",
        examples=["4"],
    ),
]


class DecideRequest(BaseModel):
    """An application to decide now."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"application": EXAMPLE_APPLICATION}]})

    request_id: RequestId | None = Field(
        None, description="Idempotency key; a new one is chosen when absent", examples=["web-2026-000001"]
    )
    application: dict[str, Any] = Field(
        description="Columns of the Home Credit application table, each of its type (null = missing); SK_ID_CURR "
        "required, a positive integer (at most 2^53 - 1); other fields are ignored",
        examples=[EXAMPLE_APPLICATION],
        json_schema_extra=application_schema(),
    )
    model_version: NamedVersion = None

    @field_validator("application", mode="before")
    @classmethod
    def _validate(cls, value: Any) -> dict[str, Any]:
        return validate_application(value)


@router.post(
    "/decisions",
    summary="Decide one application now",
    description="Published on `loan-applications` with a reply address; the scoring service's decision is "
    "returned (and audited). 504 when no decision arrives in time.",
    responses=responses(404, 503, 504),
)
async def decide(gateway: GatewayDep, _: LimitedAnalyst, body: DecideRequest) -> LoanDecision:
    return await decide_application(gateway, body.application, body.request_id, model_version=body.model_version)


class BatchRequest(BaseModel):
    """Up to 1,000 applications to decide now."""

    applications: list[dict[str, Any]] = Field(
        min_length=1,
        max_length=MAX_BATCH,
        description="Applications, each as `POST /v1/scoring/decisions` takes one (SK_ID_CURR required in each)",
        json_schema_extra={"items": application_schema()},
    )
    model_version: NamedVersion = None

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
    responses=responses(404, 413, 503, 504),
)
async def decide_batch(gateway: GatewayDep, _: LimitedAnalyst, body: BatchRequest) -> BatchDecisions:
    decisions = await decide_all(gateway, body.applications, f"gwb-{new_id()[:12]}", body.model_version)
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


async def decide_all(
    gateway: Gateway, applications: list[dict[str, Any]], prefix: str, model_version: str | None = None
) -> list[LoanDecision]:
    """Decide applications all at once and return their decisions in request order.

    The timeout is on progress, not on each decision: 1,000 applications published together queue in the scoring
    service (each would miss a single decision's timeout although the service answers steadily), so the batch
    fails with 504 only when no decision at all arrives for ``batch_stall_timeout_s`` (at least the decision
    timeout). The first failure cancels the rest.
    """
    stall_s = max(gateway.settings.decision_timeout_s, gateway.settings.batch_stall_timeout_s)
    if model_version is not None:  # its first use loads the version from the registry
        stall_s = max(stall_s, gateway.settings.named_version_timeout_s)
    budget_s = stall_s * max(1, len(applications))  # never reached while replies keep coming (see the loop)
    tasks = [
        asyncio.create_task(
            decide_application(gateway, a, f"{prefix}-{i}", timeout_s=budget_s, model_version=model_version)
        )
        for i, a in enumerate(applications)
    ]
    try:
        pending: set[asyncio.Task[LoanDecision]] = set(tasks)
        while pending:
            done, pending = await asyncio.wait(pending, timeout=stall_s, return_when=asyncio.FIRST_COMPLETED)
            if not done:
                raise ProblemError(
                    504, f"no decision within {stall_s:g} s while {len(pending)} of the batch waited; the scoring "
                    "service may be down"
                )  # fmt: skip
            for task in done:
                task.result()  # the first failure fails the batch
        return [task.result() for task in tasks]
    finally:
        for task in tasks:
            task.cancel()
