"""The benchmarks under bench/ run and print their ratios (a smoke run with small sizes, no timing bound).

The batched-vs-loop agreement is asserted inside bench_core itself; here a broken benchmark fails CI.
"""

import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import require_chromium

ROOT = Path(__file__).resolve().parent.parent


#: Streamlit's bare-mode warnings, silenced in the benches by bench/quiet.py
NOISE = ("missing ScriptRunContext", "No runtime found, using MemoryCacheStorageManager")


def run_bench(*args: str, timeout: float = 300) -> str:
    """Run a bench; return its stdout, after checking it exited 0 and printed none of the known noise."""
    result = subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    # what the bench printed on its way out, so that a failure on a CI machine can be read from its log
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stdout[-1500:]}\n{result.stderr[-3000:]}"
    for noise in NOISE:
        assert noise not in result.stdout + result.stderr, result.stderr[-2000:]
    return result.stdout


def test_bench_core_quick_prints_its_ratios():
    out = run_bench(str(ROOT / "bench" / "bench_core.py"), "--quick")
    assert "speed-up over the loop" in out and "ratio to the floor" in out, out


def test_bench_pages_quick_prints_every_page():
    out = run_bench(str(ROOT / "bench" / "bench_pages.py"), "--quick")
    for page in ("overview", "reward-groups", "ratio-clipping", "kl-beta", "training"):
        assert page in out, out


def test_bench_inspector_quick_prints_both_redraws_and_the_memory():
    out = run_bench(str(ROOT / "bench" / "bench_inspector.py"), "--quick")
    assert out.count("(target <= 2x)") == 2 and "MiB per session" in out, out


def test_bench_figures_quick_prints_every_figure_both_ways():
    out = run_bench(str(ROOT / "bench" / "bench_figures.py"), "--quick")
    assert "graph objects" in out and "plain spec" in out, out
    for case in ("ratio-clipping", "training, your-run", "reward-groups", "kl-beta"):
        assert case in out, out


@pytest.mark.long  # a cold start of torch, Streamlit and the pages each: .ci/run runs it
def test_bench_clip_kl_one_repeat_prints_every_case():
    out = run_bench(str(ROOT / "bench" / "bench_clip_kl.py"), "--repeats", "1")
    for case in ("ratio: ε", "ratio: point", "kl: β", "kl: N (lab recomputed)", "kl: N = 10,000 x 200"):
        assert case in out, out


@pytest.mark.long  # a cold start of torch, Streamlit and the pages each: .ci/run runs it
def test_bench_reward_groups_one_repeat_prints_every_case():
    out = run_bench(str(ROOT / "bench" / "bench_reward_groups.py"), "--repeats", "1")
    for case in ("scale (figures cached)", "scale (cache cleared)", "edit a reward", "overview page rerun"):
        assert case in out, out


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.long  # about two minutes (four servers, four browsers): .ci/run runs it, the default run does not
def test_bench_browser_quick_prints_all_three_comparisons():
    require_chromium()
    out = run_bench(str(ROOT / "bench" / "bench_browser.py"), "--rounds", "1", "--seconds", "2", "--pauses", "1",
                    "--plotly-rounds", "1", "--step-rounds", "1", "--steps", "2", timeout=600)
    assert "rebuild (purge + newPlot + relayout)" in out and "Plotly.react" in out, out
    assert "refreshes per second" in out and "Pause click -> Play shown" in out, out
    assert "one slider step -> chart shows the new data" in out and "ratio-clipping" in out, out


def test_bench_server_reruns_quick_prints_its_ratios():
    out = run_bench(str(ROOT / "bench" / "bench_server_reruns.py"), "--pages", "ratio-clipping", "--rounds", "1",
                    "--block", "2")
    assert "x trivial (chart)" in out and "ratio-clipping" in out and "trivial (write)" in out, out


def test_bench_server_reruns_runs_a_baseline_commit_beside_this_tree():
    inside = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--is-inside-work-tree"], capture_output=True)
    if inside.returncode != 0:
        pytest.skip("not a git checkout: --baseline builds a worktree of a commit")
    out = run_bench(str(ROOT / "bench" / "bench_server_reruns.py"), "--pages", "ratio-clipping", "--rounds", "1",
                    "--block", "2", "--baseline", "HEAD")
    assert "ratio-clipping @HEAD" in out and "this tree / HEAD" in out, out
    worktrees = subprocess.run(["git", "-C", str(ROOT), "worktree", "list"], capture_output=True, text=True).stdout
    assert "baseline" not in worktrees, worktrees  # its temporary worktree is removed


def test_bench_gc_prints_both_collections_and_their_ratio():
    out = run_bench(str(ROOT / "bench" / "bench_gc.py"), "--repeats", "1")
    assert "unfrozen:" in out and "frozen:" in out and "frozen / unfrozen:" in out, out
