"""AppTest of the KL and β page: total reward, the estimator lab, KL placement, and the URL state."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from streamlit.testing.v1 import AppTest

from tests.app import pages

from grpo_core import grpo_loss
from grpo_core.curves import (
    categorical_estimator_lab,
    categorical_gradient_lab,
    categorical_kl,
    gaussian_estimator_lab,
    gaussian_gradient_lab,
)

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
    np.testing.assert_allclose(table["± standard error"], lab.standard_error.numpy(), rtol=1e-9)
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


@pytest.mark.parametrize("samples, trials, drawn", [("1000", "200", 200), ("2000", "200", 100),
                                                    ("10000", "200", 20), ("10000", "10", 10)])
def test_a_large_n_cuts_the_trials_to_the_draw_budget_and_says_so(samples, trials, drawn):
    from grpo_core.curves import gaussian_gradient_lab
    from kl_figures import MAX_DRAWS

    at = open_page(kl_samples=samples, kl_trials=trials)
    n = int(samples)
    assert n * drawn <= MAX_DRAWS
    assert_table_matches(at, gaussian_estimator_lab(0.5, 1.0, 0.0, 1.0, num_samples=n, num_trials=drawn, seed=0))
    assert at.slider(key="kl_trials").value == int(trials)  # the control keeps what was asked
    gradients = gaussian_gradient_lab(0.5, 1.0, 0.0, 1.0, num_samples=n, num_trials=drawn, seed=0)
    np.testing.assert_allclose(gradient_table(at)["std of one token's gradient"],
                               gradients.sample_std.max(dim=-1).values.numpy())
    assert figure(at, "kl_spread_chart")["layout"]["title"]["text"].startswith(f"{drawn} estimates each")
    said = [c.value for c in at.caption if "the lab draws" in c.value]
    if drawn < int(trials):
        assert said == [f"At N = {n:,} the lab draws {drawn} trials, not {trials}: one change draws at most "
                        f"{MAX_DRAWS:,} samples, so that a class's moves stay quick."]
        assert f"the {drawn} trials" in " ".join(m.value for m in at.markdown)
    else:
        assert not said


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


# ---- standard errors, infinite variance, and what the box chart draws --------------------------------


def page_text(at: AppTest) -> str:
    return " ".join(m.value for m in at.markdown)


def test_box_chart_tells_exact_kl_from_box_means_not_by_colour_alone():
    at = open_page()
    spec = figure(at, "kl_spread_chart")
    (exact,) = spec["layout"]["shapes"]
    assert exact["line"].get("dash") in (None, "solid")  # Plotly's box means are dashed: the exact KL is not
    assert exact["x0"] == 0 and exact["x1"] == 1 and exact["xref"] == "x domain"  # across the chart, not a box
    (label,) = spec["layout"]["annotations"]
    assert label["text"] == "exact KL" and label["y"] == pytest.approx(0.125) and label["xanchor"] == "left"
    assert all(t["boxmean"] is True for t in spec["data"])
    text = page_text(at)
    assert "**median**" in text and "dashed one their **mean**" in text
    assert "centre on the dashed line" not in text


def test_infinite_variance_is_named_with_the_bias_in_standard_errors():
    at = open_page(kl_sigma="0.4", kl_sigma_ref="2", kl_samples="1000")
    lab = gaussian_estimator_lab(0.5, 0.4, 0.0, 2.0, num_samples=1000, num_trials=200, seed=0)
    assert_table_matches(at, lab)
    table = estimator_table(at)
    assert table["bias"][2] == pytest.approx(-0.33, abs=0.01)  # an unbiased estimator, 9 "standard errors" off
    assert abs(table["bias"][2]) / table["± standard error"][2] > 5
    (warning,) = [w.value for w in at.warning if "variance is infinite here" in w.value]
    assert "σ_π² = 0.16 ≤ σ_ref²/2 = 2" in warning and "-0.3298" in warning and "standard errors" in warning
    at = open_page(kl_sigma="1.5", kl_sigma_ref="2")  # 2.25 > 2: finite, no warning
    assert not [w for w in at.warning if "infinite" in w.value]


def test_k3_is_noisier_than_k1_when_far_apart_as_the_text_says():
    text = page_text(open_page())
    assert "**only while π ≈ π_ref**" in text and "k3's spread is 1.23 against k1's 0.75" in text
    assert "reward* drifting" not in text and "can *reward*" not in text
    at = open_page(kl_mu="2.5")  # N = 10, seed 0: the setting the sentence names
    spread = estimator_table(at)["spread (std over trials)"]
    assert round(spread[2], 2) == 1.23 and round(spread[0], 2) == 0.75
    at = open_page(kl_mu="0.1")
    spread = estimator_table(at)["spread (std over trials)"]
    assert spread[2] < spread[0] / 5  # quieter only while close


# ---- the gradient of each KL term -------------------------------------------------------------------


def gradient_table(at: AppTest):
    (table,) = [d for d in at.dataframe if "gradient per token" in d.value.columns]
    return table.value


def assert_gradients_match(at: AppTest, lab, parameters) -> None:
    spec = figure(at, "kl_gradient_chart")
    bars = [t for t in spec["data"] if t["type"] == "bar"]
    assert [b["name"] for b in bars] == ["k1 = d in the loss", "k2 = d²/2 in the loss",
                                         "k3 = e^(−d) + d − 1 in the loss", "k1 = d in the reward",
                                         "k3 in the reward"]
    assert len({b["marker"]["pattern"]["shape"] for b in bars}) == 5  # pattern, not colour alone
    assert spec["layout"]["xaxis"]["ticktext"] == list(parameters)
    positions = {}
    for i, bar in enumerate(bars):
        assert list(bar["customdata"]) == list(parameters)
        positions[lab.terms[i]] = decode(bar["x"])
        np.testing.assert_allclose(decode(bar["y"]), lab.mean[i].numpy(), rtol=1e-6, atol=1e-9)
        np.testing.assert_allclose(decode(bar["error_y"]["array"]), 2 * lab.standard_error[i].numpy(), rtol=1e-6)
    markers = {t["name"]: t for t in spec["data"] if t["type"] == "scatter"}
    assert [m["marker"]["symbol"] for m in markers.values()] == ["diamond", "x", "triangle-up"]  # shape, not colour
    # Each exact value sits on the bars that should reach it.
    reverse, forward = lab.reverse_kl_grad.numpy(), lab.forward_kl_grad.numpy()
    for name, values, on in (("∇KL(π‖π_ref) (exact)", reverse, ("k2", "k1_reward")),
                             ("∇KL(π_ref‖π) (exact)", forward, ("k3",)),
                             ("∇KL(π‖π_ref) − ∇KL(π_ref‖π) (exact)", reverse - forward, ("k3_reward",))):
        np.testing.assert_allclose(decode(markers[name]["y"]), np.tile(values, len(on)), rtol=1e-6, atol=1e-12)
        np.testing.assert_allclose(decode(markers[name]["x"]), np.concatenate([positions[t] for t in on]))
    table = gradient_table(at)
    np.testing.assert_allclose(table["std of one token's gradient"], lab.sample_std.max(dim=-1).values.numpy())


@pytest.mark.parametrize("query, lab, parameters", [
    ({}, gaussian_gradient_lab(0.5, 1.0, 0.0, 1.0, num_samples=10, num_trials=200, seed=0), ["μ", "log σ"]),
    ({"kl_lab": "Tokens"}, categorical_gradient_lab(POLICY_LOGITS, REF_LOGITS, num_samples=10, num_trials=200, seed=0),
     ["logit “the”", "logit “a”", "logit “one”", "logit “an”", "logit “this”"]),
    ({"kl_lab": "Tokens", "kl_samples": "1000", "kl_seed": "3"},
     categorical_gradient_lab(POLICY_LOGITS, REF_LOGITS, num_samples=1000, num_trials=200, seed=3), None),
])
def test_gradient_chart_and_table_are_the_cores_and_agree_with_the_formulas(query, lab, parameters):
    at = open_page(**query)
    assert_gradients_match(at, lab, parameters or [f"logit “{t}”" for t in ("the", "a", "one", "an", "this")])
    table = gradient_table(at)
    assert list(table["its mean is"]) == ["0: no pull toward π_ref", "∇KL(π‖π_ref), reverse KL",
                                          "∇KL(π_ref‖π), forward KL", "∇KL(π‖π_ref), unbiased",
                                          "∇KL(π‖π_ref) − ∇KL(π_ref‖π)"]
    # What the table claims: every measured mean is within 3 standard errors of its formula here.
    assert all(float(z) < 3 for z in table["measured − expected, in standard errors"])
    # k1 in the loss: its bars sit on 0 within their whiskers, k2 on the diamonds, k3 on the crosses.
    assert (lab.mean[0].abs() <= 3 * lab.standard_error[0]).all()
    assert ((lab.mean[1] - lab.reverse_kl_grad).abs() <= 3 * lab.standard_error[1]).all()
    assert ((lab.mean[2] - lab.forward_kl_grad).abs() <= 3 * lab.standard_error[2]).all()
    caption = " ".join(c.value for c in at.caption)
    assert f"mean gradient {lab.mean[0].abs().max().item():.4f} at most (exact: 0)" in caption
    assert f"std up to {lab.sample_std[0].max().item():.4f}" in caption


def test_tokens_lab_tells_the_reverse_from_the_forward_kl():
    at = open_page(kl_lab="Tokens", kl_samples="1000")
    lab = categorical_gradient_lab(POLICY_LOGITS, REF_LOGITS, num_samples=1000, num_trials=200, seed=0)
    # k2's and k3's measured gradients differ by far more than their noise: two different divergences.
    gap = (lab.mean[1] - lab.mean[2]).abs().max()
    assert gap > 10 * (lab.standard_error[1] + lab.standard_error[2]).max()
    assert_gradients_match(at, lab, [f"logit “{t}”" for t in ("the", "a", "one", "an", "this")])


def test_gradient_table_flags_infinite_variance_instead_of_a_number():
    at = open_page(kl_sigma="0.4", kl_sigma_ref="2", kl_samples="1000")
    column = list(gradient_table(at)["measured − expected, in standard errors"])
    assert column[2] == column[4] == "variance infinite"
    assert all(float(z) < 4 for z in (column[0], column[1], column[3]))
    assert any("k3's gradient has infinite variance here too" in w.value for w in at.warning)


def test_gradient_text_says_which_gradient_each_term_gives():
    text = page_text(open_page())
    for claim in ("E_π[∇log π] = Σ_x ∇π(x) = ∇1 = 0", "**no pull toward π_ref at all**",
                  "whose mean is ∇KL(π‖π_ref), the gradient of the reverse KL",
                  "0 − E_π_ref[∇log π] = ∇KL(π_ref‖π)", "the unbiased (REINFORCE) estimate",
                  "∇KL(π‖π_ref) − ∇KL(π_ref‖π), nearly 0"):
        assert claim in text, claim
    assert "not at all with k1 (section 3)" in text


def test_gradient_section_never_shows_nan_on_extreme_inputs():
    for query in ({"kl_lab": "Tokens", "kl_logit1": "4", "kl_logit2": "-4", "kl_logit3": "-4", "kl_logit4": "-4",
                   "kl_logit5": "-4", "kl_ref_logit1": "-4", "kl_samples": "1", "kl_trials": "10"},
                  {"kl_sigma": "0.2", "kl_sigma_ref": "3", "kl_mu": "3", "kl_mu_ref": "-3", "kl_samples": "1"}):
        at = open_page(**query)
        table = gradient_table(at)
        assert not table.isna().any().any()
        assert not any("nan" in str(v).lower() for v in table["measured − expected, in standard errors"])
        for bar in figure(at, "kl_gradient_chart")["data"]:
            assert np.isfinite(decode(bar["y"])).all()
