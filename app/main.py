"""GRPO Explorer: the Streamlit entry point (`streamlit run app/main.py`)."""

import sys
from pathlib import Path

import streamlit as st

# `streamlit run app/main.py` puts app/ on sys.path, not the project root that holds grpo_core.
ROOT = str(Path(__file__).resolve().parent.parent)
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

import torch  # noqa: E402

# One intra-op thread per session thread: the server runs many visitors' scripts at once on few cores,
# where torch's own thread pool would only oversubscribe them; it also keeps training runs deterministic.
torch.set_num_threads(1)

import classroom  # noqa: E402
import gc_freeze  # noqa: E402
import run_slots  # noqa: E402

# Before the page: a class link's hidden controls must never be drawn, not even for a moment.
room = classroom.begin()
st.set_page_config(page_title="GRPO Explorer", page_icon="🎲", layout="wide",
                   initial_sidebar_state=room.sidebar_state)

PAGES = [
    st.Page("app_pages/home.py", title="Overview", url_path="overview", default=True),
    st.Page("app_pages/lessons.py", title="Lessons", url_path="lessons"),
    st.Page("app_pages/reward_groups.py", title="Reward groups", url_path="reward-groups"),
    st.Page("app_pages/ratio_clipping.py", title="Ratio and clipping", url_path="ratio-clipping"),
    st.Page("app_pages/algorithms.py", title="Algorithms", url_path="algorithms"),
    st.Page("app_pages/kl_beta.py", title="KL and β", url_path="kl-beta"),
    st.Page("app_pages/training.py", title="Live training", url_path="training"),
    st.Page("app_pages/your_run.py", title="Your run", url_path="your-run"),
]

with run_slots.run_slot():  # one run computes at a time (app/run_slots.py says why)
    page = st.navigation(PAGES)
    page.run()
    room.finish(page)
gc_freeze.freeze_what_is_loaded()  # outside the run slot: a first visit's collection holds no one's turn
