"""The pieces of GRPO as pure, batched tensor functions.

Shapes: ``B`` prompts, ``G`` completions per prompt (a *group*), ``N = B*G`` completions, ``T`` tokens.
Per-token tensors are ``(N, T)`` with a ``mask (N, T)`` that is 1 (or True) on real tokens; a 1-D
``(N,)`` log-prob tensor is one token per completion, as in the seed notebook.

Every function keeps the device and dtype it is given, and raises ``ValueError`` naming the argument
when an argument is wrong.
"""

from __future__ import annotations

import torch

from grpo_core import _checks
from grpo_core.advantages import ADVANTAGE_SCALES, group_advantages, group_reward_std
from grpo_core.kl import KL_ESTIMATORS, LOG_RATIO_CLAMP, kl_estimate, kl_value_and_grad
from grpo_core.objectives import RATIO_LEVELS, ratio_bounds

__all__ = [
    "ADVANTAGE_SCALES", "KL_ESTIMATORS", "LOG_RATIO_CLAMP", "RATIO_LEVELS", "clipped_surrogate", "group_advantages",
    "group_reward_std", "kl_estimate", "kl_value_and_grad", "probability_ratio", "ratio_bounds",
]


def _as_token_tensor(name: str, value: torch.Tensor) -> torch.Tensor:
    value = _checks.tensor(name, value)
    if value.dim() == 1:
        return value.unsqueeze(-1)
    if value.dim() != 2:
        raise ValueError(f"{name} must have shape (N, T) or (N,); got {tuple(value.shape)}")
    return value


def _as_mask(mask: torch.Tensor | None, like_name: str, like: torch.Tensor) -> torch.Tensor | None:
    if mask is None:
        return None
    if not isinstance(mask, torch.Tensor):
        raise ValueError(f"mask must be a torch.Tensor or None; got {type(mask).__name__}")
    mask = mask.unsqueeze(-1) if mask.dim() == 1 else mask
    _checks.same_shape("mask", mask, like_name, like)
    return mask if mask.dtype == torch.bool else mask != 0


def probability_ratio(
    logp_new: torch.Tensor,
    logp_old: torch.Tensor,
    mask: torch.Tensor | None = None,
    *,
    level: str = "token",
) -> torch.Tensor:
    r"""Importance ratio :math:`\pi_\theta / \pi_{old}` of the sampled tokens.

    Args:
        logp_new: ``(N, T)`` log-probs of the sampled tokens under the policy being trained, or ``(N,)``.
        logp_old: ``(N, T)`` (or ``(N,)``) log-probs under the policy that sampled them.
        mask: ``(N, T)`` (or ``(N,)``), 1 on real tokens; only used by ``level="sequence"``.
        level: ``"token"``: :math:`\exp(\log\pi_\theta - \log\pi_{old})` per token (PPO, GRPO);
            ``"sequence"``: the geometric mean of the token ratios over each completion's real tokens,
            one ratio per completion (GSPO, Zheng et al. 2025; TRL ``importance_sampling_level``).

    Returns:
        ``level="token"``: the shape of ``logp_new``. ``level="sequence"``: ``(N, 1)`` for 2-D inputs (it
        broadcasts over tokens), ``(N,)`` for 1-D. The log-ratio is clamped to +-:data:`LOG_RATIO_CLAMP`.
    """
    _checks.choice("level", level, RATIO_LEVELS)
    new = _as_token_tensor("logp_new", logp_new)
    old = _as_token_tensor("logp_old", logp_old)
    _checks.same_shape("logp_old", old, "logp_new", new)
    log_ratio = new - old
    if level == "sequence":
        real = _as_mask(mask, "logp_new", new)
        if real is None:
            log_ratio = log_ratio.mean(dim=-1, keepdim=True)
        else:
            summed = torch.where(real, log_ratio, 0.0).sum(dim=-1, keepdim=True)
            log_ratio = summed / real.sum(dim=-1, keepdim=True).clamp(min=1)
    ratio = log_ratio.clamp(-LOG_RATIO_CLAMP, LOG_RATIO_CLAMP).exp()
    return ratio.squeeze(-1) if logp_new.dim() == 1 else ratio


def _check_clip(epsilon: float, epsilon_high: float | None, delta: float | None) -> tuple[float, float]:
    low = _checks.non_negative("epsilon", epsilon)
    high = low if epsilon_high is None else _checks.non_negative("epsilon_high", epsilon_high)
    if delta is not None:
        _checks.non_negative("delta", delta)
        if delta <= 1 + high:
            raise ValueError(f"delta must be > 1 + epsilon_high = {1 + high:g} (the upper clip bound); got {delta!r}")
    return low, high


def clipped_surrogate(
    ratio: torch.Tensor,
    advantages: torch.Tensor,
    *,
    epsilon: float = 0.2,
    epsilon_high: float | None = None,
    delta: float | None = None,
) -> torch.Tensor:
    r"""PPO's clipped surrogate objective per element, to be **maximised**.

    .. math::
        \min\bigl(\min(r, \delta)\,A,\ \operatorname{clip}(r, 1-\varepsilon, 1+\varepsilon_{high})\,A\bigr)

    Its gradient in ``r`` is ``A`` where the unclipped term is the smaller one, and 0 where clipping
    (or ``delta``) holds the objective flat.

    Args:
        ratio: probability ratios, any shape (e.g. ``(N, T)``).
        advantages: broadcastable to ``ratio``; a ``(N,)`` tensor with a 2-D ``(N, T)`` ratio is taken
            as one advantage per completion.
        epsilon: lower clip width, >= 0 (PPO, Schulman et al. 2017).
        epsilon_high: upper clip width; defaults to ``epsilon``. Larger is DAPO's clip-higher (Yu et al. 2025).
        delta: if set, caps the unclipped ratio at ``delta`` > 1 + ``epsilon_high``, bounding the objective
            of a negative advantage whose ratio exploded (two-sided/dual clip: TRL ``delta``, verl
            ``clip_ratio_c``, Ye et al. 2020).

    Returns:
        The objective, with the broadcast shape of ``ratio`` and ``advantages``.
    """
    ratio = _checks.tensor("ratio", ratio)
    advantages = _checks.tensor("advantages", advantages)
    low, high = _check_clip(epsilon, epsilon_high, delta)
    if ratio.dim() == 2 and advantages.dim() == 1 and advantages.shape[0] == ratio.shape[0]:
        advantages = advantages.unsqueeze(-1)
    try:
        torch.broadcast_shapes(ratio.shape, advantages.shape)
    except RuntimeError:
        raise ValueError(
            f"advantages {tuple(advantages.shape)} must broadcast to ratio {tuple(ratio.shape)}"
        ) from None
    lower, upper = ratio_bounds(advantages, epsilon=low, epsilon_high=high, delta=delta)
    return advantages * torch.clamp(ratio, min=lower, max=upper)
