"""AppTest of the Overview page: the loss formula, a link per term to the page exploring it, the device."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

import grpo_core
from tests.app.pages import open_questions

device_module = importlib.import_module("grpo_core.device")  # the package's `device` is the function

MAIN = str(Path(__file__).resolve().parents[2] / "app" / "main.py")


def open_home() -> AppTest:
    at = AppTest.from_file(MAIN, default_timeout=60).run()  # the overview is the default page
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_overview_is_the_default_page_and_explains_grpo():
    at = open_home()
    assert at.title[0].value == "GRPO Explorer"
    intro = next(m.value for m in at.markdown if "Group Relative Policy Optimization" in m.value)
    assert intro.count(". ") + 1 >= 5  # five sentences, at least


def test_loss_formula_has_every_term():
    at = open_home()
    loss = at.latex[0].value
    for term in (r"\hat A_i", r"\operatorname{clip}", r"\beta", r"\mathbb{D}_{\mathrm{KL}}", r"\frac{1}{G}",
                 r"\pi_{\mathrm{ref}}", r"\varepsilon"):
        assert term in loss, term


def test_each_term_links_to_the_page_that_explores_it():
    at = open_home()
    links = {link.proto.page: link.proto.label for link in at.get("page_link")}
    assert set(links) == {"reward-groups", "ratio-clipping", "kl-beta", "training"}
    # Each link sits next to the formula of its term: reward groups beside the advantage, etc.
    term_for_page = {"reward-groups": r"\hat A_i", "ratio-clipping": r"r_{i,t}", "kl-beta": r"\beta",
                     "training": r"\sum_{t=1}"}
    blocks = [el for el in at.main if type(el).__name__ == "Block"]
    seen = 0
    for block in blocks:
        formulas = [l.value for l in block.get("latex")] if hasattr(block, "get") else []
        pages = [p.proto.page for p in block.get("page_link")] if hasattr(block, "get") else []
        if len(pages) == 1 and formulas:
            assert term_for_page[pages[0]] in formulas[0]
            seen += 1
    assert seen == 4


def test_device_badge_names_the_device():
    at = open_home()
    badge = next(m.value for m in at.markdown if "badge[" in m.value)
    assert f"Computing on {grpo_core.device_name()}" in badge


def test_bad_device_setting_is_a_warning_not_a_crash(monkeypatch):
    monkeypatch.setenv(device_module.DEVICE_ENV, "no-such-device")
    device_module.device.cache_clear()
    try:
        at = open_home()
        assert "GRPO_DEVICE" in " ".join(w.value for w in at.warning)
        assert any("unknown device" in m.value for m in at.markdown)
    finally:
        monkeypatch.delenv(device_module.DEVICE_ENV)
        device_module.device.cache_clear()


@pytest.mark.parametrize("page", ["app_pages/reward_groups.py", "app_pages/home.py"])
def test_pages_run_from_the_overview(page):
    at = open_home()
    at.switch_page(page).run()
    assert not at.exception


def test_think_about_it_expander_is_there():
    at = open_home()
    assert any(e.label == "Think about it" for e in at.expander)


def _text(at: AppTest) -> str:
    return " ".join(m.value for m in at.markdown)


def test_overview_names_whose_defaults_the_app_uses():
    at = open_home()
    assert "Whose defaults?" in [h.value for h in at.subheader]
    text = _text(at)
    assert "This app's defaults are **DeepSeekMath's** GRPO: β = 0.04" in text and '`loss_type` "grpo"' in text
    for trl in ('`loss_type="dapo"`', "`beta=0.0`", '`scale_rewards="group"`', "Bessel's correction",
                "1e-4 added before dividing", "`num_iterations=1`"):
        assert trl in text, trl


def test_the_app_defaults_are_what_the_overview_says():
    from grpo_core.training import TrainConfig

    config = TrainConfig()
    assert (config.beta, config.loss_type, config.kl_estimator, config.kl_in, config.scale_rewards) == (
        0.04, "grpo", "k3", "loss", "group")


def test_overview_separates_the_clip_from_the_kl_anchor():
    at = open_questions(open_home())  # some of these sentences are in its "Think about it" questions
    text = _text(at)
    assert "One term limits how far a single update moves the model, another anchors it over the whole run" in text
    assert "Two terms keep one update from moving the model too far" not in text
    assert "anchor to the frozen reference model (the model before RL) over the whole run" in text
    assert "above 1+ε for A > 0, below 1−ε for A < 0" in text and "only when r ≠ 1" in text
    assert "Equal rewards give no policy-gradient signal (with β > 0 the KL term still pulls" in text
    assert "no signal at all" not in text
