"""Warm rerun time of the Reward groups page after one control change, and of the Overview (AppTest).

    .venv/bin/python bench/bench_reward_groups.py [--repeats 31]

Cases, timed in turns (A, B, C, D, A, B, ...) so that load on a shared machine hits them alike and their
ratios stay meaningful:

- ``scale (figures cached)``: the scale radio flips between two values already drawn once: the two
  Plotly figures come from the page's ``functools.lru_cache``.
- ``scale (cache cleared)``: the same flip with the figure caches cleared first: the figures are
  built again, as on the first view of a (table, scale).
- ``edit a reward``: a data-editor edit to a reward never seen before (a new table, so a cache miss).
- ``overview page rerun``: the Overview page (no controls), rerun as it is (``run()`` time only).

Two times per case: ``run()`` is AppTest's whole rerun (script thread, AppTest's polling and its parsing
of the element tree, all in one process, so GIL contention on a loaded machine inflates it); ``script`` is
the page's own execution, timed inside the script run by a small wrapper around the page file.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.quiet import silence_bare_mode_warning  # noqa: E402
from bench.app_caches import clear_app_caches  # noqa: E402

silence_bare_mode_warning()
from streamlit.testing.v1 import AppTest  # noqa: E402

WRAPPER = '''
import sys, time
import streamlit as st
sys.path.insert(0, {app!r})
page = {page!r}
code = compile(open(page, encoding="utf-8").read(), page, "exec")
start = time.perf_counter()
exec(code, {{"__name__": "__main__", "__file__": page}})
st.session_state.setdefault("_script_times", []).append(time.perf_counter() - start)
'''


def wrapped(page: str, folder: Path) -> AppTest:
    path = folder / f"wrap_{Path(page).stem}.py"
    path.write_text(WRAPPER.format(app=str(ROOT / "app"), page=str(ROOT / "app" / page)))
    return AppTest.from_file(str(path), default_timeout=60).run()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=31)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        rg = wrapped("app_pages/reward_groups.py", Path(tmp))  # a fixed table: only the scale changes
        editing = wrapped("app_pages/reward_groups.py", Path(tmp))  # a new table on every run
        # The overview links to other pages, which needs the app's navigation: it runs under main.py itself,
        # so only its run() time is measured.
        home = AppTest.from_file(str(ROOT / "app" / "main.py"), default_timeout=60).run()
        scales = ["group", "none"]
        for scale in scales * 2:  # warm: the figures of both scales drawn once
            rg.sidebar.radio(key="scale").set_value(scale).run()

        def set_scale(scale: str) -> AppTest:
            return rg.sidebar.radio(key="scale").set_value(scale).run()

        def edit(i: int) -> AppTest:
            editing.session_state["rg_editor"] = {"edited_rows": {0: {"reward": round(0.001 * (i + 1), 3)}},
                                                  "added_rows": [], "deleted_rows": []}
            return editing.run()

        names = ["scale (figures cached)", "scale (cache cleared)", "edit a reward", "overview page rerun"]
        run_times: dict[str, list[float]] = {name: [] for name in names}
        script_times: dict[str, list[float]] = {name: [] for name in names}

        def timed(name: str, fn) -> None:
            start = time.perf_counter()
            at = fn()
            run_times[name].append(time.perf_counter() - start)
            assert not at.exception, [e.value for e in at.exception]
            if "_script_times" in at.session_state:
                script_times[name].append(at.session_state["_script_times"][-1])

        for i in range(args.repeats):
            scale, other = scales[i % 2], scales[(i + 1) % 2]
            timed(names[0], lambda: set_scale(scale))  # both (table, scale) figures are in the cache
            clear_app_caches("reward_figures")
            timed(names[1], lambda: set_scale(other))  # built again
            set_scale(scale)  # untimed: the cache holds both figures again for the next turn
            timed(names[2], lambda: edit(i))
            timed(names[3], home.run)

    base_run = statistics.median(run_times["scale (figures cached)"])
    base_script = statistics.median(script_times["scale (figures cached)"])
    print(f"Warm AppTest reruns, median of {args.repeats} (ratios to the cached scale flip):")
    print(f"  {'case':24s} {'run()':>9s} {'ratio':>6s} {'script':>9s} {'ratio':>6s}")
    for name in names:
        r = statistics.median(run_times[name])
        line = f"  {name:24s} {r * 1e3:6.1f} ms {r / base_run:6.2f}"
        if script_times[name]:
            s = statistics.median(script_times[name])
            line += f" {s * 1e3:6.1f} ms {s / base_script:6.2f}"
        print(line)


if __name__ == "__main__":
    main()
