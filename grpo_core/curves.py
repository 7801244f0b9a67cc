"""The computations behind the explorer's "Ratio and clipping" and "KL and beta" pages.

Pure torch, no Streamlit: curves of the clipped objective and its autograd gradient, the clip status of one
(ratio, advantage) point, the KL-penalised total reward, and a Monte-Carlo lab that compares the k1/k2/k3
KL estimators of :func:`grpo_core.kl_estimate` with the exact KL.

Every function raises ``ValueError`` naming the argument when an argument is wrong.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch.distributions import Categorical, Normal, kl_divergence

from grpo_core import _checks
from grpo_core.functional import _check_clip, clipped_surrogate, kl_estimate, kl_value_and_grad

#: Draws per chunk of a Gaussian lab (whole trials at a time). Its temporaries (about 15 tensors of the chunk's
#: size) then stay small: this server's memory is handed back to the system often (protobuf's upb allocator calls
#: ``malloc_trim``), and each 4 KB page touched afresh cost a lab about 10 us here.
LAB_CHUNK_DRAWS = 16_384

#: The estimators the labs compare: the three of Schulman (2020).
KL_ESTIMATORS = ("k1", "k2", "k3")

#: Bounds of the estimator lab, so that one request costs at most ~2M samples.
MAX_SAMPLES = 10_000
MAX_TRIALS = 200
MAX_CATEGORIES = 16


def _finite(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number; got {value!r}")
    return float(value)


def _positive(name: str, value) -> float:
    value = _finite(name, value)
    if value <= 0:
        raise ValueError(f"{name} must be > 0; got {value!r}")
    return value


def _count(name: str, value, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"{name} must be an int in [{low}, {high}]; got {value!r}")
    return value


# --------------------------------------------------------------------------------------------------------
# Ratio and clipping
# --------------------------------------------------------------------------------------------------------


def trust_region(epsilon: float = 0.2, epsilon_high: float | None = None) -> tuple[float, float]:
    r"""The ratio interval :math:`[1-\varepsilon,\ 1+\varepsilon_{high}]` inside which nothing is clipped.

    ``epsilon_high`` defaults to ``epsilon`` (symmetric PPO clipping).
    """
    low, high = _check_clip(epsilon, epsilon_high, None)
    return 1.0 - low, 1.0 + high


@dataclass(frozen=True)
class SurrogateCurve:
    r"""The clipped objective along a sweep of ratios, for one advantage.

    Attributes:
        ratio: ``(R,)`` the ratios (detached copy of the input).
        objective: ``(R,)`` :func:`grpo_core.clipped_surrogate` at each ratio.
        unclipped: ``(R,)`` ``ratio * advantage``, the plain policy-gradient surrogate.
        gradient: ``(R,)`` d objective / d ratio, from ``torch.autograd``: ``advantage`` where the
            objective follows the ratio, 0 where clipping (or ``delta``) holds it flat.
        log_gradient: ``(R,)`` d objective / d log pi = ``ratio * gradient`` (chain rule through
            :math:`r = e^{\log\pi - \log\pi_{old}}`): what backpropagation hands the policy's log-prob, so
            the push that reaches the parameters. ``r * A`` where the objective follows the ratio: for
            A < 0 at r = 4 it is 4 A, which is what the dual clip's ``delta`` caps.
    """

    ratio: torch.Tensor
    objective: torch.Tensor
    unclipped: torch.Tensor
    gradient: torch.Tensor
    log_gradient: torch.Tensor


def surrogate_curve(
    ratios: torch.Tensor,
    advantage: float,
    *,
    epsilon: float = 0.2,
    epsilon_high: float | None = None,
    delta: float | None = None,
) -> SurrogateCurve:
    r"""The clipped objective :math:`\min(\min(r,\delta)A,\ \operatorname{clip}(r,1-\varepsilon,1+\varepsilon_{high})A)`
    and its derivative in :math:`r`, for every ratio in ``ratios``.

    The derivative is what the policy update actually receives, so it is taken with ``torch.autograd``
    through :func:`grpo_core.clipped_surrogate` itself rather than written down by hand. Each ratio is an
    independent point, so one backward pass of ``objective.sum()`` gives every derivative.

    Args:
        ratios: ``(R,)`` probability ratios :math:`\pi_\theta/\pi_{old}` >= 0, finite, floating point.
        advantage: the completion's advantage :math:`A` (a finite number).
        epsilon, epsilon_high, delta: clip bounds, see :func:`grpo_core.clipped_surrogate`.

    Returns:
        :class:`SurrogateCurve` of ``(R,)`` tensors with the dtype and device of ``ratios``.
    """
    ratios = _checks.tensor("ratios", ratios)
    if ratios.dim() != 1:
        raise ValueError(f"ratios must have shape (R,); got {tuple(ratios.shape)}")
    if not torch.isfinite(ratios).all() or (ratios < 0).any():
        raise ValueError("ratios must be finite and >= 0")
    advantage = _finite("advantage", advantage)
    ratio = ratios.detach().clone().requires_grad_(True)
    adv = torch.tensor(advantage, dtype=ratio.dtype, device=ratio.device)
    with torch.enable_grad():
        objective = clipped_surrogate(ratio, adv, epsilon=epsilon, epsilon_high=epsilon_high, delta=delta)
        (gradient,) = torch.autograd.grad(objective.sum(), ratio)
    return SurrogateCurve(
        ratio=ratio.detach(),
        objective=objective.detach(),
        unclipped=ratio.detach() * adv,
        gradient=gradient,
        log_gradient=ratio.detach() * gradient,
    )


#: The reasons :func:`clip_status` gives, in words a page can fill in.
CLIP_REASONS = {
    "zero_advantage": "A = 0: this completion is exactly as good as its group's average, so there is no "
    "signal to follow; the objective is 0 and flat whatever the ratio.",
    "inside": "the ratio is inside the trust region [{low:g}, {high:g}]: nothing is clipped and the "
    "gradient is A = {advantage:g}.",
    "above_positive": "ratio {ratio:g} > {upper} = {high:g} and A > 0: the update has already made this "
    "completion more likely by enough; the objective is held at {high:g}·A and the gradient is 0.",
    "below_negative": "ratio {ratio:g} < 1−ε = {low:g} and A < 0: the update has already made this "
    "completion less likely by enough; the objective is held at {low:g}·A and the gradient is 0.",
    "below_positive": "ratio {ratio:g} < 1−ε = {low:g} but A > 0: the good completion became less likely, "
    "and moving back up is allowed, so the unclipped term is the smaller one; not clipped, gradient "
    "A = {advantage:g}.",
    "above_negative": "ratio {ratio:g} > {upper} = {high:g} but A < 0: the bad completion became more "
    "likely, and pushing it back down is allowed, so the unclipped term is the smaller one; not clipped, "
    "gradient A = {advantage:g}.",
    "dual_clip": "ratio {ratio:g} > δ = {delta:g} and A < 0: dual clip caps the penalty of a bad completion "
    "whose ratio exploded at δ·A, so one stale token cannot dominate the batch; gradient 0.",
}


@dataclass(frozen=True)
class ClipStatus:
    """Where one (ratio, advantage) point sits on the clipped objective, and why.

    Attributes:
        ratio, advantage: the point.
        objective: the clipped objective at the point.
        unclipped: ``ratio * advantage``.
        gradient: d objective / d ratio at the point (autograd).
        log_gradient: d objective / d log pi = ``ratio * gradient`` at the point.
        clipped: True when clipping or dual clip holds the objective flat (gradient 0 although A != 0).
        reason: a key of :data:`CLIP_REASONS`.
        low, high: the trust region ``1 - epsilon``, ``1 + epsilon_high``.
        delta: the dual-clip bound or None.
    """

    ratio: float
    advantage: float
    objective: float
    unclipped: float
    gradient: float
    log_gradient: float
    clipped: bool
    reason: str
    low: float
    high: float
    delta: float | None

    def explanation(self) -> str:
        """The reason in words, with this point's numbers filled in. The upper bound is named 1+ε_high only
        when it differs from 1+ε (clip-higher, DAPO); symmetric PPO clipping has one ε."""
        symmetric = math.isclose(self.high - 1.0, 1.0 - self.low, rel_tol=0.0, abs_tol=1e-12)
        return CLIP_REASONS[self.reason].format(
            ratio=round(self.ratio, 4), advantage=round(self.advantage, 4), low=round(self.low, 4),
            high=round(self.high, 4), delta=None if self.delta is None else round(self.delta, 4),
            upper="1+ε" if symmetric else "1+ε_high",
        )


def clip_status(
    ratio: float,
    advantage: float,
    *,
    epsilon: float = 0.2,
    epsilon_high: float | None = None,
    delta: float | None = None,
) -> ClipStatus:
    r"""Evaluate one point and classify it: inside the trust region, clipped (and on which side), or not
    clipped although outside (the pessimistic ``min`` lets the gradient through when it moves the ratio
    back toward 1), or dual-clipped.

    A point exactly on a bound counts as not clipped, as in TRL's ``clip_ratio`` metrics.

    Args:
        ratio: the ratio, finite, >= 0.
        advantage: the advantage, finite.
        epsilon, epsilon_high, delta: clip bounds, see :func:`grpo_core.clipped_surrogate`.
    """
    ratio = _finite("ratio", ratio)
    if ratio < 0:
        raise ValueError(f"ratio must be >= 0; got {ratio!r}")
    advantage = _finite("advantage", advantage)
    low, high = trust_region(epsilon, epsilon_high)
    curve = surrogate_curve(torch.tensor([ratio], dtype=torch.float64), advantage,
                            epsilon=epsilon, epsilon_high=epsilon_high, delta=delta)
    if advantage == 0:
        reason = "zero_advantage"
    elif advantage > 0:
        reason = "above_positive" if ratio > high else "below_positive" if ratio < low else "inside"
    elif delta is not None and ratio > delta:
        reason = "dual_clip"
    else:
        reason = "below_negative" if ratio < low else "above_negative" if ratio > high else "inside"
    return ClipStatus(
        ratio=ratio,
        advantage=advantage,
        objective=curve.objective.item(),
        unclipped=curve.unclipped.item(),
        gradient=curve.gradient.item(),
        log_gradient=curve.log_gradient.item(),
        clipped=reason in ("above_positive", "below_negative", "dual_clip"),
        reason=reason,
        low=low,
        high=high,
        delta=None if delta is None else float(delta),
    )


# --------------------------------------------------------------------------------------------------------
# KL and beta
# --------------------------------------------------------------------------------------------------------


def total_reward(r_outcome, betas: torch.Tensor, kls: torch.Tensor) -> torch.Tensor:
    r"""The KL-penalised reward :math:`R_{total} = R_{outcome} - \beta \cdot \mathrm{KL}` on a grid.

    Args:
        r_outcome: the outcome reward: a finite number, or a ``(K,)`` tensor (one per KL value).
        betas: ``(B,)`` KL weights >= 0.
        kls: ``(K,)`` KL values >= 0.

    Returns:
        ``(K, B)``: row ``k`` is the total reward of KL value ``k`` along ``betas``.
    """
    betas = _checks.tensor("betas", betas)
    kls = _checks.tensor("kls", kls)
    if betas.dim() != 1 or kls.dim() != 1:
        raise ValueError(f"betas and kls must be 1-D; got {tuple(betas.shape)} and {tuple(kls.shape)}")
    if not torch.isfinite(betas).all() or (betas < 0).any():
        raise ValueError("betas must be finite and >= 0")
    if not torch.isfinite(kls).all() or (kls < 0).any():
        raise ValueError("kls must be finite and >= 0")
    if isinstance(r_outcome, torch.Tensor):
        r = _checks.tensor("r_outcome", r_outcome)
        if r.shape not in ((), kls.shape) or not torch.isfinite(r).all():
            raise ValueError(f"r_outcome must be finite, a number or shape {tuple(kls.shape)}; got {tuple(r.shape)}")
        r = r.reshape(-1, 1) if r.dim() else r
    else:
        r = _finite("r_outcome", r_outcome)
    return r - kls.unsqueeze(-1) * betas.unsqueeze(0)


@dataclass(frozen=True)
class EstimatorLab:
    """k1/k2/k3 Monte-Carlo KL estimates against the exact KL, repeated over independent trials.

    Each trial draws ``num_samples`` tokens from the policy and averages each estimator over them, which
    is what a training step does with its sampled tokens.

    Attributes:
        exact: the exact :math:`\\mathrm{KL}(\\pi\\,\\|\\,\\pi_{ref})`.
        estimators: ``("k1", "k2", "k3")``.
        trial_estimates: ``(3, trials)``: each estimator's ``num_samples``-sample mean, per trial.
        mean: ``(3,)`` mean over trials of the estimates.
        bias: ``(3,)`` ``mean - exact``.
        standard_error: ``(3,)`` standard error of ``mean``: ``sample_std / sqrt(num_samples * num_trials)``
            (0 when only one sample was drawn). Meaningless where ``infinite_variance`` is True: the sample
            std then under-estimates a variance that does not exist, and the mean converges slower than
            ``1/sqrt(n)``.
        infinite_variance: ``(3,)`` bools: True where the estimator's variance under the policy is infinite
            (k3 of a Gaussian policy with ``sigma**2 <= sigma_ref**2 / 2``, see
            :func:`gaussian_k3_variance_is_infinite`; never for the token lab's finite vocabulary).
        spread: ``(3,)`` std over trials of the estimates (the noise of one estimate from N samples).
        sample_std: ``(3,)`` std of a single-sample estimate (over all samples drawn).
        frac_negative_samples: ``(3,)`` fraction of single-sample estimates < 0 (k1 only can be).
        frac_negative_trials: ``(3,)`` fraction of trials whose N-sample estimate is < 0.
        num_samples, num_trials, seed: what was drawn.
    """

    exact: float
    estimators: tuple[str, ...]
    trial_estimates: torch.Tensor
    mean: torch.Tensor
    bias: torch.Tensor
    standard_error: torch.Tensor
    infinite_variance: tuple[bool, ...]
    spread: torch.Tensor
    sample_std: torch.Tensor
    frac_negative_samples: torch.Tensor
    frac_negative_trials: torch.Tensor
    num_samples: int
    num_trials: int
    seed: int


def _stats(exact: float, trial_estimates: torch.Tensor, sample_mean: torch.Tensor, sample_sq_mean: torch.Tensor,
           frac_negative_samples: torch.Tensor, num_samples: int, num_trials: int, seed: int,
           infinite_variance: tuple[bool, ...] = (False, False, False)) -> EstimatorLab:
    """``trial_estimates``: ``(3, trials)`` float64; the others ``(3,)`` over all single samples."""
    total = num_samples * num_trials
    mean = trial_estimates.mean(dim=-1)
    spread = torch.zeros_like(mean) if num_trials == 1 else trial_estimates.std(dim=-1)
    # Unbiased variance of single-sample estimates from their first two moments.
    sample_var = (sample_sq_mean - sample_mean.square()).clamp(min=0) * (total / max(total - 1, 1))
    sample_std = sample_var.sqrt() if total > 1 else torch.zeros_like(mean)
    return EstimatorLab(
        exact=float(exact),
        estimators=KL_ESTIMATORS,
        trial_estimates=trial_estimates,
        mean=mean,
        bias=mean - exact,
        standard_error=sample_std / math.sqrt(total),
        infinite_variance=tuple(bool(v) for v in infinite_variance),
        spread=spread,
        sample_std=sample_std,
        frac_negative_samples=frac_negative_samples,
        frac_negative_trials=(trial_estimates < 0).double().mean(dim=-1),
        num_samples=num_samples,
        num_trials=num_trials,
        seed=seed,
    )


def _lab_sizes(num_samples, num_trials, seed) -> tuple[int, int, int]:
    return (_count("num_samples", num_samples, 1, MAX_SAMPLES), _count("num_trials", num_trials, 1, MAX_TRIALS),
            _count("seed", seed, 0, 2**63 - 1))


def gaussian_kl(mu: float, sigma: float, mu_ref: float, sigma_ref: float) -> float:
    r"""Exact :math:`\mathrm{KL}(\mathcal N(\mu,\sigma^2)\,\|\,\mathcal N(\mu_{ref},\sigma_{ref}^2))`

    .. math::
        \log\frac{\sigma_{ref}}{\sigma} + \frac{\sigma^2 + (\mu-\mu_{ref})^2}{2\sigma_{ref}^2} - \frac12

    (torch's closed form, ``torch.distributions.kl_divergence``). Stds must be > 0.
    """
    policy = Normal(torch.tensor(_finite("mu", mu), dtype=torch.float64), _positive("sigma", sigma))
    ref = Normal(torch.tensor(_finite("mu_ref", mu_ref), dtype=torch.float64), _positive("sigma_ref", sigma_ref))
    return kl_divergence(policy, ref).item()


def gaussian_k3_variance_is_infinite(sigma: float, sigma_ref: float) -> bool:
    r"""Whether k3 (and its gradient) has infinite variance for a Gaussian policy ``N(mu, sigma^2)`` and
    reference ``N(mu_ref, sigma_ref^2)``, whatever the means.

    With :math:`r = \pi_{ref}/\pi = e^{-d}`, :math:`k_3 = r - 1 - \log r` grows like :math:`r` where
    :math:`r` is large, so :math:`\mathbb E_\pi[k_3^2] < \infty` exactly when
    :math:`\mathbb E_\pi[r^2] = \int \pi_{ref}^2/\pi\,dx < \infty`. The exponent of that integrand has
    :math:`x^2` coefficient :math:`\tfrac{1}{2\sigma^2} - \tfrac{1}{\sigma_{ref}^2}`: the integral is
    finite iff it is negative, i.e. iff :math:`\sigma^2 > \sigma_{ref}^2/2`. At equality the integrand is
    :math:`e^{\text{linear}}` (or a constant when the means are equal), whose integral is infinite too.
    The same holds for k3's gradient :math:`(1 - r)\nabla\log\pi` (a polynomial times :math:`r`). k1 and
    k2 are polynomials in :math:`x` and always have finite variance.
    """
    sigma, sigma_ref = _positive("sigma", sigma), _positive("sigma_ref", sigma_ref)
    return 2.0 * sigma * sigma <= sigma_ref * sigma_ref


def _gaussian_draws(mu, sigma, mu_ref, sigma_ref, num_samples, num_trials, seed):
    """``(z, logp, logp_ref)``, each ``(trials, samples)``: standard normals ``z`` (the policy's draws are
    ``mu + sigma z``) and both log-densities at them (:func:`_gaussian_log_densities`). The value and gradient
    labs draw through here, so one seed gives both the same samples."""
    z = _standard_normals(num_samples, num_trials, seed)
    return (z, *_gaussian_log_densities(z, mu, sigma, mu_ref, sigma_ref))


def _standard_normals(num_samples: int, num_trials: int, seed: int) -> torch.Tensor:
    """``(trials, samples)`` float32 standard normals from a ``torch.Generator`` seeded with ``seed``."""
    return torch.randn(num_trials, num_samples, generator=torch.Generator().manual_seed(seed))


def _gaussian_log_densities(z, mu, sigma, mu_ref, sigma_ref) -> tuple[torch.Tensor, torch.Tensor]:
    """``(logp, logp_ref)`` at the draws ``mu + sigma z``, shaped as ``z``. float32: up to 2M samples must stay
    within a page's time budget (sums are taken in float64). The shared ``-log(sqrt(2 pi))`` is left out: it
    cancels in ``log p - log p_ref``."""
    logp = z.square().mul_(-0.5).sub_(math.log(sigma))
    logp_ref = (z * sigma + (mu - mu_ref)).div_(sigma_ref).square_().mul_(-0.5).sub_(math.log(sigma_ref))
    return logp, logp_ref


def gaussian_estimator_lab(
    mu: float,
    sigma: float,
    mu_ref: float,
    sigma_ref: float,
    *,
    num_samples: int = 100,
    num_trials: int = 100,
    seed: int = 0,
) -> EstimatorLab:
    """k1/k2/k3 against the exact KL for a Gaussian policy ``N(mu, sigma^2)`` and reference
    ``N(mu_ref, sigma_ref^2)``; ``num_trials x num_samples`` draws from the policy with a
    ``torch.Generator`` seeded with ``seed`` (same seed, same numbers). Samples are float32, every
    average is summed in float64; the exact KL is float64.

    Args:
        num_samples: samples per estimate, in [1, :data:`MAX_SAMPLES`].
        num_trials: independent estimates, in [1, :data:`MAX_TRIALS`].
        seed: int >= 0.
    """
    return gaussian_labs(mu, sigma, mu_ref, sigma_ref, num_samples=num_samples, num_trials=num_trials, seed=seed)[0]


def _logits(name: str, value) -> torch.Tensor:
    logits = torch.as_tensor(value, dtype=torch.float64) if not isinstance(value, torch.Tensor) else value.double()
    if logits.dim() != 1 or not 2 <= logits.shape[0] <= MAX_CATEGORIES:
        raise ValueError(f"{name} must have shape (C,) with 2 <= C <= {MAX_CATEGORIES}; got {tuple(logits.shape)}")
    if not torch.isfinite(logits).all():
        raise ValueError(f"{name} must be finite")
    return logits


def categorical_kl(logits, logits_ref) -> float:
    r"""Exact :math:`\mathrm{KL}(\pi\,\|\,\pi_{ref}) = \sum_c \pi_c(\log\pi_c - \log\pi_{ref,c})` for
    :math:`\pi = \operatorname{softmax}(\text{logits})`, ``(C,)`` logits each (sequence or tensor)."""
    logits, logits_ref = _logits("logits", logits), _logits("logits_ref", logits_ref)
    if logits.shape != logits_ref.shape:
        raise ValueError(f"logits_ref must have the shape of logits {tuple(logits.shape)}; got {tuple(logits_ref.shape)}")
    return kl_divergence(Categorical(logits=logits), Categorical(logits=logits_ref)).item()


def categorical_estimator_lab(
    logits,
    logits_ref,
    *,
    num_samples: int = 100,
    num_trials: int = 100,
    seed: int = 0,
) -> EstimatorLab:
    """k1/k2/k3 against the exact KL for a categorical policy (a next-token distribution over ``C``
    tokens) ``softmax(logits)`` and reference ``softmax(logits_ref)``, ``(C,)`` each. Each trial draws
    ``num_samples`` tokens from the policy (as multinomial token counts, with a ``torch.Generator`` seeded
    with ``seed``), and each estimator is :func:`grpo_core.kl_estimate` of the drawn tokens, averaged. See
    :func:`gaussian_estimator_lab` for the sizes.
    """
    exact = categorical_kl(logits, logits_ref)
    num_samples, num_trials, seed = _lab_sizes(num_samples, num_trials, seed)
    logp = torch.log_softmax(_logits("logits", logits), dim=-1)
    logp_ref = torch.log_softmax(_logits("logits_ref", logits_ref), dim=-1)
    counts = _multinomial_counts(logp.exp(), num_samples, num_trials, torch.Generator().manual_seed(seed))
    # Every draw of token c gives the same estimate, so each estimator's mean over a trial's N draws is
    # its per-token value weighted by that trial's token counts.
    per_token = torch.stack([kl_estimate(logp, logp_ref, estimator=k) for k in KL_ESTIMATORS])  # (3, C)
    frequency = counts / num_samples  # (trials, C)
    overall = counts.sum(dim=0) / (num_samples * num_trials)  # (C,)
    return _stats(
        exact,
        trial_estimates=per_token @ frequency.T,
        sample_mean=per_token @ overall,
        sample_sq_mean=per_token.square() @ overall,
        frac_negative_samples=(per_token < 0).double() @ overall,
        num_samples=num_samples, num_trials=num_trials, seed=seed,
    )


def _multinomial_counts(probs: torch.Tensor, num_samples: int, num_trials: int,
                        generator: torch.Generator) -> torch.Tensor:
    """``(trials, C)`` token counts of ``num_samples`` i.i.d. draws from ``probs (C,)`` per trial.

    Drawn as a chain of binomials (count of token c among the draws not yet given to tokens < c), which
    has exactly the multinomial distribution and costs O(trials * C) instead of O(trials * samples).
    """
    counts = torch.zeros(num_trials, probs.shape[0], dtype=torch.float64)
    left = torch.full((num_trials,), float(num_samples), dtype=torch.float64)
    mass_left = probs.double().flip(0).cumsum(0).flip(0).tolist()  # P(token >= c)
    for c in range(probs.shape[0] - 1):
        share = min(max(float(probs[c]) / mass_left[c], 0.0), 1.0) if mass_left[c] > 0 else 0.0
        counts[:, c] = torch.binomial(left, torch.full_like(left, share), generator=generator)
        left = left - counts[:, c]
    counts[:, -1] = left
    return counts


# --------------------------------------------------------------------------------------------------------
# What each estimator's gradient does: in the loss, and (k1) in the reward
# --------------------------------------------------------------------------------------------------------

#: The KL terms whose gradient :class:`GradientLab` measures: k1, k2, k3 added to the loss, and k1, k3 put in
#: the reward (detached: a cost :math:`\beta\,k` whose policy-gradient is :math:`k\,\nabla\log\pi`).
GRADIENT_TERMS = ("k1", "k2", "k3", "k1_reward", "k3_reward")


@dataclass(frozen=True)
class GradientLab:
    r"""The gradient each KL term gives the policy's parameters, measured by Monte Carlo with tokens sampled
    from the policy, against its exact expectation and the gradients of the two KL divergences.

    For a sampled token :math:`x` and a term :math:`k(d)` with :math:`d = \log\pi(x) - \log\pi_{ref}(x)`,
    the loss term :math:`\beta\,k` gives the parameters :math:`\beta\,k'(d)\,\nabla\log\pi(x)` (the sample
    :math:`x` itself is not differentiated: it was drawn). With :math:`\beta = 1`:

    - ``k1`` in the loss: :math:`\nabla\log\pi`, mean :math:`\mathbb E_\pi[\nabla\log\pi] = 0`.
    - ``k2`` in the loss: :math:`d\,\nabla\log\pi`, mean :math:`\nabla\mathrm{KL}(\pi\|\pi_{ref})`.
    - ``k3`` in the loss: :math:`(1 - \pi_{ref}/\pi)\nabla\log\pi`, mean
      :math:`0 - \mathbb E_{\pi_{ref}}[\nabla\log\pi] = \nabla\mathrm{KL}(\pi_{ref}\|\pi)`.
    - ``k1_reward``: k1 subtracted from the reward (detached), REINFORCE: :math:`d\,\nabla\log\pi`, mean
      :math:`\nabla\mathrm{KL}(\pi\|\pi_{ref})` (unbiased). For one token this is per sample the same as k2
      in the loss.
    - ``k3_reward``: k3 in the reward: :math:`k_3\,\nabla\log\pi`. In general a detached term :math:`k` in the
      reward has mean :math:`\nabla\mathbb E_\pi[k] - \mathbb E_\pi[\nabla k]`; k3's value is unbiased
      (:math:`\mathbb E_\pi[k_3] = \mathrm{KL}(\pi\|\pi_{ref})`) but its own gradient is not zero-mean, so
      the mean is :math:`\nabla\mathrm{KL}(\pi\|\pi_{ref}) - \nabla\mathrm{KL}(\pi_{ref}\|\pi)`: nearly 0 while
      :math:`\pi\approx\pi_{ref}`, where the two KLs agree to second order.

    Attributes:
        parameters: names of the ``P`` parameters: ``("mu", "log_sigma")`` for the Gaussian lab,
            ``("logit_0", ...)`` for the token lab.
        terms: :data:`GRADIENT_TERMS`.
        mean: ``(5, P)`` Monte-Carlo mean gradient over all ``num_samples * num_trials`` samples.
        standard_error: ``(5, P)`` its standard error (per-sample std over ``sqrt`` of the sample count).
        sample_std: ``(5, P)`` std of one sample's gradient: the noise the term adds to one token's update.
        expected: ``(5, P)`` the exact expectation of each term's gradient.
        reverse_kl_grad: ``(P,)`` exact :math:`\nabla\mathrm{KL}(\pi\|\pi_{ref})`.
        forward_kl_grad: ``(P,)`` exact :math:`\nabla\mathrm{KL}(\pi_{ref}\|\pi)`.
        infinite_variance: ``(5,)`` bools: True where the term's gradient has infinite variance (both k3 terms
            in the Gaussian lab with ``sigma**2 <= sigma_ref**2 / 2``); its standard error then means nothing.
        num_samples, num_trials, seed: what was drawn.
    """

    parameters: tuple[str, ...]
    terms: tuple[str, ...]
    mean: torch.Tensor
    standard_error: torch.Tensor
    sample_std: torch.Tensor
    expected: torch.Tensor
    reverse_kl_grad: torch.Tensor
    forward_kl_grad: torch.Tensor
    infinite_variance: tuple[bool, ...]
    num_samples: int
    num_trials: int
    seed: int

    def distance_in_standard_errors(self) -> torch.Tensor:
        """``(5,)``: the largest ``|mean - expected| / standard_error`` over the parameters (0 where both
        are 0). Below ~3 the measurement agrees with the expectation."""
        gap = (self.mean - self.expected).abs()
        z = torch.where(self.standard_error > 0, gap / self.standard_error.clamp(min=1e-300),
                        torch.where(gap > 1e-12, torch.full_like(gap, math.inf), torch.zeros_like(gap)))
        return z.max(dim=-1).values


def _values_and_slopes(logp: torch.Tensor, logp_ref: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(values, slopes)``: ``(3, *logp.shape)`` k1/k2/k3 per sample, and ``(5, *logp.shape)`` d term / d log pi
    per sample for :data:`GRADIENT_TERMS`. k1/k2/k3: the derivative the loss itself uses
    (:func:`grpo_core.kl.kl_value_and_grad`, checked against autograd through :func:`grpo_core.kl_estimate`);
    k1_reward and k3_reward: the detached k1 and k3 values (the policy-gradient weight of a reward cost)."""
    values = torch.empty((len(KL_ESTIMATORS), *logp.shape), dtype=logp.dtype)
    slopes = torch.empty((len(GRADIENT_TERMS), *logp.shape), dtype=logp.dtype)
    for row, estimator in enumerate(KL_ESTIMATORS):
        values[row], slopes[row] = kl_value_and_grad(logp, logp_ref, estimator, need_grad=True)
    for estimator in ("k1", "k3"):
        slopes[GRADIENT_TERMS.index(f"{estimator}_reward")] = values[KL_ESTIMATORS.index(estimator)]
    return values, slopes


def _sample_moments(total: int, first: torch.Tensor, second: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-sample std and standard error of the mean from the first two moments over ``total`` samples."""
    if total < 2:
        zero = torch.zeros_like(first)
        return zero, zero
    var = (second - first.square()).clamp(min=0) * (total / (total - 1))
    return var.sqrt(), var.sqrt() / math.sqrt(total)


def gaussian_kl_gradients(mu: float, sigma: float, mu_ref: float, sigma_ref: float) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Exact gradients in the policy's ``(mu, log_sigma)``, float64 ``(2,)`` each:

    - :math:`\nabla\mathrm{KL}(\pi\|\pi_{ref}) = \bigl((\mu-\mu_{ref})/\sigma_{ref}^2,\ \sigma^2/\sigma_{ref}^2 - 1\bigr)`
    - :math:`\nabla\mathrm{KL}(\pi_{ref}\|\pi) = \bigl((\mu-\mu_{ref})/\sigma^2,\ 1 - (\sigma_{ref}^2 + (\mu-\mu_{ref})^2)/\sigma^2\bigr)`
    """
    mu, mu_ref = _finite("mu", mu), _finite("mu_ref", mu_ref)
    sigma, sigma_ref = _positive("sigma", sigma), _positive("sigma_ref", sigma_ref)
    gap = mu - mu_ref
    reverse = torch.tensor([gap / sigma_ref**2, sigma**2 / sigma_ref**2 - 1.0], dtype=torch.float64)
    forward = torch.tensor([gap / sigma**2, 1.0 - (sigma_ref**2 + gap**2) / sigma**2], dtype=torch.float64)
    return reverse, forward


def categorical_kl_gradients(logits, logits_ref) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Exact gradients in the policy's logits ``(C,)``, float64 ``(C,)`` each:
    :math:`\nabla\mathrm{KL}(\pi\|\pi_{ref}) = \pi\odot(d - \mathrm{KL}(\pi\|\pi_{ref}))` with
    :math:`d = \log\pi - \log\pi_{ref}`, and :math:`\nabla\mathrm{KL}(\pi_{ref}\|\pi) = \pi - \pi_{ref}`."""
    logits, logits_ref = _logits("logits", logits), _logits("logits_ref", logits_ref)
    if logits.shape != logits_ref.shape:
        raise ValueError(f"logits_ref must have the shape of logits {tuple(logits.shape)}; got {tuple(logits_ref.shape)}")
    logp, logp_ref = torch.log_softmax(logits, -1), torch.log_softmax(logits_ref, -1)
    p = logp.exp()
    d = logp - logp_ref
    return p * (d - (p * d).sum()), p - logp_ref.exp()


def gaussian_gradient_lab(
    mu: float,
    sigma: float,
    mu_ref: float,
    sigma_ref: float,
    *,
    num_samples: int = 100,
    num_trials: int = 100,
    seed: int = 0,
) -> GradientLab:
    r""":class:`GradientLab` for a Gaussian policy ``N(mu, sigma^2)`` with parameters ``(mu, log_sigma)``, on
    the very samples :func:`gaussian_estimator_lab` draws with the same sizes and seed. The score is
    :math:`\nabla\log\pi(x) = (z/\sigma,\ z^2 - 1)` with :math:`z = (x-\mu)/\sigma`; the expectations are the
    closed forms of :func:`gaussian_kl_gradients` (0 for k1 in the loss, reverse minus forward for k3 in the
    reward)."""
    return gaussian_labs(mu, sigma, mu_ref, sigma_ref, num_samples=num_samples, num_trials=num_trials, seed=seed)[1]


def gaussian_labs(
    mu: float,
    sigma: float,
    mu_ref: float,
    sigma_ref: float,
    *,
    num_samples: int = 100,
    num_trials: int = 100,
    seed: int = 0,
) -> tuple[EstimatorLab, GradientLab]:
    """``(gaussian_estimator_lab(...), gaussian_gradient_lab(...))`` with these arguments, from one draw: each
    estimator's values and slopes come from one :func:`grpo_core.kl.kl_value_and_grad` call. The KL page shows
    both labs on the same samples; drawing and evaluating them twice was half of its lab's computing. The trials
    are walked :data:`LAB_CHUNK_DRAWS` draws at a time; per-trial sums are those of the whole draw."""
    exact = gaussian_kl(mu, sigma, mu_ref, sigma_ref)
    reverse, forward = gaussian_kl_gradients(mu, sigma, mu_ref, sigma_ref)
    infinite = gaussian_k3_variance_is_infinite(sigma, sigma_ref)
    num_samples, num_trials, seed = _lab_sizes(num_samples, num_trials, seed)
    z = _standard_normals(num_samples, num_trials, seed)  # the draws of _gaussian_draws, densities per chunk below
    total = z.numel()
    trial_sums, value_sums = [], torch.zeros(3, len(KL_ESTIMATORS), dtype=torch.float64)  # sum, sum of squares, < 0
    first = torch.zeros(len(GRADIENT_TERMS), 2, dtype=torch.float64)
    second = torch.zeros_like(first)
    rows = max(1, LAB_CHUNK_DRAWS // num_samples)
    for chunk in z.split(rows):  # whole trials at a time: a small working set, the same per-trial sums
        values, slopes = _values_and_slopes(*_gaussian_log_densities(chunk, mu, sigma, mu_ref, sigma_ref))
        trial_sums.append(values.sum(dim=-1, dtype=torch.float64))
        value_sums[0] += values.sum(dim=(-2, -1), dtype=torch.float64)
        value_sums[1] += values.square().sum(dim=(-2, -1), dtype=torch.float64)
        value_sums[2] += (values < 0).sum(dim=(-2, -1), dtype=torch.float64)
        scores = (chunk / sigma, chunk.square() - 1.0)  # d log pi / d (mu, log sigma) at the drawn x
        for t, slope in enumerate(slopes):  # each per-sample gradient is made once, for both of its moments
            for p, score in enumerate(scores):
                gradient = slope * score
                first[t, p] += gradient.sum(dtype=torch.float64)
                second[t, p] += gradient.square_().sum(dtype=torch.float64)
    estimators = _stats(
        exact,
        trial_estimates=torch.cat(trial_sums, dim=-1) / num_samples,
        sample_mean=value_sums[0] / total,
        sample_sq_mean=value_sums[1] / total,
        frac_negative_samples=value_sums[2] / total,
        num_samples=num_samples, num_trials=num_trials, seed=seed,
        infinite_variance=(False, False, infinite),
    )
    first, second = first / total, second / total
    sample_std, standard_error = _sample_moments(total, first, second)
    lab = GradientLab(
        parameters=("mu", "log_sigma"), terms=GRADIENT_TERMS, mean=first, standard_error=standard_error,
        sample_std=sample_std,
        expected=torch.stack([torch.zeros(2, dtype=torch.float64), reverse, forward, reverse, reverse - forward]),
        reverse_kl_grad=reverse, forward_kl_grad=forward, infinite_variance=(False, False, infinite, False, infinite),
        num_samples=num_samples, num_trials=num_trials, seed=seed,
    )
    return estimators, lab


def categorical_gradient_lab(
    logits,
    logits_ref,
    *,
    num_samples: int = 100,
    num_trials: int = 100,
    seed: int = 0,
) -> GradientLab:
    r""":class:`GradientLab` for a categorical policy ``softmax(logits)`` with the ``C`` logits as parameters,
    on the very token counts :func:`categorical_estimator_lab` draws with the same sizes and seed. Every draw
    of token ``c`` gives the same gradient ``g_c = k'(d_c)(e_c - pi)`` (autograd), so the Monte-Carlo mean
    is the drawn frequencies times ``g`` and the exact expectation is ``pi @ g``; the KL gradients are the
    closed forms of :func:`categorical_kl_gradients`, computed independently."""
    reverse, forward = categorical_kl_gradients(logits, logits_ref)
    num_samples, num_trials, seed = _lab_sizes(num_samples, num_trials, seed)
    theta = _logits("logits", logits)
    logp_ref = torch.log_softmax(_logits("logits_ref", logits_ref), dim=-1)
    counts = _multinomial_counts(torch.softmax(theta, -1), num_samples, num_trials,
                                 torch.Generator().manual_seed(seed))
    logp = torch.log_softmax(theta, -1)
    score = torch.autograd.functional.jacobian(lambda t: torch.log_softmax(t, -1), theta)  # (C, C): row c = d log pi_c
    per_token = _values_and_slopes(logp, logp_ref)[1].unsqueeze(-1) * score  # (5, C, C): gradient when token c is drawn
    overall = counts.sum(dim=0) / (num_samples * num_trials)  # (C,)
    first = torch.einsum("c,tcp->tp", overall, per_token)
    second = torch.einsum("c,tcp->tp", overall, per_token.square())
    sample_std, standard_error = _sample_moments(num_samples * num_trials, first, second)
    return GradientLab(
        parameters=tuple(f"logit_{c}" for c in range(theta.shape[0])), terms=GRADIENT_TERMS, mean=first,
        standard_error=standard_error, sample_std=sample_std,
        expected=torch.einsum("c,tcp->tp", logp.exp(), per_token),
        reverse_kl_grad=reverse, forward_kl_grad=forward, infinite_variance=(False,) * len(GRADIENT_TERMS),
        num_samples=num_samples, num_trials=num_trials, seed=seed,
    )
