"""What-if built around the decision's reasons: edit the application columns behind them, see both decisions.

The inputs are the application columns of the factor groups that drove the decision (the reason catalogue names
each group's columns), labelled for people and typed like the application schema (whole numbers step by 1, day
counts are edited in years). A group drawn only from the credit history has no column an application carries: it
is named, with why it cannot be edited here.
"""

from __future__ import annotations

from typing import Any, Final

import streamlit as st

from credit_frontend.client import GatewayClient, GatewayError, Json
from credit_frontend.ui import DECISION, fetch, is_number, pct
from credit_frontend.units import InputSpec, input_spec, shown

APPLICATION_TABLE: Final = "application_test"
PER_GROUP: Final = 4  # inputs per factor group (the residence group has 58 columns)
MAX_GROUPS: Final = 4


def catalogue(client: GatewayClient) -> dict[str, Json]:
    """The reason catalogue's groups by code (empty when the gateway cannot give it)."""
    try:
        return {str(g["code"]): g for g in client.reasons().get("groups") or []}
    except GatewayError:
        return {}


def schema(client: GatewayClient) -> dict[str, Json]:
    """The application columns with their type, levels and glossary label, by name."""
    try:
        return {str(c["name"]): c for c in client.raw_columns(APPLICATION_TABLE)}
    except GatewayError:
        return {}


def driving_groups(decision: Json | None, explanation: Json | None, groups: dict[str, Json]) -> list[tuple[Json, Json]]:
    """The factor groups behind the decision, most important first, each with the reason that names it.

    A refusal's stated reasons come first; without them (an approval), the groups of the largest contributions of
    the full explanation whose feature is an application column.
    """
    found: list[tuple[Json, Json]] = []
    for reason in (decision or {}).get("reasons") or []:
        group = groups.get(str(reason.get("code")))
        if group is not None and group not in [g for g, _ in found]:
            found.append((group, reason))
    if found:
        return found[:MAX_GROUPS]
    owner = {c: g for g in groups.values() if not g.get("protected") for c in g.get("columns") or []}
    ordered = sorted((explanation or {}).get("contributions") or [], key=lambda c: -abs(c.get("contribution") or 0))
    for contribution in ordered:
        group = owner.get(str(contribution.get("feature")))
        if group is not None and group not in [g for g, _ in found]:
            found.append((group, contribution))
    return found[:MAX_GROUPS]


def _ranked_columns(group: Json, reason: Json, explanation: Json | None, data: Json) -> list[str]:
    """The group's columns the client has, the reason's own feature first, then by the size of their contribution."""
    weight = {
        str(c["feature"]): abs(c.get("contribution") or 0) for c in (explanation or {}).get("contributions") or []
    }
    columns = [c for c in group.get("columns") or [] if c in data]
    columns.sort(key=lambda c: (c != reason.get("feature"), -weight.get(c, 0.0), data.get(c) is None))
    return columns[:PER_GROUP]


def _widget(spec: InputSpec, current: Any, key: str) -> Any:
    """One input in the units shown; returns the widget's value."""
    value = spec.to_widget(current)
    if spec.widget == "category":
        options = [None, *spec.options]
        index = options.index(value) if value in options else 0
        return st.selectbox(
            spec.label, options, index=index, key=key, format_func=lambda v: "missing" if v is None else v
        )
    if spec.widget == "flag":
        flags: list[int | None] = [None, 0, 1]
        labels = {None: "missing", 0: "no", 1: "yes"}
        index = flags.index(value) if value in flags else 0
        return st.selectbox(spec.label, flags, index=index, key=key, format_func=labels.__getitem__)
    if spec.widget == "int":
        return st.number_input(spec.label, value=value, key=key, step=1, format="%d",
                               min_value=None if spec.minimum is None else int(spec.minimum),
                               max_value=None if spec.maximum is None else int(spec.maximum))  # fmt: skip
    return st.number_input(spec.label, value=value, key=key, step=spec.step, min_value=spec.minimum,
                           max_value=spec.maximum, format="%.1f" if spec.widget == "years" else "%g")  # fmt: skip


def what_if(
    client: GatewayClient, sk_id: int, data: Json | None, decision: Json | None, explanation: Json | None
) -> None:
    """Edit the columns behind the decision's reasons and see the new decision beside the original."""
    st.subheader("What if…")
    if data is None:
        st.info("What-if needs the client's application, which the gateway does not have.", icon=":material/info:")
        return
    groups, columns = catalogue(client), schema(client)
    driving = driving_groups(decision, explanation, groups)
    if not driving:
        st.info("No factor behind this decision comes from the application.", icon=":material/info:")
        return
    st.caption("Change the client's values behind the factors that weighed most in this decision, then score the "
               "edited application. Nothing is recorded on the client.")  # fmt: skip
    changes: dict[str, Any] = {}
    with st.form("what_if"):
        for group, reason in driving:
            effect = reason.get("contribution") or 0
            st.markdown(f"**{group['group']}** ({group['code']}): {group['text']} · "
                        f"{'raised' if effect > 0 else 'lowered'} the risk by {abs(effect):.2f} log-odds")  # fmt: skip
            names = _ranked_columns(group, reason, explanation, data)
            if not names:
                st.caption("Drawn from the client's credit history (previous loans, credit bureau), which an "
                           "application does not carry: it cannot be changed here.")  # fmt: skip
                continue
            cols = st.columns(min(len(names), PER_GROUP))
            for i, name in enumerate(names):
                info = columns.get(name) or {}
                spec = input_spec(name, str(info.get("type") or "float"), info.get("label"), info.get("categories"))
                with cols[i]:
                    value = _widget(spec, data.get(name), key=f"whatif-{name}")
                if value != spec.to_widget(data.get(name)):
                    changes[name] = spec.to_column(value)
        submitted = st.form_submit_button("Score the edited application", icon=":material/calculate:")
    if not submitted:
        return
    if not changes:
        st.info("Change at least one value first.", icon=":material/info:")
        return
    new = fetch("Scoring the edited application…", lambda: client.what_if(sk_id, changes), what="what-if")
    if new is not None:
        side_by_side(decision, new, changes, data, columns)


def _decision_card(title: str, decision: Json | None, baseline: Json | None = None) -> None:
    st.markdown(f"**{title}**")
    if decision is None:
        st.write("No decision recorded.")
        return
    name = str(decision.get("decision", ""))
    st.metric("Decision", DECISION.get(name, name).split(" ", 1)[-1])
    probability, before = decision.get("probability"), (baseline or {}).get("probability")
    delta = f"{(probability - before) * 100:+.1f} points" if is_number(probability) and is_number(before) else None
    st.metric("Probability of default", pct(probability), delta=delta, delta_color="inverse")
    score, grade = decision.get("score"), decision.get("grade")
    if is_number(score):
        st.metric("Score and grade", f"{int(score)} · grade {grade or '—'}")
    reasons = [str(r.get("text") or r.get("group") or r.get("label")) for r in decision.get("reasons") or []]
    st.caption("Reasons: " + ("; ".join(reasons) if reasons else "none stated"))


def side_by_side(before: Json | None, after: Json, changes: Json, data: Json, columns: dict[str, Json]) -> None:
    """The original decision and the what-if decision next to each other, with what was changed."""
    rows = []
    for name, value in changes.items():
        info = columns.get(name) or {}
        label = input_spec(name, str(info.get("type") or "float"), info.get("label")).label
        rows.append({"Value": label, "As decided": shown(name, data.get(name)), "What if": shown(name, value)})
    st.dataframe(rows, hide_index=True)
    left, right = st.columns(2)
    with left:
        _decision_card("As decided", before)
    with right:
        _decision_card("What if (not recorded)", after, before)
