"""What every page's AppTest needs: the app switched to a page, and Plotly's typed arrays decoded."""

from __future__ import annotations

import base64
from pathlib import Path

import numpy as np
from streamlit.testing.v1 import AppTest

MAIN = str(Path(__file__).resolve().parents[2] / "app" / "main.py")


def open_page(page: str, **query: str | list[str]) -> AppTest:
    """The app, switched to ``page``, with ``query`` in the URL as a visitor's link would put it."""
    at = AppTest.from_file(MAIN, default_timeout=60)
    for key, value in query.items():
        at.query_params[key] = value
    at.run()
    at.switch_page(page).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def decode(values) -> np.ndarray:
    """A Plotly 7 array from a figure's JSON: ``{"dtype", "bdata"[, "shape"]}`` (base64) or a plain list."""
    if isinstance(values, dict) and "bdata" in values:
        flat = np.frombuffer(base64.b64decode(values["bdata"]), values["dtype"]).astype(np.float64)
        return flat.reshape([int(n) for n in values["shape"].split(",")]) if "shape" in values else flat
    return np.asarray(values, dtype=np.float64)


def open_questions(at: AppTest) -> AppTest:
    """The page's "Think about it" expander opened (it draws its questions only when open), as a click would."""
    from grpo_core.questions import QUESTIONS

    for asked in QUESTIONS.values():
        at.session_state[asked[0].key.rsplit("_", 1)[0] + "_open"] = True
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at
