"""The family registries: every objective, aggregation, advantage estimator and KL estimator, and
grpo_loss in both vocabularies (gradients, padding, extremes, API)."""

from __future__ import annotations

import math
import re

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from grpo_core import grpo_loss, loss_terms
from grpo_core.advantages import ADVANTAGE_ESTIMATORS, group_advantages
from grpo_core.aggregation import AGGREGATIONS, aggregation_weights
from grpo_core.family import ALGORITHMS, trl_config, verl_overrides
from grpo_core.kl import KL_ESTIMATORS, kl_estimate, kl_value_and_grad
from grpo_core.loss import LOSS_TYPES, TRL_LOSS_TYPES
from grpo_core.objectives import OBJECTIVES, ObjectiveParams, objective_along_ratio

#: Objectives whose weight is a stopped gradient (sg): finite differences see through the stop, so their
#: gradient is checked against autograd of the formula with the stop written as .detach() instead.
STOPPED = {"cispo", "cispo_trl", "vespo"}
AGGS = AGGREGATIONS.names()


def batch(b=2, g=4, t=6, seed=0, spread=0.3, dtype=torch.float64):
    gen = torch.Generator().manual_seed(seed)
    new = (torch.randn(b * g, t, generator=gen, dtype=dtype) * 0.5 - 1.5).requires_grad_()
    old = new.detach() + spread * torch.randn(b * g, t, generator=gen, dtype=dtype)
    ref = new.detach() + spread * torch.randn(b * g, t, generator=gen, dtype=dtype)
    lengths = torch.randint(1, t + 1, (b * g,), generator=gen)
    mask = (torch.arange(t)[None, :] < lengths[:, None]).to(dtype)
    rewards = torch.randint(0, 3, (b, g), generator=gen).to(dtype) / 2
    return new, old, ref, rewards, mask


def test_every_registry_entry_carries_what_the_app_shows():
    arxiv = re.compile(r"^\d{4}\.\d{4,5}$")
    for registry in (OBJECTIVES, ADVANTAGE_ESTIMATORS):
        for name, entry in registry.items():
            assert entry.title and entry.idea and entry.formula, name
            assert arxiv.match(entry.paper[1]), (name, entry.paper)
            assert entry.trl is not None or entry.verl is not None, f"{name} is in neither trainer"
    for name, entry in AGGREGATIONS.items():
        assert entry.formula and entry.idea and entry.length_bias, name
    for objective in OBJECTIVES:
        assert any(a.objective.name == objective or (objective == "gspo" and a.name == "gspo")
                   for a in ALGORITHMS.values()) or objective in ("vanilla",), objective
    assert set(LOSS_TYPES) == {"grpo", "bnpo", "dapo", "dr_grpo", "cispo", "sapo", "luspo", "vespo"}


@pytest.mark.parametrize("objective", [o for o in OBJECTIVES if o not in STOPPED])
@pytest.mark.parametrize("level", ["token", "sequence"])
def test_gradcheck_every_objective_in_float64(objective, level):
    new, old, ref, rewards, mask = batch()
    for agg in ("token-mean", "seq-mean-token-mean"):
        f = lambda x: grpo_loss(x, old, ref, rewards, mask, policy_loss=objective, loss_agg_mode=agg,  # noqa: E731
                                beta=0.1, delta=3.0 if objective == "vanilla" else None,
                                importance_sampling_level=level, epsilon_high=0.28).loss
        assert torch.autograd.gradcheck(f, (new,), eps=1e-6, atol=1e-7)


def _stopped_reference(objective, new, old, adv, mask, params):
    """The stopped-weight objectives written with autograd, the stop as .detach()."""
    r = (new - old).clamp(-20, 20).exp()
    if objective == "cispo":
        w = r.clamp(1 - params.epsilon, 1 + params.epsilon_high).detach()
    elif objective == "cispo_trl":
        w = r.clamp(max=params.epsilon_high).detach()
    else:
        log_w = (((new - old).clamp(-20, 20)) * mask).sum(-1, keepdim=True).clamp(math.log(1e-8), 20)
        k = torch.where(adv >= 0, params.vespo_k_pos, params.vespo_k_neg)
        lam = torch.where(adv >= 0, params.vespo_lambda_pos, params.vespo_lambda_neg)
        w = torch.exp(lam + k * log_w - lam * log_w.exp()).detach()
    per_token = -w * adv * new
    return (per_token * mask).sum() / mask.sum()


@pytest.mark.parametrize("objective", sorted(STOPPED))
def test_stopped_weight_objectives_match_autograd_with_detach(objective):
    new, old, ref, rewards, mask = batch(spread=0.6)
    params = ObjectiveParams(epsilon=0.2, epsilon_high=1.4 if objective == "cispo_trl" else 0.28)
    out = grpo_loss(new, old, None, rewards, mask, policy_loss=objective, loss_agg_mode="token-mean", beta=0.0,
                    epsilon_high=params.epsilon_high)
    (grad,) = torch.autograd.grad(out.loss, new)
    adv = out.advantages.reshape(-1, 1)
    x = new.detach().clone().requires_grad_()
    expected = _stopped_reference(objective, x, old, adv, mask, params)
    (expected_grad,) = torch.autograd.grad(expected, x)
    torch.testing.assert_close(out.loss.detach(), expected.detach(), rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(grad, expected_grad, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("objective", list(OBJECTIVES))
@pytest.mark.parametrize("agg", AGGS)
def test_padding_never_changes_the_loss_or_the_gradient_of_real_tokens(objective, agg):
    new, old, ref, rewards, mask = batch(seed=3)
    kwargs = dict(policy_loss=objective, loss_agg_mode=agg, beta=0.05, loss_scale_factor=8.0)
    a = grpo_loss(new, old, ref, rewards, mask, **kwargs)
    (grad_a,) = torch.autograd.grad(a.loss, new)
    pad = mask == 0
    new_b = torch.where(pad, torch.full_like(new, -7.0), new.detach()).requires_grad_()
    b = grpo_loss(new_b, torch.where(pad, 3.0, old), torch.where(pad, -9.0, ref), rewards, mask, **kwargs)
    (grad_b,) = torch.autograd.grad(b.loss, new_b)
    torch.testing.assert_close(a.loss, b.loss, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(grad_a * mask, grad_b * mask, rtol=1e-12, atol=1e-12)
    assert torch.all(grad_b[pad] == 0)
    for name, value in a.metrics.items():
        assert value == pytest.approx(b.metrics[name], rel=1e-9, abs=1e-12), name


@pytest.mark.parametrize("objective", list(OBJECTIVES))
@pytest.mark.parametrize("kl", KL_ESTIMATORS)
def test_extreme_log_probs_and_ratios_stay_finite(objective, kl):
    new, old, ref, rewards, mask = batch(seed=5, dtype=torch.float32)
    extreme = new.detach().clone()
    extreme[0, 0] = -1e4
    extreme[1, 0] = 0.0
    old = old.clone()
    old[1, 0] = -20.0  # ratio e^20
    x = extreme.requires_grad_()
    out = grpo_loss(x, old, ref, rewards, mask, policy_loss=objective, loss_agg_mode="token-mean", beta=0.04,
                    kl_estimator=kl, kl_bias_correction=True)
    out.loss.backward()
    assert torch.isfinite(out.loss)
    assert torch.isfinite(x.grad).all()
    assert all(math.isfinite(v) for v in out.metrics.values())


@pytest.mark.parametrize("estimator", KL_ESTIMATORS)
def test_kl_value_and_grad_match_autograd_of_kl_estimate(estimator):
    gen = torch.Generator().manual_seed(1)
    logp = (torch.randn(64, 8, generator=gen, dtype=torch.float64) * 3).requires_grad_()
    ref = torch.randn(64, 8, generator=gen, dtype=torch.float64) * 3
    value, grad = kl_value_and_grad(logp.detach(), ref, estimator, need_grad=True)
    autograd_value = kl_estimate(logp, ref, estimator=estimator)
    (autograd_grad,) = torch.autograd.grad(autograd_value.sum(), logp)
    torch.testing.assert_close(value, autograd_value.detach())
    torch.testing.assert_close(grad, autograd_grad)
    d = logp.detach() - ref
    if estimator.endswith("+"):  # straight-through: k2's gradient
        torch.testing.assert_close(grad, d)


def test_the_two_vocabularies_cannot_be_mixed_and_name_the_same_loss():
    new, old, ref, rewards, mask = batch()
    with pytest.raises(ValueError, match="loss_type"):
        grpo_loss(new, old, ref, rewards, mask, loss_type="dapo", loss_agg_mode="token-mean")
    with pytest.raises(ValueError, match="policy_loss"):
        grpo_loss(new, old, ref, rewards, mask, policy_loss="nope")
    same = [("dapo", "vanilla", "token-mean"), ("cispo", "cispo_trl", "token-mean"), ("vespo", "vespo", "token-mean")]
    for loss_type, objective, agg in same:
        a = grpo_loss(new, old, ref, rewards, mask, loss_type=loss_type, epsilon_high=0.5).loss
        b = grpo_loss(new, old, ref, rewards, mask, policy_loss=objective, loss_agg_mode=agg, epsilon_high=0.5).loss
        torch.testing.assert_close(a, b)


def test_trl_sequence_means_count_every_completion_and_verl_only_the_non_empty():
    new, old, ref, rewards, mask = batch()
    mask = mask.clone()
    mask[2] = 0
    trl = grpo_loss(new, old, ref, rewards, mask, loss_type="grpo").loss
    verl = grpo_loss(new, old, ref, rewards, mask, policy_loss="vanilla", loss_agg_mode="seq-mean-token-mean").loss
    n = mask.shape[0]
    torch.testing.assert_close(trl * n, verl * (n - 1))


def test_aggregation_weights_by_hand():
    mask = torch.tensor([[1.0, 1, 1, 0], [1, 0, 0, 0], [0, 0, 0, 0]])
    w = {name: (mask * aggregation_weights(name, mask, loss_scale_factor=10.0)).tolist() for name in AGGS}
    assert w["token-mean"][0] == [0.25, 0.25, 0.25, 0.0]
    assert w["token-sum"][1] == [1.0, 0, 0, 0]
    assert w["seq-mean-token-sum"][0] == [0.5, 0.5, 0.5, 0.0]  # two non-empty rows
    assert w["seq-mean-token-mean"][0] == pytest.approx([1 / 6, 1 / 6, 1 / 6, 0.0])
    assert w["seq-mean-token-mean"][1] == [0.5, 0, 0, 0]
    assert w["seq-mean-token-sum-norm"][1] == pytest.approx([0.05, 0, 0, 0])
    counted = mask * aggregation_weights("seq-mean-token-mean", mask, count_empty=True)
    assert counted[1, 0] == pytest.approx(1 / 3)


def test_sequence_level_clip_metrics_count_completions():
    new, old, ref, rewards, mask = batch(spread=0.8)
    out = grpo_loss(new, old, None, rewards, mask, beta=0.0, importance_sampling_level="sequence")
    terms = loss_terms(new, old, None, rewards, mask, beta=0.0, importance_sampling_level="sequence")
    rows_low = terms.clipped_low.any(dim=-1).double().mean().item()
    rows_high = terms.clipped_high.any(dim=-1).double().mean().item()
    assert out.metrics["clip_ratio/low_mean"] == pytest.approx(rows_low)
    assert out.metrics["clip_ratio/high_mean"] == pytest.approx(rows_high)
    assert rows_low + rows_high > 0  # the batch does clip


@pytest.mark.parametrize("name", list(ALGORITHMS))
def test_loss_terms_add_up_to_the_loss_and_its_gradient(name):
    settings_ = dict(ALGORITHMS[name].settings)
    settings_["beta"] = 0.1
    new, old, ref, rewards, mask = batch(spread=0.4)
    out = grpo_loss(new, old, ref, rewards, mask, **settings_)
    (grad,) = torch.autograd.grad(out.loss, new)
    terms = loss_terms(new, old, ref, rewards, mask, **settings_)
    policy = (terms.policy_loss * terms.policy_weight).sum()
    if terms.objective in ("gspo", "geo_mean") or settings_.get("importance_sampling_level") == "sequence":
        policy = (terms.policy_loss * terms.policy_weight).sum()  # row-constant loss: same sum
    total = policy + (terms.kl * terms.kl_weight).sum()
    torch.testing.assert_close(total, out.loss.detach())
    torch.testing.assert_close(terms.grad, grad)
    torch.testing.assert_close(terms.grad_policy + terms.grad_kl, grad)


def test_advantage_estimators_by_hand():
    r = torch.tensor([[1.0, 0.0, 0.0, 1.0], [1.0, 1.0, 1.0, 0.0]])
    mask = torch.ones(8, 3)
    mask[1, 1:] = 0  # completion 1 has one token, the others three
    torch.testing.assert_close(group_advantages(r, estimator="rloo"),
                               torch.tensor([[2 / 3, -2 / 3, -2 / 3, 2 / 3], [1 / 3, 1 / 3, 1 / 3, -1.0]]))
    opo = group_advantages(r, estimator="opo", mask=mask)
    baseline = (3 * 1 + 1 * 0 + 3 * 0 + 3 * 1) / 10
    torch.testing.assert_close(opo[0], torch.tensor([1.0, 0.0, 0.0, 1.0]) - baseline)
    passk = group_advantages(torch.tensor([[0.2, 0.9, 0.5, 0.1]]), estimator="grpo_passk", scale="none")
    torch.testing.assert_close(passk, torch.tensor([[0.0, 0.4, 0.0, 0.0]]))
    rpp = group_advantages(r, estimator="reinforce_plus_plus_baseline", mask=mask)
    centred = (r - r.mean(-1, keepdim=True)).reshape(-1)
    per_token = centred.repeat_interleave(mask.sum(-1).long())
    torch.testing.assert_close(rpp.reshape(-1), (centred - per_token.mean()) / per_token.std())
    with pytest.raises(ValueError, match="mask"):
        group_advantages(r, estimator="opo")
    with pytest.raises(ValueError, match="estimator"):
        group_advantages(r, estimator="ppo")


def test_multi_reward_estimators_by_hand():
    rewards = torch.tensor([[[1.0, 10.0], [0.0, 30.0], [1.0, 20.0], [0.0, 40.0]]])  # (1, 4, 2)
    weights = torch.tensor([1.0, 0.5])
    summed = group_advantages(rewards, reward_weights=weights, eps=0.0)
    torch.testing.assert_close(summed, group_advantages((rewards * weights).sum(-1), eps=0.0))
    z = lambda x: (x - x.mean()) / x.std()  # noqa: E731
    per_reward = z(rewards[0, :, 0]) + 0.5 * z(rewards[0, :, 1])
    nts = group_advantages(rewards, estimator="normalize_then_sum", reward_weights=weights, eps=0.0)
    torch.testing.assert_close(nts[0], z(per_reward))
    gdpo = group_advantages(rewards, estimator="gdpo", reward_weights=weights, eps=0.0, mask=torch.ones(4, 2))
    per_token = per_reward.repeat_interleave(2)  # verl whitens over the 8 real tokens, Bessel over tokens
    torch.testing.assert_close(gdpo[0], (per_reward - per_token.mean()) / per_token.std(), rtol=1e-4, atol=1e-4)


@settings(max_examples=30, deadline=None)
@given(b=st.integers(1, 3), g=st.integers(2, 5), t=st.integers(1, 7), seed=st.integers(0, 10_000),
       objective=st.sampled_from(OBJECTIVES.names()), agg=st.sampled_from(AGGS),
       estimator=st.sampled_from(["grpo", "rloo", "reinforce_plus_plus_baseline", "grpo_passk", "opo"]))
def test_any_shape_any_variant_gives_a_finite_loss_and_gradient(b, g, t, seed, objective, agg, estimator):
    new, old, ref, rewards, mask = batch(b, g, t, seed, dtype=torch.float32)
    out = grpo_loss(new, old, ref, rewards, mask, policy_loss=objective, loss_agg_mode=agg,
                    advantage_estimator=estimator, beta=0.04)
    out.loss.backward()
    assert torch.isfinite(out.loss) and torch.isfinite(new.grad).all()
    assert out.advantages.shape == (b, g)


def test_objective_along_ratio_shows_the_documented_shapes():
    r = torch.linspace(0.05, 3.0, 300, dtype=torch.float64)
    params = ObjectiveParams(epsilon=0.2, epsilon_high=0.28)
    _, vanilla_pos = objective_along_ratio("vanilla", r, 1.0, params=params)
    _, vanilla_neg = objective_along_ratio("vanilla", r, -1.0, params=params)
    assert torch.all(vanilla_pos[r > 1.28] == 0) and torch.all(vanilla_pos[r < 1.28] > 0)
    assert torch.all(vanilla_neg[r < 0.8] == 0) and torch.all(vanilla_neg[r > 0.8] < 0)  # flat on one side only
    for a in (1.0, -1.0):
        _, cispo = objective_along_ratio("cispo", r, a, params=params)
        assert torch.all(cispo.abs() > 0)  # CISPO never drops the gradient
        _, sapo = objective_along_ratio("sapo", r, a, params=params)
        assert torch.all(sapo.diff().abs() < 0.05)  # smooth gate: no jump
    torch.testing.assert_close(objective_along_ratio("vanilla", r, 1.0, params=params)[1][r < 1.28],
                               r[r < 1.28])  # r·dJ/dr = r·A


def test_trainer_settings_for_every_algorithm():
    for name, algorithm in ALGORITHMS.items():
        trl, trl_notes = trl_config(algorithm.settings)
        verl, verl_notes = verl_overrides(algorithm.settings)
        assert trl is not None or verl is not None, name
        if trl is None:
            assert trl_notes, name
        if verl is None:
            assert verl_notes, name
    assert trl_config(ALGORITHMS["cispo_trl"].settings)[0]["epsilon_high"] == 5.0
    assert "actor_rollout_ref.actor.policy_loss.loss_mode=cispo" in verl_overrides(ALGORITHMS["cispo"].settings)[0]
    assert verl_overrides(ALGORITHMS["vespo"].settings)[0] is None
    assert trl_config(ALGORITHMS["rloo"].settings)[0] is None
    gspo = verl_overrides(ALGORITHMS["gspo"].settings)[0]
    assert "actor_rollout_ref.actor.policy_loss.loss_mode=gspo" in gspo
    assert {t.name for t in TRL_LOSS_TYPES.values()} == set(LOSS_TYPES)


def test_completion_length_counts_truncated_completions_as_sampled():
    new, old, ref, rewards, mask = batch()
    truncated = torch.zeros(mask.shape[0], dtype=torch.bool)
    truncated[:3] = True
    masked = grpo_loss(new, old, ref, rewards, mask, truncated=truncated, mask_truncated_completions=True)
    plain = grpo_loss(new, old, ref, rewards, mask)
    assert masked.metrics["completion_length"] == pytest.approx(mask.sum(-1).mean().item())
    assert masked.metrics["completion_length"] == pytest.approx(plain.metrics["completion_length"])
    assert masked.loss.item() != pytest.approx(plain.loss.item())  # the masked rows left the loss


def test_verl_refuses_what_it_has_no_setting_for_and_says_so():
    for extra, why in ((dict(top_entropy_quantile=0.2), "top_entropy_quantile"),
                       (dict(mask_truncated_completions=True), "mask_truncated_completions")):
        overrides, notes = verl_overrides({**ALGORITHMS["dapo"].settings, **extra})
        assert overrides is None and why in notes[0]
        assert trl_config({**ALGORITHMS["dapo"].settings, **extra})[0] is not None  # TRL has both
