"""Reading a public message strictly, and the dead-letter record of one that cannot be used.

One implementation for every public topic with a dead-letter topic (``loan-applications`` read by scoring,
``loan-outcomes`` read by monitoring). Strict JSON (RFC 8259): ``NaN`` and ``Infinity`` are not JSON and are refused,
as are nesting too deep to decode and integer literals too long to convert. A dead letter never fails to publish:
its original is cut to a bounded prefix when it is larger (with the whole original's size and SHA-256), and its error
to a bounded length.
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any, Final

from pydantic import ValidationError

from credit_shared.contracts.dead_letters import (
    MAX_DEAD_LETTER_ORIGINAL_BYTES,
    DeadLetter,
    DeadLetterReason,
    DeadLetterStep,
)
from credit_shared.contracts.envelope import utc_now

MAX_ERROR_CHARS: Final = 2_000


class Unusable(Exception):
    """A message that cannot be used, with its dead-letter reason (and its request id when it could be read)."""

    def __init__(self, reason: DeadLetterReason, error: str, request_id: str | None = None) -> None:
        super().__init__(error)
        self.reason: DeadLetterReason = reason
        self.error = error if len(error) <= MAX_ERROR_CHARS else f"{error[: MAX_ERROR_CHARS - 3]}..."
        self.request_id = request_id


def _not_json(constant: str) -> Any:
    raise ValueError(f"{constant} is not a JSON value (JSON numbers are finite)")


def read_object(raw: bytes, max_bytes: int) -> dict[str, Any]:
    """The JSON object of one message, read strictly.

    Raises:
        Unusable: ``too_large``, ``not_utf8``, ``not_json`` or ``not_an_object``, with the problem in words.
    """
    if len(raw) > max_bytes:
        raise Unusable("too_large", f"message is {len(raw)} bytes, more than the {max_bytes} allowed")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Unusable("not_utf8", f"message is not UTF-8: {exc}") from exc
    try:
        data: Any = json.loads(text, parse_constant=_not_json)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError is a ValueError; so is a 5,000-digit integer
        raise Unusable("not_json", f"message is not JSON: {str(exc) or type(exc).__name__}") from exc
    if not isinstance(data, dict):
        raise Unusable("not_an_object", f"message must be a JSON object, got {type(data).__name__}")
    return data


def text_field(value: object) -> str | None:
    """A string field of a raw message as far as it can be stored (an unusable one counts as absent)."""
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
    unusable: Unusable,
    *,
    topic: str,
    partition: int | None,
    offset: int | None,
    step: DeadLetterStep = "validation",
    max_original: int = MAX_DEAD_LETTER_ORIGINAL_BYTES,
) -> DeadLetter:
    """The dead-letter record of an unusable message, keeping its original bytes (their first ``max_original`` when
    larger, with the whole one's size and SHA-256)."""
    kept = raw[:max_original]
    original, encoding = _as_text(kept, cut=len(kept) < len(raw))
    return DeadLetter(
        reason=unusable.reason,
        error=unusable.error,
        original=original,
        original_encoding=encoding,  # type: ignore[arg-type]
        request_id=unusable.request_id,
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
