"""`make up` for a lender who holds only applications: ``CREDIT_DATA_DIR`` with ``application_train.csv`` and
``application_test.csv`` (the real rows), nothing else. The first start builds a dataset from them, trains a calibrated
champion, promotes it through the gate, and the stream's decisions carry calibrated probabilities, a score, a grade
and coded reasons that never name a protected attribute.

The decisions are read with an independent client (confluent-kafka), as a lending application would.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from mlflow import MlflowClient

from credit_shared.model_loading import load_model
from credit_shared.reasons import BY_CODE
from credit_shared.scorecard import scorecard
from tests.e2e.conftest import Running, start_platform
from tests.e2e.outside import DECISIONS, TopicReader, application_message, as_json, kaggle_rows, make_producer, produce

pytestmark = pytest.mark.e2e

SIDE_TABLES = {"bureau", "bureau_balance", "previous_application", "POS_CASH_balance", "installments_payments",
               "credit_card_balance"}  # fmt: skip
PROTECTED = {"CODE_GENDER", "NAME_FAMILY_STATUS"}
APPLICANTS = 199  # every row of the real application_test.csv


@pytest.fixture(scope="module")
def applications_only(tmp_path_factory: pytest.TempPathFactory, sample_data: Path) -> Iterator[Running]:
    folder = tmp_path_factory.mktemp("lender-data")
    for table in ("application_train.csv", "application_test.csv"):
        (folder / table).symlink_to(sample_data / table)
    with pytest.MonkeyPatch.context() as env:
        env.setenv("CREDIT_DATA_DIR", str(folder))  # what `make up` reads; the services inherit it
        with start_platform(tmp_path_factory.mktemp("applications-only") / "home") as running:
            yield running


@pytest.fixture(scope="module")
def decisions(applications_only: Running, sample_data: Path) -> list[dict[str, Any]]:
    kafka = applications_only.platform.urls["kafka"]
    reader = TopicReader(kafka, DECISIONS)
    producer = make_producer(kafka)
    run = uuid.uuid4().hex[:8]
    rows = kaggle_rows(sample_data, APPLICANTS)
    wanted = set()
    for k, row in enumerate(rows):
        request_id = f"apps-only-{run}-{k}"
        wanted.add(request_id)
        produce(producer, str(row["SK_ID_CURR"]), application_message(request_id, row))
    try:
        got = reader.read_until(lambda seen: wanted <= {as_json(m).get("request_id") for m in seen},
                                f"decisions for the {len(rows)} applications")  # fmt: skip
    finally:
        reader.close()
    return [d for d in map(as_json, got) if d.get("request_id") in wanted]


def test_the_first_start_builds_the_dataset_from_the_applications_alone(applications_only: Running) -> None:
    headers = applications_only.headers("viewer")
    with httpx.Client(base_url=applications_only.platform.urls["api"], headers=headers, timeout=60) as client:
        dataset = client.get(f"/v1/datasets/{applications_only.served.dataset_id}").raise_for_status().json()
    assert dataset["source_kind"] == "kaggle"
    assert dataset["sizes"]["train"] == 6999
    assert set(dataset["absent_tables"]) == SIDE_TABLES
    names = {f["name"] for f in dataset["features"]}
    assert not names & PROTECTED
    assert not {n for n in names if n.startswith(("BURO_", "PREV_", "INSTAL_", "POS_", "CC_"))}


def test_the_champion_is_calibrated_trained_on_them_and_passed_the_gate(applications_only: Running) -> None:
    urls = applications_only.platform.urls
    tracking = MlflowClient(tracking_uri=urls["mlflow"])
    version = tracking.get_model_version("credit-default", applications_only.served.version)
    assert version.tags["dataset_id"] == applications_only.served.dataset_id
    assert version.tags["calibration"] in {"sigmoid", "isotonic"}
    metrics = tracking.get_run(version.run_id).data.metrics
    assert 0.8 <= metrics["test_expected_observed_ratio"] <= 1.25
    assert metrics["test_brier"] < metrics["test_constant_brier"]
    assert metrics["trees"] >= 50
    model = load_model(urls["mlflow"], "credit-default", "champion")
    assert model.calibrator is not None
    assert not set(model.feature_names) & PROTECTED


def test_stream_decisions_carry_calibrated_probabilities_scores_grades_and_coded_reasons(
    decisions: list[dict[str, Any]],
) -> None:
    assert len(decisions) == APPLICANTS
    p = np.array([d["probability"] for d in decisions])
    assert 0.03 < p.mean() < 0.15, "a calibrated PD averages near the 7.7 % default rate, not near 0.4"
    refused = [d for d in decisions if d["decision"] == "refused"]
    assert refused, "some applicants are refused"
    for decision in decisions:
        assert decision["score"] == int(scorecard().scores(np.array([decision["probability"]]))[0])
        assert decision["grade"] in scorecard().grade_labels
    for decision in refused:
        assert 1 <= len(decision["reasons"]) <= 4
        for reason in decision["reasons"]:
            entry = BY_CODE[reason["code"]]
            assert (reason["group"], reason["text"]) == (entry.group, entry.text)
            assert not entry.protected
            assert reason["feature"] not in PROTECTED
    named = {r["feature"] for d in decisions for r in d["reasons"]}
    assert "CODE_GENDER" not in named
