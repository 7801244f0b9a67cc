"""The figures are built as plain specs (charts.PlainFigure) that skip Plotly's validators (issue 11): these
tests hold every figure the pages draw to what graph objects would have made of it, and pin the Streamlit
and Plotly behaviour that makes skipping the validators pay."""

from __future__ import annotations

import json
import sys

import numpy as np
import plotly.graph_objects as go
import plotly.io as pio
import plotly.tools
import pytest

from tests import page_catalog as pc

sys.path.insert(0, str(pc.APP_DIR))
import charts  # noqa: E402

#: Besides each page as it opens, states that draw what the defaults do not (dual clip's δ line, the token lab).
STATES = {
    "ratio-clipping": [{"clip_dual": "true", "clip_adv": "-1", "clip_ratio": "4"},
                       {"clip_higher": "true", "clip_eps_high": "0.6", "clip_adv": "0"}],
    "kl-beta": [{"kl_lab": "Tokens", "kl_beta": "0.7"}],
}


def cases():
    for page in pc.pages():
        for query in [None, *STATES.get(page.url_path, [])]:
            yield pytest.param(page, query, id=f"{page.url_path}{'?' + '&'.join(query) if query else ''}")


def validated(spec: dict) -> dict:
    """``spec`` after a round through graph objects: what validation (and Plotly's own coercions) make of it."""
    return json.loads(pio.to_json(go.Figure(spec), validate=False))


@pytest.mark.parametrize(("page", "query"), list(cases()))
def test_every_figure_is_what_graph_objects_would_have_built(page, query):
    at = pc.open_page(page, query)
    assert not at.exception, pc.exceptions(at)
    if page.url_path == "training":  # the dashboard and the heatmaps appear once a step has run
        at.button(key="tr_step").click().run()
        pc.fill_in(at)
    for spec in pc.figures(at):
        assert spec == validated(spec)


def test_that_check_catches_a_misspelt_property_and_a_shorthand():
    def spec():
        return json.loads(pio.to_json(charts.runs_overlay([("run", [1, 2], [0.5, 0.6])], title="t", y_title="y"),
                                      validate=False))

    assert spec() == validated(spec())
    misspelt = spec()
    misspelt["layout"]["xaxis"]["titel"] = {"text": "step"}
    with pytest.raises(ValueError):
        validated(misspelt)
    for key, value in (("title_text", "step"), ("title", "step")):  # plotly.js reads neither as graph objects do
        shorthand = spec()
        shorthand["layout"]["xaxis"].pop("title")
        shorthand["layout"]["xaxis"][key] = value
        assert shorthand != validated(shorthand)


def test_streamlit_and_plotly_io_take_a_plain_figure_as_it_is():
    figure = charts.runs_overlay([("run", np.arange(3), np.array([0.1, 0.2, 0.3], np.float32))], title="t",
                                 y_title="y")
    # st.plotly_chart (Streamlit 1.67) calls this with validate_figure=True: a figure object is not validated again
    assert plotly.tools.return_figure_from_figure_or_data(figure, validate_figure=True) is figure.to_dict()
    sent = json.loads(pio.to_json(figure, validate=False))
    assert sent["data"][0]["y"] == {"dtype": "f4", "bdata": "zczMPc3MTD6amZk+"}  # 0.1, 0.2, 0.3 as float32
