"""The seed notebook's printed examples, recomputed with grpo_core.

The reference values are computed here by the notebook's own 1-D functions (copied as test oracles), so a
change in grpo_core that disagrees with the lesson plan fails.
"""

import math

import pytest
import torch

from grpo_core import clipped_surrogate, group_advantages, grpo_loss, kl_estimate


def notebook_group_advantages(rewards):
    mean, std = rewards.mean(), rewards.std()
    if std < 1e-8:
        return torch.zeros_like(rewards)
    return (rewards - mean) / (std + 1e-8)


def notebook_grpo_loss(new, old, ref, rewards, epsilon=0.2, beta=0.1):
    adjusted = rewards - beta * (new - ref).detach()
    advantages = notebook_group_advantages(adjusted)
    ratios = torch.exp(new - old)
    surrogate = torch.min(ratios * advantages, torch.clamp(ratios, 1 - epsilon, 1 + epsilon) * advantages)
    return -surrogate.mean()


NOTEBOOK_GROUPS = [[1.0, 0.0, 1.0, 0.0], [1.0, 1.0, 1.0, 0.0], [1.0, 0.0, 0.0, 0.0], [1.0, 1.0, 1.0, 1.0]]


@pytest.mark.parametrize("rewards", NOTEBOOK_GROUPS)
def test_four_groups_match_notebook(rewards):
    r = torch.tensor(rewards)
    torch.testing.assert_close(group_advantages(r), notebook_group_advantages(r))


def test_four_groups_printed_values():
    # The notebook prints these (2 decimals): half right, mostly right, mostly wrong, all right.
    batch = group_advantages(torch.tensor(NOTEBOOK_GROUPS))
    expected = [[0.87, -0.87, 0.87, -0.87], [0.5, 0.5, 0.5, -1.5], [1.5, -0.5, -0.5, -0.5], [0.0, 0.0, 0.0, 0.0]]
    assert [[round(a, 2) for a in row] for row in batch.tolist()] == expected


def test_manual_cell_half_correct_mean_and_std():
    r = torch.tensor([1.0, 0.0, 1.0, 0.0])
    adv = group_advantages(r)
    assert r.mean().item() == 0.5 and round(r.std().item(), 2) == 0.58
    assert adv[0].item() == pytest.approx(0.5 / math.sqrt(1 / 3), rel=1e-6)


def test_clip_demo_ratio_1_5():
    assert clipped_surrogate(torch.tensor(1.5), torch.tensor(1.0), epsilon=0.2).item() == pytest.approx(1.2)


def test_kl_demo_k1_sum():
    cur = torch.tensor([-0.5, -0.8, -0.3, -1.0])
    ref = torch.tensor([-0.6, -0.9, -0.4, -1.1])
    assert kl_estimate(cur, ref, estimator="k1").sum().item() == pytest.approx(0.4, abs=1e-6)


def test_completed_grpo_loss_verification_cell():
    new = torch.tensor([-1.0, -2.0, -0.5, -3.0])
    old = torch.tensor([-1.1, -1.9, -0.6, -2.8])
    ref = torch.tensor([-1.2, -2.1, -0.7, -3.1])
    rewards = torch.tensor([1.0, 0.0, 1.0, 0.0])
    ours = grpo_loss(new, old, ref, rewards, epsilon=0.2, beta=0.1, kl_estimator="k1", kl_in="reward").loss
    theirs = notebook_grpo_loss(new, old, ref, rewards)
    assert ours.item() == pytest.approx(theirs.item(), abs=1e-6)
    assert ours.item() == pytest.approx(-0.1054, abs=1e-4)


def test_all_equal_float32_group_is_exactly_zero_where_notebook_is_not():
    r = torch.full((8,), 0.7)
    assert notebook_group_advantages(r).abs().max().item() > 0.5  # the notebook's rounding artefact
    assert torch.equal(group_advantages(r), torch.zeros(8))
