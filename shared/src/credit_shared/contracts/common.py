"""What every service shares in its contracts: the identifier and text rules, progress and failure payloads."""

from __future__ import annotations

from typing import Annotated, Final

from pydantic import AfterValidator, BaseModel, Field

MAX_ID: Final = 2**63 - 1  # the largest identifier every store holds (a signed 64-bit integer)
ApplicantId = Annotated[
    int, Field(ge=1, le=MAX_ID, description="The applicant id (SK_ID_CURR): a positive 64-bit integer")
]


def storable_text(value: str) -> str:
    """A text every store and encoder holds: no NUL character (PostgreSQL refuses it), no lone surrogate (not
    encodable in UTF-8; JSON's ``\\ud800`` escape gives one)."""
    if "\x00" in value:
        raise ValueError("must not contain a NUL character")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode text (a lone surrogate is not)") from None
    return value


StorableText = Annotated[str, AfterValidator(storable_text)]


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
