"""The Lessons page (AppTest): the whole lesson walked step by step (predict, Reveal, the core's numbers shown
next to the guess, Next and Previous), the step and the answers in the URL, every Show me link opening its page
set up without a notice, every question's Reveal, and bad links answered with a notice."""

from __future__ import annotations

import math
from functools import cache

import pytest
import torch

from grpo_core import lessons as ls
from grpo_core import reward_table as rt
from safe_text import md
from tests import page_catalog as pc
from tests.app.pages import open_page

PAGE = "app_pages/lessons.py"


@cache
def core_answer(number: int):
    torch.set_num_threads(1)  # as app/main.py sets it: the short runs are then the page's runs exactly
    return ls.STEPS[number - 1].answer()


def guess_for(step) -> str | float:
    """A prediction a learner could make: the last option, or a slider value a few steps above the default."""
    p = step.prediction
    return p.options[-1] if p.kind == "choice" else round(min(p.high, p.default + 3 * p.step), 4)


def explained(answer) -> str:
    """An explanation as the page writes it: a paragraph per line, each escaped."""
    return "\n\n".join(md(line) for line in answer.explanation.split("\n"))


def metric(at, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


def texts(at) -> list[str]:
    return [m.value for m in at.markdown] + [c.value for c in at.caption]


def test_walk_the_whole_lesson():
    torch.set_num_threads(1)
    at = open_page(PAGE)
    answers = {}
    for step in ls.STEPS:
        assert at.radio(key="ls_step").value == step.number
        assert f"Step {step.number} of 8: {step.title}" in [h.value for h in at.subheader]
        assert md(step.text) in texts(at)
        reveal = at.button(key=f"ls_reveal{step.number}")
        widget = at.radio(key=f"ls_guess{step.number}") if step.prediction.kind == "choice" else \
            at.slider(key=f"ls_guess{step.number}")
        if step.prediction.kind == "choice":
            assert widget.value is None and reveal.proto.disabled, "Reveal waits for a prediction"
        guess = guess_for(step)
        widget.set_value(guess).run()
        at.button(key=f"ls_reveal{step.number}").click().run()
        assert not at.exception, [e.value for e in at.exception]

        core = core_answer(step.number)
        answers[step.number] = guess
        assert metric(at, "It is") == core.shown
        assert metric(at, "You said") == (guess if step.prediction.kind == "choice" else f"{guess:g}")
        shown_verdict = [s.value for s in (*at.success, *at.info)]
        assert shown_verdict == [md(core.verdict(step.prediction, guess))]
        assert bool(at.success) == core.is_right(step.prediction, guess)
        assert explained(core) in texts(at)
        for check in core.checks:
            assert any(md(check.text) in c.value and core.experiment in c.value for c in at.caption)
        links = at.get("page_link")
        assert [(lk.proto.page, lk.proto.query_string) for lk in links[:len(step.links)]] == [
            (link.page, ls.link_url(link).partition("?")[2]) for link in step.links]
        assert at.query_params["ls_ans"] == ls.encode_answers(answers)

        revealed = sum(core_answer(n).is_right(ls.STEPS[n - 1].prediction, g) for n, g in answers.items())
        assert at.caption[0].value == f"Revealed {len(answers)} of 8 steps, {revealed} predicted right."
        assert at.button(key="ls_previous").proto.disabled == (step.number == 1)
        assert at.button(key="ls_next").proto.disabled == (step.number == 8)
        if step.number < 8:
            at.button(key="ls_next").click().run()
            assert at.query_params["ls_step"] == str(step.number + 1)

    at.button(key="ls_previous").click().run()
    assert at.radio(key="ls_step").value == 7 and at.query_params["ls_step"] == "7"
    assert metric(at, "It is") == core_answer(7).shown, "a revealed step stays revealed"


def test_a_link_with_step_and_answers_opens_them_revealed():
    at = open_page(PAGE, ls_step="3", ls_ans="1:e,3:1.1")
    assert not at.warning
    assert at.radio(key="ls_step").value == 3
    assert metric(at, "You said") == "1.1" and metric(at, "It is") == core_answer(3).shown
    assert at.slider(key="ls_guess3").proto.disabled
    assert at.caption[0].value == "Revealed 2 of 8 steps, 2 predicted right."


def test_try_again_forgets_the_answer():
    at = open_page(PAGE, ls_step="4", ls_ans="4:1.5")
    at.button(key="ls_again4").click().run()
    assert not at.metric and not at.slider(key="ls_guess4").proto.disabled
    assert "ls_ans" not in at.query_params
    assert at.button(key="ls_reveal4")


@pytest.mark.parametrize("query", [{"ls_step": "99"}, {"ls_step": "<script>"}, {"ls_ans": "1:z"},
                                   {"ls_ans": "2:nan,9:a"}, {"ls_title": "x" * 81}])
def test_a_bad_link_shows_a_notice_not_a_crash(query):
    at = open_page(PAGE, **query)
    assert not at.exception
    notice = " ".join(w.value for w in at.warning)
    assert md(next(iter(query))) in notice
    assert at.radio(key="ls_step").value == 1


def test_every_question_has_show_me_and_reveal():
    torch.set_num_threads(1)
    at = open_page(PAGE)
    for q in ls.QUESTIONS:
        at.button(key=f"ls_question{q.number}").click().run()
        assert not at.exception
        assert explained(q.answer()) in texts(at)
    shown = {(lk.proto.page, lk.proto.query_string) for lk in at.get("page_link")}
    for q in ls.QUESTIONS:
        for link in q.links:
            assert (link.page, ls.link_url(link).partition("?")[2]) in shown


def test_worksheet_downloads_are_offered():
    at = open_page(PAGE, ls_title="Class 7b")
    labels = [d.proto.label for d in at.get("download_button")]
    assert labels == ["Download the worksheet (Markdown)", "Download the worksheet (HTML, to print)"]
    assert at.text_input(key="ls_title").value == "Class 7b"


SHOW_ME = sorted({(link.page, ls.link_url(link)) for link in ls.all_links() if link.page != ls.LESSONS_PAGE})
SCRIPTS = {p.url_path: p.script for p in pc.pages()}


@pytest.mark.parametrize("page, url", SHOW_ME, ids=[u for _, u in SHOW_ME])
def test_every_show_me_link_opens_its_page_set_up(page, url):
    """The page the link names runs with its parameters, uses them all (no notice) and shows their values."""
    link = next(lk for lk in ls.all_links() if ls.link_url(lk) == url)
    at = open_page(SCRIPTS[page], **link.query)
    notices = [w.value for w in at.warning if "could not be used" in w.value]
    assert not notices and not at.exception, notices
    bound = {w.key: w for w in pc.nodes(at) if getattr(w, "key", None) in link.query and hasattr(w, "value")}
    assert set(link.query) - set(bound) <= {"rewards"}, "a parameter the page shows in no widget"
    for key, value in link.query.items():
        if key not in bound:
            continue  # a hand-encoded value (a reward table): read by the page, no widget holds it
        shown = bound[key].value
        if isinstance(value, list):
            assert list(shown) == value, key
        elif isinstance(shown, bool):
            assert shown == (value == "true"), key
        elif isinstance(shown, (int, float)):
            assert math.isclose(float(shown), float(value)), key
        else:
            assert str(shown) == value, key
    if "rewards" in link.query:  # the reward table the link encodes is the one in the editor
        rewards = [r for g in rt.decode(link.query["rewards"]).groups for r in g.rewards]
        assert pc.editors(at)[0].value["reward"].tolist() == rewards
