"""The dashboard's gateway client against an in-process fake gateway (httpx MockTransport); the fake lives here."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from streamlit.testing.v1 import AppTest

from credit_frontend.client import GatewayClient, GatewayDown, GatewayError, use_client_factory

pytestmark = pytest.mark.unit

Handler = Callable[[httpx.Request], httpx.Response]


def problem(status: int, detail: str, title: str = "", **extra: Any) -> httpx.Response:
    """A problem+json answer like the gateway's."""
    body = {"type": "about:blank", "title": title or httpx.codes.get_reason_phrase(status), "status": status}
    body |= {"detail": detail, "instance": "/", **extra}
    return httpx.Response(status, json=body, headers={"content-type": "application/problem+json"})


def sse(*states: dict[str, Any]) -> httpx.Response:
    """A server-sent-events answer with one ``job`` event per state."""
    text = "".join(f"event: job\nid: {i}\ndata: {json.dumps(s)}\n\n" for i, s in enumerate(states, 1))
    return httpx.Response(200, text=text, headers={"content-type": "text/event-stream"})


@dataclass
class FakeGateway:
    """Routes ``(METHOD, path)`` to a JSON body, a response or a handler; anything else is the gateway's 404."""

    routes: dict[tuple[str, str], Any] = field(default_factory=dict)
    down: bool = False
    calls: list[httpx.Request] = field(default_factory=list)

    def on(self, method: str, path: str, answer: Any) -> FakeGateway:
        self.routes[(method, path)] = answer
        return self

    def handle(self, request: httpx.Request) -> httpx.Response:
        if self.down:
            raise httpx.ConnectError("connection refused", request=request)
        self.calls.append(request)
        answer = self.routes.get((request.method, request.url.path))
        if answer is None:
            return problem(404, "Not Found")
        if callable(answer):
            result: httpx.Response = answer(request)
            return result
        if isinstance(answer, httpx.Response):
            return answer
        return httpx.Response(200, json=answer)

    def client(self) -> GatewayClient:
        return GatewayClient("http://gateway.test", "key-1", transport=httpx.MockTransport(self.handle))

    def sent(self, method: str, path: str) -> list[Any]:
        """The JSON bodies sent to ``method path``."""
        return [json.loads(r.content) for r in self.calls if r.method == method and r.url.path == path]


@pytest.fixture
def gateway() -> Iterator[FakeGateway]:
    fake = FakeGateway()
    use_client_factory(fake.client)
    yield fake
    use_client_factory(None)


def test_sends_the_api_key_and_returns_the_json(gateway: FakeGateway) -> None:
    gateway.on("GET", "/v1/datasets", [{"dataset_id": "ds-1"}])
    assert gateway.client().datasets() == [{"dataset_id": "ds-1"}]
    assert gateway.calls[0].headers["X-API-Key"] == "key-1"


def test_reads_are_cached_and_writes_empty_the_cache(gateway: FakeGateway) -> None:
    gateway.on("GET", "/v1/datasets", []).on("POST", "/v1/datasets", httpx.Response(202, json={"job_id": "j"}))
    client = gateway.client()
    client.datasets()
    client.datasets()
    assert len(gateway.calls) == 1
    client.build_dataset({"name": "x"})
    client.datasets()
    assert len(gateway.calls) == 3


def test_a_problem_becomes_a_gateway_error_with_title_detail_and_hint(gateway: FakeGateway) -> None:
    gateway.on("GET", "/v1/datasets/ds-9", problem(404, "dataset 'ds-9' does not exist"))
    with pytest.raises(GatewayError) as caught:
        gateway.client().dataset("ds-9")
    assert caught.value.status == 404
    assert caught.value.detail == "dataset 'ds-9' does not exist"
    assert not caught.value.not_available
    assert "deleted" in caught.value.hint


def test_an_unknown_route_is_not_available_yet(gateway: FakeGateway) -> None:
    with pytest.raises(GatewayError) as caught:
        gateway.client().raw_tables()
    assert caught.value.not_available
    assert "not available yet" in caught.value.hint


def test_validation_errors_are_given_by_field(gateway: FakeGateway) -> None:
    errors = [{"loc": ["body", "max_missing_rate"], "msg": "must be at most 1", "type": "less_than_equal"}]
    gateway.on("POST", "/v1/datasets", problem(422, "body.max_missing_rate: must be at most 1", errors=errors))
    with pytest.raises(GatewayError) as caught:
        gateway.client().build_dataset({"name": "x", "max_missing_rate": 2})
    assert caught.value.field_errors() == {"max_missing_rate": "must be at most 1"}


def test_rate_limit_hint_says_how_long_to_wait(gateway: FakeGateway) -> None:
    answer = problem(429, "too many expensive requests")
    answer.headers["Retry-After"] = "3"
    gateway.on("POST", "/v1/datasets", answer)
    with pytest.raises(GatewayError) as caught:
        gateway.client().build_dataset({"name": "x"})
    assert "wait 3 s" in caught.value.hint


def test_a_gateway_that_does_not_answer_is_down(gateway: FakeGateway) -> None:
    gateway.down = True
    with pytest.raises(GatewayDown) as caught:
        gateway.client().registry()
    assert "make up" in caught.value.hint


def test_a_non_json_error_keeps_its_text(gateway: FakeGateway) -> None:
    gateway.on("GET", "/v1/registry", httpx.Response(502, text="bad gateway from a proxy"))
    with pytest.raises(GatewayError) as caught:
        gateway.client().registry()
    assert caught.value.status == 502
    assert "proxy" in caught.value.detail


def test_ready_answers_even_when_not_ready(gateway: FakeGateway) -> None:
    gateway.on("GET", "/ready", httpx.Response(503, json={"ready": False, "checks": {"broker": False}}))
    assert gateway.client().ready()["checks"] == {"broker": False}


def test_follows_a_job_from_its_event_stream_until_it_ends(gateway: FakeGateway) -> None:
    states = [
        {"job_id": "j", "status": s, "progress": p} for s, p in (("queued", 0), ("running", 40), ("succeeded", 100))
    ]
    gateway.on("GET", "/v1/jobs/j/events", sse(*states))
    assert [s["progress"] for s in gateway.client().follow_job("j")] == [0, 40, 100]


def test_polls_the_job_when_the_stream_is_not_served(gateway: FakeGateway) -> None:
    answers = iter([{"job_id": "j", "status": "running", "progress": 50}, {"job_id": "j", "status": "failed"}])
    gateway.on("GET", "/v1/jobs/j/events", httpx.Response(200, text="data: {not json\n\n"))
    gateway.on("GET", "/v1/jobs/j", lambda _request: httpx.Response(200, json=next(answers)))
    states = list(gateway.client().follow_job("j", poll_s=0.0))
    assert [s["status"] for s in states] == ["running", "failed"]


def _page_script(name: str) -> None:
    import importlib

    importlib.import_module(f"credit_frontend.pages.{name}").render()


def open_page(name: str) -> AppTest:
    """Run one page of the dashboard in-process (against whatever gateway the factory gives)."""
    return AppTest.from_function(_page_script, args=(name,), default_timeout=60).run()


def texts(at: AppTest, kind: str) -> str:
    """Every text of the elements of ``kind`` (error, info, warning, success, markdown, caption ...), joined."""
    return "\n".join(str(e.value) for e in at.get(kind))


def test_a_slow_gateway_is_a_timeout_not_down(gateway: FakeGateway) -> None:
    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    gateway.on("GET", "/v1/registry", slow)
    with pytest.raises(GatewayError) as caught:
        gateway.client().registry()
    assert not isinstance(caught.value, GatewayDown)
    assert caught.value.status == 504
    assert "try again" in caught.value.hint
