"""Classroom links (issue 13), AppTest: ``?hide=``, ``?lock=``, ``?present=1`` and the "Link for my class"
builder, on every page.

What AppTest can see of a hidden control is the CSS rule naming it (the browser test checks that it is not
visible) and that the control still holds, and the page still uses, its URL value; of a locked one, that it
is disabled and keeps the URL's value. The controls of each page are the names its builder offers, found at
run time, so a new control is covered without editing this file.
"""

from __future__ import annotations

import re
import urllib.parse

import pytest

import classroom
from tests import page_catalog as pc

PAGES = pc.pages()
BY_SCRIPT = {p.script: p for p in PAGES}
KL = BY_SCRIPT["app_pages/kl_beta.py"]
TRAINING = BY_SCRIPT["app_pages/training.py"]
STYLE = re.compile(r"<style class=\"classroom\">(.*?)</style>", re.S)


def ok(at):
    assert not at.exception, pc.exceptions(at)
    return at


def builder_names(at) -> list[str]:
    return list(at.sidebar.multiselect(key=classroom.BUILDER_HIDE).options)


def hidden_by_css(at) -> set[str]:
    css = "".join(STYLE.findall("".join(m.proto.body for m in at.markdown if m.proto.allow_html)))
    return set(re.findall(r"\.st-key-(\w+) \{ display: none", css))


def keyed_elements(at) -> dict:
    """Every keyed widget of the page (main and sidebar) by key, the builder's own left out."""
    own = {classroom.BUILDER_HIDE, classroom.BUILDER_LOCK, classroom.BUILDER_PRESENT}
    return {n.key: n for n in pc.nodes(at) if getattr(n, "key", None) and getattr(n, "proto", None) is not None
            and hasattr(n.proto, "disabled") and n.key not in own}


def notice(at) -> str:
    return " ".join(w.body for w in at.warning)


@pytest.fixture(scope="module")
def names() -> dict[str, list[str]]:
    """The controls each page's builder offers when it opens with no link."""
    return {page.script: builder_names(ok(pc.open_page(page))) for page in PAGES}


#: Pages whose widgets do not pass ``disabled=classroom.locked(...)`` yet (strict: passing again fails the test).
NOT_YET: dict[str, str] = {}  # pages whose controls do not take part yet (script: why)


def test_the_pages_with_controls_offer_them(names):
    with_controls = {script for script, found in names.items() if found}
    assert {"app_pages/reward_groups.py", "app_pages/ratio_clipping.py", "app_pages/algorithms.py",
            "app_pages/kl_beta.py", "app_pages/training.py", "app_pages/your_run.py"} <= with_controls, names
    assert all(classroom.NAME.fullmatch(n) for found in names.values() for n in found), names


@pytest.mark.parametrize("page", [pytest.param(p, marks=pytest.mark.xfail(reason=NOT_YET[p.script], strict=True))
                                  if p.script in NOT_YET else p for p in PAGES], ids=lambda p: p.url_path)
def test_every_url_bound_control_is_offered_by_its_key(page, names):
    at = ok(pc.open_page(page))
    bound = set(keyed_elements(at)) & pc.url_keys(page) - {classroom.BUILDER_HIDE, classroom.BUILDER_LOCK,
                                                            classroom.BUILDER_PRESENT}
    missing = bound - set(names[page.script])
    assert not missing, f"{page.url_path}: controls the builder does not offer: {sorted(missing)}"


@pytest.mark.parametrize("how", ["hide", "lock", "hide+lock"])
@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.url_path)
def test_hiding_or_locking_every_control_at_once_breaks_nothing(page, how, names):
    found = names[page.script]
    query = {"hide": ",".join(found)} if "hide" in how else {}
    if "lock" in how:
        query["lock"] = ",".join(found)
    at = ok(pc.open_page(page, query))
    assert "not a control" not in notice(at), notice(at)
    assert pc.figures(at) or not pc.figures(pc.open_page(page)), f"{page.url_path}: its charts vanished"
    if "hide" in how:
        assert hidden_by_css(at) == set(found)
    if "lock" in how:
        elements = keyed_elements(at)
        unlocked = [k for k in found if k in elements and not elements[k].proto.disabled]
        assert not unlocked, f"{page.url_path}: locked but not disabled: {unlocked}"


def test_a_hidden_control_still_sets_its_value_and_a_locked_one_keeps_the_links():
    at = ok(pc.open_page(KL, {"kl_beta": "0.5", "kl_reward": "2", "hide": "kl_beta", "lock": "kl_reward"}))
    assert hidden_by_css(at) == {"kl_beta"}
    assert at.slider(key="kl_beta").value == 0.5
    page_text = " ".join(m.value for m in at.markdown)
    assert "At β = 0.5, the completions above get **1.500**" in page_text  # R = 2 from the locked input, β = 0.5
    reward = at.number_input(key="kl_reward")
    assert reward.proto.disabled and reward.value == 2.0
    assert not at.slider(key="kl_trials").proto.disabled  # only what the link names


def test_unknown_and_malformed_names_are_ignored_with_the_notice():
    at = ok(pc.open_page(KL, {"hide": "kl_beta,not_here,kl_reward_chart", "lock": "<b>x</b>,kl_seed"}))
    assert "**hide**: 2 of its names are not a control of this page" in notice(at)
    assert "**lock**: 1 of its names is not a control" in notice(at)
    assert "not_here" not in notice(at) and "<b>" not in notice(at)  # the notice quotes no URL text
    assert at.query_params["hide"] == "kl_beta" and at.query_params["lock"] == "kl_seed"
    assert hidden_by_css(at) == {"kl_beta"}  # a chart's key hides nothing: only controls are names
    assert not pc.raw_html_with(at, ["<b>x</b>"])
    assert at.number_input(key="kl_seed").proto.disabled

    for query in ({"present": "maybe"}, {"hide": ["kl_beta", "kl_seed"]}, {"lock": "x" * 9000}):
        at = ok(pc.open_page(KL, query))
        key = next(iter(query))
        assert f"**{key}**" in notice(at), query
        assert not hidden_by_css(at) and not at.number_input(key="kl_seed").proto.disabled


def test_presenter_mode_sets_larger_type():
    at = ok(pc.open_page(KL, {"present": "1"}))
    css = "".join(STYLE.findall("".join(m.proto.body for m in at.markdown if m.proto.allow_html)))
    assert f"html {{ font-size: {classroom.PRESENT_FONT_PX}px; }}" in css
    assert not STYLE.findall("".join(m.proto.body for m in ok(pc.open_page(KL)).markdown))


def test_presenter_mode_draws_the_charts_larger_and_leaves_other_sessions_alone():
    def layouts(at) -> list[dict]:
        return [f["layout"] for f in pc.figures(at)]

    plain, present = layouts(ok(pc.open_page(KL))), layouts(ok(pc.open_page(KL, {"present": "1"})))
    scale = classroom.PRESENT_FONT_PX / classroom.BASE_FONT_PX
    assert len(present) == len(plain) >= 3
    for small, large in zip(plain, present):
        assert large["font"]["size"] == pytest.approx(small["font"]["size"] * scale)
        assert large["hoverlabel"]["font"]["size"] == pytest.approx(small["hoverlabel"]["font"]["size"] * scale)
        assert large["height"] == round(small["height"] * scale)
        assert large["margin"]["l"] == pytest.approx(small["margin"]["l"] * scale)
    # the figures are cached and shared: a presenter's session leaves the next visitor's at the house size
    assert layouts(ok(pc.open_page(KL))) == plain


def test_the_builder_writes_the_link_and_the_link_does_what_it_says():
    at = ok(pc.open_page(KL, {"kl_beta": "0.3", "cl_hide": ["kl_seed", "kl_trials"], "cl_lock": "kl_beta",
                              "cl_present": "true"}))
    written = at.sidebar.get("code")[0].value
    path, _, query = written.partition("?")
    assert path == f"/{KL.url_path}"
    params = dict(urllib.parse.parse_qsl(query))
    assert params == {"kl_beta": "0.3", "hide": "kl_seed,kl_trials", "lock": "kl_beta", "present": "1"}

    followed = ok(pc.open_page(KL, params))
    assert hidden_by_css(followed) == {"kl_seed", "kl_trials"}
    beta = followed.slider(key="kl_beta")
    assert beta.proto.disabled and beta.value == 0.3
    assert not notice(followed)
    # opened from the class link, the builder starts from it: the link it writes is the one followed
    assert followed.sidebar.get("code")[0].value == written


def test_a_lock_cannot_be_undone_by_a_preset_or_an_experiment():
    at = ok(pc.open_page(TRAINING, {"lock": "tr_beta", "tr_beta": "0.3"}))
    buttons = {b.key: b for b in at.button}
    presets = [k for k in buttons if k.startswith("tr_preset_")]
    experiments = [k for k in buttons if k.startswith("tr_exp_")]
    assert presets and experiments
    assert all(buttons[k].proto.disabled for k in presets + experiments)  # each of them sets β
    assert not buttons["tr_play"].proto.disabled and not buttons["tr_step"].proto.disabled
    assert at.slider(key="tr_beta").value == 0.3

    at = ok(pc.open_page(TRAINING, {"lock": "tr_play_pause,tr_step", "hide": "tr_experiments,tr_presets"}))
    buttons = {b.key: b for b in at.button}
    assert buttons["tr_play"].proto.disabled and buttons["tr_step"].proto.disabled
    assert not buttons["tr_reset"].proto.disabled and not notice(at)
    assert hidden_by_css(at) == {"tr_experiments", "tr_presets"}

    rewards = ok(pc.open_page(BY_SCRIPT["app_pages/reward_groups.py"], {"lock": "rg_editor"}))
    assert all(b.proto.disabled for b in rewards.button if b.key.startswith("rg_preset_"))
