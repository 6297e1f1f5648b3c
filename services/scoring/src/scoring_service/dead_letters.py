"""Reading one ``loan-applications`` message strictly, and the dead-letter record of one that cannot be decided.

The strict reading and the dead-letter record are the platform's one implementation
(:mod:`credit_shared.dead_lettering`, shared with ``loan-outcomes``); values are checked against what every store
holds (see :func:`credit_shared.contracts.loans.validate_application`).
"""

from __future__ import annotations

from pydantic import ValidationError

from credit_shared.contracts.loans import (
    MAX_MESSAGE_BYTES,
    REPLY_TOPICS,
    DeadLetterReason,
    LoanApplicationMessage,
)
from credit_shared.dead_lettering import Unusable, dead_letter, errors_in_words, read_object, text_field
from credit_shared.homecredit.application import ID

__all__ = ["Rejected", "dead_letter", "parse_application"]


class Rejected(Unusable):
    """A message that cannot be decided, with its reason and where a waiting client is told so."""

    def __init__(
        self,
        reason: DeadLetterReason,
        error: str,
        request_id: str | None = None,
        reply_to: str | None = None,
        correlation_id: str | None = None,
    ) -> None:
        super().__init__(reason, error, request_id)
        self.reply_to = reply_to  # where a waiting client is told the request cannot be decided
        self.correlation_id = correlation_id


def parse_application(raw: bytes) -> LoanApplicationMessage:
    """Decode and validate one ``loan-applications`` message.

    Raises:
        Rejected: with the dead-letter reason and a message in words.
    """
    try:
        data = read_object(raw, MAX_MESSAGE_BYTES)
    except Unusable as exc:
        raise Rejected(exc.reason, exc.error) from exc
    request_id = text_field(data.get("request_id"))
    reply_to = data.get("reply_to") if data.get("reply_to") in REPLY_TOPICS else None  # never an unknown topic
    reply = {"reply_to": reply_to, "correlation_id": text_field(data.get("correlation_id"))}
    application = data.get("application")
    if isinstance(application, dict) and application.get(ID) is None:
        raise Rejected("missing_sk_id_curr", f"application.{ID} is required", request_id, **reply)
    try:
        return LoanApplicationMessage.model_validate(data)
    except ValidationError as exc:
        if request_id is None and not isinstance(data.get("request_id"), str):  # absent, not only unusable
            raise Rejected("missing_request_id", errors_in_words(exc), **reply) from exc
        raise Rejected("invalid", errors_in_words(exc), request_id, **reply) from exc
