"""Scoring a whole dataset on real parts (the ``flow`` fixture: tansu, MLflow, the services in this process): the
stored probabilities, decisions and reasons are the ones the stream gives for the same applicants, and a scoring
that cannot run fails with its reason."""

from __future__ import annotations

import json
import uuid

import numpy as np
import pandas as pd
import pytest

from credit_shared import scorings, topics
from credit_shared.contracts.envelope import envelope
from credit_shared.contracts.scoring import DATASET_SCORED, FAILED, PROGRESS, SCORE_DATASET, ScoreDataset
from credit_shared.datasets import TRAIN, dataset_dir
from credit_shared.homecredit.application import ID
from tests.integration.flow import Flow, decision_of, event_of

pytestmark = pytest.mark.integration


async def score(flow: Flow, **values: object) -> str:
    request_id = f"sd-{uuid.uuid4().hex[:10]}"
    command = ScoreDataset(request_id=request_id, **{"dataset_id": flow.dataset_id, **values})  # type: ignore[arg-type]
    message = envelope(command, type_=SCORE_DATASET, source="test", correlation_id=f"job-{request_id}")
    await flow.send(topics.SCORING_COMMANDS.name, message)
    return request_id


@pytest.mark.anyio
async def test_a_scored_dataset_holds_the_streams_probabilities_decisions_and_reasons(flow: Flow) -> None:
    request_id = await score(flow, part="train", sample_size=60, seed=11)
    done = await flow.events.wait(event_of(DATASET_SCORED, request_id), 180)
    await flow.events.wait(event_of(PROGRESS, request_id), 30)
    result = done["payload"]
    train_rows = len(pd.read_parquet(dataset_dir(flow.home / "datasets", flow.dataset_id) / TRAIN, columns=[ID]))
    assert (result["rows"], result["part_rows"], result["part"]) == (60, train_rows, "train")
    assert (result["model"]["version"], result["model"]["alias"]) == (flow.version, "champion")
    assert done["correlation_id"] == f"job-{request_id}"

    root = scorings.scorings_dir(flow.home)
    batch = pd.read_parquet(scorings.rows_path(root, request_id))
    summary = scorings.read_summary(root, request_id)
    assert summary.missing_features == []
    assert summary.refused == int((batch["decision"] == "refused").sum())
    assert summary.features[0].mean_abs_contribution >= summary.features[-1].mean_abs_contribution >= 0

    for k, sk_id in enumerate(batch[ID]):
        await flow.apply(f"{request_id}-{k}", int(sk_id))
    stream = [await flow.events.wait(decision_of(f"{request_id}-{k}"), 120) for k in range(len(batch))]
    np.testing.assert_allclose(batch["probability"], [d["probability"] for d in stream], rtol=0, atol=1e-9)
    assert batch["decision"].tolist() == [d["decision"] for d in stream]
    assert (batch["decision"] == "refused").any(), "the sample should hold refusals, to compare their reasons"
    for stored, decided in zip(batch["reasons"], stream, strict=True):
        reasons = json.loads(stored)
        assert [r["feature"] for r in reasons] == [r["feature"] for r in decided["reasons"]]
        np.testing.assert_allclose(
            [r["contribution"] for r in reasons], [r["contribution"] for r in decided["reasons"]], rtol=0, atol=1e-9
        )


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("values", "reason"),
    [
        ({"dataset_id": "ds-nowhere"}, "dataset_not_found"),
        ({"model_version": "999"}, "unknown_model_version"),
        ({"part": "production"}, "empty_part"),  # the real sample has no application_test rows
    ],
)
async def test_a_scoring_that_cannot_run_fails_with_its_reason(flow: Flow, values: dict[str, str], reason: str) -> None:
    request_id = await score(flow, **values)
    failed = await flow.events.wait(event_of(FAILED, request_id), 120)
    assert failed["payload"]["reason"] == reason
    assert failed["payload"]["detail"]
    assert flow.events.matching(event_of(DATASET_SCORED, request_id)) == []
