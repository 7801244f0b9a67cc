"""app/live_chart.py: a figure reaches the in-place chart component whole; the rebuild fallback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
from streamlit.testing.v1 import AppTest

from tests import page_catalog as pc
from tests.app.pages import decode

ROOT = Path(__file__).resolve().parents[2]


def chart_script():
    import numpy as np
    import plotly.graph_objects as go
    import streamlit as st

    import live_chart

    mode = st.session_state.get("mode", "in-place")
    live_chart.MODE = mode
    runs = st.session_state["runs"] = st.session_state.get("runs", 0) + 1  # new data at every rerun
    live_chart.live_plotly_chart(
        go.Figure(go.Scatter(x=np.arange(4), y=np.array([0.5, 0.25, 0.125, 1.0]) * runs, name="line"),
                  layout=dict(height=321, template="none", title=dict(text="T"))),
        key="chart")
    live_chart.live_plotly_chart(go.Figure(layout=dict(template="none")), key="no_height",
                                 config={"scrollZoom": True})


def run(mode: str) -> AppTest:
    at = AppTest.from_function(chart_script)
    at.session_state["mode"] = mode
    at.run()
    assert not at.exception, at.exception
    return at


def test_the_component_gets_the_figure_its_height_and_config():
    at = run("in-place")
    charts = at.get("component_instance")
    assert [c.proto.component_name for c in charts] == [live_chart_name()] * 2
    args = json.loads(charts[0].proto.json_args)
    figure = json.loads(args["figure"])
    assert args["height"] == 321
    assert args["config"] == {"displayModeBar": False}
    (trace,) = figure["data"]
    assert trace["name"] == "line"
    np.testing.assert_array_equal(decode(trace["y"]), [0.5, 0.25, 0.125, 1.0])
    second = json.loads(charts[1].proto.json_args)
    assert second["height"] == 450  # the default when the figure sets none
    assert second["config"] == {"displayModeBar": False, "scrollZoom": True}
    # the same figures as the test helpers see them (page_catalog reads both kinds of chart)
    assert [f["layout"].get("title", {}).get("text") for f in pc.figures(at)] == ["T", None]


def test_new_data_keep_the_same_chart_identity():
    # the identity must not follow the data: a new identity rebuilds the chart, which is what this avoids
    at = run("in-place")
    first = at.get("component_instance")[0]
    at.run()
    second = at.get("component_instance")[0]
    assert second.proto.json_args != first.proto.json_args
    assert second.proto.id == first.proto.id


def test_st_plotly_chart_gives_new_data_a_new_identity():
    # why the component exists: Streamlit 1.67's plotly_chart derives its identity from the figure
    at = run("rebuild")
    first = at.get("plotly_chart")[0].proto.id
    at.run()
    assert at.get("plotly_chart")[0].proto.id != first


def test_rebuild_mode_draws_with_st_plotly_chart():
    at = run("rebuild")
    assert not at.get("component_instance")
    charts = at.get("plotly_chart")
    assert len(charts) == 2
    assert json.loads(charts[0].proto.config)["displayModeBar"] is False
    assert json.loads(charts[0].proto.spec)["data"][0]["name"] == "line"


def test_an_unknown_mode_is_refused_at_start():
    result = subprocess.run([sys.executable, "-c", "import live_chart"], cwd=ROOT / "app", capture_output=True,
                            text=True, env={**os.environ, "GRPO_LIVE_CHARTS": "sometimes"})
    assert result.returncode != 0
    assert "GRPO_LIVE_CHARTS must be 'in-place' or 'rebuild'" in result.stderr


def test_the_frame_page_loads_plotly_js_from_the_served_component():
    import live_chart

    page = (ROOT / "app" / "live_chart_frontend" / "index.html").read_text()
    assert f'<script src="../{live_chart.PLOTLY_JS_NAME}/plotly.min.js"></script>' in page
    assert (Path(live_chart.plotly.__file__).parent / "package_data" / "plotly.min.js").is_file()


def live_chart_name() -> str:
    import live_chart

    return live_chart.COMPONENT_NAME
