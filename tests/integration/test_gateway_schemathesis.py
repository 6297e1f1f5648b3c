"""Property-based run of the gateway's OpenAPI document (schemathesis) with a valid administrator key.

Every operation is called with generated inputs; no answer may be a server error (5xx) or break the response
schema the document declares. The gateway runs in-process on FastStream's in-memory broker, with a stand-in
scoring responder and a fake model registry, so failures are the gateway's own.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import asynccontextmanager
from typing import Any

import hypothesis
import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from faststream.kafka import TestKafkaBroker
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from credit_shared import db
from credit_shared.settings import DatabaseSettings, Environment, PlatformSettings
from credit_shared.topics import LOAN_APPLICATIONS
from gateway_service.app import create_app
from gateway_service.model_registry import Registry
from gateway_service.runs import NotFound
from gateway_service.settings import Settings

pytestmark = pytest.mark.integration

ADMIN_KEY = "schemathesis-admin-key"


class EmptyRegistry:
    def read(self) -> Registry:
        return Registry(name="credit-default", aliases={}, versions=[])


class NoRuns:
    def experiments(self) -> list[Any]:
        return []

    def runs(self, experiment_id: str) -> list[Any]:
        raise NotFound(experiment_id)

    def run(self, run_id: str) -> Any:
        raise NotFound(run_id)

    def artifact(self, run_id: str, path: str) -> bytes:
        raise NotFound(run_id)

    def delete(self, run_id: str) -> None:
        raise NotFound(run_id)


@pytest.fixture(scope="module")
def api_schema(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    tmp = tmp_path_factory.mktemp("schemathesis")
    keys = tmp / "keys.json"
    keys.write_text(json.dumps({"admin": ADMIN_KEY}))
    url = f"sqlite:///{tmp / 'credit.db'}"
    db.migrate(url)
    settings = Settings(
        platform=PlatformSettings(home=tmp / "home", env=Environment.DEVELOPMENT),
        database=DatabaseSettings(url=url),
        dev_keys_file=keys,
        create_topics=False,
        rate_limit_per_s=1e6,
        rate_limit_burst=1_000_000,
        decision_timeout_s=2.0,
    )
    app = create_app(settings)
    app.state.gateway.models = EmptyRegistry()
    app.state.gateway.runs = NoRuns()
    broker = app.state.gateway.broker

    @broker.subscriber(LOAN_APPLICATIONS.name)
    async def scoring(body: dict[str, Any]) -> None:
        await broker.publish(
            {
                "request_id": body["request_id"], "sk_id_curr": body["application"]["SK_ID_CURR"],
                "probability": 0.05, "threshold": 0.1, "decision": "approved", "reasons": [],
                "model": {"name": "credit-default", "version": "1", "alias": "champion", "run_id": "r"},
                "scored_at": "2026-11-24T10:00:00Z", "latency_ms": 1.0, "correlation_id": body["correlation_id"],
            },
            topic=body["reply_to"],
        )  # fmt: skip

    original = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(a: FastAPI) -> Any:
        async with TestKafkaBroker(broker), original(a):
            yield

    app.router.lifespan_context = lifespan
    with TestClient(app):  # runs the lifespan; schemathesis then calls the same application object
        yield schemathesis.openapi.from_asgi("/openapi.json", app)


def test_no_server_error_and_every_response_matches_its_schema(api_schema: Any) -> None:
    failures: list[str] = []
    # /ready answers 503 by design while a dependency (here MLflow, absent) is down
    operations = [op for op in (r.ok() for r in api_schema.get_all_operations()) if op.path != "/ready"]
    assert len(operations) >= 20
    for operation in operations:

        @hypothesis.given(case=operation.as_strategy())
        @hypothesis.settings(
            max_examples=25,
            deadline=None,
            suppress_health_check=list(hypothesis.HealthCheck),
            derandomize=True,
            database=None,
        )
        def check(case: Any) -> None:
            case.call_and_validate(
                headers={"X-API-Key": ADMIN_KEY}, checks=[not_a_server_error, response_schema_conformance]
            )

        try:
            check()
        except (Exception, BaseExceptionGroup) as exc:  # noqa: BLE001 - report every operation's failures together
            failures.append(f"{operation.label}: {str(exc)[:2000]}")
    assert not failures, "\n\n".join(failures)


def test_the_document_names_every_resource(api_schema: Any) -> None:
    paths = set(api_schema.raw_schema["paths"])
    expected = {"/v1/jobs/{job_id}", "/v1/datasets", "/v1/scoring/decisions", "/v1/registry", "/v1/decisions"}
    assert expected <= paths
