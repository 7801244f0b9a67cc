"""grpo_core against transcriptions of the trainers' own formulas (tests/trainer_reference.py, each checked
against TRL 1.16 and verl 0.9 source): loss, gradient, metrics and advantages, in both vocabularies."""

from __future__ import annotations

import pytest
import torch

from grpo_core import grpo_loss
from grpo_core.advantages import group_advantages
from tests import trainer_reference as ref_impl

TOL = dict(rtol=1e-5, atol=1e-8)  # float64; the trainers keep a few float32 constants (TRL's Bessel factor, tau)


def make(b=3, g=4, t=7, seed=0, spread=0.35, empty_row=False):
    gen = torch.Generator().manual_seed(seed)
    new = (torch.randn(b * g, t, generator=gen, dtype=torch.float64) * 0.6 - 1.2).requires_grad_()
    old = new.detach() + spread * torch.randn(b * g, t, generator=gen, dtype=torch.float64)
    ref = new.detach() + spread * torch.randn(b * g, t, generator=gen, dtype=torch.float64)
    lengths = torch.randint(1, t + 1, (b * g,), generator=gen)
    mask = (torch.arange(t)[None, :] < lengths[:, None]).to(torch.float64)
    if empty_row:
        mask[1] = 0
    rewards = torch.randint(0, 4, (b, g), generator=gen).to(torch.float64) / 3
    rewards[0] = 0.5  # a group with no spread
    return new, old, ref, rewards, mask


TRL_CASES = [
    dict(loss_type=lt) for lt in ("grpo", "bnpo", "dapo", "dr_grpo", "sapo", "vespo", "luspo")
] + [
    dict(loss_type="cispo", epsilon_high=1.3),
    dict(loss_type="dapo", epsilon_high=0.28, delta=1.6),
    dict(loss_type="grpo", importance_sampling_level="sequence", epsilon=0.05, epsilon_high=0.06),
    dict(loss_type="luspo", importance_sampling_level="sequence", epsilon=0.05),
    dict(loss_type="dapo", beta=0.04, kl_bias_correction=True),
    dict(loss_type="grpo", beta=0.04, kl_bias_correction=True, importance_sampling_level="sequence"),
    dict(loss_type="sapo", beta=0.1, tau_pos=2.0, tau_neg=0.5),
    dict(loss_type="dr_grpo", scale_rewards="none", beta=0.02, max_completion_length=12),
    dict(loss_type="dapo", scale_rewards="batch"),
]


def _trl_kwargs(case: dict) -> dict:
    epsilon = case.get("epsilon", 0.2)
    out = dict(loss_type=case["loss_type"], beta=case.get("beta", 0.0), epsilon_low=epsilon,
               epsilon_high=case.get("epsilon_high", epsilon), delta=case.get("delta"),
               importance_sampling_level=case.get("importance_sampling_level", "token"),
               use_bias_correction_kl=case.get("kl_bias_correction", False),
               sapo_temperature_pos=case.get("tau_pos", 1.0), sapo_temperature_neg=case.get("tau_neg", 1.05),
               max_completion_length=case.get("max_completion_length"))
    return out


@pytest.mark.parametrize("case", TRL_CASES, ids=lambda c: "-".join(f"{k}={v}" for k, v in c.items()))
@pytest.mark.parametrize("empty_row", [False, True])
def test_grpo_loss_equals_trl_compute_loss(case, empty_row):
    new, old, ref, rewards, mask = make(empty_row=empty_row)
    g = rewards.shape[1]
    ours = grpo_loss(new, old, ref, rewards, mask, eps=1e-4, **{"beta": 0.0, **case})
    (our_grad,) = torch.autograd.grad(ours.loss, new)
    advantages = ref_impl.trl_advantages(rewards.reshape(-1, 1), [1.0], g,
                                         scale_rewards=case.get("scale_rewards", "group"))
    torch.testing.assert_close(ours.advantages.reshape(-1), advantages.reshape(-1), **TOL)
    x = new.detach().clone().requires_grad_()
    theirs, metrics = ref_impl.trl_loss(x, old, ref, advantages, mask, **_trl_kwargs(case))
    (their_grad,) = torch.autograd.grad(theirs, x)
    torch.testing.assert_close(ours.loss.detach(), theirs.detach(), **TOL)
    torch.testing.assert_close(our_grad, their_grad, **TOL)
    if case.get("beta", 0) > 0:
        assert ours.metrics["kl"] == pytest.approx(metrics["kl"], rel=1e-7, abs=1e-12)
    if case["loss_type"] in ("grpo", "bnpo", "dr_grpo", "dapo", "luspo") and not empty_row:
        for name in ("clip_ratio/low_mean", "clip_ratio/high_mean", "clip_ratio/region_mean"):
            assert ours.metrics[name] == pytest.approx(metrics[name], abs=1e-6), name
    if case["loss_type"] == "cispo" and not empty_row:
        assert ours.metrics["clip_ratio/high_mean"] == pytest.approx(metrics["cispo_clip_ratio"], abs=1e-6)


def test_top_entropy_quantile_equals_trl():
    new, old, ref, rewards, mask = make(seed=4)
    entropy = torch.rand(new.shape, generator=torch.Generator().manual_seed(9), dtype=torch.float64) * 2
    case = dict(loss_type="dapo", beta=0.04)
    ours = grpo_loss(new, old, ref, rewards, mask, eps=1e-4, entropy=entropy, top_entropy_quantile=0.3, **case)
    (our_grad,) = torch.autograd.grad(ours.loss, new)
    advantages = ref_impl.trl_advantages(rewards.reshape(-1, 1), [1.0], rewards.shape[1])
    x = new.detach().clone().requires_grad_()
    theirs, _ = ref_impl.trl_loss(x, old, ref, advantages, mask, entropies=entropy, top_entropy_quantile=0.3,
                                  **_trl_kwargs(case))
    (their_grad,) = torch.autograd.grad(theirs, x)
    torch.testing.assert_close(ours.loss.detach(), theirs.detach(), **TOL)
    torch.testing.assert_close(our_grad, their_grad, **TOL)


def test_multi_reward_advantages_equal_trl_both_aggregations():
    gen = torch.Generator().manual_seed(3)
    per_func = torch.rand(12, 3, generator=gen, dtype=torch.float64).round(decimals=1)
    weights = torch.tensor([1.0, 0.5, 2.0], dtype=torch.float64)
    grouped = per_func.reshape(3, 4, 3)
    summed = group_advantages(grouped, reward_weights=weights, eps=1e-4)
    torch.testing.assert_close(summed.reshape(-1), ref_impl.trl_advantages(per_func, weights, 4), **TOL)
    separate = group_advantages(grouped, estimator="normalize_then_sum", reward_weights=weights, eps=1e-4)
    expected = ref_impl.trl_advantages(per_func, weights, 4, multi_objective_aggregation="normalize_then_sum")
    torch.testing.assert_close(separate.reshape(-1), expected, **TOL)


VERL_CASES = [
    dict(policy_loss=p, loss_agg_mode=a)
    for p in ("vanilla", "gspo", "sapo", "gpg", "geo_mean", "dro", "cispo")
    for a in ("token-mean", "token-sum", "seq-mean-token-sum", "seq-mean-token-mean", "seq-mean-token-sum-norm")
]


@pytest.mark.parametrize("case,kl", [(c, "k3") for c in VERL_CASES] + [
    (dict(policy_loss="vanilla", loss_agg_mode="seq-mean-token-mean"), kl) for kl in ("k1", "abs", "k2", "k1+", "k3+")
], ids=lambda v: v if isinstance(v, str) else f"{v['policy_loss']}-{v['loss_agg_mode']}")
def test_grpo_loss_equals_verl_actor_loss(case, kl):
    new, old, ref, rewards, mask = make(seed=2, spread=0.25)
    n, t = new.shape
    settings = dict(epsilon=0.2, epsilon_high=0.28, delta=3.0 if case["policy_loss"] == "vanilla" else None,
                    beta=0.05, kl_estimator=kl, dro_beta=0.3, tau_pos=1.0, tau_neg=1.05, loss_scale_factor=9.0)
    ours = grpo_loss(new, old, ref, rewards, mask, eps=1e-6, **case, **settings)
    (our_grad,) = torch.autograd.grad(ours.loss, new)
    advantages = ref_impl.verl_advantages("grpo", rewards.reshape(-1), mask, rewards.shape[1], epsilon=1e-6)
    torch.testing.assert_close(ours.advantages.reshape(-1, 1).expand(n, t) * mask, advantages * mask, **TOL)
    x = new.detach().clone().requires_grad_()
    theirs, _ = ref_impl.verl_total_loss(
        case["policy_loss"], old, x, ref, advantages, mask, loss_agg_mode=case["loss_agg_mode"],
        kl_loss_type=kl, kl_loss_coef=0.05, clip_ratio_low=0.2, clip_ratio_high=0.28,
        clip_ratio_c=3.0, dro_beta=0.3, loss_scale_factor=9.0)
    (their_grad,) = torch.autograd.grad(theirs, x)
    torch.testing.assert_close(ours.loss.detach(), theirs.detach(), **TOL)
    torch.testing.assert_close(our_grad, their_grad, **TOL)


@pytest.mark.parametrize("estimator", ["grpo", "rloo", "reinforce_plus_plus_baseline", "grpo_passk", "opo"])
@pytest.mark.parametrize("scale", ["group", "none"])
def test_advantage_estimators_equal_verl(estimator, scale):
    _, _, _, rewards, mask = make(seed=6)
    ours = group_advantages(rewards, estimator=estimator, scale=scale, eps=1e-6, mask=mask)
    theirs = ref_impl.verl_advantages(estimator, rewards.reshape(-1), mask, rewards.shape[1], epsilon=1e-6,
                                      norm_adv_by_std_in_grpo=scale == "group")
    n, t = mask.shape
    torch.testing.assert_close(ours.reshape(-1, 1).expand(n, t) * mask, theirs * mask, **TOL)


def test_gdpo_equals_verl():
    gen = torch.Generator().manual_seed(8)
    _, _, _, _, mask = make(seed=6)
    scores = torch.rand(12, 2, generator=gen, dtype=torch.float64).round(decimals=1)
    weights = torch.tensor([1.0, 0.25], dtype=torch.float64)
    ours = group_advantages(scores.reshape(3, 4, 2), estimator="gdpo", reward_weights=weights, eps=1e-6, mask=mask)
    theirs = ref_impl.verl_advantages("gdpo", scores.sum(-1), mask, 4, epsilon=1e-6,
                                      score_list=[scores[:, 0], scores[:, 1]], weights=weights)
    torch.testing.assert_close(ours.reshape(-1, 1).expand_as(mask) * mask, theirs * mask, rtol=1e-5, atol=1e-6)  # verl reads components as float32
