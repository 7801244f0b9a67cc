"""Server CPU of one rerun after one control change, on a real `streamlit run`, each page vs trivial pages.

    .venv/bin/python bench/bench_server_reruns.py [--rounds 6] [--pages ratio-clipping kl-beta] [--baseline HEAD]

``bench/bench_pages.py`` times the script under AppTest, which always reruns the whole page. A browser does
not: a control drawn inside a section (``app/sections.py``, an ``st.fragment``) reruns that section alone, and
the server then also serialises and sends only its elements. This bench measures what the server spends: one
visitor (``bench/load.py``'s WebSocket client, which sends what a browser sends, fragment ids included) opens
each page and changes one of its controls at a time, chosen at random (seeded) among the enabled ones, to a
new valid value; the server process's CPU time (user + system) is read before and after each page's block
of changes, and the figure is the median over rounds of the CPU per change. Pages take their turns change by change, with two trivial pages on their own servers in the
same rounds, so that the ratios are comparable on a noisy machine:

- ``trivial (write)``: one ``st.slider`` and one ``st.write`` (``bench/bench_pages.py``'s trivial page);
- ``trivial (chart)``: one ``st.slider`` and one small ``st.plotly_chart`` (``bench/trivial_chart_page.py``,
  the floor of the browser and load benches).

Random values are the hard case: a class that follows its instructor asks for the same few settings, which
the pages' caches then answer.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.load import Session, pages_of  # noqa: E402
from tests.support import streamlit_server  # noqa: E402

TRIVIAL_WRITE = '''import streamlit as st
x = st.slider("x", 0, 100, 50, key="x")
st.write(f"x = {x}")
'''
TRIVIAL_CHART = ROOT / "bench" / "trivial_chart_page.py"
SERVER_ARGS = ["--server.fileWatcherType", "none", "--server.runOnSave", "false"]
BASELINE_MARK = " @"


def cpu_seconds(process) -> float:
    """User + system CPU time of ``process``, the threads that ended included (each rerun has its own script
    thread, so per-thread counters would lose them). The kernel counts it in 10 ms ticks: a block of changes
    is measured, never one."""
    times = process.cpu_times()
    return times.user + times.system


async def measure(targets: dict[str, tuple[str, str, object]], rounds: int, block: int,
                  seed: int) -> dict[str, list[float]]:
    """``targets``: name -> (base url, page, psutil process). Returns name -> server CPU ms per change, one
    value per round (the mean over that round's ``block`` changes)."""
    sessions, cpu = {}, {name: [] for name in targets}
    for name, (base, page, _) in targets.items():
        # a page and its baseline (``name @rev``) get the same changes
        session = Session(base, random.Random(f"{seed}-{name.split(BASELINE_MARK)[0]}"))
        await session.connect()
        result = await session.run(page=page)
        if result.status != 0 or result.exceptions:
            raise RuntimeError(f"{name}: the page did not open cleanly: {result.exceptions}")
        sessions[name] = session
    for name, session in sessions.items():  # warm: lazy imports and first figures are not a change's cost
        await _changes(session, 3, name)
    for _ in range(rounds):
        for name, session in sessions.items():
            process = targets[name][2]
            before = cpu_seconds(process)
            await _changes(session, block, name)
            await asyncio.sleep(0.05)  # let the server finish sending before its CPU is read
            cpu[name].append((cpu_seconds(process) - before) * 1000 / block)
    for session in sessions.values():
        await session.close()
    return cpu


async def _changes(session: Session, count: int, name: str) -> None:
    for _ in range(count):
        widget = session.pick_change()
        if widget is None:
            raise RuntimeError(f"{name}: no control to change")
        result = await session.change(widget)
        if result.status not in (0, 3) or result.exceptions:
            raise RuntimeError(f"{name}: a change ended with status {result.status}: {result.exceptions}")


def main(argv=None) -> None:
    import psutil

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=6, help="rounds; each page takes one block of changes a round")
    parser.add_argument("--block", type=int, default=15, help="changes per block (CPU time is read per block)")
    parser.add_argument("--pages", nargs="+", metavar="URL_PATH", help="only these pages ('' is the Overview)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--baseline", metavar="GIT_REV",
                        help="also serve the app as of this commit (a temporary git worktree); each page's baseline "
                        "takes its turn right after it, with the same changes: the previous way, side by side")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        write_page = Path(tmp) / "trivial_write_page.py"
        write_page.write_text(TRIVIAL_WRITE)
        app_base, app_proc = stack.enter_context(streamlit_server(extra_args=SERVER_ARGS))
        write_base, write_proc = stack.enter_context(streamlit_server(extra_args=SERVER_ARGS, script=write_page))
        chart_base, chart_proc = stack.enter_context(streamlit_server(extra_args=SERVER_ARGS, script=TRIVIAL_CHART))
        pages = args.pages if args.pages is not None else pages_of(app_base)
        app = psutil.Process(app_proc.pid)
        targets = {"trivial (write)": (write_base, "", psutil.Process(write_proc.pid)),
                   "trivial (chart)": (chart_base, "", psutil.Process(chart_proc.pid))}
        baseline = None
        if args.baseline:
            tree = Path(tmp) / "baseline"
            subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(tree), args.baseline],
                           check=True, capture_output=True)
            stack.callback(subprocess.run, ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)],
                           capture_output=True)
            baseline_base, baseline_proc = stack.enter_context(
                streamlit_server(extra_args=SERVER_ARGS, script=tree / "app" / "main.py"))
            baseline = psutil.Process(baseline_proc.pid)
        for page in pages:
            targets[page or "overview"] = (app_base, page, app)
            if baseline is not None:
                targets[f"{page or 'overview'}{BASELINE_MARK}{args.baseline}"] = (baseline_base, page, baseline)
        cpu = asyncio.run(measure(targets, args.rounds, args.block, args.seed))

    floor = {name: statistics.median(cpu[name]) for name in ("trivial (write)", "trivial (chart)")}
    print(f"Server CPU per rerun after one control change (random control and value, seed {args.seed}), "
          f"{args.rounds} rounds of {args.block} per page in turns, one visitor, sections rerun alone as in a browser")
    print(f"{'page':<18} {'median ms':>10} {'max ms':>8} {'x trivial (write)':>18} {'x trivial (chart)':>18}")
    for name, values in cpu.items():
        median = statistics.median(values)
        # a block too short for the kernel's 10 ms ticks can read 0: no ratio then, rather than a division by 0
        ratios = [f"{median / floor[t]:18.1f}" if floor[t] > 0 else f"{'-':>18}" for t in floor]
        print(f"{name:<18} {median:10.1f} {max(values):8.1f} {' '.join(ratios)}")
    print("issue 11's target 1: every page <= 2x the trivial page")
    if args.baseline:
        print(f"this tree / {args.baseline}, same changes in the same rounds:")
        for page in pages:
            name = page or "overview"
            old = statistics.median(cpu[f"{name}{BASELINE_MARK}{args.baseline}"])
            print(f"  {name:<16} {statistics.median(cpu[name]) / old:5.2f}x" if old > 0 else f"  {name:<16}     -")


if __name__ == "__main__":
    main()
