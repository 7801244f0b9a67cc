"""grpo_core.questions: every answer's sentences hold for its numbers, a few numbers recomputed independently,
and every "Show me" names only widgets its page has."""

from __future__ import annotations

import math
import re

import pytest

from tests import page_catalog as pc
from grpo_core import reward_table as rt
from grpo_core.curves import clip_status
from grpo_core.experiments import EXPERIMENTS
from grpo_core.questions import QUESTIONS, SHORT_STEPS, placement_advantages

ALL = [q for qs in QUESTIONS.values() for q in qs]
PAGES = {p.script: p for p in pc.pages()}
_NONFINITE = re.compile(r"(?<![A-Za-z])[-+−]?(?:nan|inf)(?![A-Za-z])", re.I)


def page_of(question) -> str:
    return question.page or next(f"app_pages/{p}.py" for p, qs in QUESTIONS.items() if question in qs)


def page_keys(script: str) -> tuple[set[str], list[re.Pattern]]:
    """The URL/widget keys a page's source names, and its f-string keys as patterns (``kl_value{i + 1}``)."""
    page = PAGES[script]
    templates = [k for k in pc._BIND_KEY.findall(page.source) if "{" in k]
    return pc.url_keys(page), [re.compile(re.sub(r"\\\{[^}]*\\\}", r"\\d+", re.escape(t)) + "$") for t in templates]


def test_every_page_with_a_think_about_it_has_questions():
    for script, page in PAGES.items():
        if 'questions.draw("' in page.source:
            name = script.removeprefix("app_pages/").removesuffix(".py")
            assert QUESTIONS.get(name), name
    assert set(QUESTIONS) == {"home", "reward_groups", "ratio_clipping", "algorithms", "kl_beta", "training"}


def test_keys_are_unique_and_prefixed():
    keys = [q.key for q in ALL]
    assert len(keys) == len(set(keys))
    assert all(re.fullmatch(r"q_[a-z]+_\d+", k) for k in keys)


@pytest.mark.parametrize("question", ALL, ids=lambda q: q.key)
def test_answer_holds_and_prints_numbers(question):
    answer = question.answer()
    failed = [c.text for c in answer.checks if not c.holds]
    assert not failed, failed
    assert answer.checks and answer.text
    assert re.search(r"\d", answer.text), "an answer quotes the numbers it rests on"
    assert not _NONFINITE.search(answer.text), answer.text
    assert all(math.isfinite(v) for v in answer.numbers.values())


@pytest.mark.parametrize("question", ALL, ids=lambda q: q.key)
def test_show_me_names_only_the_pages_widgets(question):
    script = page_of(question)
    assert script in PAGES, script
    keys, patterns = page_keys(script)
    for key in question.widgets:
        assert key in keys or any(p.match(key) for p in patterns), (question.key, key)
    if question.data is not None and script.endswith("training.py"):
        assert question.data in EXPERIMENTS
    if question.data is not None and script.endswith("reward_groups.py"):
        assert rt.decode(rt.encode(question.data)) == question.data  # a table the page's own link format holds


def test_numbers_recomputed_independently():
    by_key = {q.key: q for q in ALL}
    # A lone right answer among G: (1 - 1/G) / std, std with Bessel's correction.
    g = 16
    std = math.sqrt((1 / g) * (1 - 1 / g) * g / (g - 1))
    assert math.isclose(by_key["q_rg_4"].answer().numbers["G16_group"], (1 - 1 / g) / std, rel_tol=1e-6)
    # Two completions with group scaling: ±1/√2, whatever the rewards.
    assert math.isclose(by_key["q_rg_5"].answer().numbers["pair"], 1 / math.sqrt(2), rel_tol=1e-6)
    # R - β·KL with R = 1, KL = 10, β = 0.1.
    assert abs(by_key["q_kl_1"].answer().numbers["total"]) < 1e-12
    # Inside the widened band the gradient is A; dual clip past δ gives no push.
    assert by_key["q_rc_1"].answer().numbers["gradient"] == clip_status(1.5, 1.0, epsilon_high=0.6).gradient == 1.0
    assert by_key["q_rc_3"].answer().numbers["push"] == 0.0
    # KL in the reward: A of the drifted right answer, (r - β·k3 - mean) / std by hand.
    k3 = [math.exp(-(n - r)) + (n - r) - 1 for n, r in zip([-1.0, -2.0, -0.5, -3.0], [-2.5, -2.1, -0.7, -3.1])]
    shaped = [rew - k for rew, k in zip([1.0, 0.0, 1.0, 0.0], k3)]
    mean = sum(shaped) / 4
    sd = math.sqrt(sum((s - mean) ** 2 for s in shaped) / 3)
    assert math.isclose(placement_advantages(1.0)["reward"][0], (shaped[0] - mean) / (sd + 1e-8), abs_tol=1e-4)


def test_training_answers_use_short_runs_of_the_ready_made_experiments():
    for question in QUESTIONS["training"]:
        if question.data is not None:
            assert f"{SHORT_STEPS}-step run" in question.answer().text
