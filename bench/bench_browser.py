"""Live-training charts in a real browser, side by side in one run (``.venv/bin/python bench/bench_browser.py``).

Four parts, each alternating the things it compares round by round so that this shared machine's load
hits them alike; medians over the rounds and their ratios are printed.

1. **The live-training page** in headless Chromium against ``streamlit run``, once with the charts updated
   in place (``app/live_chart.py``, the default) and once rebuilt by ``st.plotly_chart``
   (``GRPO_LIVE_CHARTS=rebuild``): chart refreshes per second while playing, the browser main thread's
   busy time per refresh (Chrome's own TaskDuration counter), and the time from a click on Pause to the
   Play button showing.
2. **Plotly alone** on a blank page, with the dashboard figure of a real run: what ``st.plotly_chart`` makes
   the browser do on a new figure (throw the chart away, ``Plotly.newPlot``, then ``Plotly.relayout`` to
   the measured width) against ``Plotly.react`` on the chart in place; ``Plotly.react`` of the figure as
   app/charts.py builds it (fixed margins, no automargin, a zero-length ``transition``: a refresh that brings
   only new points takes Plotly's animation path, without a full redraw) against the figure as it was before
   (automargin, no transition: every refresh a full redraw); and the dashboard's axes with Plotly's default
   ``ticklabeloverflow`` against ``"allow"``.
3. **One slider step on every page with a chart** (issue 11's target 2): from the ArrowRight keydown on a
   slider until a chart of the page holds the new data (the first animation frame at which a Plotly chart
   has other data than before the key), against ``bench/trivial_chart_page.py`` (one slider, one 3-point
   chart) on a second server, measured in turns with each page. The slider is the page's first one whose
   step changes a chart; steps go right and left in turns, so after the first two the page's figure caches
   answer (a class moving the same slider asks for the same few values).

4. **The live-training page at every speed** (issue 11's target 4): part 1's refreshes per second and
   Pause -> Play, charts in place, at each of the speed control's values (``--speeds``).

``--parts`` picks the parts (default all four).

Needs Debian's Chromium (``apt-get install -y chromium``) and the dev requirements (playwright).
"""

from __future__ import annotations

import argparse
import functools
import http.server
import json
import shutil
import statistics
import sys
import tempfile
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "app")]
from bench.quiet import silence_bare_mode_warning  # noqa: E402

silence_bare_mode_warning()
import numpy as np  # noqa: E402
import plotly  # noqa: E402
import plotly.io as pio  # noqa: E402

import charts  # noqa: E402
from grpo_core.training import TRAIN_METRIC_NAMES, TrainConfig, Trainer  # noqa: E402
from training_controls import SPEEDS  # noqa: E402
from tests.browser.test_training_browser import PAUSE_TO_PLAY, WATCH  # noqa: E402  (the test's own probes)
from tests.support import chromium_page, streamlit_server, wait_app_idle  # noqa: E402

MODES = ("in-place", "rebuild")
TRIVIAL_PAGE = ROOT / "bench" / "trivial_chart_page.py"


def play_once(mode: str, seconds: float, pauses: int, speed: str = "25") -> dict[str, float]:
    """One server in ``mode``, one browser: play at ``speed`` (steps per refresh), measure, pause ``pauses``
    times."""
    with streamlit_server(env={"GRPO_LIVE_CHARTS": mode}) as (base, _), chromium_page() as page:
        page.goto(f"{base}/training?tr_cap=2000&tr_speed={speed}", wait_until="domcontentloaded")
        wait_app_idle(page, timeout_ms=120_000)
        page.get_by_role("button", name="Step", exact=True).click()
        wait_app_idle(page)
        page.wait_for_timeout(1500)  # the chart library loads
        page.evaluate(WATCH)
        cdp = page.context.new_cdp_session(page)
        cdp.send("Performance.enable")
        to_play = []
        for attempt in range(pauses):
            page.get_by_role("button", name="Play", exact=True).click()
            page.get_by_role("button", name="Pause", exact=True).wait_for(timeout=10_000)
            page.wait_for_timeout(1000)  # past the first refresh
            if attempt == 0:
                busy0 = task_seconds(cdp)
                start = page.evaluate("performance.now()")
                page.wait_for_timeout(int(seconds * 1000))
                end = page.evaluate("performance.now()")
                busy = task_seconds(cdp) - busy0
                refreshes = len([t for t in page.evaluate("window.__watch.paths") if t >= start])
            page.evaluate(PAUSE_TO_PLAY)
            page.get_by_role("button", name="Pause", exact=True).click()
            to_play.append(page.evaluate("window.__pauseToPlay")[1])
            wait_app_idle(page)
    window = (end - start) / 1000
    return {"refreshes_per_s": refreshes / window, "busy_share": busy / window,
            "busy_ms_per_refresh": 1000 * busy / max(refreshes, 1), "pause_ms": statistics.median(to_play)}


def task_seconds(cdp) -> float:
    return next(m["value"] for m in cdp.send("Performance.getMetrics")["metrics"] if m["name"] == "TaskDuration")


def bench_speeds(rounds: int, seconds: float, pauses: int, speeds: list[str]) -> None:
    """Issue 11's target 4 at every speed: refreshes per second and Pause -> Play, charts updated in place."""
    results = {speed: [] for speed in speeds}
    for r in range(rounds):
        for speed in speeds if r % 2 == 0 else speeds[::-1]:
            result = play_once("in-place", seconds, pauses, speed)
            results[speed].append(result)
            print(f"  round {r + 1} speed {speed:>3}: {result['refreshes_per_s']:4.2f} refreshes/s, "
                  f"Pause -> Play {result['pause_ms']:4.0f} ms", flush=True)
    print(f"\n== live-training page at every speed (steps per refresh), medians of {rounds} rounds ==")
    print(f"{'speed':>5} {'refreshes/s':>12} {'Pause->Play ms':>15}   (targets: >= 4, <= 300)")
    for speed, runs in results.items():
        rate, pause = (statistics.median(r[k] for r in runs) for k in ("refreshes_per_s", "pause_ms"))
        print(f"{speed:>5} {rate:12.2f} {pause:15.0f}   {'met' if rate >= 4 and pause <= 300 else 'missed'}")


def bench_page(rounds: int, seconds: float, pauses: int) -> None:
    results = {mode: [] for mode in MODES}
    for r in range(rounds):
        for mode in MODES if r % 2 == 0 else MODES[::-1]:
            result = play_once(mode, seconds, pauses)
            results[mode].append(result)
            print(f"  round {r + 1} {mode:9s}: {result['refreshes_per_s']:4.2f} refreshes/s, main thread "
                  f"{result['busy_share']:4.0%} busy, {result['busy_ms_per_refresh']:5.0f} ms per refresh, "
                  f"Pause -> Play {result['pause_ms']:4.0f} ms", flush=True)
    med = {mode: {k: statistics.median(r[k] for r in results[mode]) for k in results[mode][0]} for mode in MODES}
    a, b = med["in-place"], med["rebuild"]
    print(f"\n== live-training page, medians of {rounds} rounds (in place vs st.plotly_chart rebuild) ==")
    print(f"refreshes per second      : {a['refreshes_per_s']:5.2f} vs {b['refreshes_per_s']:5.2f}   "
          f"-> {a['refreshes_per_s'] / b['refreshes_per_s']:.2f}x   (target >= 4; timer at 5/s)")
    print(f"main-thread ms per refresh: {a['busy_ms_per_refresh']:5.0f} vs {b['busy_ms_per_refresh']:5.0f}   "
          f"-> {b['busy_ms_per_refresh'] / a['busy_ms_per_refresh']:.2f}x less work in place")
    print(f"Pause click -> Play shown : {a['pause_ms']:5.0f} vs {b['pause_ms']:5.0f} ms "
          f"-> {b['pause_ms'] / a['pause_ms']:.2f}x sooner   (target <= 300 ms)")


# --------------------------------------------------------------------------------------- Plotly alone

DRAW = """
async ([mode, variant, n]) => {
  const figures = await (await fetch('figures.json')).json();
  const prepare = (f) => {  // variant: 'built' (as app/charts.py makes it), 'full redraw', 'overflow default'
    f = JSON.parse(JSON.stringify(f));
    if (variant === 'full redraw') {  // the dashboard before: margins grown to its labels, no transition
      delete f.layout.transition;
      f.layout.margin = {l: 55, r: 15, t: 40, b: 50};
    }
    for (const key of Object.keys(f.layout)) {
      if (/^[xy]axis/.test(key)) {
        if (variant === 'overflow default') delete f.layout[key].ticklabeloverflow;
        if (variant === 'full redraw') f.layout[key].automargin = true;
      }
    }
    return f;
  };
  const pair = [prepare(figures[0]), prepare(figures[1])];
  const div = document.getElementById('chart');
  const config = {displayModeBar: false};
  Plotly.purge(div);
  await Plotly.newPlot(div, pair[0].data, pair[0].layout, config);
  const times = [];
  for (let i = 0; i < n; i++) {
    const f = JSON.parse(JSON.stringify(pair[(i + 1) % 2]));  // a new figure, as each refresh brings
    const t0 = performance.now();
    if (mode === 'rebuild') {  // what a new st.plotly_chart element costs: a new chart, then its width
      Plotly.purge(div);
      await Plotly.newPlot(div, f.data, f.layout, config);
      await Plotly.relayout(div, {width: 1100});
    } else {
      await Plotly.react(div, f.data, {...f.layout, width: 1100}, config);
    }
    document.body.offsetHeight;  // include the style and layout work the draw left
    times.push(performance.now() - t0);
  }
  times.sort((x, y) => x - y);
  return times[Math.floor(times.length / 2)];
}
"""


def dashboard_figures() -> list[dict]:
    """Two dashboards of one run, 100 steps apart, 200 points a line (what the page sends while playing)."""
    trainer = Trainer(TrainConfig(seed=0, max_steps=10**6), device="cpu")
    for _ in range(300):
        trainer.step()
    table = trainer.history.table().numpy()
    figures = []
    for first in (0, 100):
        m = {name: table[first:first + 200, i] for i, name in enumerate(TRAIN_METRIC_NAMES)}
        figure = charts.training_dashboard(np.arange(first + 1, first + 201), charts.training_panels(m, "k3"))
        figures.append(json.loads(pio.to_json(figure, validate=False)))
    return figures


def bench_plotly(rounds: int, draws: int) -> None:
    folder = Path(tempfile.mkdtemp(prefix="bench_browser_"))
    try:
        shutil.copy(Path(plotly.__file__).parent / "package_data" / "plotly.min.js", folder)
        (folder / "figures.json").write_text(json.dumps(dashboard_figures()))
        (folder / "index.html").write_text('<!doctype html><html><body><div id="chart" style="width:1100px"></div>'
                                           '<script src="plotly.min.js"></script></body></html>')
        handler = functools.partial(QuietHandler, directory=str(folder))
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        cases = [("rebuild", "built"), ("in-place", "built"), ("in-place", "full redraw"),
                 ("in-place", "overflow default")]
        times = {case: [] for case in cases}
        try:
            with chromium_page() as page:
                page.goto(f"http://127.0.0.1:{server.server_address[1]}/index.html")
                page.wait_for_function("window.Plotly !== undefined")
                for _ in range(rounds):
                    for case in cases:
                        times[case].append(page.evaluate(DRAW, [*case, draws]))
        finally:
            server.shutdown()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    med = {case: statistics.median(v) for case, v in times.items()}
    react = med[("in-place", "built")]
    print(f"\n== Plotly alone, the 8-panel dashboard, medians of {rounds} rounds x {draws} draws ==")
    print(f"rebuild (purge + newPlot + relayout) {med[('rebuild', 'built')]:6.1f} ms vs Plotly.react "
          f"{react:6.1f} ms -> {med[('rebuild', 'built')] / react:.2f}x")
    print(f"Plotly.react, full redraw (automargin, no transition) {med[('in-place', 'full redraw')]:6.1f} ms vs "
          f"as built (fixed margins, transition) {react:6.1f} ms -> {med[('in-place', 'full redraw')] / react:.2f}x")
    print(f"Plotly.react, ticklabeloverflow default {med[('in-place', 'overflow default')]:6.1f} ms vs allow "
          f"{react:6.1f} ms -> {med[('in-place', 'overflow default')] / react:.2f}x")


# --------------------------------------------------------------------------- one slider step, every page

#: The page's Plotly charts: in the page itself (``st.plotly_chart``) and in app/live_chart.py's frames.
PLOTS = """() => [document, ...[...document.querySelectorAll('iframe')].map(f => f.contentDocument).filter(d => d)]
  .flatMap(d => [...d.querySelectorAll('.js-plotly-plot')])"""

#: Run before a key press: notes the keydown's time, then the first animation frame at which a Plotly chart on
#: the page holds other data than before (a chart Streamlit mounted anew, or one re-plotted in place).
WATCH_STEP = """
() => {
  const plots = %s;
  const before = new Map(plots().map(p => [p, p.data]));
  const step = window.__step = {down: null, shown: null};
  document.addEventListener('keydown', () => { step.down = performance.now(); }, {capture: true, once: true});
  const changed = (p) => p._fullLayout && p.data && (!before.has(p) || p.data !== before.get(p));
  const tick = () => {
    if (step.down !== null && plots().some(changed)) {
      step.shown = performance.now();
      return;
    }
    requestAnimationFrame(tick);
  };
  requestAnimationFrame(tick);
}
""" % PLOTS


def step_ms(page, slider, key: str, timeout_ms: int = 8000) -> float | None:
    """Milliseconds from pressing ``key`` on ``slider`` until a chart shows new data (None: none did)."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    page.bring_to_front()  # a page in the background gets no animation frames
    page.evaluate(WATCH_STEP)
    slider.press(key)
    try:
        page.wait_for_function("window.__step.shown !== null", timeout=timeout_ms, polling=50)
    except PlaywrightTimeout:
        return None
    finally:
        wait_app_idle(page)
    return page.evaluate("window.__step.shown - window.__step.down")


def open_with_chart(page, url: str) -> bool:
    page.goto(url, wait_until="domcontentloaded")
    wait_app_idle(page, timeout_ms=120_000)
    try:
        page.wait_for_function(f"({PLOTS})().length > 0", timeout=15_000, polling=100)
    except Exception:  # noqa: BLE001  (a page without a chart: nothing to time)
        return False
    page.wait_for_timeout(1000)
    return True


def chart_slider(page):
    """The first visible, enabled slider whose step changes a chart, and the key that moved it."""
    sliders = page.get_by_role("slider")
    for i in range(min(sliders.count(), 8)):
        slider = sliders.nth(i)
        if slider.is_visible() and slider.is_enabled():
            for key in ("ArrowRight", "ArrowLeft"):
                if step_ms(page, slider, key, timeout_ms=5000) is not None:
                    return slider, key
    return None, None


def bench_steps(rounds: int, steps: int, only: list[str] | None = None) -> None:
    from tests import page_catalog as pc

    back = {"ArrowRight": "ArrowLeft", "ArrowLeft": "ArrowRight"}
    times: dict[str, dict[str, list[float]]] = {}
    labels: dict[str, str] = {}
    skipped: list[str] = []
    with streamlit_server() as (base, _), streamlit_server(script=TRIVIAL_PAGE) as (trivial_base, _), \
            chromium_page() as page:
        trivial = page.context.browser.new_context(viewport=page.viewport_size).new_page()
        assert open_with_chart(trivial, trivial_base)
        trivial_slider, _ = chart_slider(trivial)
        for r in range(rounds):
            for info in pc.pages():
                if info.url_path in skipped or (only and info.url_path not in only):
                    continue
                if not open_with_chart(page, f"{base}/{info.browser_path}"):
                    skipped.append(info.url_path)
                    continue
                slider, key = chart_slider(page)
                if slider is None:
                    skipped.append(info.url_path)
                    continue
                labels[info.url_path] = (slider.get_attribute("aria-label") or "?").split(",")[0][:28]
                mine = times.setdefault(info.url_path, {"page": [], "trivial": []})
                for i in range(steps):  # in turns: the load on this shared machine hits both alike
                    for who in (("page", "trivial") if (r + i) % 2 == 0 else ("trivial", "page")):
                        if who == "page":
                            ms = step_ms(page, slider, back[key] if i % 2 == 0 else key)
                        else:
                            ms = step_ms(trivial, trivial_slider, "ArrowLeft" if i % 2 == 0 else "ArrowRight")
                        if ms is not None:
                            mine[who].append(ms)
            print(f"  round {r + 1}: " + ", ".join(f"{name} {statistics.median(t['page']):.0f}/"
                                                     f"{statistics.median(t['trivial']):.0f} ms"
                                                     for name, t in times.items() if t["page"] and t["trivial"]),
                  flush=True)
    print(f"\n== one slider step -> chart shows the new data (Chromium), medians of {rounds} rounds x {steps} "
          "steps, each page in turns with the trivial page ==")
    print(f"{'page':<16} {'slider':<30} {'page ms':>8} {'trivial ms':>11} {'x trivial':>10}  (target <= 1.3)")
    for name, t in times.items():
        if t["page"] and t["trivial"]:
            ratio = statistics.median(t["page"]) / statistics.median(t["trivial"])
            print(f"{name:<16} {labels[name]:<30} {statistics.median(t['page']):8.0f} "
                  f"{statistics.median(t['trivial']):11.0f} {ratio:10.2f}  {'met' if ratio <= 1.3 else 'missed'}")
    if skipped:
        print(f"no slider that changes a chart: {', '.join(skipped)}")


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="rounds of the page comparison (each ~50 s)")
    parser.add_argument("--seconds", type=float, default=6.0, help="seconds of playing measured per run")
    parser.add_argument("--pauses", type=int, default=3, help="Pause clicks timed per run")
    parser.add_argument("--plotly-rounds", type=int, default=5)
    parser.add_argument("--step-rounds", type=int, default=2, help="rounds of the slider-step comparison")
    parser.add_argument("--steps", type=int, default=6, help="slider steps timed per page and round")
    parser.add_argument("--parts", type=int, nargs="+", choices=(1, 2, 3, 4), default=[1, 2, 3, 4])
    parser.add_argument("--pages", nargs="+", help="part 3's pages (their URL paths; default every page)")
    parser.add_argument("--speed-rounds", type=int, default=1, help="rounds of part 4 (every speed)")
    parser.add_argument("--speeds", nargs="+", default=list(SPEEDS), choices=SPEEDS, help="part 4's speeds")
    args = parser.parse_args()
    if 2 in args.parts:
        bench_plotly(args.plotly_rounds, draws=12)
    if 1 in args.parts:
        bench_page(args.rounds, args.seconds, args.pauses)
    if 3 in args.parts:
        bench_steps(args.step_rounds, args.steps, args.pages)
    if 4 in args.parts:
        bench_speeds(args.speed_rounds, args.seconds, args.pauses, args.speeds)


if __name__ == "__main__":
    main()
