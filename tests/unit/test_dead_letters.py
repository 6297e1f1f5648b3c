import base64
import json

import pytest

from credit_shared.contracts.loans import EXAMPLE_APPLICATION, MAX_MESSAGE_BYTES
from scoring_service.dead_letters import Rejected, dead_letter, parse_application

pytestmark = pytest.mark.unit


def make_message(**overrides: object) -> bytes:
    body: dict[str, object] = {"request_id": "r-1", "application": dict(EXAMPLE_APPLICATION)}
    body.update(overrides)
    return json.dumps(body).encode()


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"\xff\xfe\x00", "not_utf8"),
        (b"{not json", "not_json"),
        (b"[1, 2]", "not_an_object"),
        (json.dumps({"application": EXAMPLE_APPLICATION}).encode(), "missing_request_id"),
        (make_message(application={"AMT_CREDIT": 1.0}), "missing_sk_id_curr"),
        (make_message(application={**EXAMPLE_APPLICATION, "AMT_CREDIT": "abc"}), "invalid"),
        (b" " * (MAX_MESSAGE_BYTES + 1), "too_large"),
    ],
)
def test_undecidable_messages_are_rejected_with_their_reason(raw: bytes, reason: str) -> None:
    with pytest.raises(Rejected) as caught:
        parse_application(raw)
    assert caught.value.reason == reason


def test_a_valid_message_parses() -> None:
    message = parse_application(make_message())
    assert message.request_id == "r-1"
    assert message.sk_id_curr == 100001


def test_invalid_message_keeps_its_request_id_and_names_the_column() -> None:
    with pytest.raises(Rejected) as caught:
        parse_application(make_message(application={**EXAMPLE_APPLICATION, "AMT_CREDIT": "abc"}))
    assert caught.value.request_id == "r-1"
    assert "AMT_CREDIT must be a number" in caught.value.error


def test_dead_letter_keeps_text_as_is_and_binary_as_base64() -> None:
    text = dead_letter(b"{bad", Rejected("not_json", "x"), topic="t", partition=1, offset=7)
    assert (text.original, text.original_encoding, text.partition, text.offset) == ("{bad", "utf-8", 1, 7)
    binary = dead_letter(b"\xff\x00", Rejected("not_utf8", "x"), topic="t", partition=0, offset=0)
    assert binary.original_encoding == "base64"
    assert base64.b64decode(binary.original) == b"\xff\x00"
