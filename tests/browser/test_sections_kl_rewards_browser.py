"""The KL and β and Reward groups pages' sections (app/sections.py) in a real browser: what a section's rerun
must redraw elsewhere (β in section 4, the sidebar's scale and numbers in the table's sections) follows the
change, and what it stops drawing (the other lab's sliders, the numbers table switched off) goes away.

tests/test_sections_kl_rewards.py checks the same reruns on the wire; here Chromium's own fragment handling
(it drops a section's elements that its rerun did not draw again) is what is checked.
"""

from __future__ import annotations

import pytest

from tests.support import chromium_page, streamlit_server, wait_app_idle

pytestmark = pytest.mark.browser

FIRST_LOAD_MS = 120_000
MAIN = '[data-testid="stMain"]'
SIDEBAR = '[data-testid="stSidebar"]'


def _wait_text(page, text: str, present: bool = True) -> None:
    """Wait until the main area shows ``text`` (or no longer shows it)."""
    page.wait_for_function(
        "([text, present]) => document.querySelector('[data-testid=stMain]').innerText.includes(text) === present",
        arg=[text, present], timeout=30_000)


def test_kl_beta_beta_reaches_section_4_and_the_lab_switch_replaces_its_sliders(screenshot_dir):
    with streamlit_server() as (base, _proc), chromium_page(viewport=(1400, 1000)) as page:
        page.goto(f"{base}/kl-beta")
        wait_app_idle(page, FIRST_LOAD_MS)
        _wait_text(page, "at β = 0.1 from the slider above")
        beta = page.get_by_role("slider", name="β (KL weight)")
        beta.focus()
        beta.press("ArrowRight")
        # Section 1 reruns for its own slider; section 4 only through sections.also_rerun.
        _wait_text(page, "At β = 0.11, the completions above get")
        _wait_text(page, "at β = 0.11 from the slider above")
        assert "kl_beta=0.11" in page.url

        page.locator(f'{MAIN} [data-testid="stButtonGroup"]').get_by_text("Tokens", exact=True).click()
        page.get_by_role("slider", name="π: “the”").wait_for(timeout=30_000)
        _wait_text(page, "with the parameters of the policy: its five logits.")
        wait_app_idle(page)
        assert page.get_by_role("slider", name="π mean").count() == 0, "the Gaussians' sliders are left over"
        assert "kl_lab=Tokens" in page.url
        page.screenshot(path=str(screenshot_dir / "sections_kl_beta_tokens.png"))


def test_reward_groups_sidebar_controls_redraw_the_table_sections(screenshot_dir):
    with streamlit_server() as (base, _proc), chromium_page(viewport=(1400, 1000)) as page:
        page.goto(f"{base}/reward-groups")
        wait_app_idle(page, FIRST_LOAD_MS)
        sidebar = page.locator(SIDEBAR)
        sidebar.get_by_text("Show the numbers").click()
        _wait_text(page, "The numbers")

        sidebar.get_by_text("none", exact=True).click()
        _wait_text(page, "Without the division (Dr. GRPO)")
        _wait_text(page, "Dividing by each group's own std", present=False)
        assert "scale=none" in page.url
        wait_app_idle(page)
        assert page.locator(MAIN).get_by_text("The numbers", exact=True).count() == 1

        page.locator(MAIN).get_by_role("button", name="1 right out of 8").click()
        _wait_text(page, "1 prompt(s), 8 completions")
        page.wait_for_function("() => location.search.includes('rewards=')", timeout=30_000)
        assert page.locator(MAIN).get_by_text("The numbers", exact=True).count() == 1

        sidebar.get_by_text("Show the numbers").click()
        _wait_text(page, "The numbers", present=False)  # the numbers' section drew nothing: its table is gone
        page.screenshot(path=str(screenshot_dir / "sections_reward_groups.png"))
