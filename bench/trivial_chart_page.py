"""The floor the browser bench compares pages with: one slider and one small Plotly chart (issue 11's trivial page).

    streamlit run bench/trivial_chart_page.py
"""

import plotly.graph_objects as go
import streamlit as st

x = st.slider("x", 0, 100, 50, key="x")
st.plotly_chart(go.Figure(go.Scatter(x=[0, 1, 2], y=[0, x, 0])), key="trivial_chart")
