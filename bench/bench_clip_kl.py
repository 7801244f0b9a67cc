"""Warm rerun time of the Ratio and clipping page and the KL and β page after one control change
(AppTest, server side).

    .venv/bin/python bench/bench_clip_kl.py [--repeats 21]

Reruns timed in turns (A, B, C, ...) so that load on a shared machine hits them alike and the ratios
stay meaningful:

- ``ratio: ε``: the clip width slider flips between two values (after the first two, the curves, point and
  4-panel figure of each come from ``app/ratio_figures.py``'s cache).
- ``ratio: point``: the point's ratio slider moves.
- ``kl: β``: the β slider flips; the estimator lab comes from ``app/kl_figures.py``'s cache.
- ``kl: N (lab recomputed)``: the sample-size slider flips with the page's caches cleared first, so the
  Gaussian lab is drawn again (N = 10 / 20 samples x 200 trials, the default view).
- ``kl: N = 10,000 x 200 (lab recomputed)``: the largest lab the page asks for, cache cleared; it draws 20 trials,
  not 200 (``app/kl_figures.py``'s ``MAX_DRAWS``, 200,000 draws a change).

Prints the median wall time of each and its ratio to ``ratio: ε``, and the same for the process's CPU
time (all threads; AppTest's polling sleeps cost none), which stays meaningful when other work loads the
machine and stretches wall time. The wall time is AppTest's ``run()``: the script run plus AppTest's own
polling, so the script alone is a little faster than printed. Streamlit's
``runner.postScriptGC`` from ``.streamlit/config.toml`` applies (it is printed); set
``STREAMLIT_RUNNER_POST_SCRIPT_GC=false`` to compare.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.chdir(ROOT)  # AppTest reads .streamlit/config.toml from the working directory
from bench.quiet import silence_bare_mode_warning  # noqa: E402
from bench.app_caches import clear_app_caches  # noqa: E402

silence_bare_mode_warning()
from streamlit.testing.v1 import AppTest  # noqa: E402


def open_page(page: str) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app" / "main.py"), default_timeout=120).run()
    at.switch_page(page).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=21)
    args = parser.parse_args()

    ratio_page = open_page("app_pages/ratio_clipping.py")
    kl_page = open_page("app_pages/kl_beta.py")
    big_lab = open_page("app_pages/kl_beta.py")
    big_lab.slider(key="kl_trials").set_value(200).run()

    def flip(at: AppTest, get, values):
        state = {"i": 0}

        def run() -> None:
            state["i"] += 1
            get(at).set_value(values[state["i"] % len(values)])
            at.run()

        return run

    def cleared(fn):
        def run() -> None:
            clear_app_caches("kl_figures")  # the labs' caches, and with them the figures'
            fn()

        return run

    cases = {
        "ratio: ε": flip(ratio_page, lambda at: at.slider(key="clip_eps"), [0.2, 0.25]),
        "ratio: point": flip(ratio_page, lambda at: at.slider(key="clip_ratio"), [1.5, 0.7]),
        "kl: β": flip(kl_page, lambda at: at.slider(key="kl_beta"), [0.1, 0.3]),
        "kl: N (lab recomputed)": cleared(flip(kl_page, lambda at: at.select_slider(key="kl_samples"), [10, 20])),
        "kl: N = 10,000 x 200 (lab recomputed)": cleared(
            flip(big_lab, lambda at: at.select_slider(key="kl_samples"), [5000, 10000])),
    }
    for fn in cases.values():  # warm-up: every path drawn at least twice
        fn()
        fn()
    times = {name: [] for name in cases}
    cpu = {name: [] for name in cases}
    for _ in range(args.repeats):
        for name, fn in cases.items():
            start, start_cpu = time.perf_counter(), time.process_time()
            fn()
            times[name].append(time.perf_counter() - start)
            cpu[name].append(time.process_time() - start_cpu)
    for at in (ratio_page, kl_page, big_lab):
        assert not at.exception, [e.value for e in at.exception]

    from streamlit import config

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"runner.postScriptGC = {config.get_option('runner.postScriptGC')}, repeats = {args.repeats}, "
          f"load average {load:.1f} on {os.cpu_count()} CPUs")
    base, base_cpu = statistics.median(times["ratio: ε"]), statistics.median(cpu["ratio: ε"])
    for name in cases:
        wall, used = statistics.median(times[name]), statistics.median(cpu[name])
        print(f"{name:40s} wall {wall * 1000:7.1f} ms (x{wall / base:5.2f})   "
              f"CPU {used * 1000:7.1f} ms (x{used / base_cpu:5.2f})")


if __name__ == "__main__":
    main()
