"""Your run in a real browser: upload TRL's trainer_state.json with the file picker (Playwright's
set_input_files), against a `streamlit run` server on 127.0.0.1 started here; the dashboard and the findings
show, nothing prints NaN, a hostile log is answered with a message, and a pasted config links to Live training
with its settings in the URL, which the live page then shows. Screenshots: /tmp/shots/your_run.png (and -config, -bad) for a person to look at.
"""

from __future__ import annotations

import os
import urllib.parse
from pathlib import Path

import pytest

from tests.support import chromium_page, require_chromium, streamlit_server, wait_app_idle

pytestmark = pytest.mark.browser

SAMPLES = Path(__file__).resolve().parents[2] / "app" / "samples"
SHOTS = Path(os.environ.get("SHOTS_DIR", "/tmp/shots"))
FIRST_LOAD_MS = 120_000


def full_screenshot(page, path: Path) -> None:
    size = page.viewport_size
    height = page.evaluate("Math.max(...[...document.querySelectorAll('[data-testid=stMain]')].map(e => e.scrollHeight), 0)")
    page.set_viewport_size({"width": size["width"], "height": min(max(height, size["height"]), 8000)})
    page.wait_for_timeout(600)
    page.screenshot(path=str(path))
    page.set_viewport_size(size)


def dashboard_steps(page) -> int:
    """Points of the dashboard's reward line as Plotly holds them in the browser."""
    return page.evaluate("""() => {
        for (const plot of document.querySelectorAll('.js-plotly-plot')) {
            const trace = (plot._fullData || []).find(t => t.name === 'mean reward');
            if (trace) return trace.x.length;
        }
        return 0;
    }""")


def test_upload_a_trl_log_paste_a_config_and_a_bad_file():
    require_chromium()
    SHOTS.mkdir(parents=True, exist_ok=True)
    with streamlit_server() as (base, _proc), chromium_page(viewport=(1400, 1000)) as page:
        page.goto(f"{base}/your-run?yr_example=verl")
        wait_app_idle(page, FIRST_LOAD_MS)
        page.get_by_text("The loss sits near 0 while the reward moves").first.wait_for(timeout=30_000)

        page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(str(SAMPLES / "trl_trainer_state.json"))
        page.get_by_text("Many groups give no learning signal").first.wait_for(timeout=60_000)
        wait_app_idle(page)
        page.wait_for_function("() => document.querySelectorAll('.js-plotly-plot g.trace path.js-line').length > 3",
                               timeout=30_000)
        assert dashboard_steps(page) == 120
        main = page.locator('[data-testid="stMain"]').inner_text()
        assert "TRL trainer_state.json" in main and "The clip never acts" in main
        assert page.locator('[data-testid="stException"]').count() == 0
        for bad in ("NaN", "Infinity"):
            assert bad not in main
        full_screenshot(page, SHOTS / "your_run.png")

        hostile = SHOTS / "hostile.json"
        hostile.write_text("<html><img src=x onerror=\"document.title='pwned'\"><script>document.title='pwned'</script>")
        page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(str(hostile))
        page.get_by_text("cannot be read", exact=False).first.wait_for(timeout=30_000)
        wait_app_idle(page)
        assert page.title() != "pwned"
        assert page.locator('[data-testid="stMain"] img[src="x"]').count() == 0
        page.screenshot(path=str(SHOTS / "your_run-bad.png"))

        box = page.get_by_role("textbox", name="A TRL GRPOConfig")
        box.fill("GRPOConfig(loss_type='dapo', beta=0.04, epsilon_high=0.28, num_generations=16)")
        box.press("Control+Enter")
        link = page.get_by_role("link", name="Live training with these settings")
        link.wait_for(timeout=30_000)
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(link.get_attribute("href")).query)
        assert query["tr_loss"][0].startswith("dapo") and query["tr_G"] == ["16"] and query["tr_clip_high"] == ["true"]
        link.scroll_into_view_if_needed()
        page.screenshot(path=str(SHOTS / "your_run-config.png"))

        link.click()  # the settings reach the live page through its URL
        wait_app_idle(page, FIRST_LOAD_MS)
        assert urllib.parse.urlsplit(page.url).path.endswith("/training")
        group = page.get_by_role("slider", name="Group size (G)").first
        group.wait_for(timeout=30_000)
        assert group.input_value() == "16"
