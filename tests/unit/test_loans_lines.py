"""What `credit loans tail` prints: the request, the client, the failing field, reasons with value and direction."""

from __future__ import annotations

import json

import pytest

from credit_local.loans_lines import dead_letter_line, decision_line
from credit_shared.contracts.loans import EXAMPLE_APPLICATION, LoanDecision

pytestmark = pytest.mark.unit


def _letter(original: str, reason: str = "invalid", error: str = "application: ...") -> dict[str, object]:
    return {"reason": reason, "error": error, "original": original, "original_encoding": "utf-8", "step": "validation"}


def test_a_dead_letter_names_the_request_the_client_and_the_failing_field() -> None:
    original = json.dumps({"request_id": "bad-type", "application": {"SK_ID_CURR": 7, "AMT_CREDIT": "a lot"}})
    line = dead_letter_line(_letter(original))
    assert "request bad-type" in line
    assert "client 7" in line
    assert "application.AMT_CREDIT: must be a number" in line


def test_a_dead_letter_without_an_application_says_the_field_is_missing() -> None:
    line = dead_letter_line(_letter('{"request_id": "no-application"}', error="application: Field required"))
    assert "request no-application" in line
    assert "application: Field required" in line


def test_a_dead_letter_that_is_not_json_keeps_the_error() -> None:
    line = dead_letter_line(_letter("{ not json", reason="not_json", error="message is not JSON: Expecting ..."))
    assert "request (none)" in line
    assert "message is not JSON" in line


def test_a_refusal_line_gives_each_reason_with_its_value_and_direction() -> None:
    example = LoanDecision.model_json_schema()["examples"][0]
    line = decision_line({**example, "sk_id_curr": EXAMPLE_APPLICATION["SK_ID_CURR"]})
    assert "client 100001 request lo-2026-000001" in line
    assert "R01 External credit scores are low (External credit score 3 = 0.12, raises the risk by +0.41" in line
