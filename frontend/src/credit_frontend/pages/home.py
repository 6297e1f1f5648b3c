"""Home: what the platform does, the live status of every service, the champion model and the latest alert."""

from __future__ import annotations

from typing import Any

import streamlit as st

from credit_frontend.client import GatewayClient, GatewayError, Json, get_client
from credit_frontend.names import metric_label
from credit_frontend.ui import SEVERITY, fetch, is_number, num, pct, show_error, when

HEADLINE_HINTS = ("roc_auc", "auc", "cost", "recall", "precision", "f1", "accuracy")
METRICS_PER_ROW = 3  # metrics side by side in the champion's half of the page


def render() -> None:
    """Draw the home page."""
    client = get_client()
    st.title(":material/account_balance: Credit-scoring platform")
    st.write(
        "Estimates the probability that a loan applicant defaults, turns it into an approve / refuse decision at the "
        "threshold that minimises the lender's cost, explains every decision in plain words, keeps an audit trail "
        "and watches the data it receives for drift."
    )
    status(client)
    left, right = st.columns(2)
    with left:
        champion(client)
    with right:
        latest_alert(client)


def status(client: GatewayClient) -> None:
    """The live status of the gateway and everything it reaches."""
    st.subheader("Status of the services")
    ready = fetch("Checking the services…", client.ready, what="status")
    if ready is None:
        return
    checks: dict[str, Any] = ready.get("checks") or {}
    rows = [{"Component": "gateway", "Status": "✅ up"}]
    rows += [{"Component": name, "Status": "✅ up" if ok else "❌ down"} for name, ok in checks.items()]
    st.dataframe(rows, hide_index=True, width="content")
    if ready.get("ready"):
        st.success("Everything the gateway needs is reachable.", icon="✅")
    else:
        down = ", ".join(n for n, ok in checks.items() if not ok) or "a dependency"
        st.warning(f"Not ready: {down} does not answer. Check it with `./credit status`.", icon="⚠️")


def _headline(metrics: dict[str, Any]) -> list[tuple[str, Any]]:
    """Up to four headline metrics, test split first, then cross-validation."""
    split_order = {"test": 0, "cv": 1}
    names = sorted(metrics, key=lambda n: (split_order.get(n.split("_")[0], 2), n))
    found: dict[str, Any] = {}
    for hint in HEADLINE_HINTS:
        name = next((n for n in names if hint in n.lower() and is_number(metrics[n]) and n not in found), None)
        if name is not None and not name.endswith("_std"):
            found[name] = metrics[name]
    return list(found.items())[:4]


def _threshold(version: Json, run: Json | None) -> float | None:
    candidates = [version.get("tags", {}).get("threshold")]
    if run is not None:
        candidates += [(run.get(k) or {}).get("threshold") for k in ("tags", "metrics", "params")]
    for value in candidates:
        try:
            return float(value)
        except (TypeError, ValueError):
            continue
    return None


def champion(client: GatewayClient) -> None:
    """The champion model, its threshold and headline metrics."""
    st.subheader(":material/trophy: Champion model")
    registry = fetch("Reading the model registry…", client.registry, what="model registry")
    if registry is None:
        return
    version_id = (registry.get("aliases") or {}).get("champion")
    if version_id is None:
        st.info(
            "No champion yet: train a model on the **Training** page, then promote it on **Experiments**.",
            icon=":material/info:",
        )
        return
    version: Json = next((v for v in registry.get("versions", []) if v.get("version") == version_id), {})
    st.markdown(
        f"**{registry.get('name', 'model')}** version **{version_id}**, registered {when(version.get('created_at'))}"
    )
    run: Json | None = None
    if version.get("run_id"):
        try:
            run = client.run(str(version["run_id"]))
        except GatewayError as error:
            if not error.not_available:
                show_error(error, "champion's run")
    threshold = _threshold(version, run)
    shown = [("Decision threshold", pct(threshold) if threshold is not None else "—")]
    shown += [(metric_label(name), num(value, 3)) for name, value in _headline((run or {}).get("metrics") or {})]
    for start in range(0, len(shown), METRICS_PER_ROW):  # rows of a few: five in half a page cut the values short
        row = shown[start : start + METRICS_PER_ROW]
        for col, (label, value) in zip(st.columns(METRICS_PER_ROW)[: len(row)], row, strict=True):
            col.metric(label, value)
    challenger = (registry.get("aliases") or {}).get("challenger")
    if challenger:
        st.caption(f"Challenger: version {challenger} (shadow-scored beside the champion).")


def latest_alert(client: GatewayClient) -> None:
    """The most recent drift alert."""
    st.subheader(":material/notifications: Latest drift alert")
    try:
        with st.spinner("Reading the alerts…"):
            alerts = client.alerts(limit=1)
    except GatewayError as error:
        show_error(error, "alerts")
        return
    if not alerts:
        st.success("No drift alert so far.", icon="✅")
        return
    alert = alerts[0]
    severity = str(alert.get("severity", ""))
    text = SEVERITY.get(severity, severity)
    message = alert.get("message") or f"{alert.get('drifted', '?')} of {alert.get('columns', '?')} columns drifted"
    st.markdown(f"**{text}** — {message}")
    st.caption(
        f"Model version {alert.get('model_version', '—')} · {when(alert.get('created_at') or alert.get('time'))}"
        " · details on the **Monitoring** page"
    )
