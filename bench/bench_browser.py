"""Live-training charts in a real browser, side by side in one run (``.venv/bin/python bench/bench_browser.py``).

Two parts, each alternating the things it compares round by round so that this shared machine's load
hits them alike; medians over the rounds and their ratios are printed.

1. **The live-training page** in headless Chromium against ``streamlit run``, once with the charts updated
   in place (``app/live_chart.py``, the default) and once rebuilt by ``st.plotly_chart``
   (``GRPO_LIVE_CHARTS=rebuild``): chart refreshes per second while playing, the browser main thread's
   busy time per refresh (Chrome's own TaskDuration counter), and the time from a click on Pause to the
   Play button showing.
2. **Plotly alone** on a blank page, with the dashboard figure of a real run: what ``st.plotly_chart`` makes
   the browser do on a new figure (throw the chart away, ``Plotly.newPlot``, then ``Plotly.relayout`` to
   the measured width) against ``Plotly.react`` on the chart in place; and the dashboard's axes with Plotly's
   default ``ticklabeloverflow`` against ``"allow"`` (app/charts.py).

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
from tests.browser.test_training_browser import PAUSE_TO_PLAY, WATCH  # noqa: E402  (the test's own probes)
from tests.support import chromium_page, streamlit_server, wait_app_idle  # noqa: E402

MODES = ("in-place", "rebuild")


def play_once(mode: str, seconds: float, pauses: int) -> dict[str, float]:
    """One server in ``mode``, one browser: play, measure, pause ``pauses`` times."""
    with streamlit_server(env={"GRPO_LIVE_CHARTS": mode}) as (base, _), chromium_page() as page:
        page.goto(f"{base}/training?tr_cap=2000&tr_speed=25", wait_until="domcontentloaded")
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
async ([mode, overflow, n]) => {
  const figures = await (await fetch('figures.json')).json();
  const prepare = (f) => {
    f = JSON.parse(JSON.stringify(f));
    for (const key of Object.keys(f.layout)) {
      if (/^[xy]axis/.test(key)) {
        if (overflow === 'default') delete f.layout[key].ticklabeloverflow;
        else f.layout[key].ticklabeloverflow = overflow;
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
        cases = [(mode, overflow) for mode in MODES for overflow in ("default", "allow")]
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
    print(f"\n== Plotly alone, the 8-panel dashboard, medians of {rounds} rounds x {draws} draws ==")
    for overflow in ("allow", "default"):
        rebuild, react = med[("rebuild", overflow)], med[("in-place", overflow)]
        print(f"ticklabeloverflow={overflow:8s}: rebuild (purge + newPlot + relayout) {rebuild:6.1f} ms vs "
              f"Plotly.react {react:6.1f} ms -> {rebuild / react:.2f}x")
    for mode in MODES:
        print(f"{mode:9s}: ticklabeloverflow default {med[(mode, 'default')]:6.1f} ms vs allow "
              f"{med[(mode, 'allow')]:6.1f} ms -> {med[(mode, 'default')] / med[(mode, 'allow')]:.2f}x")


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="rounds of the page comparison (each ~50 s)")
    parser.add_argument("--seconds", type=float, default=6.0, help="seconds of playing measured per run")
    parser.add_argument("--pauses", type=int, default=3, help="Pause clicks timed per run")
    parser.add_argument("--plotly-rounds", type=int, default=5)
    args = parser.parse_args()
    bench_plotly(args.plotly_rounds, draws=12)
    bench_page(args.rounds, args.seconds, args.pauses)


if __name__ == "__main__":
    main()
