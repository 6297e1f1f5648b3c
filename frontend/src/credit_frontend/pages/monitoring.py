"""Monitoring: alerts, drift over time, top drifted features, Evidently reports, prediction drift, recent decisions."""

from __future__ import annotations

from typing import Any

import pandas as pd
import plotly.graph_objects as go
import streamlit as st
import streamlit.components.v1 as components

from credit_frontend import charts
from credit_frontend.client import GatewayClient, GatewayError, Json, get_client
from credit_frontend.names import drift_method_label
from credit_frontend.ui import DECISION, SEVERITY, fetch, follow_job, num, pct, when


def render() -> None:
    """Draw the monitoring page."""
    client = get_client()
    st.title(":material/monitoring: Monitoring")
    st.caption("Is the data the model receives still like the data it learnt from?")
    alerts(client)
    reports = fetch("Reading the drift reports…", lambda: client.drift_reports(limit=200), what="drift reports")
    if reports is not None:
        if not reports:
            st.info(
                "No drift report yet: they appear once decisions flow, or when you ask for one below.",
                icon=":material/info:",
            )
        else:
            over_time(reports, recent_details(client, reports))
            report_detail(client, reports)
    on_demand(client)
    recent_decisions(client)


def alerts(client: GatewayClient) -> None:
    """The drift alerts with their severity, in words."""
    st.subheader(":material/notifications: Alerts")
    found = fetch("Reading the alerts…", lambda: client.alerts(limit=50), what="alerts")
    if found is None:
        return
    if not found:
        st.success("No drift alert so far.", icon="✅")
        return
    rows = [
        {
            "Severity": SEVERITY.get(str(a.get("severity")), str(a.get("severity"))),
            "What happened": a.get("message") or f"{a.get('drifted')} of {a.get('columns')} columns drifted",
            "Model version": a.get("model_version"),
            "When": when(a.get("created_at") or a.get("time")),
        }
        for a in found
    ]
    st.dataframe(rows, hide_index=True, width="stretch")


def _moment(report: Json) -> Any:
    return report.get("window_end") or report.get("created_at")


def flat(report: Json) -> Json:
    """A report with its stored summary's fields (prediction drift, top drifted ...) at the top level."""
    merged = {**report, **(report.get("summary") or {})}
    if merged.get("drift_share") is None and merged.get("columns"):
        merged["drift_share"] = (merged.get("drifted") or 0) / merged["columns"]
    return merged


def recent_details(client: GatewayClient, reports: list[Json], count: int = 30) -> dict[str, Json]:
    """The full summaries of the most recent reports (for prediction drift over time); unreadable ones are left out."""
    found: dict[str, Json] = {}
    with st.spinner("Reading the recent reports…"):
        for report in reports[:count]:
            try:
                found[str(report["report_id"])] = flat(client.drift_report(str(report["report_id"])))
            except GatewayError:
                continue
    return found


def over_time(reports: list[Json], details: dict[str, Json]) -> None:
    """The share of drifted columns per window, and the prediction drift, over time."""
    st.subheader("Drift over time")
    ordered = sorted(
        (details.get(str(r["report_id"])) or flat(r) for r in reports), key=lambda r: str(_moment(r) or "")
    )
    times = [_moment(r) for r in ordered]
    severities = [str(r.get("severity", "")) for r in ordered]
    fig = go.Figure()
    fig.add_scatter(
        x=times,
        y=[100 * float(r.get("drift_share") or 0) for r in ordered],
        mode="lines+markers+text",
        text=list(severities),
        textposition="top center",
        hovertext=[
            f"{r.get('drifted')} of {r.get('columns')} columns · {s}" for r, s in zip(ordered, severities, strict=True)
        ],
        name="drifted columns",
        line={"color": charts.BLUE},
    )
    fig.update_layout(
        title="Share of drifted model inputs per report (label = severity)",
        xaxis_title="Window end",
        yaxis_title="Drifted columns (%)",
        yaxis={"rangemode": "tozero"},
        template="plotly_white",
    )
    time_axis(fig, times)
    st.plotly_chart(fig, width="stretch")
    with_prediction = [(t, r["prediction"]) for t, r in zip(times, ordered, strict=True) if r.get("prediction")]
    if with_prediction:
        fig = go.Figure()
        fig.add_scatter(
            x=[t for t, _ in with_prediction],
            y=[p.get("psi") for _, p in with_prediction],
            mode="lines+markers",
            name="PSI of the probabilities",
            line={"color": charts.ORANGE},
        )
        fig.add_scatter(
            x=[t for t, _ in with_prediction],
            y=[p.get("approval_rate") for _, p in with_prediction],
            mode="lines+markers",
            name="approval rate",
            line={"color": charts.GREEN, "dash": "dash"},
        )
        fig.add_hline(y=0.2, line_dash="dot", annotation_text="PSI 0.2: significant shift")
        time_axis(fig, [t for t, _ in with_prediction])
        fig.update_layout(
            title="Prediction drift: PSI of the probabilities and approval rate",
            xaxis_title="Window end",
            yaxis_title="PSI / approval rate",
            template="plotly_white",
        )
        st.plotly_chart(fig, width="stretch")


def time_axis(fig: go.Figure, times: list[Any]) -> None:
    """Ticks in minutes, and an hour either side of a lone report (plotly would zoom to milliseconds around it)."""
    fig.update_xaxes(tickformat="%b %d %H:%M", nticks=8)
    moments = sorted(pd.to_datetime([t for t in times if t], utc=True))
    if moments and moments[-1] - moments[0] < pd.Timedelta(minutes=10):
        middle = moments[0] + (moments[-1] - moments[0]) / 2
        fig.update_xaxes(range=[middle - pd.Timedelta(hours=1), middle + pd.Timedelta(hours=1)])


def _label(report: Json) -> str:
    severity = str(report.get("severity", ""))
    kind = "served traffic" if report.get("kind") == "window" else f"on demand ({report.get('part') or 'dataset'})"
    return f"{when(_moment(report))} · {kind} · {severity}"


def report_detail(client: GatewayClient, reports: list[Json]) -> None:
    """One report: top drifted features, every column's verdict, the Evidently HTML."""
    st.subheader("One report")
    index = st.selectbox("Report", range(len(reports)), format_func=lambda i: _label(reports[i]))
    chosen = reports[int(index or 0)]
    report_id = str(chosen["report_id"])
    detail = flat(fetch("Reading the report…", lambda: client.drift_report(report_id), what="drift report") or chosen)
    cols = st.columns(4)
    cols[0].metric("Severity", SEVERITY.get(str(detail.get("severity")), "—").split(":")[0])
    cols[1].metric("Drifted model inputs", f"{num(detail.get('drifted'))} of {num(detail.get('columns'))}",
                   help="Counted over the model's input columns, as the Evidently report counts them")  # fmt: skip
    cols[2].metric("Rows compared", num(detail.get("rows")))
    prediction = detail.get("prediction") or {}
    cols[3].metric(
        "Approval rate",
        pct(prediction.get("approval_rate")),
        delta=pct(prediction.get("approval_rate_shift")) if prediction.get("approval_rate_shift") else None,
    )
    if detail.get("important_drifted"):
        named = feature_labels(client, detail.get("dataset_id"))
        shown = ", ".join(named.get(str(c), str(c)) for c in detail["important_drifted"])
        st.warning(f"Among the model's most important inputs, these drifted: {shown}.", icon="⚠️")
    weighted, material = detail.get("weighted_drift_share"), detail.get("material_drift_share")
    if weighted is not None and material is not None:
        st.caption(f"The drifted inputs carry {pct(weighted)} of the model's importance; those drifted materially "
                   f"(at least twice their threshold) carry {pct(material)}, which sets the severity: orange from "
                   "20 %, red from 50 % (a count of columns would alarm on noise and on columns the model "
                   "ignores).")  # fmt: skip
    html_columns = detail.get("html_columns")
    if html_columns is not None and html_columns != detail.get("columns"):
        st.caption(f"The Evidently report shows {num(html_columns)} of these columns: every drifted one first.")
    top_drifted(client, detail)
    columns = detail.get("all_columns") or detail.get("top_drifted")
    if isinstance(columns, list) and columns:
        only = st.checkbox("Only drifted columns", value=True)
        labels = feature_labels(client, detail.get("dataset_id"))
        rows = [
            {
                "Column": labels.get(str(c.get("column")), c.get("column")),
                "Drifted": "yes" if c.get("drifted") else "no",
                "Method": drift_method_label(c.get("method")),
                "Score": num(c.get("score"), 4),
                "Threshold": num(c.get("threshold"), 3),
            }
            for c in columns
            if c.get("drifted") or not only
        ]
        st.dataframe(rows, hide_index=True, width="stretch")
    if detail.get("html", True) and st.toggle("Show the full Evidently report", key=f"html-{report_id}"):
        html = fetch("Loading the Evidently report…", lambda: client.drift_report_html(report_id), what="HTML report")
        if html is not None:
            components.html(fit_to_frame(html), height=1200, scrolling=True)


# Evidently's report lays itself out for about 1,300 CSS pixels and cuts what does not fit (the right-hand columns
# of its tables): scaled down to the frame's width instead, so every column shows.
EVIDENTLY_WIDTH_PX = 1320
FIT = (
    "<script>(function(){var fit=function(){var w=document.documentElement.clientWidth;"
    f"document.documentElement.style.zoom=String(Math.min(1,w/{EVIDENTLY_WIDTH_PX}));}};"
    'fit();window.addEventListener("resize",fit);})();</script>'
)


def fit_to_frame(html: str) -> str:
    """The report with a script that zooms it to the width of the frame it is shown in (never above 100 %)."""
    head = html.find("<head>")
    return html[: head + 6] + FIT + html[head + 6 :] if head >= 0 else FIT + html


def top_drifted(client: GatewayClient, detail: Json) -> None:
    """The drifted inputs that weigh in the model, by importance, with their glossary names; or why there are none."""
    top = detail.get("top_drifted") or []
    weighing = [c for c in top if float(c.get("importance") or 0) > 0]
    if not top:
        st.info("No column drifted in this report.", icon=":material/info:")
        return
    if not weighing:
        st.info(f"None of the {len(top)} drifted columns weighs in the model (importance 0): no chart of their "
                "importance to draw.", icon=":material/info:")  # fmt: skip
        return
    labels = feature_labels(client, detail.get("dataset_id"))
    names = [labels.get(str(c["column"]), str(c["column"])) for c in weighing]
    values = [float(c["importance"]) for c in weighing]
    title = "Drifted inputs, by their importance in the model"
    st.plotly_chart(charts.bars(names, values, title, "Importance", "", horizontal=True), width="stretch")


def feature_labels(client: GatewayClient, dataset_id: Any) -> dict[str, str]:
    """The glossary label of every feature of a dataset (empty when it cannot be read)."""
    if not dataset_id:
        return {}
    try:
        manifest = client.dataset(str(dataset_id))
    except GatewayError:
        return {}
    return {str(f["name"]): str(f.get("label") or f["name"]) for f in manifest.get("features") or []}


def on_demand(client: GatewayClient) -> None:
    """Ask for a drift report of one column or of every column of a dataset part."""
    st.subheader("Ask for a report")
    datasets = fetch("Reading the datasets…", client.datasets, what="datasets") or []
    with st.form("drift_request"):
        names = {d["dataset_id"]: f"{d.get('name')} ({d['dataset_id']})" for d in datasets}
        ids: list[str | None] = [None, *names]
        dataset = st.selectbox(
            "Dataset", ids, format_func=lambda i: "the champion's training dataset" if i is None else names[str(i)]
        )
        part = st.radio("Part compared with the training reference", ["production", "train"], horizontal=True)
        column = st.text_input("One column (empty = every column)", max_chars=128)
        submitted = st.form_submit_button("Compute the report")
    if submitted:
        request = {"dataset_id": dataset, "part": part, "column": column.strip() or None}
        job = fetch("Asking for the report…", lambda: client.request_drift_report(request), what="drift report")
        if job is not None:
            follow_job(client, job, "Drift report")


def recent_decisions(client: GatewayClient) -> None:
    """The audit log, filterable by decision and client."""
    st.subheader("Recent decisions")
    left, right = st.columns(2)
    kind = left.selectbox(
        "Decision", [None, "approved", "refused"], format_func=lambda d: "all" if d is None else DECISION[str(d)]
    )
    sk_id = right.number_input("Client id (SK_ID_CURR, empty = all)", min_value=0, step=1, value=None, format="%d")
    page = fetch(
        "Reading the audit log…",
        lambda: client.decisions(decision=kind, sk_id_curr=None if sk_id is None else int(sk_id), limit=200),
        what="decisions",
    )
    if page is None:
        return
    items = page.get("items") or []
    if not items:
        st.info("No decision matches.", icon=":material/info:")
        return
    rows = [
        {
            "When": when(d.get("decided_at")),
            "Client": d.get("sk_id_curr"),
            "Decision": DECISION.get(str(d.get("decision")), d.get("decision")),
            "Probability": pct(d.get("probability")),
            "Threshold": pct(d.get("threshold")),
            "Model version": d.get("model_version"),
            "Latency": f"{num(d.get('latency_ms'), 1)} ms",
            "Request": d.get("request_id"),
            "Explain": f"/client?client={d.get('sk_id_curr')}",
        }
        for d in items
    ]
    link = st.column_config.LinkColumn("Explain", display_text="open the client's page")
    st.dataframe(rows, hide_index=True, width="stretch", column_config={"Explain": link})
