"""How often the live-training page refreshes while it plays (pure functions: no Streamlit here).

While playing, the browser asks for a refresh every ``interval`` seconds whether or not the last one has
finished, and a request that lands mid-refresh cuts that refresh off (shared/stack-notes.md): once a
refresh takes longer than the interval, the charts starve. So the interval follows the server time of the
last few refreshes, with headroom, and changes only when it is clearly off, because changing it takes a
full rerun of the page (the rerun that re-arms the browser's timer).
"""

from __future__ import annotations

import statistics
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
#: Re-time when the wanted interval is this much longer than the current one (close to starving)...
SLOWER_AT = 1.25
#: ...or this much shorter (the load has gone: back to fast refreshes).
FASTER_AT = 1.2


def wanted_interval(recent_work: Sequence[float]) -> float:
    """The interval for refreshes whose server times (seconds, newest last) were ``recent_work``."""
    if not recent_work:
        return REFRESH_SECONDS
    return min(MAX_REFRESH_SECONDS, max(REFRESH_SECONDS, HEADROOM * statistics.median(recent_work[-WINDOW:])))


def should_retime(current: float, wanted: float) -> bool:
    """Whether an interval of ``current`` seconds is far enough from ``wanted`` to re-arm the timer."""
    return wanted > SLOWER_AT * current or wanted * FASTER_AT < current


def remember(recent_work: list[float], seconds: float) -> list[float]:
    """``recent_work`` with ``seconds`` appended, the last :data:`WINDOW` kept."""
    return [*recent_work, seconds][-WINDOW:]
