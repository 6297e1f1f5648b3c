"""``/health``, ``/ready`` and ``/metrics``: what an orchestrator and a Prometheus server ask the gateway.

``/health`` and ``/ready`` are open (an orchestrator holds no key). ``/metrics`` needs a viewer key like any read:
Prometheus scrapes it with the key as a bearer token (``authorization: {type: Bearer, credentials_file: ...}`` in
its scrape configuration), so metrics never leak on a port a client can reach without one.
"""

from __future__ import annotations

import asyncio
from typing import Final

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, Field

from credit_shared import db, mlflow_utils
from credit_shared.runtime import run_checks
from gateway_service.deps import GatewayDep, Viewer
from gateway_service.problems import responses

NAME: Final = "gateway"
router = APIRouter(tags=["operations"])


class Liveness(BaseModel):
    """The process answers."""

    status: str = Field(examples=["ok"])
    service: str = Field(examples=[NAME])


class Readiness(BaseModel):
    """Whether every dependency answers, and each one's verdict."""

    ready: bool = Field(description="Every check passed")
    service: str = Field(examples=[NAME])
    checks: dict[str, bool] = Field(
        description="broker, mlflow, database: each one answers", examples=[{"broker": True, "mlflow": True}]
    )


@router.get("/health", summary="Liveness (no key needed)")
async def health() -> Liveness:
    return Liveness(status="ok", service=NAME)


@router.get(
    "/ready",
    summary="Readiness: broker, MLflow and database reachable (no key needed)",
    description="`200` when every dependency answers, `503` with the same body naming the one that does not.",
    response_model=Readiness,
    responses={503: {"model": Readiness, "description": "A dependency does not answer"}},
)
async def ready(gateway: GatewayDep) -> JSONResponse:
    settings = gateway.settings
    results = await run_checks(
        {
            "broker": lambda: gateway.broker.ping(2.0),
            "mlflow": lambda: asyncio.to_thread(mlflow_utils.ping, settings.mlflow),
            "database": lambda: asyncio.to_thread(db.ping, gateway.engine),
        }
    )
    ok = all(results.values())
    body = Readiness(ready=ok, service=NAME, checks=results)
    return JSONResponse(body.model_dump(), status_code=200 if ok else 503)


@router.get(
    "/metrics",
    summary="Prometheus metrics (viewer key, e.g. as a bearer token)",
    description="The Prometheus text exposition format. Scrape it with a viewer key: "
    "`authorization: {type: Bearer, credentials_file: /etc/prometheus/gateway-key}`.",
    response_class=Response,
    responses={
        200: {"description": "Metrics", "content": {"text/plain": {"schema": {"type": "string"}}}},
        **responses(401),
    },
)
async def metrics(gateway: GatewayDep, _: Viewer) -> Response:
    return Response(generate_latest(gateway.registry), media_type=CONTENT_TYPE_LATEST)
