"""The check every page with an ``st.data_editor`` runs before the editor applies a pending edit.

``st.data_editor`` applies its edit state (``{"edited_rows", "added_rows", "deleted_rows"}``) before the
script sees the result: it raises on a row or column that does not exist (a crafted client can send any
state), and it adds rows one at a time (quadratic: 10,000 pasted rows stall the server for minutes). So the
state is checked first. Cell edits and deletions address the ``n_rows`` rows of the table the editor was
given; additions come after. After the edit, :func:`valid_or_last` reads the table or keeps the last valid one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import TypeVar

import streamlit as st

from safe_text import md

T = TypeVar("T")

UNREADABLE = "That edit could not be read"


def edit_problem(pending: object, n_rows: int, *, columns: Iterable[str], max_rows: int,
                 min_rows: int = 0) -> str | None:
    """Why ``pending`` cannot be applied safely to a table of ``n_rows`` completions, or ``None`` when it can.

    The result must keep ``min_rows`` to ``max_rows`` rows, and every edited or added cell must be one of
    ``columns``. The message never quotes the pending state.
    """
    if pending is None:
        return None
    if not isinstance(pending, Mapping):
        return UNREADABLE
    edited, added, deleted = (pending.get(k) or empty for k, empty in
                              (("edited_rows", {}), ("added_rows", []), ("deleted_rows", [])))
    if not (isinstance(edited, Mapping) and isinstance(added, list) and isinstance(deleted, list)):
        return UNREADABLE
    total = n_rows + len(added) - len(set(map(str, deleted)))
    if total > max_rows:
        return f"That edit would make {total:,} completions, more than the {max_rows} this page can draw"
    if total < min_rows:
        return f"That edit would leave {total:,} completions, fewer than the {min_rows} this page needs"
    rows = {str(i) for i in range(n_rows)}
    if not ({str(k) for k in edited} <= rows and {str(k) for k in deleted} <= rows):
        return UNREADABLE
    allowed = set(columns)
    if not all(isinstance(c, Mapping) and set(c) <= allowed for c in [*edited.values(), *added]):
        return UNREADABLE
    return None


def valid_or_last(parse: Callable[[list[dict]], T], edited, good_key: str, keeps: str) -> T:
    """The editor's result ``edited`` (a DataFrame) read by ``parse``, kept in the session under ``good_key``;
    where ``parse`` refuses it (``ValueError``), the last valid table, with the reason and ``keeps`` (what the
    page goes on showing) in an error box, escaped (the reason may quote a cell)."""
    try:
        table = st.session_state[good_key] = parse(edited.to_dict("records"))
    except ValueError as err:
        table = st.session_state[good_key]
        st.error(f"{md(err)} {keeps}")
    return table
