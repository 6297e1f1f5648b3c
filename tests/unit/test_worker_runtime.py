import json

import httpx
import pytest
from faststream.kafka import TestKafkaBroker

from credit_shared import topics
from credit_shared.contracts.loans import EXAMPLE_APPLICATION, DeadLetter
from credit_shared.runtime import build_asgi, run_checks, specification
from scoring_service.app import build
from scoring_service.settings import Settings

pytestmark = pytest.mark.unit


def make_message(**overrides: object) -> bytes:
    return json.dumps({"request_id": "r-1", "application": {**EXAMPLE_APPLICATION, **overrides}}).encode()


@pytest.mark.anyio
async def test_failing_or_raising_checks_count_as_not_ready() -> None:
    def boom() -> bool:
        raise RuntimeError("down")

    async def fine() -> bool:
        return True

    assert await run_checks({"a": fine, "b": boom, "c": lambda: False}) == {"a": True, "b": False, "c": False}


@pytest.mark.anyio
async def test_health_ready_and_metrics_routes_answer() -> None:
    worker, _ = build(Settings())
    worker.checks["model"] = lambda: False
    async with TestKafkaBroker(worker.broker):
        transport = httpx.ASGITransport(app=build_asgi(worker))
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            assert (await client.get("/health")).json() == {"status": "ok", "service": "scoring"}
            ready = await client.get("/ready")
            assert ready.status_code == 503
            assert ready.json()["checks"]["model"] is False
            assert "scoring_messages_received_total" in (await client.get("/metrics")).text


@pytest.mark.anyio
async def test_one_bad_message_goes_to_the_dead_letter_topic_and_the_batch_goes_on() -> None:
    worker, _ = build(Settings())
    letters: list[DeadLetter] = []

    @worker.broker.subscriber(topics.LOAN_APPLICATIONS_DLQ.name)
    async def collect(letter: DeadLetter) -> None:
        letters.append(letter)

    async with TestKafkaBroker(worker.broker) as broker:
        await broker.publish_batch(make_message(), b"\xff", make_message(AMT_CREDIT="x"), topic="loan-applications")
    assert sorted(letter.reason for letter in letters) == ["invalid", "not_utf8"]
    received = worker.registry.get_sample_value("scoring_messages_received_total")
    assert received == 3


def test_asyncapi_documents_the_public_topics_with_their_schemas() -> None:
    worker, _ = build(Settings())
    spec = specification(worker).to_specification().to_jsonable()
    assert set(spec["channels"]) == {"loan-applications", "loan-applications.dlq"}
    schemas = json.dumps(spec["components"]["schemas"])
    assert "request_id" in schemas
    assert "original_encoding" in schemas
