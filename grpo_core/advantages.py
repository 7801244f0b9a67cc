r"""Advantage estimators for outcome rewards, under verl's ``adv_estimator`` names (and TRL's options).

Every estimator maps the rewards of ``B`` groups of ``G`` completions to one advantage per completion,
``(B, G) -> (B, G)``; :func:`group_advantages` is the one entry point. verl writes the advantage on every
real token of a completion; it is the same value on each, so grpo_core keeps one per completion.

Differences between the trainers under one name, followed here as stated:

- the :math:`\varepsilon` added to the std: TRL 1e-4, verl 1e-6, grpo_core's default 1e-8 (pass ``eps``);
- a group of one: TRL's ``grpo`` gives 0, verl's ``grpo`` gives the reward / (1 + eps); grpo_core gives 0.
  ``rloo`` and ``opo`` give the raw reward there, as verl does (no baseline can be formed);
- ``reinforce_plus_plus_baseline``, ``gdpo``: whitened over the batch's real *tokens*, as verl does (a long
  completion counts once per token); TRL's ``normalize_then_sum`` whitens over completions.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from grpo_core import _checks
from grpo_core.registry import Registry

ADVANTAGE_SCALES = ("group", "batch", "none")


@dataclass(frozen=True)
class AdvantageEstimator:
    """One advantage estimator.

    Attributes:
        name: verl's ``adv_estimator`` (or TRL's option name where verl has none).
        title: the name people say.
        idea: one plain sentence.
        formula: LaTeX of :math:`\\hat A_i` (what the app shows).
        paper: ``(title, arXiv id)``.
        trl: the ``GRPOConfig`` settings that select it, or ``None`` where TRL has no such option.
        verl: the verl overrides that select it, or ``None``.
        needs_mask: needs the completions' lengths (``mask`` of :func:`group_advantages`).
        per_reward: normalises each reward function's rewards on its own (``rewards (B, G, K)``).
        uses_scale: reads ``scale`` (group / batch / none).
        fn: ``(rewards (B, G) or (B, G, K), weights (K,) or None, lengths (B, G) or None, scale, eps) -> (B, G)``.
    """

    name: str
    title: str
    idea: str
    formula: str
    paper: tuple[str, str]
    trl: dict | None
    verl: dict | None
    needs_mask: bool
    per_reward: bool
    uses_scale: bool
    fn: Callable[..., torch.Tensor]


ADVANTAGE_ESTIMATORS: Registry[AdvantageEstimator] = Registry("estimator")


def register_advantage(name: str, **meta) -> Callable:
    """Decorator: add ``fn`` to :data:`ADVANTAGE_ESTIMATORS` under ``name`` with its metadata."""

    def add(fn):
        meta.setdefault("needs_mask", False)
        meta.setdefault("per_reward", False)
        meta.setdefault("uses_scale", False)
        ADVANTAGE_ESTIMATORS.add(name, AdvantageEstimator(name=name, fn=fn, **meta))
        return fn

    return add


def _tiny(x: torch.Tensor) -> float:
    return torch.finfo(x.dtype).tiny


def _grpo(groups: torch.Tensor, scale: str, eps: float) -> torch.Tensor:
    """``(B, G) -> (B, G)``: reward minus the group mean, over the std chosen by ``scale``."""
    g = groups.shape[-1]
    # Plain sums rather than torch.var_mean: over a last dim of 8 they are ~20x faster on CPU. The mean is
    # taken of rewards - min(group), exactly 0 for an all-equal group, so rounding cannot leak in.
    shifted = groups - groups.amin(dim=-1, keepdim=True)
    advantages = shifted.sub_(shifted.sum(dim=-1, keepdim=True).div_(g))
    if g == 1:
        spread = advantages.sum(dim=-1)  # 0, or NaN/inf when the input is
    else:
        spread = advantages.square().sum(dim=-1, keepdim=True)  # NaN/inf flow into it too
        if scale == "group":
            advantages /= spread.div_(g - 1).sqrt_().add_(eps).clamp_(min=_tiny(spread))
        elif scale == "batch":
            advantages /= groups.std().add(eps).clamp(min=_tiny(groups))
    if not torch.isfinite(spread).all():
        raise ValueError("rewards are too large in magnitude: their spread overflows the dtype")
    return advantages


def _weighted_sum(rewards: torch.Tensor, weights: torch.Tensor | None) -> torch.Tensor:
    if rewards.dim() == 2:
        return rewards
    return (rewards * weights).sum(dim=-1)


def _whiten_over_tokens(values: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """verl's ``masked_whiten`` of a per-completion value written on each of its ``lengths`` real tokens."""
    tokens = lengths.sum()
    mean = (values * lengths).sum() / (tokens + 1e-8)
    var = ((values - mean).square() * lengths).sum() / (tokens + 1e-8)
    var = var * tokens / (tokens - 1).clamp(min=1)  # Bessel's correction over tokens, as verl
    return (values - mean) * torch.rsqrt(var + 1e-8)


GRPO_FORMULA = r"\hat A_i = \frac{r_i - \operatorname{mean}(r_{1..G})}{\operatorname{std}(r_{1..G}) + \varepsilon}"


@register_advantage(
    "grpo", title="GRPO (group z-score)",
    idea="Each reward against its own group's mean, in units of the group's spread.",
    formula=GRPO_FORMULA,
    paper=("DeepSeekMath: Pushing the Limits of Mathematical Reasoning in Open Language Models", "2402.03300"),
    trl={"scale_rewards": "group"}, verl={"algorithm.adv_estimator": "grpo"}, uses_scale=True)
def _grpo_estimator(rewards, weights, lengths, scale, eps):
    return _grpo(_weighted_sum(rewards, weights), scale, eps)


@register_advantage(
    "rloo", title="RLOO (leave-one-out baseline)",
    idea="Each reward against the mean of the *other* completions of its group: an unbiased baseline.",
    formula=r"\hat A_i = r_i - \frac{1}{G-1}\sum_{j\ne i} r_j = \frac{G}{G-1}\bigl(r_i - \operatorname{mean}(r_{1..G})\bigr)",
    paper=("Back to Basics: Revisiting REINFORCE Style Optimization for Learning from Human Feedback in LLMs",
           "2402.14740"),
    trl=None, verl={"algorithm.adv_estimator": "rloo"})
def _rloo(rewards, weights, lengths, scale, eps):
    r = _weighted_sum(rewards, weights)
    g = r.shape[-1]
    if g == 1:
        return r.clone()
    return (r - r.mean(dim=-1, keepdim=True)) * (g / (g - 1))


@register_advantage(
    "reinforce_plus_plus_baseline", title="REINFORCE++ (group baseline, batch whitening)",
    idea="Remove the group mean, then normalise over every real token of the batch, not per group.",
    formula=r"\hat A_i = \operatorname{whiten}_{\text{tokens}}\bigl(r_i - \operatorname{mean}(r_{1..G})\bigr)",
    paper=("REINFORCE++: A Simple and Efficient Approach for Aligning Large Language Models", "2501.03262"),
    trl=None, verl={"algorithm.adv_estimator": "reinforce_plus_plus_baseline"}, needs_mask=True)
def _reinforce_pp_baseline(rewards, weights, lengths, scale, eps):
    r = _weighted_sum(rewards, weights)
    centred = r - r.mean(dim=-1, keepdim=True) if r.shape[-1] > 1 else r.clone()
    return _whiten_over_tokens(centred, lengths)


@register_advantage(
    "grpo_passk", title="Pass@k GRPO",
    idea="Only the best completion of each group is rewarded, by its margin over the second best.",
    formula=r"\hat A_{i^*} = \frac{r_{(1)} - r_{(2)}}{\operatorname{std}(r_{1..G}) + \varepsilon},\ \hat A_{i\ne i^*} = 0",
    paper=("Exploration with Pass@k for Large Reasoning Models (verl grpo_passk)", "2503.19595"),
    trl=None, verl={"algorithm.adv_estimator": "grpo_passk"}, uses_scale=True)
def _grpo_passk(rewards, weights, lengths, scale, eps):
    r = _weighted_sum(rewards, weights)
    if r.shape[-1] < 2:
        raise ValueError("estimator 'grpo_passk' needs groups of at least 2 completions")
    top, where = torch.topk(r, 2, dim=-1)
    margin = top[:, :1] - top[:, 1:]
    if scale != "none":
        margin = margin / (r.std(dim=-1, keepdim=True) + eps)
    return torch.zeros_like(r).scatter_(-1, where[:, :1], margin)


@register_advantage(
    "opo", title="OPO (length-weighted baseline)",
    idea="The baseline is the group's mean reward weighted by completion length: the optimal baseline "
         "for a sequence-sum loss.",
    formula=r"\hat A_i = r_i - \frac{\sum_j |o_j|\, r_j}{\sum_j |o_j|}",
    paper=("On-Policy RL with Optimal Reward Baseline", "2505.23585"),
    trl=None, verl={"algorithm.adv_estimator": "opo"}, needs_mask=True)
def _opo(rewards, weights, lengths, scale, eps):
    r = _weighted_sum(rewards, weights)
    if r.shape[-1] == 1:
        return r.clone()
    baseline = (lengths * r).sum(dim=-1, keepdim=True) / lengths.sum(dim=-1, keepdim=True).clamp(min=_tiny(r))
    return r - baseline


def _per_reward_grpo(rewards: torch.Tensor, weights: torch.Tensor, scale: str, eps: float) -> torch.Tensor:
    if rewards.dim() == 2:
        rewards, weights = rewards.unsqueeze(-1), torch.ones(1, dtype=rewards.dtype, device=rewards.device)
    per_k = torch.stack([_grpo(rewards[..., k].clone(), scale, eps) for k in range(rewards.shape[-1])], dim=-1)
    return (per_k * weights).sum(dim=-1)


@register_advantage(
    "gdpo", title="GDPO (decoupled reward normalisation)",
    idea="Normalise each reward function within its group, sum with the weights, then whiten over the "
         "batch's tokens: a dominant reward cannot drown a weak one.",
    formula=r"\hat A_i = \operatorname{whiten}_{\text{tokens}}\Bigl(\sum_k w_k\,\frac{r_{i,k} - \operatorname{mean}_g(r_{\cdot,k})}{\operatorname{std}_g(r_{\cdot,k}) + \varepsilon}\Bigr)",
    paper=("GDPO: Group reward-Decoupled Normalization Policy Optimization", "2601.05242"),
    trl=None, verl={"algorithm.adv_estimator": "gdpo"}, needs_mask=True, per_reward=True, uses_scale=True)
def _gdpo(rewards, weights, lengths, scale, eps):
    return _whiten_over_tokens(_per_reward_grpo(rewards, weights, "none" if scale == "none" else "group", eps),
                               lengths)


@register_advantage(
    "normalize_then_sum", title="TRL normalize_then_sum",
    idea="Normalise each reward function within its group, sum with the weights, then standardise the sum "
         "over the batch's completions (TRL's multi_objective_aggregation).",
    formula=r"s_i = \sum_k w_k\,\frac{r_{i,k} - \operatorname{mean}_g(r_{\cdot,k})}{\operatorname{std}_g(r_{\cdot,k}) + \varepsilon},\quad \hat A_i = \frac{s_i - \operatorname{mean}(s)}{\operatorname{std}(s) + \varepsilon}",
    paper=("GDPO: Group reward-Decoupled Normalization Policy Optimization", "2601.05242"),
    trl={"multi_objective_aggregation": "normalize_then_sum"}, verl=None, per_reward=True)
def _normalize_then_sum(rewards, weights, lengths, scale, eps):
    summed = _per_reward_grpo(rewards, weights, "group", eps)
    std = summed.std() if summed.numel() > 1 else torch.zeros((), dtype=summed.dtype, device=summed.device)
    return (summed - summed.mean()) / (std + eps)


#: The names of :data:`ADVANTAGE_ESTIMATORS`, in order.
ESTIMATORS = ADVANTAGE_ESTIMATORS.names()


def group_advantages(
    rewards: torch.Tensor,
    *,
    estimator: str = "grpo",
    scale: str | bool = "group",
    eps: float = 1e-8,
    mask: torch.Tensor | None = None,
    reward_weights: torch.Tensor | None = None,
) -> torch.Tensor:
    r"""Group-relative advantages: each completion's reward against its own group.

    .. math::
        \hat A_{b,i} = \frac{r_{b,i} - \operatorname{mean}(r_{b,:})}{\sigma + \varepsilon}\quad(\text{estimator "grpo"})

    Args:
        rewards: ``(B, G)`` rewards, one row per prompt, or ``(G,)`` for one group; or ``(B, G, K)`` for ``K``
            reward functions at once. Must be finite.
        estimator: a name of :data:`ADVANTAGE_ESTIMATORS` (``"grpo"``, ``"rloo"``,
            ``"reinforce_plus_plus_baseline"``, ``"grpo_passk"``, ``"opo"``, ``"gdpo"``, ``"normalize_then_sum"``).
            With ``K`` rewards, ``"gdpo"`` and ``"normalize_then_sum"`` normalise each reward first; every other
            estimator sums the weighted rewards first (TRL's default ``sum_then_normalize``).
        scale: what :math:`\sigma` is, for the estimators that scale (``"grpo"``, ``"grpo_passk"``, ``"gdpo"``).
            ``"group"``: the group's unbiased std (DeepSeekMath; TRL's default);
            ``"batch"``: the unbiased std of all ``B*G`` rewards (TRL ``scale_rewards="batch"``);
            ``"none"``: no division (Dr. GRPO; verl ``norm_adv_by_std_in_grpo=False``).
            TRL's booleans are accepted too: ``True`` is ``"group"``, ``False`` is ``"none"``.
        eps: added to :math:`\sigma`, >= 0 (TRL uses 1e-4, verl 1e-6).
        mask: ``(B*G, T)``, 1 on real tokens: the completions' lengths, needed by the estimators that weigh
            by length (``"reinforce_plus_plus_baseline"``, ``"opo"``, ``"gdpo"``).
        reward_weights: ``(K,)`` weights of the reward functions (default all 1); only with ``(B, G, K)``.

    Returns:
        ``(B, G)`` (or ``(G,)``) advantages in the dtype and device of ``rewards``. Under ``"grpo"`` a group
        whose rewards are all equal, and a group of one, get exactly 0.

    Raises:
        ValueError: ``rewards`` of a wrong shape, empty, or holding NaN/inf; an unknown ``estimator`` or
            ``scale``; ``eps < 0``; a missing or misshapen ``mask`` or ``reward_weights``.
    """
    rewards = _checks.tensor("rewards", rewards)
    if rewards.dim() not in (1, 2, 3) or rewards.numel() == 0:
        raise ValueError(f"rewards must have shape (B, G), (G,) or (B, G, K) with G >= 1; got {tuple(rewards.shape)}")
    entry = ADVANTAGE_ESTIMATORS.get(estimator, argument="estimator")
    if isinstance(scale, bool):
        scale = "group" if scale else "none"
    _checks.choice("scale", scale, ADVANTAGE_SCALES)
    eps = _checks.non_negative("eps", eps)
    if not rewards.is_floating_point():
        rewards = rewards.float()
    if not torch.isfinite(rewards).all():
        raise ValueError("rewards must be finite; got NaN or inf")
    groups = rewards.unsqueeze(0) if rewards.dim() == 1 else rewards
    weights = None
    if groups.dim() == 3:
        k = groups.shape[-1]
        weights = torch.ones(k) if reward_weights is None else _checks.tensor("reward_weights", reward_weights)
        if weights.shape != (k,) or not torch.isfinite(weights).all():
            raise ValueError(f"reward_weights must be a finite ({k},) tensor, one weight per reward; "
                             f"got {tuple(weights.shape)}")
        weights = weights.to(dtype=groups.dtype, device=groups.device)
    elif reward_weights is not None:
        raise ValueError("reward_weights needs rewards of shape (B, G, K), one column per reward function")
    b, g = groups.shape[:2]
    lengths = None
    if entry.needs_mask:
        if mask is None:
            raise ValueError(f"estimator {estimator!r} needs mask (B*G, T): it weighs completions by length")
        if not isinstance(mask, torch.Tensor) or mask.dim() not in (1, 2) or mask.shape[0] != b * g:
            raise ValueError(f"mask must have shape (B*G, T) = ({b * g}, T); got "
                             f"{tuple(mask.shape) if isinstance(mask, torch.Tensor) else type(mask).__name__}")
        real = mask.reshape(b * g, -1) != 0
        lengths = real.sum(dim=-1).reshape(b, g).to(groups.dtype)
    advantages = entry.fn(groups, weights, lengths, scale, eps)
    return advantages.reshape(rewards.shape[:2] if rewards.dim() == 3 else rewards.shape)


def group_reward_std(rewards: torch.Tensor) -> torch.Tensor:
    """Unbiased std of each group's rewards, ``(B, G) -> (B,)``; 0 for a group of one.

    Computed like :func:`group_advantages` (on ``rewards - min``) so that all-equal groups give exactly 0.
    """
    groups = rewards.unsqueeze(0) if rewards.dim() == 1 else rewards
    if groups.shape[-1] == 1:
        return torch.zeros(groups.shape[0], dtype=groups.dtype, device=groups.device)
    return (groups - groups.amin(dim=-1, keepdim=True)).std(dim=-1)
