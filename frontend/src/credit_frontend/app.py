"""The Streamlit dashboard's entry point (``streamlit run app.py``): home page with the platform's status."""

from __future__ import annotations

import httpx
import streamlit as st

from credit_frontend.settings import get_settings

st.set_page_config(page_title="Credit scoring", page_icon=":bank:", layout="wide")
settings = get_settings()

st.title("Credit-scoring platform")
st.write(
    "Estimates the probability that a loan applicant defaults, decides at the threshold that minimises the "
    "lender's cost, explains every decision, keeps an audit trail and watches itself for drift."
)

try:
    response = httpx.get(f"{settings.gateway_url}/ready", timeout=settings.timeout_s)
    checks = response.json().get("checks", {})
    st.subheader("Status")
    for name, ok in checks.items():
        st.write(f"{'✅ up' if ok else '❌ down'} — {name}")
except httpx.HTTPError as exc:
    st.error(f"The gateway at {settings.gateway_url} does not answer ({exc}). Start the platform with `make up`.")
