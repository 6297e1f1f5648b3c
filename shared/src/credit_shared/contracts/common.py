"""What every contract shares: identifier, name and text types (one rule for REST and Kafka), progress and failure."""

from __future__ import annotations

import re
from typing import Annotated, Any, Final

from pydantic import AfterValidator, AwareDatetime, BaseModel, BeforeValidator, Field
from pydantic.fields import FieldInfo

from credit_shared.homecredit.schema import INT_MAX

# The largest identifier: every store holds a signed 64-bit integer, but a JSON reader holds exactly only the integers
# up to 2**53 - 1 (RFC 7493); a larger id comes back as another one (JavaScript's numbers; schemathesis's validator
# took 2**63 + 191 for 2**63 - 1).
MAX_ID: Final = INT_MAX
ApplicantId = Annotated[
    int,
    Field(ge=1, le=MAX_ID, description="The applicant id (SK_ID_CURR): a positive integer, at most 2^53 - 1"),
]

# C0 and C1 control characters and DEL: never meant in a name or an id, and PostgreSQL cannot store NUL in text.
# The patterns avoid `\s` and look-arounds: JSON Schema (ECMA-262), Rust and Python regexes read them alike.
_CONTROL: Final = r"\u0000-\u001f\u007f-\u009f"
_CONTROL_BUT_LINES: Final = r"\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f"  # tabs and line breaks allowed
_BLANK: Final = r"\u0000-\u0020\u007f-\u00a0"  # control characters, the space and the no-break space
MAX_REQUEST_ID_LENGTH: Final = 64
REQUEST_ID_PATTERN: Final = rf"^[^{_CONTROL}]+$"
NAME_PATTERN: Final = rf"^[^{_CONTROL}]*[^{_BLANK}][^{_CONTROL}]*$"  # something visible, no control character
TEXT_PATTERN: Final = rf"^[^{_CONTROL_BUT_LINES}]*$"
VERSION_PATTERN: Final = r"^[1-9][0-9]{0,8}$"  # a registered model version number
COLUMN_PATTERN: Final = r"^[A-Za-z0-9_]{1,128}$"  # a column name (raw tables, datasets, models)
DATASET_ID: Final = r"^[a-z0-9][a-z0-9-]{0,62}$"


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
"""Any text a store holds (no NUL, no lone surrogate)."""


def matching(pattern: str, rule: str) -> tuple[FieldInfo, AfterValidator]:
    """Metadata that documents ``pattern`` in the JSON schema and refuses what it does not match, saying ``rule``
    (pydantic's own pattern error quotes the regex, which tells a person nothing)."""
    compiled = re.compile(pattern)

    def check(value: str) -> str:
        if compiled.fullmatch(value) is None:
            raise ValueError(rule)
        return value

    return Field(json_schema_extra={"pattern": pattern}), AfterValidator(check)


RequestId = Annotated[
    str,
    Field(
        min_length=1,
        max_length=MAX_REQUEST_ID_LENGTH,
        description="A request id chosen by the sender: 1 to 64 characters, none of them a control character",
    ),
    *matching(REQUEST_ID_PATTERN, "must not contain control characters"),
    AfterValidator(storable_text),
]
Name = Annotated[
    str, Field(min_length=1), *matching(NAME_PATTERN, "must contain a visible character and no control character")
]
"""A name for people: at least one visible character and no control character (each field sets its length)."""
Text = Annotated[str, *matching(TEXT_PATTERN, "must not contain control characters other than tabs and line breaks")]
"""Free text: any character but the control characters other than tabs and line breaks."""
ModelVersion = Annotated[
    str, Field(examples=["3"]), *matching(VERSION_PATTERN, "must be a version number, 1 to 999999999")
]
"""A registered model version number (1 to 999,999,999)."""
ColumnName = Annotated[str, Field(examples=["EXT_SOURCE_3"]), *matching(COLUMN_PATTERN, "must be a column name")]
"""A column name: 1 to 128 letters, digits or underscores."""
DatasetId = Annotated[
    str,
    Field(description="Dataset id", examples=["ds-20261124-101500-a1b2c3"]),
    *matching(DATASET_ID, "must be a dataset id: lower-case letters, digits and dashes, 1 to 63"),
]


def _json_integer(value: Any) -> Any:
    if isinstance(value, bool | str):
        raise ValueError("must be an integer, not " + ("a boolean" if isinstance(value, bool) else "text"))
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


JsonInt = Annotated[int, BeforeValidator(_json_integer)]
"""An integer as JSON Schema reads one in a command: an integral number (``5.0`` is 5), never a boolean or text
(pydantic's lax mode would take ``true`` as 1 and ``"5"`` as 5). Floats and booleans of commands are ``strict``."""


def _rfc3339(value: Any) -> Any:
    if isinstance(value, str) and RFC3339.fullmatch(value) is None:
        raise ValueError("must be an RFC 3339 date-time with its offset, such as 2026-11-24T10:00:00Z")
    return value


RFC3339: Final = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")
Moment = Annotated[AwareDatetime, BeforeValidator(_rfc3339)]
"""A point in time as an RFC 3339 date-time with its offset (a number or a naive time is refused)."""


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
