"""The "use these settings" block every page with run settings shows: TRL's GRPOConfig and verl's command
line for the same settings (grpo_core.family), or why that trainer cannot run them."""

from __future__ import annotations

import streamlit as st

from grpo_core.family import trl_code, verl_code
from safe_text import md

TRAINERS = (("TRL 1.16 · GRPOConfig", trl_code, "python"), ("verl 0.9 · command-line overrides", verl_code, "bash"))


def draw(settings: dict, what: str) -> None:
    """Both trainers' code for ``settings`` (grpo_loss keyword arguments, plus ``num_iterations``), stacked;
    ``what`` names the settings in the refusal ("these settings", an algorithm's title), Markdown-escaped."""
    for label, make, language in TRAINERS:
        code, notes = make(settings)
        st.markdown(f"**{label}**")
        if code is None:
            st.info(f"{label.split(' ')[0]} cannot run {what}: {md('; '.join(notes))}.",
                    icon=":material/block:")
            continue
        st.code(code, language=language)
        for note in notes:
            st.caption(md(note))
