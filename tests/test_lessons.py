"""The Lessons content (grpo_core.lessons): every step's answer on its default inputs says what its numbers show,
the answers' URL value round-trips and refuses malformed text, and the worksheet escapes and links correctly."""

from __future__ import annotations

import html
import math
import re
import statistics
import urllib.parse
from functools import cache
from pathlib import Path

import pytest
import torch

from grpo_core import lessons as ls
from tests import page_catalog as pc


@cache
def answer(number: int):
    torch.set_num_threads(1)  # as the app runs: the short training runs are then the page's runs exactly
    return ls.STEPS[number - 1].answer()


@cache
def question(number: int):
    torch.set_num_threads(1)
    return ls.QUESTIONS[number - 1].answer()


def says(text: str, phrase: str) -> bool:
    return phrase in text


def test_eight_steps_follow_the_seed_lesson_and_five_questions_are_the_seeds():
    assert [s.title for s in ls.STEPS] == ["Why a group baseline", "Advantages", "The ratio", "Clipping",
                                           "The KL leash", "Aggregation", "A live run", "What G, ε and β change"]
    assert [s.number for s in ls.STEPS] == list(range(1, 9))
    seed = Path(ls.__file__).resolve().parents[2] / "shared" / "seed-notebook.txt"
    try:
        notebook = seed.read_text(encoding="utf-8")
    except OSError:
        pytest.skip("the seed notebook is not next to this checkout")
    for q in ls.QUESTIONS:
        assert q.text.split("?")[0] in notebook, q.text


def test_baseline_step():
    a = answer(1)
    n = a.numbers
    assert n["pushed_up_fixed"] == sum(s > 0 for s in ls.SCORES) == 4 and n["lowest_fixed_advantage"] > 0
    mean = sum(ls.SCORES) / len(ls.SCORES)
    assert n["pushed_up_group"] == sum(s > mean for s in ls.SCORES) == 2
    assert n["pushed_down_group"] == sum(s < mean for s in ls.SCORES) == 2
    assert math.isclose(n["mean"], mean, rel_tol=1e-6)
    assert a.correct == "all 4" and says(a.explanation, "all 4 answers are pushed up")
    assert says(a.explanation, f"group mean ({ls.fmt(mean)})")


def test_advantages_step_sum_to_zero_and_are_z_scores():
    a = answer(2)
    n = a.numbers
    std = statistics.stdev(ls.NOTEBOOK_GROUP)
    assert math.isclose(n["std"], std, rel_tol=1e-6) and n["mean"] == 0.5
    assert math.isclose(n["right"], 0.5 / std, rel_tol=1e-5) and math.isclose(n["wrong"], -n["right"], rel_tol=1e-6)
    assert abs(n["sum"]) < 1e-6 and says(a.explanation, "sum to 0")
    assert a.shown == "0.866"


def test_ratio_step():
    a = answer(3)
    assert math.isclose(a.correct, math.exp(0.1), rel_tol=1e-6) and a.shown == "1.105"
    ratios = [math.exp(n - o) for n, o in zip(ls.LOGP_NEW, ls.LOGP_OLD)]
    assert a.numbers["more_likely"] == sum(r > 1 for r in ratios) == 2
    assert a.numbers["less_likely"] == sum(r < 1 for r in ratios) == 2
    assert says(a.explanation, "11% more likely")


def test_clip_step_is_flat_past_the_edge():
    a = answer(4)
    assert math.isclose(a.correct, 1 + ls.CLIP_EPS, rel_tol=1e-6)
    assert a.numbers["unclipped"] > a.correct
    assert a.numbers["gradient"] == 0 and says(a.explanation, "its gradient in r is 0")
    assert a.numbers["gradient_inside"] == ls.CLIP_ADV


def test_kl_step():
    a = answer(5)
    assert math.isclose(a.correct, ls.KL_R - ls.KL_BETA * ls.KL_VALUE, abs_tol=1e-6)
    assert abs(a.numbers["total_beta_0.2"]) < 1e-6 and says(a.explanation, "At β = 0.2 the same drift leaves 0,")
    assert a.numbers["total_beta_0"] == ls.KL_R and says(a.explanation, "takes 50% of the reward")


def test_aggregation_step():
    a = answer(6)
    n = a.numbers
    assert a.correct == "less" and n["grpo_long_token"] < n["grpo_short_token"]
    assert math.isclose(n["grpo_short_token"] / n["grpo_long_token"], 18 / 4, rel_tol=1e-6)
    assert math.isclose(n["grpo_long_share"], 1 / 4, rel_tol=1e-6)  # "each whole answer weighs the same"
    assert math.isclose(n["dapo_long_share"], 18 / 33, rel_tol=1e-6) and says(a.explanation, "18/33 = 55%")
    assert says(a.explanation, "4.5× more")


def test_live_run_step_learns_and_says_so():
    a = answer(7)
    n = a.numbers
    assert 0 <= n["reward_first"] <= 1 and 0 <= n["reward_last"] <= 1
    assert n["reward_last"] > n["reward_first"] + 0.1, "the default run must visibly learn in the lesson's steps"
    assert says(a.explanation, "so it rose")
    assert says(a.explanation, f"first 10 steps the mean reward was {ls.fmt(n['reward_first'], 2)}")
    assert a.correct == n["reward_last"] and n["kl_end"] > 0


def test_knobs_step_names_the_smallest_gap_and_the_leash_holds():
    a = answer(8)
    n = a.numbers
    gaps = {"G": abs(n["reward_g16"] - n["reward_g2"]), "ε": abs(n["reward_small"] - n["reward_large"]),
            "β": abs(n["reward_free"] - n["reward_leash"])}
    assert a.correct == ls.STEPS_OPTIONS["knobs"]["Gεβ".index(min(gaps, key=gaps.get))]
    assert n["kl_leash"] < n["kl_free"] and says(a.explanation, "less with the leash")
    assert n["zero_std_g2"] > n["zero_std_g16"] and n["clip_small"] > n["clip_large"]
    assert a.checks and all(isinstance(c.holds, bool) for c in a.checks) and a.experiment in ls.EXPERIMENTS
    assert len(a.explanation.split("\n")) == 4  # the gaps, then one line per knob


def test_question_answers_say_what_their_numbers_show():
    assert question(1) == answer(1)
    assert question(2).numbers["largest_advantage"] == 0 and says(question(2).explanation, "Every advantage is 0")
    g = question(3).numbers
    assert g["zero_std_g2"] > g["zero_std_g16"]
    assert says(question(3).explanation, "learned faster" if g["reward_g16"] > g["reward_g2"] else "learned not faster")
    assert says(question(3).explanation, "G = 2 kept up" if g["reward_g2"] >= g["reward_g16_same_samples"] else "fell behind")
    e = question(4).numbers
    assert e["clip_small"] > e["clip_large"]
    assert e["ratio_small"] < e["ratio_large"] and e["entropy_small"] > e["entropy_large"]
    assert says(question(4).explanation, "The small ε keeps each batch's move small")
    assert says(question(4).explanation, "about the same") == (abs(e["reward_small"] - e["reward_large"]) < 0.05)
    b = question(5).numbers
    assert b["distinct_1_of_8"] == 2 and b["right_1_of_8"] > b["right_4_of_8"] > b["right_7_of_8"] > 0
    assert math.isclose(b["wrong_7_of_8"], -b["right_1_of_8"], rel_tol=1e-6)


def test_nothing_shown_is_nan():
    for a in [answer(s.number) for s in ls.STEPS] + [question(q.number) for q in ls.QUESTIONS]:
        assert all(math.isfinite(v) for v in a.numbers.values())
        assert not re.search(r"(?<![A-Za-z])(nan|inf)(?![A-Za-z])", a.explanation + a.shown, re.I)


def test_verdict_says_right_close_or_off():
    slider = ls.STEPS[1].prediction
    a = answer(2)
    assert a.verdict(slider, 0.85).endswith("Close enough (within 0.1).")
    assert a.verdict(slider, 2.0) == "You said 2; it is 0.866. Off by 1.1."
    choice = ls.STEPS[0].prediction
    assert answer(1).verdict(choice, "2").endswith("Not this time.")
    assert answer(1).verdict(choice, "all 4") == "You said all 4; it is all 4. Right."


def test_answers_round_trip_and_malformed_ones_are_refused():
    answers = {1: "all 4", 2: 0.85, 5: -0.5, 8: ls.STEPS_OPTIONS["knobs"][1]}
    text = ls.encode_answers(answers)
    assert text == "1:e,2:0.85,5:-0.5,8:b" and ls.decode_answers(text) == answers
    assert ls.decode_answers("") == {}
    for bad in ("9:a", "0:a", "1:z", "1:A", "2:abc", "2:99", "2:nan", "1:a,1:b", "1", "x:1", "2:1e3", "1:e,,2:1"):
        with pytest.raises(ValueError):
            ls.decode_answers(bad)


def test_worksheet_html_escapes_a_hostile_title():
    hostile = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    page = ls.worksheet_html(hostile)
    assert "<script>" not in page and "<img" not in page
    assert html.escape(hostile) in page
    markdown = ls.worksheet_markdown("Class 7b\n# injected")
    assert markdown.startswith("# Class 7b # injected\n")
    for step in ls.STEPS:
        assert html.escape(step.prediction.prompt) in page and step.prediction.prompt in markdown


def test_worksheet_links_go_under_the_apps_address_and_nothing_else():
    page = ls.worksheet_html("t", "http://class.example:8501/")
    assert 'href="http://class.example:8501/lessons?ls_step=1"' in page
    assert "](http://class.example:8501/reward-groups?" in ls.worksheet_markdown("t", "http://class.example:8501")
    assert ls.app_base("https://school.example/grpo/lessons") == "https://school.example/grpo/"
    for hostile in ("javascript:alert(1)", 'http://x"><script>alert(1)</script>', "data:text/html,x", "//evil.example/"):
        assert ls.app_base(hostile) == ""
        assert 'href="lessons?ls_step=1"' in ls.worksheet_html("t", hostile) and "<script>" not in ls.worksheet_html("t", hostile)


def _hrefs() -> list[str]:
    page = ls.worksheet_html()
    found = [html.unescape(h) for h in re.findall(r'href="([^"]*)"', page)]
    found += re.findall(r"\]\(([^)]*)\)", ls.worksheet_markdown())
    return found


def test_every_worksheet_link_opens_an_existing_page_with_parameters_it_reads():
    pages = {p.url_path: p for p in pc.pages()}
    hrefs = _hrefs()
    assert len(hrefs) == 2 * len(ls.all_links())
    for href in hrefs:
        parts = urllib.parse.urlsplit(href)
        assert not parts.scheme and not parts.netloc, href
        assert parts.path in pages, f"{href}: no page {parts.path!r} in app/main.py"
        keys = set(urllib.parse.parse_qs(parts.query))
        assert keys <= pc.url_keys(pages[parts.path]), f"{href}: {keys - pc.url_keys(pages[parts.path])} not read there"
    assert {urllib.parse.urlsplit(h).path for h in hrefs} >= {"lessons", "reward-groups", "ratio-clipping", "kl-beta",
                                                               "algorithms", "training"}


def test_worksheet_link_values_pass_the_training_pages_validators():
    import training_controls as tc  # app/ is on sys.path through tests.page_catalog

    for link in ls.all_links():
        if link.page == "training":
            for key, value in link.query.items():
                assert key in tc.URL_SPEC, key
                tc.URL_SPEC[key](value)
        if link.experiment:
            assert link.experiment in ls.EXPERIMENTS
