r"""Per-token KL estimators to the reference policy, with their derivative in :math:`\log\pi_\theta`.

With :math:`d = \log\pi_\theta - \log\pi_{ref}` of a token sampled from :math:`\pi_\theta` (Schulman,
"Approximating KL Divergence", 2020). What a term does *in the loss* is set by its gradient, not by the
bias of its value:

- ``k1`` :math:`= d`: unbiased value; in the loss its gradient :math:`\nabla\log\pi` has mean zero, so it
  pulls nothing on average. Used in the *reward* (InstructGPT; verl ``use_kl_in_reward``) it is the
  unbiased score-function estimate of :math:`\nabla\mathrm{KL}(\pi\|\pi_{ref})`.
- ``k2`` :math:`= \tfrac12 d^2`: biased value; its gradient :math:`d\,\nabla\log\pi` has the mean of
  :math:`\nabla\mathrm{KL}(\pi\|\pi_{ref})`.
- ``k3`` :math:`= e^{-d} + d - 1`: unbiased value (DeepSeekMath, TRL, verl ``low_var_kl``); its gradient
  :math:`(1 - e^{-d})\nabla\log\pi` has the mean of :math:`\nabla\mathrm{KL}(\pi_{ref}\|\pi)`.
- ``abs`` :math:`= |d|` (verl ``abs``).
- ``k1+``, ``k3+``: verl's straight-through estimators: the value of k1 / k3, the gradient of k2.

``d`` is clamped to +-:data:`LOG_RATIO_CLAMP` before ``exp`` so that every value stays finite. verl also
clamps the k3 *value* to [-10, 10]; grpo_core does not (it agrees with verl wherever k3 <= 10, i.e.
:math:`d \gtrsim -2.4`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from grpo_core import _checks
from grpo_core.registry import Registry

#: Log-ratios are clamped to +-20 before ``exp`` (as verl does), so that a log-prob of -1e4 gives a
#: large but finite ratio (e^20 ~ 4.9e8) instead of inf, and inf * 0 never turns into NaN.
LOG_RATIO_CLAMP = 20.0


@dataclass(frozen=True)
class KLEstimator:
    """One KL estimator.

    Attributes:
        name: grpo_core's name (``estimator=`` of :func:`kl_estimate`).
        formula: LaTeX of the per-token value in :math:`d`.
        gradient: LaTeX of its derivative in :math:`\\log\\pi_\\theta`.
        in_loss: one plain sentence: what its gradient does on average when the term is in the loss.
        trl: the TRL setting that selects it (TRL's loss always uses k3), or ``None``.
        verl: verl's ``kl_loss_type`` / ``kl_penalty`` names for it.
        value_and_grad: ``(logp, logp_ref) -> (value, d value / d logp)``, both ``(N, T)``.
    """

    name: str
    formula: str
    gradient: str
    in_loss: str
    trl: str | None
    verl: tuple[str, ...]
    value_and_grad: Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


KL_ESTIMATORS_REGISTRY: Registry[KLEstimator] = Registry("kl_estimator")


def _k3(logp, logp_ref):
    # Fused: every line is one pass over (N, T), the clamp only where it bites (this is on grpo_loss's hot path).
    neg_d = logp_ref - logp
    lowest, highest = torch.aminmax(neg_d)
    held = None
    if bool(lowest < -LOG_RATIO_CLAMP) or bool(highest > LOG_RATIO_CLAMP):
        held = neg_d.abs() > LOG_RATIO_CLAMP
        neg_d.clamp_(-LOG_RATIO_CLAMP, LOG_RATIO_CLAMP)
    e = torch.expm1(neg_d)
    value = torch.sub(e, neg_d, out=neg_d)
    grad = e.neg_()
    if held is not None:
        grad.masked_fill_(held, 0.0)  # flat where the clamp holds, as autograd through the clamp would say
    return value, grad


def _k1(logp, logp_ref):
    d = logp - logp_ref
    return d, torch.ones_like(d)


def _k2(logp, logp_ref):
    d = logp - logp_ref
    return 0.5 * d.square(), d


def _abs(logp, logp_ref):
    d = logp - logp_ref
    return d.abs(), torch.sign(d)


def _k1_plus(logp, logp_ref):
    d = logp - logp_ref
    return d, d


def _k3_plus(logp, logp_ref):
    return _k3(logp, logp_ref)[0], logp - logp_ref


for _name, _formula, _gradient, _in_loss, _trl, _verl, _fn in (
    ("k1", r"d", r"1",
     "zero on average: E_π[∇log π] = 0, so k1 in the loss does not pull π toward π_ref at all (use it in the reward)",
     None, ("kl", "k1"), _k1),
    ("k2", r"\tfrac12 d^2", r"d",
     "the gradient of KL(π‖π_ref), the reverse KL, on average", None, ("mse", "k2"), _k2),
    ("k3", r"e^{-d} + d - 1", r"1 - e^{-d}",
     "the gradient of KL(π_ref‖π), the forward KL, on average", "beta > 0 (TRL's only estimator)",
     ("low_var_kl", "k3"), _k3),
    ("abs", r"|d|", r"\operatorname{sign}(d)",
     "the gradient of E_π|d|: pulls each token's log-ratio toward 0 with a constant force", None, ("abs",), _abs),
    ("k1+", r"d \;(\text{gradient of } \tfrac12 d^2)", r"d",
     "the value of k1 with k2's gradient: the reverse-KL gradient", None, ("k1+",), _k1_plus),
    ("k3+", r"e^{-d} + d - 1 \;(\text{gradient of } \tfrac12 d^2)", r"d",
     "the value of k3 with k2's gradient: the reverse-KL gradient", None, ("k3+",), _k3_plus),
):
    KL_ESTIMATORS_REGISTRY.add(_name, KLEstimator(_name, _formula, _gradient, _in_loss, _trl, _verl, _fn))

#: The names of :data:`KL_ESTIMATORS_REGISTRY`, in order.
KL_ESTIMATORS = KL_ESTIMATORS_REGISTRY.names()


def kl_estimate(logp: torch.Tensor, logp_ref: torch.Tensor, *, estimator: str = "k3") -> torch.Tensor:
    r"""Per-token estimate of :math:`\mathrm{KL}(\pi_\theta \,\|\, \pi_{ref})` from tokens sampled by :math:`\pi_\theta`.

    Differentiable: autograd gives the gradient of the estimator (for ``k1+``/``k3+`` the straight-through
    gradient of k2). See the module docstring for each estimator.

    Args:
        logp: ``(N, T)`` or any shape: log-probs of the sampled tokens under the policy.
        logp_ref: same shape: log-probs of the same tokens under the reference policy.
        estimator: a name of :data:`KL_ESTIMATORS`.

    Returns:
        A tensor of the shape of ``logp``.
    """
    KL_ESTIMATORS_REGISTRY.get(estimator, argument="estimator")
    logp = _checks.tensor("logp", logp)
    logp_ref = _checks.tensor("logp_ref", logp_ref)
    _checks.same_shape("logp_ref", logp_ref, "logp", logp)
    d = logp - logp_ref
    if estimator == "k1":
        return d
    if estimator == "k2":
        return 0.5 * d.square()
    if estimator == "abs":
        return d.abs()
    if estimator in ("k3", "k3+"):
        c = d.clamp(-LOG_RATIO_CLAMP, LOG_RATIO_CLAMP)
        value = torch.expm1(-c) + c
    else:
        value = d
    if estimator.endswith("+"):
        k2 = 0.5 * d.square()
        return k2 - k2.detach() + value.detach()
    return value


def kl_value_and_grad(
    logp: torch.Tensor, logp_ref: torch.Tensor, estimator: str, *, need_grad: bool
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """:func:`kl_estimate` and its derivative in ``logp``, without autograd.

    :func:`grpo_core.grpo_loss` uses this to build its gradient in the forward pass; a test checks it
    against autograd through :func:`kl_estimate`.
    """
    value, grad = KL_ESTIMATORS_REGISTRY.get(estimator).value_and_grad(logp, logp_ref)
    return value, (grad if need_grad else None)
