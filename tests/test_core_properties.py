"""Properties of grpo_core that must hold for every shape and value (hypothesis)."""

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from grpo_core import group_advantages, grpo_loss, kl_estimate, probability_ratio

settings.register_profile("grpo", max_examples=60, deadline=None)
settings.load_profile("grpo")

reward_values = st.floats(min_value=-100, max_value=100, allow_nan=False, allow_infinity=False, width=32)


@st.composite
def reward_batches(draw, max_b=6, max_g=12):
    b = draw(st.integers(1, max_b))
    g = draw(st.integers(1, max_g))
    values = draw(st.lists(reward_values, min_size=b * g, max_size=b * g))
    # Mix in groups whose rewards are all equal, the zero-signal case.
    if draw(st.booleans()):
        values[:g] = [values[0]] * g
    return torch.tensor(values, dtype=torch.float64).reshape(b, g)


@st.composite
def loss_inputs(draw):
    rewards = draw(reward_batches(max_b=3, max_g=5))
    n = rewards.numel()
    t = draw(st.integers(1, 6))
    seed = draw(st.integers(0, 2**16))
    gen = torch.Generator().manual_seed(seed)
    low = draw(st.sampled_from([-3.0, -30.0, -1e4]))
    new = torch.rand(n, t, generator=gen, dtype=torch.float64) * low
    old = torch.rand(n, t, generator=gen, dtype=torch.float64) * low
    ref = torch.rand(n, t, generator=gen, dtype=torch.float64) * low
    mask = (torch.rand(n, t, generator=gen) > draw(st.sampled_from([0.0, 0.3, 1.0]))).double()
    return new, old, ref, rewards, mask


options = st.fixed_dictionaries({
    "loss_type": st.sampled_from(["grpo", "bnpo", "dapo", "dr_grpo"]),
    "kl_estimator": st.sampled_from(["k1", "k2", "k3"]),
    "kl_in": st.sampled_from(["loss", "reward"]),
    "scale_rewards": st.sampled_from(["group", "batch", "none"]),
    "importance_sampling_level": st.sampled_from(["token", "sequence"]),
    "epsilon": st.sampled_from([0.0, 0.1, 0.2, 0.5]),
    "epsilon_high": st.sampled_from([None, 0.28, 1.0]),
    "beta": st.sampled_from([0.0, 0.04, 1.0]),
})


@given(reward_batches(), st.sampled_from(["group", "none"]))
def test_advantages_of_each_group_sum_to_zero(rewards, scale):
    adv = group_advantages(rewards, scale=scale)
    scale_bound = max(1.0, rewards.abs().max().item())
    assert torch.allclose(adv.sum(-1), torch.zeros(rewards.shape[0], dtype=adv.dtype), atol=1e-9 * scale_bound * rewards.shape[1])


@given(reward_batches(), st.floats(-50, 50, allow_nan=False), st.sampled_from(["group", "batch", "none"]))
def test_adding_a_constant_to_a_group_changes_nothing(rewards, shift, scale):
    shifted = rewards.clone()
    shifted[0] += shift
    if scale == "batch" and rewards.shape[0] > 1:
        return  # batch std mixes groups: a per-group shift is allowed to change it
    torch.testing.assert_close(group_advantages(shifted, scale=scale), group_advantages(rewards, scale=scale), atol=1e-6, rtol=1e-6)


@given(reward_batches(), st.sampled_from(["group", "batch", "none"]))
def test_equal_groups_exactly_zero_and_everything_finite(rewards, scale):
    adv = group_advantages(rewards, scale=scale)
    assert torch.isfinite(adv).all()
    equal = (rewards == rewards[:, :1]).all(-1)
    assert (adv[equal] == 0).all()


@given(loss_inputs(), options)
def test_loss_is_finite_for_any_shape_and_extreme_logps(inputs, opts):
    new, old, ref, rewards, mask = inputs
    new = new.clone().requires_grad_()
    out = grpo_loss(new, old, ref, rewards, mask, **opts)
    assert torch.isfinite(out.loss)
    out.loss.backward()
    assert torch.isfinite(new.grad).all()
    assert all(math.isfinite(v) for v in out.metrics.values())


@given(loss_inputs(), options, st.sampled_from([0.0, -1e4, 7.0]))
def test_masked_tokens_never_change_the_loss(inputs, opts, garbage):
    new, old, ref, rewards, mask = inputs
    pad = mask == 0
    dirty = [x.clone() for x in (new, old, ref)]
    for x in dirty:
        x[pad] = garbage
    a = new.clone().requires_grad_()
    b = dirty[0].clone().requires_grad_()
    out_a = grpo_loss(a, old, ref, rewards, mask, **opts)
    out_b = grpo_loss(b, dirty[1], dirty[2], rewards, mask, **opts)
    torch.testing.assert_close(out_a.loss, out_b.loss)
    out_a.loss.backward()
    out_b.loss.backward()
    torch.testing.assert_close(a.grad[~pad], b.grad[~pad])
    assert (b.grad[pad] == 0).all()


def test_fully_masked_rows_and_fully_masked_batch():
    new = torch.zeros(4, 3, requires_grad=True)
    rewards = torch.tensor([[1.0, 0.0, 1.0, 0.0]])
    mask = torch.ones(4, 3)
    mask[2] = 0
    for m in (mask, torch.zeros(4, 3)):
        for lt in ("grpo", "dapo", "dr_grpo"):
            out = grpo_loss(new, None, new.detach() - 1, rewards, m, loss_type=lt)
            assert torch.isfinite(out.loss)
            assert all(math.isfinite(v) for v in out.metrics.values())


def test_g1_and_one_token_completions():
    out = grpo_loss(torch.zeros(3, requires_grad=True), None, torch.full((3,), -0.5), torch.tensor([[1.0], [0.0], [3.0]]))
    assert out.loss.item() == pytest.approx(out.metrics["kl"] * 0.04, rel=1e-5)
    assert out.metrics["frac_reward_zero_std"] == 1.0


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
def test_dtype_is_kept(dtype):
    new = torch.randn(8, 4, dtype=dtype).clamp(max=0).requires_grad_()
    rewards = torch.tensor([[1.0, 0.0, 0.5, 0.0], [0.0, 0.0, 1.0, 1.0]], dtype=dtype)
    assert group_advantages(rewards).dtype == dtype
    assert probability_ratio(new, new.detach()).dtype == dtype
    assert kl_estimate(new, new.detach() - 1).dtype == dtype
    out = grpo_loss(new, new.detach() + 0.1, new.detach() - 0.1, rewards)
    assert out.loss.dtype == dtype and torch.isfinite(out.loss)
    out.loss.backward()
    assert new.grad.dtype == dtype
