"""Classroom links in a real browser (issue 13): the builder writes a class link, Chromium follows it, and the
hidden controls are not visible (but still act), the locked ones are disabled and keep their value through a
click and a keypress; presenter mode has larger type, a collapsed sidebar and charts that still fit.
Screenshots: artifacts/screenshots/classroom_builder.png, classroom_link.png (and _after_tries) and
classroom_present.png, for a person to look at.
"""

from __future__ import annotations

import pytest

from tests.support import chromium_page, streamlit_server, wait_app_idle

pytestmark = pytest.mark.browser

FIRST_LOAD_MS = 120_000
SIDEBAR = '[data-testid="stSidebar"]'


def body_font_px(page) -> float:
    return page.evaluate("() => parseFloat(getComputedStyle(document.querySelector("
                         "'[data-testid=stMain] [data-testid=stMarkdownContainer] p')).fontSize)")


def tick_font_px(page) -> float:
    """The font size Plotly drew the first chart's x tick labels with, once one is drawn."""
    page.locator('[data-testid="stPlotlyChart"] .xtick text').first.wait_for(timeout=30_000)
    return page.evaluate("() => parseFloat(getComputedStyle(document.querySelector("
                         "'[data-testid=stPlotlyChart] .xtick text')).fontSize)")


def test_a_class_link_hides_and_locks_and_presenter_mode_is_larger(screenshot_dir):
    with streamlit_server() as (base, _proc), chromium_page(viewport=(1400, 1000)) as page:
        # The teacher's view (β = 0.5, R = 2) with the builder's choices, as the builder keeps them in the URL.
        page.goto(f"{base}/kl-beta?kl_beta=0.5&kl_reward=2&cl_hide=kl_beta&cl_hide=kl_seed&cl_lock=kl_reward"
                  "&cl_lock=kl_lab")
        wait_app_idle(page, FIRST_LOAD_MS)
        plain_font, plain_tick = body_font_px(page), tick_font_px(page)
        page.locator(SIDEBAR).get_by_text("Link for my class").click()
        code = page.locator(f'{SIDEBAR} [data-testid="stCode"] code').first
        code.wait_for(timeout=30_000)
        link = code.inner_text().strip()
        page.screenshot(path=str(screenshot_dir / "classroom_builder.png"))
        assert link.startswith(f"{base}/kl-beta?") and "hide=kl_beta,kl_seed" in link and "lock=kl_reward,kl_lab" in link

        page.goto(link)
        wait_app_idle(page, FIRST_LOAD_MS)
        page.get_by_text("At β = 0.5").first.wait_for(timeout=30_000)
        for hidden in ("kl_beta", "kl_seed"):
            assert page.locator(f".st-key-{hidden}").count() == 1, f"{hidden} is not even created"
            assert not page.locator(f".st-key-{hidden}").is_visible(), f"{hidden} is shown"
        assert not page.get_by_text("β (KL weight)").first.is_visible()
        main = page.locator('[data-testid="stMain"]').inner_text()
        assert "At β = 0.5, the completions above get 1.500" in main  # the hidden β and the locked R = 2 act
        assert page.locator('[data-testid="stAlert"]').count() == 0  # a link the builder wrote needs no notice

        page.locator(".js-plotly-plot .main-svg").first.wait_for(timeout=30_000)
        page.screenshot(path=str(screenshot_dir / "classroom_link.png"))
        reward = page.locator(".st-key-kl_reward input")
        assert reward.is_disabled() and reward.input_value() == "2.00"
        reward.click(force=True)
        page.keyboard.type("7")
        page.keyboard.press("Enter")
        page.locator(".st-key-kl_reward button").last.click(force=True)  # its "+"
        lab = page.locator(".st-key-kl_lab")
        lab.get_by_text("Tokens").click(force=True)
        page.wait_for_timeout(800)
        wait_app_idle(page)
        assert reward.input_value() == "2.00"
        assert page.locator(".st-key-kl_logit1").count() == 0, "the locked lab switched to Tokens"
        assert all(lab.locator("button", has_text=option).is_disabled() for option in ("Gaussians", "Tokens"))
        assert page.locator(".st-key-kl_trials input").is_enabled()  # only what the link names is locked
        page.screenshot(path=str(screenshot_dir / "classroom_link_after_tries.png"))

        page.goto(f"{base}/kl-beta?present=1")
        wait_app_idle(page, FIRST_LOAD_MS)
        page.locator('[data-testid="stPlotlyChart"]').first.wait_for(timeout=30_000)
        page.wait_for_timeout(1000)
        assert body_font_px(page) >= 1.3 * plain_font
        assert tick_font_px(page) >= 1.3 * plain_tick, "the charts' type did not grow"
        sidebar = page.locator(SIDEBAR).bounding_box()
        assert sidebar is None or sidebar["x"] + sidebar["width"] <= 0, f"the sidebar is open: {sidebar}"
        fits = page.evaluate("""() => [...document.querySelectorAll('[data-testid=stPlotlyChart]')].map(c =>
            c.querySelector('.main-svg').getBoundingClientRect().width <= c.getBoundingClientRect().width + 1)""")
        assert fits and all(fits), "a chart overflows its column in presenter mode"
        page.screenshot(path=str(screenshot_dir / "classroom_present.png"))


def test_the_open_builder_follows_a_change_made_in_a_section(screenshot_dir):
    """A section's change reruns only the section (app/sections.py); while "Link for my class" is open, the
    whole page reruns instead, so the link it shows carries the new value."""
    with streamlit_server() as (base, _proc), chromium_page(viewport=(1400, 1000)) as page:
        page.goto(f"{base}/ratio-clipping")
        wait_app_idle(page, FIRST_LOAD_MS)
        page.locator(SIDEBAR).get_by_text("Link for my class").click()
        code = page.locator(f'{SIDEBAR} [data-testid="stCode"] code').first
        code.wait_for(timeout=30_000)
        assert "clip_eps" not in code.inner_text()
        slider = page.get_by_role("slider", name="ε (clip width)")
        slider.focus()
        slider.press("ArrowRight")
        page.wait_for_function("() => [...document.querySelectorAll('[data-testid=stSidebar] [data-testid=stCode] "
                               "code')].some(c => c.innerText.includes('clip_eps=0.21'))", timeout=30_000)
        page.screenshot(path=str(screenshot_dir / "classroom_builder_follows_section.png"))
