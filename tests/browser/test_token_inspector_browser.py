"""The token inspector in a real browser (Debian Chromium against `streamlit run` on 127.0.0.1, started
here), on the Algorithms page's rare-token batch: hovering a token shows its numbers and its sentence, a
click frames it and explains it under the grid in the page's own type, and the keyboard picks a token in
the list under the grid. Screenshot: /tmp/shots/inspector-click.png.
"""

from __future__ import annotations

import os
import re
import urllib.parse
from pathlib import Path

import pytest

from tests.support import chromium_page, require_chromium, streamlit_server, wait_app_idle

pytestmark = pytest.mark.browser

SHOTS = Path(os.environ.get("SHOTS_DIR", "/tmp/shots"))
QUERY = urllib.parse.urlencode({"alg_preset": "a rare token that became likely", "alg_pick": "grpo",
                                "alg_ti_colour": "ratio"})

# The token cells of the inspector's grid as drawn: each cell's text and where its centre is on the screen.
CELLS_JS = """() => {
    for (const plot of document.querySelectorAll('.js-plotly-plot')) {
        const title = String(((plot.layout || {}).title || {}).text || '');
        if (!title.includes('tokens coloured by')) continue;
        return [...plot.querySelectorAll('g.heatmaplayer text, .hm text, text')]
            .filter(e => /^t\\d+[▲▼]?$/.test(e.textContent))
            .map(e => { const b = e.getBoundingClientRect();
                        return {text: e.textContent, x: b.left + b.width / 2, y: b.top + b.height / 2}; });
    }
    return null;
}"""


def panel_text(page) -> str:
    return page.locator(".st-key-alg_ti_token_panel").inner_text()


def hover_text(page, index: int) -> str:
    """Hover the ``index``-th token cell (found again: a rerun may have moved the grid)."""
    cell = page.evaluate(CELLS_JS)[index]
    page.mouse.move(cell["x"] - 30, cell["y"] - 30)
    page.mouse.move(cell["x"], cell["y"], steps=8)
    tooltip = page.locator(".hoverlayer .hovertext").first
    tooltip.wait_for(timeout=10_000)
    return tooltip.evaluate("e => [...e.querySelectorAll('tspan.line')].map(t => t.textContent).join(' ')")


def click(page, index: int) -> str:
    """Click the ``index``-th token cell; the panel's text once it names that token."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    named = ("(h) => { const p = document.querySelector('.st-key-alg_ti_token_panel');"
             " return p && p.innerText.includes(h); }")
    # Plotly clicks the point it last hovered, and a redraw still landing from the previous click's rerun
    # drops that hover: a click that a redraw swallowed is clicked again, as a person would (three tries)
    for attempt in range(3):
        hover_text(page, index)
        cell = page.evaluate(CELLS_JS)[index]
        page.mouse.click(cell["x"], cell["y"])
        wait_app_idle(page)
        head = f"token {cell['text'].strip('t▲▼')}: {cell['text'].rstrip('▲▼')}"
        try:
            page.wait_for_function(named, arg=head, timeout=10_000)
            return panel_text(page)
        except PlaywrightTimeout:
            if attempt == 2:
                raise


def test_hover_click_and_keyboard_explain_a_token():
    require_chromium()
    SHOTS.mkdir(parents=True, exist_ok=True)
    with streamlit_server() as (base, _proc), chromium_page(viewport=(1400, 1000)) as page:
        page.goto(f"{base}/algorithms?{QUERY}")
        wait_app_idle(page, 120_000)
        page.wait_for_function(f"() => (({CELLS_JS})() || []).length > 0", timeout=30_000)
        page.locator(".js-plotly-plot").filter(has_text="tokens coloured by").scroll_into_view_if_needed()
        page.wait_for_timeout(800)
        cells = page.evaluate(CELLS_JS)
        assert all(0 < c["y"] < 1000 for c in cells), cells  # all on screen
        # the panel opens on the first token held by the clip (▲: the high side; the preset's rare token is one)
        assert "held by the clip" in panel_text(page)
        clipped = [i for i, c in enumerate(cells) if c["text"].endswith("▲")]
        inside = [i for i, c in enumerate(cells) if not c["text"].endswith(("▲", "▼"))]
        assert len(clipped) >= 2 and inside

        shown = hover_text(page, clipped[-1])
        position = cells[clipped[-1]]["text"].strip("t▲")
        assert shown.startswith(f"t{position} ·") and f"token {position}" in shown, shown
        assert "ε_high" in shown and "gradient is 0" in shown, shown
        # the numbers travel as a typed array and the browser formats them: a ratio above 1, the same
        # one (to 3 digits) as the sentence under it quotes
        ratio = re.search(r"ratio r = π/π_old: \+(\d+\.?\d*)", shown)
        assert ratio and float(ratio[1]) > 1 and f"ratio {float(ratio[1]):.3g} " in shown, shown
        assert "undefined" not in shown and "NaN" not in shown, shown
        page.screenshot(path=str(SHOTS / "inspector-hover.png"))

        panel = click(page, inside[0])
        assert "held by the clip" not in panel and "inside the trust region" in panel, panel
        panel = click(page, clipped[-1])
        assert "▲ held by the clip at its high side" in panel, panel
        (sentence,) = [line for line in panel.splitlines() if "ε_high" in line]
        assert "the clipped term is the smaller one, so its policy gradient is 0" in sentence, panel
        assert sentence in shown.replace("›", ">").replace("‹", "<")  # the hover (Plotly-safe) and the panel agree
        page.wait_for_timeout(500)
        page.screenshot(path=str(SHOTS / "inspector-click.png"))

        # the keyboard's way: the list under the grid, opened and moved with the arrow keys
        before = panel.splitlines()[0]
        page.get_by_role("combobox", name="Explain token").focus()
        page.keyboard.press("ArrowDown")
        page.keyboard.press("Enter")
        wait_app_idle(page)
        page.wait_for_function("(b) => !document.querySelector('.st-key-alg_ti_token_panel').innerText.startsWith(b)",
                               arg=before, timeout=30_000)
        assert page.locator('[data-testid="stException"]').count() == 0
        assert "nan" not in page.locator('[data-testid="stMain"]').inner_text().lower().split()
