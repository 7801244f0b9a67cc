"""The Lessons page in a real browser (headless Debian Chromium against `streamlit run`): the keyboard stepper
(N next, P previous: st.button shortcuts) moves the steps and the URL follows; a key typed into the worksheet's
title field types, it does not step; a prediction revealed lands in the URL; the downloaded worksheet links to the
app's own address. Screenshots go to
artifacts/screenshots/lessons-*.png for a person to look at."""

from __future__ import annotations

import urllib.parse
from pathlib import Path

import pytest

from tests.support import chromium_page, require_chromium, streamlit_server, wait_app_idle

pytestmark = pytest.mark.browser

FIRST_LOAD_MS = 120_000
HEADING = '[data-testid="stMain"] h3'


def step_shown(page) -> str:
    return page.locator(HEADING).first.inner_text()


def query(page) -> dict[str, list[str]]:
    return urllib.parse.parse_qs(urllib.parse.urlsplit(page.url).query)


def wait_step(page, number: int) -> None:
    page.wait_for_function(
        f"() => [...document.querySelectorAll('[data-testid=stMain] h3')].some(h => h.innerText.startsWith('Step {number} of'))",
        timeout=30_000)
    wait_app_idle(page)


def test_keyboard_stepper_moves_the_steps_and_the_url(screenshot_dir):
    require_chromium()
    with streamlit_server() as (base, _proc), chromium_page(viewport=(1400, 1000)) as page:
        page.goto(f"{base}/lessons")
        wait_app_idle(page, FIRST_LOAD_MS)
        assert step_shown(page).startswith("Step 1 of 8")
        page.screenshot(path=str(screenshot_dir / "lessons-step1.png"))

        # the script has finished, but the browser may still be mounting the page's elements (the stepper comes
        # last): a shortcut works once its button is there
        page.get_by_role("button", name="Next").wait_for(timeout=30_000)
        page.locator('[data-testid="stMain"] h1').first.click()  # focus on the page, not on a widget
        page.keyboard.press("n")
        wait_step(page, 2)
        assert query(page).get("ls_step") == ["2"]
        page.keyboard.press("n")
        wait_step(page, 3)
        page.keyboard.press("p")
        wait_step(page, 2)
        assert query(page).get("ls_step") == ["2"]

        title = page.get_by_role("textbox", name="Title of the worksheet")
        title.fill("")
        title.press_sequentially("np")
        page.wait_for_timeout(800)
        assert step_shown(page).startswith("Step 2 of 8"), "typing in a text field must not step"
        assert title.input_value() == "np"

        slider = page.get_by_role("slider").first
        slider.focus()
        for _ in range(17):
            slider.press("ArrowRight")
        wait_app_idle(page)
        page.get_by_role("button", name="Reveal").first.click()
        page.locator('[data-testid="stMetric"]').first.wait_for(timeout=30_000)
        wait_app_idle(page)
        assert query(page).get("ls_ans") == ["2:0.85"], page.url
        assert page.locator('[data-testid="stException"]').count() == 0

        # the worksheet's links point at this app's own address (st.context.url), escaped, with the typed title
        with page.expect_download() as download:
            page.get_by_role("button", name="Download the worksheet (HTML, to print)").click()
        sheet = Path(download.value.path()).read_text(encoding="utf-8")
        assert f'href="{base}/lessons?ls_step=1"' in sheet and f'href="{base}/reward-groups?' in sheet
        assert "<title>np</title>" in sheet
        page.set_viewport_size({"width": 1400, "height": 1500})
        page.wait_for_timeout(400)
        page.screenshot(path=str(screenshot_dir / "lessons-step2-revealed.png"))
