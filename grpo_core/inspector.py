r"""Every token, every number: the per-token view of one batch's loss (the token inspector).

The numbers come from :func:`grpo_core.loss_terms` with the same arguments the update used, so what the
inspector shows is what was trained (a test holds its gradients to autograd through ``grpo_loss``).

Shapes: ``N`` completions of the batch, ``T`` tokens; a group is ``G`` consecutive rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from grpo_core.loss import LossTerms, loss_terms
from grpo_core.registry import Registry


@dataclass(frozen=True)
class Quantity:
    """One thing the tokens can be coloured by.

    Attributes:
        name: registry key (also the URL value).
        label: what the legend says.
        neutral: the value the diverging colour scale is centred on (1 for the ratio, 0 for the rest).
        help: one plain sentence.
    """

    name: str
    label: str
    neutral: float
    help: str


QUANTITIES: Registry[Quantity] = Registry("quantity")
for _q in (
    Quantity("ratio", "ratio r = π/π_old", 1.0, "How much more (> 1) or less (< 1) likely the token is now than when it was sampled."),
    Quantity("log_ratio", "log-ratio log r", 0.0, "The log of the ratio: 0 on-policy."),
    Quantity("clip_side", "clip side (−1 low, 0 inside, +1 high)", 0.0, "Which side of the clip range holds the token, if any."),
    Quantity("advantage", "advantage Â", 0.0, "The completion's advantage, shared by all its tokens."),
    Quantity("kl", "per-token KL estimate", 0.0, "The KL estimator's value at this token."),
    Quantity("weight", "weight in the loss", 0.0, "What the aggregation multiplies this token's loss by."),
    Quantity("grad_policy", "∂L/∂log π, policy part", 0.0, "How hard the policy term pushes this token's log-prob (−: up)."),
    Quantity("grad_kl", "∂L/∂log π, KL part", 0.0, "How hard the KL term pulls this token's log-prob."),
    Quantity("grad", "∂L/∂log π, total", 0.0, "The total push on this token's log-prob; gradient descent moves against it."),
    Quantity("entropy", "policy entropy (nats)", 0.0, "How unsure the policy was at this position."),
):
    QUANTITIES.add(_q.name, _q)


@dataclass(frozen=True)
class UpdateInputs:
    """What one update's loss was computed from (all detached, ``(N, T)`` unless said)."""

    logp: torch.Tensor
    logp_old: torch.Tensor | None
    logp_ref: torch.Tensor | None
    rewards: torch.Tensor  # (B, G)
    mask: torch.Tensor
    entropy: torch.Tensor
    truncated: torch.Tensor | None  # (N,)
    settings: dict

    def terms(self) -> LossTerms:
        extra = {"entropy": self.entropy} if self.settings.get("top_entropy_quantile", 1.0) < 1 else {}
        return loss_terms(self.logp, self.logp_old, self.logp_ref, self.rewards, self.mask,
                          truncated=self.truncated, **extra, **self.settings)


def token_values(terms: LossTerms, quantity: str, entropy: torch.Tensor | None = None) -> torch.Tensor:
    """``(N, T)`` values of ``quantity`` (a name of :data:`QUANTITIES`) per token, 0 on padding."""
    QUANTITIES.get(quantity)
    real = terms.mask
    shape = real.shape
    if quantity in ("ratio", "log_ratio"):
        ratio = terms.ratio.expand(shape)
        values = ratio if quantity == "ratio" else ratio.log()
        return torch.where(real > 0, values, torch.ones_like(values) if quantity == "ratio" else 0.0)
    if quantity == "clip_side":
        return terms.clipped_high.to(real.dtype) - terms.clipped_low.to(real.dtype)
    if quantity == "advantage":
        return terms.advantages.expand(shape) * real
    if quantity == "kl":
        return torch.zeros_like(real) if terms.kl is None else terms.kl
    if quantity == "weight":
        return terms.policy_weight
    if quantity == "entropy":
        return torch.zeros_like(real) if entropy is None else entropy * real
    return getattr(terms, quantity) * real


PADDING = "Padding: this position is past the end of the completion and is not in the loss."
#: What a sentence reads of a token, after the quantities in a :class:`TokenTable`'s last dimension.
SENTENCE_FIELDS = ("mask", "ratio", "grad_kl", "policy_weight", "clipped_high", "clipped_low", "flat", "grad_policy")


@dataclass(frozen=True)
class TokenTable:
    """Every per-token number of one update that the inspector shows or explains, as one tensor, so that a
    group's rows are read with one indexing (a grid would otherwise read some seventy small tensors).

    Attributes:
        quantities: the :data:`QUANTITIES` names in ``values[..., :Q]`` (``entropy`` only where it is known).
        values: ``(N, T, Q + 8)``: each quantity (:func:`token_values`, ``-0`` made ``0``), then the
            :data:`SENTENCE_FIELDS` (flags as 0/1), in the dtype of the terms, on the CPU (whatever the
            terms' device).
        advantages: ``(N,)`` each completion's advantage.
        finite: ``(N,)`` bool, whether all of a row's numbers are finite (a diverged step's are not).
    """

    quantities: tuple[str, ...]
    values: torch.Tensor
    advantages: torch.Tensor
    finite: torch.Tensor

    def read(self, rows: Sequence[int]) -> tuple[dict[str, list[list[float]]], list[list[list[float]]], list[float], bool]:
        """``rows``' numbers as Python lists: ``{quantity: [R][T]}``, the sentence fields ``[R][T][8]``, the
        advantages ``[R]``, and whether all of them are finite."""
        rows = list(rows)
        q = len(self.quantities)
        values = self.values[rows]
        shown = values[..., :q].permute(2, 0, 1).tolist()
        return (dict(zip(self.quantities, shown)), values[..., q:].tolist(), self.advantages[rows].tolist(),
                bool(self.finite[rows].all()))

    def points(self, rows: Sequence[int]) -> torch.Tensor:
        """``(P, Q)`` the quantities of ``rows``' real (unmasked) tokens, row by row: one line per token."""
        values = self.values[list(rows)]
        q = len(self.quantities)
        return values[values[..., q] > 0][:, :q]


def token_table(terms: LossTerms, entropy: torch.Tensor | None = None) -> TokenTable:
    """The :class:`TokenTable` of ``terms`` (and ``entropy`` ``(N, T)``, where known)."""
    shape = terms.mask.shape
    names = tuple(n for n in QUANTITIES.names() if entropy is not None or n != "entropy")
    flat = terms.flat if terms.flat is not None else torch.zeros(shape, dtype=torch.bool, device=terms.mask.device)
    dtype = terms.ratio.dtype
    fields = (terms.mask, terms.ratio, terms.grad_kl, terms.policy_weight, terms.clipped_high, terms.clipped_low,
              flat, terms.grad_policy)
    columns = [*(token_values(terms, name, entropy) for name in names), *fields]
    values = torch.stack([c.expand(shape).to(dtype) for c in columns], dim=-1) + 0.0  # + 0.0: -0.0 becomes 0.0
    # On the CPU, copied once: the table is read for display, group by group, and a read of a CUDA tensor
    # would wait for the GPU each time.
    values, advantages = values.cpu(), terms.advantages[:, 0].to(dtype).cpu()
    return TokenTable(names, values, advantages, values.isfinite().flatten(1).all(dim=1))


def explain_token(terms: LossTerms, row: int, position: int, *, epsilon: float, epsilon_high: float | None,
                  beta: float) -> str:
    """One sentence: which branch of the objective this token took, and why, with its numbers."""
    return explain_tokens(terms, [row], epsilon=epsilon, epsilon_high=epsilon_high, beta=beta)[0][position]


def explain_tokens(terms: LossTerms, rows: Sequence[int], *, epsilon: float, epsilon_high: float | None,
                   beta: float) -> list[list[str]]:
    """:func:`explain_token` for every position of each of ``rows``: ``[len(rows)][T]`` sentences."""
    _, fields, advantages, _ = token_table(terms).read(rows)
    return sentences(fields, advantages, epsilon=epsilon, epsilon_high=epsilon_high, beta=beta)


def sentences(fields: Sequence, advantages: Sequence[float], *, epsilon: float, epsilon_high: float | None,
              beta: float) -> list[list[str]]:
    """The sentences of rows read from a :class:`TokenTable` (``fields [R][T][8]``, ``advantages [R]``)."""
    high = epsilon if epsilon_high is None else epsilon_high
    return [[_sentence(*cell, a=a, epsilon=epsilon, high=high, beta=beta) if cell[0] else PADDING for cell in row]
            for row, a in zip(fields, advantages)]


def _sentence(mask: float, r: float, grad_kl: float, policy_weight: float, clipped_high: bool, clipped_low: bool,
              flat: bool, grad_policy: float, *, a: float, epsilon: float, high: float, beta: float) -> str:
    kl_part = f"; β·KL still pulls on it ({grad_kl:+.3g})" if beta > 0 else ""
    if policy_weight == 0:
        return "The entropy mask drops this token from the policy loss (it is not among the most uncertain)" + kl_part + "."
    if a == 0:
        return f"Â = 0 (the group's rewards were all equal): the policy term gives no gradient{kl_part}."
    if clipped_high and flat:
        return (f"ratio {r:.3g} > 1 + ε_high = {1 + high:.3g} with A = {a:+.2f}: the clipped term is the smaller "
                f"one, so its policy gradient is 0{kl_part or '; nothing else pulls on it'}.")
    if clipped_low and flat:
        return (f"ratio {r:.3g} < 1 − ε = {1 - epsilon:.3g} with A = {a:+.2f}: the clipped term is the smaller "
                f"one, so its policy gradient is 0{kl_part or '; nothing else pulls on it'}.")
    if clipped_high or clipped_low:
        return (f"ratio {r:.3g} is outside the clip range, but this objective clips only the stopped weight: "
                f"the token keeps a policy gradient ({grad_policy:+.3g}){kl_part}.")
    if flat:
        return (f"ratio {r:.3g} is above the dual-clip cap δ with A = {a:+.2f}: the capped term holds, so its "
                f"policy gradient is 0 (a negative advantage cannot push a token that grew this much further){kl_part}.")
    direction = "up" if a > 0 else "down"
    return (f"ratio {r:.3g} with A = {a:+.2f}: inside the trust region, the policy term pushes this token's "
            f"probability {direction} (∂L/∂log π = {grad_policy:+.3g}){kl_part}.")
