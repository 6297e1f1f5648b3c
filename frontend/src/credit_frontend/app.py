"""The Streamlit dashboard's entry point (``streamlit run app.py``): navigation between the pages."""

from __future__ import annotations

import streamlit as st

from credit_frontend.client import GatewayDown, GatewayError, get_client
from credit_frontend.pages import (
    client_decision,
    datasets,
    experiments,
    home,
    monitoring,
    performance,
    raw_data,
    training,
)

PAGES = [
    st.Page(home.render, title="Home", icon=":material/home:", url_path="home", default=True),
    st.Page(client_decision.render, title="Client decision", icon=":material/person_search:", url_path="client"),
    st.Page(monitoring.render, title="Monitoring", icon=":material/monitoring:", url_path="monitoring"),
    st.Page(performance.render, title="Performance", icon=":material/insights:", url_path="performance"),
    st.Page(datasets.render, title="Datasets", icon=":material/dataset:", url_path="datasets"),
    st.Page(experiments.render, title="Experiments", icon=":material/science:", url_path="experiments"),
    st.Page(training.render, title="Training", icon=":material/model_training:", url_path="training"),
    st.Page(raw_data.render, title="Raw data", icon=":material/table_view:", url_path="raw-data"),
]


def banner() -> None:
    """A banner instead of the page when the gateway does not answer."""
    try:
        get_client().ready()
    except GatewayDown as down:
        st.error(f"**The gateway does not answer.** {down.detail}.\n\n{down.hint}", icon="🚫")
        st.stop()
    except GatewayError:
        pass  # it answered: the pages show their own errors


st.set_page_config(page_title="Credit scoring", page_icon=":material/account_balance:", layout="wide")
navigation = st.navigation(PAGES)
banner()
navigation.run()
