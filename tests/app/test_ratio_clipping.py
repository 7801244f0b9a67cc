"""AppTest of the Ratio and clipping page: the numbers, words and curves it shows, and its URL state."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from streamlit.testing.v1 import AppTest

from tests.app import pages

from grpo_core import clipped_surrogate

PAGE = "app_pages/ratio_clipping.py"


def open_page(**query: str | list[str]) -> AppTest:
    return pages.open_page(PAGE, **query)


def rerun(at: AppTest, **values) -> AppTest:
    for key, value in values.items():
        widget = at.checkbox(key=key) if isinstance(value, bool) else at.slider(key=key)
        widget.set_value(value)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


decode = pages.decode


def figure(at: AppTest) -> dict:
    (chart,) = [c for c in at.get("plotly_chart") if c.proto.id.endswith("-clip_chart")]
    return json.loads(chart.proto.spec)


def traces(at: AppTest, name: str) -> list[dict]:
    return [t for t in figure(at)["data"] if t.get("name") == name]


def metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def region(at: AppTest) -> tuple[float, float]:
    rects = [s for s in figure(at)["layout"]["shapes"] if s["type"] == "rect"]
    assert len(rects) == 4  # one band behind each of the four panels
    assert len({(s["x0"], s["x1"]) for s in rects}) == 1
    return rects[0]["x0"], rects[0]["x1"]


def test_default_is_the_notebooks_example_clipped_with_reason():
    at = open_page()
    assert metrics(at) == {"clipped objective J": "1.200", "unclipped r·A": "1.500", "gradient dJ/dr": "0.000",
                           "push r·dJ/dr": "0.000", "clipped?": "yes"}
    (reason,) = [w.value for w in at.warning]
    assert "ratio 1.5 > 1+ε = 1.2 and A > 0" in reason and "gradient is 0" in reason
    assert region(at) == pytest.approx((0.8, 1.2))


def test_curves_are_the_core_objective_and_its_gradient():
    at = open_page()
    for xaxis, advantage in (("x", 1.0), ("x2", -1.0)):
        (objective,) = [t for t in traces(at, "clipped objective J(r)") if t["xaxis"] == xaxis]
        x, y = decode(objective["x"]), decode(objective["y"])
        expected = clipped_surrogate(torch.tensor(x), torch.tensor(advantage), epsilon=0.2).numpy()
        np.testing.assert_allclose(y, expected, atol=1e-6)
        (unclipped,) = [t for t in traces(at, "unclipped r·A") if t["xaxis"] == xaxis]
        assert unclipped["line"]["dash"] == "dash" and objective["line"].get("dash") in (None, "solid")
        np.testing.assert_allclose(decode(unclipped["y"]), x * advantage, atol=1e-6)
        # The gradient panel below: A where the objective follows the ratio, 0 where it is flat.
        gx = "x3" if xaxis == "x" else "x4"
        (gradient,) = [t for t in traces(at, "dJ/dr (autograd)") if t["xaxis"] == gx]
        g = decode(gradient["y"])
        flat = (x > 1.2 + 1e-6) if advantage > 0 else (x < 0.8 - 1e-6)
        moving = ((x < 1.2 - 1e-6) if advantage > 0 else (x > 0.8 + 1e-6))
        assert (g[flat] == 0).all() and np.allclose(g[moving], advantage)


def test_point_is_drawn_on_its_panel():
    at = open_page()
    point = traces(at, "your point")
    assert {(t["xaxis"], t["yaxis"]) for t in point} == {("x", "y"), ("x3", "y3")}  # A > 0: left column
    assert [x for t in point for x in decode(t["x"])] == pytest.approx([1.5, 1.5, 1.5])
    assert sorted(y for t in point for y in decode(t["y"])) == pytest.approx([0.0, 0.0, 1.2])  # J, dJ/dr, r·dJ/dr
    rerun(at, clip_ratio=0.5, clip_adv=-1.0)
    point = traces(at, "your point")
    assert {t["xaxis"] for t in point} == {"x2", "x4"}  # A < 0: right column
    assert sorted(y for t in point for y in decode(t["y"])) == pytest.approx([-0.8, 0.0, 0.0])
    assert metrics(at)["clipped objective J"] == "-0.800" and metrics(at)["clipped?"] == "yes"
    assert "ratio 0.5 < 1−ε = 0.8 and A < 0" in at.warning[0].value


def test_outside_but_not_clipped_is_explained():
    at = rerun(open_page(), clip_ratio=0.5, clip_adv=1.0)
    assert metrics(at) == {"clipped objective J": "0.500", "unclipped r·A": "0.500", "gradient dJ/dr": "1.000",
                           "push r·dJ/dr": "0.500", "clipped?": "no"}
    assert not at.warning
    assert "Not clipped" in at.info[0].value and "0.5 < 1−ε = 0.8 but A > 0" in at.info[0].value


def test_clip_higher_widens_the_top_of_the_region():
    at = open_page()
    assert at.slider(key="clip_eps_high").disabled
    at = rerun(rerun(at, clip_higher=True), clip_eps_high=0.6)
    assert region(at) == pytest.approx((0.8, 1.6))
    assert metrics(at)["clipped objective J"] == "1.500" and metrics(at)["clipped?"] == "no"
    assert metrics(at)["gradient dJ/dr"] == "1.000"


def test_dual_clip_caps_the_negative_side():
    at = rerun(open_page(), clip_ratio=4.0, clip_adv=-1.0)
    assert metrics(at)["clipped objective J"] == "-4.000" and metrics(at)["clipped?"] == "no"
    at = rerun(at, clip_dual=True)  # δ's default is 3
    assert metrics(at)["clipped objective J"] == "-3.000" and metrics(at)["gradient dJ/dr"] == "0.000"
    assert "δ = 3" in at.warning[0].value
    (objective,) = [t for t in traces(at, "clipped objective J(r)") if t["xaxis"] == "x2"]
    x, y = decode(objective["x"]), decode(objective["y"])
    assert y[x > 3.0 + 1e-6] == pytest.approx(np.full((x > 3.0 + 1e-6).sum(), -3.0))
    delta_lines = [s for s in figure(at)["layout"]["shapes"] if s["type"] == "line" and s["x0"] == 3.0]
    assert len(delta_lines) == 2


def test_delta_at_or_below_the_upper_bound_is_refused_with_a_message():
    at = rerun(open_page(), clip_ratio=4.0, clip_adv=-1.0, clip_higher=True, clip_dual=True)
    at = rerun(at, clip_eps_high=1.0, clip_delta=1.5)
    message = " ".join(w.value for w in at.warning)
    assert "must be greater than 1+ε_high = 2" in message
    assert metrics(at)["clipped objective J"] == "-4.000"  # dual clip stays off, nothing crashes


def test_query_params_open_the_shared_view():
    at = open_page(clip_eps="0.3", clip_ratio="1.25", clip_adv="2", clip_higher="false")
    assert at.slider(key="clip_eps").value == pytest.approx(0.3)
    assert region(at) == pytest.approx((0.7, 1.3))
    assert metrics(at)["clipped objective J"] == "2.500" and metrics(at)["clipped?"] == "no"


@pytest.mark.parametrize("query", [
    {"clip_eps": "abc", "clip_ratio": "99", "clip_adv": "nan"},
    {"clip_eps": "<script>alert(1)</script>", "clip_delta": "1e309", "clip_dual": "maybe"},
])
def test_hostile_query_is_ignored_with_a_notice(query):
    at = open_page(**query)
    notice = at.warning[0].value
    assert "could not be used" in notice and "script" not in notice.lower()
    assert at.slider(key="clip_eps").value == pytest.approx(0.2)
    assert metrics(at)["clipped objective J"] == "1.200"


def test_every_control_has_help_a_range_and_a_url_key():
    page = open_page().main  # the sidebar holds the app's own "Link for my class" builder
    for slider in page.slider:
        assert slider.help and slider.min is not None and slider.max is not None and slider.key.startswith("clip_")
    for box in page.checkbox:
        assert box.help and box.key.startswith("clip_")
    assert len(page.slider) == 5 and len(page.checkbox) == 2
    assert any(e.label == "Think about it" for e in page.expander)


def test_zero_advantage_draws_no_point_and_says_why():
    at = rerun(open_page(), clip_adv=0.0)
    assert traces(at, "your point") == []
    assert metrics(at)["gradient dJ/dr"] == "0.000" and metrics(at)["clipped?"] == "no"
    assert "A = 0" in at.info[0].value
    (objective,) = [t for t in traces(at, "clipped objective J(r)") if t["xaxis"] == "x"]
    assert np.isfinite(decode(objective["y"])).all()  # the panels fall back to A = ±1, never NaN


LOG_GRADIENT = "r·dJ/dr = ∂J/∂log π (what backprop sees)"


def page_text(at: AppTest) -> str:
    return " ".join(m.value for m in at.markdown)


def test_log_gradient_is_r_times_the_slope_and_grows_on_the_unclipped_side():
    at = rerun(open_page(), clip_ratio=4.0, clip_adv=-1.0)
    for gx, advantage in (("x3", 1.0), ("x4", -1.0)):
        (slope,) = [t for t in traces(at, "dJ/dr (autograd)") if t["xaxis"] == gx]
        (push,) = [t for t in traces(at, LOG_GRADIENT) if t["xaxis"] == gx]
        x = decode(push["x"])
        np.testing.assert_allclose(decode(push["y"]), x * decode(slope["y"]), atol=1e-6)
        assert push["line"]["dash"] == "dash" and slope["line"].get("dash") in (None, "solid")  # not colour alone
    # A < 0 at r = 4: dJ/dr stays at A = -1, the push on log π is 4·A.
    assert metrics(at)["gradient dJ/dr"] == "-1.000" and metrics(at)["push r·dJ/dr"] == "-4.000"
    # The gradient panels are tall enough to show it.
    lo, hi = figure(at)["layout"]["yaxis4"]["range"]
    (push,) = [t for t in traces(at, LOG_GRADIENT) if t["xaxis"] == "x4"]
    assert lo <= decode(push["y"]).min() and hi >= decode(push["y"]).max()
    at = rerun(at, clip_dual=True)  # δ = 3 caps it: flat past δ, so no push at all
    assert metrics(at)["push r·dJ/dr"] == "0.000"
    (push,) = [t for t in traces(at, LOG_GRADIENT) if t["xaxis"] == "x4"]
    x, y = decode(push["x"]), decode(push["y"])
    assert y[x < 3.0 - 1e-6].min() == pytest.approx(-3.0, abs=0.01) and (y[x > 3.0 + 1e-6] == 0).all()


def test_text_says_only_the_pushed_side_goes_flat():
    text = page_text(open_page())
    assert "r > 1+ε for A > 0, r < 1−ε for A < 0" in text and "Past the other edge nothing is clipped" in text
    assert "past its edge the objective goes flat" not in text


def test_when_is_r_not_one_names_its_causes_and_trls_defaults():
    at = open_page()
    assert "When is r ≠ 1 in practice?" in [h.value for h in at.subheader]
    text = page_text(at)
    for cause in ("μ > 1", "`steps_per_generation` > `gradient_accumulation_steps`", "vLLM",
                  "vllm_importance_sampling_correction"):
        assert cause in text, cause
    assert "With TRL's defaults (β = 0, `num_iterations` = 1" in text and "neither the clip nor a KL term" in text


@pytest.mark.parametrize("x_max, kinks", [(2.5, (0.8, 1.2)), (2.5, (0.877, 1.234)), (6.5, (0.0, 2.0, 6.0)),
                                          (3.1, (0.8, 1.28, 2.65)), (2.507, (0.8, 1.2)), (2.75, (0.8, 1.2, 3.0))])
def test_ratio_sweep_spans_the_axis_through_every_kink_no_wider_than_a_step(x_max, kinks):
    import ratio_figures

    r = ratio_figures.ratio_sweep(x_max, kinks).double().numpy()
    assert r[0] == 0 and r[-1] == pytest.approx(x_max, abs=1e-6)  # the curve reaches the axis' end, not past it
    assert (np.diff(r) > 0).all() and np.diff(r).max() <= ratio_figures.CURVE_STEP + 1e-6
    for kink in kinks:
        if kink <= x_max:
            assert np.abs(r - kink).min() < 1e-6, kink  # the corner is a drawn point, not cut across
        else:
            assert r.max() <= x_max + 1e-6  # a kink past the axis adds nothing


def test_ratio_sweep_without_kinks_is_the_grid_and_far_smaller_than_before():
    import ratio_figures

    assert len(ratio_figures.ratio_sweep(2.5, ())) == 251  # 0, 0.01, ..., 2.5 (it was 801 points)
    assert len(ratio_figures.ratio_sweep(2.5, (0.8, 1.2))) == 251  # kinks on the grid add no point
    assert len(ratio_figures.ratio_sweep(2.5, (0.877,))) == 252


def test_curves_turn_exactly_at_an_off_grid_clip_bound():
    at = open_page(clip_eps="0.123")
    (objective,) = [t for t in traces(at, "clipped objective J(r)") if t["xaxis"] == "x"]
    x, y = decode(objective["x"]), decode(objective["y"])
    (at_bound,) = np.flatnonzero(np.abs(x - 1.123) < 1e-6)
    assert y[at_bound] == pytest.approx(1.123, abs=1e-5)  # the top of the ramp, A = 1
    assert (y[x > 1.123 + 1e-6] == pytest.approx(1.123, abs=1e-5))
