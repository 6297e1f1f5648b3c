"""Client decision: for a credit officer explaining a decision to a client, in plain words."""

from __future__ import annotations

from typing import Any, Final

import streamlit as st

from credit_frontend import charts
from credit_frontend.client import GatewayClient, GatewayError, Json, get_client
from credit_frontend.ui import DECISION, fetch, is_number, num, pct, show_error
from credit_frontend.units import DAYS_PER_YEAR, is_days, label_for_people, shown, years
from credit_frontend.what_if import what_if

GLOSSARY: Final[dict[str, str]] = {
    "Probability of default": "The model's estimate of the chance that the client does not repay the loan.",
    "Threshold": "The probability above which the lender refuses: chosen to minimise the lender's cost of wrong "
    "decisions (a default costs much more than a lost good client).",
    "Reason": "A fact about the client that raised the estimated risk the most.",
    "Base value": "The score of an average client, before looking at this client's own values.",
    "Contribution": "How much one value moved the score up (raises the risk) or down (lowers it), in log-odds.",
    "Log-odds": "The score before it is turned into a probability; +0.7 roughly doubles the odds of default.",
    "Percentile": "The share of clients with a lower value: 80 % means higher than 8 clients in 10.",
    "What-if": "The same client with some values changed, scored again; nothing is recorded.",
}
GROUPS: Final = {"all": "All clients", "similar": "Similar clients"}


def render() -> None:
    """Draw the client decision page."""
    client = get_client()
    st.title(":material/person_search: Client decision")
    st.caption("Look up a client to see the decision on their application and why, in words you can tell them.")
    linked = st.query_params.get("client", "")
    if linked.isdigit() and "client_id" not in st.session_state:  # a link such as /client?client=100002
        st.session_state["client_id"] = int(linked)
    with st.form("lookup"):
        current = st.session_state.get("client_id")
        sk_id = st.number_input("Client id (SK_ID_CURR)", min_value=0, step=1, value=current, format="%d")
        if st.form_submit_button("Look up", icon=":material/search:") and sk_id is not None:
            st.session_state["client_id"] = int(sk_id)
    chosen = st.session_state.get("client_id")
    if chosen is None:
        st.info("Enter a client id and press **Look up**.", icon=":material/info:")
    else:
        show_client(client, int(chosen))
    with st.expander("Glossary", icon=":material/menu_book:"):
        for term, meaning in GLOSSARY.items():
            st.markdown(f"**{term}**: {meaning}")


def _lookup(client: GatewayClient, sk_id: int) -> tuple[Json | None, Json | None]:
    """The client's data (None when the gateway cannot give it) and latest decision."""
    try:
        found = client.applicant(sk_id)
        data = found.get("application") or found.get("data")
        return (data if isinstance(data, dict) else None), found.get("decision") or found.get("latest_decision")
    except GatewayError as error:
        if not error.not_available:
            raise
    page = client.decisions(sk_id_curr=sk_id, limit=1, features=True)
    items = page.get("items") or []
    return None, (items[0] if items else None)


def show_client(client: GatewayClient, sk_id: int) -> None:
    """Everything about one client."""
    found = fetch(f"Looking up client {sk_id}…", lambda: _lookup(client, sk_id), what=f"client {sk_id}")
    if found is None:
        return
    data, decision = found
    if decision is None:
        st.warning(f"No decision recorded for client {sk_id} yet.", icon="🔎")
        if data is None:
            return
    explanation: Json | None = None
    if decision is not None:
        verdict(decision)
        explanation = explain(client, sk_id, decision)
    compare(client, sk_id, data)
    what_if(client, sk_id, data, decision, explanation)


def verdict(decision: Json) -> None:
    """The gauge and the decision in plain words."""
    probability, threshold = float(decision["probability"]), float(decision["threshold"])
    name = str(decision.get("decision", "refused" if probability >= threshold else "approved"))
    left, right = st.columns([2, 3])
    left.plotly_chart(charts.gauge(probability, threshold), width="stretch")
    with right:
        st.subheader(DECISION.get(name, name))
        side = "above" if probability >= threshold else "below"
        st.markdown(
            f"The estimated probability that this client does not repay is **{pct(probability)}**. The lender "
            f"refuses applications at **{pct(threshold)}** or more; this one is {side} that line, so it is "
            f"**{name}**."
        )
        model = decision.get("model") or {}
        version = model.get("version") or decision.get("model_version", "—")
        st.caption(f"Decided by model version {version} · request {decision.get('request_id', '—')}")


def _reason_sentence(reason: Json) -> str:
    feature = str(reason.get("feature") or "")
    label = label_for_people(feature, reason.get("label"))
    effect = "raises" if float(reason.get("contribution") or 0) > 0 else "lowers"
    told = f"**{reason['text']}** ({reason.get('code')}): " if reason.get("text") else ""
    return (f"- {told}{label} is {shown(feature, reason.get('value'))}; this {effect} the estimated risk by "
            f"{abs(float(reason.get('contribution') or 0)):.2f} log-odds.")  # fmt: skip


def explain(client: GatewayClient, sk_id: int, decision: Json) -> Json | None:
    """The reasons in plain words and the waterfall from the base value."""
    st.subheader("Why")
    reasons = decision.get("reasons") or []
    if reasons:
        st.markdown("The facts that raised the estimated risk the most:\n" + "\n".join(map(_reason_sentence, reasons)))
    else:
        st.markdown("No single fact stands out as raising the risk for this client.")
    try:
        with st.spinner("Computing the full explanation…"):
            explanation = client.explanation(sk_id)
    except GatewayError as error:
        show_error(error, "full explanation")
        if reasons:
            labels = [str(r.get("label") or r.get("feature")) for r in reasons]
            values = [float(r.get("contribution") or 0) for r in reasons]
            title = "Main reasons (contribution to the log-odds of default)"
            st.plotly_chart(charts.bars(labels, values, title, "Contribution", "", horizontal=True))
        return None
    contributions = explanation.get("contributions") or []
    base = explanation.get("base_value")
    if is_number(base) and contributions:
        st.plotly_chart(charts.waterfall(float(base), contributions), width="stretch")
        st.caption("▲ orange steps raise the risk, ▼ blue steps lower it; grey bars are the start and the end.")
        st.caption(_explained_by(explanation, decision))
    return explanation


def _explained_by(explanation: Json, decision: Json) -> str:
    """Which model version the full explanation describes (the one serving now, which may have changed since)."""
    explained = str((explanation.get("model") or {}).get("version") or "—")
    decided = str((decision.get("model") or {}).get("version") or decision.get("model_version") or "—")
    if explained == decided or "—" in (explained, decided):
        return f"Every factor, as model version {explained} weighs it."
    return (
        f"Every factor, as model version {explained} (serving now) weighs it; the decision above was made by "
        f"version {decided}."
    )


def _percentile(value: Any, same_share: Any = None) -> str:
    if is_number(value):
        rank = round(value)
        suffix = "th" if 10 <= rank % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(rank % 10, "th")
        return f"{rank}{suffix}"
    return f"same value as {same_share:.0f} %" if is_number(same_share) else "—"


def compare(client: GatewayClient, sk_id: int, data: Json | None) -> None:
    """The client against all clients or similar clients, on the gateway's default features or chosen ones."""
    st.subheader("Compared with other clients")
    group = st.radio("Compare with", list(GROUPS), format_func=GROUPS.__getitem__, horizontal=True, key="group")
    options = [k for k, v in (data or {}).items() if k != "SK_ID_CURR" and v is not None]
    wanted = st.multiselect("Features to compare (empty: the reasons and the usual ones)", options, key="features")
    result = fetch(
        "Comparing…",
        lambda: client.comparison(sk_id, str(group), [str(w) for w in wanted] or None),
        what="comparison with other clients",
    )
    if result is None:
        return
    features: list[Json] = [for_people(f) for f in result.get("features") or []]
    if not features:
        st.info("No feature to compare.", icon=":material/info:")
        return
    definition = f" ({result['definition']})" if result.get("definition") else ""
    st.caption(f"{GROUPS[str(group)]}: {num(result.get('size'))} clients{definition}.")
    rows = [
        {
            "Feature": f.get("label") or f.get("feature"),
            "This client": f["shown"],
            "Percentile": _percentile(f.get("percentile"), f.get("same_share")),
            "Group median": shown(str(f["feature"]), f.get("median")) if is_number(f.get("median")) else "—",
        }
        for f in features
    ]
    st.dataframe(rows, hide_index=True)
    percentiles = [(str(f.get("label") or f["feature"]), f.get("percentile")) for f in features]
    known = [(n, float(p)) for n, p in percentiles if is_number(p)]
    if known:
        title = "Where the client stands on the top features (percentile, 50 = median)"
        fig = charts.bars([n for n, _ in known], [p for _, p in known], title, "Percentile", "", horizontal=True)
        fig.add_vline(x=50, line_dash="dot", annotation_text="median")
        fig.update_xaxes(range=[0, 100])
        st.plotly_chart(fig, width="stretch")
    names = [str(f["feature"]) for f in features if f.get("distribution")]
    if names:
        labels = {str(f["feature"]): str(f.get("label") or f["feature"]) for f in features}
        chosen = st.selectbox("Feature to show", names, key="compare_feature", format_func=labels.__getitem__)
        feature = next(f for f in features if f["feature"] == chosen)
        title = f"{feature.get('label') or chosen}: {GROUPS[group].lower()}, the client marked"
        marker = years(chosen, feature.get("value")) if is_days(chosen) else feature.get("value")
        st.plotly_chart(charts.distribution(feature["distribution"], title, marker=marker))


def for_people(feature: Json) -> Json:
    """A compared feature in the units people read: a day count as years (its percentile and histogram too)."""
    name = str(feature.get("feature"))
    out = {**feature, "label": label_for_people(name, feature.get("label")), "shown": shown(name, feature.get("value"))}
    if not is_days(name):
        out["distribution"] = {**(feature.get("distribution") or {}), "column": out["label"]}
        return out
    if is_number(feature.get("percentile")):  # more days before the application is older: the ranking turns over
        out["percentile"] = 100.0 - float(feature["percentile"])
    dist = dict(feature.get("distribution") or {})
    bins = [{"left": -b["right"] / DAYS_PER_YEAR, "right": -b["left"] / DAYS_PER_YEAR, "count": b["count"]}
            for b in reversed(dist.get("bins") or []) if b["left"] <= 0]  # fmt: skip
    out["distribution"] = {**dist, "bins": bins, "column": out["label"]}
    return out
