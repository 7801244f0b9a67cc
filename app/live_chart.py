"""A Plotly chart updated in place, for the charts that redraw several times a second while training plays.

``st.plotly_chart`` gives a figure a new element identity whenever its data change, so on every refresh
the browser throws the chart away and builds it from nothing, and then draws it a second time once it
knows its width. While the live-training page played, that was most of the browser's time: refreshes came
late, and so did the answer to a click on Pause. This component keeps one chart per ``key`` in a small
frame and hands each new figure to ``Plotly.react``, which keeps the chart's DOM (and the reader's zoom,
through ``uirevision``) and redraws it once. ``bench/bench_browser.py`` measures both ways side by side.

The figure travels as Plotly's JSON (arrays as base64 typed arrays). The frame's page
(``live_chart_frontend/index.html``) draws it as data and writes any message of its own as text, never
as HTML. plotly.js comes from the installed, pinned plotly package, served by the app itself: the site
needs no CDN.

``GRPO_LIVE_CHARTS=rebuild`` in the environment falls back to ``st.plotly_chart`` (for a deployment that
forbids frames, and for the side-by-side benchmark).
"""

from __future__ import annotations

import os
from pathlib import Path

import plotly
import plotly.graph_objects as go
import plotly.io as pio
import streamlit as st
import streamlit.components.v1 as components

#: How charts update: "in-place" (this component) or "rebuild" (``st.plotly_chart``).
MODE = os.environ.get("GRPO_LIVE_CHARTS", "in-place")
if MODE not in ("in-place", "rebuild"):
    raise ValueError(f"GRPO_LIVE_CHARTS must be 'in-place' or 'rebuild'; got {MODE!r}")
DEFAULT_HEIGHT = 450

# Declared only to serve plotly.min.js (plotly's package_data folder) under /component/live_chart.plotly_js/.
_PLOTLY_JS = components.declare_component("plotly_js", path=str(Path(plotly.__file__).parent / "package_data"))
_CHART = components.declare_component("chart", path=str(Path(__file__).parent / "live_chart_frontend"))
#: The names Streamlit registers (module name + name) and serves under ``/component/<name>/``; the frame's
#: page (``/component/live_chart.chart/index.html``) loads ``../live_chart.plotly_js/plotly.min.js``.
COMPONENT_NAME, PLOTLY_JS_NAME = _CHART.name, _PLOTLY_JS.name


def live_plotly_chart(figure: go.Figure, *, key: str, config: dict | None = None) -> None:
    """Draw ``figure`` as the chart keyed ``key``, updating the chart already on the page in place.

    The chart is ``figure.layout.height`` pixels tall (450 if unset) and as wide as its container.
    ``config`` is Plotly's config (the mode bar is off unless it says otherwise).
    """
    config = {"displayModeBar": False, **(config or {})}
    if MODE == "rebuild":
        st.plotly_chart(figure, key=key, config=config)
        return
    spec = figure.to_dict()  # charts.PlainFigure: the finished spec, no copy
    height = int(spec["layout"].get("height") or DEFAULT_HEIGHT)
    _CHART(figure=pio.to_json(spec, validate=False), height=height, config=config, key=key, default=None)
