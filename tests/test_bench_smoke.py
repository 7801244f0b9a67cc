"""The benchmarks under bench/ run and print their ratios (a smoke run with small sizes, no timing bound).

The batched-vs-loop agreement is asserted inside bench_core itself; here a broken benchmark fails CI.
"""

import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import require_chromium

ROOT = Path(__file__).resolve().parent.parent


def test_bench_core_quick_prints_its_ratios():
    out = subprocess.run([sys.executable, str(ROOT / "bench" / "bench_core.py"), "--quick"],
                         capture_output=True, text=True, timeout=300, check=True).stdout
    assert "speed-up over the loop" in out and "ratio to the floor" in out


def test_bench_pages_quick_prints_every_page():
    out = subprocess.run([sys.executable, str(ROOT / "bench" / "bench_pages.py"), "--quick"],
                         capture_output=True, text=True, timeout=300, check=True, cwd=ROOT).stdout
    for page in ("overview", "reward-groups", "ratio-clipping", "kl-beta", "training"):
        assert page in out, out


@pytest.mark.browser
@pytest.mark.slow
def test_bench_browser_quick_prints_both_comparisons():
    require_chromium()
    out = subprocess.run([sys.executable, str(ROOT / "bench" / "bench_browser.py"), "--rounds", "1", "--seconds", "2",
                          "--pauses", "1", "--plotly-rounds", "1"],
                         capture_output=True, text=True, timeout=400, check=True, cwd=ROOT).stdout
    assert "rebuild (purge + newPlot + relayout)" in out and "Plotly.react" in out, out
    assert "refreshes per second" in out and "Pause click -> Play shown" in out, out
