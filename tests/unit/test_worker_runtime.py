import json
from pathlib import Path

import httpx
import pytest
from faststream.kafka import TestKafkaBroker

from credit_shared.runtime import build_asgi, run_checks, specification
from credit_shared.settings import DatabaseSettings
from scoring_service.app import build
from scoring_service.settings import Settings

pytestmark = pytest.mark.unit


@pytest.mark.anyio
async def test_failing_or_raising_checks_count_as_not_ready() -> None:
    def boom() -> bool:
        raise RuntimeError("down")

    async def fine() -> bool:
        return True

    assert await run_checks({"a": fine, "b": boom, "c": lambda: False}) == {"a": True, "b": False, "c": False}


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(database=DatabaseSettings(url=f"sqlite:///{tmp_path / 'app.db'}"))


@pytest.mark.anyio
async def test_health_answers_while_readiness_waits_for_a_model(settings: Settings) -> None:
    worker, _ = build(settings)
    async with TestKafkaBroker(worker.broker):
        transport = httpx.ASGITransport(app=build_asgi(worker))
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            health = (await client.get("/health")).json()
            assert {k: health[k] for k in ("status", "service")} == {"status": "ok", "service": "scoring"}
            assert health["model"] == "no model loaded yet: loading the champion from the registry"  # alive, honest
            ready = await client.get("/ready")
            assert ready.status_code == 503
            assert ready.json()["checks"]["model"] is False
            assert ready.json()["why"]["model"] == health["model"]
            assert ready.json()["why"]["stream"] == "not connected to loan-applications"
            assert "scoring_messages_received_total" in (await client.get("/metrics")).text


def test_asyncapi_documents_the_public_topics_with_their_schemas(settings: Settings) -> None:
    worker, _ = build(settings)
    spec = specification(worker).to_specification().to_jsonable()
    assert {"loan-applications", "loan-applications.dlq", "loan-decisions"} <= set(spec["channels"])
    schemas = json.dumps(spec["components"]["schemas"])
    assert "request_id" in schemas
    assert "original_encoding" in schemas
