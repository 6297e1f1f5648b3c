"""Decisions as lenders receive them: a score and a grade on every decision, coded reasons on every refusal (never a
protected attribute), and a consumer written for the decision before these fields still parses the new one."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

import numpy as np
import pytest
from pydantic import BaseModel, Field
from test_scoring_stream import CountingHistory, FakePredictor

from credit_shared.contracts.loans import EXAMPLE_APPLICATION, LoanApplicationMessage, LoanDecision, ModelRef
from credit_shared.features import application_parts
from credit_shared.model_inputs import ModelInput
from credit_shared.reasons import BY_CODE
from credit_shared.scorecard import scorecard
from scoring_service.scorer import score_batch
from scoring_service.served import ServedModel

pytestmark = pytest.mark.unit


class GenderHeavyPredictor(FakePredictor):
    """The fake predictor of the stream tests, with the largest contribution on CODE_GENDER (which must never show)."""

    def contributions(self, X: ModelInput) -> tuple[Any, np.ndarray]:  # noqa: N803
        out, base = super().contributions(X)
        out.iloc[:, 4] = 3.0
        return out, base


def GenderHeavyModel() -> ServedModel:
    ref = ModelRef(name="credit-default", version="1", alias="champion", run_id="run-1")
    return ServedModel(GenderHeavyPredictor(), ref, CountingHistory(), label=lambda f: f"label of {f}")


def application(request_id: str, **overrides: Any) -> LoanApplicationMessage:
    return LoanApplicationMessage(request_id=request_id, application={**EXAMPLE_APPLICATION, **overrides})


def decide(*applications: LoanApplicationMessage) -> list[LoanDecision]:
    scored = score_batch(list(applications), [time.monotonic()] * len(applications), GenderHeavyModel(),
                         application_parts)  # fmt: skip
    return [s.decision for s in scored]


def test_every_decision_carries_the_score_and_grade_of_its_probability() -> None:
    refused, approved = decide(application("low", EXT_SOURCE_3=0.1), application("high", EXT_SOURCE_3=0.95))
    for decision in (refused, approved):
        p = np.array([decision.probability])
        assert decision.score == int(scorecard().scores(p)[0])
        assert decision.grade == scorecard().grades(p)[0]
    assert refused.score is not None
    assert approved.score is not None
    assert refused.score < approved.score


def test_a_refusal_gives_coded_reasons_from_the_catalogue_and_never_the_protected_attribute() -> None:
    (refused,) = decide(application("low", EXT_SOURCE_3=0.1))
    assert refused.decision.value == "refused"
    assert [r.code for r in refused.reasons] == ["R01", "R08"]
    for reason in refused.reasons:
        entry = BY_CODE[reason.code or ""]
        assert (reason.group, reason.text) == (entry.group, entry.text)
        assert reason.feature != "CODE_GENDER"
        assert not entry.protected
    assert refused.reasons[0].feature == "EXT_SOURCE_3"
    assert refused.reasons[0].value == pytest.approx(0.1)
    assert refused.reasons[0].contribution == pytest.approx(0.4)


class ReasonBefore(BaseModel):
    """A reason as consumers wrote it before the catalogue fields (``code``, ``group``, ``text``) existed."""

    feature: str
    label: str
    value: float | str | None
    contribution: float


class ModelBefore(BaseModel):
    name: str
    version: str
    alias: str | None
    run_id: str


class DecisionBefore(BaseModel):
    """``loan-decisions`` as a consumer wrote it before score, grade and coded reasons existed (pydantic's default:
    unknown fields ignored, as the contract asks of consumers)."""

    request_id: str
    sk_id_curr: int
    probability: float = Field(ge=0, le=1)
    threshold: float = Field(ge=0, le=1)
    decision: str
    reasons: list[ReasonBefore] = Field(default_factory=list, max_length=4)
    model: ModelBefore
    scored_at: datetime
    latency_ms: float = Field(ge=0)
    correlation_id: str | None = None


def test_a_consumer_written_for_the_earlier_decision_parses_the_new_one() -> None:
    (refused,) = decide(application("low", EXT_SOURCE_3=0.1))
    wire = refused.model_dump_json()
    old = DecisionBefore.model_validate_json(wire)
    assert (old.request_id, old.sk_id_curr, old.decision) == ("low", 100001, "refused")
    assert old.probability == refused.probability
    assert [r.feature for r in old.reasons] == [r.feature for r in refused.reasons]
    assert old.model.version == refused.model.version


def test_the_new_contract_parses_a_decision_made_before_its_fields_existed() -> None:
    (refused,) = decide(application("low", EXT_SOURCE_3=0.1))
    earlier = DecisionBefore.model_validate_json(refused.model_dump_json()).model_dump(mode="json")
    parsed = LoanDecision.model_validate(earlier)
    assert (parsed.score, parsed.grade) == (None, None)
    assert all(r.code is None for r in parsed.reasons)


def test_the_contract_only_added_fields_to_the_earlier_decision() -> None:
    old = DecisionBefore.model_json_schema()
    new = LoanDecision.model_json_schema()
    assert set(old["properties"]) <= set(new["properties"])
    assert set(new.get("required", [])) <= set(old.get("required", [])), "no new field is required"
    reason = new["$defs"]["Reason"]
    assert set(ReasonBefore.model_json_schema()["properties"]) <= set(reason["properties"])
    assert set(reason.get("required", [])) <= set(ReasonBefore.model_json_schema()["required"])
