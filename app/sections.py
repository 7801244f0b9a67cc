"""Sections: the parts of a page that a change of their own controls redraws alone (issue 11).

A page is long (text, several charts, questions) while one slider changes one chart. Rerunning the whole
script for it makes Streamlit build and send every element again: for a class of 50 on one core that per
element cost, not the maths, was most of a rerun (``bench/load.py``). A section is an ``st.fragment``: a
change of a control drawn inside it reruns only the section's function, and only its elements are sent.

Rules a section keeps, so that the page never shows something stale:

- Its controls change nothing drawn outside it. A control whose value another section reads names that
  section in its callback: ``on_change=sections.also_rerun, args=("kl_demo",)`` reruns both (Streamlit's keyed
  ``st.rerun``); a control that changes the whole page (a preset, an upload) sits outside any section.
- It reads the page's other values as arguments: a section rerun calls the function with the arguments of
  the last full run, which are current, since anything that changes them reruns the page.
- The class-link builder (:mod:`classroom`) writes the page's whole address: while it is open, a section's
  change reruns the whole page instead, so that the link shown is never an old one.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TypeVar

import streamlit as st
from streamlit.errors import StreamlitAPIException
from streamlit.runtime.scriptrunner_utils.script_run_context import get_script_run_ctx

import classroom
import run_slots

F = TypeVar("F", bound=Callable)


def section(key: str) -> Callable[[F], F]:
    """Decorator: the function draws one section of a page (its controls and what they change) as a keyed
    ``st.fragment``. ``key`` names it for :func:`also_rerun` and must be unique on its page."""

    def decorate(draw: F) -> F:
        @functools.wraps(draw)
        @run_slots.one_at_a_time
        def body(*args, **kwargs):
            if not classroom.in_full_run() and classroom.builder_open():
                st.rerun(scope="app")  # the builder's link would otherwise keep the address before this change
            return draw(*args, **kwargs)

        return st.fragment(body, key=key)

    return decorate


def also_rerun(*keys: str) -> None:
    """A section's control's ``on_change``: rerun, with the control's own section, the sections that read its
    value. ``keys`` names them all, the control's own section among them: a keyed ``st.rerun`` from a callback
    replaces the interaction's own rerun.

    Only when the change came with its section's rerun: a change that reruns the whole page (AppTest sends
    every change so) keeps its whole rerun, which a keyed ``st.rerun`` would narrow to those sections."""
    ctx = get_script_run_ctx()
    if ctx is not None and ctx.fragment_ids_this_run:
        st.rerun(list(keys))


def in_this_run(*keys: str) -> bool:
    """Whether this run redraws the sections ``keys``: a whole-page run draws them all, a section's rerun the
    ones its control's :func:`also_rerun` named (none that has not been drawn yet)."""
    ctx = get_script_run_ctx()
    if ctx is None or classroom.in_full_run():
        return True
    try:
        wanted = ctx.fragment_storage.resolve_target(list(keys))
    except StreamlitAPIException:
        return False
    return set(wanted) <= set(ctx.fragment_ids_this_run or ())
