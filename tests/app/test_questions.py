"""Every page's "Think about it" questions in AppTest: each "Show me" sets up its view, each "Reveal" shows the
answer grpo_core.questions computes, with the numbers the page itself shows in that view."""

from __future__ import annotations

import math

import pytest

from tests import page_catalog as pc
from tests.app.pages import open_page as _open_page, open_questions

import training_session as ts  # noqa: E402  (app/ is on sys.path through page_catalog)
from grpo_core.questions import QUESTIONS
from safe_text import md

PAGES = {page: f"app_pages/{page}.py" for page in QUESTIONS}


def open_page(script: str, **query):
    """The page with its "Think about it" expander open."""
    return open_questions(_open_page(script, **query))


def widget(at, key: str):
    found = [n for n in pc.nodes(at) if getattr(n, "key", None) == key and getattr(n, "type", None) in pc.VALUE_KINDS]
    assert found, f"no widget with key {key!r} on the page"
    return found[0]


def assert_shows(at, key: str, expected) -> None:
    value = widget(at, key).value
    if isinstance(expected, float):
        assert math.isclose(float(value), expected, abs_tol=1e-9), (key, value, expected)
    elif isinstance(expected, list):
        assert list(value) == expected, (key, value, expected)
    else:
        assert value == expected, (key, value, expected)


def metric(at, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


def editor_rows(at) -> list[tuple]:
    (editor,) = pc.editors(at)
    return [tuple(row) for row in editor.value.itertuples(index=False)]


def check_page_numbers(at, question) -> None:
    """What the page shows in the Show me view agrees with the numbers the answer quotes."""
    numbers = question.answer().numbers
    if question.key == "q_rc_1":
        assert metric(at, "gradient dJ/dr") == f"{numbers['gradient']:.3f}"
    elif question.key == "q_rc_3":
        assert metric(at, "push r·dJ/dr") == f"{numbers['push']:.3f}"
    elif question.key == "q_rc_6":
        assert metric(at, "clipped objective J") == f"{numbers['objective']:.3f}"
    elif question.key == "q_kl_5":
        assert metric(at, "exact KL(π ‖ π_ref)") == f"{numbers['exact']:.4f}"
    elif question.key == "q_kl_7":
        table = next(d.value for d in at.dataframe if "A, KL in reward" in d.value.columns)
        assert math.isclose(table["A, KL in reward"].iloc[0], numbers["reward_A1"], abs_tol=1e-5)


def check_data(at, question) -> None:
    """The table (or experiment) the question's Show me loads is what the page now holds."""
    data = question.data
    if data is None:
        return
    target = question.page or PAGES[next(p for p, qs in QUESTIONS.items() if question in qs)]
    if target.endswith("reward_groups.py"):
        assert [r[2] for r in editor_rows(at)] == [r for g in data.groups for r in g.rewards]
    elif target.endswith("algorithms.py"):
        assert [(r[0], r[1]) for r in editor_rows(at)] == [(c.reward, c.length) for c in data]
    elif target.endswith("training.py"):
        for key, value in ts.arm_widgets(data, 0, 0).items():
            assert at.session_state[key] == value, key


@pytest.mark.parametrize("page", [p for p in PAGES if p != "training"])
def test_every_show_me_and_reveal(page):
    at = open_page(PAGES[page])
    assert any(e.label == "Think about it" for e in at.expander)
    baseline = {s.text for s in pc.shown(at)}
    for question in QUESTIONS[page]:
        if question.page is not None:  # the Overview's questions open another page: start from the Overview
            at = open_page(PAGES[page])
        at.button(key=f"{question.key}_show").click().run()
        assert not at.exception, pc.exceptions(at)
        for key, value in question.widgets.items():
            assert_shows(at, key, value)
        check_data(at, question)
        check_page_numbers(at, question)
        if question.page is not None:  # the answer is revealed on the Overview
            at = open_page(PAGES[page])
        at.toggle(key=f"{question.key}_reveal").set_value(True).run()
        assert not at.exception, pc.exceptions(at)
        bodies = [m.value for m in at.markdown]
        assert md(question.answer().text) in bodies, question.key
        assert not [w.value for w in at.warning if "do not bear this out" in w.value]
        assert not pc.nonfinite_texts(at, baseline), pc.nonfinite_texts(at, baseline)


def test_training_partial_credit_question():
    """The one Live training question without an experiment, and one experiment's Show me (the default run)."""
    at = open_page(PAGES["training"])
    question = QUESTIONS["training"][-1]
    at.button(key=f"{question.key}_show").click().run()
    pc.fill_in(at)
    assert_shows(at, "tr_partial", True)
    at.toggle(key=f"{question.key}_reveal").set_value(True).run()
    pc.fill_in(at)
    assert not at.exception, pc.exceptions(at)
    assert md(question.answer().text) in [m.value for m in at.markdown]


@pytest.mark.long
def test_training_show_me_and_reveal():
    at = open_page(PAGES["training"])
    for question in QUESTIONS["training"]:
        at.button(key=f"{question.key}_show").click().run()
        pc.fill_in(at)
        assert not at.exception, pc.exceptions(at)
        for key, value in question.widgets.items():
            assert_shows(at, key, value)
        check_data(at, question)
        if question.data is not None:
            assert at.session_state[ts.EXPERIMENT]["name"] == question.data
        at.button(key="tr_reset").click().run()  # stop the experiment before the next question
        pc.fill_in(at)
        at.toggle(key=f"{question.key}_reveal").set_value(True).run()
        pc.fill_in(at)
        assert not at.exception, pc.exceptions(at)
        assert md(question.answer().text) in [m.value for m in at.markdown], question.key
        assert not pc.nonfinite_texts(at)


def test_overview_show_me_keeps_the_links_bound_parameters():
    """A Show me that opens another page carries the link's parameters along: Streamlit refuses to drop one that
    is bound to a widget (the class-link builder's Presenter mode here), and would raise instead."""
    at = open_page(PAGES["home"], cl_present="true", scale="none")
    if not [n for n in pc.nodes(at) if getattr(n, "key", None) == "cl_present"]:
        pytest.skip("this page has no class-link builder")
    question = QUESTIONS["home"][1]
    at.button(key=f"{question.key}_show").click().run()
    assert not at.exception, pc.exceptions(at)
    for key, value in question.widgets.items():
        assert_shows(at, key, value)
