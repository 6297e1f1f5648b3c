"""The main flow on real parts: a dataset built over Kafka, a LightGBM trained and promoted over Kafka (the ``flow``
fixture, :mod:`tests.integration.flow`), applications published on `loan-applications` decided by the scoring
service, with the probabilities of the registered pipeline.
"""

from __future__ import annotations

import uuid

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import func, select

from credit_shared import db
from credit_shared.datasets import PRODUCTION, TRAIN, dataset_dir
from credit_shared.db.models import DecisionRecord
from credit_shared.homecredit.application import ID, TARGET
from credit_shared.model_loading import load_model
from tests.integration.flow import Flow, decision_of

pytestmark = pytest.mark.integration


@pytest.mark.anyio
async def test_build_train_promote_then_decide_with_the_registered_pipeline(flow: Flow) -> None:
    prefix = f"flow-{uuid.uuid4().hex[:6]}"
    rows = pd.read_parquet(dataset_dir(flow.home / "datasets", flow.dataset_id) / TRAIN).head(40)
    for k, sk_id in enumerate(rows[ID]):
        await flow.apply(f"{prefix}-{k}", int(sk_id))
    decisions = {}
    for k in range(len(rows)):
        event = await flow.events.wait(decision_of(f"{prefix}-{k}"), 120)
        decisions[event["request_id"]] = event

    model = load_model(flow.mlflow, alias="champion")
    expected = model.predict_proba(rows.drop(columns=[ID, TARGET]))
    got = np.array([decisions[f"{prefix}-{k}"]["probability"] for k in range(len(rows))])
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-9)
    for decision in decisions.values():
        assert decision["model"]["version"] == flow.version
        assert decision["threshold"] == pytest.approx(model.threshold)
        if decision["decision"] == "refused":
            assert 1 <= len(decision["reasons"]) <= 4
            assert all(r["contribution"] > 0 and r["label"] for r in decision["reasons"])
    engine = db.make_engine(flow.database_url)
    with engine.connect() as conn:
        recorded = select(func.count()).select_from(DecisionRecord).where(DecisionRecord.request_id.like(f"{prefix}-%"))
        assert conn.scalar(recorded) == len(rows)
    assert (dataset_dir(flow.home / "datasets", flow.dataset_id) / PRODUCTION).is_file()
