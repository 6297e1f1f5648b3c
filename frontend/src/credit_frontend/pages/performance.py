"""Performance: were the decisions right? Realized against expected default rate per model version, vintage and
grade, calibration, and the champion against the challenger scored in shadow on the same applicants."""

from __future__ import annotations

from typing import Any

import plotly.graph_objects as go
import streamlit as st

from credit_frontend.charts import BLUE, GREY, ORANGE, PALETTE
from credit_frontend.client import GatewayClient, Json, get_client
from credit_frontend.ui import fetch, num, pct, when

ROLE = {"champion": "champion (decides)", "challenger": "challenger (shadow)"}


def render() -> None:
    """Draw the performance page."""
    client = get_client()
    st.title(":material/insights: Performance")
    st.caption(
        "Once lenders publish outcomes on `loan-outcomes`, each decision is checked against what happened: "
        "realized default rate against the rate the model expected, per model version, month of decision and grade."
    )
    report = fetch("Reading the performance…", lambda: client.get("/v1/performance", cache=False), what="performance")
    if report is None:
        return
    if not report.get("versions"):
        st.info(
            "No decision recorded for performance yet: the figures appear once decisions flow, and the realized ones "
            "once outcomes are published on `loan-outcomes`.",
            icon=":material/info:",
        )
        return
    st.caption(
        f"Computed {when(report.get('computed_at'))}: {num(report.get('outcomes_received'))} outcomes received, "
        f"{num(report.get('outcomes_held'))} waiting for their decision. Measured on: {report.get('population')}."
    )
    alerts(report.get("alerts") or [])
    versions_table(report["versions"])
    champion_challenger(report.get("comparisons") or [])
    vintages(client)
    calibration(report["versions"])
    grades(client)


def _label(row: Json) -> str:
    return f"v{row.get('version')} {ROLE.get(str(row.get('alias')), row.get('alias'))}"


def _interval(value: Any) -> str:
    return f"{pct(value[0])} to {pct(value[1])}" if isinstance(value, list | tuple) and len(value) == 2 else "—"


def alerts(found: list[Json]) -> None:
    """What the realized figures say needs doing."""
    if not found:
        st.success("No performance alert.", icon="✅")
        return
    for alert in found:
        st.warning(f"**{alert['message']}**\n\nWhat to do: {alert['action']} — `{alert['command']}`", icon="⚠️")


def versions_table(versions: list[Json]) -> None:
    """One row per model version and role, before and after outcomes."""
    st.subheader(":material/table_chart: Model versions")
    rows = [
        {
            "Model": _label(v),
            "Decisions": num(v.get("decisions")),
            "Approval rate": pct(v.get("approval_rate")),
            "Outcomes": num(v.get("outcomes")),
            "Observed default rate": pct(v.get("observed_default_rate")),
            "95 % interval": _interval(v.get("observed_default_rate_interval")),
            "Expected default rate": pct(v.get("expected_default_rate")),
            "Realized AUC": num(v.get("realized_auc"), 3),
            "Test AUC": num(v.get("test_auc"), 3),
            "Estimated AUC (before outcomes)": num(v.get("estimated_auc"), 3),
            "Cost per applicant": num(v.get("realized_cost_per_applicant"), 3),
            "Expected cost (from PDs)": num(v.get("expected_cost_per_applicant"), 3),
        }
        for v in versions
    ]
    st.dataframe(rows, hide_index=True, width="stretch")


def champion_challenger(comparisons: list[Json]) -> None:
    """The champion against the challenger on the same applicants."""
    st.subheader(":material/compare_arrows: Champion against challenger")
    if not comparisons:
        st.info(
            "No challenger scored in shadow with outcomes yet: point the challenger alias at a version (Training "
            "page) to compare it with the champion on the same applicants.",
            icon=":material/info:",
        )
        return
    for c in comparisons:
        columns = st.columns(3)
        columns[0].metric(
            f"Cost per applicant, champion v{c['champion']}", num(c.get("champion_cost_per_applicant"), 3)
        )
        columns[1].metric(
            f"Cost per applicant, challenger v{c['challenger']}",
            num(c.get("challenger_cost_per_applicant"), 3),
            delta=num(-(c.get("cost_saving_per_applicant") or 0), 3),
            delta_color="inverse",
        )
        columns[2].metric("Applicants both scored, with an outcome", num(c.get("applicants")))


def vintages(client: GatewayClient) -> None:
    """Per month of decision: the mean PD of every decision, and observed against expected once outcomes come."""
    st.subheader(":material/calendar_month: Vintages")
    found = fetch("Reading the vintages…", lambda: client.get("/v1/performance/vintages", cache=False), what="vintages")
    if not found:
        st.info(
            "No vintage yet: a vintage is the month of a decision; it appears with the first decisions.",
            icon=":material/info:",
        )
        return
    fig = go.Figure()
    for k, key in enumerate(sorted({(v["version"], v["alias"]) for v in found})):
        series = sorted((v for v in found if (v["version"], v["alias"]) == key), key=lambda v: v["vintage"])
        label, colour = _label(series[0]), PALETTE[k % len(PALETTE)]
        x = [v["vintage"] for v in series]
        fig.add_scatter(
            x=x,
            y=[v["predicted_default_rate"] for v in series],
            name=f"{label}: mean PD, all decisions",
            mode="lines+markers",
            line={"color": colour, "dash": "dot"},
        )
        done = [v for v in series if v.get("outcomes")]
        if done:
            x = [v["vintage"] for v in done]
            fig.add_scatter(
                x=x,
                y=[v["observed_default_rate"] for v in done],
                name=f"{label}: observed",
                mode="lines+markers",
                line={"color": colour},
            )
            fig.add_scatter(
                x=x,
                y=[v["expected_default_rate"] for v in done],
                name=f"{label}: expected",
                mode="lines+markers",
                line={"color": colour, "dash": "dash"},
            )
    fig.update_layout(
        title="Default rate by month of decision: observed (solid), expected on the same loans "
        "(dashed), mean PD of all decisions (dotted)",
        xaxis_title="Month of the decision",
        xaxis_type="category",
        yaxis_title="Default rate",
        yaxis_tickformat=".0%",
        yaxis_rangemode="tozero",  # a rate is never negative: no axis below 0 % around a lone point
        template="plotly_white",
    )
    st.plotly_chart(fig, width="stretch")
    if not any(v.get("outcomes") for v in found):
        st.caption("No outcome yet: only what the PDs expect is drawn; observed rates follow the outcomes.")


def calibration(versions: list[Json]) -> None:
    """Observed against expected default rate by PD decile."""
    st.subheader(":material/tune: Calibration")
    with_bins = [v for v in versions if v.get("calibration")]
    if not with_bins:
        st.info("No outcome yet: calibration needs decisions with a known outcome.", icon=":material/info:")
        return
    fig = go.Figure()
    top = max(max(b["expected_default_rate"], b["observed_default_rate"]) for v in with_bins for b in v["calibration"])
    fig.add_scatter(
        x=[0, top], y=[0, top], name="perfect calibration", mode="lines", line={"color": GREY, "dash": "dot"}
    )
    for k, v in enumerate(with_bins):
        bins = v["calibration"]
        fig.add_scatter(
            x=[b["expected_default_rate"] for b in bins],
            y=[b["observed_default_rate"] for b in bins],
            name=_label(v),
            mode="lines+markers",
            line={"color": (BLUE, ORANGE)[k % 2]},
            text=[f"{b['outcomes']} outcomes" for b in bins],
        )
    fig.update_layout(
        title="Observed against expected default rate, by tenth of the PD",
        xaxis_title="Expected default rate (mean PD of the tenth)",
        yaxis_title="Observed default rate",
        xaxis_tickformat=".0%",
        yaxis_tickformat=".0%",
        template="plotly_white",
    )
    st.plotly_chart(fig, width="stretch")


def grades(client: GatewayClient) -> None:
    """The grade table."""
    st.subheader(":material/grade: Grades")
    found = fetch("Reading the grades…", lambda: client.get("/v1/performance/grades", cache=False), what="grades")
    if not found:
        st.info("No grade recorded yet.", icon=":material/info:")
        return
    rows = [
        {
            "Model": _label(g),
            "Grade": g.get("grade"),
            "Decisions": num(g.get("decisions")),
            "Approval rate": pct(g.get("approval_rate")),
            "Outcomes": num(g.get("outcomes")),
            "Observed default rate": pct(g.get("observed_default_rate")),
            "Expected default rate": pct(g.get("expected_default_rate")),
            "Mean PD of all decisions": pct(g.get("predicted_default_rate")),
        }
        for g in sorted(found, key=lambda g: (g["version"], g["alias"], g["grade"]))
    ]
    st.dataframe(rows, hide_index=True, width="stretch")
