"""How ``credit loans tail`` prints one record: a decision with its reasons, or a dead letter with what failed.

A dead letter says its request id and client id when the original shows them, and which field failed as pydantic
locates it (``application.AMT_CREDIT: must be a number ...``): the original is validated again against the public
contract, column by column.
"""

from __future__ import annotations

import json
from typing import Any

from credit_shared import topics


def describe(topic: str, raw: bytes) -> str:
    """One line (rich markup) for a record of ``loan-decisions`` or ``loan-applications.dlq``."""
    try:
        data = json.loads(raw)
    except ValueError:
        return f"[red]unreadable record[/] {raw[:80]!r}"
    if topic == topics.LOAN_APPLICATIONS_DLQ.name:
        return dead_letter_line(data)
    return decision_line(data)


def decision_line(data: dict[str, Any]) -> str:
    """``refused  client 100001 request r-1 p=0.137 (threshold 0.091, v3) grade E: reasons (value, direction)``."""
    colour = "red" if data.get("decision") == "refused" else "green"
    grade = f" grade {data['grade']}" if data.get("grade") else ""
    head = (
        f"[{colour}]{data.get('decision', '?'):8}[/] client {data.get('sk_id_curr')} request {data.get('request_id')} "
        f"p={data.get('probability', 0):.3f} (threshold {data.get('threshold', 0):.3f}, "
        f"v{data.get('model', {}).get('version')}){grade}"
    )
    reasons = [reason_words(r) for r in data.get("reasons") or []]
    return head + (": " + "; ".join(reasons) if reasons else "")


def reason_words(reason: dict[str, Any]) -> str:
    """``R01 External credit scores are low (External credit score 3 = 0.12, raises the risk by +0.41 log-odds)``."""
    contribution = float(reason.get("contribution") or 0.0)
    direction = "raises" if contribution > 0 else "lowers"
    value = reason.get("value")
    shown = f"{value:.4g}" if isinstance(value, float) else ("missing" if value is None else str(value))
    code = f"{reason['code']} " if reason.get("code") else ""
    text = reason.get("text") or reason.get("label") or reason.get("feature")
    return (
        f"{code}{text} ({reason.get('label') or reason.get('feature')} = {shown}, "
        f"{direction} the risk by {contribution:+.2f} log-odds)"
    )


def dead_letter_line(data: dict[str, Any]) -> str:
    """``dead letter invalid at validation: request r-1, client 7: application.AMT_CREDIT: must be ...``."""
    original = _original(data)
    request = data.get("request_id") or (original or {}).get("request_id")
    application = (original or {}).get("application")
    client = application.get("SK_ID_CURR") if isinstance(application, dict) else None
    who = f"request {request if request is not None else '(none)'}, client {client if client is not None else '?'}"
    where = f" at {data['step']}" if data.get("step") else ""
    fields = field_errors(original) if original is not None and data.get("step") in (None, "validation") else []
    return f"[red]dead letter[/] {data.get('reason')}{where}: {who}: {'; '.join(fields) or data.get('error')}"


def _original(data: dict[str, Any]) -> dict[str, Any] | None:
    if data.get("original_encoding") != "utf-8" or data.get("original_truncated"):
        return None
    try:
        decoded = json.loads(data.get("original") or "")
    except ValueError:
        return None
    return decoded if isinstance(decoded, dict) else None


def field_errors(message: dict[str, Any]) -> list[str]:
    """Each failing field of a decoded message as ``loc: message`` (the application's columns one by one)."""
    from pydantic import ValidationError

    from credit_shared.contracts.loans import LoanApplicationMessage
    from credit_shared.homecredit.application import APPLICATION

    out: list[str] = []
    application = message.get("application")
    if isinstance(application, dict):
        for spec in APPLICATION.columns:
            try:
                spec.check(application.get(spec.name))
            except ValueError as exc:
                out.append(f"application.{spec.name}: {str(exc).removeprefix(spec.name).strip()}")
    try:
        LoanApplicationMessage.model_validate(message)
    except ValidationError as exc:
        for err in exc.errors():
            where = ".".join(str(p) for p in err["loc"]) or "message"
            if where != "application" or not out:
                out.append(f"{where}: {err['msg'].removeprefix('Value error, ')}")
    return out
