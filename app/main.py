"""GRPO Explorer: the Streamlit entry point (`streamlit run app/main.py`)."""

import streamlit as st

st.set_page_config(page_title="GRPO Explorer", page_icon="🎲", layout="wide")

PAGES = [
    st.Page("app_pages/home.py", title="Overview", url_path="overview", default=True),
    st.Page("app_pages/reward_groups.py", title="Reward groups", url_path="reward-groups"),
    st.Page("app_pages/ratio_clipping.py", title="Ratio and clipping", url_path="ratio-clipping"),
    st.Page("app_pages/kl_beta.py", title="KL and β", url_path="kl-beta"),
    st.Page("app_pages/training.py", title="Live training", url_path="training"),
]

st.navigation(PAGES).run()
