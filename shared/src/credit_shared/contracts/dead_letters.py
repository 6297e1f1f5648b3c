"""The dead-letter contract of ``loan-applications.dlq`` and ``loan-outcomes.dlq``: every message that cannot be
decided (or, for an outcome, used), and why.

Part of the public contract (re-exported by :mod:`credit_shared.contracts.loans`); it changes by addition only.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final, Literal

from pydantic import BaseModel, ConfigDict, Field

MAX_DEAD_LETTER_ORIGINAL_BYTES: Final = 64 * 1024  # a longer original is cut: its size and SHA-256 say what it was

DeadLetterReason = Literal[
    "not_utf8",
    "not_json",
    "not_an_object",
    "missing_request_id",
    "missing_sk_id_curr",
    "invalid",
    "too_large",
    "unknown_outcome",  # an outcome other than defaulted or repaid (loan-outcomes)
    "processing_failed",  # valid, but a later step failed on this message alone (``step`` says which)
]
DeadLetterStep = Literal["validation", "features", "scoring", "explanation", "publishing", "audit"]


class DeadLetter(BaseModel):
    """A message that cannot be decided (or used), published on ``loan-applications.dlq`` (``loan-outcomes.dlq``)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "reason": "invalid",
                    "error": "AMT_CREDIT must be a number, got str 'abc'",
                    "original": '{"request_id": "x", "application": {"SK_ID_CURR": 1, "AMT_CREDIT": "abc"}}',
                    "original_encoding": "utf-8",
                    "request_id": "x",
                    "topic": "loan-applications",
                    "partition": 3,
                    "offset": 1042,
                    "failed_at": "2026-11-24T10:00:00Z",
                    "step": "validation",
                    "original_size": 76,
                    "original_sha256": "9b1f0c4e2a7d...",
                    "original_truncated": False,
                }
            ]
        }
    )

    reason: DeadLetterReason = Field(description="Machine-readable reason", examples=["invalid"])
    error: str = Field(description="The error in words", examples=["SK_ID_CURR is required"])
    original: str = Field(
        description="The original bytes: text when UTF-8, else base64; only their first "
        f"{MAX_DEAD_LETTER_ORIGINAL_BYTES} bytes when `original_truncated` (the whole is kept in the audit store)"
    )
    original_encoding: Literal["utf-8", "base64"] = Field(description="How `original` is encoded")
    request_id: str | None = Field(None, description="The request id, when it could be read")
    topic: str = Field(description="Topic the message came from", examples=["loan-applications"])
    partition: int | None = Field(None, description="Source partition")
    offset: int | None = Field(None, description="Source offset")
    failed_at: datetime = Field(description="When it was dead-lettered (UTC)")
    step: DeadLetterStep | None = Field(
        None, description="The step that failed: validation, features, scoring, explanation, publishing, audit"
    )
    original_size: int | None = Field(None, ge=0, description="Size of the whole original, in bytes")
    original_sha256: str | None = Field(None, description="SHA-256 of the whole original (hex)")
    original_truncated: bool = Field(False, description="`original` holds a prefix of the original only")
