"""Identifiers, names and numbers of the contracts are bounded once, in the contract types, for REST and Kafka alike.

Each rule is written twice over, as a JSON-schema pattern (what `/openapi.json` and the AsyncAPI documents say) and
as the check that refuses with words: these tests hold the two to the same verdict.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, TypeAdapter, ValidationError

from credit_shared.contracts.common import (
    MAX_ID,
    NAME_PATTERN,
    REQUEST_ID_PATTERN,
    TEXT_PATTERN,
    VERSION_PATTERN,
    ApplicantId,
    ModelVersion,
    Name,
    RequestId,
    Text,
)
from credit_shared.contracts.ingestion import BuildDataset
from credit_shared.contracts.loans import EXAMPLE_APPLICATION, LoanApplicationMessage, validate_application
from credit_shared.contracts.monitoring import RequestDriftReport
from credit_shared.contracts.training import CostWeightsModel, PromoteModel, TrainModel

pytestmark = pytest.mark.unit

RULES: list[tuple[Any, str]] = [
    (RequestId, REQUEST_ID_PATTERN),
    (Name, NAME_PATTERN),
    (Text, TEXT_PATTERN),
    (ModelVersion, VERSION_PATTERN),
]


def accepts(kind: Any, value: Any) -> bool:
    try:
        TypeAdapter(kind).validate_python(value)
    except ValidationError:
        return False
    return True


@pytest.mark.parametrize(("kind", "pattern"), RULES, ids=["request id", "name", "text", "version"])
@settings(max_examples=300, deadline=None)
@given(value=st.text(max_size=70))
def test_the_check_and_the_documented_pattern_agree(kind: Any, pattern: str, value: str) -> None:
    documented = re.fullmatch(pattern, value) is not None and (kind is not RequestId or len(value) <= 64)
    assert accepts(kind, value) == documented


@pytest.mark.parametrize(("kind", "pattern"), RULES, ids=["request id", "name", "text", "version"])
def test_the_pattern_is_in_the_json_schema(kind: Any, pattern: str) -> None:
    assert TypeAdapter(kind).json_schema()["pattern"] == pattern


@pytest.mark.parametrize("sk_id_curr", [0, -1, -100001, MAX_ID + 1, 2**63 - 1, 9223372036854775999, 10**30])
def test_an_applicant_id_outside_the_positive_integers_json_holds_is_refused(sk_id_curr: int) -> None:
    with pytest.raises(ValueError, match="SK_ID_CURR must be a positive integer, 1 to 9007199254740991"):
        validate_application({**EXAMPLE_APPLICATION, "SK_ID_CURR": sk_id_curr})
    with pytest.raises(ValidationError):
        LoanApplicationMessage(request_id="r-1", application={**EXAMPLE_APPLICATION, "SK_ID_CURR": sk_id_curr})
    assert not accepts(ApplicantId, sk_id_curr)


def test_the_largest_applicant_id_is_accepted() -> None:
    assert validate_application({**EXAMPLE_APPLICATION, "SK_ID_CURR": MAX_ID})["SK_ID_CURR"] == MAX_ID


@pytest.mark.parametrize("value", [2**53, -(2**53), 10**20, 9223372036854775999])
def test_an_integer_column_beyond_what_json_holds_exactly_is_refused(value: int) -> None:
    with pytest.raises(ValueError, match="CNT_CHILDREN must be an integer within"):
        validate_application({**EXAMPLE_APPLICATION, "CNT_CHILDREN": value})
    assert validate_application({**EXAMPLE_APPLICATION, "CNT_CHILDREN": 2**53 - 1})["CNT_CHILDREN"] == 2**53 - 1


@pytest.mark.parametrize("request_id", ["a\x00b", "line\nbreak", "tab\there", "\x7f", "\x85"])
def test_a_request_id_with_a_control_character_is_refused_on_kafka_too(request_id: str) -> None:
    with pytest.raises(ValidationError, match="must not contain control characters"):
        LoanApplicationMessage(request_id=request_id, application=EXAMPLE_APPLICATION)


@pytest.mark.parametrize("request_id", ["a/b", "../x", "100%", "é ü", "a?b#c", " "])
def test_a_request_id_may_hold_any_other_character(request_id: str) -> None:
    assert LoanApplicationMessage(request_id=request_id, application=EXAMPLE_APPLICATION).request_id == request_id


@pytest.mark.parametrize("name", ["", "   ", "\u00a0", "run\x00", "bell\x07", "two\nlines"])
def test_names_need_a_visible_character_and_no_control_character(name: str) -> None:
    with pytest.raises(ValidationError):
        BuildDataset(request_id="r", name=name)
    with pytest.raises(ValidationError):
        TrainModel(request_id="r", dataset_id="ds-1", run_name=name, family="dummy")  # type: ignore[arg-type]


def test_descriptions_keep_tabs_and_line_breaks_but_no_other_control_character() -> None:
    assert BuildDataset(request_id="r", name="x", description="line 1\n\tline 2\r\n").description.startswith("line")
    with pytest.raises(ValidationError, match="control characters"):
        BuildDataset(request_id="r", name="x", description="bell\x07")


@pytest.mark.parametrize(("fn", "fp"), [(1.77e308, 1.0), (4.96e-74, 1.0), (1.0, 0.0), (10.0, 1e7)])
def test_cost_weights_outside_their_range_are_refused(fn: float, fp: float) -> None:
    with pytest.raises(ValidationError):
        CostWeightsModel(fn=fn, fp=fp)


@pytest.mark.parametrize("version", ["0", "01", "1234567890", "champion", "1.0"])
def test_a_version_that_is_not_a_version_number_is_refused_in_words(version: str) -> None:
    with pytest.raises(ValidationError, match="must be a version number, 1 to 999999999"):
        PromoteModel(request_id="r", version=version)


@pytest.mark.parametrize(
    "fields",
    [
        {"model_name": "bad name"},
        {"model_version": "x"},
        {"alias": "no spaces"},
        {"dataset_id": "UPPER"},
        {"column": "A-B"},
        {"request_id": "a\x00"},
    ],
)
def test_a_drift_report_request_refuses_malformed_names(fields: dict[str, str]) -> None:
    with pytest.raises(ValidationError):
        RequestDriftReport(**{"request_id": "r", **fields})


def test_the_application_json_schema_requires_a_positive_applicant_id() -> None:
    class Holder(BaseModel):
        message: LoanApplicationMessage

    schema = LoanApplicationMessage.model_json_schema()["properties"]["application"]
    assert schema["required"] == ["SK_ID_CURR"]
    assert schema["properties"]["SK_ID_CURR"] | {"minimum": 1, "maximum": MAX_ID} == schema["properties"]["SK_ID_CURR"]
    assert schema["properties"]["CODE_GENDER"]["anyOf"][0]["enum"] == ["F", "M", "XNA"]
    assert Holder.model_json_schema()  # the schema is usable inside another model
