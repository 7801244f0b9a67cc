"""Every page's "Think about it" expander: each question of ``grpo_core.questions`` with a "Show me" button that
sets up the view answering it, and a "Reveal" toggle that shows the answer with its numbers.

"Show me" writes the question's widget values into ``st.session_state`` in the button's callback, before the
page creates its widgets (Streamlit 1.67 lets a bound widget be changed only that way, and then writes the
URL itself), and hands the question's ``data`` to the page's own loader (``load``: the reward table, the toy
batch, a ready-made experiment). A question of the Overview opens another page: its widget values go into the
session state, the data waits under :data:`PENDING` for that page's loader, and the page is switched.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import streamlit as st
from streamlit.runtime.scriptrunner_utils.script_run_context import get_script_run_ctx

from grpo_core.questions import QUESTIONS, Question
from safe_text import md

#: ``(page script, data)`` of a "Show me" that opened another page: that page's :func:`draw` loads it.
PENDING = "q_pending"


def _show(question: Question, load: Callable[[Any], None] | None) -> None:
    for key, value in question.widgets.items():
        st.session_state[key] = value
    if question.data is None:
        return
    if question.page is not None:
        st.session_state[PENDING] = (question.page, question.data)
    elif load is not None:
        load(question.data)


def _unbound_params() -> dict[str, list[str]]:
    """The link's parameters that a page switch may carry along (the class link's ?hide=, ?lock=, ...).

    ``st.switch_page`` without ``query_params`` clears the URL, which Streamlit 1.67 refuses (it raises) while a
    parameter is bound to a widget, such as the class-link builder's; with ``query_params`` it drops the old
    ones unchecked but refuses to set a bound one. So only the unbound ones are handed over.
    """
    ctx = get_script_run_ctx()
    try:
        with ctx.session_state.query_params() as params:
            return {k: params.get_all(k) for k in params if not params.is_bound(k)}
    except AttributeError:  # another Streamlit version, or no script context: switch with a clean URL
        return {}


def _reveal(question: Question) -> None:
    with st.spinner("Computing the answer…"):
        answer = question.answer()
    st.markdown(md(answer.text))
    missed = [c.text for c in answer.checks if not c.holds]
    if missed:  # never expected (tests/test_questions.py): say so rather than show an unchecked sentence as true
        st.warning("These numbers do not bear this out: " + md(" ".join(missed)), icon=":material/help:")


def draw(page: str, load: Callable[[Any], None] | None = None) -> None:
    """The expander of ``page`` (a key of ``grpo_core.questions.QUESTIONS``: the page script's name).

    Args:
        load: the page's loader of a question's ``data`` (called in the button's callback, or here, then a
            rerun, when the "Show me" came from another page).
    """
    pending = st.session_state.get(PENDING)
    if pending is not None and pending[0] == f"app_pages/{page}.py":
        del st.session_state[PENDING]
        if load is not None:
            load(pending[1])
            st.rerun()
    asked = QUESTIONS[page]
    # A key and a tracked state keep it open through a Show me's rerun, even where the page above it grows
    # (Live training's runs appear once an experiment starts), which would otherwise remount it closed. The
    # tracked state also tells whether it is open: closed, its dozen buttons and toggles are not created, which
    # was more than half of a rerun of the lighter pages (bench/bench_pages.py).
    expander = st.expander("Think about it", key=asked[0].key.rsplit("_", 1)[0] + "_open", on_change="rerun")
    if not expander.open:
        return
    with expander:
        for number, question in enumerate(asked, 1):
            st.markdown(f"**{number}.** {question.text}")
            show, reveal, _ = st.columns([1, 1, 4], vertical_alignment="center")
            clicked = show.button(
                "Show me", key=f"{question.key}_show", icon=":material/visibility:", on_click=_show,
                args=(question, load), width="stretch",
                help="Open the page and set up the view that answers this question." if question.page
                else "Set up the view that answers this question.")
            if clicked and question.page is not None:
                st.switch_page(question.page, query_params=_unbound_params())
            with reveal:
                shown = st.toggle("Reveal", key=f"{question.key}_reveal",
                                  help="The answer in words, with the numbers computed for the Show me view.")
            if shown:
                _reveal(question)
