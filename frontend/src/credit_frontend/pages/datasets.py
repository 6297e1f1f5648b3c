"""Datasets: build one (live progress), list them with sizes and what cleaning dropped, browse parts and columns."""

from __future__ import annotations

from collections import Counter
from functools import partial
from typing import Any

import streamlit as st

from credit_frontend import charts
from credit_frontend.client import GatewayClient, GatewayError, Json, get_client
from credit_frontend.names import param_label
from credit_frontend.ui import fetch, field_error, num, pct, run_job, show_error, when

IMPUTATIONS = {
    "none": "None (models that handle gaps)",
    "mean": "Mean",
    "median": "Median",
    "most_frequent": "Most frequent value",
}
SOURCES = {
    "auto": "Automatic (Kaggle files when configured, else synthetic)",
    "kaggle": "Kaggle files",
    "synthetic": "Synthetic tables",
    "sample": "The real sample",
}
PARTS = {"train": "Training (labelled)", "target": "Target only", "production": "Production (to score)"}


def render() -> None:
    """Draw the datasets page."""
    client = get_client()
    st.title(":material/dataset: Datasets")
    st.caption("A dataset is the eight Home Credit tables turned into one row per applicant, then cleaned.")
    found = fetch("Reading the datasets…", client.datasets, what="datasets")
    build_form(client, expanded=not found)
    if found is None:
        return
    if not found:
        st.info("No dataset yet: build the first one with the form above.", icon=":material/info:")
        return
    listing(found)
    browse(client, found)


def build_form(client: GatewayClient, *, expanded: bool) -> None:
    """The build form, then the build followed live."""
    last_error: GatewayError | None = st.session_state.get("build_error")
    if last_error is not None:
        show_error(last_error, "dataset build")
    errors = last_error.field_errors() if last_error is not None else {}
    with (
        st.expander("Build a new dataset", icon=":material/add:", expanded=expanded),
        st.form("build"),
    ):
        name = st.text_input("Name", max_chars=80, placeholder="baseline")
        field_error(errors, "name")
        description = st.text_area("Description", max_chars=2000)
        source = st.selectbox("Raw tables", list(SOURCES), format_func=SOURCES.__getitem__)
        missing = st.slider(
            "Maximum missing rate of a feature",
            0.0,
            1.0,
            0.8,
            0.05,
            help="A feature missing in more than this share of applicants is dropped.",
        )
        field_error(errors, "max_missing_rate")
        imputation = st.selectbox(
            "Imputation of missing values", list(IMPUTATIONS), format_func=IMPUTATIONS.__getitem__
        )
        left, right = st.columns(2)
        with left:
            use_corr = st.checkbox("Drop highly correlated features", value=True)
            max_corr = st.slider("Maximum |Pearson r| between two features", 0.5, 1.0, 0.98, 0.01)
            field_error(errors, "max_correlation")
        with right:
            use_leak = st.checkbox(
                "Leakage guard", value=True, help="Drops a feature that alone predicts the target suspiciously well."
            )
            leak = st.slider("Maximum ROC AUC of a single feature", 0.51, 1.0, 0.95, 0.01)
            field_error(errors, "leakage_auc")
        submitted = st.form_submit_button("Build")
    if not submitted:
        return
    request: dict[str, Any] = {
        "name": name.strip(),
        "description": description,
        "source": source,
        "max_missing_rate": missing,
        "imputation": imputation,
        "max_correlation": max_corr if use_corr else None,
        "leakage_auc": leak if use_leak else None,
    }
    label = f"Building {request['name'] or 'the dataset'}"
    send = partial(client.build_dataset, request)
    final = run_job(client, send, error_key="build_error", sending="Sending the build…", label=label)
    if final is not None and final.get("status") == "succeeded":
        st.session_state["dataset_id"] = (final.get("result") or {}).get("dataset_id")


def listing(found: list[Json]) -> None:
    """Every dataset with its sizes and how much cleaning dropped."""
    st.subheader("All datasets")
    rows = [
        {
            "Name": d.get("name"),
            "Id": d.get("dataset_id"),
            "Created": when(d.get("created_at")),
            "Source": d.get("source_kind"),
            "Training rows": num((d.get("sizes") or {}).get("train")),
            "Production rows": num((d.get("sizes") or {}).get("production")),
            "Features kept": num(d.get("features")),
            "Features dropped": num(d.get("dropped")),
            "Default rate": pct(d.get("target_rate")),
        }
        for d in found
    ]
    st.dataframe(rows, hide_index=True, width="stretch")


def browse(client: GatewayClient, found: list[Json]) -> None:
    """One dataset: parameters, what was dropped, its parts and one column's distribution."""
    st.subheader("Browse a dataset")
    ids = [str(d["dataset_id"]) for d in found]
    names = {str(d["dataset_id"]): f"{d.get('name')} ({d['dataset_id']})" for d in found}
    wanted = st.session_state.get("dataset_id")
    dataset_id = st.selectbox(
        "Dataset", ids, index=ids.index(wanted) if wanted in ids else 0, format_func=names.__getitem__
    )
    manifest = fetch("Reading the dataset…", lambda: client.dataset(str(dataset_id)), what="dataset")
    if manifest is None:
        return
    with st.expander("Cleaning parameters and what was dropped"):
        parameters: dict[str, object] = manifest.get("parameters") or {}
        if parameters:
            rows = [{"Parameter": param_label(k), "Value": _plain(v)} for k, v in parameters.items()]
            st.dataframe(rows, hide_index=True)
        else:
            st.write("No cleaning parameters recorded.")
        dropped: dict[str, str] = manifest.get("dropped") or {}
        if dropped:
            reasons = Counter(r.split(":")[0].split("(")[0].strip() for r in dropped.values())
            st.markdown(" · ".join(f"**{n}** {reason}" for reason, n in reasons.most_common()))
            st.dataframe([{"Column": c, "Why dropped": r} for c, r in dropped.items()], hide_index=True)
        else:
            st.write("Cleaning dropped nothing.")
    part = st.radio("Part", list(PARTS), format_func=PARTS.__getitem__, horizontal=True)
    left, right = st.columns(2)
    limit = left.number_input("Rows per page", min_value=10, max_value=1000, value=50, step=10)
    offset = right.number_input("First row", min_value=0, value=0, step=int(limit))
    page = fetch(
        "Reading rows…",
        lambda: client.dataset_rows(str(dataset_id), str(part), offset=int(offset), limit=int(limit)),
        what="rows",
    )
    if page is not None:
        st.caption(
            f"Rows {num(page.get('offset', 0) + 1)} to "
            f"{num(min(page.get('offset', 0) + page.get('limit', 0), page.get('total', 0)))} "
            f"of {num(page.get('total'))}"
        )
        st.dataframe(page.get("rows") or [], width="stretch")
    features = [f["name"] for f in manifest.get("features") or []]
    labels = {f["name"]: f"{f.get('label') or f['name']} ({f['name']})" for f in manifest.get("features") or []}
    if part == "target":
        features, labels = ["TARGET"], {"TARGET": "Default (TARGET)"}
    if not features:
        return
    column = st.selectbox("Column", features, format_func=lambda c: labels.get(c, c))
    dist = fetch(
        "Computing the distribution…",
        lambda: client.dataset_distribution(str(dataset_id), str(column), str(part)),
        what="distribution",
    )
    if dist is not None:
        st.plotly_chart(
            charts.distribution(dist, f"Distribution of {labels.get(str(column), column)}"), width="stretch"
        )
        st.caption(f"{num(dist.get('count'))} values, {num(dist.get('missing'))} missing.")


def _plain(value: object) -> str:
    """A parameter's value as a person reads it (lists joined, missing as a dash)."""
    if value is None:
        return "—"
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value) or "—"
    return str(value)
