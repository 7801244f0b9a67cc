"""Server-side rerun time of every page after one control change (issue 3), against a trivial page.

    .venv/bin/python bench/bench_pages.py [--repeats 25] [--quick] [--profile-above-ms 50]

For each page of app/main.py (found from its ``st.Page`` calls): an AppTest session is opened and run
once (warm), then one control is changed back and forth between two values, ``--repeats`` times, and
each ``at.run()`` is timed. The control is the page's first slider, else number input, select slider,
radio, segmented control, selectbox, toggle or checkbox; a page with none is simply rerun. A trivial
page (one ``st.slider`` and one ``st.write``, ``AppTest.from_string``) is timed in the same rounds,
interleaved with the pages, so the ratio to it is comparable between runs on a noisy shared machine.
AppTest's own overhead (building the element tree) is in every figure, the trivial one included.

AppTest recompiles the scripts on every run, which ``streamlit run`` does not (its ScriptCache lives as
long as the server): the main figures are taken with one shared script cache (``ServerScriptCache``),
and AppTest as is is printed beside them.

For each page whose median is above ``--profile-above-ms``, cProfile over a few more reruns prints
what dominates: the app's own functions (app/, grpo_core/) by cumulative time, then all functions by
their own time.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import math
import os
import pstats
import statistics
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.quiet import silence_bare_mode_warning  # noqa: E402

silence_bare_mode_warning()
from tests import page_catalog as pc  # noqa: E402

CONTROL_ORDER = ("slider", "number_input", "select_slider", "radio", "button_group", "selectbox", "toggle", "checkbox")
TRIVIAL = """
import streamlit as st
x = st.slider("x", 0, 100, 50, key="x")
st.write(f"x = {x}")
"""


def p90(times: list[float]) -> float:
    ordered = sorted(times)
    return ordered[min(len(ordered) - 1, math.ceil(0.9 * len(ordered)) - 1)]


class Toggler:
    """Flips one control of an AppTest session between two values and reruns."""

    def __init__(self, at, name: str):
        self.at, self.name = at, name
        self.key, self.values, self.kind = None, None, None
        for kind in CONTROL_ORDER:
            # the page's own controls, not the sidebar's class-link builder (app/classroom.py, cl_*)
            found = [w for w in pc.widgets(at, (kind,)) if w.key and not w.key.startswith("cl_")]
            if found:
                widget = found[0]
                self.key, self.kind = widget.key, kind
                self.values = self._two_values(widget)
                break
        self.turn = 0

    @staticmethod
    def _two_values(widget):
        value = widget.value
        if widget.type in ("slider", "number_input"):
            if isinstance(value, (list, tuple)):
                return [tuple(value), (value[0], value[0])]
            step = widget.proto.step or 1
            high = widget.proto.max if widget.type == "slider" or widget.proto.has_max else value + step
            other = value + step if value + step <= high else value - step
            return [value, type(value)(round(other, 10))]
        if widget.type in ("toggle", "checkbox"):
            return [value, not value]
        options = list(widget.options)
        return [options[0], options[1 % len(options)]]

    def describe(self) -> str:
        return f"{self.kind} {self.key!r} {self.values[0]!r}<->{self.values[1]!r}" if self.key else "plain rerun"

    def rerun(self) -> float:
        if self.key is not None:
            self.turn ^= 1
            widget = next(w for w in pc.widgets(self.at, (self.kind,)) if w.key == self.key)
            value = self.values[self.turn]
            if self.kind in ("radio", "selectbox", "button_group", "select_slider"):
                pc.choose_label(widget, value)
            else:
                widget.set_value(value)
        start = time.perf_counter()
        self.at.run()
        elapsed = time.perf_counter() - start
        if self.at.exception:
            raise RuntimeError(f"{self.name}: exception after {self.describe()}:\n" + "\n".join(pc.exceptions(self.at)))
        return elapsed


class ServerScriptCache:
    """Make AppTest keep compiled scripts between runs, as ``streamlit run`` does.

    AppTest builds a new ``ScriptCache`` for every ``run()``, so each rerun re-reads, AST-rewrites
    ("magic") and compiles app/main.py and the page: 5-50 ms per rerun (more for a long page) that the
    real server pays once per script. Switched on, both AppTest modules get one shared cache.
    """

    def __init__(self):
        from streamlit.runtime.scriptrunner.script_cache import ScriptCache
        from streamlit.testing.v1 import app_test, local_script_runner

        self.original, self.modules = ScriptCache, (app_test, local_script_runner)
        self.shared = ScriptCache()

    def __call__(self, on: bool) -> None:
        factory = (lambda: self.shared) if on else self.original
        for module in self.modules:
            module.ScriptCache = factory


def profile(toggler: Toggler, reruns: int) -> str:
    """cProfile of the script itself: AppTest runs it in a new thread per run, so the profiler is
    switched on inside each new thread (``threading.setprofile`` runs its hook first thing there)."""
    profiler = cProfile.Profile()

    def enable_in_new_thread(*_args):
        sys.setprofile(None)
        profiler.enable()

    threading.setprofile(enable_in_new_thread)
    try:
        for _ in range(reruns):
            toggler.rerun()
    finally:
        threading.setprofile(None)
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    total = max(stats.total_tt, 1e-9)
    rows = []
    for (path, line, func), (_cc, _nc, tottime, cumtime, _callers) in stats.stats.items():
        rows.append((path, line, func, tottime, cumtime))
    own = [r for r in rows if "/app/" in r[0] or "/grpo_core/" in r[0]]
    lines = [f"  profile of {reruns} reruns ({total * 1000 / reruns:.1f} ms each under cProfile)",
             "  app / grpo_core functions by cumulative time (per rerun):"]
    for path, line, func, tottime, cumtime in sorted(own, key=lambda r: -r[4])[:8]:
        where = Path(path).relative_to(ROOT) if path.startswith(str(ROOT)) else path
        lines.append(f"    {cumtime * 1000 / reruns:7.1f} ms  {where}:{line} {func}")
    lines.append("  all functions by own time (per rerun):")
    for path, line, func, tottime, cumtime in sorted(rows, key=lambda r: -r[3])[:10]:
        short = "/".join(Path(path).parts[-3:]) if "/" in path else path
        lines.append(f"    {tottime * 1000 / reruns:7.1f} ms  {short}:{line} {func}")
    return "\n".join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=25, help="timed reruns per page (>= 20 for the issue's figure)")
    parser.add_argument("--quick", action="store_true", help="a smoke run: 3 reruns, no profile")
    parser.add_argument("--profile-above-ms", type=float, default=50.0)
    args = parser.parse_args(argv)
    repeats = 3 if args.quick else args.repeats

    from streamlit.testing.v1 import AppTest

    sessions = {"(trivial page)": Toggler(AppTest.from_string(TRIVIAL, default_timeout=pc.TIMEOUT_S).run(), "trivial")}
    for page in pc.pages():
        at = pc.open_page(page)
        if at.exception:
            raise RuntimeError(f"{page.url_path} fails on open:\n" + "\n".join(pc.exceptions(at)))
        sessions[page.url_path] = Toggler(at, page.url_path)
    for name, toggler in sessions.items():  # warm: both values once (caches, lazy imports, first figures)
        seen = set()
        for _ in range(2):
            toggler.rerun()
            if toggler.key is not None:
                seen.add(repr(next(w for w in pc.widgets(toggler.at) if w.key == toggler.key).value))
        if toggler.key is not None and len(seen) != 2:
            raise RuntimeError(f"{name}: {toggler.describe()} did not change the control (saw {seen})")

    server_cache = ServerScriptCache()
    modes = ("apptest", "server")  # as AppTest runs it (recompiling every run), and with the server's script cache
    times = {name: {mode: [] for mode in modes} for name in sessions}
    for _ in range(repeats):  # in turns, so that load on the machine hits every page and mode alike
        for name, toggler in sessions.items():
            for mode in modes:
                server_cache(mode == "server")
                times[name][mode].append(toggler.rerun())
    server_cache(True)

    trivial = {mode: statistics.median(times["(trivial page)"][mode]) for mode in modes}
    print(f"Rerun after one control change, {repeats} reruns each, interleaved; streamlit "
          f"{__import__('streamlit').__version__}, python {sys.version.split()[0]}, {os.cpu_count()} CPUs")
    print("  server cache: scripts compiled once, as `streamlit run` does; AppTest as is: recompiled every run")
    print(f"{'page':<16} {'median ms':>10} {'p90 ms':>8} {'x trivial':>10} {'AppTest as is: median':>22} {'p90':>6}  control")
    for name, toggler in sessions.items():
        server, raw = times[name]["server"], times[name]["apptest"]
        print(f"{name:<16} {statistics.median(server) * 1000:10.1f} {p90(server) * 1000:8.1f} "
              f"{statistics.median(server) / trivial['server']:10.1f} {statistics.median(raw) * 1000:22.1f} "
              f"{p90(raw) * 1000:6.1f}  {toggler.describe()}")
    if args.quick:
        return
    for name, toggler in sessions.items():
        if name != "(trivial page)" and statistics.median(times[name]["server"]) * 1000 > args.profile_above_ms:
            print(f"\n{name}: median above {args.profile_above_ms:g} ms (with the server's script cache)")
            print(profile(toggler, reruns=6))


if __name__ == "__main__":
    main()
