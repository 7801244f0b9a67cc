"""A section's rerun (app/sections.py, an st.fragment) leaves the screen exactly as a whole-page rerun would.

On a real server, bench/load.py's WebSocket client (which sends what a browser sends, a fragment's id with
a change of a control that the fragment drew) changes every control of every page that is drawn on the page
(inside a section or not: a page-level one may rerun only the sections that read it), one at a time. After each change the test asks for a whole-page rerun with the same widget values
and compares: every element the section's rerun drew must equal the whole run's at the same place, and
every element the section's rerun did not draw must be what the screen already showed (else the page would
show it stale). Elements that differ between two identical whole runs (a timer) are left out, and so is the
sidebar, whose class-link builder is redrawn when it is opened (tests/browser/test_classroom_browser.py).
"""

from __future__ import annotations

import asyncio
import random

import pytest

from tests import page_catalog as pc
from tests.support import streamlit_server

pytestmark = pytest.mark.slow

SIDEBAR = 1  # delta paths start with their container: 0 the main area, 1 the sidebar
#: At most this many controls per page (the first ones drawn), to keep the suite's time bounded.
MAX_CONTROLS = 25


@pytest.fixture(scope="module")
def server():
    with streamlit_server() as (base, _proc):
        yield base


def _screen(result) -> dict:
    return {path: element for path, element in result.drawn if path[0] != SIDEBAR}


async def _whole(session) -> tuple[dict, set]:
    first, second = _screen(await session.run()), _screen(await session.run())
    return first, {p for p in first.keys() | second.keys() if first.get(p) != second.get(p)}


async def _check_page(base: str, page: str) -> tuple[int, list[str]]:
    from bench.load import CHANGEABLE, Session, _new_value, _query_text

    session = Session(base, random.Random(0), record=True)
    await session.connect()
    problems, changed, in_sections = [], 0, []
    try:
        await session.run(page=page)
        shown, _ = await _whole(session)
        controls = [widget_id for widget_id, w in session.widgets.items()  # the class-link builder's aside
                    if w.kind in CHANGEABLE and not w.proto.disabled and "-cl_" not in widget_id][:MAX_CONTROLS]
        in_sections = [widget_id for widget_id in controls if session.widgets[widget_id].fragment_id]
        # Page-level controls too: one whose callback reruns only some sections (sections.also_rerun) must
        # leave the rest of the page right as well.
        for widget_id in controls:
            widget = session.widgets.get(widget_id)  # each run draws new Widget objects: the current one
            if widget is None or widget.proto.disabled:
                continue
            value = _new_value(widget, session.rng)
            if value is None:
                continue
            widget.value = value
            if widget.query_key:
                session.query[widget.query_key] = _query_text(value)
            result = await session.change(widget)
            label = f"{page or 'overview'}: {widget.kind} {widget.proto.label!r} -> {value!r}"
            if result.exceptions or result.status not in (0, 3):
                problems.append(f"{label}: status {result.status}, {result.exceptions[:1]}")
                continue
            changed += result.status == 3
            partial = _screen(result)
            whole, noisy = await _whole(session)
            stale = sorted(p for p in whole.keys() - partial.keys()
                           if p not in noisy and shown.get(p) != whole[p])
            wrong = sorted(p for p in partial.keys() & whole.keys() if p not in noisy and partial[p] != whole[p])
            if stale or wrong:
                problems.append(f"{label}: stale outside the section at {stale[:3]}, different inside at {wrong[:3]}")
            shown = whole
    finally:
        await session.close()
    return changed, len(in_sections), problems


@pytest.mark.parametrize("page", [p.url_path for p in pc.pages()])
def test_a_section_rerun_shows_what_a_whole_rerun_shows(server, page):
    changed, in_sections, problems = asyncio.run(_check_page(server, page))
    assert not problems, "\n".join(problems)
    if in_sections:  # (a data editor or a button in a section is checked in tests/test_sections_kl_rewards.py)
        assert changed > 0, f"{page}: no control change reran a section alone"


def test_the_class_link_builders_picks_rerun_the_builder_alone(server):
    """Presenter mode, hide and lock go only into the link the builder writes: a browser sends their change
    as the builder fragment's rerun, which draws the builder (a few elements), not the page under it."""
    from bench.load import Session, _query_text

    async def go():
        session = Session(server, random.Random(0), record=True)
        await session.connect()
        try:
            opened = await session.run(page="ratio-clipping")
            present = next(w for widget_id, w in session.widgets.items() if widget_id.endswith("-cl_present"))
            assert present.fragment_id, "the builder is not a fragment: its change reruns the whole page"
            present.value = True
            session.query[present.query_key] = _query_text(True)
            result = await session.change(present)
            return opened, result
        finally:
            await session.close()

    opened, result = asyncio.run(go())
    assert not result.exceptions and result.status == 3, (result.status, result.exceptions)
    assert result.elements < 15 < opened.elements, (result.elements, opened.elements)
    assert all(path[0] == SIDEBAR for path, _ in result.drawn)  # nothing of the page itself was redrawn
    assert any(b"present=1" in element for _, element in result.drawn)  # the link now says so


def test_a_new_run_reruns_the_sections_that_show_it_not_the_page(server):
    """Task, size, B, G, difficulty and seed start a new run: their change reruns the run's sections (a
    fifth of a class's changes on Live training, which a whole-page rerun made its slowest, issue 11); the
    test above checks that the screen is then the whole run's."""
    from bench.load import Session, _new_value, _query_text

    labels = {"Task", "Policy size", "Prompts per step (B)", "Group size (G)", "Difficulty at the start", "Seed"}

    async def go():
        session = Session(server, random.Random(0), record=True)
        await session.connect()
        try:
            opened = await session.run(page="training")
            results = {}
            for label in sorted(labels):
                widget = next(w for w in session.widgets.values() if w.proto.label == label)
                widget.value = _new_value(widget, session.rng)
                session.query[widget.query_key] = _query_text(widget.value)
                results[label] = await session.change(widget)
            return opened, results
        finally:
            await session.close()

    opened, results = asyncio.run(go())
    assert set(results) == labels
    for label, result in results.items():
        assert not result.exceptions and result.status == 3, (label, result.status, result.exceptions)
        assert result.elements < opened.elements, (label, result.elements, opened.elements)
