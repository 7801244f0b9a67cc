"""Live training in a real browser: Play streams the charts, Pause stops them promptly, nothing breaks.

Prints the figures the issue sets targets for: chart refreshes per second while playing (target >= 4)
and the time from the click on Pause to the page showing a stopped run (target <= 300 ms). The asserted
bounds are looser than the targets, because this machine's two cores are shared; the printed figures
are what the report quotes.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.support import chromium_page, streamlit_server, wait_app_idle

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SHOTS = Path(os.environ.get("SHOTS_DIR", "/tmp/shots"))

#: Runs in the page: every 5 ms, note when the step counter and the reward line's path change.
WATCH = """
() => {
  const w = window.__watch = {steps: [], paths: [], last: null, lastPath: null};
  w.timer = setInterval(() => {
    const metric = document.querySelector('[data-testid="stMetricValue"]');
    const text = metric ? metric.textContent : null;
    if (text !== w.last) { w.last = text; w.steps.push([performance.now(), text]); }
    const path = document.querySelector('.js-plotly-plot .scatterlayer .trace:last-child path.js-line');
    const d = path ? path.getAttribute('d') : null;
    if (d !== w.lastPath) { w.lastPath = d; w.paths.push(performance.now()); }
  }, 5);
}
"""

#: Notes the moment the browser delivers the click on Pause (capture phase: before Streamlit handles it).
MARK_PAUSE_CLICK = """
() => document.addEventListener('click', (event) => {
  const button = event.target.closest('button');
  if (button && button.textContent.trim() === 'Pause') window.__pauseClick = performance.now();
}, {capture: true})
"""


def step_number(text: str | None) -> int:
    return int(text.split("/")[0]) if text and "/" in text else 0


def test_play_streams_pause_stops_without_errors():
    SHOTS.mkdir(parents=True, exist_ok=True)
    with streamlit_server() as (base, _proc), chromium_page() as page:
        errors: list[str] = []
        page.on("pageerror", lambda err: errors.append(str(err)))
        page.goto(f"{base}/training?tr_cap=2000&tr_speed=25", wait_until="domcontentloaded")
        wait_app_idle(page, timeout_ms=60000)
        page.get_by_role("button", name="Step", exact=True).click()
        wait_app_idle(page)
        page.wait_for_selector(".js-plotly-plot")
        page.evaluate(WATCH)

        page.get_by_role("button", name="Play", exact=True).click()
        page.get_by_role("button", name="Pause", exact=True).wait_for(timeout=10000)
        page.wait_for_timeout(1000)  # past the first refresh
        start = page.evaluate("performance.now()")
        page.wait_for_timeout(3000)
        watch = page.evaluate("window.__watch")
        window = [t for t in watch["paths"] if t >= start]
        refreshes_per_s = len(window) / ((page.evaluate("performance.now()") - start) / 1000)
        page.screenshot(path=str(SHOTS / "training_playing.png"), full_page=False)

        page.evaluate(MARK_PAUSE_CLICK)
        page.get_by_role("button", name="Pause", exact=True).click()
        page.get_by_role("button", name="Play", exact=True).wait_for(timeout=10000)
        shown_stopped = page.evaluate("performance.now() - window.__pauseClick")
        page.wait_for_timeout(1500)
        watch = page.evaluate("window.__watch")
        click_at = page.evaluate("window.__pauseClick")
        last_change = max(t for t, _ in watch["steps"])
        steps_at_stop = step_number(watch["last"])
        page.wait_for_timeout(1000)
        steps_later = step_number(page.evaluate("window.__watch.last"))
        exceptions = page.locator('[data-testid="stException"]').count()
        page.screenshot(path=str(SHOTS / "training_paused.png"), full_page=True)

    last_update_after_click = max(0.0, last_change - click_at)
    print(f"\nchart refreshes per second while playing: {refreshes_per_s:.2f} (target >= 4)")
    print(f"Pause click -> Play button shown: {shown_stopped:.0f} ms; last step-counter change "
          f"{last_update_after_click:.0f} ms after the click (target <= 300 ms)")
    print(f"steps when stopped: {steps_at_stop}")
    assert not errors, errors
    assert exceptions == 0
    assert len(window) >= 2, "the reward chart did not change while playing"
    assert steps_at_stop > 1 and steps_later == steps_at_stop, "training went on after Pause"
    assert refreshes_per_s >= 1.0
    assert shown_stopped < 3000
