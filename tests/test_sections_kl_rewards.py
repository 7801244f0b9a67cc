"""Section reruns of the KL and β and Reward groups pages that tests/test_sections.py does not reach.

That test changes the sliders, checkboxes, selectboxes, radios and number inputs drawn in a section, on the
page as it opens. Reward groups' sections hold a data editor and preset buttons instead (its radio and toggle
are in the sidebar, so page-level), and the KL lab's Tokens controls appear only after its segmented
control is switched. Here each of those changes is sent as a browser sends it (the fragment's id with the
new widget state), and the screen and the address it leaves must be what a whole-page rerun gives.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
import types

import pytest

from tests.support import streamlit_server
from tests.test_sections import _screen, _whole

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server():
    with streamlit_server() as (base, _proc):
        yield base


def _drawn(result, kind: str) -> list:
    """The ``kind`` elements (their protos) that ``result`` drew, in order."""
    from streamlit.proto.Element_pb2 import Element

    elements = (Element.FromString(raw) for _path, raw in result.drawn)
    return [getattr(e, kind) for e in elements if e.WhichOneof("type") == kind]


def _stand_in(kind: str, proto, value, fragment_id: str, query_key: str = ""):
    """A widget that bench/load.py's client does not track, under a kind whose widget-state field it shares
    (a data editor's edits are a JSON string, like a radio's value; a segmented control's choice an array of
    option strings, like a select slider's), so that the client sends it with every run as a browser does."""
    from bench.load import Widget

    options = [o.content for o in proto.options] if kind == "slider" else []
    shape = types.SimpleNamespace(label=getattr(proto, "label", proto.id), disabled=False, options=options)
    return Widget(kind, shape, value, query_key, fragment_id)


async def _compare(session, widget_id: str, widget, label: str, problems: list, shown: dict) -> dict:
    """Send ``widget``'s change as its section's rerun, then a whole rerun; record what differs."""
    from bench.load import _query_text

    session.widgets[widget_id] = widget
    if widget.query_key:  # a browser writes a bound control's new value into the address itself
        session.query[widget.query_key] = _query_text(widget.value)
    trigger = widget if widget.kind == "button" else None
    result = await session.wait(await session.send(trigger=trigger, fragment_id=widget.fragment_id, auto=False),
                                fragment=True)
    while result.status == 2:  # ended early by sections.also_rerun's st.rerun: the sections it names follow
        result = await session.wait(time.perf_counter(), fragment=True)
    address = dict(session.query)
    if result.exceptions or result.status != 3:
        problems.append(f"{label}: status {result.status} (3: the section alone), {result.exceptions[:1]}")
        return shown
    partial = _screen(result)
    whole, noisy = await _whole(session)
    stale = sorted(p for p in whole.keys() - partial.keys() if p not in noisy and shown.get(p) != whole[p])
    wrong = sorted(p for p in partial.keys() & whole.keys() if p not in noisy and partial[p] != whole[p])
    if stale or wrong:
        problems.append(f"{label}: stale outside the section at {stale[:3]}, different inside at {wrong[:3]}")
    if address != session.query:
        problems.append(f"{label}: the section left the address {address}, a whole run {session.query}")
    return whole


async def _reward_groups(base: str) -> list[str]:
    from bench.load import Session

    session = Session(base, random.Random(0), record=True)
    await session.connect()
    problems: list[str] = []
    try:
        opened = await session.run(page="reward-groups")
        (editor,) = [e for e in _drawn(opened, "dataframe") if e.id.endswith("rg_editor")]
        # On: the numbers table, in a section of its own, draws the editor's table too.
        numbers = session.widgets[next(i for i in session.widgets if i.endswith("-numbers"))]
        numbers.value = True
        await session.change(numbers)  # its callback reruns the numbers' section alone; then a whole run
        shown, _ = await _whole(session)
        assert sum(e.id == "" for e in _drawn(await session.run(), "dataframe")) == 1, "no numbers table"
        presets = [(i, w) for i, w in session.widgets.items() if w.kind == "button" and "rg_preset_" in i]
        assert len(presets) >= 2 and all(w.fragment_id for _, w in presets), "the presets are not in a section"
        for widget_id, preset in presets[1:] + presets[:1]:  # the default preset last: the URL drops its table
            shown = await _compare(session, widget_id, preset, f"preset {preset.proto.label!r}", problems, shown)
        section = presets[0][1].fragment_id
        for edits in ({"edited_rows": {"0": {"reward": 0.37}}, "added_rows": [], "deleted_rows": []},
                      {"edited_rows": {}, "added_rows": [{"prompt": "new", "reward": 0.5}], "deleted_rows": [1]}):
            widget = _stand_in("radio", editor, json.dumps(edits), section)
            shown = await _compare(session, editor.id, widget, f"editor {edits}", problems, shown)
        assert "rewards" in session.query, "the edits did not reach the address"
    finally:
        await session.close()
    return problems


async def _kl_beta(base: str) -> list[str]:
    from bench.load import CHANGEABLE, Session, _new_value

    session = Session(base, random.Random(0), record=True)
    await session.connect()
    problems: list[str] = []

    async def change_all(shown: dict, which) -> tuple[dict, int]:
        ids = [i for i, w in session.widgets.items() if w.fragment_id and w.kind in CHANGEABLE and which(i)]
        for widget_id in ids:
            widget = session.widgets[widget_id]  # each run draws a new Widget: never change an older one
            widget.value = _new_value(widget, session.rng)
            shown = await _compare(session, widget_id, widget, f"{widget.kind} {widget.proto.label!r}", problems,
                                   shown)
        return shown, len(ids)

    try:
        opened = await session.run(page="kl-beta")
        (switch,) = [b for b in _drawn(opened, "button_group") if b.id]
        shown, _ = await _whole(session)
        shown, gaussians = await change_all(shown, lambda i: True)
        assert gaussians >= 11, f"{gaussians} controls in the Gaussians lab's sections"
        section = session.widgets[next(i for i in session.widgets if i.endswith("kl_samples"))].fragment_id
        lab = _stand_in("slider", switch, ["Tokens"], section, query_key="kl_lab")
        shown = await _compare(session, switch.id, lab, "lab -> Tokens", problems, shown)
        shown, logits = await change_all(shown, lambda i: "logit" in i)
        assert logits == 10, f"Tokens draws {logits} logit sliders"
    finally:
        await session.close()
    return problems


def test_reward_groups_presets_and_edits_rerun_their_sections_alone(server):
    problems = asyncio.run(_reward_groups(server))
    assert not problems, "\n".join(problems)


def test_kl_beta_controls_and_tokens_lab_rerun_their_sections_alone(server):
    problems = asyncio.run(_kl_beta(server))
    assert not problems, "\n".join(problems)
