"""One script run computes at a time in this server process; the others wait, asleep (issue 11).

Streamlit gives every session's run its own thread, and all of them share one interpreter lock with the
thread that sends their messages (the server's event loop). With 50 runs started at once, the event loop
gets the lock about once in 50 hand-offs, so every run's finished page waits in its queue: measured with
``bench/load.py`` (50 sessions), the server used 0.6 of a core while changes waited a second and more, and
py-spy found the script threads waiting for the lock, not computing. A run waiting here is blocked on a
semaphore: it does not compete for the lock, and the event loop sends what the running one drew at once.
"""

from __future__ import annotations

import contextlib
import functools
import os
import threading
from collections.abc import Iterator


def slots_setting(text: str | None) -> int:
    """``GRPO_RUN_SLOTS`` read: unset or empty is 1; a whole number 0 to 64, else a ValueError that names
    the setting (an operator's typo stops the server at start with this sentence, not a bare traceback)."""
    if text is None or not text.strip():
        return 1
    try:
        slots = int(text)  # surrounding spaces allowed, as int() allows them
    except ValueError:
        slots = -1
    if not 0 <= slots <= 64:
        raise ValueError(f"GRPO_RUN_SLOTS must be a whole number from 0 (no gate) to 64; got {text!r}")
    return slots


#: How many runs compute at once; a run nested in another (a page's section in its full run) reuses its slot.
#: ``GRPO_RUN_SLOTS=0`` turns the gate off (``bench/load.py --run-slots both`` measures with and without it).
SLOTS = slots_setting(os.environ.get("GRPO_RUN_SLOTS"))
_slots = threading.BoundedSemaphore(SLOTS) if SLOTS > 0 else None
_held = threading.local()


@contextlib.contextmanager
def run_slot() -> Iterator[None]:
    """Hold this process's run slot while the block runs (re-entrant within one thread)."""
    depth = getattr(_held, "depth", 0)
    if depth or _slots is None:
        _held.depth = depth + 1
        try:
            yield
        finally:
            _held.depth = depth
        return
    with _slots:
        _held.depth = 1
        try:
            yield
        finally:
            _held.depth = 0


def one_at_a_time(draw):
    """Decorator: ``draw`` runs holding the run slot (a fragment's function: its reruns skip ``app/main.py``)."""

    @functools.wraps(draw)
    def held(*args, **kwargs):
        with run_slot():
            return draw(*args, **kwargs)

    return held
