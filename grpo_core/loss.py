"""The GRPO loss: advantages, ratios, clipping and KL composed into one differentiable scalar."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from grpo_core import _checks
from grpo_core.functional import (
    ADVANTAGE_SCALES,
    KL_ESTIMATORS,
    LOG_RATIO_CLAMP,
    RATIO_LEVELS,
    _as_mask,
    _as_token_tensor,
    _check_clip,
    group_advantages,
    group_reward_std,
    kl_value_and_grad,
    ratio_bounds,
)

LOSS_TYPES = ("grpo", "bnpo", "dapo", "dr_grpo")
KL_PLACEMENTS = ("loss", "reward")

#: The keys of :attr:`GRPOLossResult.metrics`, in display order (TRL's names where TRL has one).
METRIC_NAMES = (
    "loss",
    "reward",
    "reward_std",
    "frac_reward_zero_std",
    "kl",
    "clip_ratio/low_mean",
    "clip_ratio/high_mean",
    "clip_ratio/region_mean",
    "ratio_mean",
    "advantage_mean",
    "advantage_std",
    "completion_length",
)


@dataclass(frozen=True)
class GRPOLossResult:
    """What :func:`grpo_loss` computed.

    Attributes:
        loss: scalar to **minimise**, differentiable w.r.t. ``logp_new``.
        metrics: the floats of :data:`METRIC_NAMES`, never NaN or inf, so that they can be shown as they
            are. The only way to a non-finite value is NaN/inf log-probs from a diverged policy; such a
            metric reads 0.0 (NaN) or +-float max (inf), so a caller watching for divergence checks ``loss``:
            ``reward``/``reward_std``: mean reward and mean within-group std (before any KL penalty);
            ``frac_reward_zero_std``: fraction of groups with no reward spread (they carry no signal);
            ``kl``: mean per-token KL estimate to the reference (0.0 when there is no reference);
            ``clip_ratio/low_mean``: fraction of real tokens with ``r < 1-epsilon`` and ``A < 0``;
            ``clip_ratio/high_mean``: fraction with ``r > 1+epsilon_high`` and ``A > 0``;
            ``clip_ratio/region_mean``: either; ``ratio_mean``: mean ratio over real tokens;
            ``advantage_mean``/``advantage_std``: over completions; ``completion_length``: mean real tokens.
        advantages: ``(B, G)`` advantages used (detached), after any KL-in-reward penalty.
    """

    loss: torch.Tensor
    metrics: dict[str, float] = field(default_factory=dict)
    advantages: torch.Tensor | None = None


def _count_true(flags: torch.Tensor) -> torch.Tensor:
    """``(N, T)`` bool -> ``(N, 1)`` counts; summing the bytes avoids the int64 copy of ``bool.sum()``."""
    return flags.view(torch.uint8).sum(dim=-1, keepdim=True, dtype=torch.int32)


class _LossWithGradient(torch.autograd.Function):
    """A scalar whose gradient in ``logp_new`` was already computed in the forward pass.

    grpo_loss is a sum of elementwise terms with closed-form derivatives, so building the gradient
    alongside the value takes ~4x fewer passes over the (N, T) tensors than recording every op for
    autograd. gradcheck in the tests holds this gradient to finite differences.
    """

    @staticmethod
    def forward(ctx, logp_new, value, grad):
        ctx.save_for_backward(grad)
        return value.clone()

    @staticmethod
    def backward(ctx, grad_output):
        (grad,) = ctx.saved_tensors
        return grad * grad_output, None, None


def grpo_loss(
    logp_new: torch.Tensor,
    logp_old: torch.Tensor | None,
    logp_ref: torch.Tensor | None,
    rewards: torch.Tensor,
    mask: torch.Tensor | None = None,
    *,
    epsilon: float = 0.2,
    epsilon_high: float | None = None,
    delta: float | None = None,
    beta: float = 0.04,
    kl_estimator: str = "k3",
    kl_in: str = "loss",
    scale_rewards: str = "group",
    eps: float = 1e-8,
    loss_type: str = "grpo",
    importance_sampling_level: str = "token",
    max_completion_length: int | None = None,
) -> GRPOLossResult:
    r"""The GRPO loss of one batch of groups (DeepSeekMath, Shao et al. 2024), with TRL's options.

    .. math::
        \ell_{i,t} = -\min\bigl(r_{i,t}\hat A_i,\ \operatorname{clip}(r_{i,t}, 1-\varepsilon, 1+\varepsilon_{high})\hat A_i\bigr)
                     + \beta\,\mathrm{KL}_{i,t}

    aggregated over real tokens by ``loss_type``.

    Args:
        logp_new: ``(N, T)`` log-probs of the sampled tokens under the policy being trained (``N = B*G``),
            or ``(N,)`` for one token per completion. Gradients flow through this one only.
        logp_old: same shape, under the policy that sampled (the "old" policy). ``None`` means on-policy
            (``logp_new.detach()``, as TRL with ``num_iterations=1``): every ratio is exactly 1.
        logp_ref: same shape, under the frozen reference policy. May be ``None`` when ``beta == 0``.
        rewards: ``(B, G)``, or ``(G,)`` for one group; finite.
        mask: ``(N, T)`` (or ``(N,)``), 1 on real tokens, 0 on padding: bool, or 0/1 of any dtype.
            ``None``: all tokens are real. Padding never changes the loss, whatever finite values it holds.
        epsilon, epsilon_high, delta: clip bounds, see :func:`clipped_surrogate`.
        beta: KL weight >= 0 (DeepSeekMath 0.04; TRL's default is 0 since Dr. GRPO/DAPO dropped it).
        kl_estimator: ``"k1"``, ``"k2"`` or ``"k3"``, see :func:`kl_estimate`.
        kl_in: ``"loss"``: add ``beta * KL`` per token to the loss (DeepSeekMath, TRL);
            ``"reward"``: subtract ``beta * sum_t KL`` (detached) from each completion's reward before the
            advantages are computed (InstructGPT-style reward shaping; the seed notebook's ``grpo_loss``).
        scale_rewards, eps: see :func:`group_advantages` (``scale`` there).
        loss_type: token aggregation, with TRL's meanings for one process:
            ``"grpo"``: mean over completions of each completion's token mean (DeepSeekMath);
            ``"bnpo"``/``"dapo"``: mean over all real tokens of the batch (DAPO, Yu et al. 2025);
            ``"dr_grpo"``: token sum / (``N`` * ``max_completion_length``) (Dr. GRPO, Liu et al. 2025).
        importance_sampling_level: ``"token"`` or ``"sequence"`` (GSPO), see :func:`probability_ratio`.
        max_completion_length: the constant of ``"dr_grpo"``; default ``T``.

    Returns:
        :class:`GRPOLossResult`.

    Raises:
        ValueError: a shape that does not fit (``logp_*`` and ``mask`` must share a shape with ``N = B*G``
            rows), an unknown option, a negative ``epsilon``/``beta``, or non-finite rewards.
    """
    _checks.choice("kl_estimator", kl_estimator, KL_ESTIMATORS)
    _checks.choice("kl_in", kl_in, KL_PLACEMENTS)
    _checks.choice("loss_type", loss_type, LOSS_TYPES)
    _checks.choice("importance_sampling_level", importance_sampling_level, RATIO_LEVELS)
    if not isinstance(scale_rewards, bool):
        _checks.choice("scale_rewards", scale_rewards, ADVANTAGE_SCALES)
    beta = _checks.non_negative("beta", beta)
    _check_clip(epsilon, epsilon_high, delta)

    new = _as_token_tensor("logp_new", logp_new)
    old = new.detach() if logp_old is None else _as_token_tensor("logp_old", logp_old)
    _checks.same_shape("logp_old", old, "logp_new", new)
    if logp_ref is None:
        if beta > 0:
            raise ValueError("logp_ref is required when beta > 0 (the KL term needs the reference policy)")
        ref = None
    else:
        ref = _as_token_tensor("logp_ref", logp_ref)
        _checks.same_shape("logp_ref", ref, "logp_new", new)
    rewards = _checks.tensor("rewards", rewards)
    if rewards.dim() not in (1, 2) or rewards.numel() == 0:
        raise ValueError(f"rewards must have shape (B, G) or (G,) with G >= 1; got {tuple(rewards.shape)}")
    groups = rewards.reshape(-1, rewards.shape[-1]).to(device=new.device, dtype=torch.promote_types(new.dtype, torch.float32))
    n, t = new.shape
    if groups.numel() != n:
        raise ValueError(f"logp_new must have N = B*G = {groups.numel()} rows, one per completion; got {n}")
    if mask is not None:
        _as_mask(mask, "logp_new", new)  # shape check
    if max_completion_length is None:
        max_completion_length = t
    elif isinstance(max_completion_length, bool) or not isinstance(max_completion_length, int) or max_completion_length < 1:
        raise ValueError(f"max_completion_length must be an int >= 1; got {max_completion_length!r}")
    low, high = _check_clip(epsilon, epsilon_high, delta)
    dtype = new.dtype
    sequence_level = importance_sampling_level == "sequence"

    # Everything below is elementwise over (N, T) plus sums, so the gradient in logp_new is built
    # alongside the value (see _LossWithGradient); each line is one pass over memory, which is what
    # the time of this function is made of.
    with torch.no_grad():
        new_values = new.detach()
        if mask is None:
            real_f = torch.ones_like(new_values)
        else:
            real_f = mask.reshape(new.shape)
            real_f = real_f if real_f.dtype == dtype else (real_f != 0).to(dtype)
        tokens_per_row = real_f.sum(dim=-1, keepdim=True)  # (N, 1)
        token_count = tokens_per_row.sum().clamp(min=1)
        # loss = sum over tokens of per_token_loss * real * row_scale, by loss_type.
        if loss_type == "grpo":
            row_scale = 1.0 / (tokens_per_row.clamp(min=1) * n)
        elif loss_type in ("bnpo", "dapo"):
            row_scale = (1.0 / token_count).expand(n, 1)
        else:
            row_scale = torch.full((n, 1), 1.0 / (n * max_completion_length), dtype=dtype, device=new.device)

        kl = kl_grad = None
        if ref is not None:
            kl, kl_grad = kl_value_and_grad(new_values, ref, kl_estimator, need_grad=kl_in == "loss" and beta > 0)
        shaped = groups
        if kl is not None and kl_in == "reward" and beta > 0:
            shaped = groups - beta * (kl * real_f).sum(dim=-1).reshape(groups.shape).to(groups.dtype)
        advantages = group_advantages(shaped, scale=scale_rewards, eps=eps)
        adv = advantages.reshape(n, 1).to(dtype)

        log_ratio = new_values - old
        if sequence_level:  # GSPO: one ratio per completion, (N, 1)
            log_ratio = (log_ratio * real_f).sum(dim=-1, keepdim=True) / tokens_per_row.clamp(min=1)
        else:  # padding gets ratio exactly 1, inside every clip range: never counted as clipped
            log_ratio.mul_(real_f)
        ratio = log_ratio.clamp_(-LOG_RATIO_CLAMP, LOG_RATIO_CLAMP).exp_()
        # clipped_surrogate == A * clamp(r, lower, upper); the gradient flows where the clamp does not bite.
        lower, upper = ratio_bounds(adv, epsilon=low, epsilon_high=high, delta=delta)
        held = torch.clamp(ratio, min=lower, max=upper)
        flat = held != ratio
        # Tokens held by the delta cap are not PPO clipping: TRL's clip_ratio/* leave them out.
        capped = (ratio > delta) & (adv < 0) if delta is not None else None
        weights = real_f * row_scale  # d loss / d per_token_loss
        if sequence_level:
            row_weight = -adv * row_scale * tokens_per_row  # d loss / d held_i
            value = (held * row_weight).sum()
            ratio_sum = (ratio * tokens_per_row).sum()
            grad = (ratio * row_weight).masked_fill_(flat, 0.0) * (real_f / tokens_per_row.clamp(min=1))
            flat_per_row = flat * tokens_per_row
            capped_per_row = None if capped is None else capped * tokens_per_row
            if kl_grad is not None:
                grad.addcmul_(kl_grad, weights, value=beta)
        else:
            value = -(held.mul_(weights).sum(dim=-1, keepdim=True) * adv).sum()
            ratio_sum = torch.vdot(ratio.reshape(-1), real_f.reshape(-1))
            grad = ratio.mul_(-adv).masked_fill_(flat, 0.0)
            if kl_grad is not None:
                grad.add_(kl_grad, alpha=beta)
            grad.mul_(weights)
            flat_per_row = _count_true(flat)
            capped_per_row = None if capped is None else _count_true(capped)
        if kl is not None:
            kl_sum = torch.vdot(kl.reshape(-1), real_f.reshape(-1))
        if kl_grad is not None:
            value += beta * torch.vdot(kl.reshape(-1), weights.reshape(-1))
    loss = _LossWithGradient.apply(new, value, grad) if new.requires_grad else value

    with torch.no_grad():
        negative = adv < 0
        flat_per_row = flat_per_row.to(dtype)
        low_count = (flat_per_row * negative).sum()
        if capped_per_row is not None:
            low_count = low_count - capped_per_row.to(dtype).sum()
        high_count = (flat_per_row * (adv > 0)).sum()
        std = group_reward_std(groups)
        zero = torch.zeros((), dtype=groups.dtype, device=groups.device)
        as_metric = lambda x: x.to(groups.dtype)  # noqa: E731
        values = torch.stack([
            as_metric(loss.detach()),
            groups.mean(),
            std.mean(),
            (std == 0).to(groups.dtype).mean(),
            zero if kl is None else as_metric(kl_sum / token_count),
            as_metric(low_count / token_count),
            as_metric(high_count / token_count),
            as_metric((low_count + high_count) / token_count),
            as_metric(ratio_sum / token_count),
            as_metric(advantages.mean()),
            as_metric(advantages.std()) if n > 1 else zero,
            as_metric(tokens_per_row.mean()),
        ])
        big = torch.finfo(values.dtype).max
        values = torch.nan_to_num(values, nan=0.0, posinf=big, neginf=-big)
    metrics = dict(zip(METRIC_NAMES, values.tolist()))
    return GRPOLossResult(loss=loss, metrics=metrics, advantages=advantages.reshape(rewards.shape))
