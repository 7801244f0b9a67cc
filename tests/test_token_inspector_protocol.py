"""A click on the token inspector's grid, on a real server, with the messages a browser sends.

Chromium was seen (1 run in ~12, tests/browser/test_token_inspector_browser.py) to follow a click's rerun
~60 ms later with a deselect of the chart, carrying the explain list's value from before the click: the
browser had not yet taken the value the click's rerun gave the list. The server then read that old value
as the user picking it in the list, and the clicked token's explanation was replaced by the old one. This
test sends that exact sequence with bench/load.py's client (which speaks Streamlit's protocol).
"""

from __future__ import annotations

import asyncio
import random
import re

import pytest

from tests.support import streamlit_server

pytestmark = pytest.mark.slow

QUERY = {"alg_preset": "a rare token that became likely", "alg_pick": "grpo", "alg_ti_colour": "ratio"}
LIST = "Explain token"


def _drawn(result, kind: str) -> list:
    from streamlit.proto.Element_pb2 import Element

    elements = [Element.FromString(raw) for _, raw in result.drawn]
    return [getattr(e, kind) for e in elements if e.WhichOneof("type") == kind]


def _panel_head(result) -> str:
    """The explain panel's first line: the token's name (the list's wording), markdown escapes removed."""
    heads = [m.body for m in _drawn(result, "markdown") if re.match(r"\*\*\\?#\d+, token \d+", m.body)]
    assert len(heads) == 1, heads
    return heads[0].replace("\\", "").split("**")[1]


def _selection(*indices: int) -> dict:
    """The chart's selection state a browser sends when the click trace's points ``indices`` are selected."""
    points = [{"curve_number": 1, "point_number": i, "point_index": i} for i in indices]
    return {"selection": {"points": points, "point_indices": list(indices), "box": [], "lasso": []}}


async def _click_then_late_deselect(base: str) -> list[tuple[str, str]]:
    from bench.load import Session, Widget

    session = Session(base, random.Random(0), record=True)
    await session.connect()
    try:
        session.query = dict(QUERY)
        opened = await session.run(page="algorithms")
        assert not opened.exceptions, opened.exceptions
        (grid,) = [c for c in _drawn(opened, "plotly_chart") if "tokens coloured by" in c.spec]
        before_id, before = next((i, w) for i, w in session.widgets.items() if w.kind == "selectbox"
                                 and w.proto.label == LIST)
        names = list(before.proto.options)
        target = max(k for k, name in enumerate(names) if name != before.value)  # not the list's own token
        seen = [(before.value, _panel_head(opened))]

        chart = Widget("plotly_chart", grid, _selection(target), fragment_id=before.fragment_id)
        session.widgets[grid.id] = chart
        clicked = await session.change(chart)
        assert not clicked.exceptions, clicked.exceptions
        seen.append((names[target], _panel_head(clicked)))

        # The late deselect, sent before the browser took the list's new value: the list as it was.
        for widget_id, widget in list(session.widgets.items()):
            if widget.kind == "selectbox" and widget.proto.label == LIST:
                del session.widgets[widget_id]
        session.widgets[before_id] = before
        chart.value = _selection()
        late = await session.change(chart)
        assert not late.exceptions, late.exceptions
        seen.append((names[target], _panel_head(late)))

        # ...a pick in the list, the grid's selection unchanged, is a pick
        (listed,) = [w for w in session.widgets.values() if w.kind == "selectbox" and w.proto.label == LIST]
        other = 0 if names[0] != names[target] else 1
        listed.value = names[other]
        picked = await session.change(listed)
        seen.append((names[other], _panel_head(picked)))

        # ...clicking the token of before again is a click (the deselect ended the old one)
        chart.value = _selection(target)
        again = await session.change(chart)
        seen.append((names[target], _panel_head(again)))

        # ...and a shift-click adds a token to the selection: the added one is explained
        chart.value = _selection(target, other)
        added = await session.change(chart)
        seen.append((names[other], _panel_head(added)))
        return seen
    finally:
        await session.close()


def test_a_late_deselect_with_the_lists_old_value_keeps_the_clicked_token():
    with streamlit_server() as (base, _proc):
        seen = asyncio.run(_click_then_late_deselect(base))
    for expected, shown in seen:
        assert shown == expected, seen
    assert seen[0][0] != seen[1][0]  # the click chose another token than the list opened on
