"""Composition root of the gateway: the FastAPI application, its broker connection and health routes."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi_offline import FastAPIOffline
from prometheus_client import CollectorRegistry
from sqlalchemy import Engine

from credit_shared import db
from credit_shared.contracts import training as training_contract
from credit_shared.kafka import ensure_topics, make_broker
from credit_shared.settings import Environment, refuse_placeholder
from credit_shared.topics import DATASET_EVENTS, MONITORING_EVENTS, SCORING_EVENTS, SCORING_REPLIES, TRAINING_EVENTS
from gateway_service import openapi, problems, tables
from gateway_service.data import DataCache
from gateway_service.deps import Gateway
from gateway_service.guard import Authenticate
from gateway_service.jobs import JobStore
from gateway_service.middleware import BodyLimit, StrictJson
from gateway_service.model_registry import MlflowRegistry
from gateway_service.ratelimit import TokenBuckets
from gateway_service.replies import ReplyWaiter
from gateway_service.routers import (
    clients,
    datasets,
    decisions,
    experiments,
    jobs,
    monitoring,
    operations,
    performance,
    raw,
    reasons,
    scoring,
    scorings,
    training,
)
from gateway_service.routers import registry as registry_router
from gateway_service.runs import MlflowRuns
from gateway_service.security import KeyStore, Role, load_dev_keys
from gateway_service.settings import Settings, get_settings

NAME = operations.NAME
DOCS_ASSETS = "/docs-assets"  # Swagger UI and ReDoc scripts, served from the fastapi-offline package
OPEN_PATHS = frozenset({"/health", "/ready", "/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json"})
EVENT_TOPICS = (DATASET_EVENTS, TRAINING_EVENTS, SCORING_EVENTS, MONITORING_EVENTS)
# events after which the cached registry is stale
REGISTRY_CHANGES = frozenset({training_contract.TRAINED, training_contract.PROMOTED})
log = logging.getLogger(__name__)


def check_secrets(settings: Settings) -> None:
    """Refuse placeholder secrets outside development.

    Raises:
        ValueError: naming the offending setting.
    """
    if settings.bootstrap_admin_key is not None:
        refuse_placeholder(settings.bootstrap_admin_key, "GATEWAY_BOOTSTRAP_ADMIN_KEY", settings.platform.env)


def register_keys(settings: Settings, keys: KeyStore) -> None:
    """Register the development keys (development only) and the bootstrap administrator key, when configured."""
    if settings.dev_keys_file is not None:
        if settings.platform.env is Environment.DEVELOPMENT:
            roles = load_dev_keys(keys, settings.dev_keys_file)
            log.info("development API keys registered for %s", ", ".join(roles))
        else:
            log.warning("GATEWAY_DEV_KEYS_FILE is ignored outside development")
    if settings.bootstrap_admin_key is not None:
        key = settings.bootstrap_admin_key.get_secret_value()
        keys.upsert("bootstrap-admin", "bootstrap administrator", Role.ADMIN, key)


def _wire_consumers(gateway: Gateway) -> None:
    broker = gateway.broker

    @broker.subscriber(
        *(t.name for t in EVENT_TOPICS),
        group_id=gateway.settings.jobs_group,
        session_timeout_ms=gateway.settings.kafka.session_timeout_ms,
        heartbeat_interval_ms=gateway.settings.kafka.heartbeat_interval_ms,
        auto_offset_reset="earliest",  # events published while the gateway was down still reach their job
        title="gateway-job-events",
        description="Moves jobs on from the services' progress, result and failure events",
    )
    async def on_event(body: dict[str, Any]) -> None:
        if body.get("type") in REGISTRY_CHANGES:  # before the job ends: a client that saw it end reads the change
            forget = getattr(gateway.models, "forget", None)
            if callable(forget):
                forget()
        await asyncio.to_thread(gateway.jobs.apply, body)

    @broker.subscriber(
        SCORING_REPLIES.name,
        fetch_max_wait_ms=gateway.settings.reply_fetch_wait_ms,
        title="gateway-scoring-replies",
        description="Decisions answering the gateway's synchronous requests (no group: every replica reads all)",
    )
    async def on_reply(body: dict[str, Any]) -> None:
        gateway.replies.resolve(body)


async def connect_broker(gateway: Gateway, *, timeout_s: float) -> bool:
    """Create the topics (when configured) and start the broker; False when Kafka does not answer."""
    try:
        if gateway.settings.create_topics:
            await ensure_topics(gateway.settings.kafka, timeout_s=timeout_s)
        await asyncio.wait_for(gateway.broker.start(), timeout_s)
    except Exception as exc:  # noqa: BLE001 - any failure to connect is retried
        log.warning("Kafka at %s is not reachable yet: %r", gateway.settings.kafka.bootstrap_servers, exc)
        # a start that timed out may have left consumers running: close them, or the retry would add a second
        # member to the jobs group that holds its partitions until its session expires (events unread for minutes)
        with contextlib.suppress(Exception):
            await gateway.broker.stop()
        return False
    log.info("connected to Kafka at %s", gateway.settings.kafka.bootstrap_servers)
    return True


async def keep_connecting(gateway: Gateway, max_delay_s: float = 10.0) -> None:
    """Retry :func:`connect_broker` with a growing delay until it succeeds."""
    delay = 0.5
    while not await connect_broker(gateway, timeout_s=10.0):
        await asyncio.sleep(delay)
        delay = min(max_delay_s, delay * 2)


def install_middleware(app: FastAPI, gateway: Gateway) -> None:
    """The request pipeline, outermost first: CORS (when configured), the key, the body's size, JSON without NaN."""
    settings = gateway.settings
    app.add_middleware(StrictJson)
    app.add_middleware(
        BodyLimit,
        max_bytes=settings.max_body_bytes,
        overrides={"/v1/scoring/batches": settings.max_batch_body_bytes},
    )
    # outermost but CORS (a preflight carries no key): the key is checked before a body is read or a path routed
    app.add_middleware(Authenticate, keys=gateway.keys, open_paths=OPEN_PATHS, open_prefixes=(DOCS_ASSETS + "/",))
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "PUT", "DELETE"],
            allow_headers=["X-API-Key", "Authorization", "Content-Type"],
            expose_headers=["Location", "Retry-After"],
        )


def build_gateway(settings: Settings) -> Gateway:
    """The gateway's collaborators, built from the settings (nothing connects yet)."""
    registry = CollectorRegistry()
    engine: Engine = db.make_engine(settings.database)
    return Gateway(
        settings=settings,
        broker=make_broker(settings.kafka, service=NAME, registry=registry),
        registry=registry,
        engine=engine,
        keys=KeyStore(engine, cache_s=settings.key_cache_s),
        jobs=JobStore(engine),
        replies=ReplyWaiter(),
        buckets=TokenBuckets(settings.rate_limit_per_s, settings.rate_limit_burst),
        data=DataCache(settings.data_cache_items, settings.data_cache_mb * 1024 * 1024),
        models=MlflowRegistry(settings.mlflow),
        runs=MlflowRuns(settings.mlflow),
    )


def lifespan_of(gateway: Gateway) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """What the application does as it starts (migrate, register keys, connect to Kafka) and stops."""
    settings, broker, engine = gateway.settings, gateway.broker, gateway.engine

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # MLflow's client retries for minutes by default: a request must fail fast instead (503)
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", str(int(settings.mlflow.request_timeout_s)))
        if settings.migrate_on_start:
            await asyncio.to_thread(tables.migrate, settings.database.url)  # shared's chain, then the gateway's
        await asyncio.to_thread(register_keys, settings, gateway.keys)
        connecting = None
        if not await connect_broker(gateway, timeout_s=30.0):  # a group join alone takes seconds on tansu
            # serve anyway: reads work, /ready says 503, Kafka-backed requests answer 503 until connected
            connecting = asyncio.create_task(keep_connecting(gateway))
        try:
            yield
        finally:
            if connecting is not None:
                connecting.cancel()
            await broker.stop()
            engine.dispose()

    return lifespan


def include_routers(app: FastAPI) -> None:
    """The operations routes at the root, every resource under ``/v1``."""
    app.include_router(operations.router)
    v1 = APIRouter(prefix="/v1")
    for module in (
        jobs,
        raw,
        datasets,
        training,
        experiments,
        registry_router,
        scoring,
        scorings,
        clients,
        decisions,
        monitoring,
        performance,
        reasons,
    ):
        v1.include_router(module.router)
    app.include_router(v1)


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the gateway application (connections open in the lifespan, not here).

    Raises:
        ValueError: when a placeholder secret is configured outside development.
    """
    settings = settings or get_settings()
    check_secrets(settings)
    gateway = build_gateway(settings)
    _wire_consumers(gateway)
    app = FastAPIOffline(  # the documentation pages load Swagger UI and ReDoc from the gateway, not from a CDN
        title="Credit-scoring platform API",
        version="1.0.0",
        description=openapi.DESCRIPTION,
        lifespan=lifespan_of(gateway),
        static_url=DOCS_ASSETS,
        swagger_ui_parameters={"validatorUrl": None},  # Swagger UI would send the document to an online validator
    )
    app.state.gateway = gateway
    problems.install(app)
    openapi.install(app)
    install_middleware(app, gateway)
    include_routers(app)
    return app
