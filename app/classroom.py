"""Classroom links (issue 13): ``?hide=``, ``?lock=`` and ``?present=1`` on every page, and the "Link for my
class" builder that writes them.

A control is named by its widget key, which is also its URL parameter (``kl_beta``); a family of buttons by
the keyed container around it (``tr_experiments``). A link lists names separated by commas:
``/kl-beta?kl_beta=0.3&lock=kl_beta&hide=kl_seed,kl_trials``.

- **hide**: the control is not drawn, but it is still created and still reads its URL value (a hidden β slider
  still sets β): a CSS rule on the ``st-key-<name>`` class that Streamlit gives a keyed element's container.
- **lock**: the control is drawn disabled, so it keeps the value the link gives it (or its default). Every
  control of a page passes ``disabled=classroom.locked("its key")``; that call is also how this module learns
  which controls the page has (the names a link may use and the builder offers). A control that overwrites
  others (a preset) names them too, and is locked with any of them, so that no lock can be undone by it.
- **present**: for a projector at the back of a room: the sidebar starts collapsed (the charts get the whole
  width), the page's type is larger, and so are the charts' type, height and margins, in the same proportion
  (:func:`charts.set_font_scale`, applied to this run's copy of each figure as it is sent: the cached figures
  are shared between sessions and never change).

``app/main.py`` calls :func:`begin` before the page runs and :meth:`Classroom.finish` after it. Names that are
not controls of the page are ignored with urlstate's notice and taken out of the address. CSS is only ever
written for names of :data:`NAME`'s pattern (letters, digits, ``_``), never from other URL text; after the run
it is rewritten for the page's own controls alone.
"""

from __future__ import annotations

import re
import urllib.parse
from dataclasses import dataclass, field
from typing import Any

import streamlit as st

import charts
import run_slots
import urlstate

HIDE, LOCK, PRESENT = "hide", "lock", "present"
#: The builder's own controls (bound to the URL like every control, but left out of the links it writes).
BUILDER_HIDE, BUILDER_LOCK, BUILDER_PRESENT = "cl_hide", "cl_lock", "cl_present"
BUILDER_OPEN = "cl_open"
URL_PARAMS = (HIDE, LOCK, PRESENT)
#: What a control name may be: a widget or container key as the pages write them, nothing CSS could misread.
NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,59}")
MAX_NAMES = 200
LIST_MAX_LEN = 8_000  # characters of one list: every control of the largest page, with room to spare
STATE = "classroom_state"
#: A projector's root font size (Streamlit's is 16 px): its text, widgets and spacing are in rem, so all of them
#: grow. Not CSS ``zoom``: Streamlit sizes a Plotly chart from its zoomed width, and the chart then overflows.
PRESENT_FONT_PX = 22
BASE_FONT_PX = 16  # Streamlit's root font size; the charts' type grows in the same proportion


def names_list(text: str) -> list[str]:
    """URL validator of a comma-separated list of names (``?hide=a,b``): the distinct, non-empty items, in
    order. It does not check that they are names: :meth:`Classroom.finish` drops those that are not controls."""
    items = list(dict.fromkeys(item.strip() for item in text.split(",") if item.strip()))
    if len(items) > MAX_NAMES:
        raise ValueError(f"it lists more than {MAX_NAMES} names")
    return items


SPEC = {
    HIDE: names_list,
    LOCK: names_list,
    PRESENT: urlstate.one_of("1", "0", "true", "false"),
}


@dataclass
class _SessionState:
    """What the page's widget calls read during a run (kept in session state: fragment reruns read it too)."""

    lock: frozenset[str] = frozenset()
    shown: dict[str, None] = field(default_factory=dict)  # names of this run, in page order (an ordered set)
    seen: dict[str, dict[str, None]] = field(default_factory=dict)  # per page: every name shown this session
    builder_page: str | None = None  # the page the builder's choices were made on
    builder_open: bool = False  # as of the builder's last run: it lists the page's whole address
    full_run: bool = False  # between begin() and finish(): a run of the whole page, not a section's alone


def _session() -> _SessionState:
    state = st.session_state.get(STATE)
    if not isinstance(state, _SessionState):
        state = st.session_state[STATE] = _SessionState()
    return state


def locked(name: str, *overwrites: str) -> bool:
    """Whether the control ``name`` is locked by the link, for its widget's ``disabled=``; ``overwrites``: the
    controls it sets (a preset's), which lock it too. Also records ``name`` as a control of the page."""
    state = _session()
    state.shown[name] = None
    return name in state.lock or not state.lock.isdisjoint(overwrites)


def in_full_run() -> bool:
    """Whether this run is the whole page's (:func:`begin` ran), not one of its sections' alone
    (app/sections.py)."""
    return _session().full_run


def builder_open() -> bool:
    """Whether "Link for my class" was open at its last run (a full run, or its own fragment's on a toggle)."""
    return _session().builder_open


def _draw_style(slot, hidden, present: bool) -> None:
    """The page's CSS, in ``slot`` (an ``st.empty``), replacing what it held. Markdown, not ``st.html``: a
    style-only ``st.html`` goes to Streamlit's event container, where a later run of the slot cannot replace it.
    The text is built from :data:`NAME`-shaped names only, so no URL text reaches the HTML."""
    rules = [f".st-key-{name} {{ display: none !important; }}" for name in hidden if NAME.fullmatch(name)]
    if present:
        rules.append(f"html {{ font-size: {PRESENT_FONT_PX}px; }}")
    if rules:  # the first rule takes the style's own element (and its gap) out of the page
        rules.insert(0, '[data-testid="stElementContainer"]:has(style.classroom) { display: none; }')
        slot.markdown('<style class="classroom">\n' + "\n".join(rules) + "\n</style>", unsafe_allow_html=True)
    else:
        slot.empty()


@dataclass
class Classroom:
    """One run's classroom settings, from :func:`begin`."""

    hide: list[str]
    lock: list[str]
    present: bool
    _style_slot: Any = None
    _notice_slot: Any = None

    @property
    def sidebar_state(self) -> str:
        """``st.set_page_config``'s ``initial_sidebar_state``."""
        return "collapsed" if self.present else "auto"

    def finish(self, page) -> None:
        """After ``page`` (an ``st.Page``) ran: drop the names that are not its controls, with a notice, and
        draw the builder at the end of the sidebar."""
        state = _session()
        known = state.seen.setdefault(page.url_path, {})
        known.update(state.shown)
        dropped = {}
        for param, requested in ((HIDE, self.hide), (LOCK, self.lock)):
            unknown = [n for n in requested if n not in known]
            if unknown:
                kept = [n for n in requested if n in known]
                requested[:] = kept
                urlstate.set_param(param, ",".join(kept) or None)
                dropped[param] = (f"{len(unknown)} of its names {'is' if len(unknown) == 1 else 'are'} not a control "
                                  "of this page (Link for my class, in the sidebar, lists them)")
        if dropped:
            state.lock = frozenset(self.lock)
            _draw_style(self._style_slot, self.hide, self.present)
            with self._notice_slot.container():
                urlstate.show_notice(dropped)
        if state.builder_page != page.url_path:  # another page's builder choices mean nothing here
            for key in (BUILDER_HIDE, BUILDER_LOCK, BUILDER_PRESENT):
                st.session_state.pop(key, None)
            state.builder_page = page.url_path
        with st.sidebar:  # a fragment draws in the container it is called in (st.sidebar itself is refused)
            _builder(page, list(known), self)
        state.full_run = False


def begin() -> Classroom:
    """Read ``?hide=``, ``?lock=`` and ``?present=`` before the page runs (with urlstate's notice for malformed
    ones) and hide what is to be hidden before any of it is drawn."""
    checked = urlstate.validate_params(SPEC, max_len={HIDE: LIST_MAX_LEN, LOCK: LIST_MAX_LEN})
    room = Classroom(list(checked.values.get(HIDE, [])), list(checked.values.get(LOCK, [])),
                     checked.values.get(PRESENT) in ("1", "true"))
    charts.set_font_scale(PRESENT_FONT_PX / BASE_FONT_PX if room.present else 1.0)
    state = _session()
    state.lock = frozenset(room.lock)
    state.shown = {}
    state.full_run = True
    if room.hide or room.lock or room.present:
        room._style_slot = st.empty()
        room._notice_slot = st.empty()
        _draw_style(room._style_slot, room.hide, room.present)
    return room


def link(page, query: dict[str, list[str]], hide: list[str], lock: list[str], present: bool) -> str:
    """The class link: this page's address with ``query`` (the view as it is now) and the classroom settings."""
    params = [(k, v) for k, values in query.items()
              if k not in (*URL_PARAMS, BUILDER_HIDE, BUILDER_LOCK, BUILDER_PRESENT) for v in values]
    params += [(k, ",".join(v)) for k, v in ((HIDE, hide), (LOCK, lock)) if v]
    if present:
        params.append((PRESENT, "1"))
    address = st.context.url or f"/{page.url_path}"
    return address + ("?" + urllib.parse.urlencode(params, safe=",") if params else "")


# A fragment: what the builder's controls pick (hide, lock, presenter mode) goes only into the link it shows,
# so a pick reruns the builder alone, not the page under it (a whole page's rerun was 20-40 ms of the
# server's time, bench/load.py's per-control figures). Its arguments are the last full run's, which are
# current: the page's controls, and the page itself, change only with a full run.
@st.fragment
@run_slots.one_at_a_time
def _builder(page, names: list[str], room: Classroom) -> None:
    checked = urlstate.validate_params({
        BUILDER_HIDE: urlstate.subset_of(*names, max_count=len(names)),
        BUILDER_LOCK: urlstate.subset_of(*names, max_count=len(names)),
        BUILDER_PRESENT: urlstate.boolean(),
    }, notice=False)
    # Keyed and rerun on toggle: while it is open, a section's change reruns the whole page (app/sections.py).
    builder = st.expander("Link for my class", icon=":material/school:", expanded=bool(checked.dropped),
                                  key=BUILDER_OPEN, on_change="rerun")
    _session().builder_open = builder.open
    with builder:
        urlstate.show_notice(checked.dropped)
        st.caption("A link to this page as it is now, with the controls you pick hidden or locked (shown, but "
                   "fixed at their value). Hidden controls keep acting with their value.")
        hide = st.multiselect(
            "Hide", names, default=[n for n in room.hide if n in names], key=BUILDER_HIDE, bind="query-params",
            placeholder="controls to hide", help="Controls by their name in the address (their widget key).")
        lock = st.multiselect(
            "Lock", names, default=[n for n in room.lock if n in names], key=BUILDER_LOCK, bind="query-params", placeholder="controls to lock",
            help="Shown, but disabled: they keep the value they have now.")
        present = st.checkbox(
            "Presenter mode", value=room.present, key=BUILDER_PRESENT, bind="query-params",
            help="For a projector: larger type and charts, the sidebar collapsed.")
        query = {k: st.query_params.get_all(k) for k in st.query_params}
        st.code(link(page, query, hide, [n for n in lock if n not in hide], present), language=None,
                wrap_lines=True)
