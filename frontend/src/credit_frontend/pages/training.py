"""Training: pick a dataset and a model family, fix or search its parameters, launch and follow live."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from functools import partial
from typing import Any

import streamlit as st

from credit_frontend.client import GatewayClient, GatewayError, Json, get_client
from credit_frontend.ui import fetch, field_error, is_number, num, run_job, show_error

FALLBACK_ENUMS: dict[str, list[str]] = {  # only when the gateway's OpenAPI does not list them
    "Imbalance": ["none", "class_weight", "smote", "random_under"],
    "SearchMethod": ["random", "grid", "halving"],
}
IMBALANCE_LABELS = {
    "none": "None",
    "class_weight": "Class weights (defaults count more)",
    "smote": "SMOTE (synthetic defaults)",
    "random_under": "Random under-sampling of repaid loans",
}
SCALING = {"default": "The family's default", "yes": "Standardise numeric features", "no": "Do not scale"}
NAMED = re.compile(r"parameter '([A-Za-z0-9_]+)'")


def render() -> None:
    """Draw the training page."""
    client = get_client()
    st.title(":material/model_training: Training")
    st.caption("Train a model on a dataset: the search picks the parameters with the lowest business cost.")
    datasets = fetch("Reading the datasets…", client.datasets, what="datasets")
    families = fetch("Reading the model families…", client.model_families, what="model families")
    if datasets is None or families is None:
        return
    if not datasets:
        st.info("No dataset yet: build one on the **Datasets** page first.", icon=":material/info:")
        return
    if not families:
        st.warning("The gateway lists no model family.", icon="⚠️")
        return
    form(client, datasets, families)


def enum(client: GatewayClient, name: str) -> list[str]:
    """An enumeration of the API, from its OpenAPI (a fallback when it cannot be read)."""
    try:
        return client.enum(name) or FALLBACK_ENUMS[name]
    except GatewayError:
        return FALLBACK_ENUMS[name]


def problems_by_field(error: GatewayError) -> dict[str, str]:
    """Validation problems keyed by the parameter or field they name (others under ``""``)."""
    found: dict[str, str] = {}
    for key, message in error.field_errors().items():
        for part in message.removeprefix("Value error, ").split("; "):
            named = NAMED.search(part)
            found.setdefault(named.group(1) if named else key, part)
    return found


KINDS = {"int": "whole number", "float": "number", "categorical": "one of a list", "bool": "yes or no"}


def _numeric_search(name: str, spec: Json, kind: str) -> Json:
    low, high, default = spec.get("low"), spec.get("high"), spec.get("default")
    start = float(default) if is_number(default) and default != 0 else (float(low) if is_number(low) else 0.0)
    cols = st.columns(4)
    lo = cols[0].number_input(f"{name}: from", value=start / 2 if spec.get("log") else start, format="%g")
    hi = cols[1].number_input(f"{name}: to", value=start * 2 if spec.get("log") else float(high or 1), format="%g")
    scales = ["log", "linear"] if spec.get("log") else ["linear"]
    scale = cols[2].selectbox(f"{name}: spacing", scales)
    count = cols[3].number_input(f"{name}: number of values", min_value=2, max_value=20, value=3, step=1)
    if kind == "int":
        lo, hi = round(lo), round(hi)
    return {"low": lo, "high": hi, "scale": scale, "num": int(count)}


def parameter(spec: Json, errors: dict[str, str]) -> tuple[str, Any] | None:
    """One parameter's controls: ``("fixed", value)``, ``("search", dimension)`` or None (the default)."""
    name, kind = str(spec["name"]), str(spec.get("kind", "float"))
    default, choices = spec.get("default"), spec.get("choices")
    bounds = (
        f", {spec['low']:g} to {spec['high']:g}" if is_number(spec.get("low")) and is_number(spec.get("high")) else ""
    )
    described = str(spec.get("description") or name)
    label = f"**{described}** · `{name}` ({KINDS.get(kind, kind)}{bounds}; default {default})"
    mode = st.radio(label, ["default", "fix", "search"], horizontal=True, key=f"mode-{name}")
    chosen: tuple[str, Any] | None = None
    if mode == "fix":
        if choices:
            index = choices.index(default) if default in choices else 0
            chosen = ("fixed", st.selectbox(f"Value of {name}", choices, index=index))
        elif kind == "bool":
            chosen = ("fixed", st.checkbox(f"Value of {name}", value=bool(default)))
        elif kind == "int":
            value = st.number_input(f"Value of {name}", value=int(default) if is_number(default) else 0, step=1)
            chosen = ("fixed", int(value))
        else:
            chosen = ("fixed", st.number_input(f"Value of {name}", value=float(default or 0.0), format="%g"))
    elif mode == "search":
        if choices or kind == "bool":
            options = list(choices) if choices else [True, False]
            chosen = ("search", {"values": st.multiselect(f"Values of {name} to try", options, default=options)})
        else:
            chosen = ("search", _numeric_search(name, spec, kind))
    field_error(errors, name)
    return chosen


def form(client: GatewayClient, datasets: list[Json], families: list[Json]) -> None:
    """The training form, sent and then followed live."""
    last_error: GatewayError | None = st.session_state.get("training_error")
    if last_error is not None:
        show_error(last_error, "training")
    errors = problems_by_field(last_error) if last_error is not None else {}
    names = {str(d["dataset_id"]): f"{d.get('name')} ({d['dataset_id']})" for d in datasets}
    dataset = st.selectbox("Dataset", list(names), format_func=names.__getitem__)
    field_error(errors, "dataset_id")
    labels = {str(f["family"]): str(f.get("label") or f["family"]) for f in families}
    preferred = list(labels).index("lightgbm") if "lightgbm" in labels else 0  # the first start's recipe
    family_name = str(st.selectbox("Model family", list(labels), index=preferred, format_func=labels.__getitem__))
    family = next(f for f in families if f["family"] == family_name)
    notes = ["handles missing values" if family.get("handles_missing") else "needs imputed values"]
    notes += ["stops early on a validation split"] if family.get("early_stopping") else []
    st.caption(f"{labels[family_name]}: {', '.join(notes)}.")
    run_name = st.text_input("Run name", value=f"{family_name}-{datetime.now(UTC):%Y%m%d-%H%M}", max_chars=120)
    field_error(errors, "run_name")
    st.markdown("**Parameters**: keep the default, fix a value or search a range.")
    fixed: dict[str, Any] = {}
    searched: dict[str, Any] = {}
    for spec in family.get("parameters") or []:
        chosen = parameter(spec, errors)
        if chosen is not None:
            (fixed if chosen[0] == "fixed" else searched)[str(spec["name"])] = chosen[1]
    settings = pipeline(client, searched, errors)
    if not st.button("Launch the training", icon=":material/rocket_launch:", type="primary"):
        return
    search = settings.pop("search")
    request: Json = {
        "dataset_id": dataset, "run_name": run_name.strip(), "family": family_name, "params": fixed,
        "search": search | {"parameters": searched} if searched else None, **settings,
    }  # fmt: skip
    send = partial(client.start_training, request)
    label = f"Training {labels[family_name]}"
    final = run_job(client, send, error_key="training_error", sending="Sending the training…", label=label)
    if final is not None and final.get("status") == "succeeded":
        outcome(client, final.get("result") or {})


def pipeline(client: GatewayClient, searched: Json, errors: dict[str, str]) -> Json:
    """The search, pipeline, validation and cost settings of the command."""
    st.markdown("**Search, pipeline and validation**")
    cols = st.columns(3)
    methods = enum(client, "SearchMethod")
    preferred = methods.index("random") if "random" in methods else 0  # the command's default
    why = None if searched else "Choose **search** for at least one parameter above to search its values."
    method = cols[0].selectbox("Search method", methods, index=preferred, disabled=not searched, help=why)
    budget = cols[1].number_input("Candidates to evaluate", min_value=1, max_value=500, value=8, disabled=not searched)
    if not searched:
        st.caption("Search method and candidates are off: every parameter keeps its default or a fixed value. "
                   "Choose **search** for a parameter above to search it by cross-validation.")  # fmt: skip
    folds = cols[2].number_input("Cross-validation folds", min_value=2, max_value=20, value=5, step=1)
    field_error(errors, "folds")
    cols = st.columns(3)
    imbalances = enum(client, "Imbalance")
    weighted = imbalances.index("class_weight") if "class_weight" in imbalances else 0  # 8 % defaults: weigh them
    imbalance = cols[0].selectbox(
        "Class imbalance", imbalances, index=weighted, format_func=lambda v: IMBALANCE_LABELS.get(v, v)
    )
    field_error(errors, "imbalance")
    scaling = cols[1].selectbox("Scaling", list(SCALING), format_func=SCALING.__getitem__)
    test_share = cols[2].slider("Share of rows held out for the test", 0.05, 0.5, 0.2, 0.05)
    use_pca = st.checkbox("Reduce dimensions with PCA")
    pca = st.slider("Share of variance the PCA keeps", 0.5, 0.99, 0.95, 0.01) if use_pca else None
    st.markdown("**Cost of wrong decisions** (the decision threshold minimises it)")
    costs = st.columns(2)
    cost_fn = costs[0].number_input("Cost of lending to a client who defaults", min_value=0.1, value=10.0, step=1.0)
    cost_fp = costs[1].number_input("Cost of refusing a client who would repay", min_value=0.1, value=1.0, step=1.0)
    field_error(errors, "cost")
    return {
        "search": {"method": method, "budget": int(budget)},
        "folds": int(folds),
        "imbalance": imbalance,
        "scaling": {"default": None, "yes": True, "no": False}[str(scaling)],
        "test_share": test_share,
        "pca_variance": pca,
        "cost": {"fn": cost_fn, "fp": cost_fp},
    }


METRICS = {"test_roc_auc": "Test ROC AUC", "test_business_cost": "Test business cost per applicant",
           "test_brier": "Test Brier score", "cv_roc_auc": "Cross-validated ROC AUC"}  # fmt: skip


def outcome(client: GatewayClient, result: Json) -> None:
    """The new version's metrics against the champion's, and a link to compare them in full."""
    version = str(result.get("version") or "?")
    st.markdown(f"Registered as version **{version}**.")
    try:
        registry = client.registry()
    except GatewayError as error:
        show_error(error, "registry")
        registry = {}
    versions = {str(v.get("version")): v for v in registry.get("versions") or []}
    champion_id = str((registry.get("aliases") or {}).get("champion") or "")
    new, champion = versions.get(version) or {}, versions.get(champion_id) or {}
    rows = [
        {"Metric": label, f"Version {version} (new)": num((new.get("metrics") or {}).get(key), 4),
         f"Version {champion_id or '—'} (champion)": num((champion.get("metrics") or {}).get(key), 4)}
        for key, label in METRICS.items()
    ]  # fmt: skip
    st.dataframe(rows, hide_index=True)
    st.markdown("[:material/science: Compare it with the other runs on the Experiments page](/experiments)")
