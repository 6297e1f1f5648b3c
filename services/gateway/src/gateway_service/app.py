"""Composition root of the gateway: the FastAPI application, its broker connection and health routes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from sqlalchemy import Engine

from credit_shared import db, mlflow_utils
from credit_shared.kafka import make_broker
from credit_shared.runtime import run_checks
from gateway_service.settings import Settings, get_settings

NAME = "gateway"


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the gateway application (connections open in the lifespan, not here)."""
    settings = settings or get_settings()
    registry = CollectorRegistry()
    broker = make_broker(settings.kafka, service=NAME, registry=registry)
    state: dict[str, Any] = {}

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine: Engine = db.make_engine(settings.database)
        state["engine"] = engine
        await broker.start()
        try:
            yield
        finally:
            await broker.stop()
            engine.dispose()

    app = FastAPI(
        title="Credit-scoring platform API",
        version="1.0.0",
        description="Datasets, training, registry, scoring, audit and drift monitoring of the credit-default model.",
        lifespan=lifespan,
    )

    @app.get("/health", tags=["operations"], summary="Liveness")
    async def health() -> dict[str, str]:
        return {"status": "ok", "service": NAME}

    @app.get("/ready", tags=["operations"], summary="Readiness: broker, MLflow and database reachable")
    async def ready() -> JSONResponse:
        results = await run_checks(
            {
                "broker": lambda: broker.ping(2.0),
                "mlflow": lambda: mlflow_utils.ping(settings.mlflow),
                "database": lambda: db.ping(state["engine"]),
            }
        )
        ok = all(results.values())
        return JSONResponse({"ready": ok, "service": NAME, "checks": results}, status_code=200 if ok else 503)

    @app.get("/metrics", tags=["operations"], summary="Prometheus metrics", include_in_schema=False)
    async def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return app
