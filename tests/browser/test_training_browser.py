"""Live training in a real browser: Play streams the charts, Pause stops them promptly, nothing breaks.

Prints the figures the issue sets targets for: chart refreshes per second while playing (target >= 4)
and the time from the click on Pause to the page showing a stopped run (target <= 300 ms). The asserted
bounds are looser than the targets, because this machine's two cores are shared; the printed figures
are what the report quotes.
"""

from __future__ import annotations

import os
import statistics
from pathlib import Path

import pytest

from tests.support import chromium_page, live_chart_frame, streamlit_server, wait_app_idle

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SHOTS = Path(os.environ.get("SHOTS_DIR", "/tmp/shots"))

#: Runs in the page: every 5 ms, note when the step counter and the reward line's path change.
WATCH = """
() => {
  const w = window.__watch = {steps: [], paths: [], last: null, lastStep: null};
  const lastStepDrawn = () => {  // the newest step on the reward curve of a drawn dashboard, or null
    const docs = [document, ...[...document.querySelectorAll('iframe')].map(f => f.contentDocument).filter(d => d)];
    for (const plot of docs.flatMap(d => [...d.querySelectorAll('.js-plotly-plot')])) {
      const trace = (plot._fullData || []).find(t => t.name === 'mean reward');
      if (trace && plot.querySelector('.scatterlayer path.js-line')) return trace.x[trace.x.length - 1];
    }
    return null;
  };
  w.timer = setInterval(() => {
    const metric = document.querySelector('[data-testid="stMetricValue"]');
    const text = metric ? metric.textContent : null;
    if (text !== w.last) { w.last = text; w.steps.push([performance.now(), text]); }
    // one refresh = the chart drawn with a new newest step (a remounting chart is briefly absent: not counted)
    const step = lastStepDrawn();
    if (step !== null && step !== w.lastStep) { w.lastStep = step; w.paths.push(performance.now()); }
  }, 5);
}
"""

#: Notes the moment the browser delivers the click on Pause (capture phase: before Streamlit handles it),
#: then resolves ``window.__pauseToPlay`` with [click time, ms from there until the Play button shows].
PAUSE_TO_PLAY = """
() => { window.__pauseToPlay = new Promise((resolve) => {
  let clicked = null;
  document.addEventListener('click', (event) => {
    const button = event.target.closest('button');
    if (button && button.textContent.trim() === 'Pause') clicked = performance.now();
  }, {capture: true, once: true});
  const poll = setInterval(() => {
    const play = [...document.querySelectorAll('button')].some((b) => b.textContent.trim() === 'Play');
    if (clicked !== null && play) { clearInterval(poll); resolve([clicked, performance.now() - clicked]); }
  }, 2);
}); }
"""
LIVE_CHART = live_chart_frame()
#: Pause clicks timed: one in the default run; three (the median the report quotes) in the `long` run.
PAUSES = [1, pytest.param(3, marks=pytest.mark.long)]


def step_number(text: str | None) -> int:
    return int(text.split("/")[0]) if text and "/" in text else 0


@pytest.mark.parametrize("pause_clicks", PAUSES)
def test_play_streams_pause_stops_without_errors(pause_clicks):
    SHOTS.mkdir(parents=True, exist_ok=True)
    with streamlit_server() as (base, _proc), chromium_page() as page:
        errors: list[str] = []
        page.on("pageerror", lambda err: errors.append(str(err)))
        page.goto(f"{base}/training?tr_cap=2000&tr_speed=25", wait_until="domcontentloaded")
        wait_app_idle(page, timeout_ms=60000)
        page.get_by_role("button", name="Step", exact=True).click()
        wait_app_idle(page)
        dashboard = page.locator(LIVE_CHART).first.content_frame
        dashboard.locator(".js-plotly-plot .scatterlayer path.js-line").first.wait_for(state="attached", timeout=60000)
        page.evaluate(WATCH)

        page.get_by_role("button", name="Play", exact=True).click()
        page.get_by_role("button", name="Pause", exact=True).wait_for(timeout=10000)
        page.wait_for_timeout(1000)  # past the first refresh
        start = page.evaluate("performance.now()")
        page.wait_for_timeout(4000)
        watch = page.evaluate("window.__watch")
        window = [t for t in watch["paths"] if t >= start]
        refreshes_per_s = len(window) / ((page.evaluate("performance.now()") - start) / 1000)
        page.screenshot(path=str(SHOTS / "training_playing.png"), full_page=False)

        pauses, stopped_after = [], []
        for attempt in range(pause_clicks):
            if attempt:
                page.get_by_role("button", name="Play", exact=True).click()
                page.get_by_role("button", name="Pause", exact=True).wait_for(timeout=10000)
                page.wait_for_timeout(2000)
            page.evaluate(PAUSE_TO_PLAY)
            page.get_by_role("button", name="Pause", exact=True).click()
            click_at, to_play = page.evaluate("window.__pauseToPlay")
            pauses.append(to_play)
            page.wait_for_timeout(1200)
            watch = page.evaluate("window.__watch")
            stopped_after.append(max(0.0, max(t for t, _ in watch["steps"]) - click_at))
            steps_at_stop = step_number(watch["last"])
            page.wait_for_timeout(800)
            steps_later = step_number(page.evaluate("window.__watch.last"))
            assert steps_at_stop > 1 and steps_later == steps_at_stop, "training went on after Pause"
        # the stopped run is compared at once (Pause reruns Compare runs too, not only the live view)
        compared = page.locator('[data-testid="stPlotlyChart"] .gtitle', has_text="reward by run")
        compared.first.wait_for(state="attached", timeout=10000)
        exceptions = page.locator('[data-testid="stException"]').count()
        problems = [page.locator(LIVE_CHART).nth(i).content_frame.locator("#problem:not([hidden])").count()
                    for i in range(page.locator(LIVE_CHART).count())]
        page.screenshot(path=str(SHOTS / "training_paused.png"), full_page=True)

    print(f"\nchart refreshes per second while playing: {refreshes_per_s:.2f} (target >= 4)")
    print(f"Pause click -> Play button shown: {', '.join(f'{p:.0f}' for p in pauses)} ms "
          f"(median {statistics.median(pauses):.0f}); last step-counter change "
          f"{', '.join(f'{s:.0f}' for s in stopped_after)} ms after the click (target <= 300 ms)")
    assert not errors, errors
    assert exceptions == 0
    assert not any(problems), "a live chart shows its could-not-draw message"
    assert len(window) >= 2, "the reward chart did not change while playing"
    # Bounds looser than the targets (bench/bench_browser.py measures those): this 2-core machine is shared
    # with the browser and the server, and one click under the full suite's load took 2,022 ms (2026-12-03;
    # 68-181 ms on a quiet machine). A Pause that did not stop the run fails above, whatever its latency.
    assert refreshes_per_s >= 2.0
    assert statistics.median(pauses) < 2500


def test_a_new_run_from_the_sidebar_shows_on_the_whole_page():
    """A change of a control that starts a new run (the Seed) reruns the sections that show the run, not the
    page: the notice, the fresh run's step counter, the old run kept under Compare runs, and the question
    picked named as the new run names it (the browser kept the old run's name before, 2026-12-05)."""
    with streamlit_server() as (base, _proc), chromium_page(viewport=(1400, 2400)) as page:
        errors: list[str] = []
        page.on("pageerror", lambda err: errors.append(str(err)))
        page.goto(f"{base}/training", wait_until="domcontentloaded")
        wait_app_idle(page, timeout_ms=60000)
        for _ in range(2):
            page.get_by_role("button", name="Step", exact=True).click()
            wait_app_idle(page)
        question = page.get_by_test_id("stSelectbox").filter(has_text="Question").get_by_role("combobox")
        before = question.input_value()
        seed = page.get_by_label("Seed", exact=True).and_(page.locator("input"))
        seed.fill("12")
        seed.press("Enter")
        notice = page.get_by_text("seed changed, so a new run started")
        notice.wait_for(timeout=20000)
        wait_app_idle(page)
        counter = page.get_by_test_id("stMetricValue").first.text_content()
        kept = page.get_by_text("Finished runs are kept here").count()  # shown only while no run is kept
        shown = question.input_value()
        question.click()
        options = page.get_by_role("option").all_inner_texts()
        page.keyboard.press("Escape")
        page.screenshot(path=str(SHOTS / "training_new_run.png"), full_page=False)
    assert not errors, errors
    assert step_number(counter) == 0, counter
    assert kept == 0, "the run before the change is not under Compare runs"
    assert before not in options, "seed 12 should draw other questions than seed 0"  # else the check below is empty
    assert shown in options, (shown, options)
