"""Shareable URL state: check the query string before the widgets read it, write hand-encoded values back.

A page's widgets are bound to the URL with ``key=NAME, bind="query-params"``: Streamlit seeds them from
``?NAME=...`` and writes every change back. Streamlit *silently* drops a bound value it cannot use
(``?eps=abc``, out of range, an unknown option), so the reader of a broken link would not know why the
view differs from the one that was shared. Call :func:`validate_params` at the top of the page, **before
creating any widget**, with one validator per URL parameter the page reads: malformed values are dropped
and named in one ``st.warning`` (the notice), valid ones are returned parsed. Values that Streamlit does
not bind (such as a table encoded by hand) are read from the returned dict and written with
:func:`set_param`.

Usage (a page)::

    import urlstate

    checked = urlstate.validate_params({
        "eps": urlstate.float_in(0.0, 0.5),          # key == the widget's key == the URL name
        "level": urlstate.one_of("token", "sequence"),
        "show": urlstate.boolean(),
        "table": my_decode,                          # any callable str -> value, ValueError if malformed
    })
    eps = st.slider("ε", 0.0, 0.5, 0.2, 0.01, key="eps", bind="query-params", help="...")
    table = checked.values.get("table", DEFAULT_TABLE)
    ...
    urlstate.set_param("table", my_encode(table))

Rules the helpers keep, so that a hostile link never crashes a page:

- A validator gets one ``str`` and returns the parsed value or raises ``ValueError`` (``TypeError``,
  ``OverflowError`` and ``ArithmeticError`` are caught too). Its message is shown to the reader, escaped,
  so it may say what is wrong but must not need to quote the input.
- A parameter given twice (``?eps=0.1&eps=0.2``; a :func:`subset_of` one excepted) or longer than
  ``max_len`` characters is malformed.
- The notice names only the page's own parameter keys and the validators' messages, Markdown-escaped;
  the raw URL text is never rendered.
- A bound ``st.radio``/``st.selectbox``/``st.segmented_control`` keeps the *formatted* option in the URL
  (``format_func``'s output, not the option): validate with ``one_of(*formatted labels)``, or better, give
  such widgets short options and no ``format_func`` (``st.radio`` has ``captions=`` for explanations).
- Parameters the spec does not name are left alone (other pages' and Streamlit's own, such as
  ``embed``).

The API (small and stable; other pages rely on it): :func:`validate_params` → :class:`CheckedParams`,
the validator factories :func:`float_in`, :func:`int_in`, :func:`one_of`, :func:`boolean`,
:func:`subset_of` (a multiselect, the one parameter that may be repeated), :func:`set_param`, and
:func:`show_notice` (the notice alone).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import streamlit as st
from streamlit.errors import StreamlitAPIException

from safe_text import md

Validator = Callable[[str], Any]

#: Longest value accepted for one parameter unless the caller says otherwise. Widget values are short;
#: a hand-encoded table passes its own, larger limit through ``max_len``.
DEFAULT_MAX_LEN = 200

_ERRORS = (ValueError, TypeError, OverflowError, ArithmeticError)
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


@dataclass(frozen=True)
class CheckedParams:
    """What :func:`validate_params` found.

    Attributes:
        values: parsed value of every well-formed parameter of the spec that is present in the URL.
        dropped: ``{key: reason}`` for every parameter of the spec that was malformed and ignored.
    """

    values: dict[str, Any] = field(default_factory=dict)
    dropped: dict[str, str] = field(default_factory=dict)


def validate_params(
    spec: Mapping[str, Validator],
    *,
    max_len: int | Mapping[str, int] = DEFAULT_MAX_LEN,
    notice: bool = True,
) -> CheckedParams:
    """Check the URL parameters named in ``spec``; drop malformed ones, with one notice.

    Call before the page creates its widgets, on every run (it is cheap: a dict lookup per key).

    Args:
        spec: ``{url_key: validator}``. For a bound widget the key is the widget's ``key``.
        max_len: longest accepted value, for all keys or per key (missing keys: ``DEFAULT_MAX_LEN``).
        notice: show the ``st.warning`` naming what was ignored (tests of the helper may turn it off).

    Returns:
        :class:`CheckedParams` with the parsed good values and the dropped keys with reasons.

    A malformed parameter is removed from the URL where Streamlit allows it; a widget-bound one cannot be
    removed from Python, but Streamlit itself resets a bound widget whose URL value it cannot use, and the
    notice tells the reader that the default is shown instead.
    """
    values: dict[str, Any] = {}
    dropped: dict[str, str] = {}
    for key, validate in spec.items():
        if key not in st.query_params:
            continue
        limit = max_len.get(key, DEFAULT_MAX_LEN) if isinstance(max_len, Mapping) else max_len
        raw = st.query_params.get_all(key)
        try:
            if getattr(validate, "many", False):  # a multiselect: one repeated parameter per selection
                if any(len(r) > limit for r in raw):
                    raise ValueError(f"a value is longer than {limit} characters")
                values[key] = validate(raw)
                continue
            if len(raw) != 1:
                raise ValueError("it is given more than once")
            if len(raw[0]) > limit:
                raise ValueError(f"it is longer than {limit} characters")
            values[key] = validate(raw[0])
        except _ERRORS as err:
            dropped[key] = str(err) or type(err).__name__
            _try_delete(key)
    if notice:
        show_notice(dropped)
    return CheckedParams(values, dropped)


def show_notice(dropped: Mapping[str, str]) -> None:
    """The notice of :func:`validate_params`, for ``{key: reason}`` (nothing when empty): for a caller that
    drops part of a parameter's value itself (app/classroom.py drops unknown names from a list)."""
    if not dropped:
        return
    reasons = "; ".join(f"**{md(k)}**: {md(v[:200])}" for k, v in dropped.items())
    st.warning(
        f"Part of this link could not be used and was ignored, so the default is shown there "
        f"instead. {reasons}.",
        icon=":material/link_off:",
    )


def set_param(key: str, value: str | None) -> None:
    """Write ``?key=value`` for a value the page encodes itself; ``None`` removes it.

    Writes only when the value changes (each write sends a message to the browser). Never raises for a
    widget-bound key (those are Streamlit's to write): it leaves them alone.
    """
    try:
        if value is None:
            if key in st.query_params:
                del st.query_params[key]
        elif st.query_params.get_all(key) != [value]:
            st.query_params[key] = value
    except StreamlitAPIException:
        pass


def float_in(low: float, high: float) -> Validator:
    """Validator: a plain decimal number in ``[low, high]`` (no ``nan``, ``inf``, hex or ``1_0``)."""

    def parse(text: str) -> float:
        if not _NUMBER.fullmatch(text.strip()):
            raise ValueError("it is not a number")
        number = float(text)
        if not (math.isfinite(number) and low <= number <= high):
            raise ValueError(f"it must be between {low:g} and {high:g}")
        return number

    return parse


def int_in(low: int, high: int) -> Validator:
    """Validator: a whole number in ``[low, high]``."""

    def parse(text: str) -> int:
        if not re.fullmatch(r"[+-]?\d{1,18}", text.strip()):
            raise ValueError("it is not a whole number")
        number = int(text)
        if not low <= number <= high:
            raise ValueError(f"it must be between {low} and {high}")
        return number

    return parse


def one_of(*options: str) -> Validator:
    """Validator: exactly one of ``options`` (case-sensitive, as Streamlit compares option strings)."""
    allowed = tuple(str(o) for o in options)

    def parse(text: str) -> str:
        if text not in allowed:
            raise ValueError("it must be one of " + ", ".join(allowed))
        return text

    return parse


def subset_of(*options: str, max_count: int) -> Validator:
    """Validator of a bound ``st.multiselect`` (``?key=a&key=b``, ``?key=`` for none): distinct ``options``,
    at most ``max_count``. It receives every value of the parameter, a ``list[str]``, and returns the list."""
    allowed = tuple(str(o) for o in options)

    def parse(texts: list[str]) -> list[str]:
        chosen = [t for t in texts if t != ""]
        if any(t not in allowed for t in chosen):
            raise ValueError("each value must be one of " + ", ".join(allowed))
        if len(set(chosen)) != len(chosen):
            raise ValueError("a value is given more than once")
        if len(chosen) > max_count:
            raise ValueError(f"at most {max_count} values may be given")
        return chosen

    parse.many = True
    return parse


def boolean() -> Validator:
    """Validator: ``true`` or ``false`` (what Streamlit writes for a bound toggle or checkbox)."""

    def parse(text: str) -> bool:
        lowered = text.strip().lower()
        if lowered not in ("true", "false"):
            raise ValueError("it must be true or false")
        return lowered == "true"

    return parse


def _try_delete(key: str) -> None:
    try:
        del st.query_params[key]
    except (StreamlitAPIException, KeyError):
        pass
    _forget_bound_param(key)


def _forget_bound_param(key: str) -> None:
    """Remove a parameter before a widget bound to it seeds itself from it.

    Streamlit refuses ``del st.query_params[key]`` for a bound key and seeds the widget from the URL the
    session opened with. It drops values it cannot parse, but not all: an int ``st.number_input`` given
    ``?key=inf`` raises ``OverflowError`` inside Streamlit (1.67), which would reach the page. So the
    value is taken out of both the live and the initial parameters through Streamlit's own
    ``QueryParams.remove_param`` (the method its binding code uses for invalid URL values).
    """
    from streamlit.runtime.scriptrunner_utils.script_run_context import get_script_run_ctx

    ctx = get_script_run_ctx()
    if ctx is None:
        return
    try:
        with ctx.session_state.query_params() as params:
            params.remove_param(key)
            params._initial_query_params.pop(key, None)
    except AttributeError:  # another Streamlit version: its own reset is all there is
        pass


