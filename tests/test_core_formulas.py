"""Every option of grpo_core against hand-derived values, gradients, and argument errors."""

import math

import pytest
import torch

from grpo_core import (
    clipped_surrogate,
    group_advantages,
    grpo_loss,
    kl_estimate,
    probability_ratio,
)
from grpo_core.functional import LOG_RATIO_CLAMP

# ---------------------------------------------------------------- advantages


def test_scale_group_uses_unbiased_std_per_group():
    r = torch.tensor([[0.0, 1.0, 2.0], [10.0, 10.0, 40.0]])
    adv = group_advantages(r, eps=0.0)
    # group 1: mean 1, unbiased std 1; group 2: mean 20, unbiased std sqrt(300)
    torch.testing.assert_close(adv[0], torch.tensor([-1.0, 0.0, 1.0]))
    torch.testing.assert_close(adv[1], torch.tensor([-10.0, -10.0, 20.0]) / math.sqrt(300.0))


def test_scale_none_is_dr_grpo_mean_only():
    r = torch.tensor([[0.0, 1.0, 2.0], [10.0, 10.0, 40.0]])
    torch.testing.assert_close(group_advantages(r, scale="none"), torch.tensor([[-1.0, 0.0, 1.0], [-10.0, -10.0, 20.0]]))


def test_scale_batch_uses_std_of_whole_batch_and_group_mean():
    r = torch.tensor([[0.0, 1.0], [3.0, 5.0]])
    batch_std = r.flatten().std().item()
    expected = torch.tensor([[-0.5, 0.5], [-1.0, 1.0]]) / (batch_std + 1e-8)
    torch.testing.assert_close(group_advantages(r, scale="batch"), expected)


def test_trl_boolean_scale_aliases():
    r = torch.tensor([[0.0, 1.0, 3.0]])
    torch.testing.assert_close(group_advantages(r, scale=True), group_advantages(r, scale="group"))
    torch.testing.assert_close(group_advantages(r, scale=False), group_advantages(r, scale="none"))


def test_eps_is_added_to_std():
    r = torch.tensor([0.0, 2.0])  # unbiased std sqrt(2)
    assert group_advantages(r, eps=1.0)[1].item() == pytest.approx(1.0 / (math.sqrt(2) + 1.0))


@pytest.mark.parametrize("scale", ["group", "batch", "none"])
def test_group_of_one_and_equal_groups_are_exactly_zero(scale):
    assert torch.equal(group_advantages(torch.tensor([[3.0], [5.0]]), scale=scale), torch.zeros(2, 1))
    eq = group_advantages(torch.tensor([[0.7] * 8, [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8]]), scale=scale)
    assert torch.equal(eq[0], torch.zeros(8))
    assert eq[1].abs().min() > 0


def test_zero_eps_with_equal_group_is_zero_not_nan():
    assert torch.equal(group_advantages(torch.tensor([2.0, 2.0, 2.0]), eps=0.0), torch.zeros(3))


# ---------------------------------------------------------------- ratio


def test_token_ratio_is_exp_of_difference():
    new = torch.tensor([[0.0, -1.0], [-2.0, -0.5]])
    old = torch.tensor([[0.1, -1.0], [-1.0, -0.5]])
    torch.testing.assert_close(probability_ratio(new, old), torch.exp(new - old))


def test_sequence_ratio_is_geometric_mean_over_real_tokens():
    new = torch.tensor([[0.0, -1.0, -9.0], [-2.0, -0.5, 0.0]])
    old = torch.tensor([[-0.2, -1.4, 5.0], [-1.0, -0.5, 0.0]])
    mask = torch.tensor([[1, 1, 0], [1, 1, 1]])
    ratio = probability_ratio(new, old, mask, level="sequence")
    assert ratio.shape == (2, 1)
    token = torch.exp(new - old)
    assert ratio[0, 0].item() == pytest.approx(math.sqrt(token[0, 0].item() * token[0, 1].item()), rel=1e-6)
    assert ratio[1, 0].item() == pytest.approx((token[1].prod() ** (1 / 3)).item(), rel=1e-6)


def test_ratio_log_difference_is_clamped_finite():
    ratio = probability_ratio(torch.tensor([0.0, -1e4]), torch.tensor([-1e4, 0.0]))
    assert torch.isfinite(ratio).all()
    torch.testing.assert_close(ratio, torch.tensor([math.exp(LOG_RATIO_CLAMP), math.exp(-LOG_RATIO_CLAMP)]))


# ---------------------------------------------------------------- clipping

CASES = [
    # ratio, A, eps, eps_high, delta, objective
    (1.5, 1.0, 0.2, None, None, 1.2),
    (0.5, 1.0, 0.2, None, None, 0.5),
    (1.1, 1.0, 0.2, None, None, 1.1),
    (0.5, -1.0, 0.2, None, None, -0.8),
    (1.5, -1.0, 0.2, None, None, -1.5),
    (1.25, 1.0, 0.2, 0.28, None, 1.25),  # clip-higher lets it through
    (1.35, 1.0, 0.2, 0.28, None, 1.28),
    (5.0, -2.0, 0.2, None, 3.0, -6.0),  # dual clip caps the loss of a negative advantage
    (2.5, -2.0, 0.2, None, 3.0, -5.0),
    (5.0, 2.0, 0.2, None, 3.0, 2.4),  # delta never changes a positive advantage
]


@pytest.mark.parametrize("ratio,adv,eps,eps_high,delta,expected", CASES)
def test_clipped_surrogate_values(ratio, adv, eps, eps_high, delta, expected):
    out = clipped_surrogate(torch.tensor(ratio), torch.tensor(adv), epsilon=eps, epsilon_high=eps_high, delta=delta)
    assert out.item() == pytest.approx(expected)


@pytest.mark.parametrize("ratio,adv,eps,eps_high,delta,_", CASES)
def test_clipped_surrogate_gradient_is_a_or_zero(ratio, adv, eps, eps_high, delta, _):
    r = torch.tensor(ratio, dtype=torch.float64, requires_grad=True)
    clipped_surrogate(r, torch.tensor(adv, dtype=torch.float64), epsilon=eps, epsilon_high=eps_high, delta=delta).backward()
    high = eps if eps_high is None else eps_high
    flat = (adv > 0 and ratio > 1 + high) or (adv < 0 and ratio < 1 - eps) or (delta is not None and ratio > delta)
    assert r.grad.item() == pytest.approx(0.0 if flat else adv)


def test_gradcheck_surrogate_away_from_kinks():
    ratio = torch.tensor([0.5, 0.9, 1.1, 1.5, 0.5, 0.9, 1.1, 1.5], dtype=torch.float64, requires_grad=True)
    adv = torch.tensor([1.0, 1.0, 1.0, 1.0, -1.0, -1.0, -1.0, -1.0], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda r, a: clipped_surrogate(r, a, epsilon=0.2), (ratio, adv))


def test_per_completion_advantages_broadcast_over_tokens():
    ratio = torch.ones(3, 5)
    out = clipped_surrogate(ratio, torch.tensor([1.0, -1.0, 0.5]))
    torch.testing.assert_close(out, torch.tensor([1.0, -1.0, 0.5]).unsqueeze(-1).expand(3, 5))


# ---------------------------------------------------------------- KL


def test_kl_estimators_by_hand():
    logp, ref = torch.tensor([-1.0, -0.5]), torch.tensor([-1.5, -0.5])
    d = torch.tensor([0.5, 0.0])
    torch.testing.assert_close(kl_estimate(logp, ref, estimator="k1"), d)
    torch.testing.assert_close(kl_estimate(logp, ref, estimator="k2"), 0.5 * d**2)
    torch.testing.assert_close(kl_estimate(logp, ref, estimator="k3"), torch.exp(-d) + d - 1)


def test_k3_nonnegative_and_finite_at_extremes():
    logp = torch.tensor([-1e4, 0.0, -30.0, 0.0])
    ref = torch.tensor([0.0, -1e4, 0.0, -30.0])
    k3 = kl_estimate(logp, ref)
    assert torch.isfinite(k3).all() and (k3 >= 0).all()


def test_kl_gradients_float64():
    logp = torch.randn(6, dtype=torch.float64, requires_grad=True)
    ref = torch.randn(6, dtype=torch.float64)
    for est in ("k1", "k2", "k3"):
        assert torch.autograd.gradcheck(lambda x: kl_estimate(x, ref, estimator=est), (logp,))
    logp.grad = None
    kl_estimate(logp, ref, estimator="k3").sum().backward()
    torch.testing.assert_close(logp.grad, 1 - torch.exp(ref - logp.detach()))


# ---------------------------------------------------------------- grpo_loss


def _batch(seed=0, b=2, g=4, t=5, dtype=torch.float64):
    gen = torch.Generator().manual_seed(seed)
    new = (-torch.rand(b * g, t, generator=gen, dtype=dtype) * 3).requires_grad_()
    old = new.detach() + 0.3 * torch.randn(b * g, t, generator=gen, dtype=dtype)
    ref = new.detach() + 0.3 * torch.randn(b * g, t, generator=gen, dtype=dtype)
    rewards = torch.randint(0, 2, (b, g), generator=gen).to(dtype)
    rewards[0] = torch.tensor([1.0, 0.0, 0.0, 1.0], dtype=dtype)[:g]
    mask = torch.ones(b * g, t, dtype=dtype)
    mask[1, 3:] = 0
    mask[5, 1:] = 0
    return new, old, ref, rewards, mask


def _reference_loss(new, old, ref, rewards, mask, *, eps=0.2, eps_high=None, beta=0.04, loss_type="grpo"):
    """A direct, loop-free transcription of TRL's GRPOTrainer._compute_loss for one process."""
    eps_high = eps if eps_high is None else eps_high
    mean = rewards.mean(-1, keepdim=True)
    std = rewards.std(-1, keepdim=True)
    adv = ((rewards - mean) / (std + 1e-8)).reshape(-1, 1)
    coef1 = torch.exp(new - old)
    coef2 = coef1.clamp(1 - eps, 1 + eps_high)
    per_token = -torch.min(coef1 * adv, coef2 * adv)
    per_token = per_token + beta * (torch.exp(ref - new) - (ref - new) - 1)
    if loss_type == "grpo":
        return ((per_token * mask).sum(-1) / mask.sum(-1).clamp(min=1)).mean()
    if loss_type in ("bnpo", "dapo"):
        return (per_token * mask).sum() / mask.sum().clamp(min=1)
    return (per_token * mask).sum() / (per_token.shape[0] * per_token.shape[1])


@pytest.mark.parametrize("loss_type", ["grpo", "bnpo", "dapo", "dr_grpo"])
@pytest.mark.parametrize("eps_high", [None, 0.28])
def test_grpo_loss_matches_trl_transcription(loss_type, eps_high):
    new, old, ref, rewards, mask = _batch()
    ours = grpo_loss(new, old, ref, rewards, mask, epsilon_high=eps_high, loss_type=loss_type).loss
    theirs = _reference_loss(new, old, ref, rewards, mask, eps_high=eps_high, loss_type=loss_type)
    torch.testing.assert_close(ours, theirs)


def test_loss_type_aggregation_by_hand():
    # Two completions, per-token objective = ratio*A with ratio 1 (on-policy): per-token loss = -A.
    new = torch.zeros(2, 4, dtype=torch.float64, requires_grad=True)
    rewards = torch.tensor([[1.0, 0.0]], dtype=torch.float64)  # A = +-1/sqrt(2)*... group scale
    mask = torch.tensor([[1, 1, 1, 1], [1, 0, 0, 0]], dtype=torch.float64)
    a = group_advantages(rewards, scale="none").flatten()  # [0.5, -0.5]
    kw = dict(beta=0.0, scale_rewards="none")
    grpo = grpo_loss(new, None, None, rewards, mask, loss_type="grpo", **kw).loss.item()
    dapo = grpo_loss(new, None, None, rewards, mask, loss_type="dapo", **kw).loss.item()
    dr = grpo_loss(new, None, None, rewards, mask, loss_type="dr_grpo", **kw).loss.item()
    dr8 = grpo_loss(new, None, None, rewards, mask, loss_type="dr_grpo", max_completion_length=8, **kw).loss.item()
    assert grpo == pytest.approx(-(a[0] + a[1]).item() / 2)  # 0: each completion's token mean
    assert dapo == pytest.approx(-(4 * a[0] + a[1]).item() / 5)  # -0.3: long completion dominates
    assert dr == pytest.approx(-(4 * a[0] + a[1]).item() / (2 * 4))
    assert dr8 == pytest.approx(-(4 * a[0] + a[1]).item() / (2 * 8))


def test_kl_in_reward_shapes_rewards_and_adds_no_loss_term():
    new, old, ref, rewards, mask = _batch()
    beta = 0.5
    out = grpo_loss(new, old, ref, rewards, mask, beta=beta, kl_in="reward", kl_estimator="k1")
    kl_seq = ((new.detach() - ref) * mask).sum(-1).reshape(rewards.shape)
    torch.testing.assert_close(out.advantages, group_advantages(rewards - beta * kl_seq))
    plain = grpo_loss(new, old, None, rewards - beta * kl_seq, mask, beta=0.0)
    torch.testing.assert_close(out.loss, plain.loss)


def test_kl_in_loss_adds_beta_times_masked_mean_kl_for_grpo():
    new, old, ref, rewards, mask = _batch()
    with_kl = grpo_loss(new, old, ref, rewards, mask, beta=0.3, kl_estimator="k2").loss
    without = grpo_loss(new, old, ref, rewards, mask, beta=0.0).loss
    k2 = 0.5 * (new - ref) ** 2
    expected_kl = ((k2 * mask).sum(-1) / mask.sum(-1)).mean()
    torch.testing.assert_close(with_kl - without, 0.3 * expected_kl)


def test_on_policy_gradient_equals_minus_advantage_weights():
    new, _, _, rewards, mask = _batch()
    out = grpo_loss(new, None, None, rewards, mask, beta=0.0, loss_type="dapo")
    out.loss.backward()
    adv = group_advantages(rewards).reshape(-1, 1)
    torch.testing.assert_close(new.grad, -adv * mask / mask.sum())
    assert out.metrics["ratio_mean"] == pytest.approx(1.0)
    assert out.metrics["clip_ratio/region_mean"] == 0.0


def test_clipped_tokens_get_zero_gradient():
    rewards = torch.tensor([[1.0, 0.0]], dtype=torch.float64)  # A = [+0.707, -0.707]
    new = torch.tensor([[0.5, 0.0], [-0.5, 0.0]], dtype=torch.float64, requires_grad=True)
    old = torch.zeros(2, 2, dtype=torch.float64)  # ratios e^0.5=1.65 (A>0: clipped), e^-0.5=0.61 (A<0: clipped)
    out = grpo_loss(new, old, None, rewards, beta=0.0, loss_type="dapo")
    out.loss.backward()
    assert new.grad[0, 0].item() == 0.0 and new.grad[1, 0].item() == 0.0
    assert new.grad[0, 1].item() != 0.0 and new.grad[1, 1].item() != 0.0
    assert out.metrics["clip_ratio/high_mean"] == pytest.approx(0.25)
    assert out.metrics["clip_ratio/low_mean"] == pytest.approx(0.25)
    assert out.metrics["clip_ratio/region_mean"] == pytest.approx(0.5)


def test_gradcheck_grpo_loss_all_options():
    new, old, ref, rewards, mask = _batch(seed=3)
    for kw in [
        dict(loss_type="grpo"),
        dict(loss_type="dapo", epsilon_high=0.28, kl_estimator="k2"),
        # kl_in="reward" is left out on purpose: its KL shaping is a stop-gradient (detached) by design,
        # which finite differences cannot see; test_kl_in_reward_* covers it.
        dict(loss_type="dr_grpo", delta=1.5, kl_estimator="k1"),
        dict(importance_sampling_level="sequence", scale_rewards="batch"),
    ]:
        assert torch.autograd.gradcheck(lambda x: grpo_loss(x, old, ref, rewards, mask, **kw).loss, (new,)), kw


def test_sequence_level_loss_matches_gspo_formula():
    new, old, _, rewards, mask = _batch(seed=5)
    out = grpo_loss(new, old, None, rewards, mask, beta=0.0, importance_sampling_level="sequence")
    s = torch.exp(((new - old) * mask).sum(-1, keepdim=True) / mask.sum(-1, keepdim=True))
    adv = group_advantages(rewards).reshape(-1, 1)
    per_token = -torch.min(s * adv, s.clamp(0.8, 1.2) * adv).expand_as(new)
    torch.testing.assert_close(out.loss, ((per_token * mask).sum(-1) / mask.sum(-1)).mean())


def test_metrics_names_and_values():
    new, old, ref, rewards, mask = _batch()
    rewards[1] = 1.0
    m = grpo_loss(new, old, ref, rewards, mask).metrics
    assert m["reward"] == pytest.approx(rewards.mean().item())
    assert m["frac_reward_zero_std"] == pytest.approx(0.5)
    assert m["reward_std"] == pytest.approx(rewards.std(-1).mean().item())
    k3 = torch.exp(ref - new.detach()) - (ref - new.detach()) - 1
    assert m["kl"] == pytest.approx(((k3 * mask).sum() / mask.sum()).item())
    assert m["completion_length"] == pytest.approx(mask.sum(-1).mean().item())
    assert m["advantage_mean"] == pytest.approx(0.0, abs=1e-7)
    assert all(math.isfinite(v) for v in m.values())


# ---------------------------------------------------------------- errors

BAD = [
    (lambda: group_advantages(torch.zeros(1, 2, 1, 1)), "rewards"),
    (lambda: group_advantages(torch.tensor([])), "rewards"),
    (lambda: group_advantages(torch.zeros(2, 0)), "rewards"),
    (lambda: group_advantages(torch.tensor([1.0, float("nan")])), "rewards"),
    (lambda: group_advantages(torch.tensor([1.0, float("inf")])), "rewards"),
    (lambda: group_advantages(torch.tensor([1.0, 2.0]), scale="std"), "scale"),
    (lambda: group_advantages(torch.tensor([1.0, 2.0]), eps=-1), "eps"),
    (lambda: group_advantages([1.0, 2.0]), "rewards"),
    (lambda: probability_ratio(torch.zeros(2, 3), torch.zeros(2, 4)), "logp_old"),
    (lambda: probability_ratio(torch.zeros(2, 3), torch.zeros(2, 3), level="seq"), "level"),
    (lambda: probability_ratio(torch.zeros(2, 3), torch.zeros(2, 3), torch.ones(2, 2), level="sequence"), "mask"),
    (lambda: clipped_surrogate(torch.ones(3), torch.ones(3), epsilon=-0.1), "epsilon"),
    (lambda: clipped_surrogate(torch.ones(3), torch.ones(3), epsilon_high=float("nan")), "epsilon_high"),
    (lambda: clipped_surrogate(torch.ones(3), torch.ones(3), delta=1.1), "delta"),
    (lambda: clipped_surrogate(torch.ones(3), torch.ones(4)), "advantages"),
    (lambda: kl_estimate(torch.zeros(3), torch.zeros(3), estimator="k4"), "estimator"),
    (lambda: kl_estimate(torch.zeros(3), torch.zeros(2)), "logp_ref"),
    (lambda: grpo_loss(torch.zeros(4, 2), None, None, torch.zeros(2, 3), beta=0.0), "logp_new"),
    (lambda: grpo_loss(torch.zeros(4, 2), None, None, torch.zeros(1, 4)), "logp_ref"),
    (lambda: grpo_loss(torch.zeros(4, 2), None, None, torch.zeros(1, 4), torch.ones(4, 3), beta=0.0), "mask"),
    (lambda: grpo_loss(torch.zeros(4, 2), None, None, torch.zeros(1, 4), beta=-1.0), "beta"),
    (lambda: grpo_loss(torch.zeros(4, 2), None, None, torch.zeros(1, 4), beta=0.0, loss_type="sum"), "loss_type"),
    (lambda: grpo_loss(torch.zeros(4, 2), None, None, torch.zeros(1, 4), beta=0.0, kl_in="both"), "kl_in"),
    (lambda: grpo_loss(torch.zeros(4, 2), None, None, torch.zeros(1, 4), beta=0.0, max_completion_length=0), "max_completion_length"),
    (lambda: grpo_loss(torch.zeros(4, 2), None, None, torch.zeros(1, 4), beta=0.0, importance_sampling_level="x"), "importance_sampling_level"),
    (lambda: grpo_loss(torch.zeros(4, 2), torch.zeros(4, 1), None, torch.zeros(1, 4), beta=0.0), "logp_old"),
]


@pytest.mark.parametrize("call,name", BAD)
def test_bad_arguments_raise_value_error_naming_the_argument(call, name):
    with pytest.raises(ValueError, match=name):
        call()


def test_delta_capped_tokens_are_not_counted_as_clipping():
    # One completion with A < 0 and ratios [0.5 (low clip), 1.0, 5.0 (delta cap), 1.1]; one with A > 0.
    rewards = torch.tensor([[0.0, 1.0]])
    old = torch.zeros(2, 4)
    new = torch.log(torch.tensor([[0.5, 1.0, 5.0, 1.1], [1.5, 1.0, 1.0, 1.0]])).requires_grad_()
    m = grpo_loss(new, old, None, rewards, beta=0.0, delta=3.0).metrics
    assert m["clip_ratio/low_mean"] == pytest.approx(1 / 8)
    assert m["clip_ratio/high_mean"] == pytest.approx(1 / 8)
    assert m["clip_ratio/region_mean"] == pytest.approx(2 / 8)
    assert m["ratio_mean"] == pytest.approx((0.5 + 1 + 5 + 1.1 + 1.5 + 3) / 8, rel=1e-6)


def test_kl_value_and_grad_matches_autograd_of_kl_estimate():
    from grpo_core.functional import kl_value_and_grad

    logp = torch.tensor([-30.0, -3.0, -0.2, 0.0, 25.0], dtype=torch.float64, requires_grad=True)
    ref = torch.tensor([0.0, -2.0, -0.5, 0.0, 0.0], dtype=torch.float64)
    for est in ("k1", "k2", "k3"):
        logp.grad = None
        kl_estimate(logp, ref, estimator=est).sum().backward()
        value, grad = kl_value_and_grad(logp.detach(), ref, est, need_grad=True)
        torch.testing.assert_close(value, kl_estimate(logp.detach(), ref, estimator=est))
        torch.testing.assert_close(grad, logp.grad)
