"""The "use these settings" block every page with run settings shows: TRL's GRPOConfig and verl's command
line for the same settings (grpo_core.family), or why that trainer cannot run them."""

from __future__ import annotations

import functools

import streamlit as st

import classroom
from grpo_core.family import Algorithm, trl_code, verl_code
from grpo_core.trainer_settings import Settings, parse_settings
from safe_text import md

#: Longest config a page compares (it travels in the page's URL).
PASTE_MAX = 2_000
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


@functools.lru_cache(maxsize=64)
def read_pasted(text: str) -> tuple[Settings, Algorithm, list[str]]:
    """``text`` read once by :func:`~grpo_core.trainer_settings.parse_settings`: its settings, the loss they
    select (:meth:`~grpo_core.trainer_settings.Settings.algorithm`) and what a toy batch cannot show of it.
    ``ValueError`` if it cannot be read. Kept by text: the URL check, the box and the page's figures each ask
    for it on every rerun (the results are shared, and nothing changes them)."""
    settings = parse_settings(text)
    return (settings, *settings.algorithm())


def comparable_settings(text: str) -> Settings:
    """A URL validator for a pasted config: its settings, ``ValueError`` when they select no valid loss."""
    return read_pasted(text)[0]


def paste_box(key: str, max_chars: int = PASTE_MAX) -> str:
    """A text area (bound to the URL as ``key``) for a TRL or verl config to compare; under it, the fields used
    and not used. Returns the text when it selects a valid loss, else "" (after saying why)."""
    text = st.text_area(
        "A TRL GRPOConfig (JSON, YAML, GRPOConfig(...) or --flags) or verl overrides (key=value)", key=key,
        max_chars=max_chars, height=90, bind="query-params", disabled=classroom.locked(key),
        placeholder="GRPOConfig(loss_type='dapo', beta=0.04, epsilon_high=0.28)",
        help=f"Up to {max_chars:,} characters, read with safe parsers only (nothing is run); the loss they select "
             "joins the comparison as \"yours\". Fields left out take the trainer's own defaults. The whole "
             "list of used and unused fields, and a link to train with them, is on the Your run page.")
    text = text.strip() if text else ""
    if not text:
        return ""
    try:
        settings, _, left_out = read_pasted(text)
    except ValueError as err:
        st.error(f"These settings cannot be compared: {md(err)}", icon=":material/error:")
        return ""
    lines = [f"**Used ({settings.trainer}):** " + (md(", ".join(f for f, _ in settings.used)) or "none"), ""]
    lines += [f"- not used: {md(name)}: {md(why)}" for name, why in settings.unused]
    lines += [f"- left out here: {md(note)}" for note in left_out]
    st.markdown("\n".join(lines))
    return text
