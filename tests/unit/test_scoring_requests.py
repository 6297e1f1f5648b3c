"""Internal reply-only requests of the scoring service (in-memory broker): a version named instead of the champion,
and a full explanation (every contribution and the base value) computed with the served model."""

from __future__ import annotations

import asyncio
import json
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from test_scoring_stream import FakeModel, Scoring, audit_rows, make_scoring

from credit_shared import topics
from credit_shared.contracts.loans import EXAMPLE_APPLICATION, Explanation, LoanDecision, ModelRef
from credit_shared.features import application_parts
from scoring_service.scorer import model_features
from scoring_service.served import OnlineHistory, ServedModel
from scoring_service.versions import UnknownVersion, VersionCache
from tests.scoring_models import train_lightgbm

pytestmark = pytest.mark.unit

REPLIES = topics.SCORING_REPLIES.name


def request(request_id: str, *, application: dict[str, Any] | None = None, **internal: Any) -> bytes:
    """A loan-applications message; ``internal`` adds reply_to / correlation_id / model_version / explain."""
    body = {"request_id": request_id, "application": application or EXAMPLE_APPLICATION, **internal}
    return json.dumps(body).encode()


class Registry:
    """Registered versions by number; counts the loads (a real loader downloads and unpickles each time)."""

    def __init__(self, **versions: ServedModel) -> None:
        self.versions = versions
        self.loads: list[str] = []

    def load(self, version: str) -> ServedModel:
        self.loads.append(version)
        if version not in self.versions:
            raise UnknownVersion(f"credit-default has no version {version}")
        return self.versions[version]


def with_versions(tmp_path: Path, registry: Registry, size: int = 2) -> Scoring:
    scoring = make_scoring(tmp_path, FakeModel("1"))
    scoring.versions = VersionCache(registry.load, size)
    return scoring


@pytest.mark.anyio
async def test_a_named_version_decides_replies_only_and_is_audited_without_alias(tmp_path: Path) -> None:
    scoring = with_versions(tmp_path, Registry(**{"4": FakeModel("4", threshold=0.95)}))
    await scoring.holder.reload()
    await scoring.publish_batch(
        request("lending", EXT_SOURCE_3=0.2),
        request("what-if", reply_to=REPLIES, correlation_id="c-4", model_version="4"),
    )
    decisions = scoring.decisions()
    replies = scoring.replies()
    assert [d.request_id for d in decisions] == ["lending"]  # the public topic carries lending decisions only
    assert decisions[0].model.version == "1"
    (reply,) = [LoanDecision.model_validate(r) for r in replies]
    assert (reply.request_id, reply.correlation_id) == ("what-if", "c-4")
    assert reply.model == ModelRef(name="credit-default", version="4", alias=None, run_id="run-4")
    assert reply.threshold == 0.95
    rows = {r.request_id: r for r in audit_rows(scoring)}
    assert (rows["what-if"].model_version, rows["what-if"].model_alias) == ("4", None)
    assert (rows["lending"].model_version, rows["lending"].model_alias) == ("1", "champion")


@pytest.mark.anyio
async def test_an_unknown_version_gets_an_error_reply_naming_it_and_nothing_else(tmp_path: Path) -> None:
    scoring = with_versions(tmp_path, Registry())
    await scoring.holder.reload()
    await scoring.publish_batch(
        request("nope", reply_to=REPLIES, correlation_id="c-9", model_version="9"),
        request("after"),
    )
    decisions = scoring.decisions()
    letters = scoring.letters()
    replies = scoring.replies()
    assert replies == [
        {"correlation_id": "c-9", "error": "credit-default has no version 9", "reason": "unknown_model_version"}
    ]
    assert [d.request_id for d in decisions] == ["after"]  # the stream goes on
    assert (letters, [r.request_id for r in audit_rows(scoring)]) == ([], ["after"])


@pytest.mark.anyio
async def test_a_registry_that_cannot_be_read_gets_a_model_unavailable_reply(tmp_path: Path) -> None:
    def broken(version: str) -> FakeModel:
        raise ConnectionError("MLflow is down")

    scoring = make_scoring(tmp_path, FakeModel("1"))
    scoring.versions = VersionCache(broken, 2)
    await scoring.holder.reload()
    await scoring.publish_batch(request("x", reply_to=REPLIES, correlation_id="c", model_version="3"))
    replies = scoring.replies()
    assert [(r["reason"], "MLflow is down" in r["error"]) for r in replies] == [("model_unavailable", True)]


@pytest.mark.anyio
async def test_internal_fields_without_a_reply_address_are_ignored(tmp_path: Path) -> None:
    registry = Registry(**{"4": FakeModel("4")})
    scoring = with_versions(tmp_path, registry)
    await scoring.holder.reload()
    await scoring.publish_batch(request("plain", model_version="4", explain="full"))
    decisions = scoring.decisions()
    assert [(d.request_id, d.model.version, d.model.alias) for d in decisions] == [("plain", "1", "champion")]
    assert registry.loads == []


@pytest.mark.anyio
async def test_a_lending_application_carrying_these_field_names_is_still_decided_not_dead_lettered(
    tmp_path: Path,
) -> None:
    scoring = with_versions(tmp_path, Registry())
    await scoring.holder.reload()
    await scoring.publish_batch(
        request("theirs", model_version=7, explain={"mode": "short"}),  # the sender's own extra fields
        request("junk", reply_to=REPLIES, correlation_id="c-j", model_version="../1"),
    )
    decisions = scoring.decisions()
    letters = scoring.letters()
    replies = scoring.replies()
    assert ([d.request_id for d in decisions], letters) == (["theirs"], [])
    assert [(r["correlation_id"], r["reason"]) for r in replies] == [("c-j", "unknown_model_version")]


@pytest.mark.anyio
async def test_named_versions_are_kept_least_recently_used_first_out() -> None:
    registry = Registry(**{v: FakeModel(v) for v in "2345"})
    cache = VersionCache(registry.load, size=2)
    for version in ["2", "3", "2", "4", "2", "3"]:
        assert (await cache.get(version)).ref.version == version
    assert registry.loads == ["2", "3", "4", "3"]  # 3 was dropped when 4 came, 2 was used since
    assert cache.versions == ["2", "3"]
    champion = FakeModel("5")
    named = await cache.get("5", served=(champion, None))  # the champion's own version: no second load
    assert (named.ref.version, named.ref.alias, registry.loads[-1]) == ("5", None, "3")
    with pytest.raises(UnknownVersion):
        await cache.get("77")
    assert cache.versions == ["2", "3"]


@pytest.mark.anyio
async def test_a_load_runs_outside_the_event_loop_and_happens_once_for_simultaneous_requests() -> None:
    release = threading.Event()
    loads: list[str] = []

    def slow(version: str) -> FakeModel:
        loads.append(version)
        assert release.wait(10), "the load blocked the event loop: nothing else could run"
        return FakeModel(version)

    async def meanwhile() -> None:  # runs only if the loop is free while the version loads
        await asyncio.sleep(0.05)
        release.set()

    cache = VersionCache(slow, 2)
    first, second, _ = await asyncio.gather(cache.get("3"), cache.get("3"), meanwhile())
    assert (first.ref.version, second.ref.version, loads) == ("3", "3", ["3"])


# --- full explanation ---------------------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_a_full_explanation_lists_every_feature_largest_first_and_is_neither_published_nor_audited(
    tmp_path: Path,
) -> None:
    scoring = with_versions(tmp_path, Registry(**{"4": FakeModel("4")}))
    await scoring.holder.reload()
    await scoring.publish_batch(
        request("e1", reply_to=REPLIES, correlation_id="c-1", explain="full"),
        request("e2", reply_to=REPLIES, correlation_id="c-2", explain="full", model_version="4"),
    )
    decisions = scoring.decisions()
    replies = scoring.replies()
    explanations = {e.correlation_id: e for e in map(Explanation.model_validate, replies)}
    champion, named = explanations["c-1"], explanations["c-2"]
    assert (champion.model.version, champion.model.alias, named.model.version, named.model.alias) == (
        "1", "champion", "4", None,
    )  # fmt: skip
    assert champion.base_value == -2.0
    assert [c.feature for c in champion.contributions] == [  # |0.5 - 0.1595|, 0.2, 0.1, 0, 0
        "EXT_SOURCE_3", "BURO_DAYS_CREDIT_MAX", "AMT_CREDIT", "PAYMENT_RATE", "CODE_GENDER",
    ]  # fmt: skip
    first = champion.contributions[0]
    assert (first.label, first.value) == ("label of EXT_SOURCE_3", EXAMPLE_APPLICATION["EXT_SOURCE_3"])
    assert first.contribution == pytest.approx(0.5 - EXAMPLE_APPLICATION["EXT_SOURCE_3"])
    assert champion.contributions[1].value == -100.0  # the client's history feature
    assert (decisions, audit_rows(scoring)) == ([], [])


@pytest.fixture(scope="module")
def lightgbm_version(sample_data: Path) -> Any:
    return train_lightgbm(sample_data)


@pytest.mark.anyio
async def test_contributions_and_base_value_add_up_to_the_raw_score_of_the_served_lightgbm(
    tmp_path: Path, lightgbm_version: Any
) -> None:
    scoring = make_scoring(tmp_path, None)
    model = lightgbm_version.loaded()
    ref = ModelRef(name="credit-default", version="1", alias="champion", run_id="r")
    served = ServedModel(model, ref, OnlineHistory(scoring.engine, "ds", []))  # application features only
    scoring.holder._loader = lambda alias, _current: served if alias == "champion" else None
    await scoring.holder.reload()
    applications = lightgbm_version.applications[:25]
    await scoring.publish_batch(
        *(request(f"e{k}", application=a.application, reply_to=REPLIES, correlation_id=f"c{k}", explain="full")
          for k, a in enumerate(applications)),
    )  # fmt: skip
    replies = scoring.replies()
    explanations = {e.correlation_id: e for e in map(Explanation.model_validate, replies)}
    assert len(explanations) == len(applications)
    features = model_features(applications, served, application_parts)
    probabilities = model.predict_proba(features)
    raw = model.pipeline.named_steps["classifier"].booster_.predict(
        model.transform(features).to_numpy(dtype=float), raw_score=True
    )
    for k in range(len(applications)):
        explanation = explanations[f"c{k}"]
        assert sorted(c.feature for c in explanation.contributions) == sorted(model.feature_names)
        total = explanation.base_value + sum(c.contribution for c in explanation.contributions)
        assert abs(total - raw[k]) < 1e-6
        assert explanation.probability == pytest.approx(probabilities[k], abs=1e-12)
        assert np.log(explanation.probability / (1 - explanation.probability)) == pytest.approx(total, abs=1e-6)
