"""Shared page helpers: numbers for people, gateway errors as messages, calls with spinners, live jobs."""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import datetime
from typing import Any, Final, TypeGuard, TypeVar

import streamlit as st

from credit_frontend.client import GatewayClient, GatewayDown, GatewayError, Json

T = TypeVar("T")

SEVERITY: Final[dict[str, str]] = {
    "green": "🟢 Green: little drift",
    "orange": "🟠 Orange: some drift, watch it",
    "red": "🔴 Red: strong drift, act",
}
DECISION: Final[dict[str, str]] = {"approved": "✅ Approved", "refused": "⛔ Refused"}
STATUS: Final[dict[str, str]] = {
    "queued": "⏳ Queued",
    "running": "🔄 Running",
    "succeeded": "✅ Succeeded",
    "failed": "❌ Failed",
}


def is_number(value: Any) -> TypeGuard[float]:
    """A finite int or float (not a bool)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def pct(value: Any, digits: int = 1) -> str:
    """A share as a percentage (``0.137`` -> ``13.7 %``); a dash when unknown."""
    return f"{value * 100:.{digits}f} %" if is_number(value) else "—"


def num(value: Any, digits: int = 2) -> str:
    """A number for people: thousands separators, ``digits`` decimals for fractions; a dash when unknown."""
    if not is_number(value):
        return "—" if value is None else str(value)
    if float(value).is_integer() and abs(value) >= 1:
        return f"{int(value):,}"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    if value != 0 and abs(value) < 0.01:
        return f"{value:.2e}"
    return f"{value:,.{digits}f}".rstrip("0").rstrip(".")


def when(value: Any) -> str:
    """An ISO time as ``2026-11-24 10:00 UTC``."""
    if not value:
        return "—"
    try:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return str(value)
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def show_error(error: GatewayError, what: str = "") -> None:
    """Show a gateway error as a message with what to do (never a stack trace)."""
    about = f" ({what})" if what else ""
    if isinstance(error, GatewayDown):
        st.error(f"**Gateway not reachable**{about}: {error.detail}.\n\n{error.hint}", icon="🚫")
        st.stop()  # every other call of the page would fail the same way: one banner is enough
    elif error.not_available:
        st.info(
            f"**Not available yet**{about}: the gateway has no `{error.path}`. {error.hint}", icon=":material/info:"
        )
    else:
        st.error(f"**{error.title}**{about}: {error.detail}\n\n{error.hint}", icon="⚠️")


def fetch(label: str, call: Callable[[], T], *, what: str = "") -> T | None:
    """Run a gateway call under a spinner; on an error show it and return None."""
    try:
        with st.spinner(label):
            return call()
    except GatewayError as error:
        show_error(error, what)
        return None


def follow_job(client: GatewayClient, job: Json, label: str) -> Json | None:
    """Follow a job live with a progress bar until it ends; returns its last state (None if it could not be read)."""
    bar = st.progress(0.0, text=f"{label}: queued")
    last: Json | None = job
    try:
        for state in client.follow_job(str(job["job_id"])):
            last = state
            percent = float(state.get("progress") or 0.0)
            stage = state.get("stage") or state.get("status", "")
            bar.progress(min(max(percent / 100, 0.0), 1.0), text=f"{label}: {stage} ({percent:.0f} %)")
    except GatewayError as error:
        show_error(error, "following the job")
        return None
    except TimeoutError as error:
        st.warning(f"{error}. It goes on in the background: see the list of jobs later.", icon="⏳")
        return last
    if last is not None and last.get("status") == "failed":
        st.error(f"**{label} failed**: {last.get('message') or 'no detail given'}", icon="❌")
    elif last is not None and last.get("status") == "succeeded":
        st.success(f"**{label} done.**", icon="✅")
    return last


def run_job(
    client: GatewayClient, send: Callable[[], Json], *, error_key: str, sending: str, label: str
) -> Json | None:
    """Send a job's request, then follow it live; returns its last state (None when it was refused or unreadable).

    A refused request is kept in ``st.session_state[error_key]`` and the page drawn again, with the message on top
    and each field's error beside it (the page reads the key); a sent one clears it.
    """
    try:
        with st.spinner(sending):
            job = send()
    except GatewayError as error:
        st.session_state[error_key] = error
        st.rerun()
    st.session_state[error_key] = None
    return follow_job(client, job, label)


def field_error(errors: dict[str, str], *names: str) -> None:
    """Show the validation error of a form field beneath it, when there is one."""
    for name in names:
        for key, message in errors.items():
            if key == name or key.endswith(f".{name}"):
                st.caption(f":red[⚠️ {message}]")
                return


def records(items: list[Json], columns: dict[str, str]) -> list[dict[str, Any]]:
    """Rows for ``st.dataframe``: ``columns`` maps a key of each item to its header."""
    return [{header: item.get(key) for key, header in columns.items()} for item in items]
