"""AppTest of the KL and β page: total reward, the estimator lab, KL placement, and the URL state."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from streamlit.testing.v1 import AppTest

from tests.app import pages

from grpo_core import grpo_loss
from grpo_core.curves import categorical_estimator_lab, categorical_kl, gaussian_estimator_lab

PAGE = "app_pages/kl_beta.py"
POLICY_LOGITS = [2.0, 1.0, 0.5, -1.0, -2.0]
REF_LOGITS = [1.0, 1.0, 1.0, 0.0, 0.0]


def open_page(**query: str | list[str]) -> AppTest:
    return pages.open_page(PAGE, **query)


def ok(at: AppTest) -> AppTest:
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


decode = pages.decode


def figure(at: AppTest, key: str) -> dict:
    (chart,) = [c for c in at.get("plotly_chart") if c.proto.id.endswith(f"-{key}")]
    return json.loads(chart.proto.spec)


def trace(at: AppTest, key: str, name: str) -> dict:
    (found,) = [t for t in figure(at, key)["data"] if t.get("name") == name]
    return found


def estimator_table(at: AppTest):
    (table,) = [d for d in at.dataframe if "bias" in d.value.columns]
    return table.value


def exact_kl(at: AppTest) -> float:
    (metric,) = [m for m in at.metric if m.label.startswith("exact KL")]
    return float(metric.value)


def assert_table_matches(at: AppTest, lab) -> None:
    table = estimator_table(at)
    np.testing.assert_allclose(table["mean estimate"], lab.mean.numpy(), rtol=1e-9)
    np.testing.assert_allclose(table["bias"], lab.bias.numpy(), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(table["spread (std over trials)"], lab.spread.numpy(), rtol=1e-9)
    np.testing.assert_allclose(table["single samples < 0"], lab.frac_negative_samples.numpy())
    for i, name in enumerate(("k1", "k2", "k3")):
        box = next(t for t in figure(at, "kl_spread_chart")["data"] if t["name"].startswith(name))
        np.testing.assert_allclose(decode(box["y"]), lab.trial_estimates[i].numpy(), rtol=1e-6)
    assert exact_kl(at) == pytest.approx(lab.exact, abs=5e-5)


def test_total_reward_lines_are_r_minus_beta_kl():
    at = open_page()
    for kl in (1.0, 5.0, 10.0):
        line = trace(at, "kl_reward_chart", f"KL = {kl:g}")
        beta = decode(line["x"])
        assert beta[0] == 0 and beta[-1] == pytest.approx(1.0)
        np.testing.assert_allclose(decode(line["y"]), 1.0 - beta * kl, atol=1e-6)
    marker = trace(at, "kl_reward_chart", "at β = 0.1")
    np.testing.assert_allclose(decode(marker["y"]), [0.9, 0.5, 0.0], atol=1e-6)
    assert marker["cliponaxis"] is False  # at β = 0 or 1 the diamonds sit on the edge and are drawn whole


def test_editing_r_kl_and_beta_redraws():
    at = open_page()
    at.number_input(key="kl_reward").set_value(2.0)
    at.number_input(key="kl_value3").set_value(4.0)
    at.slider(key="kl_beta").set_value(0.5)
    ok(at)
    np.testing.assert_allclose(decode(trace(at, "kl_reward_chart", "at β = 0.5")["y"]), [1.5, -0.5, 0.0], atol=1e-6)
    line = trace(at, "kl_reward_chart", "KL = 4")
    np.testing.assert_allclose(decode(line["y"]), 2.0 - decode(line["x"]) * 4.0, atol=1e-6)
    assert "**1.500**, **-0.500**, **0.000**" in " ".join(m.value for m in at.markdown)


def test_gaussian_lab_default_matches_core():
    at = open_page()
    assert exact_kl(at) == pytest.approx(0.125)
    assert_table_matches(at, gaussian_estimator_lab(0.5, 1.0, 0.0, 1.0, num_samples=10, num_trials=200, seed=0))
    exact_line = figure(at, "kl_spread_chart")["layout"]["shapes"][0]
    assert exact_line["y0"] == pytest.approx(0.125)


def test_gaussian_lab_follows_its_sliders():
    at = open_page()
    at.slider(key="kl_mu").set_value(1.0)
    at.slider(key="kl_sigma_ref").set_value(2.0)
    at.select_slider(key="kl_samples").set_value(100)
    at.slider(key="kl_trials").set_value(50)
    at.number_input(key="kl_seed").set_value(9)
    ok(at)
    assert_table_matches(at, gaussian_estimator_lab(1.0, 1.0, 0.0, 2.0, num_samples=100, num_trials=50, seed=9))
    densities = [trace(at, "kl_dist_chart", name) for name in ("policy π", "reference π_ref")]
    x, y = decode(densities[1]["x"]), decode(densities[1]["y"])
    np.testing.assert_allclose(y, np.exp(-x**2 / 8) / np.sqrt(8 * np.pi), rtol=1e-6)


def test_single_samples_show_k1_negative_and_k3_never():
    at = open_page()
    at.select_slider(key="kl_samples").set_value(1)
    ok(at)
    table = estimator_table(at)
    assert table["single samples < 0"][0] > 0.1
    assert list(table["single samples < 0"][1:]) == [0.0, 0.0]
    k3 = next(t for t in figure(at, "kl_spread_chart")["data"] if t["name"].startswith("k3"))
    assert (decode(k3["y"]) >= 0).all()


def test_token_lab_from_logits():
    at = open_page()
    at.segmented_control(key="kl_lab").set_value("Tokens")
    ok(at)
    assert exact_kl(at) == pytest.approx(categorical_kl(POLICY_LOGITS, REF_LOGITS), abs=5e-5)
    assert_table_matches(at, categorical_estimator_lab(POLICY_LOGITS, REF_LOGITS, num_samples=10, num_trials=200,
                                                       seed=0))
    bars = decode(trace(at, "kl_dist_chart", "policy π")["y"])
    np.testing.assert_allclose(bars, torch.softmax(torch.tensor(POLICY_LOGITS), 0).numpy(), rtol=1e-6)
    at.slider(key="kl_ref_logit1").set_value(2.0)
    ok(at)
    moved = [2.0] + REF_LOGITS[1:]
    assert exact_kl(at) == pytest.approx(categorical_kl(POLICY_LOGITS, moved), abs=5e-5)


def test_placement_table_kl_in_reward_moves_with_beta_kl_in_loss_does_not():
    at = open_page()

    def columns():
        (table,) = [d for d in at.dataframe if "A, KL in loss" in d.value.columns]
        return table.value["A, KL in loss"].to_numpy(), table.value["A, KL in reward"].to_numpy()

    inputs = [torch.tensor(v) for v in ([-1.0, -2.0, -0.5, -3.0], [-1.1, -1.9, -0.6, -2.8],
                                         [-2.5, -2.1, -0.7, -3.1], [1.0, 0.0, 1.0, 0.0])]
    in_loss, in_reward = columns()
    expected = grpo_loss(*inputs, beta=0.1, kl_in="reward").advantages.reshape(-1).numpy()
    np.testing.assert_allclose(in_reward, expected, rtol=1e-6)
    at.slider(key="kl_beta").set_value(0.8)
    ok(at)
    in_loss_after, in_reward_after = columns()
    np.testing.assert_allclose(in_loss_after, in_loss)
    assert not np.allclose(in_reward_after, in_reward)
    assert in_reward_after[0] < in_reward_after[2]  # the drifted correct answer loses advantage


def test_query_params_open_the_shared_view():
    at = open_page(kl_mu="1.5", kl_samples="100", kl_trials="30", kl_seed="5", kl_beta="0.25")
    assert exact_kl(at) == pytest.approx(1.125)
    assert_table_matches(at, gaussian_estimator_lab(1.5, 1.0, 0.0, 1.0, num_samples=100, num_trials=30, seed=5))
    assert "at β = 0.25" in [t["name"] for t in figure(at, "kl_reward_chart")["data"]]
    at = open_page(kl_lab="Tokens", kl_logit1="-4")
    assert exact_kl(at) == pytest.approx(categorical_kl([-4.0] + POLICY_LOGITS[1:], REF_LOGITS), abs=5e-5)


@pytest.mark.parametrize("query", [
    {"kl_samples": "7", "kl_trials": "-3", "kl_seed": "abc", "kl_lab": "<img src=x onerror=alert(1)>"},
    {"kl_beta": "inf", "kl_sigma": "0", "kl_value1": "1e400", "kl_logit1": "nan"},
])
def test_hostile_query_is_ignored_with_a_notice(query):
    at = open_page(**query)
    notice = at.warning[0].value
    assert "could not be used" in notice and "onerror" not in notice
    assert exact_kl(at) == pytest.approx(0.125)  # the default view
    assert len(estimator_table(at)) == 3


def test_every_control_has_help_a_range_and_a_url_key():
    at = open_page()
    widgets = [*at.slider, *at.number_input, *at.select_slider, *at.get("segmented_control")]
    assert len(widgets) == 13
    for widget in widgets:
        assert widget.help and widget.key.startswith("kl_"), widget
    for widget in [*at.slider, *at.number_input]:
        assert widget.min is not None and widget.max is not None, widget
    assert any(e.label == "Think about it" for e in at.expander)
