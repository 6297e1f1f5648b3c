"""Payloads every service uses in its events: progress and failure."""

from __future__ import annotations

from typing import Annotated, Final

from pydantic import BaseModel, Field

MAX_ID: Final = 2**63 - 1  # the largest identifier every store holds (a signed 64-bit integer)
ApplicantId = Annotated[
    int, Field(ge=1, le=MAX_ID, description="The applicant id (SK_ID_CURR): a positive 64-bit integer")
]


class Progress(BaseModel):
    """Progress of a long command (published as ``<thing>.progress``)."""

    request_id: str = Field(description="The command's request id", examples=["job-3f2a"])
    stage: str = Field(description="What is being done now", examples=["bureau aggregates"])
    percent: float = Field(ge=0, le=100, description="Share of the whole work done", examples=[42.0])
    eta_s: float | None = Field(None, ge=0, description="Estimated seconds left", examples=[12.5])
    message: str | None = Field(None, description="Detail for people", examples=["fold 2 of 5"])


class Failed(BaseModel):
    """A command that could not be carried out (published as ``<thing>.failed``)."""

    request_id: str = Field(description="The command's request id", examples=["job-3f2a"])
    reason: str = Field(description="Machine-readable reason", examples=["invalid_command"])
    detail: str = Field(description="The precise reason in words", examples=["dataset 'x' does not exist"])
