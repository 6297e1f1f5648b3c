"""Turning a message that cannot be decided into a dead-letter record."""

from __future__ import annotations

import base64
import json
from typing import Any

from pydantic import ValidationError

from credit_shared.contracts.envelope import utc_now
from credit_shared.contracts.loans import (
    MAX_MESSAGE_BYTES,
    DeadLetter,
    DeadLetterReason,
    LoanApplicationMessage,
)
from credit_shared.homecredit.application import ID


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
        self.error = error
        self.request_id = request_id
        self.reply_to = reply_to  # where a waiting client is told the request cannot be decided
        self.correlation_id = correlation_id


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
        data: Any = json.loads(text)
    except json.JSONDecodeError as exc:
        raise Rejected("not_json", f"message is not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise Rejected("not_an_object", f"message must be a JSON object, got {type(data).__name__}")
    request_id = _text(data.get("request_id"))
    reply = {"reply_to": _text(data.get("reply_to")), "correlation_id": _text(data.get("correlation_id"))}
    application = data.get("application")
    if isinstance(application, dict) and application.get(ID) is None:
        raise Rejected("missing_sk_id_curr", f"application.{ID} is required", request_id, **reply)
    try:
        return LoanApplicationMessage.model_validate(data)
    except ValidationError as exc:
        if request_id is None:
            raise Rejected("missing_request_id", errors_in_words(exc), **reply) from exc
        raise Rejected("invalid", errors_in_words(exc), request_id, **reply) from exc


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def errors_in_words(exc: ValidationError) -> str:
    """A validation error as one `where: message` clause per problem (for dead letters and refused commands)."""
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "message"
        msg = err["msg"].removeprefix("Value error, ")
        parts.append(f"{where}: {msg}")
    return "; ".join(parts)


def dead_letter(raw: bytes, rejected: Rejected, *, topic: str, partition: int | None, offset: int | None) -> DeadLetter:
    """The dead-letter record of a rejected message, keeping its original bytes."""
    try:
        original, encoding = raw.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        original, encoding = base64.b64encode(raw).decode("ascii"), "base64"
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
    )
