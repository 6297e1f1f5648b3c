"""Experiments: compare runs (metrics, curves, confusion matrices, cost, CV, importance), read model cards, promote."""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import partial
from typing import Any

import plotly.graph_objects as go
import streamlit as st

from credit_frontend import charts, figures
from credit_frontend.client import GatewayClient, GatewayError, Json, get_client
from credit_frontend.names import metric_label, param_label
from credit_frontend.pages.monitoring import feature_labels
from credit_frontend.ui import fetch, follow_job, is_number, num, show_error, when

PREFERRED_METRICS = ("roc_auc", "business_cost", "recall", "precision")  # shown first when a run has them
SPLIT = re.compile(r"^(train|test|cv|val|validation)[_.]")
CURVE_NAMES = ("roc", "pr_curve", "precision_recall")  # figures overlaid across runs


def _is_curve(name: str) -> bool:
    return any(key in name.lower() for key in CURVE_NAMES)


def render() -> None:
    """Draw the experiments page."""
    client = get_client()
    st.title(":material/science: Experiments")
    st.caption("One experiment per dataset; each training is a run. Compare them, then promote the best.")
    found = fetch("Reading the experiments…", client.experiments, what="experiments")
    if found is None:
        return
    if not found:
        st.info("No experiment yet: build a dataset, then train a model.", icon=":material/info:")
        return
    names = {str(e["experiment_id"]): str(e.get("name") or e["experiment_id"]) for e in found}
    ids = list(names)
    experiment = st.selectbox("Experiment", ids, index=_champion_index(client, ids), format_func=names.__getitem__)
    runs = fetch("Reading the runs…", lambda: client.runs(str(experiment)), what="runs")
    if runs is None:
        return
    if not runs:
        st.info("This experiment has no run yet: launch one on the **Training** page.", icon=":material/info:")
        return
    labels = {str(r["run_id"]): _run_label(r) for r in runs}
    metric_table(runs, labels)
    chosen = st.multiselect("Runs to compare", list(labels), default=list(labels)[:3], format_func=labels.__getitem__)
    if chosen:
        curves(client, [str(c) for c in chosen], labels)
        details(
            client,
            str(chosen[0])
            if len(chosen) == 1
            else str(st.selectbox("Run to inspect", chosen, format_func=labels.__getitem__)),
            labels,
        )
    promote(client, runs)


def _champion_index(client: GatewayClient, experiment_ids: list[str]) -> int:
    """The page opens on the champion's experiment (the newest one may hold only a baseline); 0 without one."""
    try:
        registry = client.registry()
        champion = (registry.get("aliases") or {}).get("champion")
        version = next((v for v in registry.get("versions") or [] if v.get("version") == champion), None)
        if version is None or not version.get("run_id"):
            return 0
        experiment_id = str(client.run(str(version["run_id"])).get("experiment_id"))
    except GatewayError:
        return 0  # the registry's own section of the page shows what went wrong
    return experiment_ids.index(experiment_id) if experiment_id in experiment_ids else 0


def _family(run: Json) -> str:
    for source in ("params", "tags"):
        values = run.get(source) or {}
        for key in ("family", "model_family", "model.family"):
            if values.get(key):
                return str(values[key])
    return str(run.get("family") or "—")


def _run_label(run: Json) -> str:
    return f"{run.get('name') or run.get('run_name') or run['run_id'][:8]} · {_family(run)}"


def metric_table(runs: list[Json], labels: dict[str, str]) -> None:
    """The metrics of every run, by chosen families, train and test side by side; a bar chart of one metric."""
    st.subheader("Metrics")
    families = sorted({SPLIT.sub("", m) for r in runs for m in (r.get("metrics") or {})})
    model_families = sorted({_family(r) for r in runs})
    left, right = st.columns(2)
    shown = left.multiselect("Model families", model_families, default=model_families)
    preferred = [f for f in PREFERRED_METRICS if f in families] or families[:4]
    metrics = right.multiselect("Metrics", families, default=preferred, format_func=metric_label)
    rows: list[dict[str, Any]] = []
    for run in runs:
        if _family(run) not in shown:
            continue
        row: dict[str, Any] = {
            "Run": labels[str(run["run_id"])],
            "Started": when(run.get("started_at") or run.get("start_time")),
        }
        for name, value in sorted((run.get("metrics") or {}).items()):
            if SPLIT.sub("", name) in metrics and not name.endswith("_std"):
                row[metric_label(name)] = num(value, 4) if is_number(value) else "not computed"
        rows.append(row)
    if not rows:
        st.info("No run of the chosen families.", icon=":material/info:")
        return
    headers = list(dict.fromkeys(k for r in rows for k in r))
    rows = [{h: r.get(h, "not computed") for h in headers} for r in rows]  # a run without a metric: said, not None
    st.dataframe(rows, hide_index=True, width="stretch")
    numeric = sorted({metric_label(m) for r in runs for m, v in (r.get("metrics") or {}).items()
                      if SPLIT.sub("", m) in metrics and is_number(v) and not m.endswith("_std")})  # fmt: skip
    by_label = {metric_label(m): m for r in runs for m in r.get("metrics") or {}}
    if numeric:
        metric = st.selectbox("Metric to chart", numeric)
        key = by_label[str(metric)]
        kept = [r for r in runs if _family(r) in shown and is_number((r.get("metrics") or {}).get(key))]
        fig = charts.bars([labels[str(r["run_id"])] for r in kept], [r["metrics"][key] for r in kept],
                          f"{metric} by run", "Run", str(metric))  # fmt: skip
        st.plotly_chart(fig, width="stretch")
        missing = [labels[str(r["run_id"])] for r in runs if _family(r) in shown and r not in kept]
        if missing:
            st.caption(f"Not drawn, without a value of {metric}: {', '.join(missing)}.")


def _figures(client: GatewayClient, run_id: str) -> list[str]:
    run = client.run(run_id)
    listed = run.get("figures") or []
    return [str(f.get("name") if isinstance(f, dict) else f) for f in listed]


def curves(client: GatewayClient, chosen: list[str], labels: dict[str, str]) -> None:
    """ROC and precision-recall curves of several runs, overlaid."""
    st.subheader("Curves")
    try:
        with st.spinner("Reading the figures…"):
            available = {run_id: _figures(client, run_id) for run_id in chosen}
    except GatewayError as error:
        show_error(error, "figures")
        return
    by_kind: dict[str, dict[str, Json]] = {}
    for run_id, names in available.items():
        for name in filter(_is_curve, names):
            data = fetch(f"Reading {name}…", partial(client.run_figure, run_id, name), what=name)
            if isinstance(data, dict):
                by_kind.setdefault(str(data.get("kind")), {})[labels[run_id]] = data
    split = st.radio("Split", ["test", "train"], horizontal=True, key="curve_split")
    drawn = False
    for kind in ("roc", "precision_recall"):
        fig = figures.overlay(by_kind.get(kind, {}), str(split))
        if fig is not None:
            st.plotly_chart(fig, width="stretch")
            drawn = True
    if not drawn:
        st.info("The chosen runs have no ROC or precision-recall figure.", icon=":material/info:")


def details(client: GatewayClient, run_id: str, labels: dict[str, str]) -> None:
    """One run: its other figures (confusion matrices, cost vs threshold, importance, SHAP), CV results, model card."""
    st.subheader(f"Run {labels[run_id]}")
    run = fetch("Reading the run…", lambda: client.run(run_id), what="run")
    if run is None:
        return
    with st.expander("Parameters"):
        st.dataframe(
            [
                {"Parameter": param_label(k), "Value": "—" if v in (None, "None") else str(v)}
                for k, v in sorted((run.get("params") or {}).items())
            ],
            hide_index=True,
        )
    names = [str(f.get("name") if isinstance(f, dict) else f) for f in run.get("figures") or []]
    others = [n for n in names if not _is_curve(n)]
    labels = feature_labels(client, (run.get("params") or {}).get("dataset_id"))
    for name in others:
        data = fetch(f"Reading {name}…", partial(client.run_figure, run_id, name), what=name)
        fig = figures.figure(data, name, labels) if data is not None else None
        if fig is not None:
            st.plotly_chart(fig, width="stretch")
    cross_validation(client, run_id)
    card = optional("Reading the model card…", lambda: client.model_card(run_id), "model card")
    if card is None:
        st.info("This run has no model card.", icon=":material/info:")
    else:
        with st.expander("Model card", icon=":material/description:"):
            text = card.get("markdown") or card.get("text")
            if text:
                st.markdown(str(text))
            else:
                st.json(card)


def optional(label: str, call: Callable[[], Json], what: str) -> Json | None:
    """An artifact a run may lack: None when the gateway says it has none (404), other errors shown."""
    try:
        with st.spinner(label):
            return call()
    except GatewayError as error:
        if error.status != 404 or error.not_available:
            show_error(error, what)
        return None


def cross_validation(client: GatewayClient, run_id: str) -> None:
    """The search's cross-validation results and a parameter / metric scatter."""
    result = optional("Reading the cross-validation results…", lambda: client.run_cv_results(run_id), "CV results")
    rows: list[Json] = (result or {}).get("rows") or []
    if not rows:
        st.info("This run has no cross-validation results (it made no search).", icon=":material/info:")
        return
    st.markdown("**Cross-validation results**")
    st.dataframe([{param_label(k): ("—" if v is None else v) for k, v in r.items()} for r in rows], hide_index=True,
                 width="stretch")  # fmt: skip
    params = sorted({k for r in rows for k in r if k.startswith("param")})
    scores = sorted({k for r in rows for k in r if "score" in k or "cost" in k})
    if params and scores and len(rows) > 1:  # one candidate is no relation to draw
        left, right = st.columns(2)
        param = left.selectbox("Parameter", params, format_func=param_label)
        score = right.selectbox("Metric", scores, format_func=param_label)
        fig = go.Figure(
            go.Scatter(
                x=[r.get(str(param)) for r in rows],
                y=[r.get(str(score)) for r in rows],
                mode="markers",
                marker={"size": 10, "color": charts.BLUE},
            )
        )
        fig.update_layout(
            title=f"{param_label(str(score))} against {param_label(str(param))}",
            xaxis_title=param_label(str(param)),
            yaxis_title=param_label(str(score)),
            template="plotly_white",
        )
        st.plotly_chart(fig, width="stretch")


def promote(client: GatewayClient, runs: list[Json]) -> None:
    """Move the champion or challenger alias to a version of this experiment (administrators)."""
    with st.expander("Promote a model (administrators)", icon=":material/trophy:"):
        registry = fetch("Reading the registry…", client.registry, what="registry")
        if registry is None:
            return
        ours = {str(r["run_id"]) for r in runs}
        versions = [v for v in registry.get("versions") or [] if v.get("run_id") in ours]
        if not versions:
            st.info("No registered model version comes from this experiment.", icon=":material/info:")
            return
        aliases = registry.get("aliases") or {}
        st.caption(" · ".join(f"{a}: version {v}" for a, v in aliases.items()) or "No alias set yet.")
        with st.form("promote"):
            version = st.selectbox(
                "Version", [str(v["version"]) for v in versions], format_func=lambda v: f"version {v}"
            )
            alias = st.radio("Make it", ["champion", "challenger"], horizontal=True)
            force = st.checkbox("Skip the champion gate (it must beat the baseline otherwise)")
            submitted = st.form_submit_button("Promote")
        if submitted:
            job = fetch("Promoting…", lambda: client.promote(str(version), str(alias), force=force), what="promotion")
            if job is not None:
                follow_job(client, job, f"Promotion of version {version} to {alias}")
        st.caption(f"{num(len(versions))} registered version(s) from this experiment.")
