"""The gpufleet dashboard (Streamlit, multipage). Started by `gpufleet dashboard [--store DIR] [--runs DIR]`,
which passes its sources through the environment (so each page also runs alone, as the tests run them)."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

PAGES = Path(__file__).parent / "pages"

st.set_page_config(page_title="gpufleet", layout="wide")
nav = st.navigation(
    [
        st.Page(PAGES / "fleet.py", title="Fleet", icon=":material/dns:", default=True),
        st.Page(PAGES / "workloads.py", title="Workloads", icon=":material/tune:"),
        st.Page(PAGES / "cost.py", title="Cost", icon=":material/payments:"),
        st.Page(PAGES / "forecasts.py", title="Forecasts", icon=":material/trending_up:"),
        st.Page(PAGES / "whatif.py", title="What-if", icon=":material/science:"),
        st.Page(PAGES / "autoscaling.py", title="Autoscaling", icon=":material/stacked_line_chart:"),
    ]
)
nav.run()
