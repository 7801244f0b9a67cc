"""bench/load.py still runs end to end (a tiny level, no TTL wait): a broken load bench fails CI, not the
next person who needs the figures. The full run (10/25/50 sessions) stays a benchmark run by hand."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
@pytest.mark.long  # a bench smoke run (a server and seconds of sessions): .ci/run runs it
def test_load_bench_quick_run_reports_a_level_without_errors():
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "load.py"), "--levels", "2", "--training", "1", "--changes", "2",
         "--train-seconds", "2", "--think-min", "0.1", "--think-max", "0.3", "--no-ttl-wait", "--max-seconds", "240"],
        capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    rows = [line.split() for line in result.stdout.splitlines() if line.strip().startswith("2 ")]
    assert rows, result.stdout
    sessions, trained, errors = rows[0][0], rows[0][1], rows[0][2]
    assert (sessions, trained, errors) == ("2", "1/1", "0")
    assert "server CPU" in result.stdout


@pytest.mark.slow
@pytest.mark.long  # two servers and seconds of sessions: .ci/run runs it
def test_load_bench_puts_one_page_against_the_trivial_page():
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "load.py"), "--levels", "2", "--training", "0", "--changes", "2",
         "--think-min", "0.1", "--think-max", "0.3", "--no-ttl-wait", "--pages", "ratio-clipping", "--trivial",
         "--max-seconds", "240"],
        capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    (line,) = [line for line in result.stdout.splitlines() if "sessions: change p95" in line]
    assert line.split()[0] == "2" and line.rstrip().endswith("errors 0 / 0"), line
    assert "trivial page (one slider, one small chart)" in result.stdout


@pytest.mark.slow
@pytest.mark.long  # two servers, nginx and seconds of sessions: .ci/run runs it
def test_load_bench_spreads_sessions_over_replicas_behind_nginx():
    from tests.nginx_support import nginx_binary

    nginx_binary()  # skips on a machine without nginx; fails under CI=true
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "load.py"), "--levels", "20", "--training", "0", "--changes", "2",
         "--think-min", "0.1", "--think-max", "0.3", "--no-ttl-wait", "--pages", "ratio-clipping",
         "--replicas", "2", "--max-seconds", "240"],
        capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "2 server processes behind nginx" in result.stdout
    rows = [line.split() for line in result.stdout.splitlines() if line.strip().startswith("20 ")]
    assert rows and rows[0][2] == "0", result.stdout
    # Each visitor's random cookie picks its replica: all 20 on one of two happens once in ~500,000 runs
    # (without the cookie, every loopback visitor hashes to the same replica).
    (line,) = [line for line in result.stdout.splitlines() if "sessions per replica" in line]
    held = [int(x) for x in line.rsplit("sessions per replica", 1)[1].split("/")]
    assert len(held) == 2 and sum(held) == 20 and min(held) >= 1, line
