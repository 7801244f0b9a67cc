"""No state is shared between visitors, at the protocol level, on every page: two sessions changing
controls at the same time each see only their own values.

Two WebSocket sessions (Streamlit's own protocol, bench/load.py's client) open the same page on one real
server and change its controls concurrently, round after round. After every round a third session is
given exactly the widget values one of them holds and must draw exactly what that session was drawn.
Elements that differ between two identical runs of the third session (a timer, say) are left out.
(tests/test_isolation.py checks the same property with AppTest and two browsers on one slider.)
"""

from __future__ import annotations

import asyncio
import random
import time

import pytest

from tests.support import streamlit_server

pytestmark = pytest.mark.slow

ROUNDS = 5
#: Pages that keep what buttons did in the session, which a fresh session given only the widget values cannot
#: replay: live training (a run's history), lessons (the answers revealed by its Reveal buttons).
STATEFUL_PAGES = {"training", "lessons"}


#: Delta paths start with the container: 0 the main area, 1 the sidebar. The sidebar holds only the app's
#: "Link for my class" builder, whose link quotes the session's URL (the bound widgets' values as the browser
#: wrote them), which a fresh session given the widget values alone does not have.
SIDEBAR = 1


def _drawn(result) -> dict:
    return {path: element for path, element in dict(result.drawn).items() if path[0] != SIDEBAR}


async def _reference(base_url: str, page: str, source) -> tuple[dict, set]:
    """What a fresh session draws with ``source``'s widget values, and the paths that vary run to run."""
    from bench.load import Session

    session = Session(base_url, random.Random(0), record=True)
    await session.connect()
    try:
        await session.run(page=page)
        for widget_id, widget in source.widgets.items():
            if widget_id in session.widgets and widget.kind != "button":
                session.widgets[widget_id].value = widget.value
        # Once to take the values (a callback may then rerun sections alone), then twice as they are.
        if (await session.run()).status == 2:
            await session.wait(time.perf_counter(), fragment=True)
        first = _drawn(await session.run())
        second = _drawn(await session.run())
        noisy = {path for path in first.keys() | second.keys() if first.get(path) != second.get(path)}
        return first, noisy
    finally:
        await session.close()


async def pair_on(base_url: str, page: str) -> int:
    """Two sessions change ``page``'s controls at once for ROUNDS rounds; returns how many runs were compared."""
    from bench.load import Session

    sessions = [Session(base_url, random.Random(seed), record=True) for seed in (1, 2)]
    for s in sessions:
        await s.connect()
    try:
        for s in sessions:
            opened = await s.run(page=page)
            assert opened.status == 0 and not opened.exceptions, (page, opened.exceptions)
        compared = 0
        for _ in range(ROUNDS):
            changes = [s.pick_change() for s in sessions]
            if None in changes:
                return compared  # a page without controls
            results = await asyncio.gather(*(s.change(w) for s, w in zip(sessions, changes)))
            for s, result in zip(sessions, results):
                assert result.status in (0, 3) and not result.exceptions, (page, result.status, result.exceptions)
                expected, noisy = await _reference(base_url, page, s)
                got = {p: e for p, e in _drawn(result).items() if p not in noisy}
                want = {p: e for p, e in expected.items() if p not in noisy}
                if result.status == 3:  # a section's rerun (app/sections.py) draws its part of the page alone
                    want = {p: want.get(p) for p in got}
                assert got == want, f"{page}: a session drew something its own controls do not explain"
                compared += 1
        return compared
    finally:
        for s in sessions:
            await s.close()


def test_two_sessions_changing_controls_at_once_see_only_their_own_values():
    from bench.load import pages_of

    with streamlit_server() as (base, _):
        pages = [p for p in pages_of(base) if p not in STATEFUL_PAGES]
        compared = {page: asyncio.run(pair_on(base, page)) for page in pages}
    assert sum(compared.values()) > 0, f"no page had controls to change: {compared}"
