"""The public Kafka contract, tested from outside with an independent client (confluent-kafka / librdkafka).

A lending application knows only ARCHITECTURE.md: topic names, UTF-8 JSON, the key (the applicant id as a decimal
string), ``request_id`` and ``application`` with the Kaggle column names. Nothing of the platform's own code is used
to publish or to read: the topic names and the checks below are spelled from the document, the applications are rows
of the real Home Credit ``application_test.csv``. Every documented field of every decision and dead letter is checked,
the same request id published twice leaves one audit row, and the scoring service's AsyncAPI document describes the
public topics with examples.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from tests.e2e.outside import (
    APPLICATIONS,
    DEAD_LETTERS,
    DECISIONS,
    TopicReader,
    application_message,
    as_json,
    kaggle_rows,
    make_producer,
    produce,
    request_ids,
)

if TYPE_CHECKING:  # the tests folder is no package: the fixture's type is for the type checker only
    from tests.e2e.conftest import Running

pytestmark = pytest.mark.e2e

MODEL_NAME, CHAMPION = "credit-default", "champion"
MAX_MESSAGE_BYTES = 1024 * 1024  # "too large": more than 1 MiB
DECISION_FIELDS = {"request_id", "sk_id_curr", "probability", "threshold", "decision", "reasons", "model",
                   "scored_at", "latency_ms"}  # fmt: skip
REASON_FIELDS = {"feature", "label", "value", "contribution"}
MODEL_FIELDS = {"name", "version", "alias", "run_id"}


def utc_time(text: Any) -> datetime:
    """An ISO-8601 time that says it is UTC (``Z`` or ``+00:00``)."""
    assert isinstance(text, str)
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    assert parsed.utcoffset() is not None, f"{text} has no time zone"
    assert parsed.utcoffset().total_seconds() == 0, f"{text} is not UTC"  # type: ignore[union-attr]
    return parsed


@dataclass
class Published:
    """What the module published and what came back."""

    applications: dict[str, dict[str, Any]]  # request id -> the application sent
    malformed: dict[str, tuple[bytes, str]]  # name -> (the bytes sent, the documented problem)
    duplicate: str
    decisions: dict[str, list[Any]] = field(default_factory=dict)  # request id -> decision messages
    dead_letters: dict[str, Any] = field(default_factory=dict)  # name -> its dead-letter message
    champion: dict[str, Any] = field(default_factory=dict)  # MLflow's champion version (REST API)


def test_time_to_first_decision_is_measured(embedded_platform: Running, sample_data: Path) -> None:
    """From publishing one application with the independent client to reading its decision (a figure, printed).

    First in the module: run alone (`pytest tests/e2e/test_public_contract.py`), it times the first decision of a
    freshly bootstrapped platform; in the whole suite, other tests have published before it.
    """
    kafka = embedded_platform.platform.urls["kafka"]
    reader, producer = TopicReader(kafka, DECISIONS), make_producer(kafka)
    try:
        application = kaggle_rows(sample_data, 20)[19]
        request_id = f"contract-first-{uuid.uuid4().hex[:8]}"
        started = time.monotonic()
        produce(producer, str(application["SK_ID_CURR"]), application_message(request_id, application))
        reader.read_until(lambda got: request_id in request_ids(got), f"the decision of {request_id}")
        elapsed = time.monotonic() - started
    finally:
        reader.close()
    print(f"\ntime to first decision (publish with confluent-kafka -> decision read back): {elapsed * 1000:.0f} ms")


@pytest.fixture(scope="module")
def published(embedded_platform: Running, sample_data: Path) -> Iterator[Published]:
    """Publish valid and malformed applications, then collect every decision and dead letter they caused."""
    kafka = embedded_platform.platform.urls["kafka"]
    producer = make_producer(kafka)
    decisions, letters = TopicReader(kafka, DECISIONS), TopicReader(kafka, DEAD_LETTERS)
    run = uuid.uuid4().hex[:8]
    rows = kaggle_rows(sample_data, 14)
    applications: dict[str, dict[str, Any]] = {}
    for i, row in enumerate(rows[:8]):
        applications[f"contract-{run}-full-{i}"] = row
    applications[f"contract-{run}-only-id-0"] = {"SK_ID_CURR": rows[8]["SK_ID_CURR"]}
    applications[f"contract-{run}-only-id-1"] = {"SK_ID_CURR": rows[9]["SK_ID_CURR"]}
    nulls = dict.fromkeys(("EXT_SOURCE_1", "EXT_SOURCE_2", "EXT_SOURCE_3", "AMT_ANNUITY", "OCCUPATION_TYPE"))
    applications[f"contract-{run}-nulls"] = {**rows[10], **nulls}
    applications[f"contract-{run}-extra"] = {**rows[11], "CHANNEL": "branch-42", "SCORE_V2": [1, 2]}
    long_id = f"contract-{run}-".ljust(64, "x")
    applications[long_id] = rows[12]
    duplicate = f"contract-{run}-twice"
    applications[duplicate] = rows[13]

    bad_id = str(rows[0]["SK_ID_CURR"])

    huge = {**rows[3], "NOTES": "y" * (MAX_MESSAGE_BYTES + 10)}
    malformed = {
        "not JSON": (f"not json {run} {{".encode(), "not_json"),
        "not UTF-8": (b"\xff\xfe\x00" + run.encode() + b"\x81", "not_utf8"),
        "not an object": (json.dumps([f"contract-{run}-array"]).encode(), "not_an_object"),
        "no SK_ID_CURR": (application_message(f"contract-{run}-no-id", {"AMT_CREDIT": 1.0}), "missing_sk_id_curr"),
        "wrong types": (
            application_message(f"contract-{run}-types", {**rows[1], "AMT_CREDIT": "lots", "DAYS_BIRTH": "young"}),
            "invalid",
        ),
        "request id too long": (application_message("x" * 65 + run, rows[2]), "invalid"),
        "too large": (application_message(f"contract-{run}-large", huge), "too_large"),
    }

    # the bad ones go first, on the same partitions as valid ones (same keys): the service must keep deciding
    for payload, _ in malformed.values():
        produce(producer, bad_id, payload)
    for request_id, application in applications.items():
        # an unknown top-level field is ignored as well
        extra = {"origination_system": "contract-test"} if request_id.endswith("-extra") else {}
        produce(producer, str(application["SK_ID_CURR"]), application_message(request_id, application, **extra))
    # the duplicate again, then a marker with the same key: once the marker is decided, the copy has been handled
    produce(producer, str(rows[13]["SK_ID_CURR"]), application_message(duplicate, rows[13]))
    marker = f"contract-{run}-after-twice"
    applications[marker] = rows[13]
    produce(producer, str(rows[13]["SK_ID_CURR"]), application_message(marker, rows[13]))
    del producer  # librdkafka's client closes when dropped

    try:
        seen = decisions.read_until(
            lambda got: set(applications) <= set(request_ids(got)), f"decisions for all {len(applications)} requests"
        )
        found: dict[str, Any] = {}

        def match_letters(got: list[Any]) -> bool:
            for message in got:
                letter = as_json(message)
                original = letter.get("original")
                for name, (payload, _) in malformed.items():
                    whole = original in (payload.decode("utf-8", "replace"), base64.b64encode(payload).decode())
                    same = letter.get("original_sha256") == hashlib.sha256(payload).hexdigest()  # a cut original
                    if name not in found and (whole or same):
                        found[name] = message
            return len(found) == len(malformed)

        letters.read_until(match_letters, f"dead letters for all {len(malformed)} malformed messages")
        result = Published(applications, malformed, duplicate, dead_letters=found)
        for message in seen:
            result.decisions.setdefault(as_json(message)["request_id"], []).append(message)
        mlflow = embedded_platform.platform.urls["mlflow"]
        answer = httpx.get(
            f"{mlflow}/api/2.0/mlflow/registered-models/alias",
            params={"name": MODEL_NAME, "alias": CHAMPION},
            timeout=30,
        )
        result.champion = answer.raise_for_status().json()["model_version"]
        yield result
    finally:
        decisions.close()
        letters.close()


def test_every_valid_application_gets_a_decision_keyed_by_the_applicant(published: Published) -> None:
    for request_id, application in published.applications.items():
        messages = published.decisions[request_id]
        assert len(messages) >= 1
        for message in messages:
            assert message.topic() == DECISIONS
            assert message.key() == str(application["SK_ID_CURR"]).encode()
            decision = as_json(message)
            assert decision["sk_id_curr"] == application["SK_ID_CURR"]
            assert type(decision["sk_id_curr"]) is int


def test_every_documented_field_of_a_decision_has_its_type_and_meaning(published: Published) -> None:
    refused = 0
    for request_id in published.applications:
        for message in published.decisions[request_id]:
            decision = as_json(message)
            assert set(decision) >= DECISION_FIELDS, DECISION_FIELDS - set(decision)
            assert decision["request_id"] == request_id
            probability, threshold = decision["probability"], decision["threshold"]
            assert isinstance(probability, float)
            assert 0.0 <= probability <= 1.0
            assert isinstance(threshold, float)
            assert 0.0 < threshold < 1.0
            assert decision["decision"] in {"approved", "refused"}
            assert (decision["decision"] == "refused") == (probability >= threshold), decision
            reasons = decision["reasons"]
            assert isinstance(reasons, list)
            assert len(reasons) <= 4
            if decision["decision"] == "refused":
                refused += 1
                assert reasons, f"a refusal without reasons: {decision}"
            for reason in reasons:
                assert set(reason) >= REASON_FIELDS, reason
                assert isinstance(reason["feature"], str)
                assert reason["feature"]
                assert isinstance(reason["label"], str)
                assert reason["label"]
                assert reason["value"] is None or isinstance(reason["value"], int | float | str)
                assert isinstance(reason["contribution"], float)
                assert reason["contribution"] > 0
            contributions = [r["contribution"] for r in reasons]
            assert contributions == sorted(contributions, reverse=True)
            assert set(decision["model"]) >= MODEL_FIELDS
            assert all(isinstance(decision["model"][k], str) for k in ("name", "version", "run_id"))
            assert utc_time(decision["scored_at"]) <= datetime.now(UTC)
            assert isinstance(decision["latency_ms"], int | float)
            assert decision["latency_ms"] >= 0
    assert refused >= 1, "no refusal among the sample applications: the reasons were never checked"


def test_decisions_name_the_registry_champion(published: Published) -> None:
    champion = published.champion
    for messages in published.decisions.values():
        for message in messages:
            model = as_json(message)["model"]
            assert model == {
                "name": MODEL_NAME,
                "version": champion["version"],
                "alias": CHAMPION,
                "run_id": champion["run_id"],
            }


def test_every_malformed_message_is_dead_lettered_with_its_original_bytes_and_the_error(
    published: Published,
) -> None:
    for name, (payload, reason) in published.malformed.items():
        message = published.dead_letters[name]
        assert message.topic() == DEAD_LETTERS
        letter = as_json(message)
        assert letter["reason"] == reason, (name, letter["error"])
        assert isinstance(letter["error"], str), name
        assert len(letter["error"]) > 10, name
        digest = hashlib.sha256(payload).hexdigest()
        assert (letter["original_size"], letter["original_sha256"]) == (len(payload), digest), name
        if letter["original_truncated"]:  # larger than the dead-letter topic carries: its first 64 KiB
            assert letter["original_encoding"] == "utf-8", name
            assert payload.startswith(letter["original"].encode()), name
        elif letter["original_encoding"] == "utf-8":
            assert letter["original"].encode() == payload, name
        else:
            assert letter["original_encoding"] == "base64", name
            assert base64.b64decode(letter["original"]) == payload, name
        assert letter["topic"] == APPLICATIONS
        assert isinstance(letter["partition"], int)
        assert letter["partition"] >= 0
        assert isinstance(letter["offset"], int)
        assert letter["offset"] >= 0
        assert utc_time(letter["failed_at"]) <= datetime.now(UTC)
    assert published.dead_letters["not UTF-8"] is not None
    assert as_json(published.dead_letters["not UTF-8"])["original_encoding"] == "base64"
    assert "SK_ID_CURR" in as_json(published.dead_letters["no SK_ID_CURR"])["error"]
    assert "AMT_CREDIT" in as_json(published.dead_letters["wrong types"])["error"]
    assert as_json(published.dead_letters["wrong types"])["request_id"].startswith("contract-")


def test_no_malformed_message_gets_a_decision(published: Published) -> None:
    with_ids = {"missing_sk_id_curr", "invalid", "too_large"}
    named = [
        json.loads(payload)["request_id"] for payload, reason in published.malformed.values() if reason in with_ids
    ]
    assert len(named) == 4
    assert not set(named) & set(published.decisions)


def test_the_same_request_id_twice_leaves_one_audit_row(published: Published, embedded_platform: Running) -> None:
    api, headers = embedded_platform.platform.urls["api"], embedded_platform.headers("viewer")
    request_id, application = published.duplicate, published.applications[published.duplicate]
    one = httpx.get(f"{api}/v1/decisions/{request_id}", headers=headers, timeout=30).raise_for_status().json()
    assert one["request_id"] == request_id
    listed = httpx.get(
        f"{api}/v1/decisions", params={"sk_id_curr": application["SK_ID_CURR"], "limit": 1000}, headers=headers,
        timeout=30,
    ).raise_for_status().json()["items"]  # fmt: skip
    assert [item["request_id"] for item in listed].count(request_id) == 1
    published_decisions = [as_json(m) for m in published.decisions[request_id]]
    assert one["decision"] in {d["decision"] for d in published_decisions}
    assert one["model_version"] == published.champion["version"]


def test_every_decision_is_in_the_audit_trail(published: Published, embedded_platform: Running) -> None:
    api, headers = embedded_platform.platform.urls["api"], embedded_platform.headers("viewer")
    for request_id in published.applications:
        row = httpx.get(f"{api}/v1/decisions/{request_id}", headers=headers, timeout=30).raise_for_status().json()
        decision = as_json(published.decisions[request_id][0])
        assert (row["sk_id_curr"], row["decision"]) == (decision["sk_id_curr"], decision["decision"])
        assert row["probability"] == pytest.approx(decision["probability"])


def asyncapi_of(embedded_platform: Running) -> dict[str, Any]:
    """The scoring service's AsyncAPI document: the page at ``/asyncapi`` and its JSON at ``/asyncapi.json``."""
    base = f"http://127.0.0.1:{embedded_platform.local.scoring_port}"
    page = httpx.get(f"{base}/asyncapi", timeout=30)
    assert page.status_code == 200
    assert "Scoring service" in page.text
    document = httpx.get(f"{base}/asyncapi.json", timeout=30).raise_for_status()
    assert document.headers["content-type"].startswith("application/json")
    return dict(document.json())


def message_payloads(document: dict[str, Any], channel: str) -> list[dict[str, Any]]:
    """The payload schemas of a channel's messages, references resolved."""

    def resolve(node: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in node:
            target: Any = document
            for part in node["$ref"].removeprefix("#/").split("/"):
                target = target[part]
            node = target
        return node

    found = [c for c in document["channels"].values() if c["address"] == channel]
    assert found, f"{channel} is not documented"
    payloads = []
    for ref in found[0]["messages"].values():
        payloads.append(resolve(resolve(ref)["payload"]))
    return payloads


@pytest.mark.parametrize("source", ["served", "committed"])
def test_the_scoring_asyncapi_describes_the_public_topics_with_examples(
    source: str, request: pytest.FixtureRequest
) -> None:
    root = Path(__file__).resolve().parents[2]
    if source == "served":
        document = asyncapi_of(request.getfixturevalue("embedded_platform"))
    else:
        document = json.loads((root / "docs" / "asyncapi" / "scoring.json").read_text())
    letter_fields = {"error", "original", "original_encoding", "partition", "offset", "failed_at"}
    expected = {APPLICATIONS: {"request_id", "application"}, DECISIONS: DECISION_FIELDS, DEAD_LETTERS: letter_fields}
    for channel, fields in expected.items():
        (payload,) = message_payloads(document, channel)
        assert payload["type"] == "object", f"{channel}: each message is one JSON object, not {payload['type']}"
        assert fields <= set(payload["properties"]), (channel, fields - set(payload["properties"]))
        assert payload.get("examples"), f"{channel}: no example"
        example = payload["examples"][0]
        assert fields <= set(example) or (channel == DEAD_LETTERS and "original" in example), (channel, example)
