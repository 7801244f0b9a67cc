"""How often the live-training page refreshes while it plays, alone or with other runs on the server (no
Streamlit here).

While playing, the browser asks for a refresh every ``interval`` seconds whether or not the last one has
finished, and a request that lands mid-refresh waits for it, but what that refresh drew is then never
sent (tests/test_load_bench.py): once a refresh takes longer than the interval, the charts starve while
the server still pays for every refresh. So the interval follows the server time of the
last few refreshes, with headroom, and changes only when it is clearly off, because changing it takes a
full rerun of the page (the rerun that re-arms the browser's timer). When several runs play on one
server (a class), each one's interval also leaves room for the others' (:class:`ActiveRuns`): a run timed
for itself alone would have every refresh dropped by the next request once twenty play at once.
"""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Sequence

#: The fastest refresh: 5 a second. The browser's timer fires late when its main thread is busy and never
#: catches up: 0.25 s gave 3.2-3.7 chart refreshes/s in Chromium here, 0.2 s gives 4.0-5.3
#: (tests/browser/test_training_browser.py and bench/bench_browser.py print it).
REFRESH_SECONDS = 0.2
#: Under heavy load refreshes slow down to this rather than starve.
MAX_REFRESH_SECONDS = 2.0
#: The interval is this many times a refresh's server time: slack for the browser and for other visitors.
HEADROOM = 1.3
#: Refreshes whose server time is remembered; their median decides, so one slow refresh (a GC pause, the
#: first refresh after a rerun) does not re-time the page.
WINDOW = 5
#: The share of one core that all live runs of a server ask for together (the rest is for the other
#: visitors; Python runs one script thread at a time, so one core is what the server has for scripts).
LIVE_SHARE = 0.7
#: Refreshes whose CPU times are remembered for the runs' shared interval: one refresh's CPU time is often
#: twice the next one's (5-12 ms here), and the median of five flipped between the two, re-timing 20 runs
#: playing together on one process 129 times in 60 s, each a full run of the page (bench/load.py,
#: 2026-12-05); :func:`typical_cpu` of fifteen, 59 times.
CPU_WINDOW = 15
#: What a refresh costs the server besides its script's own CPU (Streamlit starting the run, handling the
#: session's state, packing and sending what it drew). 2026-12-05, 20 runs playing alone on one process
#: (bench/load.py --levels 20 --training 20): 9.8 ms of the process's CPU per refresh, 6.7 ms of it the script's.
TICK_OVERHEAD_SECONDS = 0.003
#: A refresh's server time before one has been measured (training for its budget and drawing, one visitor).
TYPICAL_TICK_SECONDS = 0.06
#: At most one re-time per this many seconds of a timer: a re-time is a full run of the page (25-45 ms of
#: server time, holding the run slot that other visitors' changes wait for) and restarts the browser's
#: timer. Without it, 20 runs playing on two replicas under bench/load.py re-timed 20-46 times each in 30 s.
MIN_RETIME_SECONDS = 3.0
#: Re-time when the wanted interval is this much longer than the current one (close to starving)...
SLOWER_AT = 1.25
#: ...or this much shorter (the load has gone: back to fast refreshes).
FASTER_AT = 1.2


def typical_work(recent_work: Sequence[float]) -> float:
    """The median of the last :data:`WINDOW` refreshes' server times (seconds; ``recent_work`` non-empty)."""
    return statistics.median(recent_work[-WINDOW:])


def typical_cpu(recent_cpu: Sequence[float]) -> float:
    """The mean of the middle three fifths of the last :data:`CPU_WINDOW` refreshes' CPU times (seconds;
    non-empty): steady when they alternate between two costs, where a median flips from one to the other,
    and deaf to the odd long one (a garbage collection)."""
    recent = sorted(recent_cpu[-CPU_WINDOW:])
    cut = len(recent) // 5
    middle = recent[cut:len(recent) - cut]
    return sum(middle) / len(middle)


def wanted_interval(recent_work: Sequence[float], active: int = 1, recent_cpu: Sequence[float] = ()) -> float:
    """The interval for refreshes whose server times (seconds, newest last) were ``recent_work``, when
    ``active`` runs play on the server: each run's refreshes leave room for the others', so that together
    they ask for at most :data:`LIVE_SHARE` of one core (``ActiveRuns``).

    What a refresh costs the core is the CPU its script used (``recent_cpu``, seconds, newest last) plus
    :data:`TICK_OVERHEAD_SECONDS`, when measured; its wall time is not: under a class's load it is mostly
    waiting for the other sessions' scripts, and as noisy as their arrivals."""
    work = typical_work(recent_work) if recent_work else TYPICAL_TICK_SECONDS
    own = HEADROOM * work if recent_work else REFRESH_SECONDS
    cost = typical_cpu(recent_cpu) + TICK_OVERHEAD_SECONDS if recent_cpu else work
    shared = active * cost / LIVE_SHARE if active > 1 else 0.0  # a lone run may use the core it finds free
    return min(MAX_REFRESH_SECONDS, max(REFRESH_SECONDS, own, shared))


def starves(current: float, recent_work: Sequence[float]) -> bool:
    """Whether refreshes that took ``recent_work`` seconds (newest last) outlast an interval of ``current``:
    then the next tick drops what most of them drew, and waiting out :data:`MIN_RETIME_SECONDS` would only
    delay the chart (a heavy configuration's one step can take 1.7 s)."""
    return bool(recent_work) and typical_work(recent_work) > current


def should_retime(current: float, wanted: float, timed_for: float = MIN_RETIME_SECONDS,
                  starving: bool = False) -> bool:
    """Whether an interval of ``current`` seconds, set ``timed_for`` seconds ago, is far enough from
    ``wanted`` to re-arm the timer, and has run long enough (:data:`MIN_RETIME_SECONDS`) or is
    ``starving`` (:func:`starves`)."""
    far = wanted > SLOWER_AT * current or wanted * FASTER_AT < current
    return far and (starving or timed_for >= MIN_RETIME_SECONDS)


def remember(recent_work: list[float], seconds: float, window: int = WINDOW) -> list[float]:
    """``recent_work`` with ``seconds`` appended, the last ``window`` kept."""
    return [*recent_work, seconds][-window:]


class ActiveRuns:
    """The live runs playing on this server (one process, every session): a refresh reports its session
    with :meth:`tick` and learns how many sessions ticked within the last ``window`` seconds (longer than the longest interval), so that the
    runs share the server's training time instead of each taking it all (20 runs each training 50 ms a
    refresh, 5 refreshes a second, would ask for 5 CPU-seconds a second). Thread-safe: each session's
    script runs in its own thread."""

    def __init__(self, window: float = 2.5):
        self.window = window
        self._last: dict[str, float] = {}
        self._lock = threading.Lock()

    def tick(self, session: str, now: float | None = None) -> int:
        """Record that ``session`` refreshes now; the number of sessions that did within the window."""
        now = time.monotonic() if now is None else now
        with self._lock:
            self._last[session] = now
            for other, last in list(self._last.items()):
                if now - last > self.window:
                    del self._last[other]
            return len(self._last)


def training_budget(budget: float, active: int) -> float:
    """One refresh's training time when ``active`` runs play: a lone run's ``budget`` split evenly, so that
    under a class's load a refresh spends its time drawing rather than training (a refresh still trains one
    step however small its share: Trainer.advance never cuts a step short)."""
    return budget / max(1, active)
