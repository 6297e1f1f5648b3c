"""The first start against a fake gateway: what it asks, in which order, and when it does nothing."""

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from credit_local import bootstrap as first_start
from credit_local.bootstrap import BootstrapError, BootstrapSettings, bootstrap
from credit_shared.settings import PlatformSettings

pytestmark = pytest.mark.unit


class FakeGateway:
    def __init__(self, *, champion: str | None = None, datasets: int = 0, fail: str | None = None) -> None:
        self.aliases = {"champion": champion} if champion else {}
        self.datasets = [{"dataset_id": f"ds-{k}"} for k in range(datasets)]
        self.fail = fail
        self.posts: list[tuple[str, dict[str, Any]]] = []

    def handler(self, request: httpx.Request) -> httpx.Response:
        assert request.headers["X-API-Key"] == "admin-key"
        path = request.url.path
        if request.method == "GET" and path == "/v1/registry":
            return httpx.Response(200, json={"aliases": self.aliases, "versions": []})
        if request.method == "GET" and path == "/v1/datasets":
            return httpx.Response(200, json=self.datasets)
        if request.method == "POST":
            kind = path.rsplit("/", 1)[-1]
            self.posts.append((path, json.loads(request.content)))
            return httpx.Response(202, json={"url": f"/v1/jobs/{kind}", "status": "queued"})
        if path.startswith("/v1/jobs/"):
            kind = path.rsplit("/", 1)[-1]
            if kind == self.fail:
                return httpx.Response(200, json={"status": "failed", "progress": 10, "message": "no data"})
            result = {"datasets": {"dataset_id": "ds-new"}, "training": {"version": "7"}, "champion": {}}[kind]
            return httpx.Response(200, json={"status": "succeeded", "progress": 100, "result": result})
        return httpx.Response(404)


@pytest.fixture
def gateway(monkeypatch: pytest.MonkeyPatch) -> FakeGateway:
    fake = FakeGateway()
    real_client = httpx.Client

    def client(**kwargs: Any) -> httpx.Client:
        return real_client(transport=httpx.MockTransport(fake.handler), **kwargs)

    monkeypatch.setattr(first_start.httpx, "Client", client)
    monkeypatch.setattr(
        first_start,
        "generate",
        lambda out, n, seed, progress: (out / "application_train.csv").parent.mkdir(parents=True, exist_ok=True),
    )
    return fake


def run(tmp_path: Path, **settings: Any) -> first_start.Bootstrapped:
    seen: list[str] = []
    return bootstrap(
        PlatformSettings(home=tmp_path, **settings),
        "http://gw",
        "admin-key",
        BootstrapSettings(),
        lambda s, p, m: seen.append(s),
    )


def test_a_first_start_builds_trains_and_promotes_through_the_gateway(tmp_path: Path, gateway: FakeGateway) -> None:
    result = run(tmp_path)
    assert (result.dataset_id, result.version, result.created) == ("ds-new", "7", True)
    paths = [p for p, _ in gateway.posts]
    assert paths == ["/v1/datasets", "/v1/training", "/v1/registry/aliases/champion"]
    training = gateway.posts[1][1]
    assert (training["family"], training["imbalance"], training["dataset_id"]) == ("lightgbm", "class_weight", "ds-new")
    assert gateway.posts[2][1] == {"version": "7"}


def test_a_later_start_changes_nothing(tmp_path: Path, gateway: FakeGateway) -> None:
    gateway.aliases, gateway.datasets = {"champion": "3"}, [{"dataset_id": "ds-old"}]
    assert run(tmp_path) == first_start.Bootstrapped("ds-old", "3", created=False)
    assert gateway.posts == []


def test_an_existing_dataset_is_reused_for_the_first_model(tmp_path: Path, gateway: FakeGateway) -> None:
    gateway.datasets = [{"dataset_id": "ds-old"}]
    run(tmp_path)
    assert [p for p, _ in gateway.posts] == ["/v1/training", "/v1/registry/aliases/champion"]


def test_a_failed_step_stops_with_its_reason(tmp_path: Path, gateway: FakeGateway) -> None:
    gateway.fail = "datasets"
    with pytest.raises(BootstrapError, match="dataset failed: no data"):
        run(tmp_path)


def test_ready_waits_until_the_scoring_service_serves_the_champion(
    tmp_path: Path, gateway: FakeGateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    answers = iter([httpx.ConnectError("busy"), httpx.Response(503), httpx.Response(503), httpx.Response(200)])
    asked: list[str] = []

    def get(url: str, **_: Any) -> httpx.Response:
        asked.append(url)
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer

    monkeypatch.setattr(first_start.httpx, "get", get)
    monkeypatch.setattr(first_start.time, "sleep", lambda _: None)
    seen: list[tuple[str, float]] = []
    bootstrap(
        PlatformSettings(home=tmp_path), "http://gw", "admin-key", BootstrapSettings(),
        lambda s, p, m: seen.append((s, p)), scoring_url="http://scoring",
    )  # fmt: skip
    assert asked == ["http://scoring/ready"] * 4
    assert seen.index(("serving", 100.0)) < seen.index(("ready", 100.0)), "ready only once scoring serves"


def test_a_scoring_service_that_never_serves_fails_the_first_start_with_the_reason(
    tmp_path: Path, gateway: FakeGateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(first_start.httpx, "get", lambda url, **_: httpx.Response(503))
    monkeypatch.setattr(first_start.time, "sleep", lambda _: None)
    with pytest.raises(BootstrapError, match="did not serve version 7"):
        bootstrap(
            PlatformSettings(home=tmp_path), "http://gw", "admin-key", BootstrapSettings(timeout_s=0.01),
            lambda s, p, m: None, scoring_url="http://scoring",
        )  # fmt: skip
