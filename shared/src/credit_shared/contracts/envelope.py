"""The envelope every internal command and event travels in."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

PayloadT = TypeVar("PayloadT", bound=BaseModel)


def utc_now() -> datetime:
    """The current time, timezone-aware in UTC."""
    return datetime.now(UTC)


def new_id() -> str:
    """A new random identifier (32 hex characters)."""
    return uuid.uuid4().hex


class Envelope(BaseModel, Generic[PayloadT]):
    """Metadata around a command or an event.

    ``type`` names the payload (``dataset.build``, ``dataset.built`` ...): commands are imperative, events are
    past-tense facts. ``schema_version`` changes only when the payload changes incompatibly.
    """

    model_config = ConfigDict(extra="ignore", frozen=True)

    event_id: str = Field(default_factory=new_id, description="Unique id of this message", examples=["9f1c..."])
    type: str = Field(description="Payload type, dotted", examples=["dataset.built"])
    schema_version: int = Field(1, ge=1, description="Version of the payload schema", examples=[1])
    occurred_at: datetime = Field(default_factory=utc_now, description="When it happened (UTC)")
    source: str = Field(description="Service that published it", examples=["ingestion"])
    correlation_id: str | None = Field(
        None, description="Id of the request (job) this message belongs to", examples=["job-3f2a"]
    )
    payload: PayloadT = Field(description="The command or event itself")


def envelope(
    payload: PayloadT, *, type_: str, source: str, correlation_id: str | None = None, **meta: Any
) -> Envelope[PayloadT]:
    """Wrap a payload in an envelope."""
    return Envelope[PayloadT](type=type_, source=source, correlation_id=correlation_id, payload=payload, **meta)
