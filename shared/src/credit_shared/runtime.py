"""The runtime every worker service shares.

A worker is a FastStream Kafka application served by uvicorn, which gives it an HTTP side for the launcher and for
orchestrators: ``GET /health`` (liveness: answers once the broker is connected), ``GET /ready`` (readiness: the broker
and the service's own checks), ``GET /metrics`` (Prometheus) and ``/asyncapi`` (the generated AsyncAPI document).
uvicorn turns SIGTERM into the ASGI shutdown, which stops the subscribers after the message in hand is handled.
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import json
import logging
import sys
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from faststream.asgi import AsgiFastStream, AsgiResponse, get
from faststream.kafka import KafkaBroker
from faststream.specification import AsyncAPI
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from credit_shared.kafka import make_broker
from credit_shared.logs import configure_logging
from credit_shared.settings import KafkaSettings, ServiceSettings

log = logging.getLogger(__name__)

# a check answers True / False, or (ok, why) to say why it is not ready
CheckResult = bool | tuple[bool, str]
ReadinessCheck = Callable[[], Awaitable[CheckResult] | CheckResult]
Hook = Callable[[], Awaitable[None]]


@dataclass
class Worker:
    """What a service hands to the runtime: its broker, metrics registry, readiness checks and hooks."""

    name: str
    title: str
    description: str
    broker: KafkaBroker
    registry: CollectorRegistry
    checks: dict[str, ReadinessCheck] = field(default_factory=dict)
    on_startup: list[Hook] = field(default_factory=list)
    after_startup: list[Hook] = field(default_factory=list)
    on_shutdown: list[Hook] = field(default_factory=list)
    version: str = "1.0.0"
    describe: Callable[[], dict[str, Any]] | None = None  # what /health adds about the service's state
    documented: tuple[KafkaBroker, ...] = ()  # brokers documented in AsyncAPI beside ``broker``, never started


def new_worker(kafka: KafkaSettings, *, name: str, title: str, description: str) -> Worker:
    """A service's worker: a fresh metrics registry and the broker reporting into it, named and described once.

    Nothing connects. The service then includes its routers in ``worker.broker`` and adds its checks and hooks.
    """
    registry = CollectorRegistry()
    broker = make_broker(kafka, service=name, registry=registry, description=description)
    return Worker(name=name, title=title, description=description, broker=broker, registry=registry)


def _json(body: dict[str, Any], status: int = 200) -> AsgiResponse:
    return AsgiResponse(json.dumps(body).encode(), status, headers={"content-type": "application/json"})


async def run_checks(checks: dict[str, ReadinessCheck], timeout_s: float = 3.0) -> dict[str, bool]:
    """Run readiness checks concurrently; a check that raises or times out counts as failed."""
    return {name: ok for name, (ok, _) in (await explain_checks(checks, timeout_s)).items()}


async def explain_checks(checks: dict[str, ReadinessCheck], timeout_s: float = 3.0) -> dict[str, tuple[bool, str]]:
    """Run readiness checks concurrently: ``(ok, why)`` of each (``why`` is empty when a check gives no reason)."""

    async def one(check: ReadinessCheck) -> tuple[bool, str]:
        try:
            result = check()
            if inspect.isawaitable(result):
                result = await asyncio.wait_for(result, timeout_s)
        except TimeoutError:
            return False, f"no answer within {timeout_s:g} s"
        except Exception as exc:
            log.debug("readiness check failed", exc_info=True)
            return False, f"{type(exc).__name__}: {exc}"
        if isinstance(result, tuple):
            return bool(result[0]), str(result[1])
        return bool(result), ""

    names = list(checks)
    results = await asyncio.gather(*(one(checks[n]) for n in names))
    return dict(zip(names, results, strict=True))


def specification(worker: Worker) -> AsyncAPI:
    """The AsyncAPI 3 specification of a worker, generated from its subscribers and publishers."""
    brokers = (worker.broker, *worker.documented)
    return AsyncAPI(*brokers, title=worker.title, version=worker.version, description=worker.description)


def build_asgi(worker: Worker) -> AsgiFastStream:
    """The ASGI application of a worker: the broker plus the health, readiness and metrics routes."""
    broker = worker.broker

    def described() -> dict[str, Any]:
        return worker.describe() if worker.describe else {}

    @get(include_in_schema=False)
    async def health(scope: Any) -> AsgiResponse:
        return _json({"status": "ok", "service": worker.name, **described()})  # alive; ``describe`` says how

    @get(include_in_schema=False)
    async def ready(scope: Any) -> AsgiResponse:
        checks = {"broker": lambda: broker.ping(2.0), **worker.checks}
        results = await explain_checks(checks)
        ok = all(passed for passed, _ in results.values())
        body = {"ready": ok, "service": worker.name, "checks": {n: passed for n, (passed, _) in results.items()}}
        why = {name: reason or "failed" for name, (passed, reason) in results.items() if not passed}
        return _json({**body, **({"why": why} if why else {}), **described()}, 200 if ok else 503)

    @get(include_in_schema=False)
    async def metrics(scope: Any) -> AsgiResponse:
        return AsgiResponse(generate_latest(worker.registry), 200, headers={"content-type": CONTENT_TYPE_LATEST})

    return AsgiFastStream(
        broker,
        asgi_routes=[("/health", health), ("/ready", ready), ("/metrics", metrics)],
        specification=specification(worker),
        asyncapi_path="/asyncapi",
        on_startup=worker.on_startup,
        after_startup=worker.after_startup,
        on_shutdown=worker.on_shutdown,
    )


def write_asyncapi(worker: Worker, path: Path) -> None:
    """Write the worker's AsyncAPI document as JSON."""
    spec = specification(worker).to_specification().to_jsonable()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(spec, indent=2, sort_keys=True) + "\n")


def main(
    build: Callable[[], tuple[Worker, ServiceSettings]], argv: Sequence[str] | None = None
) -> None:  # pragma: no cover - exercised through the launcher and e2e tests
    """Entry point of ``python -m <service>``: serve, or write the AsyncAPI document.

    Args:
        build: builds the worker and its settings (called once, after argument parsing).
        argv: command-line arguments (default ``sys.argv[1:]``).
    """
    parser = argparse.ArgumentParser()
    parser.add_argument("--asyncapi", type=Path, help="write the AsyncAPI document to this file and exit")
    args = parser.parse_args(argv)
    worker, settings = build()
    if args.asyncapi:
        write_asyncapi(worker, args.asyncapi)
        return
    serve(build_asgi(worker), worker.name, settings)
    sys.exit(0)


def serve(app: Any, name: str, settings: ServiceSettings) -> None:  # pragma: no cover - exercised end to end
    """Serve ``app`` with uvicorn on the service's host and port, our JSON or text logs instead of uvicorn's."""
    configure_logging(name, settings.platform.log_level, as_json=settings.platform.log_json)
    import uvicorn

    uvicorn.run(
        app, host=settings.host, port=settings.port, log_config=None, access_log=False, timeout_graceful_shutdown=30
    )
