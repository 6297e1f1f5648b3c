"""Reading one ``loan-applications`` message strictly, and the dead-letter record of one that cannot be decided.

Strict JSON (RFC 8259): ``NaN`` and ``Infinity`` are not JSON and are refused, as are nesting too deep to decode and
integer literals too long to convert. Values are checked against what every store holds (see
:func:`credit_shared.contracts.loans.validate_application`). A dead letter never fails to publish: its original is
cut to a bounded prefix when it is larger (with the whole original's size and SHA-256), and its error to a bounded
length.
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

from pydantic import ValidationError

from credit_shared.contracts.dead_letters import MAX_DEAD_LETTER_ORIGINAL_BYTES
from credit_shared.contracts.envelope import utc_now
from credit_shared.contracts.loans import (
    MAX_MESSAGE_BYTES,
    REPLY_TOPICS,
    DeadLetter,
    DeadLetterReason,
    DeadLetterStep,
    LoanApplicationMessage,
)
from credit_shared.homecredit.application import ID

MAX_ERROR_CHARS = 2_000


class Rejected(Exception):
    """A message that cannot be decided, with its reason."""

    def __init__(
        self,
        reason: DeadLetterReason,
        error: str,
        request_id: str | None = None,
        reply_to: str | None = None,
        correlation_id: str | None = None,
    ) -> None:
        super().__init__(error)
        self.reason: DeadLetterReason = reason
        self.error = error if len(error) <= MAX_ERROR_CHARS else f"{error[: MAX_ERROR_CHARS - 3]}..."
        self.request_id = request_id
        self.reply_to = reply_to  # where a waiting client is told the request cannot be decided
        self.correlation_id = correlation_id


def _not_json(constant: str) -> Any:
    raise ValueError(f"{constant} is not a JSON value (JSON numbers are finite)")


def parse_application(raw: bytes) -> LoanApplicationMessage:
    """Decode and validate one ``loan-applications`` message.

    Raises:
        Rejected: with the dead-letter reason and a message in words.
    """
    if len(raw) > MAX_MESSAGE_BYTES:
        raise Rejected("too_large", f"message is {len(raw)} bytes, more than the {MAX_MESSAGE_BYTES} allowed")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Rejected("not_utf8", f"message is not UTF-8: {exc}") from exc
    try:
        data: Any = json.loads(text, parse_constant=_not_json)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError is a ValueError; so is a 5,000-digit integer
        raise Rejected("not_json", f"message is not JSON: {str(exc) or type(exc).__name__}") from exc
    if not isinstance(data, dict):
        raise Rejected("not_an_object", f"message must be a JSON object, got {type(data).__name__}")
    request_id = _text(data.get("request_id"))
    reply_to = data.get("reply_to") if data.get("reply_to") in REPLY_TOPICS else None  # never an unknown topic
    reply = {"reply_to": reply_to, "correlation_id": _text(data.get("correlation_id"))}
    application = data.get("application")
    if isinstance(application, dict) and application.get(ID) is None:
        raise Rejected("missing_sk_id_curr", f"application.{ID} is required", request_id, **reply)
    try:
        return LoanApplicationMessage.model_validate(data)
    except ValidationError as exc:
        if request_id is None and not isinstance(data.get("request_id"), str):  # absent, not only unusable
            raise Rejected("missing_request_id", errors_in_words(exc), **reply) from exc
        raise Rejected("invalid", errors_in_words(exc), request_id, **reply) from exc


def _text(value: object) -> str | None:
    """A string field of the raw message as far as it can be stored (an unusable one counts as absent)."""
    if not isinstance(value, str) or len(value) > 128 or "\x00" in value:
        return None
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return None
    return value


def errors_in_words(exc: ValidationError) -> str:
    """A validation error as one `where: message` clause per problem (for dead letters and refused commands)."""
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "message"
        msg = err["msg"].removeprefix("Value error, ")
        parts.append(f"{where}: {msg}")
    return "; ".join(parts)


def dead_letter(
    raw: bytes,
    rejected: Rejected,
    *,
    topic: str,
    partition: int | None,
    offset: int | None,
    step: DeadLetterStep = "validation",
    max_original: int = MAX_DEAD_LETTER_ORIGINAL_BYTES,
) -> DeadLetter:
    """The dead-letter record of a rejected message, keeping its original bytes (their first ``max_original`` when
    larger, with the whole one's size and SHA-256)."""
    kept = raw[:max_original]
    original, encoding = _as_text(kept, cut=len(kept) < len(raw))
    return DeadLetter(
        reason=rejected.reason,
        error=rejected.error,
        original=original,
        original_encoding=encoding,  # type: ignore[arg-type]
        request_id=rejected.request_id,
        topic=topic,
        partition=partition,
        offset=offset,
        failed_at=utc_now(),
        step=step,
        original_size=len(raw),
        original_sha256=hashlib.sha256(raw).hexdigest(),
        original_truncated=len(kept) < len(raw),
    )


def _as_text(kept: bytes, *, cut: bool) -> tuple[str, str]:
    """The bytes as UTF-8 text when they are (a cut may split a character: up to 3 bytes are dropped), else base64."""
    for drop in range(4 if cut else 1):
        try:
            return kept[: len(kept) - drop].decode("utf-8"), "utf-8"
        except UnicodeDecodeError:
            continue
    return base64.b64encode(kept).decode("ascii"), "base64"
