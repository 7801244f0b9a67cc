r"""Token aggregation: how per-token losses :math:`\ell_{i,t}` become one scalar, under verl's names.

Every aggregation is linear in the per-token loss, so it is fully described by one weight per token:

.. math::
    L = \sum_{i,t} w_{i,t}\,\ell_{i,t}, \qquad w_{i,t} = m_{i,t}\,s_i

with :math:`m` the mask and :math:`s_i` a per-completion scale (:func:`aggregation_weights`). The weight is
also what the token inspector shows as "the token's weight in the loss": a long answer's tokens weigh less
under ``seq-mean-token-mean`` (TRL ``loss_type="grpo"``) than under ``token-mean`` (``"dapo"``).

Sequence counts: verl leaves completions without real tokens out of its sequence means; TRL's
``"grpo"``/``"sapo"``/``"luspo"``/``"dr_grpo"`` divide by all ``N`` rows (``count_empty=True``). They differ
only when a row is fully masked (e.g. ``mask_truncated_completions``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from grpo_core.registry import Registry


@dataclass(frozen=True)
class Aggregation:
    """One ``loss_agg_mode``.

    Attributes:
        name: verl's ``loss_agg_mode``.
        idea: one plain sentence.
        formula: LaTeX of :math:`L` in terms of :math:`\\ell_{i,t}`, what the app shows.
        trl: the TRL ``loss_type`` values that aggregate this way (one process), or ``()``.
        length_bias: one plain sentence on how a completion's length changes its tokens' weight.
    """

    name: str
    idea: str
    formula: str
    trl: tuple[str, ...]
    length_bias: str


AGGREGATIONS: Registry[Aggregation] = Registry("loss_agg_mode")


def _add(name: str, **meta) -> None:
    AGGREGATIONS.add(name, Aggregation(name=name, **meta))


_add("token-mean",
     idea="Every real token of the batch counts the same: the mean over all of them.",
     formula=r"L = \frac{1}{\sum_{i}|o_i|}\sum_{i}\sum_{t=1}^{|o_i|} \ell_{i,t}",
     trl=("dapo", "bnpo", "cispo", "vespo"),
     length_bias="None per token: a completion weighs in proportion to its length.")
_add("token-sum",
     idea="The plain sum over real tokens: the loss grows with the batch and with lengths.",
     formula=r"L = \sum_{i}\sum_{t=1}^{|o_i|} \ell_{i,t}",
     trl=(),
     length_bias="None per token; the scale of the loss (and of the step) grows with the token count.")
_add("seq-mean-token-sum",
     idea="Sum each completion's tokens, then average over completions.",
     formula=r"L = \frac{1}{N}\sum_{i}\sum_{t=1}^{|o_i|} \ell_{i,t}",
     trl=("luspo",),
     length_bias="A completion weighs in proportion to its length; the loss scale grows with lengths.")
_add("seq-mean-token-mean",
     idea="Average each completion's tokens, then average over completions (DeepSeekMath's GRPO).",
     formula=r"L = \frac{1}{N}\sum_{i}\frac{1}{|o_i|}\sum_{t=1}^{|o_i|} \ell_{i,t}",
     trl=("grpo", "sapo"),
     length_bias="Each completion weighs the same, so each token of a long completion weighs less: a long "
                 "wrong answer is pushed down less per token (the length bias Dr. GRPO points out).")
_add("seq-mean-token-sum-norm",
     idea="Sum over tokens, divided by a constant: N times a fixed horizon (Dr. GRPO).",
     formula=r"L = \frac{1}{N\,C}\sum_{i}\sum_{t=1}^{|o_i|} \ell_{i,t},\quad C = \text{loss\_scale\_factor (default } T)",
     trl=("dr_grpo",),
     length_bias="None: every token weighs 1/(N·C) whatever the length of its completion.")


def aggregation_weights(
    name: str,
    mask: torch.Tensor,
    *,
    loss_scale_factor: float | None = None,
    count_empty: bool = False,
    lengths: torch.Tensor | None = None,
) -> torch.Tensor:
    r"""Per-completion scales :math:`s_i` with :math:`L = \sum_{i,t} m_{i,t}\,s_i\,\ell_{i,t}`.

    Args:
        name: a name of :data:`AGGREGATIONS`.
        mask: ``(N, T)`` float, 1 on real tokens and 0 on padding.
        loss_scale_factor: ``seq-mean-token-sum-norm``'s constant :math:`C` (> 0); ``None``: ``T``.
        count_empty: sequence means divide by all ``N`` rows (TRL) instead of the rows with a real token (verl).
        lengths: ``(N, 1)`` real tokens per row, if already computed (``mask.sum(-1, keepdim=True)``).

    Returns:
        ``(N, 1)`` scales in the dtype of ``mask``; ``weights = mask * scales``.
    """
    AGGREGATIONS.get(name)
    n, t = mask.shape
    if lengths is None:
        lengths = mask.sum(dim=-1, keepdim=True)
    if name == "token-mean":
        return (1.0 / lengths.sum().clamp(min=1)).expand(n, 1)
    if name == "token-sum":
        return torch.ones((n, 1), dtype=mask.dtype, device=mask.device)
    rows = torch.tensor(float(n), dtype=mask.dtype, device=mask.device) if count_empty else (lengths > 0).sum().to(mask.dtype)
    rows = rows.clamp(min=1)
    if name == "seq-mean-token-mean":
        return 1.0 / (lengths.clamp(min=1) * rows)
    if name == "seq-mean-token-sum":
        return (1.0 / rows).expand(n, 1)
    horizon = float(t if loss_scale_factor is None else loss_scale_factor)
    return (1.0 / (rows * horizon)).expand(n, 1)
