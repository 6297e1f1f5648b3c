import base64
import json

import pytest

from credit_shared.contracts.dead_letters import MAX_DEAD_LETTER_ORIGINAL_BYTES
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


def application_with(**values: object) -> bytes:
    return make_message(application={**EXAMPLE_APPLICATION, **values})


@pytest.mark.parametrize(
    ("raw", "reason", "words"),
    [
        (
            application_with(SK_ID_CURR=2**63),
            "invalid",
            "SK_ID_CURR must be a positive integer, 1 to " + str(2**53 - 1),
        ),
        (
            application_with(SK_ID_CURR=10**22),
            "invalid",
            "SK_ID_CURR must be a positive integer, 1 to " + str(2**53 - 1),
        ),
        (application_with(SK_ID_CURR=-5), "invalid", "SK_ID_CURR must be a positive integer"),
        (application_with(SK_ID_CURR=0), "invalid", "SK_ID_CURR must be a positive integer"),
        (application_with(DAYS_BIRTH=2**64), "invalid", "DAYS_BIRTH must be an integer within ±" + str(2**53 - 1)),
        (application_with(AMT_CREDIT=10**400), "invalid", "AMT_CREDIT must be a finite number"),
        (application_with(AMT_CREDIT=1e308 * 10), "not_json", "is not a JSON value"),  # json.dumps writes Infinity
        (b'{"request_id": "r", "application": {"SK_ID_CURR": 1, "AMT_CREDIT": NaN}}', "not_json", "NaN"),
        (b'{"request_id": "r", "application": {"SK_ID_CURR": 1, "AMT_CREDIT": -Infinity}}', "not_json", "Infinity"),
        (b'{"request_id": "r", "application": {"SK_ID_CURR": 1, "AMT_CREDIT": 1e999}}', "invalid", "finite"),
        (b'{"request_id": "r", "application": {"SK_ID_CURR": ' + b"9" * 5000 + b"}}", "not_json", "digits"),
        (b"[" * 100_000 + b"]" * 100_000, "not_json", "not JSON"),
        (make_message(request_id="a\u0000b"), "invalid", "request_id: must not contain control characters"),
        (b'{"request_id": "a\\ud800", "application": {"SK_ID_CURR": 1}}', "invalid", "request_id"),
        (make_message(reply_to="some.other.topic", correlation_id="c"), "invalid", "reply_to: must be"),
        (make_message(correlation_id="c" * 500), "invalid", "correlation_id"),
        (application_with(CODE_GENDER="X" * 100_000), "invalid", "CODE_GENDER has unknown category"),
    ],
)
def test_values_no_store_could_hold_are_rejected_with_a_bounded_reason(raw: bytes, reason: str, words: str) -> None:
    with pytest.raises(Rejected) as caught:
        parse_application(raw)
    assert caught.value.reason == reason
    assert words in caught.value.error
    assert len(caught.value.error) <= 2_000


def test_an_unknown_reply_address_never_gets_an_error_reply() -> None:
    """A reply to a topic that does not exist would hold the producer until it times out."""
    with pytest.raises(Rejected) as caught:
        parse_application(make_message(reply_to="nowhere", correlation_id="c", application={"AMT_CREDIT": 1.0}))
    assert (caught.value.reason, caught.value.reply_to) == ("missing_sk_id_curr", None)


def test_a_dead_letter_cuts_a_large_original_keeping_its_size_and_checksum() -> None:
    import hashlib

    raw = ("é" * (MAX_DEAD_LETTER_ORIGINAL_BYTES // 2 + 7)).encode()  # a cut falls inside a character
    letter = dead_letter(raw, Rejected("too_large", "x"), topic="t", partition=0, offset=1)
    assert letter.original_truncated
    assert (letter.original_size, letter.original_sha256) == (len(raw), hashlib.sha256(raw).hexdigest())
    assert letter.original_encoding == "utf-8"
    assert raw.startswith(letter.original.encode())
    assert len(letter.original.encode()) > MAX_DEAD_LETTER_ORIGINAL_BYTES - 4
    whole = dead_letter(b"{bad", Rejected("not_json", "x"), topic="t", partition=0, offset=1)
    assert (whole.original_truncated, whole.original_size, whole.step) == (False, 4, "validation")
