"""Fuzz every page with hostile input (issue 5): query strings, widget values, reward-table edits.

Hypothesis drives AppTest sessions of the real app (``app/main.py``); pages, widgets, URL keys and data
editors are discovered at run time (tests/page_catalog.py), so new controls are fuzzed without editing
this file. After every run of a page:

- no exception reached the page;
- no NaN or infinity is printed in any text, metric, table or figure label the page added;
- no hostile text sits inside an element the browser renders as HTML (unsafe_allow_html markdown,
  st.html, or markup inside a Plotly figure);
- numeric widgets hold finite values inside their own range, and a page that draws charts still does;
- a malformed value for one of the page's own URL keys is answered with a notice (st.warning/st.error).

Uploads (pages with an ``st.file_uploader``): fixed hostile files (HTML, binary, pickle, deep JSON, NaN,
huge numbers, markup in names) and random JSON lines / CSV bodies pass the same checks.

Cases: ``FUZZ_EXAMPLES`` (env) sets the examples per page and test (default small, for CI); the total
run is printed at the end of the session and written to ``artifacts/fuzz_cases.json``.
"""

from __future__ import annotations

import functools
import json
import math
import os
import time
import urllib.parse
from collections import Counter

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests import page_catalog as pc

PAGES = pc.pages()
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "0"))
QUERY_EXAMPLES = EXAMPLES or 8
WIDGET_EXAMPLES = EXAMPLES or 8
EDITOR_EXAMPLES = EXAMPLES or 12

settings.register_profile(
    "fuzz", deadline=None, derandomize=not EXAMPLES, database=None, print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture, HealthCheck.data_too_large],
)
FUZZ = settings.get_profile("fuzz")

CASES: Counter = Counter()  # what ran, by kind: the session summary
MARK = "xq9z"  # in every HTML-ish payload, so that a payload found in raw HTML is unambiguous
LONG = "9" * 100_000
STREAMLIT_MAX_QUERY = 524_288  # characters; Streamlit ignores a longer query string entirely (logged, no notice)
HOSTILE = [
    "nan", "NaN", "-nan", "inf", "-inf", "+inf", "Infinity", "1e308", "-1e308", "1e309", "-1", "0", "-0",
    "10**30", str(10**30), str(-(10**30)), "", " ", "\t\n", "1_0", "0x10", "0.1.2", "1e-400", " 0.5 ",
    "true", "null", "None", "[]", "{}", "٣", "１", "😀", "e\u0301", "\u202eevil", "\x00", "%00", "%",
    f"<script>alert('{MARK}')</script>", f"<img src=x onerror=alert('{MARK}')>", f"'; DROP TABLE {MARK};--",
    f"[{MARK}](javascript:alert(1))", f"**{MARK}**<b>{MARK}</b>", "${7*7}", "`rm`", LONG, "<" * 5000,
]
#: Values no numeric, boolean or option control of a page can accept: a page key given one needs a notice.
ALWAYS_MALFORMED = {"nan", "NaN", "-nan", "inf", "-inf", "+inf", "Infinity", "10**30", "1e309", "0x10", "0.1.2",
                    "😀", "\x00", LONG, "<" * 5000} | {h for h in HOSTILE if MARK in h}


def hostile_value():
    return st.one_of(
        st.sampled_from(HOSTILE),
        st.text(max_size=30),
        st.floats(allow_nan=True, allow_infinity=True).map(repr),
        st.integers(min_value=-(10**40), max_value=10**40).map(str),
    )


class _Summary:
    """Prints the case count in pytest's closing summary (visible with -q, unlike fixture output)."""

    line = ""

    def pytest_terminal_summary(self, terminalreporter):
        if self.line:
            terminalreporter.write_line(self.line)


@pytest.fixture(scope="module", autouse=True)
def _case_summary(request):
    summary_plugin = _Summary()
    request.config.pluginmanager.register(summary_plugin, "fuzz-case-summary")
    start = time.monotonic()
    yield
    elapsed = time.monotonic() - start
    summary = {"cases": dict(CASES), "total": sum(v for k, v in CASES.items() if "examples" in k),
               "seconds": round(elapsed, 1), "examples_setting": EXAMPLES or "default"}
    out = pc.ROOT / "artifacts"
    out.mkdir(exist_ok=True)
    (out / "fuzz_cases.json").write_text(json.dumps(summary, indent=1))
    summary_plugin.line = f"fuzz: {summary['total']} cases in {elapsed:.0f}s ({dict(CASES)})"


@functools.cache
def baseline(page: pc.PageInfo):
    """What ``page`` shows with no input: its texts (allowed to mention NaN in prose), widget keys, charts."""
    at = pc.open_page(page)
    assert not at.exception, f"{page.url_path} fails with no input:\n" + "\n".join(pc.exceptions(at))
    keys = {w.key for w in pc.widgets(at) if w.key}
    return {
        "texts": frozenset(s.text for s in pc.shown(at)),
        "widget_keys": keys,
        "text_widget_keys": {w.key for w in pc.widgets(at, pc.TEXT_KINDS) if w.key},
        "charts": len(pc.figures(at)),
    }


def check_page(at, page: pc.PageInfo, what: str) -> None:
    """The assertions every fuzzed run must pass (see the module docstring)."""
    base = baseline(page)
    errors = pc.exceptions(at)
    assert not errors, f"{page.url_path}: exception after {what}:\n" + "\n".join(errors)
    assert not (bad := pc.nonfinite_texts(at, base["texts"])), f"{page.url_path}: NaN/inf shown after {what}: {bad}"
    assert not (bad := pc.nonfinite_cells(at)), f"{page.url_path}: NaN/inf in a table after {what}: {bad}"
    markers = [MARK, "<script", "onerror="]
    assert not (bad := pc.raw_html_with(at, markers)), f"{page.url_path}: hostile text rendered as HTML after {what}: {bad}"
    for widget in pc.widgets(at, ("slider", "number_input")):
        value = widget.value
        values = value if isinstance(value, (list, tuple)) else [value]
        for v in values:
            if v is None or not isinstance(v, (int, float)):
                continue
            assert math.isfinite(v), f"{page.url_path}: {widget.key} holds {v} after {what}"
            low, high = _bounds(widget)
            assert low <= v <= high, f"{page.url_path}: {widget.key} = {v} outside [{low}, {high}] after {what}"
    if base["charts"]:
        assert pc.figures(at), f"{page.url_path}: its charts vanished after {what}"


def _bounds(widget) -> tuple[float, float]:
    proto = widget.proto
    if widget.type == "number_input":
        return (proto.min if proto.has_min else -math.inf, proto.max if proto.has_max else math.inf)
    return proto.min, proto.max


# -------------------------------------------------------------------------------------------------
# (a) hostile query strings


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.url_path)
@settings(FUZZ, max_examples=QUERY_EXAMPLES)
@given(data=st.data())
def test_hostile_query_string(page, data):
    base = baseline(page)
    own_keys = sorted(pc.url_keys(page) | base["widget_keys"])
    query: dict[str, object] = {}
    if own_keys:
        for key in data.draw(st.lists(st.sampled_from(own_keys), min_size=1, max_size=min(6, len(own_keys)),
                                      unique=True), label="keys"):
            value = data.draw(hostile_value(), label=key)
            repeated = data.draw(st.booleans(), label=f"{key} repeated")
            query[key] = [value, data.draw(hostile_value(), label=f"{key} again")] if repeated else value
    for key, value in data.draw(st.dictionaries(st.text(min_size=1, max_size=12), hostile_value(), max_size=3),
                                label="unknown keys").items():
        query.setdefault(key, value)
    if data.draw(st.integers(0, 9), label="oversized") == 0:
        query.update({f"junk{i}": "x" * 200 for i in range(300)})
    CASES["query examples"] += 1
    at = pc.open_page(page, query)
    shown_query = {k: (v if len(str(v)) < 80 else f"<{len(str(v))} chars>") for k, v in query.items()
                   if not k.startswith("junk")}
    if len(shown_query) < len(query):
        shown_query["..."] = f"<{len(query) - len(shown_query)} junk keys>"
    check_page(at, page, f"opening ?{shown_query}")

    malformed = [k for k, v in query.items()
                 if k in own_keys and k not in base["text_widget_keys"]
                 and any(x in ALWAYS_MALFORMED for x in (v if isinstance(v, list) else [v]))]
    if malformed and len(urllib.parse.urlencode(query, doseq=True)) <= STREAMLIT_MAX_QUERY:
        assert at.warning or at.error, (
            f"{page.url_path}: ?{malformed} malformed but ignored silently (no st.warning/st.error notice)")


WORST = {"nan": "nan", "inf": "inf", "-inf": "-inf", "1e400": "1e400", "-1": "-1", "10^30": str(10**30), "empty": "",
         "100k chars": LONG, "script": f"<script>alert('{MARK}')</script>", "repeated": ["1", "0"]}


@pytest.mark.parametrize("value_name", list(WORST))
@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.url_path)
def test_every_url_key_at_once_with_a_worst_value(page, value_name):
    """Every URL key of the page given the same hostile value, in one link (so no key is left to chance);
    on a failure, each key is tried alone to name the culprits."""
    base = baseline(page)
    own_keys = sorted(pc.url_keys(page) | base["widget_keys"])
    keys = own_keys or ["not_a_key_of_this_page"]
    value = WORST[value_name]
    CASES["worst-value examples"] += 1
    at = pc.open_page(page, {k: value for k in keys})
    try:
        check_page(at, page, f"?<all {len(keys)} keys>={value_name}")
    except AssertionError as failure:
        culprits = []
        for key in keys:
            try:
                check_page(pc.open_page(page, {key: value}), page, f"?{key}={value_name}")
            except AssertionError as alone:
                culprits.append(f"?{key}={value_name}: {str(alone).splitlines()[0][:300]}")
        raise AssertionError(f"{page.url_path}: fails with every key = {value_name}; alone: {culprits or 'none'}") from failure
    # Streamlit drops a query string over 512 KiB whole, before the page can see it: nothing to notice then
    fits = len(urllib.parse.urlencode({k: value for k in keys}, doseq=True)) <= STREAMLIT_MAX_QUERY
    if value_name in ("nan", "inf", "100k chars", "script") and fits and own_keys:
        assert at.warning or at.error, f"{page.url_path}: ?<every key>={value_name} ignored without a notice"


# -------------------------------------------------------------------------------------------------
# (b) every control, random in-range, boundary and out-of-range values


def _numeric_values(widget):
    """Values for a slider or number_input: boundaries, in range (on and off the step), out of range."""
    proto = widget.proto
    low, high = _bounds(widget)
    is_int = proto.data_type == 0
    finite_low = low if math.isfinite(low) else -1e6
    finite_high = high if math.isfinite(high) else 1e6
    if is_int:
        low_i, high_i = int(finite_low), int(finite_high)
        inside = st.integers(low_i, high_i)
        edges = st.sampled_from([low_i, high_i])
        outside = st.sampled_from([low_i - 1, high_i + 1, -(2**62), 2**62])
    else:
        inside = st.floats(finite_low, finite_high, allow_nan=False)
        edges = st.sampled_from([finite_low, finite_high, finite_low + (proto.step or 0.01)])
        outside = st.sampled_from([finite_low - 1.0, finite_high + 1.0, 1e308, -1e308, math.nan, math.inf, -math.inf])
    out = st.one_of(inside, inside, edges, outside) if widget.type == "number_input" else st.one_of(inside, edges, outside)
    if widget.type == "slider" and len(proto.default) == 2:  # a range slider takes (low, high)
        return st.tuples(inside, inside).map(sorted).map(tuple)
    return out


def _option_label(data, widget, label):
    return data.draw(st.sampled_from(list(widget.options)), label=label)


def _act(data, at, step: int) -> str | None:
    """One reader action on a random control; the description, or None if AppTest itself refused it."""
    controls = pc.widgets(at, (*pc.VALUE_KINDS, "button"))
    if not controls:
        return "nothing to set"
    widget = controls[data.draw(st.integers(0, len(controls) - 1), label=f"control {step}")]
    kind = widget.type
    try:
        if kind in ("slider", "number_input"):
            value = data.draw(_numeric_values(widget), label=f"{widget.key}")
            widget.set_value(value)
        elif kind in pc.OPTION_KINDS:
            value = _option_label(data, widget, f"{widget.key}")
            pc.choose_label(widget, value)
        elif kind in pc.TEXT_KINDS:
            value = data.draw(hostile_value(), label=f"{widget.key}")
            widget.set_value(value)
        elif kind == "button":
            value = "click"
            widget.click()
        else:  # checkbox, toggle
            value = data.draw(st.booleans(), label=f"{widget.key}")
            widget.set_value(value)
        at.run()
        pc.fill_in(at)
    except (ValueError, TypeError, OverflowError) as err:  # AppTest refused to serialise the value
        if at.exception:
            raise
        CASES[f"refused by AppTest ({type(err).__name__})"] += 1
        return None
    CASES["control changes"] += 1
    shown_value = value if len(str(value)) < 80 else f"<{len(str(value))} chars>"
    return f"{kind} {widget.key or widget.label!r} = {shown_value!r}"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.url_path)
@settings(FUZZ, max_examples=WIDGET_EXAMPLES)
@given(data=st.data())
def test_every_control(page, data):
    at = pc.open_page(page)
    CASES["control examples"] += 1
    done = []
    for step in range(data.draw(st.integers(1, 4), label="actions")):
        action = _act(data, at, step)
        if action is None:
            break
        done.append(action)
        check_page(at, page, " then ".join(done))


# -------------------------------------------------------------------------------------------------
# (c) the data editor: hostile edits through session state


def _editor_pages() -> list[pc.PageInfo]:
    return [p for p in PAGES if "data_editor" in p.source]


def _open_editor(page):
    at = pc.open_page(page)
    found = pc.editors(at)
    assert found, f"{page.url_path} calls st.data_editor but AppTest finds no editable table"
    editor = found[0]
    assert editor.key, f"{page.url_path}: the data editor needs a key= (its edits live in session state)"
    frame = editor.value
    numeric = [c for c in frame.columns if frame[c].dtype.kind in "fiu"]
    text = [c for c in frame.columns if c not in numeric]
    assert numeric, f"{page.url_path}: the editor has no numeric column to fuzz: {list(frame.columns)}"
    return at, editor.key, frame, numeric, text


def _figure_data(at) -> list:
    return [fig.get("data") for fig in pc.figures(at)]


def _edit(at, key, *, edited=None, added=None, deleted=None):
    at.session_state[key] = {"edited_rows": edited or {}, "added_rows": added or [], "deleted_rows": deleted or []}
    return at.run()


BAD_EDITS = {
    "NaN reward": lambda n, num, txt: dict(edited={0: {num: math.nan}}),
    "inf reward": lambda n, num, txt: dict(edited={1: {num: math.inf}}),
    "-inf reward": lambda n, num, txt: dict(edited={0: {num: -math.inf}}),
    "1e308 reward": lambda n, num, txt: dict(edited={0: {num: 1e308}}),
    "text in the reward": lambda n, num, txt: dict(edited={0: {num: "three"}}),
    "empty reward": lambda n, num, txt: dict(edited={0: {num: None}}),
    "10,000 added rows": lambda n, num, txt: dict(added=[{num: 1.0, **{c: "x" for c in txt}}] * 10_000),
    "all rows deleted": lambda n, num, txt: dict(deleted=list(range(n))),
}


@pytest.mark.parametrize("case", list(BAD_EDITS))
@pytest.mark.parametrize("page", _editor_pages(), ids=lambda p: p.url_path)
def test_bad_table_edit_is_refused_with_a_message(page, case):
    at, key, frame, numeric, text = _open_editor(page)
    good = _figure_data(at)
    CASES["editor fixed examples"] += 1
    _edit(at, key, **BAD_EDITS[case](len(frame), numeric[0], text))
    check_page(at, page, f"editor edit: {case}")
    assert at.error or at.warning, f"{page.url_path}: {case} accepted without a message"
    assert _figure_data(at) == good, f"{page.url_path}: after {case} the charts changed instead of keeping the last good table"
    # the page recovers: a valid edit after the bad one is drawn again
    _edit(at, key, edited={0: {numeric[0]: 0.5}})
    check_page(at, page, f"a valid edit after {case}")


@pytest.mark.parametrize("page", _editor_pages(), ids=lambda p: p.url_path)
def test_hostile_text_in_the_table_is_never_html(page):
    at, key, frame, numeric, text = _open_editor(page)
    payload = f"<script>alert('{MARK}')</script><img src=x onerror=alert(1)><b>{MARK}</b>"
    _edit(at, key, edited={0: {c: payload for c in text}},
          added=[{numeric[0]: 1.0, **{c: payload for c in text}}])
    check_page(at, page, "hostile texts in the editor")
    CASES["editor fixed examples"] += 1


@pytest.mark.parametrize("page", _editor_pages(), ids=lambda p: p.url_path)
@settings(FUZZ, max_examples=EDITOR_EXAMPLES)
@given(data=st.data())
def test_random_table_edits(page, data):
    at, key, frame, numeric, text = _open_editor(page)
    rows = len(frame)
    cell = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-(10**20), 10**20),
                     hostile_value(), st.none())
    edited = data.draw(st.dictionaries(st.integers(0, max(rows - 1, 0)),
                                       st.dictionaries(st.sampled_from([*numeric, *text]), cell, min_size=1),
                                       max_size=4), label="edited_rows")
    added = data.draw(st.lists(st.dictionaries(st.sampled_from([*numeric, *text]), cell), max_size=5), label="added_rows")
    deleted = data.draw(st.lists(st.integers(0, max(rows - 1, 0)), unique=True, max_size=rows), label="deleted_rows")
    CASES["editor examples"] += 1
    _edit(at, key, edited=edited, added=added, deleted=deleted)
    check_page(at, page, f"editor edit {edited=} {added=} {deleted=}")


# -------------------------------------------------------------------------------------------------
# (d) file uploads: hostile files through every st.file_uploader


def _upload_pages() -> list[pc.PageInfo]:
    return [p for p in PAGES if "file_uploader" in p.source]


HOSTILE_FILES = {
    "html": f"<html><script>alert('{MARK}')</script><img src=x onerror=alert('{MARK}')></html>".encode(),
    "binary": bytes(range(256)) * 4,
    "pickle": b"\x80\x04\x95\x10\x00\x00\x00\x00\x00\x00\x00\x8c\x02os\x94.",
    "empty": b"",
    "deep json": b"[" * 100_000,
    "nan json": b'{"step": 1, "loss": NaN, "reward": Infinity}\n{"step": 2, "loss": -Infinity, "reward": 1e999}',
    "huge numbers": b'{"step": 1e300, "loss": 1e308}\n{"step": 1, "reward": ' + b"9" * 5000 + b"}",
    "markup names": (f'{{"step": 1, "<script>{MARK}</script>": 1, "[{MARK}](javascript:1)": 2}}\n'
                     f'{{"step": 2, "<script>{MARK}</script>": 3, "[{MARK}](javascript:1)": 4}}').encode(),
    "csv markup": f"step,<b>{MARK}</b>,reward\n1,<img src=x onerror=1>,0.5\n1,2,nan\n".encode(),
}


@pytest.mark.parametrize("case", list(HOSTILE_FILES))
@pytest.mark.parametrize("page", _upload_pages(), ids=lambda p: p.url_path)
def test_hostile_upload_is_answered_never_run_or_rendered(page, case):
    at = pc.open_page(page)
    (widget, *_) = pc.uploaders(at)
    CASES["upload fixed examples"] += 1
    pc.upload(at, widget, f"<img src=x onerror=alert('{MARK}')>.json", HOSTILE_FILES[case])
    check_page(at, page, f"uploading a {case} file")


@pytest.mark.parametrize("page", _upload_pages(), ids=lambda p: p.url_path)
@settings(FUZZ, max_examples=EDITOR_EXAMPLES)
@given(data=st.data())
def test_random_uploads(page, data):
    at = pc.open_page(page)
    (widget, *_) = pc.uploaders(at)
    value = st.one_of(st.floats(allow_nan=True, allow_infinity=True).map(repr), hostile_value(),
                      st.integers(-(10**30), 10**30).map(str))
    # metric names are the reader's text too (shown as typed): one spelled "inf" is no computed infinity
    name = hostile_value().map(lambda t: pc._NONFINITE_ANY.sub("x", t))
    entry = st.dictionaries(st.one_of(st.sampled_from(["step", "loss", "reward", "kl", "entropy"]), name),
                            value, max_size=6)
    lines = data.draw(st.lists(entry, max_size=8), label="entries")
    body = "\n".join("{" + ", ".join(f"{json.dumps(k)}: {v}" for k, v in e.items()) + "}" for e in lines)
    if data.draw(st.booleans(), label="as csv"):
        keys = sorted({k for e in lines for k in e})
        body = "\n".join([",".join(keys)] + [",".join(str(e.get(k, "")) for k in keys) for e in lines])
    CASES["upload examples"] += 1
    # The browser offers only the uploader's file types, so the hostile name keeps an allowed extension. A file
    # name is the reader's own text, shown as typed: one spelled "nan" is not a NaN the page computed.
    name = pc._NONFINITE_ANY.sub("x", data.draw(hostile_value(), label="file name")[:200]) + ".json"
    pc.upload(at, widget, name, body.encode("utf-8", "replace"))
    check_page(at, page, f"uploading {body[:200]!r}")


# -------------------------------------------------------------------------------------------------
# the checks themselves can fail


def test_the_checks_catch_what_they_claim():
    """Each detector used above flags a page that does the wrong thing (so a green fuzz run means something)."""
    from streamlit.testing.v1 import AppTest

    script = """
import math
import pandas as pd
import streamlit as st
text = st.query_params.get("x", "")
st.markdown(f"reward {float(text) if text == 'nan' else 1.0:.3f}")
st.markdown(text, unsafe_allow_html=True)
st.dataframe(pd.DataFrame({"advantage": [0.5, float(text) if text == 'nan' else 0.0]}))
"""
    at = AppTest.from_string(script, default_timeout=pc.TIMEOUT_S)
    at.query_params["x"] = "nan"
    at.run()
    assert pc.nonfinite_texts(at), "a markdown printing 'nan' went unnoticed"
    assert pc.nonfinite_cells(at), "a table holding NaN went unnoticed"
    at.query_params["x"] = f"<b>{MARK}</b>"
    at.run()
    assert pc.raw_html_with(at, [MARK]), "user text in unsafe_allow_html markdown went unnoticed"
    assert not pc.nonfinite_texts(at) and not pc.nonfinite_cells(at)
