"""What the app's pages are and what they show, found by running them, for the cross-cutting tests.

The fuzz, isolation, browser and benchmark code must keep working while pages grow, so nothing here
names a page's widgets: the pages come from ``app/main.py``'s ``st.Page(...)`` calls, the widgets and
shown texts from AppTest's element tree, and the URL parameters a page validates from its source
(``urlstate.validate_params`` specs and ``urlstate.set_param`` calls).
"""

from __future__ import annotations

import functools
import json
import math
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
MAIN = ROOT / "app" / "main.py"
APP_DIR = MAIN.parent
if str(APP_DIR) not in sys.path:  # app/'s modules, imported as `streamlit run app/main.py` imports them
    sys.path.insert(0, str(APP_DIR))

import classroom  # noqa: E402
import live_chart  # noqa: E402

#: AppTest's default of 3 s is too short for a cold torch import on a shared 2-core machine.
TIMEOUT_S = 30.0

_PAGE_CALL = re.compile(r"st\.Page\(\s*(?P<args>[^)]*)\)", re.S)
_FIRST_STRING = re.compile(r"""^\s*["']([^"']+)["']""")
_URL_PATH = re.compile(r"""url_path\s*=\s*["']([^"']+)["']""")
_DEFAULT = re.compile(r"default\s*=\s*True")
_TITLE = re.compile(r"""title\s*=\s*["']([^"']+)["']""")
# A URL parameter a page names: a spec entry ("key": validator), or a hand-written one (set_param("key", ...)).
_SPEC_KEY = re.compile(r"""["']([A-Za-z_][\w-]{0,40})["']\s*:\s*(?:urlstate\.|trainer_code\.|\w+\.decode\b|_?decode)""")
_SET_PARAM_KEY = re.compile(r"""set_param\(\s*["']([A-Za-z_][\w-]{0,40})["']""")
_BIND_KEY = re.compile(r"""key\s*=\s*f?["']([A-Za-z_][\w{}+ -]{0,40})["'][^()]{0,200}?bind\s*=\s*["']query-params""", re.S)

#: Widget kinds a reader sets values on (AppTest's ``type`` names).
VALUE_KINDS = ("slider", "number_input", "select_slider", "selectbox", "radio", "button_group", "multiselect",
               "text_input", "text_area", "checkbox", "toggle")
OPTION_KINDS = ("select_slider", "selectbox", "radio", "button_group", "multiselect")
TEXT_KINDS = ("text_input", "text_area")


@dataclass(frozen=True)
class PageInfo:
    script: str  # as registered in st.navigation, relative to main.py: what AppTest.switch_page takes
    url_path: str  # the page's URL pathname as registered
    title: str
    default: bool = False  # st.Page(default=True): Streamlit serves it at the root URL instead of url_path

    @property
    def source(self) -> str:
        return (APP_DIR / self.script).read_text(encoding="utf-8")

    @property
    def browser_path(self) -> str:
        """What a browser opens, after the app's root URL: ``url_path``, or nothing for the default page
        (Streamlit answers ``/<url_path>`` of the default page with a "Page not found" dialog)."""
        return "" if self.default else self.url_path


def pages() -> list[PageInfo]:
    """The pages ``app/main.py`` registers, in navigation order."""
    found = []
    for match in _PAGE_CALL.finditer(MAIN.read_text(encoding="utf-8")):
        args = match.group("args")
        script = _FIRST_STRING.search(args)
        if not script:
            continue
        url = _URL_PATH.search(args)
        title = _TITLE.search(args)
        stem = Path(script.group(1)).stem
        found.append(PageInfo(script.group(1), url.group(1) if url else stem, title.group(1) if title else stem,
                              bool(_DEFAULT.search(args))))
    if not found:
        raise AssertionError(f"no st.Page(...) found in {MAIN}")
    return found


def url_keys(page: PageInfo) -> set[str]:
    """The URL parameters ``page`` reads: its validated spec keys, hand-written keys and bound widget keys.

    Keys built with f-strings (``f"kl_value{i + 1}"``) cannot be read from the source; the widgets'
    keys found at run time (see :func:`widgets`) cover those.
    """
    source = page.source
    keys = set(_SPEC_KEY.findall(source)) | set(_SET_PARAM_KEY.findall(source))
    keys |= {k for k in _BIND_KEY.findall(source) if "{" not in k}
    return keys | set(classroom.URL_PARAMS)  # app/main.py reads a class link's ?hide=, ?lock=, ?present= on every page


# -------------------------------------------------------------------------------------------------
# AppTest


def new_app():
    from streamlit.testing.v1 import AppTest

    return AppTest.from_file(str(MAIN), default_timeout=TIMEOUT_S)


def open_page(page: PageInfo, query: dict[str, Any] | None = None):
    """A fresh AppTest session on ``page`` (optionally opened with ``query``), after one run."""
    at = new_app().run()
    if query:
        at.query_params.clear()
        at.query_params.update(query)
    return at.switch_page(page.script).run()


@functools.cache
def first_kinds(page: PageInfo) -> frozenset[str]:
    """The kinds of widget ``page`` shows when it opens (AppTest, no query), e.g. whether it shows a slider
    before any interaction: a page may create sliders only later (the Lessons page's later steps)."""
    return frozenset(w.type for w in widgets(open_page(page)))


def walk(node) -> Iterator[Any]:
    yield node
    children = getattr(node, "children", None)
    if isinstance(children, dict):
        for child in children.values():
            yield from walk(child)


def nodes(at) -> Iterator[Any]:
    for root in (at.main, at.sidebar):
        yield from walk(root)


def widgets(at, kinds=VALUE_KINDS) -> list[Any]:
    """The page's widgets of ``kinds`` in page order (sidebar last), disabled ones left out."""
    return [n for n in nodes(at) if getattr(n, "type", None) in kinds and not getattr(n.proto, "disabled", False)]


def choose_label(widget, label: str) -> None:
    """Choose an option of a radio, selectbox, segmented control, multiselect (that option alone) or select
    slider by its shown label, the way the browser sends it, whatever the widget's ``format_func`` (AppTest's
    ``set_value`` wants the raw option, which a test that discovers widgets does not know)."""
    from streamlit.proto.WidgetStates_pb2 import WidgetState

    if widget.type == "select_slider":
        for candidate in (label, _maybe_number(label)):
            widget.set_value(candidate)
            try:
                widget._widget_state  # noqa: B018 - AppTest serialises here; an unknown value raises
                return
            except (ValueError, TypeError):
                continue
        raise ValueError(f"cannot choose {label!r} on {widget.key}")
    state = WidgetState(id=widget.id)
    if widget.type in ("button_group", "multiselect"):  # a multiselect: that one option alone
        state.string_array_value.data[:] = [label]
    else:
        state.string_value = label
    widget.__class__ = type(f"Chosen{type(widget).__name__}", (type(widget),),
                            {"_widget_state": property(lambda self, s=state: s)})


def _maybe_number(text: str):
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def editors(at) -> list[Any]:
    """The page's editable dataframes (``st.data_editor``), which carry their key."""
    return [n for n in nodes(at) if getattr(n, "type", None) == "dataframe" and n.proto.editing_mode != 0]


def uploaders(at) -> list[Any]:
    """The page's file uploaders (``st.file_uploader``), which AppTest fills with ``set_value``."""
    return [n for n in nodes(at) if getattr(n, "type", None) == "file_uploader"]


def upload(at, widget, name: str, data: bytes):
    """Hand ``widget`` one file (or its list of files, for a multiple uploader) and rerun."""
    item = (name, data, "application/octet-stream")
    widget.set_value([item] if widget.accept_multiple_files else item)
    return at.run()


def fill_in(at) -> None:
    """After a rerun of fragments only (the live-training page's Pause and Step rerun two fragments, not the
    page), AppTest's tree holds just those fragments, where the browser keeps the rest of the page as it
    was. A full rerun then shows the page whole, as the reader sees it (the state it reads is the same)."""
    if not at.sidebar.children and not at.exception:
        at.run()


def figure_of(node) -> dict | None:
    """The Plotly figure an element draws: ``st.plotly_chart``, or app/live_chart.py's in-place chart."""
    kind = getattr(node, "type", None)
    if kind == "plotly_chart":
        return json.loads(node.proto.spec)
    if kind == "component_instance" and node.proto.component_name == live_chart.COMPONENT_NAME:
        return json.loads(json.loads(node.proto.json_args)["figure"])
    return None


def figures(at) -> list[dict]:
    """Every Plotly figure on the page, in page order (sidebar last)."""
    return [fig for fig in map(figure_of, nodes(at)) if fig is not None]


@dataclass(frozen=True)
class Shown:
    kind: str  # the element's AppTest type (markdown, warning, metric, dataframe, plotly_chart, ...)
    text: str
    raw_html: bool  # rendered as HTML by the browser (unsafe_allow_html markdown, st.html)


def _figure_strings(value: Any) -> Iterator[str]:
    """Every string in a Plotly figure except encoded arrays, templates and format strings."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        if "bdata" in value:
            return
        for key, item in value.items():
            if key in ("template", "hovertemplate", "texttemplate", "tickformat", "hoverformat"):
                continue
            yield from _figure_strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _figure_strings(item)


def shown(at) -> list[Shown]:
    """Everything a reader can read on the page, as text, with whether the browser renders it as HTML.

    Editable dataframes are left out (they show what the reader typed); read-only ones give their cells.
    Widgets give their label and option labels.
    """
    out: list[Shown] = []
    for node in nodes(at):
        kind = getattr(node, "type", "")
        proto = getattr(node, "proto", None)
        name = type(proto).__name__
        if name == "Markdown":
            out.append(Shown(kind, proto.body, bool(proto.allow_html)))
        elif name in ("Alert", "Heading", "Text", "Code", "Json", "Exception"):
            body = getattr(proto, "body", None) or getattr(proto, "message", "")
            out.append(Shown(kind, body, False))
        elif name == "Html":
            out.append(Shown(kind, proto.body, True))
        elif name == "Metric":
            out.extend(Shown(kind, t, False) for t in (proto.label, proto.body, proto.delta))
        elif name == "PageLink":
            out.append(Shown(kind, proto.label, False))
        elif name == "Dataframe" and proto.editing_mode == 0:
            frame = node.value
            out.append(Shown(kind, frame.to_string(), False))
        elif (figure := figure_of(node)) is not None:
            out.extend(Shown("plotly_chart", s, False) for s in _figure_strings(figure))
        elif kind in VALUE_KINDS or kind == "button":
            out.append(Shown(kind, getattr(proto, "label", ""), False))
            out.extend(Shown(kind, getattr(o, "content", o), False) for o in getattr(proto, "options", ()))
    return out


def nonfinite_cells(at) -> list[str]:
    """Non-finite numbers in read-only dataframes (a table showing NaN/inf to the reader)."""
    bad = []
    for node in nodes(at):
        if getattr(node, "type", None) != "dataframe" or node.proto.editing_mode != 0:
            continue
        frame = node.value
        for column in frame.columns:
            for value in frame[column].tolist():
                if isinstance(value, float) and not math.isfinite(value):
                    bad.append(f"{column}={value}")
    return bad


# Python prints nan/inf; pandas and JavaScript print NaN/Infinity. Prose is allowed to *name* NaN (an error
# explaining a rejected value), so alerts are checked for Python's lower-case spelling only.
_NONFINITE_ANY = re.compile(r"(?<![A-Za-z])[-+]?(?:nan|NaN|NAN|inf|Inf|INF|infinity|Infinity)(?![A-Za-z])")
_NONFINITE_NUMBER = re.compile(r"(?<![A-Za-z])[-+]?(?:nan|inf)(?![A-Za-z])")
ALERT_KINDS = ("warning", "error", "info", "success", "exception")


def nonfinite_texts(at, baseline: set[str] = frozenset()) -> list[str]:
    """Shown texts that print a NaN or an infinity, ignoring texts the default page already shows."""
    bad = []
    for item in shown(at):
        if item.text in baseline:
            continue
        pattern = _NONFINITE_NUMBER if item.kind in ALERT_KINDS else _NONFINITE_ANY
        if pattern.search(item.text):
            bad.append(f"{item.kind}: {item.text[:160]!r}")
    return bad


def raw_html_with(at, markers: list[str]) -> list[str]:
    """Elements the browser renders as HTML (or Plotly as markup) that contain any of ``markers``."""
    bad = []
    for item in shown(at):
        hit = [m for m in markers if m and m in item.text]
        if not hit:
            continue
        lowered = item.text.lower()
        # Plotly reads tags only: a label without "<" (charts.plain_label's look-alikes) is text, whatever it says
        if item.raw_html or (item.kind == "plotly_chart" and "<" in lowered
                             and any(t in lowered for t in ("<script", "onerror", "<a ", "<img"))):
            bad.append(f"{item.kind}: {item.text[:160]!r}")
    return bad


def exceptions(at) -> list[str]:
    return [f"{e.message}\n{''.join(e.stack_trace)[-1500:]}" for e in at.exception]
