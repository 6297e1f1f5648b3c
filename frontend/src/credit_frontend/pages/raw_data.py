"""Raw data: the Kaggle tables as they come: a sample, a column's distribution, correlations, the glossary."""

from __future__ import annotations

import streamlit as st

from credit_frontend import charts
from credit_frontend.client import GatewayClient, Json, get_client
from credit_frontend.ui import fetch, num, pct


def render() -> None:
    """Draw the raw data page."""
    client = get_client()
    st.title(":material/table_view: Raw data")
    st.caption("The Home Credit tables the datasets are built from, before any feature engineering.")
    tables = fetch("Reading the tables…", client.raw_tables, what="raw tables")
    if tables is None:
        return
    if not tables:
        st.info(
            "No raw table found: point CREDIT_DATA_DIR at the Kaggle files or generate synthetic ones.",
            icon=":material/info:",
        )
        return
    names = {
        str(t["name"]): f"{t['name']} ({num(t.get('rows'))} rows)" if t.get("rows") is not None else str(t["name"])
        for t in tables
    }
    table = str(st.selectbox("Table", list(names), format_func=names.__getitem__))
    info = next(t for t in tables if t["name"] == table)
    if info.get("description"):
        st.caption(str(info["description"]))
    sample(client, table)
    columns = fetch("Reading the columns…", lambda: client.raw_columns(table), what="columns")
    if columns:
        column_distribution(client, table, columns, key=list(info.get("key") or []))
        glossary(columns)
    correlations(client, table)


def sample(client: GatewayClient, table: str) -> None:
    """A sample of the table's rows."""
    st.subheader("Sample")
    limit = st.slider("Rows in the sample", 10, 500, 100, 10)
    page = fetch("Reading a sample…", lambda: client.raw_rows(table, limit=limit), what="sample")
    if page is not None:
        st.dataframe(page.get("rows") or [], width="stretch")
        if page.get("total") is not None:
            note = " (taken from the start of the table)" if page.get("sampled") else ""
            st.caption(f"{num(len(page.get('rows') or []))} of the {num(page['total'])} rows of the sample{note}.")


def column_distribution(client: GatewayClient, table: str, columns: list[Json], *, key: list[str]) -> None:
    """One column's histogram (numbers) or bar chart (categories)."""
    st.subheader("One column")
    names = [str(c["name"]) for c in columns]
    labels = {str(c["name"]): f"{c['name']} ({c['label']})" if c.get("label") else str(c["name"]) for c in columns}
    first = next((i for i, n in enumerate(names) if n not in key), 0)  # an id's distribution says nothing
    column = str(st.selectbox("Column", names, index=first, format_func=labels.__getitem__))
    spec = next(c for c in columns if c["name"] == column)
    if spec.get("description") or spec.get("label"):
        st.markdown(f"**{spec.get('label') or column}**: *{spec.get('description') or 'no description'}*")
    dist = fetch("Computing the distribution…", lambda: client.raw_distribution(table, column), what="distribution")
    if dist is None:
        return
    st.plotly_chart(charts.distribution(dist, f"Distribution of {column} in {table}"), width="stretch")
    total = (dist.get("count") or 0) + (dist.get("missing") or 0)
    missing = (dist.get("missing") or 0) / total if total else None
    st.caption(f"{num(dist.get('count'))} values, {num(dist.get('missing'))} missing ({pct(missing)}).")


def correlations(client: GatewayClient, table: str) -> None:
    """How the pairwise Pearson correlations of the numeric columns are spread, and the strongest pairs."""
    st.subheader("Correlations between columns")
    spread = fetch("Computing the correlations…", lambda: client.raw_correlations(table), what="correlations")
    if spread is None:
        return
    bins = spread.get("bins") or []
    if bins:
        labels = [f"{b['left']:.2f} to {b['right']:.2f}" for b in bins]
        title = f"|Pearson r| of {num(spread.get('pairs'))} column pairs ({num(spread.get('rows'))} rows)"
        st.plotly_chart(
            charts.bars(labels, [b["count"] for b in bins], title, "|r|", "Number of pairs"), width="stretch"
        )
    top = spread.get("top") or []
    if top:
        st.markdown("**The most correlated pairs**")
        st.dataframe([{"Column A": p["a"], "Column B": p["b"], "r": round(p["r"], 3)} for p in top], hide_index=True)


def glossary(columns: list[Json]) -> None:
    """What each column means."""
    with st.expander("Glossary of the columns", icon=":material/menu_book:"):
        st.dataframe(
            [
                {"Column": c["name"], "Label": c.get("label"), "Type": c.get("type"), "Meaning": c.get("description")}
                for c in columns
            ],
            hide_index=True,
            width="stretch",
        )
