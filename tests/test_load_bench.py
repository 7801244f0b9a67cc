"""bench/load.py still runs end to end (a tiny level, no TTL wait): a broken load bench fails CI, not the
next person who needs the figures. The full run (10/25/50 sessions) stays a benchmark run by hand."""

import asyncio
import collections
import contextlib
import random
import re
import subprocess
import sys
import time
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


def test_the_client_sends_a_select_sliders_value_as_the_server_drew_it():
    """A select_slider set from session state arrives with its option text in ``raw_value``; a client that
    read only the indices sent an empty value, which the server takes for the first option (the load
    bench's trainers then played at speed 1, not the page's 25)."""
    from streamlit.proto.Slider_pb2 import Slider
    from streamlit.proto.WidgetStates_pb2 import WidgetState

    from bench.load import Widget, _initial_value, _write_state

    drawn = Slider(options=["1", "2", "5", "10", "25", "max"], default=[0], set_value=True, raw_value=["25"])
    assert _initial_value("slider", drawn) == ["25"]
    by_index = Slider(options=["1", "2", "5"], default=[2])
    assert _initial_value("slider", by_index) == ["5"]
    entry = WidgetState()
    _write_state(entry, "speed", Widget("slider", drawn, _initial_value("slider", drawn)))
    assert list(entry.string_array_value.data) == ["25"]


def test_the_client_takes_a_value_the_script_set_as_a_browser_does():
    """A widget the script set from session state (the token inspector's explain list re-picking its token
    for a new update) arrives with ``set_value``: a browser shows and then sends that value, so the client
    must too, or its next run sends the old one back as if the visitor had picked it."""
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
    from streamlit.proto.Selectbox_pb2 import Selectbox

    from bench.load import Session

    session = Session("http://127.0.0.1:1", random.Random(0))

    def draw(**fields) -> None:
        msg = ForwardMsg()
        msg.delta.new_element.selectbox.CopyFrom(Selectbox(id="pick", options=["a", "b", "c"], default=0, **fields))
        session._handle(msg)

    draw()
    assert session.widgets["pick"].value == "a"
    session.widgets["pick"].value = "c"  # the visitor's own pick
    draw()  # drawn again without a value of the script's: the visitor's stays
    assert session.widgets["pick"].value == "c"
    draw(set_value=True, raw_value="b")  # the script set it
    assert session.widgets["pick"].value == "b"


SLOW_TIMER_PAGE = '''import time
import streamlit as st

@st.fragment(run_every=0.2)
def refresh():
    started = time.perf_counter()
    while time.perf_counter() - started < 0.3:  # each run outlasts the timer's interval
        pass
    st.session_state["runs"] = st.session_state.get("runs", 0) + 1
    st.write(f"runs {st.session_state['runs']} ended {st.session_state.get('ended', 0)}")
    st.session_state["ended"] = st.session_state.get("ended", 0) + 1  # past its last Streamlit call

refresh()
'''


@pytest.mark.slow
def test_a_timer_tick_that_lands_mid_run_drops_what_the_run_drew(tmp_path):
    """What bench/load.py's trainers and app/live_timing.py rest on (Streamlit 1.67, checked 2026-12-04): a
    timer tick that arrives while its fragment runs waits for it, and the run goes on to its end, but what
    it drew is not sent: it ends with status 2, and the next run starts. So a refresh counts only if it
    finished before the next tick (status 3), and the interval must outlast a refresh: an overrun costs the
    whole refresh's server time and shows nothing. Ticks every 0.1 s into runs that compute 0.3 s and then
    draw: all runs but the last end with status 2, and the last one's text says that every earlier run got
    past its last Streamlit call."""
    from bench.load import Session
    from tests.support import streamlit_server

    page = tmp_path / "slow_timer.py"
    page.write_text(SLOW_TIMER_PAGE)

    async def tick_for(base: str, seconds: float) -> tuple[collections.Counter, int, list[str]]:
        session = Session(base, random.Random(0), record=True)
        await session.connect()
        await session.run()
        fragment_id = next(iter(session.auto_rerun))
        statuses, sent, started, texts = collections.Counter(), 0, time.perf_counter(), []

        async def collect(until: float) -> None:
            with contextlib.suppress(asyncio.TimeoutError):
                while True:
                    wait = max(0.0, until - time.perf_counter())
                    statuses[await asyncio.wait_for(session.finished.get(), wait)] += 1

        while time.perf_counter() - started < seconds:
            ticked = await session.send(fragment_id=fragment_id)
            sent += 1
            await collect(ticked + 0.1)
            texts += _texts(session)
        await collect(time.perf_counter() + 1.5)
        texts += _texts(session)
        await session.close()
        return statuses, sent, texts

    with streamlit_server(script=page) as (base, _proc):
        statuses, sent, texts = asyncio.run(tick_for(base, 3.0))
    assert sent >= 15, sent  # a tick at least every 0.2 s: each 0.3 s run sees one land
    # about 10 runs computed back to back: all but the last ended with status 2, their text never sent
    assert statuses[2] >= 5 and statuses[3] <= 2, statuses
    runs, ended = map(int, re.fullmatch(r"runs (\d+) ended (\d+)", texts[-1]).groups())
    assert runs > statuses[3] and ended == runs - 1, (texts, statuses)  # every earlier run went to its end
    assert len(set(texts)) <= statuses[3] + 1, texts  # ...and the ones with status 2 drew nothing that came


def _texts(session) -> list[str]:
    """The markdown texts of the run ``session`` read last (then forgotten)."""
    from streamlit.proto.Element_pb2 import Element

    texts = [Element.FromString(raw).markdown.body for _, raw in session.current.drawn]
    session.current.drawn.clear()
    return [t for t in texts if t]


SOMETIMES_SLOW_TIMER_PAGE = '''import time
import streamlit as st

@st.fragment(run_every=0.2)
def refresh():
    runs = st.session_state["runs"] = st.session_state.get("runs", 0) + 1
    started = time.perf_counter()
    while time.perf_counter() - started < (0.35 if runs % 3 == 1 else 0.01):  # every third run overruns
        pass
    st.write(f"runs {runs}")

refresh()
'''


@pytest.mark.slow
def test_the_trainers_timer_keeps_ticking_through_a_run_its_own_tick_cut_off(tmp_path):
    """bench/load.py's trainer is the browser's timer: a tick every interval whatever the last run did. A
    run that overran its interval ends with status 2 (the client's next tick was queued behind it); the
    client once took that for a tick that asked for a full run, and waited for that run, which never came,
    for RUN_TIMEOUT (60 s): a trainer with no tick and no refresh. Here every third run overruns; over 3 s
    at 0.2 s the timer must keep sending and the fast runs must refresh the chart."""
    from bench.load import Session, SessionStats, tick_like_a_browser
    from tests.support import streamlit_server

    page = tmp_path / "sometimes_slow_timer.py"
    page.write_text(SOMETIMES_SLOW_TIMER_PAGE)

    async def tick_for(base: str, seconds: float) -> tuple[int, int]:
        session = Session(base, random.Random(0))
        await session.connect()
        await session.run()
        stats, before = SessionStats(), session.fragment_finishes
        await tick_like_a_browser(session, time.perf_counter() + seconds, stats)
        await session.close()
        return stats.ticks_sent, session.fragment_finishes - before

    with streamlit_server(script=page) as (base, _proc):
        sent, refreshes = asyncio.run(tick_for(base, 3.0))
    assert sent >= 10, (sent, refreshes)  # ~15 at 0.2 s; the old client stopped after 2 or 3
    assert refreshes >= 4, (sent, refreshes)
