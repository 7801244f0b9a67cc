"""grpo_core.curves against values derived by hand, and the estimator lab against its statistics."""

import math

import pytest
import torch

from grpo_core import clipped_surrogate
from grpo_core.curves import (
    CLIP_REASONS,
    GRADIENT_TERMS,
    MAX_SAMPLES,
    MAX_TRIALS,
    categorical_estimator_lab,
    categorical_gradient_lab,
    categorical_kl,
    categorical_kl_gradients,
    clip_status,
    gaussian_estimator_lab,
    gaussian_gradient_lab,
    gaussian_k3_variance_is_infinite,
    gaussian_kl,
    gaussian_kl_gradients,
    surrogate_curve,
    total_reward,
    trust_region,
)


def _at(curve, r):
    i = int(torch.argmin((curve.ratio - r).abs()))
    assert curve.ratio[i].item() == pytest.approx(r)
    return curve.objective[i].item(), curve.gradient[i].item()


# ---- surrogate_curve --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "advantage, ratio, objective, gradient",
    [
        (1.0, 1.5, 1.2, 0.0),  # above 1+eps with A > 0: held at (1+eps)A, flat
        (1.0, 0.5, 0.5, 1.0),  # below 1-eps with A > 0: the unclipped term is smaller, slope A
        (1.0, 1.1, 1.1, 1.0),  # inside
        (-1.0, 0.5, -0.8, 0.0),  # below 1-eps with A < 0: held at (1-eps)A, flat
        (-1.0, 1.5, -1.5, -1.0),  # above 1+eps with A < 0: the unclipped term is smaller, slope A
        (-2.0, 3.0, -6.0, -2.0),  # no delta: the penalty grows without bound
        (0.0, 1.7, 0.0, 0.0),
    ],
)
def test_surrogate_curve_hand_values(advantage, ratio, objective, gradient):
    curve = surrogate_curve(torch.tensor([0.5, 1.1, 1.5, 1.7, 3.0], dtype=torch.float64), advantage, epsilon=0.2)
    got_objective, got_gradient = _at(curve, ratio)
    assert got_objective == pytest.approx(objective)
    assert got_gradient == pytest.approx(gradient)


def test_surrogate_curve_clip_higher_and_delta():
    ratios = torch.tensor([1.25, 1.4, 2.0, 4.0], dtype=torch.float64)
    up = surrogate_curve(ratios, 1.0, epsilon=0.2, epsilon_high=0.28)
    assert up.objective.tolist() == pytest.approx([1.25, 1.28, 1.28, 1.28])  # 1.25 is clipped only at eps=0.2
    assert up.gradient.tolist() == pytest.approx([1.0, 0.0, 0.0, 0.0])
    down = surrogate_curve(ratios, -1.0, epsilon=0.2, delta=3.0)
    assert down.objective.tolist() == pytest.approx([-1.25, -1.4, -2.0, -3.0])
    assert down.gradient.tolist() == pytest.approx([-1.0, -1.0, -1.0, 0.0])


def test_surrogate_curve_gradient_matches_finite_differences():
    # Away from the kinks, autograd's slope must equal the slope of the objective itself.
    ratios = torch.linspace(0.05, 4.0, 400, dtype=torch.float64)
    for advantage in (1.3, -0.7):
        curve = surrogate_curve(ratios, advantage, epsilon=0.15, epsilon_high=0.3, delta=2.5)
        h = 1e-6
        plus = clipped_surrogate(ratios + h, torch.tensor(advantage, dtype=torch.float64), epsilon=0.15,
                                 epsilon_high=0.3, delta=2.5)
        minus = clipped_surrogate(ratios - h, torch.tensor(advantage, dtype=torch.float64), epsilon=0.15,
                                  epsilon_high=0.3, delta=2.5)
        kinks = torch.tensor([0.85, 1.3, 2.5], dtype=torch.float64)
        smooth = (ratios.unsqueeze(1) - kinks).abs().min(dim=1).values > 1e-3
        torch.testing.assert_close(curve.gradient[smooth], ((plus - minus) / (2 * h))[smooth], atol=1e-6, rtol=0)
        torch.testing.assert_close(curve.unclipped, ratios * advantage)


def test_surrogate_curve_keeps_dtype_and_leaves_input_alone():
    ratios = torch.linspace(0, 2, 5)
    curve = surrogate_curve(ratios, 1.0)
    assert curve.objective.dtype == torch.float32 and curve.gradient.shape == (5,)
    assert not ratios.requires_grad and not curve.objective.requires_grad


@pytest.mark.parametrize(
    "ratios, kwargs, match",
    [
        (torch.tensor([[1.0]]), {}, "ratios"),
        (torch.tensor([float("nan")]), {}, "ratios"),
        (torch.tensor([-0.5]), {}, "ratios"),
        (torch.tensor([1.0]), {"delta": 1.1}, "delta"),
        (torch.tensor([1.0]), {"epsilon": -0.1}, "epsilon"),
    ],
)
def test_surrogate_curve_rejects(ratios, kwargs, match):
    with pytest.raises(ValueError, match=match):
        surrogate_curve(ratios, 1.0, **kwargs)
    with pytest.raises(ValueError, match="advantage"):
        surrogate_curve(torch.tensor([1.0]), float("inf"))


def test_trust_region():
    assert trust_region(0.2) == pytest.approx((0.8, 1.2))
    assert trust_region(0.2, 0.28) == pytest.approx((0.8, 1.28))


# ---- clip_status ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "ratio, advantage, delta, reason, clipped, objective, gradient",
    [
        (1.5, 1.0, None, "above_positive", True, 1.2, 0.0),
        (0.5, 1.0, None, "below_positive", False, 0.5, 1.0),
        (0.5, -1.0, None, "below_negative", True, -0.8, 0.0),
        (1.5, -1.0, None, "above_negative", False, -1.5, -1.0),
        (4.0, -1.0, 3.0, "dual_clip", True, -3.0, 0.0),
        (4.0, 1.0, 3.0, "above_positive", True, 1.2, 0.0),  # delta never matters for A > 0
        (1.0, 2.0, None, "inside", False, 2.0, 2.0),
        (1.2, 1.0, None, "inside", False, 1.2, 1.0),  # on the bound: not clipped, as TRL counts it
        (2.0, 0.0, None, "zero_advantage", False, 0.0, 0.0),
    ],
)
def test_clip_status(ratio, advantage, delta, reason, clipped, objective, gradient):
    status = clip_status(ratio, advantage, epsilon=0.2, delta=delta)
    assert (status.reason, status.clipped) == (reason, clipped)
    assert status.objective == pytest.approx(objective)
    assert status.gradient == pytest.approx(gradient)
    assert status.unclipped == pytest.approx(ratio * advantage)
    text = status.explanation()
    assert "{" not in text and "None" not in text
    if status.clipped:
        assert "gradient 0" in text or "gradient is 0" in text


def test_clip_status_words_carry_the_numbers():
    text = clip_status(1.5, 1.0, epsilon=0.2).explanation()
    assert "1.5" in text and "1.2" in text and "A > 0" in text
    assert "1.28" in clip_status(1.5, 1.0, epsilon=0.2, epsilon_high=0.28).explanation()
    # the upper bound is called 1+ε_high only when clip-higher makes it differ from 1+ε
    assert "> 1+ε = 1.2" in text and "ε_high" not in text
    assert "> 1+ε_high = 1.28" in clip_status(1.5, 1.0, epsilon=0.2, epsilon_high=0.28).explanation()
    assert "> 1+ε = 1.2 but A < 0" in clip_status(1.5, -1.0, epsilon=0.2).explanation()
    assert set(CLIP_REASONS) >= {"inside", "above_positive", "below_negative", "dual_clip", "zero_advantage"}


def test_clip_status_agrees_with_the_gradient_everywhere():
    # "clipped" must mean exactly: A != 0 and autograd says the objective is flat there.
    for ratio in torch.linspace(0, 5, 101, dtype=torch.float64).tolist():
        for advantage in (-2.0, -0.5, 0.5, 2.0):
            status = clip_status(ratio, advantage, epsilon=0.1, epsilon_high=0.3, delta=2.0)
            assert status.clipped == (status.gradient == 0.0), (ratio, advantage, status)


@pytest.mark.parametrize("ratio, advantage", [(float("nan"), 1.0), (-1.0, 1.0), (1.0, float("inf")), ("1", 1.0)])
def test_clip_status_rejects(ratio, advantage):
    with pytest.raises(ValueError):
        clip_status(ratio, advantage)


# ---- total_reward ---------------------------------------------------------------------------------


def test_total_reward_grid():
    got = total_reward(1.0, torch.tensor([0.0, 0.1, 1.0]), torch.tensor([1.0, 5.0, 10.0]))
    expected = torch.tensor([[1.0, 0.9, 0.0], [1.0, 0.5, -4.0], [1.0, 0.0, -9.0]])
    torch.testing.assert_close(got, expected)
    per_kl = total_reward(torch.tensor([1.0, 0.0]), torch.tensor([0.0, 0.5]), torch.tensor([2.0, 2.0]))
    torch.testing.assert_close(per_kl, torch.tensor([[1.0, 0.0], [0.0, -1.0]]))


@pytest.mark.parametrize(
    "r, betas, kls",
    [
        (1.0, torch.tensor([-0.1]), torch.tensor([1.0])),
        (1.0, torch.tensor([0.1]), torch.tensor([-1.0])),
        (float("nan"), torch.tensor([0.1]), torch.tensor([1.0])),
        (torch.tensor([1.0, 2.0, 3.0]), torch.tensor([0.1]), torch.tensor([1.0])),
        (1.0, torch.tensor([[0.1]]), torch.tensor([1.0])),
    ],
)
def test_total_reward_rejects(r, betas, kls):
    with pytest.raises(ValueError):
        total_reward(r, betas, kls)


# ---- exact KL ----------------------------------------------------------------------------------------


def test_gaussian_kl_closed_form():
    # KL(N(0,1) || N(1,2^2)) = log 2 + (1 + 1) / 8 - 1/2
    assert gaussian_kl(0.0, 1.0, 1.0, 2.0) == pytest.approx(math.log(2) + 0.25 - 0.5)
    assert gaussian_kl(0.5, 1.0, 0.0, 1.0) == pytest.approx(0.125)
    assert gaussian_kl(1.3, 0.7, 1.3, 0.7) == 0.0
    with pytest.raises(ValueError, match="sigma"):
        gaussian_kl(0.0, 0.0, 0.0, 1.0)


def test_categorical_kl_by_hand():
    p = torch.tensor([0.5, 0.25, 0.25], dtype=torch.float64)
    q = torch.tensor([0.25, 0.25, 0.5], dtype=torch.float64)
    expected = (p * (p / q).log()).sum().item()  # 0.5 log 2 - 0.25 log 2 = 0.25 log 2
    assert expected == pytest.approx(0.25 * math.log(2))
    assert categorical_kl(p.log().tolist(), q.log().tolist()) == pytest.approx(expected)
    assert categorical_kl([1.0, 2.0], [1.0 + 5, 2.0 + 5]) == pytest.approx(0.0, abs=1e-12)  # shift-invariant
    for bad in ([1.0], [0.0] * 17, [float("nan"), 0.0]):
        with pytest.raises(ValueError, match="logits"):
            categorical_kl(bad, [0.0] * len(bad))
    with pytest.raises(ValueError, match="logits_ref"):
        categorical_kl([0.0, 1.0], [0.0, 1.0, 2.0])


# ---- estimator lab --------------------------------------------------------------------------------


LABS = [
    ("gaussian", lambda **kw: gaussian_estimator_lab(0.5, 1.0, 0.0, 1.0, **kw)),
    ("gaussian_wide_policy", lambda **kw: gaussian_estimator_lab(0.3, 1.3, -0.2, 1.0, **kw)),
    ("tokens", lambda **kw: categorical_estimator_lab([2.0, 1.0, 0.5, -1.0, -2.0], [1.0, 1.0, 1.0, 0.0, 0.0], **kw)),
]


@pytest.mark.parametrize("name, lab", LABS, ids=[n for n, _ in LABS])
def test_k1_and_k3_are_unbiased_within_standard_errors(name, lab):
    result = lab(num_samples=2000, num_trials=100, seed=1)
    assert result.trial_estimates.shape == (3, 100)
    standard_error = result.spread / math.sqrt(result.num_trials)
    for i in (0, 2):  # k1, k3
        assert abs(result.bias[i].item()) < 4 * standard_error[i].item(), (result.estimators[i], result)
    torch.testing.assert_close(result.mean, result.trial_estimates.mean(dim=1))
    torch.testing.assert_close(result.bias, result.mean - result.exact)


@pytest.mark.parametrize("name, lab", LABS, ids=[n for n, _ in LABS])
def test_k2_and_k3_never_negative_k1_sometimes(name, lab):
    result = lab(num_samples=1, num_trials=200, seed=3)
    assert (result.trial_estimates[1:] >= 0).all()
    assert result.frac_negative_samples[1:].tolist() == [0.0, 0.0]
    assert result.frac_negative_samples[0].item() > 0.02  # k1 = d is negative where the reference is likelier


def test_k2_is_biased_when_far_apart():
    result = gaussian_estimator_lab(2.0, 1.0, 0.0, 1.0, num_samples=5000, num_trials=50, seed=0)
    assert result.exact == pytest.approx(2.0)
    # d = 2x - 2 with x ~ N(2, 1), so d ~ N(2, 4) and E[k2] = (4 + 2^2) / 2 = 4, twice the exact 2.
    assert result.bias[1].item() > 1.5
    assert abs(result.bias[2].item()) < 0.2


def test_k3_has_the_lowest_spread_when_close():
    result = gaussian_estimator_lab(0.1, 1.0, 0.0, 1.0, num_samples=100, num_trials=200, seed=0)
    k1, k2, k3 = result.spread.tolist()
    assert k3 < k1 / 5  # Schulman's example: k3's std is a small fraction of k1's


def test_spread_shrinks_like_one_over_sqrt_n():
    small = gaussian_estimator_lab(0.5, 1.0, 0.0, 1.0, num_samples=10, num_trials=200, seed=0)
    large = gaussian_estimator_lab(0.5, 1.0, 0.0, 1.0, num_samples=1000, num_trials=200, seed=0)
    ratio = small.spread / large.spread
    assert ((ratio > 6) & (ratio < 16)).all(), ratio  # sqrt(100) = 10


@pytest.mark.parametrize("name, lab", LABS, ids=[n for n, _ in LABS])
def test_lab_is_seeded(name, lab):
    a, b = lab(num_samples=50, num_trials=20, seed=7), lab(num_samples=50, num_trials=20, seed=7)
    torch.testing.assert_close(a.trial_estimates, b.trial_estimates, rtol=0, atol=0)
    c = lab(num_samples=50, num_trials=20, seed=8)
    assert not torch.equal(a.trial_estimates, c.trial_estimates)


def test_token_counts_match_the_policy():
    # With many samples, the k1 estimate is the exact KL: sum_c p_c d_c.
    result = categorical_estimator_lab([3.0, 0.0, -3.0], [0.0, 0.0, 0.0], num_samples=MAX_SAMPLES, num_trials=50,
                                       seed=0)
    assert result.mean[0].item() == pytest.approx(result.exact, rel=0.01)


def test_single_trial_and_single_sample_give_finite_statistics():
    for result in (gaussian_estimator_lab(0.0, 1.0, 0.0, 1.0, num_samples=1, num_trials=1, seed=0),
                   categorical_estimator_lab([0.0, 1.0], [1.0, 0.0], num_samples=1, num_trials=1, seed=0)):
        for field in (result.mean, result.bias, result.spread, result.sample_std):
            assert torch.isfinite(field).all()
        assert result.spread.tolist() == [0.0, 0.0, 0.0]


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"num_samples": 0}, "num_samples"),
        ({"num_samples": MAX_SAMPLES + 1}, "num_samples"),
        ({"num_trials": MAX_TRIALS + 1}, "num_trials"),
        ({"num_trials": 2.5}, "num_trials"),
        ({"seed": -1}, "seed"),
    ],
)
def test_lab_bounds(kwargs, match):
    with pytest.raises(ValueError, match=match):
        gaussian_estimator_lab(0.0, 1.0, 0.0, 1.0, **kwargs)
    with pytest.raises(ValueError, match=match):
        categorical_estimator_lab([0.0, 1.0], [1.0, 0.0], **kwargs)


# ---- standard errors and infinite variance ----------------------------------------------------------


@pytest.mark.parametrize("name, lab", LABS, ids=[n for n, _ in LABS])
def test_standard_error_is_the_sample_std_over_root_n_and_matches_the_spread(name, lab):
    result = lab(num_samples=500, num_trials=100, seed=2)
    torch.testing.assert_close(result.standard_error, result.sample_std / math.sqrt(500 * 100))
    # Two estimates of the same thing: the spread of the trial means over sqrt(trials).
    ratio = result.standard_error / (result.spread / math.sqrt(result.num_trials))
    assert ((ratio > 0.75) & (ratio < 1.33)).all(), ratio
    assert result.infinite_variance == (False, False, False)


@pytest.mark.parametrize(
    "sigma, sigma_ref, infinite",
    [(0.4, 2.0, True), (1.0, 1.0, False), (1.0, math.sqrt(2.0), True), (1.0, 1.41, False), (1.3, 1.0, False),
     (0.2, 0.3, True), (0.22, 0.3, False)],
)
def test_k3_variance_is_infinite_exactly_when_sigma_sq_at_most_half_sigma_ref_sq(sigma, sigma_ref, infinite):
    assert gaussian_k3_variance_is_infinite(sigma, sigma_ref) is infinite
    result = gaussian_estimator_lab(0.5, sigma, 0.0, sigma_ref, num_samples=10, num_trials=10, seed=0)
    assert result.infinite_variance == (False, False, infinite)


def test_k3_second_moment_by_quadrature_is_finite_only_above_the_bound():
    # E_pi[(pi_ref/pi)^2] on a growing grid: converges above sigma_ref^2 / 2, keeps growing at or below it.
    def second_moment(sigma, sigma_ref, half_width):
        x = torch.linspace(-half_width, half_width, 400_001, dtype=torch.float64)
        log_integrand = 2 * torch.distributions.Normal(0.0, sigma_ref).log_prob(x) - torch.distributions.Normal(
            0.5, sigma).log_prob(x)
        return torch.trapezoid(log_integrand.exp(), x).item()

    finite = [second_moment(1.0, 1.3, w) for w in (20, 40)]
    assert finite[1] == pytest.approx(finite[0], rel=1e-9)
    infinite = [second_moment(0.4, 2.0, w) for w in (5, 10)]
    assert infinite[1] > 1e3 * infinite[0]


def test_infinite_variance_makes_an_unbiased_estimator_look_biased():
    # The estimator lab's own example (π std 0.4, π_ref std 2, N = 1000): k3 is unbiased, yet its mean is
    # many "standard errors" below the exact KL: the rare huge π_ref/π samples that carry the mass are missing.
    result = gaussian_estimator_lab(0.5, 0.4, 0.0, 2.0, num_samples=1000, num_trials=200, seed=0)
    assert result.infinite_variance == (False, False, True)
    assert result.bias[2].item() == pytest.approx(-0.33, abs=0.01)
    assert abs(result.bias[2].item()) > 5 * result.standard_error[2].item()
    assert abs(result.bias[0].item()) < 4 * result.standard_error[0].item()  # k1 is fine


def test_k3_is_quieter_than_k1_only_while_close():
    close = gaussian_estimator_lab(0.1, 1.0, 0.0, 1.0, num_samples=10, num_trials=200, seed=0)
    apart = gaussian_estimator_lab(2.5, 1.0, 0.0, 1.0, num_samples=10, num_trials=200, seed=0)
    assert close.spread[2] < close.spread[0] / 5
    assert apart.spread[2] > 1.4 * apart.spread[0]  # 1.23 against 0.75 at N = 10
    assert apart.sample_std[2] > 1.4 * apart.sample_std[0]


# ---- the gradient of each KL term -----------------------------------------------------------------


def _autograd_kl_gradients_tokens(logits, logits_ref):
    theta = torch.tensor(logits, dtype=torch.float64, requires_grad=True)
    ref = torch.distributions.Categorical(logits=torch.tensor(logits_ref, dtype=torch.float64))
    (reverse,) = torch.autograd.grad(torch.distributions.kl_divergence(torch.distributions.Categorical(logits=theta),
                                                                      ref), theta)
    theta = theta.detach().requires_grad_(True)
    (forward,) = torch.autograd.grad(torch.distributions.kl_divergence(ref, torch.distributions.Categorical(logits=theta)),
                                     theta)
    return reverse, forward


TOKEN_SHAPES = [
    ([2.0, 1.0, 0.5, -1.0, -2.0], [1.0, 1.0, 1.0, 0.0, 0.0]),
    ([-3.0, 0.0, 3.0], [1.0, 1.0, -1.0]),
    ([0.5, 0.5], [0.5, 0.5]),
]


@pytest.mark.parametrize("logits, logits_ref", TOKEN_SHAPES)
def test_token_kl_gradients_closed_forms_match_autograd(logits, logits_ref):
    reverse, forward = categorical_kl_gradients(logits, logits_ref)
    want_reverse, want_forward = _autograd_kl_gradients_tokens(logits, logits_ref)
    torch.testing.assert_close(reverse, want_reverse)
    torch.testing.assert_close(forward, want_forward)


@pytest.mark.parametrize("logits, logits_ref", TOKEN_SHAPES)
def test_token_lab_exact_gradient_of_each_term(logits, logits_ref):
    lab = categorical_gradient_lab(logits, logits_ref, num_samples=10, num_trials=10, seed=0)
    assert lab.terms == GRADIENT_TERMS == ("k1", "k2", "k3", "k1_reward", "k3_reward")
    assert lab.mean.shape == lab.expected.shape == lab.standard_error.shape == (5, len(logits))
    k1, k2, k3, k1_reward, k3_reward = lab.expected
    torch.testing.assert_close(k1, torch.zeros_like(k1), atol=1e-12, rtol=0)  # E_pi[grad log pi] = 0: no leash
    torch.testing.assert_close(k2, lab.reverse_kl_grad)  # grad KL(pi || pi_ref)
    torch.testing.assert_close(k3, lab.forward_kl_grad)  # grad KL(pi_ref || pi)
    torch.testing.assert_close(k1_reward, lab.reverse_kl_grad)  # k1 in the reward: unbiased grad KL(pi || pi_ref)
    # k3 in the reward: grad E[k3] - E[grad k3] = grad KL(pi || pi_ref) - grad KL(pi_ref || pi)
    torch.testing.assert_close(k3_reward, lab.reverse_kl_grad - lab.forward_kl_grad)


def test_k3_in_the_reward_barely_pulls_while_close():
    # The two KLs agree to second order around pi_ref: their gradients differ at second order, O(scale^2)
    # against the O(scale) of each gradient.
    for scale in (0.1, 0.05):
        logits = [scale * v for v in (2.0, -1.0, 0.5, -1.5, 0.0)]
        lab = categorical_gradient_lab(logits, [0.0] * 5, num_samples=10, num_trials=10, seed=0)
        assert lab.expected[4].norm() < 0.7 * scale * lab.expected[3].norm()  # relative size O(scale)


@pytest.mark.parametrize("logits, logits_ref", TOKEN_SHAPES[:2])
def test_token_lab_monte_carlo_gradients_agree_within_standard_errors(logits, logits_ref):
    lab = categorical_gradient_lab(logits, logits_ref, num_samples=2000, num_trials=100, seed=1)
    assert (lab.distance_in_standard_errors() < 4).all(), lab
    # k1 in the loss: mean ~0, but every single token pushes: the term is pure noise.
    assert lab.mean[0].abs().max() < 4 * lab.standard_error[0].max()
    p = torch.softmax(torch.tensor(logits, dtype=torch.float64), -1)
    torch.testing.assert_close(lab.sample_std[0], (p * (1 - p)).sqrt(), rtol=0.05, atol=0)  # e_c - pi per token
    # The two KL directions differ here, so k2 and k3 are measurably different gradients.
    assert (lab.reverse_kl_grad - lab.forward_kl_grad).abs().max() > 10 * lab.standard_error[1:3].max()


def test_k1_in_the_reward_is_k2_in_the_loss_token_by_token():
    for lab in (categorical_gradient_lab(*TOKEN_SHAPES[0], num_samples=50, num_trials=20, seed=3),
                gaussian_gradient_lab(0.5, 1.0, 0.0, 1.0, num_samples=50, num_trials=20, seed=3)):
        torch.testing.assert_close(lab.mean[3], lab.mean[1])
        torch.testing.assert_close(lab.sample_std[3], lab.sample_std[1])


@pytest.mark.parametrize("shape", [(0.5, 1.0, 0.0, 1.0), (0.3, 1.3, -0.2, 1.0), (-1.0, 0.8, 0.5, 1.5)])
def test_gaussian_kl_gradients_match_autograd(shape):
    mu, sigma, mu_ref, sigma_ref = shape
    reverse, forward = gaussian_kl_gradients(*shape)
    params = torch.tensor([mu, math.log(sigma)], dtype=torch.float64, requires_grad=True)
    ref = torch.distributions.Normal(torch.tensor(mu_ref, dtype=torch.float64), torch.tensor(sigma_ref, dtype=torch.float64))
    policy = torch.distributions.Normal(params[0], params[1].exp())
    (want_reverse,) = torch.autograd.grad(torch.distributions.kl_divergence(policy, ref), params, retain_graph=True)
    (want_forward,) = torch.autograd.grad(torch.distributions.kl_divergence(ref, policy), params)
    torch.testing.assert_close(reverse, want_reverse)
    torch.testing.assert_close(forward, want_forward)


@pytest.mark.parametrize("shape", [(0.5, 1.0, 0.0, 1.0), (0.3, 1.3, -0.2, 1.0), (-1.0, 0.8, 0.5, 0.9)])
def test_gaussian_lab_monte_carlo_gradients_agree_within_standard_errors(shape):
    lab = gaussian_gradient_lab(*shape, num_samples=2000, num_trials=100, seed=1)
    assert lab.parameters == ("mu", "log_sigma") and lab.infinite_variance == (False,) * 5
    torch.testing.assert_close(lab.expected[1], lab.reverse_kl_grad)
    torch.testing.assert_close(lab.expected[2], lab.forward_kl_grad)
    torch.testing.assert_close(lab.expected[4], lab.reverse_kl_grad - lab.forward_kl_grad)
    assert lab.expected[0].abs().max() == 0
    assert (lab.distance_in_standard_errors() < 4).all(), lab


def test_gaussian_gradient_lab_draws_the_estimator_labs_samples():
    # Same seed and sizes, same samples: k1's mean value equals the mean of d, whose gradient k2 uses.
    lab = gaussian_gradient_lab(0.5, 1.0, 0.0, 1.0, num_samples=30, num_trials=7, seed=4)
    again = gaussian_gradient_lab(0.5, 1.0, 0.0, 1.0, num_samples=30, num_trials=7, seed=4)
    torch.testing.assert_close(lab.mean, again.mean, rtol=0, atol=0)
    assert not torch.equal(lab.mean, gaussian_gradient_lab(0.5, 1.0, 0.0, 1.0, num_samples=30, num_trials=7,
                                                           seed=5).mean)


@pytest.mark.parametrize("chunk", [None, 64, 1])
@pytest.mark.parametrize("shape, sizes", [((0.5, 1.0, 0.0, 1.0), (30, 7, 4)), ((0.5, 0.4, 0.0, 2.0), (200, 20, 1)),
                                          ((3.0, 0.3, -3.0, 3.0), (50, 10, 2))])
def test_gaussian_labs_match_autograd_through_kl_estimate_on_the_same_draws(shape, sizes, chunk, monkeypatch):
    # The labs take each slope from kl_value_and_grad; the reference is autograd through kl_estimate (the
    # loss's own value), on the draws of the same seed, summed as the labs sum (float32 terms, float64 sums).
    # The last shape's log-ratios pass the k3 clamp, where both must say the slope is flat. ``chunk``: the labs
    # walk the trials a few at a time (LAB_CHUNK_DRAWS); 64 draws are two trials of 30, one of 50 or 200.
    from grpo_core import curves
    from grpo_core.curves import GRADIENT_TERMS, KL_ESTIMATORS, _gaussian_draws, gaussian_labs
    from grpo_core.kl import kl_estimate

    if chunk is not None:
        monkeypatch.setattr(curves, "LAB_CHUNK_DRAWS", chunk)

    mu, sigma, mu_ref, sigma_ref = shape
    num_samples, num_trials, seed = sizes
    estimators, gradients = gaussian_labs(*shape, num_samples=num_samples, num_trials=num_trials, seed=seed)
    z, logp, logp_ref = _gaussian_draws(*shape, num_samples, num_trials, seed)
    values = {k: kl_estimate(logp, logp_ref, estimator=k) for k in KL_ESTIMATORS}
    slopes = {}
    for k in KL_ESTIMATORS:
        leaf = logp.clone().requires_grad_(True)
        (slopes[k],) = torch.autograd.grad(kl_estimate(leaf, logp_ref, estimator=k).sum(), leaf)
    slopes["k1_reward"], slopes["k3_reward"] = values["k1"], values["k3"]
    total = num_samples * num_trials
    for row, k in enumerate(KL_ESTIMATORS):
        torch.testing.assert_close(estimators.trial_estimates[row],
                                   values[k].sum(dim=-1, dtype=torch.float64) / num_samples, rtol=0, atol=0)
        torch.testing.assert_close(estimators.mean[row], values[k].sum(dtype=torch.float64) / total, rtol=1e-12,
                                   atol=1e-15)
        negative = (values[k] < 0).sum(dtype=torch.float64) / total
        torch.testing.assert_close(estimators.frac_negative_samples[row], negative, rtol=0, atol=1e-15)
    for row, term in enumerate(GRADIENT_TERMS):
        for col, score in enumerate((z / sigma, z.square() - 1.0)):
            expected = (slopes[term] * score).sum(dtype=torch.float64) / total
            torch.testing.assert_close(gradients.mean[row, col], expected, rtol=1e-6, atol=1e-9)
    assert gaussian_estimator_lab(*shape, num_samples=num_samples, num_trials=num_trials, seed=seed).mean.equal(
        estimators.mean)


def test_k3_gradient_with_infinite_variance_misses_its_mean():
    lab = gaussian_gradient_lab(0.5, 0.4, 0.0, 2.0, num_samples=1000, num_trials=200, seed=0)
    assert lab.distance_in_standard_errors()[2] > 10  # the "standard error" is meaningless here
    assert lab.infinite_variance == (False, False, True, False, True)
    assert (lab.distance_in_standard_errors()[[0, 1, 3]] < 4).all()


def test_gradient_labs_with_one_sample_stay_finite():
    for lab in (gaussian_gradient_lab(0.0, 1.0, 0.0, 1.0, num_samples=1, num_trials=1, seed=0),
                categorical_gradient_lab([0.0, 1.0], [1.0, 0.0], num_samples=1, num_trials=1, seed=0)):
        for field in (lab.mean, lab.standard_error, lab.sample_std, lab.expected):
            assert torch.isfinite(field).all()
        assert not torch.isnan(lab.distance_in_standard_errors()).any()


@pytest.mark.parametrize("kwargs, match", [({"num_samples": 0}, "num_samples"), ({"seed": -1}, "seed")])
def test_gradient_lab_bounds(kwargs, match):
    with pytest.raises(ValueError, match=match):
        gaussian_gradient_lab(0.0, 1.0, 0.0, 1.0, **kwargs)
    with pytest.raises(ValueError, match=match):
        categorical_gradient_lab([0.0, 1.0], [1.0, 0.0], **kwargs)
    with pytest.raises(ValueError, match="sigma"):
        gaussian_gradient_lab(0.0, 0.0, 0.0, 1.0)
    with pytest.raises(ValueError, match="logits_ref"):
        categorical_gradient_lab([0.0, 1.0], [1.0, 0.0, 2.0])


def test_log_gradient_is_the_derivative_in_log_pi():
    # Autograd through r = exp(log pi - log pi_old): dJ/dlog pi must equal r * dJ/dr.
    ratios = torch.linspace(0.05, 5.0, 300, dtype=torch.float64)
    for advantage, delta in ((1.0, None), (-1.0, None), (-1.0, 3.0), (0.7, 3.0)):
        curve = surrogate_curve(ratios, advantage, epsilon=0.2, delta=delta)
        log_ratio = ratios.log().requires_grad_(True)
        objective = clipped_surrogate(log_ratio.exp(), torch.tensor(advantage, dtype=torch.float64), epsilon=0.2,
                                      delta=delta)
        (want,) = torch.autograd.grad(objective.sum(), log_ratio)
        torch.testing.assert_close(curve.log_gradient, want)
    status = clip_status(4.0, -1.0, epsilon=0.2)
    assert (status.gradient, status.log_gradient) == pytest.approx((-1.0, -4.0))  # 4x the push at r = 4
    assert clip_status(4.0, -1.0, epsilon=0.2, delta=3.0).log_gradient == 0.0  # what the dual clip caps
