"""``/v1/clients``: a known client (an applicant of the raw application tables): data, latest decision, comparison
with all or similar clients, and what-if decisions on an edited copy."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any, Literal

import numpy as np
import pandas as pd
from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, Field, field_validator

from credit_shared.contracts.applications import ApplicationColumn, application_schema
from credit_shared.contracts.common import ApplicantId, ModelVersion
from credit_shared.contracts.envelope import new_id
from credit_shared.contracts.loans import Explanation, LoanDecision, validate_application
from credit_shared.decisions_view import find_decisions, published_decision
from credit_shared.homecredit import glossary
from credit_shared.homecredit.application import APPLICATION, ID
from credit_shared.homecredit.schema import Kind
from credit_shared.homecredit.tables import APPLICATION_TEST, APPLICATION_TRAIN
from credit_shared.homecredit.validation import SchemaError
from gateway_service import raw
from gateway_service.data import json_safe
from gateway_service.deps import Gateway, GatewayDep, LimitedAnalyst, LimitedViewer, Viewer
from gateway_service.problems import ProblemError, not_found, responses
from gateway_service.scoring_requests import decide_application, explain_application
from gateway_service.security import Role
from gateway_service.stats import Distribution, distribution

router = APIRouter(prefix="/clients", tags=["clients"], responses=responses(401, 403, 404, 422))

ClientId = Annotated[ApplicantId, Path(description="SK_ID_CURR of the client", examples=[100001])]
DEFAULT_FEATURES = ("EXT_SOURCE_3", "EXT_SOURCE_2", "EXT_SOURCE_1", "AMT_CREDIT", "AMT_ANNUITY", "DAYS_BIRTH")
MIN_GROUP = 30


class Client(BaseModel):
    """A known client: the application data and the latest audited decision."""

    sk_id_curr: int = Field(examples=[100001])
    table: str | None = Field(description="Raw table the data comes from", examples=["application_test"])
    application: dict[str, Any] | None = Field(description="The application's columns (null when not in the data)")
    decision: LoanDecision | None = Field(description="The latest decision on this client, if any")


class FeatureComparison(BaseModel):
    """Where a client stands on one feature."""

    feature: str = Field(examples=["EXT_SOURCE_3"])
    label: str = Field(examples=["External credit score 3"])
    value: float | str | None
    percentile: float | None = Field(description="Share of the group at or below the client's value, in %")
    median: float | None = None
    same_share: float | None = Field(None, description="Categorical: share of the group with the same value, %")
    distribution: Distribution


class Comparison(BaseModel):
    """A client against all clients or a similar group."""

    sk_id_curr: int
    group: Literal["all", "similar"]
    size: int = Field(description="Clients in the group")
    definition: str = Field(description="Who is in the group")
    features: list[FeatureComparison]


class WhatIf(BaseModel):
    """Columns to change on a copy of the client's application."""

    changes: dict[str, Any] = Field(
        description="Application column -> new value of the column's type (null = missing); SK_ID_CURR stays",
        examples=[{"EXT_SOURCE_3": 0.7, "AMT_CREDIT": 400000.0}],
        json_schema_extra=application_schema(with_id=False, extra=False),
    )

    @field_validator("changes")
    @classmethod
    def _only_columns(cls, value: dict[str, Any]) -> dict[str, Any]:
        unknown = sorted(k for k in value if k not in ApplicationColumn.__members__)
        if unknown:
            raise ValueError(f"not application columns one may change: {', '.join(unknown)[:500]}")
        return value


def _population(gateway: Gateway) -> list[tuple[str, pd.DataFrame]]:
    tables = []
    for name in (APPLICATION_TEST, APPLICATION_TRAIN):
        try:
            frame = raw.full(gateway.settings, gateway.data, name)
        except SchemaError as exc:
            raise ProblemError(503, f"raw table {name!r} cannot be read: {exc}") from exc
        if frame is not None:
            tables.append((name, frame))
    return tables


def _application(gateway: Gateway, sk_id_curr: int) -> tuple[str, dict[str, Any]] | None:
    for name, frame in _population(gateway):
        if sk_id_curr in frame.index:
            row = frame.loc[sk_id_curr]
            row = row.iloc[0] if isinstance(row, pd.DataFrame) else row
            values = {c: json_safe(row[c]) for c in APPLICATION.names if c in row.index}
            return name, {k: (None if v is pd.NA or (isinstance(v, float) and np.isnan(v)) else v)
                          for k, v in values.items()}  # fmt: skip
    return None


def _latest_decision(gateway: Gateway, sk_id_curr: int) -> LoanDecision | None:
    """The client's latest decision by a served model (a version an analyst named has no alias: a what-if)."""
    found = find_decisions(gateway.engine, sk_id_curr=sk_id_curr, served_only=True, limit=1)
    if not found:
        return None
    return published_decision(found[0])


@router.get("/{sk_id_curr}", summary="A known client: data and latest decision")
def get_client(gateway: GatewayDep, _: Viewer, sk_id_curr: ClientId) -> Client:
    found = _application(gateway, sk_id_curr)
    decision = _latest_decision(gateway, sk_id_curr)
    if found is None and decision is None:
        raise not_found(f"client {sk_id_curr} is not known")
    table, application = found if found else (None, None)
    return Client(sk_id_curr=sk_id_curr, table=table, application=application, decision=decision)


def _group(frame: pd.DataFrame, client: dict[str, Any], group: str) -> tuple[pd.DataFrame, str]:
    if group == "all":
        return frame, "every applicant of the raw application data"
    mask = pd.Series(True, index=frame.index)
    parts = []
    for column in ("NAME_CONTRACT_TYPE", "CODE_GENDER"):
        if client.get(column) is not None:
            mask &= frame[column].astype(object) == client[column]
            parts.append(f"{column} = {client[column]}")
    if client.get("DAYS_BIRTH") is not None:
        age = -float(client["DAYS_BIRTH"]) / 365.25
        ages = -frame["DAYS_BIRTH"].astype(float) / 365.25
        mask &= (ages - age).abs() <= 5
        parts.append(f"age within 5 years of {age:.0f}")
    similar = frame[mask]
    if len(similar) < MIN_GROUP:
        return frame, f"every applicant (fewer than {MIN_GROUP} similar ones: {', '.join(parts)})"
    return similar, ", ".join(parts)


@router.get(
    "/{sk_id_curr}/comparison",
    summary="A client against all clients or similar ones (percentiles of chosen features)",
    responses=responses(429),
)
def compare_client(
    gateway: GatewayDep,
    _: LimitedViewer,
    sk_id_curr: ClientId,
    group: Annotated[Literal["all", "similar"], Query(description="all, or similar clients")] = "all",
    features: Annotated[
        list[ApplicationColumn] | None, Query(description="Application columns to compare", max_length=20)
    ] = None,
) -> Comparison:
    found = _application(gateway, sk_id_curr)
    if found is None:
        raise not_found(f"client {sk_id_curr} is not in the application data")
    client = found[1]
    chosen = list(dict.fromkeys([f.value for f in features or []] or _default_features(gateway, sk_id_curr)))[:20]
    tables = _population(gateway)
    frame = tables[-1][1] if tables else pd.DataFrame()  # the training applicants when present
    members, definition = _group(frame, client, group)
    return Comparison(
        sk_id_curr=sk_id_curr,
        group=group,
        size=len(members),
        definition=definition,
        features=[_compare(f, client.get(f), members[f]) for f in chosen],
    )


def _default_features(gateway: Gateway, sk_id_curr: int) -> list[str]:
    decision = _latest_decision(gateway, sk_id_curr)
    named = [r.feature for r in decision.reasons] if decision else []
    return [f for f in named if f in APPLICATION.by_name] + list(DEFAULT_FEATURES)


def _compare(feature: str, value: Any, values: pd.Series) -> FeatureComparison:
    label = glossary.raw_label(glossary.APPLICATION_TABLE, feature)
    shown = distribution(feature, values, bins=20)
    present = values.dropna()
    if APPLICATION.by_name[feature].kind is Kind.CATEGORY:
        same = float((present.astype(object) == value).mean() * 100) if len(present) and value is not None else None
        return FeatureComparison(feature=feature, label=label, value=value, percentile=None, same_share=same,
                                 distribution=shown)  # fmt: skip
    numbers = present.astype(float)
    percentile = float((numbers <= float(value)).mean() * 100) if value is not None and len(numbers) else None
    median = float(numbers.median()) if len(numbers) else None
    return FeatureComparison(feature=feature, label=label, value=value, percentile=percentile, median=median,
                             distribution=shown)  # fmt: skip


@router.post(
    "/{sk_id_curr}/what-if",
    summary="Decide an edited copy of a client's application",
    description="The client's application with the changes applied is decided like any application (it is "
    "audited under a `whatif-` request id); the client's own record is untouched.",
    responses=responses(429, 503, 504),
)
async def what_if(gateway: GatewayDep, _: LimitedAnalyst, sk_id_curr: ClientId, body: WhatIf) -> LoanDecision:
    found = await asyncio.to_thread(_application, gateway, sk_id_curr)
    if found is None:
        raise not_found(f"client {sk_id_curr} is not in the application data")
    edited = {**found[1], **body.changes, ID: sk_id_curr}
    try:
        application = validate_application(edited)
    except ValueError as exc:
        raise ProblemError(422, str(exc)) from None
    return await decide_application(gateway, application, f"whatif-{new_id()[:24]}")


@router.get(
    "/{sk_id_curr}/explanation",
    summary="A client's full explanation: every feature's contribution and the base value",
    description="Computed by the scoring service with the model it serves (the champion), on the client's "
    "application and history, so it explains what that model decides: `base_value` plus every `contribution` is "
    "the model's score in log-odds. Analysts may name a registered `model_version` instead. Nothing is recorded.",
    responses=responses(429, 502, 503, 504),
)
async def explain_client(
    gateway: GatewayDep,
    principal: LimitedViewer,
    sk_id_curr: ClientId,
    model_version: Annotated[
        ModelVersion | None, Query(description="Analysts: a registered version instead of the champion")
    ] = None,
) -> Explanation:
    if model_version is not None and principal.role < Role.ANALYST:
        raise ProblemError(403, f"naming a model version needs the analyst role; the key has {principal.role.label}")
    application = await _known_application(gateway, sk_id_curr)
    return await explain_application(gateway, application, model_version)


async def _known_application(gateway: Gateway, sk_id_curr: int) -> dict[str, Any]:
    """The client's validated application from the raw tables (404 when the client is not in them)."""
    found = await asyncio.to_thread(_application, gateway, sk_id_curr)
    if found is None:
        raise not_found(f"client {sk_id_curr} is not in the application data")
    try:
        return validate_application(found[1])
    except ValueError as exc:
        raise ProblemError(422, f"the client's application data is not valid: {exc}") from None
