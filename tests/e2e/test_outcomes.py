"""The outcomes loop on the embedded platform: labelled applications the champion never saw are decided, their
outcomes published, and ``/v1/performance`` gives the realized figures the test computes itself, for the champion
and for the challenger scored in shadow on the same applicants; unusable outcomes land in ``loan-outcomes.dlq``.

The champion was trained on the platform's synthetic tables; the applications are real labelled rows of the Home
Credit sample (``application_train.csv``, its ``TARGET`` kept aside as the outcome), sent and read with an
independent Kafka client (confluent-kafka) as a lender would. The platform is shared: only these applications get
outcomes, so the realized figures are theirs alone, while the decision counts include other tests' traffic.
"""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from sklearn.metrics import roc_auc_score
from sqlalchemy import create_engine, text

from credit_local import platform_home
from tests.e2e.conftest import Running, api, follow_job
from tests.e2e.outside import DECISIONS, TopicReader, application_message, as_json, kaggle_rows, make_producer

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1800)]

OUTCOMES, OUTCOMES_DLQ = "loan-outcomes", "loan-outcomes.dlq"
APPLICANTS = 400
WAIT_S = 600.0


def set_challenger(running: Running) -> str:
    """Train a logistic regression on the platform's dataset, point ``challenger`` at it, wait until it is served."""
    with api(running) as client:
        body = {
            "dataset_id": running.served.dataset_id,
            "family": "logistic_regression",
            "folds": 2,
            "run_name": "outcomes-challenger",
        }
        job = client.post("/v1/training", json=body).raise_for_status().json()
        version = str(follow_job(client, job, WAIT_S)["version"])
        promotion = client.post("/v1/registry/aliases/challenger", json={"version": version}).raise_for_status()
        follow_job(client, promotion.json(), WAIT_S)
    ready = f"http://127.0.0.1:{running.local.scoring_port}/ready"
    deadline = time.monotonic() + WAIT_S
    while f"challenger v{version}" not in httpx.get(ready, timeout=10).text:
        assert time.monotonic() < deadline, f"scoring does not shadow-score v{version}"
        time.sleep(0.5)
    return version


def publish(kafka: str, topic: str, messages: list[tuple[str, bytes]]) -> None:
    producer = make_producer(kafka, **{"linger.ms": 20})
    for key, value in messages:
        producer.produce(topic, value=value, key=key.encode())
        producer.poll(0)
    assert producer.flush(60) == 0, f"messages to {topic} not delivered"


def decide(running: Running, rows: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Publish the applications and read their decisions from ``loan-decisions``."""
    kafka = running.platform.urls["kafka"]
    reader = TopicReader(kafka, DECISIONS)
    decided: dict[str, dict[str, Any]] = {}
    try:
        publish(
            kafka, "loan-applications", [(str(r["SK_ID_CURR"]), application_message(i, r)) for i, r in rows.items()]
        )

        def done(messages: list[Any]) -> bool:
            for m in messages:
                d = as_json(m)
                if d["request_id"] in rows:
                    decided[d["request_id"]] = d
            messages.clear()
            return len(decided) == len(rows)

        reader.read_until(done, f"decisions of {len(rows)} applications", WAIT_S)
    finally:
        reader.close()
    return decided


def shadows(running: Running, request_ids: list[str]) -> dict[str, dict[str, Any]]:
    """The challenger's shadow score of each request, from the audit."""
    engine = create_engine(platform_home.layout_of(running.settings).database_url)
    try:
        with engine.connect() as conn:
            query = text("SELECT request_id, shadow FROM decisions WHERE request_id LIKE :p AND shadow IS NOT NULL")
            found = conn.execute(query, {"p": request_ids[0].rsplit("-", 1)[0] + "-%"})
            return {str(r): json.loads(s) if isinstance(s, str) else dict(s) for r, s in found}
    finally:
        engine.dispose()


def expected(probability: np.ndarray, defaulted: np.ndarray) -> dict[str, float]:
    return {
        "realized_auc": float(roc_auc_score(defaulted, probability)),
        "observed_default_rate": float(defaulted.mean()),
        "expected_default_rate": float(probability.mean()),
    }


def test_realized_performance_is_what_the_decisions_and_outcomes_say(
    embedded_platform: Running, sample_data: Path
) -> None:
    challenger = set_challenger(embedded_platform)
    run = uuid.uuid4().hex[:8]
    labelled = kaggle_rows(sample_data, APPLICANTS, "application_train.csv")
    rows = {f"out-{run}-{k}": {c: v for c, v in r.items() if c != "TARGET"} for k, r in enumerate(labelled)}
    truth = {i: bool(r["TARGET"]) for i, r in zip(rows, labelled, strict=True)}
    decided = decide(embedded_platform, rows)
    champion = {d["model"]["version"] for d in decided.values()}
    assert len(champion) == 1, champion
    ids = sorted(decided)
    shadow = shadows(embedded_platform, ids)
    assert set(shadow) == set(ids), "the challenger did not shadow-score every application"

    kafka = embedded_platform.platform.urls["kafka"]
    dlq = TopicReader(kafka, OUTCOMES_DLQ)
    try:
        outcomes = [
            (
                str(decided[i]["sk_id_curr"]),
                json.dumps(
                    {
                        "request_id": i,
                        "sk_id_curr": decided[i]["sk_id_curr"],
                        "outcome": "defaulted" if truth[i] else "repaid",
                        "observed_at": "2027-05-31T00:00:00Z",
                    }
                ).encode(),
            )
            for i in ids
        ]
        bad = [
            ("1", b"not json"),
            ("1", b'{"sk_id_curr": 1, "outcome": "repaid", "observed_at": "2027-05-31T00:00:00Z"}'),
            (
                "1",
                json.dumps(
                    {"request_id": ids[0], "sk_id_curr": 1, "outcome": "late", "observed_at": "2027-05-31T00:00:00Z"}
                ).encode(),
            ),
        ]
        publish(kafka, OUTCOMES, outcomes + bad)
        letters = [as_json(m) for m in dlq.read_until(lambda m: len(m) >= 3, "three dead letters", WAIT_S)]
    finally:
        dlq.close()
    assert sorted(x["reason"] for x in letters) == ["missing_request_id", "not_json", "unknown_outcome"]
    assert {x["topic"] for x in letters} == {OUTCOMES}

    y = np.asarray([truth[i] for i in ids])
    want = {
        (next(iter(champion)), "champion"): expected(np.asarray([decided[i]["probability"] for i in ids]), y),
        (challenger, "challenger"): expected(np.asarray([float(shadow[i]["probability"]) for i in ids]), y),
    }
    with api(embedded_platform) as client:
        deadline = time.monotonic() + WAIT_S
        while True:
            answer = client.get("/v1/performance", headers=embedded_platform.headers("viewer")).raise_for_status()
            versions = {(v["version"], v["alias"]): v for v in answer.json()["versions"]}
            if all(versions.get(k, {}).get("outcomes") == len(ids) for k in want):
                break
            assert time.monotonic() < deadline, f"performance never covered the outcomes: {versions}"
            time.sleep(1.0)
        vintages = client.get("/v1/performance/vintages").raise_for_status().json()
        grades = client.get("/v1/performance/grades").raise_for_status().json()
    for key, figures in want.items():
        got = versions[key]
        for name, value in figures.items():
            assert got[name] == pytest.approx(value, abs=1e-9), (key, name)
        assert got["decisions"] >= len(ids)
        assert sum(v["outcomes"] for v in vintages if (v["version"], v["alias"]) == key) == len(ids)
        assert sum(g["outcomes"] for g in grades if (g["version"], g["alias"]) == key) == len(ids)
    print(
        "\noutcomes: "
        + "; ".join(
            f"v{v} ({a}) AUC {versions[v, a]['realized_auc']:.4f}, "
            f"observed {versions[v, a]['observed_default_rate']:.4f}"
            f", expected {versions[v, a]['expected_default_rate']:.4f} on {versions[v, a]['outcomes']} outcomes"
            for v, a in want
        )
    )
