import math

import pytest
from pydantic import ValidationError

from credit_shared.contracts.loans import (
    EXAMPLE_APPLICATION,
    DeadLetter,
    LoanApplicationMessage,
    LoanDecision,
    message_key,
    validate_application,
)
from credit_shared.homecredit.application import APPLICATION

pytestmark = pytest.mark.unit


def make_application(**overrides: object) -> dict[str, object]:
    return {**EXAMPLE_APPLICATION, **overrides}


def test_application_schema_has_every_application_test_column() -> None:
    assert len(APPLICATION.columns) == 121
    assert APPLICATION.names[0] == "SK_ID_CURR"
    assert "TARGET" not in APPLICATION.names


def test_valid_application_fills_every_column_in_schema_order() -> None:
    clean = validate_application(make_application())
    assert list(clean) == APPLICATION.names
    assert clean["AMT_CREDIT"] == 568800.0
    assert clean["OWN_CAR_AGE"] is None


def test_missing_sk_id_curr_is_refused() -> None:
    with pytest.raises(ValueError, match="SK_ID_CURR is required"):
        validate_application({"AMT_CREDIT": 1.0})


def test_null_and_nan_are_missing_values() -> None:
    clean = validate_application(make_application(AMT_ANNUITY=None, EXT_SOURCE_3=math.nan))
    assert clean["AMT_ANNUITY"] is None
    assert clean["EXT_SOURCE_3"] is None


def test_unknown_fields_are_ignored() -> None:
    clean = validate_application(make_application(NOT_A_COLUMN="x"))
    assert "NOT_A_COLUMN" not in clean


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        ("AMT_CREDIT", "568800", "AMT_CREDIT must be a number"),
        ("AMT_CREDIT", True, "got a boolean"),
        ("AMT_CREDIT", math.inf, "must be finite"),
        ("CNT_CHILDREN", 1.5, "CNT_CHILDREN must be an integer"),
        ("CODE_GENDER", "Q", "CODE_GENDER has unknown category 'Q'"),
        ("CODE_GENDER", 1, "CODE_GENDER must be one of its category levels"),
    ],
)
def test_wrong_types_are_refused_with_the_column_named(column: str, value: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        validate_application(make_application(**{column: value}))


def test_every_error_is_reported_at_once() -> None:
    with pytest.raises(ValueError, match=r"AMT_CREDIT.*; CODE_GENDER|CODE_GENDER.*; AMT_CREDIT"):
        validate_application(make_application(AMT_CREDIT="x", CODE_GENDER="Q"))


def test_integral_float_is_accepted_for_an_integer_column() -> None:
    assert validate_application(make_application(CNT_CHILDREN=2.0))["CNT_CHILDREN"] == 2


def test_request_id_longer_than_64_characters_is_refused() -> None:
    with pytest.raises(ValidationError, match="request_id"):
        LoanApplicationMessage.model_validate({"request_id": "x" * 65, "application": make_application()})


def test_contract_examples_validate() -> None:
    for model in (LoanApplicationMessage, LoanDecision, DeadLetter):
        for example in model.model_json_schema()["examples"]:
            model.model_validate(example)


def test_message_key_is_the_applicant_id_as_decimal_string() -> None:
    assert message_key(100001) == b"100001"
