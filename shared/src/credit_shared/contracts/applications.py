"""The application as the contracts describe it: its JSON schema (what ``validate_application`` reads) and the names
of its columns, for the AsyncAPI and OpenAPI documents and for the requests that name a column."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from credit_shared.contracts.common import MAX_ID
from credit_shared.homecredit.application import APPLICATION, ID
from credit_shared.homecredit.schema import INT_MAX, INT_MIN, Kind

ApplicationColumn = StrEnum(  # type: ignore[misc]
    "ApplicationColumn", {name: name for name in APPLICATION.names if name != ID}
)
"""A column of the application table other than ``SK_ID_CURR`` (what a comparison or a what-if may name)."""


def _column_schema(kind: Kind, categories: tuple[str, ...]) -> dict[str, Any]:
    if kind is Kind.CATEGORY:
        return {"anyOf": [{"type": "string", "enum": list(categories)}, {"type": "null"}]}
    if kind is Kind.INT:
        return {"anyOf": [{"type": "integer", "minimum": INT_MIN, "maximum": INT_MAX}, {"type": "null"}]}
    return {"type": ["number", "null"]}


def application_schema(*, with_id: bool = True, extra: bool = True) -> dict[str, Any]:
    """The JSON schema of an application as ``loans.validate_application`` reads it: every column with its type
    and levels (null = missing), ``SK_ID_CURR`` required (``with_id``); other fields ignored (``extra``) or refused."""
    properties: dict[str, Any] = {}
    for spec in APPLICATION.columns:
        if spec.name == ID:
            if with_id:
                properties[ID] = {"type": "integer", "minimum": 1, "maximum": MAX_ID, "description": "The applicant id"}
            continue
        properties[spec.name] = _column_schema(spec.kind, spec.categories)
    return {
        "type": "object",
        "properties": properties,
        **({"required": [ID]} if with_id else {}),
        "additionalProperties": extra,
    }
