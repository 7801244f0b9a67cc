"""Load bench: many real sessions against a real `streamlit run app/main.py`, on loopback, bounded in time.

Each simulated visitor is a WebSocket client that speaks Streamlit's own protocol, as the browser does:
it connects to ``/_stcore/stream``, sends ``BackMsg.rerun_script`` (a ``ClientState`` carrying the page,
the query string and the widget states), and reads ``ForwardMsg``s until ``script_finished``. It keeps the
widgets the server draws (their ids, ranges, options and current values, and the fragment that drew each),
so a "control change" is what a browser sends when a reader drags a slider or ticks a box: for a control
drawn inside a fragment (a page's section, app/sections.py), a rerun of that fragment alone. Fragments with ``run_every`` (live training)
announce themselves with ``ForwardMsg.auto_rerun``; the client then sends a fragment rerun every interval
whether or not the last one finished, like the browser's timer.

For each level (default 10, 25 and 50 concurrent sessions; the first ``--training`` of them train live):

- errors: exceptions drawn in a page, compile errors, runs that never finish, dropped sockets;
- p50 / p95 time from a control change to that rerun's ``script_finished`` (and the same for training
  ticks, with how many ticks finished);
- server RSS (psutil) before, with all sessions connected, growth per session, and after every session
  disconnected and ``server.disconnectedSessionTTL`` passed, with how many sessions the server still holds
  then (a probe loaded into the server as ``sitecustomize`` counts its ``AppSession`` objects on request);
- where time goes: server and load-generator CPU (cores busy), offered runs per second, server CPU per run.

A visitor waits ``--think-min``..``--think-max`` seconds (default 1-4 s) between changes, as a reader
who looks at the chart before the next change; training visitors raise the step cap to its largest value
(so that the run lasts; their changes before may have lowered it), press Play and train ``--train-seconds``,
their timer followed through the full runs that re-time it (a browser keeps ticking after them; a time
without a timer counts as time without a refresh).

Usage (nothing but loopback; the bench starts and stops its own server)::

    .venv/bin/python bench/load.py                        # the app as configured in .streamlit/config.toml
    .venv/bin/python bench/load.py --post-script-gc both  # side by side: runner.postScriptGC true vs false
    .venv/bin/python bench/load.py --levels 5 --training 2 --changes 3 --no-ttl-wait   # a quick look
    .venv/bin/python bench/load.py --levels 50 --training 0 --think-max 1 --no-ttl-wait \
        --pages ratio-clipping --trivial       # one page against the trivial page, same run (issue 11)
    .venv/bin/python bench/load.py --replicas 2 ...     # 2 server processes behind deploy/nginx.conf, as compose runs

With ``--replicas N`` (N > 1) the bench starts N servers and Debian's nginx in front of them with the
production config; each visitor carries its own sticky cookie, as a browser does after its first page, so
the class spreads over the replicas. RSS and server CPU are then summed over the replicas.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import math
import os
import random
import re
import signal
import statistics
import sys
import tempfile
import threading
import time
import tomllib
import urllib.parse
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from tests.nginx_support import find_nginx, nginx_proxy  # noqa: E402
from tests.support import streamlit_server  # noqa: E402  (one way to start and stop the server)

#: The floor a page is compared with (--trivial): one slider and one small Plotly chart.
TRIVIAL_PAGE = ROOT / "bench" / "trivial_chart_page.py"
#: Hard caps so that a typo cannot turn the bench into a flood.
MAX_SESSIONS = 200
MAX_SECONDS = 1800
#: A run that has not finished after this long counts as an error.
RUN_TIMEOUT = 60.0
#: Labels of the control that starts live training (a button, toggle or checkbox on the training page).
TRAIN_LABEL = re.compile(r"^\W*(play|train|start)\b", re.I)
STOP_LABEL = re.compile(r"^\W*(pause|stop)\b", re.I)
CAP_LABEL = re.compile(r"step cap", re.I)  # a trainer raises it to its largest value before it trains
#: Widget kinds a session changes (toggles are checkboxes on the wire).
CHANGEABLE = ("slider", "checkbox", "selectbox", "radio", "number_input")
LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def _protos():
    from streamlit.proto.BackMsg_pb2 import BackMsg
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    return BackMsg, ForwardMsg


# ---------------------------------------------------------------------------------------------------------
# One session


@dataclasses.dataclass
class Widget:
    kind: str
    proto: object  # the element's proto message (Slider, Checkbox, ...)
    value: object  # what this client last sent or the server last drew
    query_key: str = ""
    fragment_id: str = ""  # the fragment that drew it: a change reruns that fragment alone, as in a browser


@dataclasses.dataclass
class RunResult:
    status: int | None = None  # ForwardMsg.ScriptFinishedStatus; None: never finished
    seconds: float = math.nan
    exceptions: list[str] = dataclasses.field(default_factory=list)
    elements: int = 0
    drawn: list[tuple[tuple[int, ...], bytes]] = dataclasses.field(default_factory=list)  # when recording


class Session:
    """One visitor: a WebSocket to /_stcore/stream and the widgets its page shows."""

    def __init__(self, base_url: str, rng: random.Random, record: bool = False):
        self.base_url = base_url
        self.rng = rng
        self.record = record  # keep every element drawn by the current run (tests compare them)
        self.ws = None
        self.reader: asyncio.Task | None = None
        self.widgets: dict[str, Widget] = {}
        self.page_hash = ""
        self.pages: dict[str, str] = {}  # url path -> page_script_hash
        self.query: dict[str, str] = {}
        self.auto_rerun: dict[str, float] = {}  # fragment id -> interval (s)
        self.finished: asyncio.Queue = asyncio.Queue()
        self.current = RunResult()
        self.closed_error: str | None = None
        self.fragment_finishes = 0  # fragment runs that finished having drawn all they draw (status 3)
        self.timer_armed_at = 0.0  # when the last auto_rerun came (the browser then restarts that timer)

    async def connect(self) -> None:
        import websockets

        if urllib.parse.urlsplit(self.base_url).hostname not in LOOPBACK:
            raise ValueError(f"the load bench only talks to loopback servers, not {self.base_url}")
        url = self.base_url.replace("http://", "ws://", 1) + "/_stcore/stream"
        # What a browser carries after its first page load behind deploy/nginx.conf: the sticky cookie that
        # keeps it on one replica (without it every loopback visitor would hash to the same one). A plain
        # `streamlit run` ignores it.
        self.ws = await websockets.connect(url, subprotocols=["streamlit"], max_size=None, open_timeout=30,
                                           ping_interval=None,
                                           additional_headers={"Cookie": f"grpo_replica={os.urandom(8).hex()}"})
        self.reader = asyncio.create_task(self._read())

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
        if self.reader is not None:
            self.reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self.reader

    async def _read(self) -> None:
        import websockets

        _, ForwardMsg = _protos()
        try:
            async for data in self.ws:
                msg = ForwardMsg()
                msg.ParseFromString(data)
                self._handle(msg)
        except websockets.ConnectionClosed as exc:
            self.closed_error = f"socket closed: {exc}"
        finally:
            if self.closed_error is None:
                self.closed_error = "socket closed"
            self.finished.put_nowait(None)

    def _handle(self, msg) -> None:
        kind = msg.WhichOneof("type")
        if kind == "delta" and msg.delta.WhichOneof("type") == "new_element":
            self._element(msg.delta.new_element, msg.delta.fragment_id)
            if self.record:
                self.current.drawn.append((tuple(msg.metadata.delta_path),
                                           msg.delta.new_element.SerializeToString(deterministic=True)))
        elif kind == "navigation":
            self.page_hash = msg.navigation.page_script_hash
            self.pages = {p.url_pathname: p.page_script_hash for p in msg.navigation.app_pages}
        elif kind == "page_info_changed":
            self.query = dict(urllib.parse.parse_qsl(msg.page_info_changed.query_string))
        elif kind == "new_session" and not msg.metadata.run.fragment_ids:
            self.auto_rerun.clear()  # a full run starts: the fragments it draws announce their timers again
        elif kind == "auto_rerun":
            self.auto_rerun[msg.auto_rerun.fragment_id] = msg.auto_rerun.interval
            self.timer_armed_at = time.perf_counter()
        elif kind == "stop_auto_rerun":
            for fragment_id in msg.stop_auto_rerun.fragment_ids:
                self.auto_rerun.pop(fragment_id, None)
        elif kind == "script_finished":
            self.fragment_finishes += msg.script_finished == 3
            self.finished.put_nowait(msg.script_finished)

    def _element(self, element, fragment_id: str = "") -> None:
        kind = element.WhichOneof("type")
        self.current.elements += 1
        if kind == "exception":
            self.current.exceptions.append(f"{element.exception.type}: {element.exception.message}"[:300])
            return
        proto = getattr(element, kind)
        widget_id = getattr(proto, "id", "") if kind in CHANGEABLE + ("button",) else ""
        if not widget_id:
            return
        known, drawn = self.widgets.get(widget_id), _initial_value(kind, proto)
        # A value the script set (from session state) replaces the one the client held, as in a browser;
        # otherwise the client keeps what it last sent.
        value = drawn if known is None or (getattr(proto, "set_value", False) and drawn is not None) else known.value
        self.widgets[widget_id] = Widget(kind, proto, value, getattr(proto, "query_param_key", ""), fragment_id)

    async def send(self, *, page: str | None = None, trigger: Widget | None = None, fragment_id: str = "",
                   auto: bool = True) -> float:
        """Send one rerun_script as the browser does after an interaction (or a fragment's timer tick: ``auto``;
        with ``fragment_id`` and not ``auto``, a change of a control that the fragment drew).

        The ClientState carries every widget value this session holds, the page, the query string, and for a
        button only the one pressed (a trigger). Returns the time it was sent.
        """
        BackMsg, _ = _protos()
        msg = BackMsg()
        state = msg.rerun_script
        if page is not None:
            state.page_name = page
        else:
            state.page_script_hash = self.page_hash
        state.query_string = urllib.parse.urlencode(self.query)
        for widget_id, widget in self.widgets.items():
            if widget.kind == "button":
                if widget is trigger:
                    entry = state.widget_states.widgets.add()
                    entry.id = widget_id
                    entry.trigger_value = True
                continue
            _write_state(state.widget_states.widgets.add(), widget_id, widget)
        if fragment_id:
            state.fragment_id = fragment_id
            state.is_auto_rerun = auto
        while not self.finished.empty():  # a late finish of an earlier run is not this run's
            if self.finished.get_nowait() is None:
                self.finished.put_nowait(None)
                break
        self.current = RunResult()
        started = time.perf_counter()
        await self.ws.send(msg.SerializeToString())
        return started

    async def wait(self, started: float, *, fragment: bool = False, until: float | None = None) -> RunResult:
        """Wait for the run sent at ``started`` to finish, at most until ``until`` (default RUN_TIMEOUT)."""
        deadline = started + RUN_TIMEOUT if until is None else until
        while True:
            try:
                status = await asyncio.wait_for(self.finished.get(), max(0.0, deadline - time.perf_counter()))
            except asyncio.TimeoutError:
                return self.current
            if status is None:
                return self.current
            # A fragment tick that finishes while we wait for a full run is not our run.
            if fragment or status != 3:
                self.current.status = status
                self.current.seconds = time.perf_counter() - started
                return self.current

    async def run(self, *, page: str | None = None, trigger: Widget | None = None) -> RunResult:
        """One full rerun, sent and waited for."""
        return await self.wait(await self.send(page=page, trigger=trigger))

    async def change(self, widget: Widget) -> RunResult:
        """The rerun a browser sends after ``widget`` changed (from :meth:`pick_change`): the fragment that drew
        it alone, or the whole page."""
        if widget.fragment_id:
            sent = await self.send(fragment_id=widget.fragment_id, auto=False)
            result = await self.wait(sent, fragment=True)
        else:
            result = await self.wait(sent := await self.send())
        if result.status == 2:  # a callback's keyed st.rerun: the fragments it names run next, in this change
            result.status = None
            result = await self.wait(sent, fragment=True)
        return result

    def pick_change(self) -> Widget | None:
        """A control this page shows, enabled, with a new valid value set (None when there is none)."""
        choices = [w for w in self.widgets.values() if w.kind in CHANGEABLE and not w.proto.disabled
                   and not (w.kind == "slider" and w.proto.data_type not in (0, 1) and not w.proto.options)]
        self.rng.shuffle(choices)
        for widget in choices:
            value = _new_value(widget, self.rng)
            if value is not None:
                widget.value = value
                if widget.query_key:
                    self.query[widget.query_key] = _query_text(value)
                return widget
        return None

    def find(self, pattern: re.Pattern, kinds=("button", "checkbox")) -> Widget | None:
        for widget in self.widgets.values():
            if widget.kind in kinds and pattern.search(widget.proto.label) and not widget.proto.disabled:
                return widget
        return None


def _initial_value(kind: str, proto):
    if kind == "slider":
        if proto.options:
            # A select_slider set from session state or the URL carries its value as option text
            # (raw_value), not as indices; missing it, the client would send an empty value, which the
            # server reads as the first option (the training page's speed 1, not its 25).
            if proto.set_value and proto.raw_value:
                return list(proto.raw_value)
            return [proto.options[int(i)] for i in (proto.value if proto.set_value else proto.default)]
        return list(proto.value if proto.set_value else proto.default)
    if kind == "checkbox":
        return proto.value if proto.set_value else proto.default
    if kind in ("selectbox", "radio"):
        if proto.set_value and proto.raw_value:
            return proto.raw_value
        return proto.options[proto.default] if proto.HasField("default") and proto.options else None
    if kind == "number_input":
        return proto.value if proto.set_value else proto.default
    return None


def _new_value(widget: Widget, rng: random.Random):
    proto, value = widget.proto, widget.value
    if widget.kind == "checkbox":
        return not value
    if widget.kind in ("selectbox", "radio"):
        others = [o for o in proto.options if o != value]
        return rng.choice(others) if others else None
    if widget.kind == "slider":
        if not value:
            return None
        if proto.options:
            others = [o for o in proto.options if [o] != value]
            return [rng.choice(others)] if others and len(value) == 1 else None
        steps = int(round((proto.max - proto.min) / proto.step)) if proto.step > 0 else 0
        if steps < 1:
            return None
        decimals = max(0, -math.floor(math.log10(proto.step))) + 2 if proto.step < 1 else 0
        grid = lambda k: round(proto.min + k * proto.step, decimals)  # noqa: E731
        if len(value) == 2:
            a, b = sorted(rng.sample(range(steps + 1), 2))
            return [grid(a), grid(b)]
        choice = [grid(k) for k in rng.sample(range(steps + 1), min(steps + 1, 3)) if grid(k) != value[0]]
        return [int(choice[0]) if proto.data_type == 0 else choice[0]] if choice else None
    if widget.kind == "number_input":
        step = proto.step or 1.0
        low = proto.min if proto.has_min else value - 10 * step
        high = proto.max if proto.has_max else value + 10 * step
        steps = int((high - low) / step)
        if steps < 1:
            return None
        new = low + rng.randint(0, steps) * step
        new = int(round(new)) if proto.data_type == 0 else round(new, 10)
        return new if new != value else None
    return None


def _write_state(entry, widget_id: str, widget: Widget) -> None:
    entry.id = widget_id
    value = widget.value
    if value is None:
        return
    if widget.kind == "slider":
        if widget.proto.options:
            entry.string_array_value.data[:] = [str(v) for v in value]
        else:
            entry.double_array_value.data[:] = [float(v) for v in value]
    elif widget.kind == "checkbox":
        entry.bool_value = bool(value)
    elif widget.kind in ("selectbox", "radio"):
        entry.string_value = str(value)
    elif widget.kind == "number_input":
        entry.double_value = float(value)
    elif widget.kind == "plotly_chart":  # a chart's selection (the client never makes one; tests do)
        entry.string_value = json.dumps(value)


def _query_text(value) -> str:
    if isinstance(value, list):
        value = value[0] if len(value) == 1 else ",".join(map(str, value))
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


# ---------------------------------------------------------------------------------------------------------
# A visitor's script


@dataclasses.dataclass
class Plan:
    page: str
    changes: int
    train_seconds: float  # 0: does not train


@dataclasses.dataclass
class SessionStats:
    change_seconds: list[float] = dataclasses.field(default_factory=list)
    open_seconds: list[float] = dataclasses.field(default_factory=list)
    tick_seconds: list[float] = dataclasses.field(default_factory=list)
    ticks_sent: int = 0
    errors: list[str] = dataclasses.field(default_factory=list)
    trained: bool = False
    refreshes_per_s: float | None = None  # a trainer's finished ticks (chart refreshes) per second of playing
    done: bool = False  # played its script (it then stays connected until the level ends)


def _check(result: RunResult, what: str, stats: SessionStats) -> bool:
    for text in result.exceptions:
        stats.errors.append(f"{what}: exception in page: {text}")
    if result.status is None:
        stats.errors.append(f"{what}: run did not finish")
        return False
    if result.status == 1:
        stats.errors.append(f"{what}: compile error")
        return False
    return not result.exceptions


async def visit(base_url: str, plan: Plan, seed: int, hold: asyncio.Event, stats: SessionStats,
                think: tuple[float, float]) -> None:
    rng = random.Random(seed)
    session = Session(base_url, rng)
    try:
        await session.connect()
        result = await session.run(page=plan.page)
        if _check(result, f"open {plan.page or 'home'}", stats):
            stats.open_seconds.append(result.seconds)
        for i in range(plan.changes):
            await asyncio.sleep(rng.uniform(*think))
            widget = session.pick_change()
            if widget is None:
                break
            result = await session.change(widget)
            if _check(result, f"change {widget.kind} {widget.proto.label!r}", stats) and result.status in (0, 3):
                stats.change_seconds.append(result.seconds)
        if plan.train_seconds > 0:
            await _train(session, plan, stats, rng)
        if session.closed_error:
            stats.errors.append(session.closed_error)
        stats.done = True
        await hold.wait()  # stay connected until every session is done (RSS with all of them alive)
    except Exception as exc:  # noqa: BLE001 - a bench reports, it does not stop at the first failure
        stats.errors.append(f"{type(exc).__name__}: {exc}"[:300])
    finally:
        stats.done = True
        await session.close()


async def tick_like_a_browser(session: Session, deadline: float, stats: SessionStats) -> None:
    """Be the browser's timer for the page's ``run_every`` fragment until ``deadline``: a tick every interval,
    whether or not the last one finished, the first one an interval after the server (re)announced the
    timer (a full run re-arms it; during one there is none). The ticks answered within their interval go
    into ``stats.tick_seconds``; a finish of the last tick read just after this one was sent is taken for
    this one's, so under load those times lean short (the refresh count does not depend on them).

    A status 2 never stops the timer: it is either a run whose drawing the next tick dropped or a tick
    that asked for a full run (re-timing), whose start removes the timer until the run announces it
    again. (Following a status 2 to "its" full run, as this client once did, waited out RUN_TIMEOUT when
    the status came from the client's own queued tick: 60 s without a tick, for 9 of 20 trainers in one
    run.)"""
    armed, next_tick = -1.0, 0.0
    while time.perf_counter() < deadline and not session.closed_error:
        if not session.auto_rerun:  # no timer now (a full run is redrawing the page): a browser shows no
            await asyncio.sleep(0.05)  # refresh until the run announces the timer again
            continue
        fragment_id, interval = next(iter(session.auto_rerun.items()))
        if session.timer_armed_at != armed:
            armed = session.timer_armed_at
            next_tick = armed + interval
        await asyncio.sleep(max(0.0, min(next_tick, deadline) - time.perf_counter()))
        if time.perf_counter() >= deadline or session.timer_armed_at != armed or not session.auto_rerun:
            continue  # re-armed (or removed) meanwhile: the old timer never fired
        sent = await session.send(fragment_id=fragment_id)
        stats.ticks_sent += 1
        next_tick = sent + interval
        result = await session.wait(sent, fragment=True, until=next_tick)
        if result.exceptions:
            _check(result, "training tick", stats)
            break
        if result.status == 3:
            stats.tick_seconds.append(result.seconds)


async def _train(session: Session, plan: Plan, stats: SessionStats, rng: random.Random) -> None:
    cap = next((w for w in session.widgets.values() if w.kind == "slider" and CAP_LABEL.search(w.proto.label)
                and not w.proto.disabled), None)
    if cap is not None and cap.value != [cap.proto.max]:  # a run that lasts the whole time (the visitor's
        cap.value = [cap.proto.max]                        # changes before may have lowered the cap)
        if cap.query_key:
            session.query[cap.query_key] = _query_text(cap.value)
        if not _check(await session.change(cap), "raise the step cap", stats):
            return
    start = session.find(TRAIN_LABEL)
    if start is None:
        stats.errors.append(f"no control matching {TRAIN_LABEL.pattern} on {plan.page!r}")
        return
    if start.kind == "checkbox":
        start.value = True
        result = await session.run()
    else:
        result = await session.run(trigger=start)
    if not _check(result, f"start training ({start.proto.label!r})", stats):
        return
    stats.trained = True
    # A chart refresh is a tick's run that finished having drawn (status 3), whenever this client reads it. A
    # tick that lands while the last one runs gets that run's drawing dropped (status 2,
    # tests/test_load_bench.py), so those are not refreshes.
    playing_since, finishes_before = time.perf_counter(), session.fragment_finishes
    await tick_like_a_browser(session, playing_since + plan.train_seconds, stats)
    stats.refreshes_per_s = (session.fragment_finishes - finishes_before) / max(1e-9, time.perf_counter() - playing_since)

    stop = session.find(STOP_LABEL)
    if start.kind == "checkbox":
        start.value = False
        _check(await session.run(), "stop training", stats)
    elif stop is not None:
        _check(await session.run(trigger=stop), f"stop training ({stop.proto.label!r})", stats)


# ---------------------------------------------------------------------------------------------------------
# The server and its memory


#: Loaded into the server (as sitecustomize, via PYTHONPATH) so the bench can ask how many sessions the
#: server still holds. It answers only when asked (a file appears), so it costs nothing between questions.
PROBE_SOURCE = """
import os, threading, time

def _grpo_load_probe(folder):
    import gc
    request, answer = os.path.join(folder, "request"), os.path.join(folder, "answer")
    while True:
        time.sleep(0.1)
        if not os.path.exists(request):
            continue
        os.remove(request)
        try:
            from streamlit.runtime.app_session import AppSession
            count = lambda: sum(1 for o in gc.get_objects() if type(o) is AppSession)
            held = count()
            gc.collect()
            text = f"{held} {count()}"
        except Exception as exc:
            text = f"-1 -1 {exc!r}"
        with open(answer + ".tmp", "w") as f:
            f.write(text)
        os.replace(answer + ".tmp", answer)

if os.environ.get("GRPO_LOAD_PROBE"):
    threading.Thread(target=_grpo_load_probe, args=(os.environ["GRPO_LOAD_PROBE"],), daemon=True).start()
"""


def probe_env(folder: Path) -> dict[str, str]:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "sitecustomize.py").write_text(PROBE_SOURCE)
    path = os.pathsep.join(p for p in (str(folder), os.environ.get("PYTHONPATH", "")) if p)
    return {"PYTHONPATH": path, "GRPO_LOAD_PROBE": str(folder)}


def sessions_held(folder: Path, timeout: float = 30.0) -> tuple[int, int]:
    """AppSession objects alive in the server, as found and after a gc.collect() there (-1: no answer)."""
    answer = folder / "answer"
    answer.unlink(missing_ok=True)
    (folder / "request").write_text("?")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if answer.exists():
            held, collected = answer.read_text().split()[:2]
            return int(held), int(collected)
        time.sleep(0.1)
    return -1, -1


def config_value(section: str, key: str, default):
    path = ROOT / ".streamlit" / "config.toml"
    if not path.exists():
        return default
    return tomllib.loads(path.read_text()).get(section, {}).get(key, default)


@dataclasses.dataclass
class Site:
    """What the sessions talk to: one `streamlit run`, or ``replicas`` of them behind deploy/nginx.conf."""

    base: str  # the URL visitors open (nginx's when there are replicas)
    replicas: list[str]  # each replica's own URL
    pids: list[int]
    probes: list[Path]  # each replica's sitecustomize probe folder (sessions_held)


@contextlib.contextmanager
def site(extra_args: list[str], log_dir: Path, name: str, env: dict[str, str], script: Path | None = None,
         replicas: int = 1):
    """``replicas`` × `streamlit run app/main.py` (or ``script``) on 127.0.0.1:<free port>, and for more than
    one, nginx in front with the production config (tests/nginx_support.py); yields a :class:`Site`; stops
    everything by PID."""
    with contextlib.ExitStack() as stack:
        bases, pids, probes = [], [], []
        for i in range(replicas):
            probe = log_dir / f"probe-{name}-{i}"
            log = log_dir / f"server-{name}-{i}.log"
            base, proc = stack.enter_context(streamlit_server(
                extra_args=extra_args, env={**probe_env(probe), **env}, log_path=log, timeout=90,
                **({"script": script} if script else {})))
            bases.append(base)
            pids.append(proc.pid)
            probes.append(probe)
        front = bases[0]
        if replicas > 1:
            front = stack.enter_context(nginx_proxy(log_dir / f"nginx-{name}",
                                                    [urllib.parse.urlsplit(b).netloc for b in bases]))
        yield Site(front, bases, pids, probes)


class RssSampler:
    """Samples the resident memory of the server processes (summed) every ``period`` seconds in a thread;
    keeps the peak."""

    def __init__(self, pids: list[int], period: float = 0.25):
        import psutil

        self.processes = [psutil.Process(pid) for pid in pids]
        self.period = period
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def now(self) -> int:
        return sum(p.memory_info().rss for p in self.processes)

    def _loop(self) -> None:
        while not self._stop.wait(self.period):
            with contextlib.suppress(Exception):
                self.peak = max(self.peak, self.now())

    def __enter__(self):
        self.peak = self.now()
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def pages_of(base_url: str) -> list[str]:
    """The app's URL paths ("" is the default page), read from the server's navigation message."""

    async def go():
        session = Session(base_url, random.Random(0))
        await session.connect()
        try:
            await session.run(page="")
            return list(session.pages)
        finally:
            await session.close()

    return asyncio.run(go())


def open_page(base_url: str, page: str = "", query: str = "", timeout: float = RUN_TIMEOUT) -> RunResult:
    """Open one page once as a browser would; return how the run ended (for smoke tests)."""

    async def go():
        session = Session(base_url, random.Random(0))
        await session.connect()
        try:
            session.query = dict(urllib.parse.parse_qsl(query))
            return await asyncio.wait_for(session.run(page=page), timeout)
        finally:
            await session.close()

    return asyncio.run(go())


# ---------------------------------------------------------------------------------------------------------
# Levels and the report


def percentile(values: list[float], q: float) -> float:
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q / 100 * len(ordered)) - 1))]


@dataclasses.dataclass
class LevelReport:
    sessions: int
    training: int
    trained: int
    errors: list[str]
    change: list[float]
    opened: list[float]
    ticks: list[float]
    ticks_sent: int
    rss_before: int
    rss_loaded: int
    rss_peak: int
    rss_after: int | None
    seconds: float
    held_after: tuple[int, int] | None = None  # sessions alive after the TTL: as found, after gc.collect()
    server_cpu: float = 0.0  # CPU seconds the server used during the level
    client_cpu: float = 0.0  # CPU seconds this load generator used during the level
    machine_cpu: float = 0.0  # CPU seconds every process on the machine used during the level
    replica_cpu: list[float] = dataclasses.field(default_factory=list)  # the server CPU seconds, per replica
    steal: float = 0.0  # CPU seconds the hypervisor gave other guests during the level (part of machine_cpu)
    sessions_per_replica: list[int] = dataclasses.field(default_factory=list)  # behind nginx: this level's, each
    trainer_rates: list[float] = dataclasses.field(default_factory=list)  # refreshes/s of each trainer
    others_change: list[float] = dataclasses.field(default_factory=list)  # changes of the visitors not training


async def run_level(web: Site, n: int, training: int, pages: list[str], args) -> LevelReport:
    plain_pages = [p for p in pages if p != args.training_page] or pages
    plans = []
    for i in range(n):
        trains = i < training and args.training_page in pages
        page = args.training_page if trains else plain_pages[i % len(plain_pages)]
        # A trainer presses Play as it opens the page, so that the others' changes meet the training load.
        plans.append(Plan(page, 0 if trains else args.changes, args.train_seconds if trains else 0.0))
    hold = asyncio.Event()
    stats = [SessionStats() for _ in plans]
    # Behind nginx: how many of this level's sessions each replica holds (its AppSessions now minus before).
    held_before = [sessions_held(probe, 10)[0] for probe in web.probes] if len(web.probes) > 1 else []
    with RssSampler(web.pids) as rss:
        before = rss.now()
        cpu_replicas = [_cpu([p]) for p in rss.processes]
        cpu_client, cpu_machine = time.process_time(), _machine_cpu()
        started = time.perf_counter()
        tasks = []
        for i, plan in enumerate(plans):
            tasks.append(asyncio.create_task(visit(web.base, plan, args.seed * 1000 + i, hold, stats[i],
                                                   (args.think_min, args.think_max))))
            await asyncio.sleep(args.ramp / max(1, n))  # visitors arrive over --ramp seconds, not all at once
        level_deadline = started + args.level_timeout
        # Wait (bounded) until every visitor has played its script and parked on `hold`.
        while time.perf_counter() < level_deadline and not all(s.done for s in stats):
            await asyncio.sleep(0.25)
        seconds = time.perf_counter() - started
        replica_cpu = [_cpu([p]) - c for p, c in zip(rss.processes, cpu_replicas)]
        server_cpu, client_cpu = sum(replica_cpu), time.process_time() - cpu_client
        machine_now = _machine_cpu()
        machine_cpu, steal = machine_now[0] - cpu_machine[0], machine_now[1] - cpu_machine[1]
        loaded = rss.now()
        per_replica = [sessions_held(probe, 10)[0] - before_n for probe, before_n in zip(web.probes, held_before)]
        hold.set()
        results = await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 60)
        peak = rss.peak
    errors = [e for s in stats for e in s.errors] + [repr(r) for r in results if isinstance(r, Exception)]
    if time.perf_counter() >= level_deadline:
        errors.append(f"level did not finish within --level-timeout {args.level_timeout:.0f}s")
    return LevelReport(n, sum(1 for p in plans if p.train_seconds), sum(s.trained for s in stats), errors,
                       [x for s in stats for x in s.change_seconds], [x for s in stats for x in s.open_seconds],
                       [x for s in stats for x in s.tick_seconds], sum(s.ticks_sent for s in stats),
                       before, loaded, peak, None, seconds, server_cpu=server_cpu, client_cpu=client_cpu, machine_cpu=machine_cpu, steal=steal, replica_cpu=replica_cpu,
                       sessions_per_replica=per_replica,
                       trainer_rates=[s.refreshes_per_s for s in stats if s.refreshes_per_s is not None],
                       others_change=[x for s, p in zip(stats, plans) if not p.train_seconds for x in s.change_seconds])


def _machine_cpu() -> tuple[float, float]:
    """CPU seconds busy on the machine (every process), and of them stolen by the hypervisor for other
    guests: on a shared VM a level that lost a third of its cores to steal is not comparable to one that
    did not."""
    import psutil

    times = psutil.cpu_times()
    return sum(times) - times.idle - getattr(times, "iowait", 0.0), getattr(times, "steal", 0.0)


def _cpu(processes) -> float:
    return sum(t.user + t.system for t in (p.cpu_times() for p in processes))


def after_ttl(web: Site, ttl: float) -> tuple[int, tuple[int, int]]:
    """RSS (summed over replicas), and sessions the servers hold, once every session of the level has been
    gone longer than the TTL."""
    import psutil

    time.sleep(ttl + 3)
    # Streamlit drops expired sessions on the next write to its session store: one short visit to each
    # replica does it (that visit's own session is then held for a TTL, so one session per replica is the floor).
    for base in web.replicas:
        with contextlib.suppress(Exception):
            open_page(base, timeout=30)
    time.sleep(2)
    rss = sum(psutil.Process(pid).memory_info().rss for pid in web.pids)
    held = [sessions_held(probe) for probe in web.probes]
    if any(h[0] < 0 for h in held):
        return rss, (-1, -1)
    return rss, (sum(h[0] for h in held), sum(h[1] for h in held))


def mib(n: int | None) -> str:
    return "-" if n is None else f"{n / 2**20:.0f}"


def ms(x: float) -> str:
    return "-" if math.isnan(x) else f"{x * 1000:.0f}"


def print_report(label: str, reports: list[LevelReport]) -> None:
    print(f"\n== {label}")
    print(f"{'sessions':>8} {'train':>6} {'errors':>6} {'changes':>7} {'p50 ms':>7} {'p95 ms':>7} "
          f"{'open p95':>8} {'ticks ok/sent':>13} {'tick p50':>8} {'tick p95':>8} {'RSS0 MiB':>8} "
          f"{'RSS N':>6} {'peak':>6} {'MiB/sess':>8} {'after TTL':>9} {'wall s':>6} {'server CPU':>10} {'client CPU':>10} {'all CPU':>7}")
    print(f"  (latencies in ms; RSS in MiB; CPU in cores busy over the level's wall time, of {os.cpu_count()}; "
          f"'all CPU' counts every process on the machine)")
    for r in reports:
        per = (r.rss_loaded - r.rss_before) / 2**20 / r.sessions
        print(f"{r.sessions:>8} {r.trained:>3}/{r.training:<2} {len(r.errors):>6} {len(r.change):>7} "
              f"{ms(percentile(r.change, 50)):>7} {ms(percentile(r.change, 95)):>7} "
              f"{ms(percentile(r.opened, 95)):>8} {len(r.ticks):>6}/{r.ticks_sent:<6} "
              f"{ms(percentile(r.ticks, 50)):>8} {ms(percentile(r.ticks, 95)):>8} {mib(r.rss_before):>8} "
              f"{mib(r.rss_loaded):>6} {mib(r.rss_peak):>6} {per:>8.2f} {mib(r.rss_after):>9} {r.seconds:>6.1f} "
              f"{r.server_cpu / r.seconds:>10.2f} {r.client_cpu / r.seconds:>10.2f} "
              f"{r.machine_cpu / r.seconds:>7.2f}")
    for r in reports:
        if r.held_after is not None:
            print(f"   [{r.sessions}] after the TTL the server holds {r.held_after[0]} session(s) "
                  f"({r.held_after[1]} after a gc.collect() there); RSS {mib(r.rss_after)} MiB vs {mib(r.rss_before)} "
                  f"before the level and {mib(r.rss_loaded)} with all {r.sessions} connected")
    for r in reports:
        runs = len(r.change) + len(r.opened) + r.ticks_sent
        print(f"   [{r.sessions}] offered {runs / r.seconds:.1f} runs/s ({len(r.change)} changes, {len(r.opened)} opens, "
              f"{r.ticks_sent} training ticks) in {r.seconds:.1f}s; server CPU {1000 * r.server_cpu / max(1, runs):.0f} ms "
              f"per run on average; stolen by the hypervisor {r.steal / r.seconds:.2f} cores" + ("; cores busy per replica " + " / ".join(f"{c / r.seconds:.2f}" for c in r.replica_cpu)
                                        + "; sessions per replica " + " / ".join(str(n) for n in r.sessions_per_replica)
                                       if len(r.replica_cpu) > 1 else ""))
    for r in reports:
        if r.trainer_rates:
            rates = sorted(r.trainer_rates)
            fairest = statistics.fmean(rates)
            print(f"   [{r.sessions}] {len(rates)} trainers' chart refreshes/s: min {rates[0]:.2f}, median "
                  f"{statistics.median(rates):.2f}, max {rates[-1]:.2f}; slowest / fairest (the mean) "
                  f"{rates[0] / fairest if fairest else 0:.2f}; the {r.sessions - r.training} others' changes p95 "
                  f"{ms(percentile(r.others_change, 95))} ms")
    for r in reports:
        for error in sorted(set(r.errors))[:8]:
            print(f"   [{r.sessions}] {error}")


def run_config(label: str, extra_args: list[str], env: dict[str, str], args, log_dir: Path,
               script: Path | None = None) -> list[LevelReport]:
    name = re.sub(r"[^a-z0-9]+", "-", label.lower()).strip("-")
    ttl = float(config_value("server", "disconnectedSessionTTL", 120))
    for flag, value in zip(extra_args[::2], extra_args[1::2]):
        if flag == "--server.disconnectedSessionTTL":
            ttl = float(value)
    reports = []
    env = {**dict(item.split("=", 1) for item in args.env), **env}
    with site(extra_args, log_dir, name, env, script, args.replicas) as web:
        pages = pages_of(web.base) or [""]  # a script without st.navigation announces no pages
        if args.pages and script is None:
            unknown = sorted(set(args.pages) - set(pages))
            if unknown:
                raise SystemExit(f"--pages: no such page {unknown}; the app has {pages}")
            pages = args.pages
        # Warm up: every page once on every replica, so imports and first-run caches are not charged to
        # the first level.
        for base in web.replicas:
            for page in pages:
                open_page(base, page)
        for n in args.levels:
            training = min(n, args.training)
            report = asyncio.run(run_level(web, n, training, pages, args))
            if not args.no_ttl_wait:
                report.rss_after, report.held_after = after_ttl(web, ttl)
            reports.append(report)
            print(f"[{label}] {n} sessions: {len(report.errors)} errors, p95 {ms(percentile(report.change, 95))} ms",
                  file=sys.stderr, flush=True)
    print(f"(server logs: {log_dir}/server-{name}-*.log)", file=sys.stderr)
    return reports


def _out_of_time(*_):
    raise TimeoutError("--max-seconds reached")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--levels", type=int, nargs="+", default=[10, 25, 50])
    parser.add_argument("--training", type=int, default=10, help="sessions per level that train live")
    parser.add_argument("--training-page", default="training", help="URL path of the live-training page")
    parser.add_argument("--changes", type=int, default=5, help="control changes per session")
    parser.add_argument("--train-seconds", type=float, default=10.0, help="how long a training session trains")
    parser.add_argument("--think-min", type=float, default=1.0, help="seconds between a visitor's changes (min)")
    parser.add_argument("--think-max", type=float, default=4.0, help="seconds between a visitor's changes (max)")
    parser.add_argument("--ramp", type=float, default=2.0, help="seconds over which a level's visitors arrive")
    parser.add_argument("--level-timeout", type=float, default=240.0)
    parser.add_argument("--no-ttl-wait", action="store_true", help="skip the RSS-after-TTL measurement")
    parser.add_argument("--post-script-gc", choices=["config", "true", "false", "both"], default="config",
                        help="runner.postScriptGC for the server: as in config.toml, forced, or both side by side")
    parser.add_argument("--run-slots", choices=["config", "both"], default="config",
                        help="both: the same levels with app/run_slots.py's gate (one run computes at a time) and "
                             "without it (GRPO_RUN_SLOTS=0), side by side")
    parser.add_argument("--env", action="append", default=[], metavar="KEY=VALUE",
                        help="environment variable for the server (repeatable), e.g. MALLOC_ARENA_MAX=2")
    parser.add_argument("--replicas", type=int, default=1,
                        help="server processes; more than 1 puts deploy/nginx.conf (Debian's nginx) in front of "
                             "them, as docker-compose.yml does (each visitor sticks to one by its cookie)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--pages", nargs="+", metavar="URL_PATH",
                        help="only these pages (URL paths; '' is the default page); sessions take them in turn")
    parser.add_argument("--trivial", action="store_true",
                        help=f"also run the levels against {TRIVIAL_PAGE.relative_to(ROOT)} (one slider, one small "
                             "chart, same settings) and print each level's p95 as a multiple of its p95")
    parser.add_argument("--max-seconds", type=float, default=MAX_SECONDS, help="hard wall-clock cap")
    args = parser.parse_args(argv)
    if max(args.levels) > MAX_SESSIONS or min(args.levels) < 1:
        parser.error(f"levels must be between 1 and {MAX_SESSIONS}")
    if not 1 <= args.replicas <= 8:
        parser.error("--replicas must be between 1 and 8")
    if args.replicas > 1 and find_nginx() is None:
        parser.error("--replicas > 1 needs Debian's nginx in front of them (apt-get install -y nginx)")
    args.max_seconds = min(args.max_seconds, MAX_SECONDS)
    # The whole bench is bounded: an alarm ends it (and its server, via the context managers) at the cap.
    signal.signal(signal.SIGALRM, _out_of_time)
    signal.alarm(int(args.max_seconds))
    # A `timeout` or Ctrl-C from outside unwinds the same way, so the servers (own process groups) stop too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    # Each configuration: (label, server flags, server environment).
    configs = {"config": [("as configured", [], {})],
               "true": [("postScriptGC=true", ["--runner.postScriptGC", "true"], {})],
               "false": [("postScriptGC=false", ["--runner.postScriptGC", "false"], {})]}
    configs["both"] = configs["true"] + configs["false"]
    if args.run_slots == "both":
        args.post_script_gc = "slots"
        configs["slots"] = [("one run at a time (run_slots)", [], {}),
                            ("runs all at once (GRPO_RUN_SLOTS=0)", [], {"GRPO_RUN_SLOTS": "0"})]
    print(f"GRPO Explorer load bench: {os.cpu_count()} CPUs, levels {args.levels}, {args.changes} changes per "
          f"session, {args.training} training for {args.train_seconds:.0f}s, think "
          f"{args.think_min}-{args.think_max}s, TTL wait {'off' if args.no_ttl_wait else 'on'}, "
          f"{args.replicas} server process{'es behind nginx' if args.replicas > 1 else ''}")
    results = {}
    with tempfile.TemporaryDirectory(prefix="grpo-load-") as tmp:
        for label, extra, env in configs[args.post_script_gc]:
            results[label] = run_config(label, extra, env, args, Path(tmp))
            print_report(label, results[label])
        if args.trivial:
            label = "trivial page (one slider, one small chart)"
            _, extra, env = configs[args.post_script_gc][0]
            trivial = run_config(label, extra, env, args, Path(tmp), script=TRIVIAL_PAGE)
            print_report(label, trivial)
            print(f"\n== side by side: the app ({next(iter(results))}) / the trivial page, same run "
                  "(issue 11's target 3: 0 errors, p95 <= 250 ms and <= 4x the trivial page's)")
            for a, b in zip(next(iter(results.values())), trivial):
                pa, pb = percentile(a.change, 95), percentile(b.change, 95)
                print(f"  {a.sessions:>3} sessions: change p95 {ms(pa)} / {ms(pb)} ms = {pa / pb:.2f}x; "
                      f"errors {len(a.errors)} / {len(b.errors)}")
            results[label] = trivial
        if len(results) == 2 and not args.trivial:
            (la, ra), (lb, rb) = results.items()
            print(f"\n== side by side ({la} / {lb}, same run)")
            for a, b in zip(ra, rb):
                for q in (50, 95):
                    pa, pb = percentile(a.change, q), percentile(b.change, q)
                    print(f"  {a.sessions:>3} sessions: change p{q} {ms(pa)} / {ms(pb)} ms = {pa / pb:.2f}x")
        logs = sorted(Path(tmp).glob("*.log"))
        for path in logs:
            text = path.read_text(errors="replace")
            if "Traceback" in text:
                print(f"\n-- {path.name}: server tracebacks (last 3000 chars)\n{text[-3000:]}")
    bad = sum(len(r.errors) for rs in results.values() for r in rs)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
