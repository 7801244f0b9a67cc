"""The GRPO loss: advantages, an objective of the registry, an aggregation and a KL term, composed into
one differentiable scalar whose gradient is built in the forward pass.

Two vocabularies select the variant: TRL's ``loss_type`` (an objective and an aggregation in one name),
or verl's ``policy_loss`` + ``loss_agg_mode``. :func:`loss_terms` returns every per-token term the loss
is made of (what the token inspector shows); :func:`grpo_loss` is built on the same computation.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from grpo_core import _checks
from grpo_core.advantages import ADVANTAGE_ESTIMATORS, ADVANTAGE_SCALES, group_advantages, group_reward_std
from grpo_core.aggregation import AGGREGATIONS, aggregation_weights
from grpo_core.functional import _as_token_tensor
from grpo_core.kl import KL_ESTIMATORS_REGISTRY, LOG_RATIO_CLAMP, kl_value_and_grad
from grpo_core.objectives import OBJECTIVES, ObjectiveParams, PolicyInputs, check_params


@dataclass(frozen=True)
class LossType:
    """One TRL ``loss_type``: the objective and aggregation it stands for (one process, no accumulation)."""

    name: str
    objective: str
    aggregation: str
    note: str = ""


#: TRL 1.16's ``loss_type`` values. TRL divides its sequence means by all ``N`` completions.
TRL_LOSS_TYPES: dict[str, LossType] = {t.name: t for t in (
    LossType("grpo", "vanilla", "seq-mean-token-mean", "DeepSeekMath's aggregation: length-biased."),
    LossType("bnpo", "vanilla", "token-mean", "Token mean over the local batch."),
    LossType("dapo", "vanilla", "token-mean", "TRL's default: token mean over the global batch."),
    LossType("dr_grpo", "vanilla", "seq-mean-token-sum-norm", "Divides by N · max_completion_length."),
    LossType("cispo", "cispo_trl", "token-mean", "ε_high is the cap of the stopped weight (recommended 5.0)."),
    LossType("sapo", "sapo", "seq-mean-token-mean", "Soft gate instead of the clip."),
    LossType("luspo", "vanilla", "seq-mean-token-sum",
             "GSPO's objective (set importance_sampling_level='sequence') summed over tokens: each completion "
             "weighs by its length."),
    LossType("vespo", "vespo", "token-mean", "Gamma weight of the sequence ratio."),
)}
LOSS_TYPES = tuple(TRL_LOSS_TYPES)
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
class LossTerms:
    """Every per-token term of one loss (:func:`loss_terms`), all detached, ``(N, T)`` unless said.

    ``loss == (policy_loss * policy_weight).sum() + beta * (kl * kl_weight).sum()`` (for a ``per_row``
    objective the policy loss of a completion is the same on each of its tokens), and ``grad`` is its
    derivative in ``logp_new``, split into ``grad_policy`` and ``grad_kl``.

    Attributes:
        objective, aggregation, kl_aggregation: the registry names used.
        advantages: ``(N, 1)`` advantages of the completions (after any KL-in-reward penalty).
        ratio: the importance ratio the objective uses (``(N, 1)`` at sequence level).
        policy_loss: per-token policy loss; ``policy_weight``: each token's weight in the loss after
            aggregation (0 on padding and on tokens the entropy mask drops).
        kl: per-token KL estimate (``None`` without a reference); ``kl_weight``: its weight (times ``beta``).
        grad_policy, grad_kl, grad: derivative of the loss in each token's log-prob.
        clipped_low, clipped_high: bool, the tokens a clip holds at its low / high side.
        flat: bool, where the objective's gradient is exactly 0 (clip holding), or ``None``.
        mask: the float mask used (after ``mask_truncated_completions``).
        extra: objective-specific tensors (VESPO's ``phi``).
    """

    objective: str
    aggregation: str
    kl_aggregation: str
    advantages: torch.Tensor
    ratio: torch.Tensor
    policy_loss: torch.Tensor
    policy_weight: torch.Tensor
    kl: torch.Tensor | None
    kl_weight: torch.Tensor
    grad_policy: torch.Tensor
    grad_kl: torch.Tensor
    grad: torch.Tensor
    clipped_low: torch.Tensor
    clipped_high: torch.Tensor
    flat: torch.Tensor | None
    mask: torch.Tensor
    extra: dict | None


@dataclass(frozen=True)
class GRPOLossResult:
    """What :func:`grpo_loss` computed.

    Attributes:
        loss: scalar to **minimise**, differentiable w.r.t. ``logp_new``.
        metrics: the floats of :data:`METRIC_NAMES`, never NaN or inf, so that they can be shown as they
            are. The only way to a non-finite value is NaN/inf log-probs from a diverged policy; such a
            metric reads 0.0 (NaN) or +-float max (inf), so a caller watching for divergence checks ``loss``:
            ``reward``/``reward_std``: mean reward and mean within-group std (before any KL penalty);
            ``frac_reward_zero_std``: fraction of groups with no reward spread (they carry no policy-gradient
            signal); ``kl``: mean per-token KL estimate to the reference (times the ratio with
            ``kl_bias_correction``, as TRL logs it; 0.0 when there is no reference);
            ``clip_ratio/low_mean``: fraction of real tokens the clip holds at its low side (PPO's clip:
            ``r < 1-epsilon`` and ``A < 0``); ``clip_ratio/high_mean``: at its high side (``r > 1+epsilon_high``
            and ``A > 0``); ``clip_ratio/region_mean``: either. At ``importance_sampling_level="sequence"``
            these count completions, as TRL's do. ``ratio_mean``: mean ratio over real tokens;
            ``advantage_mean``/``advantage_std``: over completions; ``completion_length``: mean real tokens.
        advantages: ``(B, G)`` advantages used (detached), after any KL-in-reward penalty.
        terms: :class:`LossTerms`, when asked for with ``return_terms=True``.
    """

    loss: torch.Tensor
    metrics: dict[str, float] = field(default_factory=dict)
    advantages: torch.Tensor | None = None
    terms: LossTerms | None = None


def _count_true(flags: torch.Tensor) -> torch.Tensor:
    """``(N, T)`` bool -> ``(N, 1)`` counts; summing the bytes avoids the int64 copy of ``bool.sum()``."""
    return flags.view(torch.uint8).sum(dim=-1, keepdim=True, dtype=torch.int32)


def _row_counts(flags: torch.Tensor) -> torch.Tensor:
    """``(N, T)`` bool or float 1.0/0.0 -> ``(N, 1)`` counts."""
    return _count_true(flags) if flags.dtype == torch.bool else flags.sum(dim=-1, keepdim=True)


class _LossWithGradient(torch.autograd.Function):
    """A scalar whose gradient in ``logp_new`` was already computed in the forward pass.

    The loss is a sum of terms with closed-form derivatives, so building the gradient alongside the value
    takes ~4x fewer passes over the (N, T) tensors than recording every op for autograd. gradcheck in the
    tests holds this gradient to finite differences.
    """

    @staticmethod
    def forward(ctx, logp_new, value, grad):
        ctx.save_for_backward(grad)
        return value.clone()

    @staticmethod
    def backward(ctx, grad_output):
        (grad,) = ctx.saved_tensors
        return grad * grad_output, None, None


def resolve_variant(
    loss_type: str | None, policy_loss: str | None, loss_agg_mode: str | None
) -> tuple[str, str, str, bool]:
    """``(objective, policy aggregation, KL aggregation, count_empty)`` from either vocabulary.

    TRL's ``loss_type`` names both at once and divides sequence means by all completions; verl's
    ``policy_loss`` and ``loss_agg_mode`` are separate, and an objective with a ``fixed_aggregation``
    (SAPO, GMPO) ignores ``loss_agg_mode`` for its policy term while the KL term follows it.

    Raises:
        ValueError: ``loss_type`` given together with ``policy_loss`` or ``loss_agg_mode``; an unknown name.
    """
    if loss_type is not None and (policy_loss is not None or loss_agg_mode is not None):
        raise ValueError("give either TRL's loss_type or verl's policy_loss/loss_agg_mode, not both: loss_type "
                         "already names the objective and the aggregation")
    if policy_loss is None and loss_agg_mode is None:
        entry = TRL_LOSS_TYPES.get(loss_type or "grpo")
        if entry is None:
            _checks.choice("loss_type", loss_type, LOSS_TYPES)
        return entry.objective, entry.aggregation, entry.aggregation, True
    objective = OBJECTIVES.get(policy_loss or "vanilla", argument="policy_loss")
    aggregation = AGGREGATIONS.get(loss_agg_mode or "token-mean", argument="loss_agg_mode").name
    if objective.name == "geo_mean":  # verl: torch.mean over all completions
        return objective.name, objective.fixed_aggregation, aggregation, True
    return objective.name, objective.fixed_aggregation or aggregation, aggregation, False


def _entropy_mask(entropy: torch.Tensor, real: torch.Tensor, quantile: float) -> torch.Tensor:
    """TRL's ``get_high_entropy_mask``: real tokens whose entropy is in the top ``quantile`` of the batch."""
    values = entropy[real > 0].float()
    if values.numel() == 0:
        return torch.zeros_like(real)
    threshold = torch.quantile(values, 1 - quantile)
    return ((entropy * real >= threshold) & (real > 0)).to(real.dtype)


def loss_terms(
    logp_new: torch.Tensor,
    logp_old: torch.Tensor | None,
    logp_ref: torch.Tensor | None,
    rewards: torch.Tensor,
    mask: torch.Tensor | None = None,
    **options,
) -> LossTerms:
    """Every per-token term of :func:`grpo_loss` with the same arguments (see :class:`LossTerms`)."""
    return grpo_loss(logp_new.detach(), logp_old, logp_ref, rewards, mask, return_terms=True, **options).terms


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
    kl_bias_correction: bool = False,
    scale_rewards: str | bool = "group",
    eps: float = 1e-8,
    advantage_estimator: str = "grpo",
    reward_weights: torch.Tensor | None = None,
    loss_type: str | None = None,
    policy_loss: str | None = None,
    loss_agg_mode: str | None = None,
    loss_scale_factor: float | None = None,
    importance_sampling_level: str = "token",
    max_completion_length: int | None = None,
    tau_pos: float = 1.0,
    tau_neg: float = 1.05,
    dro_beta: float = 0.1,
    vespo_k_pos: float = 2.0,
    vespo_lambda_pos: float = 3.0,
    vespo_k_neg: float = 3.0,
    vespo_lambda_neg: float = 2.0,
    entropy: torch.Tensor | None = None,
    top_entropy_quantile: float = 1.0,
    truncated: torch.Tensor | None = None,
    mask_truncated_completions: bool = False,
    return_terms: bool = False,
) -> GRPOLossResult:
    r"""The loss of one batch of groups for any objective of the GRPO family.

    .. math::
        L = \sum_{i,t} w_{i,t}\,\ell_{i,t} + \beta \sum_{i,t} w^{KL}_{i,t}\,\mathrm{KL}_{i,t}

    with :math:`\ell_{i,t}` the objective's per-token loss (:data:`grpo_core.objectives.OBJECTIVES`; the
    default is DeepSeekMath's clipped objective) and :math:`w` the aggregation's weights
    (:data:`grpo_core.aggregation.AGGREGATIONS`).

    Args:
        logp_new: ``(N, T)`` log-probs of the sampled tokens under the policy being trained (``N = B*G``),
            or ``(N,)`` for one token per completion. Gradients flow through this one only.
        logp_old: same shape, under the policy that sampled (the "old" policy). ``None`` means on-policy
            (``logp_new.detach()``, as TRL with ``num_iterations=1``): every ratio is exactly 1.
        logp_ref: same shape, under the frozen reference policy. May be ``None`` when ``beta == 0``.
        rewards: ``(B, G)``, or ``(G,)`` for one group, or ``(B, G, K)`` for ``K`` reward functions; finite.
        mask: ``(N, T)`` (or ``(N,)``), 1 on real tokens, 0 on padding: bool, or 0/1 of any dtype.
            ``None``: all tokens are real. Padding never changes the loss, whatever finite values it holds.
        epsilon, epsilon_high, delta: clip widths and dual-clip cap (see :class:`~grpo_core.objectives.ObjectiveParams`).
        beta: KL weight >= 0 (DeepSeekMath 0.04; TRL's default is 0).
        kl_estimator: a name of :data:`grpo_core.kl.KL_ESTIMATORS` (k1, k2, k3, abs, k1+, k3+).
        kl_in: ``"loss"``: add ``beta * KL`` per token to the loss (DeepSeekMath, TRL, verl ``use_kl_loss``);
            ``"reward"``: subtract ``beta * sum_t KL`` (detached) from each completion's reward before the
            advantages (InstructGPT-style; verl ``use_kl_in_reward``; the seed notebook's ``grpo_loss``).
        kl_bias_correction: multiply the per-token KL by the importance ratio (TRL ``use_bias_correction_kl``,
            True by default in TRL 1.16). As in TRL the ratio is *not* detached: on-policy its value is 1 but it
            adds ``KL * d log r`` to the gradient.
        scale_rewards, eps, advantage_estimator, reward_weights: see :func:`grpo_core.group_advantages`
            (``scale``, ``eps``, ``estimator``, ``reward_weights`` there). ``eps`` defaults to 1e-8; TRL adds
            1e-4, verl 1e-6.
        loss_type: TRL's name for objective + aggregation: ``"grpo"`` (the default when no vocabulary is
            given), ``"bnpo"``, ``"dapo"``, ``"dr_grpo"``, ``"cispo"``, ``"sapo"``, ``"luspo"``, ``"vespo"``
            (:data:`TRL_LOSS_TYPES`).
        policy_loss, loss_agg_mode, loss_scale_factor: verl's names instead (defaults ``"vanilla"`` and
            ``"token-mean"``); ``loss_scale_factor`` is ``seq-mean-token-sum-norm``'s constant (default ``T``).
        importance_sampling_level: ``"token"`` or ``"sequence"`` (GSPO's ratio for the ratio-based objectives).
        max_completion_length: the constant of ``loss_type="dr_grpo"``; default ``T``.
        tau_pos, tau_neg, dro_beta, vespo_*: SAPO's, DRO's and VESPO's parameters (trainers' defaults).
        entropy: ``(N, T)`` the policy's entropy at each position; needed for ``top_entropy_quantile < 1``.
        top_entropy_quantile: keep the policy loss only on the top-ρ tokens by entropy (TRL; "Beyond the
            80/20 rule"); the KL term and the aggregation's denominators still count every token.
        truncated: ``(N,)`` bool, the completions that hit the length limit; with
            ``mask_truncated_completions=True`` their tokens leave the loss entirely (TRL, DAPO).
        return_terms: also return every per-token term (:class:`LossTerms`).

    Returns:
        :class:`GRPOLossResult`.

    Raises:
        ValueError: a shape that does not fit (``logp_*`` and ``mask`` must share a shape with ``N = B*G``
            rows), an unknown option, ``loss_type`` given with ``policy_loss``/``loss_agg_mode``, a parameter
            out of range, or non-finite rewards.
    """
    objective_name, aggregation, kl_aggregation, count_empty = resolve_variant(loss_type, policy_loss, loss_agg_mode)
    objective = OBJECTIVES.get(objective_name)
    KL_ESTIMATORS_REGISTRY.get(kl_estimator, argument="kl_estimator")
    _checks.choice("kl_in", kl_in, KL_PLACEMENTS)
    estimator = ADVANTAGE_ESTIMATORS.get(advantage_estimator, argument="advantage_estimator")
    if not isinstance(scale_rewards, bool):
        _checks.choice("scale_rewards", scale_rewards, ADVANTAGE_SCALES)
    beta = _checks.non_negative("beta", beta)
    low = _checks.non_negative("epsilon", epsilon)
    params = ObjectiveParams(
        epsilon=low, epsilon_high=low if epsilon_high is None else epsilon_high, delta=delta,
        tau_pos=tau_pos, tau_neg=tau_neg, dro_beta=dro_beta, vespo_k_pos=vespo_k_pos,
        vespo_lambda_pos=vespo_lambda_pos, vespo_k_neg=vespo_k_neg, vespo_lambda_neg=vespo_lambda_neg,
        level=importance_sampling_level)
    check_params(params)
    if not isinstance(top_entropy_quantile, (int, float)) or isinstance(top_entropy_quantile, bool) or not (
            0 <= top_entropy_quantile <= 1):
        raise ValueError(f"top_entropy_quantile must be a number in [0, 1]; got {top_entropy_quantile!r}")
    if loss_scale_factor is not None and (isinstance(loss_scale_factor, bool) or _checks.non_negative(
            "loss_scale_factor", loss_scale_factor) == 0):
        raise ValueError(f"loss_scale_factor must be > 0; got {loss_scale_factor!r}")

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
    if rewards.dim() not in (1, 2, 3) or rewards.numel() == 0:
        raise ValueError(f"rewards must have shape (B, G), (G,) or (B, G, K) with G >= 1; got {tuple(rewards.shape)}")
    group_shape = rewards.shape[:2] if rewards.dim() == 3 else rewards.shape
    n, t = new.shape
    if group_shape.numel() != n:
        raise ValueError(f"logp_new must have N = B*G = {group_shape.numel()} rows, one per completion; got {n}")
    if mask is not None:
        if not isinstance(mask, torch.Tensor):
            raise ValueError(f"mask must be a torch.Tensor or None; got {type(mask).__name__}")
        _checks.same_shape("mask", mask.unsqueeze(-1) if mask.dim() == 1 else mask, "logp_new", new)
    if max_completion_length is None:
        max_completion_length = t
    elif isinstance(max_completion_length, bool) or not isinstance(max_completion_length, int) or max_completion_length < 1:
        raise ValueError(f"max_completion_length must be an int >= 1; got {max_completion_length!r}")
    if loss_type == "dr_grpo":
        loss_scale_factor = max_completion_length
    if entropy is not None:
        entropy = _as_token_tensor("entropy", entropy)
        _checks.same_shape("entropy", entropy, "logp_new", new)
    elif top_entropy_quantile < 1:
        raise ValueError("top_entropy_quantile < 1 needs entropy (N, T), the policy's entropy at each token")
    if mask_truncated_completions and truncated is None:
        raise ValueError("mask_truncated_completions needs truncated (N,), which completions hit the length limit")
    if truncated is not None and (not isinstance(truncated, torch.Tensor) or truncated.shape != (n,)):
        raise ValueError(f"truncated must be a ({n},) tensor; got "
                         f"{tuple(truncated.shape) if isinstance(truncated, torch.Tensor) else type(truncated).__name__}")
    dtype = new.dtype

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
        sampled_lengths = None  # TRL logs completion lengths before the truncation mask
        if mask_truncated_completions:
            sampled_lengths = real_f.sum(dim=-1, keepdim=True)
            real_f = real_f * (~truncated.to(device=new.device, dtype=torch.bool)).to(dtype).unsqueeze(-1)
        lengths = real_f.sum(dim=-1, keepdim=True)  # (N, 1)
        token_count = lengths.sum().clamp(min=1)

        reward_dtype = torch.promote_types(new.dtype, torch.float32)
        groups = (rewards.unsqueeze(0) if rewards.dim() == 1 else rewards).to(device=new.device, dtype=reward_dtype)
        weights_k = None
        summed = groups  # (B, G): the weighted sum of several rewards, what the reward metrics read
        if groups.dim() == 3:
            weights_k = torch.ones(groups.shape[-1]) if reward_weights is None else _checks.tensor(
                "reward_weights", reward_weights)
            if weights_k.shape != groups.shape[-1:]:
                raise ValueError(f"reward_weights must have shape ({groups.shape[-1]},), one weight per reward; "
                                 f"got {tuple(weights_k.shape)}")
            weights_k = weights_k.to(device=new.device, dtype=reward_dtype)
            summed = (groups * weights_k).sum(dim=-1)
        elif reward_weights is not None:
            raise ValueError("reward_weights needs rewards of shape (B, G, K), one column per reward function")

        kl = kl_grad = None
        if ref is not None:
            kl, kl_grad = kl_value_and_grad(new_values, ref, kl_estimator, need_grad=kl_in == "loss" and beta > 0)
        shaped = groups
        if kl is not None and kl_in == "reward" and beta > 0:
            if groups.dim() == 3:
                if estimator.per_reward:
                    raise ValueError(f"kl_in='reward' needs one reward per completion; estimator "
                                     f"{advantage_estimator!r} normalises each of several rewards on its own")
                shaped, weights_k = summed, None
            shaped = shaped - beta * (kl * real_f).sum(dim=-1).reshape(shaped.shape).to(shaped.dtype)
        estimator_mask = real_f if estimator.needs_mask else None
        advantages = group_advantages(shaped, estimator=advantage_estimator, scale=scale_rewards, eps=eps,
                                      mask=estimator_mask, reward_weights=weights_k if shaped.dim() == 3 else None)
        adv = advantages.reshape(n, 1).to(dtype)

        log_ratio = (new_values - old).mul_(real_f)  # padding gets ratio exactly 1: never counted as clipped
        terms = objective.fn(PolicyInputs(logp=new_values, log_ratio=log_ratio, adv=adv, real=real_f,
                                          lengths=lengths, params=params))

        scale = aggregation_weights(aggregation, real_f, loss_scale_factor=loss_scale_factor,
                                    count_empty=count_empty, lengths=lengths)
        policy_w = real_f * scale  # d loss / d per-token policy loss
        if top_entropy_quantile < 1:
            policy_w = policy_w * _entropy_mask(entropy, real_f, top_entropy_quantile)
        kl_scale = scale if kl_aggregation == aggregation else aggregation_weights(
            kl_aggregation, real_f, loss_scale_factor=loss_scale_factor, count_empty=count_empty, lengths=lengths)
        kl_w = policy_w if kl_scale is scale and not (top_entropy_quantile < 1) else real_f * kl_scale

        if terms.per_row:
            row_w = policy_w.sum(dim=-1, keepdim=True)
            value = torch.vdot(terms.loss.reshape(-1), row_w.reshape(-1))
            grad = terms.grad * (row_w * real_f)
            grad_policy = grad.clone() if return_terms else None
        else:
            value = torch.vdot(terms.loss.reshape(-1), policy_w.reshape(-1))
            own = terms.grad.shape == policy_w.shape and terms.grad.is_contiguous()  # not a broadcast view
            grad = terms.grad.mul_(policy_w) if own else terms.grad * policy_w
            grad_policy = grad.clone() if return_terms else None

        kl_shown = kl
        grad_kl = None
        if kl is not None and kl_bias_correction:
            seq = importance_sampling_level == "sequence"
            log_r = log_ratio.sum(dim=-1, keepdim=True) / lengths.clamp(min=1) if seq else log_ratio
            r = log_r.clamp(-LOG_RATIO_CLAMP, LOG_RATIO_CLAMP).exp()
            kl_shown = kl * r
            if kl_grad is not None:
                # d(r * KL)/d logp_t = r * dKL_t + KL_t * dr/dlogp_t; at sequence level r depends on every token
                grad_kl = kl_grad * r * kl_w
                if seq:
                    grad_kl += (kl * kl_w).sum(dim=-1, keepdim=True) * r / lengths.clamp(min=1) * real_f
                else:
                    grad_kl += kl_shown * kl_w
                grad.add_(grad_kl, alpha=beta)
        elif kl_grad is not None:
            grad.addcmul_(kl_grad, kl_w, value=beta)
            if return_terms:
                grad_kl = kl_grad * kl_w
        if kl_grad is not None:
            value = value + beta * torch.vdot(kl_shown.reshape(-1), kl_w.reshape(-1))
    loss = _LossWithGradient.apply(new, value, grad) if new.requires_grad else value

    with torch.no_grad():
        ratio = terms.ratio
        row_level = ratio.shape[-1] == 1 and t > 1
        if terms.low is None and terms.high is None and terms.flat is not None:
            # PPO's clip: the side is the sign of A, one per row, so count per row and split by sign
            per_row_flat = (terms.flat if row_level else _row_counts(terms.flat)).to(dtype)
            low_count = (per_row_flat * (adv < 0)).sum()
            if terms.capped is not None:
                capped = terms.capped if row_level else _row_counts(terms.capped)
                low_count = low_count - capped.to(dtype).sum()
            high_count = (per_row_flat * (adv > 0)).sum()
        else:
            low_flags, high_flags = terms.sides(adv)
            count = (lambda f: f.to(dtype).sum()) if low_flags.shape[-1] == 1 and t > 1 else (
                lambda f: torch.vdot(f.to(dtype).reshape(-1), real_f.reshape(-1)))
            low_count, high_count = count(low_flags), count(high_flags)
        clip_denominator = torch.tensor(float(n), dtype=dtype, device=new.device) if row_level else token_count
        if row_level:
            ratio_sum = (ratio * lengths).sum()
        else:
            ratio_sum = torch.vdot(ratio.reshape(-1), real_f.reshape(-1))
        std = group_reward_std(summed)
        zero = torch.zeros((), dtype=summed.dtype, device=summed.device)
        as_metric = lambda x: x.to(summed.dtype)  # noqa: E731
        if kl_shown is not None:
            kl_sum = torch.vdot(kl_shown.reshape(-1), real_f.reshape(-1))
        values = torch.stack([
            as_metric(loss.detach()),
            summed.mean(),
            std.mean(),
            (std == 0).to(summed.dtype).mean(),
            zero if kl_shown is None else as_metric(kl_sum / token_count),
            as_metric(low_count / clip_denominator),
            as_metric(high_count / clip_denominator),
            as_metric((low_count + high_count) / clip_denominator),
            as_metric(ratio_sum / token_count),
            as_metric(advantages.mean()),
            as_metric(advantages.std()) if n > 1 else zero,
            as_metric((lengths if sampled_lengths is None else sampled_lengths).mean()),
        ])
        big = torch.finfo(values.dtype).max
        values = torch.nan_to_num(values, nan=0.0, posinf=big, neginf=-big)
    metrics = dict(zip(METRIC_NAMES, values.tolist()))
    result_terms = None
    if return_terms:
        with torch.no_grad():
            low_flags, high_flags = terms.sides(adv)
            shape = new.shape
            zeros = torch.zeros(shape, dtype=dtype, device=new.device)
            result_terms = LossTerms(
                objective=objective_name, aggregation=aggregation, kl_aggregation=kl_aggregation,
                advantages=adv, ratio=ratio, policy_loss=terms.loss.expand(shape) * real_f,
                policy_weight=policy_w,
                kl=None if kl_shown is None else kl_shown * real_f, kl_weight=kl_w * beta,
                grad_policy=grad_policy, grad_kl=zeros if grad_kl is None else grad_kl * beta, grad=grad.clone(),
                clipped_low=low_flags.expand(shape) & (real_f > 0), clipped_high=high_flags.expand(shape) & (real_f > 0),
                flat=None if terms.flat is None else (terms.flat != 0).expand(shape) & (real_f > 0),
                mask=real_f, extra=terms.extra)
    return GRPOLossResult(loss=loss, metrics=metrics, advantages=advantages.reshape(group_shape), terms=result_terms)

