"""Training: pick a dataset and a model family, fix or search its parameters, launch and follow live."""

from __future__ import annotations

from typing import Any

import streamlit as st

from credit_frontend.client import GatewayClient, GatewayError, Json, get_client
from credit_frontend.ui import fetch, field_error, follow_job, is_number, show_error

DEFAULT_OPTIONS: dict[str, list[str]] = {  # used when the gateway does not list its own
    "imbalance": ["class_weight", "smote", "none"],
    "scaling": ["standard", "robust", "none"],
}


def render() -> None:
    """Draw the training page."""
    client = get_client()
    st.title("🏋️ Training")
    st.caption("Train a model on a dataset: the search picks the parameters with the lowest business cost.")
    datasets = fetch("Reading the datasets…", client.datasets, what="datasets")
    answer = fetch("Reading the model families…", client.model_families, what="model families")
    if datasets is None or answer is None:
        return
    if not datasets:
        st.info("No dataset yet: build one on the **Datasets** page first.", icon=":material/info:")
        return
    families: list[Json] = answer if isinstance(answer, list) else list(answer.get("families") or [])
    options = DEFAULT_OPTIONS | (
        {} if isinstance(answer, list) else {k: v for k, v in answer.items() if k != "families"}
    )
    if not families:
        st.warning("The gateway lists no model family.", icon="⚠️")
        return
    form(client, datasets, families, options)


def _parameter(spec: Json, errors: dict[str, str]) -> tuple[str, Any] | None:
    """One parameter's control: ``("fixed", value)`` or ``("search", {...})``; None for the family's default."""
    name, kind = str(spec["name"]), str(spec.get("type", "float"))
    default = spec.get("default")
    low, high = spec.get("low", spec.get("min")), spec.get("high", spec.get("max"))
    help_text = spec.get("description") or None
    mode = st.radio(
        f"{name} ({kind}, default {default})",
        ["default", "fix", "search"],
        horizontal=True,
        key=f"mode-{name}",
        help=help_text,
    )
    result: tuple[str, Any] | None = None
    if mode == "fix":
        if spec.get("choices"):
            choices = list(spec["choices"])
            result = (
                "fixed",
                st.selectbox(f"Value of {name}", choices, index=choices.index(default) if default in choices else 0),
            )
        elif kind == "bool":
            result = ("fixed", st.checkbox(f"Value of {name}", value=bool(default)))
        else:
            value = st.number_input(
                f"Value of {name}",
                value=default if is_number(default) else None,
                step=1 if kind == "int" else None,
                format="%d" if kind == "int" else "%g",
            )
            result = ("fixed", int(value) if kind == "int" and value is not None else value)
    elif mode == "search":
        if spec.get("choices"):
            result = (
                "search",
                {
                    "values": st.multiselect(
                        f"Values of {name} to try", list(spec["choices"]), default=list(spec["choices"])
                    )
                },
            )
        else:
            cols = st.columns(4)
            lo = cols[0].number_input(f"{name}: from", value=float(low) if is_number(low) else 0.0, format="%g")
            hi = cols[1].number_input(f"{name}: to", value=float(high) if is_number(high) else 1.0, format="%g")
            scale = cols[2].selectbox(f"{name}: scale", ["linear", "log"], index=1 if spec.get("log") else 0)
            count = cols[3].number_input(f"{name}: values", min_value=2, max_value=20, value=3, step=1)
            result = ("search", {"low": lo, "high": hi, "scale": scale, "count": int(count)})
    field_error(errors, name)
    return result


def form(client: GatewayClient, datasets: list[Json], families: list[Json], options: dict[str, Any]) -> None:
    """The training form, sent and then followed live."""
    last_error: GatewayError | None = st.session_state.get("training_error")
    if last_error is not None:
        show_error(last_error, "training")
    errors = last_error.field_errors() if last_error is not None else {}
    names = {str(d["dataset_id"]): f"{d.get('name')} ({d['dataset_id']})" for d in datasets}
    dataset = st.selectbox("Dataset", list(names), format_func=names.__getitem__)
    field_error(errors, "dataset_id")
    labels = {str(f["name"]): str(f.get("label") or f["name"]) for f in families}
    family_name = st.selectbox("Model family", list(labels), format_func=labels.__getitem__)
    family = next(f for f in families if f["name"] == family_name)
    if family.get("description"):
        st.caption(str(family["description"]))
    st.markdown("**Parameters**: keep the default, fix a value or search a range.")
    fixed: dict[str, Any] = {}
    search: dict[str, Any] = {}
    for spec in family.get("parameters") or []:
        chosen = _parameter(spec, errors)
        if chosen is not None:
            (fixed if chosen[0] == "fixed" else search)[str(spec["name"])] = chosen[1]
    st.markdown("**Pipeline and search**")
    cols = st.columns(3)
    imbalance = cols[0].selectbox("Class imbalance", list(options.get("imbalance") or DEFAULT_OPTIONS["imbalance"]))
    scaling = cols[1].selectbox("Scaling", list(options.get("scaling") or DEFAULT_OPTIONS["scaling"]))
    folds = cols[2].number_input("Cross-validation folds", min_value=2, max_value=10, value=3, step=1)
    field_error(errors, "folds")
    use_pca = st.checkbox("Reduce dimensions with PCA")
    pca = st.number_input("PCA components", min_value=2, max_value=500, value=50, step=1) if use_pca else None
    st.markdown("**Cost of wrong decisions** (the threshold minimises it)")
    costs = st.columns(2)
    cost_fn = costs[0].number_input("Cost of lending to a client who defaults", min_value=0.0, value=10.0, step=1.0)
    cost_fp = costs[1].number_input("Cost of refusing a client who would repay", min_value=0.0, value=1.0, step=1.0)
    field_error(errors, "cost_fn", "cost_fp", "costs")
    if not st.button("🚀 Launch the training", type="primary"):
        return
    request = {
        "dataset_id": dataset,
        "family": family_name,
        "fixed": fixed,
        "search": search,
        "imbalance": imbalance,
        "scaling": scaling,
        "pca_components": pca,
        "folds": int(folds),
        "cost_fn": cost_fn,
        "cost_fp": cost_fp,
    }
    try:
        with st.spinner("Sending the training…"):
            job = client.start_training(request)
    except GatewayError as error:
        st.session_state["training_error"] = error
        st.rerun()  # drawn again with the message on top and each field's error beside it
    st.session_state["training_error"] = None
    final = follow_job(client, job, f"Training {labels[str(family_name)]}")
    if final is not None and final.get("status") == "succeeded":
        st.markdown("Compare it with the others on the **Experiments** page.")
