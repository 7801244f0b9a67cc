"""The live-training dashboard updated in place (``Plotly.react``, as app/live_chart.py does each refresh)
draws exactly what a fresh chart of the same figure draws, in headless Chromium.

app/charts.py gives the dashboard fixed margins and a zero-length ``transition`` so that a refresh with only
new points takes Plotly's animation path, which skips the full redraw; that path does not move margins, so
a refresh whose tick labels grow would draw lines past their panels if the margins followed the labels.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import plotly
import plotly.io as pio
import pytest

import charts
from grpo_core.training import TRAIN_METRIC_NAMES
from tests.support import chromium_page

pytestmark = [pytest.mark.browser, pytest.mark.slow]

PLOTLY_JS = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"

DRAW = """
async ([before, after]) => {
  const config = {displayModeBar: false};
  const at = (f) => ({...f.layout, width: 1100});
  await Plotly.newPlot('updated', before.data, at(before), config);
  await Plotly.react('updated', after.data, at(after), config);
  await Plotly.newPlot('fresh', JSON.parse(JSON.stringify(after.data)), at(after), config);
}
"""


def dashboard(steps: int, scale: float, seed: int) -> dict:
    """A dashboard of ``steps`` steps whose every metric wanders on the order of ``scale``."""
    rng = np.random.default_rng(seed)
    metrics = {name: scale * rng.standard_normal(steps).cumsum() for name in TRAIN_METRIC_NAMES}
    return json.loads(pio.to_json(charts.training_dashboard(np.arange(1, steps + 1),
                                                            charts.training_panels(metrics, "k3")), validate=False))


def test_the_dashboard_takes_the_transition_path_with_fixed_margins():
    layout = dashboard(20, 1.0, 0)["layout"]
    assert layout["transition"] == {"duration": 0}
    axes = [v for k, v in layout.items() if k.startswith(("xaxis", "yaxis"))]
    assert len(axes) >= 16 and all(axis["automargin"] is False for axis in axes)


@pytest.mark.parametrize("before, after", [((30, 0.01, 1), (200, 5000.0, 2)),   # labels from 0.01 to 12k
                                           ((200, 5000.0, 3), (40, 0.0004, 4))])  # and back to 1e-4
def test_a_refresh_in_place_draws_what_a_fresh_chart_draws(before, after):
    with chromium_page() as page:
        page.set_content('<div id="updated" style="width:1100px"></div><div id="fresh" style="width:1100px"></div>')
        page.add_script_tag(path=str(PLOTLY_JS))
        page.evaluate(DRAW, [dashboard(*before), dashboard(*after)])
        page.wait_for_timeout(100)
        updated = page.locator("#updated").screenshot(animations="disabled")
        fresh = page.locator("#fresh").screenshot(animations="disabled")
    assert updated == fresh
