"""Reference formulas of TRL 1.16 ``GRPOTrainer`` and verl 0.9 ``core_algos``, written out in plain torch.

Tests compare ``grpo_core`` against these functions. Each one transcribes the arithmetic of one trainer
function (named, with its line, in its docstring), quirks included: the clamps, the eps values, what
counts in a denominator, empty rows, groups of one, and the dtypes of the constants. Gradients come
from autograd (``.detach()`` where the trainer stops one); nothing here differentiates by hand.

Every function was checked, outside this repository (TRL and verl are not test dependencies), against
the real trainer code: TRL 1.16.0's methods taken verbatim from grpo_trainer.py and run on a stand-in
``self``, verl 0.9.1's core_algos / torch_functional / losses imported with their heavy dependencies
stubbed. On random float64 inputs (several shapes, T = 1, padding, fully masked rows and batches,
groups of one, ties and equal-reward groups, NaN rewards, log-ratios up to +-30, bool/int/float
masks), values, logged metrics and autograd gradients were bit-for-bit equal.

Conventions: per-token tensors are ``(N, T)`` with ``mask (N, T)`` (1 / True on real tokens); TRL
advantages are one per completion, ``(N,)`` or ``(N, 1)`` (``(N, T)`` also broadcasts); verl advantages
are per token ``(N, T)``; ``G`` consecutive completions form a group (group id = row // G). TRL is
taken on one process with gradient_accumulation_steps = steps_per_generation = 1, no vLLM, no
off-policy mask, no entropy bonus; verl with dp_size = 1 and no rollout importance weights.

The same name, different numbers in TRL and verl (one line each):

- std eps: TRL divides by ``std + 1e-4``; verl GRPO by ``std + 1e-6`` (``epsilon``).
- Bessel factor: TRL's ``nanstd`` uses ``count / (count - 1)`` of integer counts, i.e. a float32 factor
  even on float64 rewards; verl GRPO uses ``torch.std`` (exact); verl ``masked_var`` again an integer
  ratio (float32) when the mask is bool/int.
- group of one: TRL gives advantage 0 (std := 0, r - mean = 0); verl GRPO uses mean 0, std 1, i.e.
  ``r / (1 + eps)``; verl RLOO and OPO leave the raw score; verl Pass@k raises.
- TRL ``scale_rewards="batch"``: group mean, batch std; verl GRPO has no batch mode (GDPO and REINFORCE++
  baseline whiten over all *tokens* instead, token-weighted, with eps 1e-8 under a square root).
- TRL unscorable completions (all reward funcs NaN) are left out of the group statistics and get
  advantage 0; verl has no NaN handling.
- "grpo" aggregation: TRL's per-sequence token mean then a mean over *all* N rows (empty rows count,
  as 0, denominator clamped to 1); verl seq-mean-token-mean divides by ``count + 1e-8`` and averages
  over *non-empty* rows only.
- token mean: TRL bnpo/dapo divide by ``max(tokens, 1)``; verl token-mean divides by the token count
  unclamped (0/0 = NaN with no tokens).
- Dr. GRPO: TRL divides by ``N * max_completion_length`` (empty rows count); verl
  seq-mean-token-sum-norm by ``(non-empty rows) * loss_scale_factor`` (default T).
- TRL luspo (sum of tokens, mean over all N rows) vs verl seq-mean-token-sum (mean over non-empty
  rows).
- ratio clamp: verl clamps the log-ratio to [-20, 20] before exp in vanilla, SAPO, CISPO (not in GPG,
  DRO, geo_mean, and only ``max=10`` in GSPO); TRL clamps nothing, except VESPO (log-ratio to [-20, 20],
  sequence log-weight to [log 1e-8, 20]).
- dual clip: verl vanilla caps the loss of negative-advantage tokens at ``-A * clip_ratio_c`` (3.0);
  TRL has no dual clip, only the one-sided ``delta`` cap on the unclipped ratio (two-sided GRPO).
- CISPO: TRL stops the gradient of ``min(ratio, epsilon_high)`` (upper cap only, epsilon_high is the
  cap itself, e.g. 5.0); verl of ``clip(ratio, 1 - clip_ratio_low, 1 + clip_ratio_high)`` (both sides).
  TRL logs the fraction with ratio > cap and A > 0; verl the fraction with ratio outside the range.
- GSPO / sequence level: TRL ``importance_sampling_level="sequence"`` differentiates exp(mean log-ratio)
  through the mean (every token gets 1/|y| of it) and aggregates as its loss_type says; verl GSPO
  uses ``sg[s_i] * pi / sg[pi]`` per token (gradient s_i * grad log pi_t), clamps the log at 10, and
  aggregates with loss_agg_mode.
- SAPO: TRL builds the temperatures with ``torch.where`` on Python floats (float32, so 1.05 is rounded),
  no ratio clamp, TRL's "grpo" aggregation; verl uses the advantages' dtype, clamps the log-ratio to
  [-20, 20] and always aggregates seq-mean-token-mean. Both use tau_pos for A > 0 and tau_neg for
  A <= 0.
- KL k3: TRL ``exp(ref - logp) - (ref - logp) - 1`` unclamped, added per token as ``beta * kl`` before
  the loss_type's aggregation (optionally times the ratio, with gradient); verl ``low_var_kl`` clamps
  ``ref - logp`` to [-20, 20] and the value to [-10, 10], and adds ``kl_loss_coef * agg_loss(kl)``.
- masked sums: verl ``masked_sum`` zeroes padded positions with ``where`` (NaN/inf there vanish); TRL
  and verl's seq-mean modes multiply by the mask (NaN * 0 = NaN).
- metrics: TRL's clip ratios are token means over the mask (a mean over rows when the tensor has one
  column, e.g. sequence level, or T = 1); verl's masked_mean divides by ``tokens + 1e-8``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

# ============================================================================= TRL 1.16 GRPOTrainer

TRL_LOSS_TYPES = ("grpo", "bnpo", "dr_grpo", "dapo", "cispo", "sapo", "luspo", "vespo")


def trl_nanstd(x: torch.Tensor, dim: int | None = None) -> torch.Tensor:
    """``trl.trainer.utils.nanstd`` (utils.py line 1021): NaN-ignoring std with Bessel's correction.

    The correction is ``count / (count - 1)`` of the *integer* count of non-NaN values, so it is a
    float32 number even for float64 ``x``. One value (or none) gives NaN.
    """
    mean = torch.nanmean(x, dim=dim, keepdim=True)
    var = torch.nanmean((x - mean) ** 2, dim=dim, keepdim=True)
    count = (~torch.isnan(x)).sum(dim=dim, keepdim=True)
    factor = torch.where(count > 1, count / (count - 1), torch.full_like(count / 1, float("nan")))
    std = torch.sqrt(var * factor)
    return std.squeeze() if dim is None else std.squeeze(dim)


def trl_advantages(
    rewards_per_func: torch.Tensor,
    reward_weights: Sequence[float] | torch.Tensor,
    num_generations: int,
    *,
    scale_rewards: str | bool = "group",
    multi_objective_aggregation: str = "sum_then_normalize",
) -> torch.Tensor:
    """Advantages of ``GRPOTrainer._generate_and_score_completions`` (grpo_trainer.py lines 2755-2806).

    ``rewards_per_func`` is ``(N, K)`` (NaN where a reward function returned None), groups are
    ``num_generations`` consecutive rows. Returns ``(N,)``.

    - ``sum_then_normalize``: r = nansum_k(w_k r_k) (NaN if every r_k is NaN); A = r - group mean, divided
      by ``std + 1e-4`` unless ``scale_rewards == "none"``; std is the group nanstd ("group"; 0 when
      G = 1) or the batch nanstd ("batch"; 0 for a single completion). The mean is always per group.
    - ``normalize_then_sum``: each function is normalised in its group, ``(r_k - mean_k) / (std_k + 1e-4)``
      (std_k = 0 when G = 1), summed with the weights (NaN terms skipped), then the sum is normalised
      over the whole batch; ``scale_rewards`` plays no part.
    - Finally NaN advantages (unscorable completions, groups whose std is NaN) become 0.

    The weights are stored as float32 by the trainer (``torch.tensor(args.reward_weights,
    dtype=torch.float32)``), so 0.1 is 0.100000001...; this function does the same. ``scale_rewards``
    True / False mean "group" / "none" (GRPOConfig.__post_init__).
    """
    scale = {True: "group", False: "none"}.get(scale_rewards, scale_rewards)
    if scale not in ("group", "batch", "none"):
        raise ValueError(f"scale_rewards must be 'group', 'batch' or 'none', not {scale_rewards!r}")
    rpf = rewards_per_func
    weights = torch.as_tensor(reward_weights, dtype=torch.float32).to(rpf.device)
    G = num_generations
    unscorable = torch.isnan(rpf).all(dim=1)
    nan = torch.tensor(float("nan"), dtype=rpf.dtype, device=rpf.device)

    if multi_objective_aggregation == "sum_then_normalize":
        r = torch.where(unscorable, nan, (rpf * weights).nansum(dim=1))
        group_mean = torch.nanmean(r.view(-1, G), dim=1).repeat_interleave(G)
        if scale in ("group", "none"):
            std = trl_nanstd(r.view(-1, G), dim=1).repeat_interleave(G) if G > 1 else torch.zeros_like(r)
        else:
            std = trl_nanstd(r).expand_as(r) if r.numel() > 1 else torch.zeros_like(r)
        adv = r - group_mean
        if scale != "none":
            adv = adv / (std + 1e-4)
    elif multi_objective_aggregation == "normalize_then_sum":
        K = rpf.shape[1]
        grouped = rpf.view(-1, G, K)
        mean_k = torch.nanmean(grouped, dim=1, keepdim=True)
        std_k = trl_nanstd(grouped, dim=1).unsqueeze(1) if G > 1 else torch.zeros_like(mean_k)
        z = ((grouped - mean_k) / (std_k + 1e-4)).view(-1, K)
        r = torch.where(unscorable, nan, (z * weights).nansum(dim=1))
        std = trl_nanstd(r).expand_as(r) if r.numel() > 1 else torch.zeros_like(r)
        adv = (r - torch.nanmean(r)) / (std + 1e-4)
    else:
        raise ValueError(f"unknown multi_objective_aggregation {multi_objective_aggregation!r}")
    return torch.nan_to_num(adv, nan=0.0)


def trl_high_entropy_mask(entropies: torch.Tensor, mask: torch.Tensor, threshold: float) -> torch.Tensor:
    """``GRPOTrainer.get_high_entropy_mask`` (grpo_trainer.py line 1380), one process.

    The cut is ``torch.quantile`` (linear interpolation) of the real tokens' entropies, computed in
    float32; a token is kept when its entropy is >= the cut (ties kept) and it is a real token. No real
    token at all: nothing kept.
    """
    real = entropies[mask.bool()].float()
    if real.numel() == 0:
        return torch.zeros_like(entropies, dtype=torch.bool)
    cut = torch.quantile(real, threshold)
    return ((entropies * mask.float()) >= cut) & mask.bool()


def trl_vespo_phi(
    advantages: torch.Tensor,
    log_ratio: torch.Tensor,
    mask: torch.Tensor,
    k_pos: float = 2.0,
    lambda_pos: float = 3.0,
    k_neg: float = 3.0,
    lambda_neg: float = 2.0,
) -> torch.Tensor:
    """``GRPOTrainer.get_gamma_weights`` (grpo_trainer.py line 2971), without vLLM ratios. No gradient.

    w = exp(clamp(sum_t clamp(log r_t, -20, 20), log 1e-8, 20)) over the real tokens of a sequence, and
    phi(w) = exp(lambda + k log w - lambda w) (so phi(1) = 1), with (k, lambda) = (k_pos, lambda_pos) when
    A >= 0, else the negative pair; lambda is clamped to >= 1e-4; NaN / inf become 0. k and lambda come
    from ``torch.where`` on Python floats, hence float32. Shape ``(N, 1)`` for ``(N, 1)`` advantages.
    """
    with torch.no_grad():
        lo = math.log(1e-8)
        seq_log_w = (torch.clamp(log_ratio, -20.0, 20.0) * mask).sum(dim=-1, keepdim=True)
        log_w = torch.clamp(seq_log_w, lo, 20.0)
        w = torch.exp(log_w)
        nonneg = advantages >= 0
        k = torch.where(nonneg, k_pos, k_neg)
        lam = torch.where(nonneg, lambda_pos, lambda_neg).clamp(min=1e-4)
        return torch.exp(lam + k * log_w - lam * w).nan_to_num(nan=0.0, posinf=0.0, neginf=0.0)


def _trl_masked_mean_metric(x: torch.Tensor, mask: torch.Tensor) -> float:
    """``global_masked_mean`` inside ``_compute_loss`` (line 3259): one value per row when x has one column."""
    if x.shape[1] == 1:
        return (x.sum() / torch.tensor(float(x.shape[0])).clamp(min=1.0)).item()
    return ((x * mask).sum() / mask.sum().float().clamp(min=1.0)).item()


def trl_loss(
    logp: torch.Tensor,
    old: torch.Tensor | None,
    ref: torch.Tensor | None,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    *,
    loss_type: str,
    beta: float = 0.0,
    epsilon_low: float = 0.2,
    epsilon_high: float = 0.2,
    delta: float | None = None,
    importance_sampling_level: str = "token",
    use_bias_correction_kl: bool = False,
    sapo_temperature_pos: float = 1.0,
    sapo_temperature_neg: float = 1.05,
    vespo_k_pos: float = 2.0,
    vespo_lambda_pos: float = 3.0,
    vespo_k_neg: float = 3.0,
    vespo_lambda_neg: float = 2.0,
    max_completion_length: int | None = None,
    entropies: torch.Tensor | None = None,
    top_entropy_quantile: float = 1.0,
) -> tuple[torch.Tensor, dict[str, float]]:
    """``GRPOTrainer._compute_loss`` (grpo_trainer.py lines 3020-3290): loss and the metrics it logs.

    ``old=None`` means on-policy (``old = logp.detach()``, as the trainer does); ``ref`` is needed when
    ``beta != 0``; ``max_completion_length`` defaults to T here (the trainer reads
    ``args.max_completion_length``, default 512); ``entropies`` only for ``top_entropy_quantile < 1``.

    Per token, with log r = logp - old (or, at sequence level, its masked mean over the row, denominator
    clamped to 1, differentiated through the mean) and r = exp(log r):

    - grpo / bnpo / dr_grpo / dapo / luspo: ``-min(r' A, clip(r, 1 - eps_low, 1 + eps_high) A)`` with
      r' = min(r, delta) when ``delta`` is set (clip computed from the uncapped r);
    - cispo: ``-sg[min(r, epsilon_high)] * A * logp``;
    - sapo: ``-sigmoid(tau (r - 1)) * 4 / tau * A``, tau = pos if A > 0 else neg (float32 constants);
    - vespo: ``-phi(w) * A * logp`` with the stopped gamma weight of :func:`trl_vespo_phi`;

    times the high-entropy mask (if any), plus ``beta * kl`` with kl = exp(ref - logp) - (ref - logp) - 1
    (times r, with its gradient, when ``use_bias_correction_kl``). Aggregation (M = mask):

    - grpo, sapo: mean over all N rows of sum(L M) / max(sum M, 1) per row;
    - bnpo, dapo, cispo, vespo: sum(L M) / max(sum M, 1) (dapo/cispo/vespo: num_items_in_batch =
      sum M on one process without accumulation);
    - dr_grpo: sum(L M) / (N * max_completion_length);
    - luspo: mean over all N rows of sum_t(L M).

    Metrics, as logged: ``kl`` (beta != 0); ``clip_ratio/low_mean`` (r < 1 - eps_low and A < 0),
    ``clip_ratio/high_mean`` (r > 1 + eps_high and A > 0), ``clip_ratio/region_mean`` (either) for the
    clipped types, measured on the delta-capped r; ``cispo_clip_ratio`` (r > epsilon_high and A > 0);
    ``vespo/phi_seq_mean``. Token means over M; one column means a plain mean over the N rows.
    """
    if loss_type not in TRL_LOSS_TYPES:
        raise ValueError(f"unknown loss_type {loss_type!r}")
    m = mask
    A = advantages.unsqueeze(1) if advantages.dim() == 1 else advantages
    old = logp.detach() if old is None else old
    log_ratio = logp - old
    if importance_sampling_level == "token":
        log_w = log_ratio
    elif importance_sampling_level == "sequence":
        log_w = ((log_ratio * m).sum(-1) / m.sum(-1).clamp(min=1.0)).unsqueeze(-1)
    else:
        raise ValueError(f"unknown importance_sampling_level {importance_sampling_level!r}")
    r = torch.exp(log_w)

    kl = None
    if beta != 0.0:
        kl = torch.exp(ref - logp) - (ref - logp) - 1  # (ref - logp) twice, as TRL: same gradient sum order
        if use_bias_correction_kl:
            kl = kl * r

    phi = None
    if loss_type == "cispo":
        L = -torch.clamp(r, max=epsilon_high).detach() * A * logp
    elif loss_type in ("grpo", "bnpo", "dr_grpo", "dapo", "luspo"):
        r_clipped = torch.clamp(r, 1 - epsilon_low, 1 + epsilon_high)
        if delta is not None:
            r = torch.clamp(r, max=delta)
        L = -torch.min(r * A, r_clipped * A)
    elif loss_type == "sapo":
        tau = torch.where(A > 0, sapo_temperature_pos, sapo_temperature_neg)  # float32, as in TRL
        L = -(torch.sigmoid(tau * (r - 1)) * 4 / tau) * A
    else:  # vespo
        phi = trl_vespo_phi(A, log_ratio, m, vespo_k_pos, vespo_lambda_pos, vespo_k_neg, vespo_lambda_neg)
        L = -phi * A * logp

    if top_entropy_quantile < 1.0:
        L = L * trl_high_entropy_mask(entropies, m, 1 - top_entropy_quantile)
    if kl is not None:
        L = L + beta * kl

    if loss_type in ("grpo", "sapo"):
        loss = ((L * m).sum(-1) / m.sum(-1).clamp(min=1.0)).mean()
    elif loss_type in ("bnpo", "dapo", "cispo", "vespo"):
        loss = (L * m).sum() / m.sum().clamp(min=1.0)
    elif loss_type == "dr_grpo":
        T_max = m.shape[1] if max_completion_length is None else max_completion_length
        loss = (L * m).sum() / (L.size(0) * T_max)
    else:  # luspo
        loss = (L * m).sum(-1).mean()

    metrics: dict[str, float] = {}
    if kl is not None:
        metrics["kl"] = _trl_masked_mean_metric(kl.detach(), m)
    with torch.no_grad():
        if loss_type in ("grpo", "bnpo", "dr_grpo", "dapo", "luspo"):
            low = (r < 1 - epsilon_low) & (A < 0)
            high = (r > 1 + epsilon_high) & (A > 0)
            metrics["clip_ratio/low_mean"] = _trl_masked_mean_metric(low.float(), m)
            metrics["clip_ratio/high_mean"] = _trl_masked_mean_metric(high.float(), m)
            metrics["clip_ratio/region_mean"] = _trl_masked_mean_metric((low | high).float(), m)
        elif loss_type == "cispo":
            metrics["cispo_clip_ratio"] = _trl_masked_mean_metric(((r > epsilon_high) & (A > 0)).float(), m)
        elif loss_type == "vespo":
            metrics["vespo/phi_seq_mean"] = _trl_masked_mean_metric(phi, m)
    return loss, metrics


# ============================================================================= verl 0.9 core_algos

VERL_AGG_MODES = ("token-mean", "token-sum", "seq-mean-token-sum", "seq-mean-token-mean", "seq-mean-token-sum-norm")
VERL_POLICY_LOSSES = ("vanilla", "gspo", "sapo", "gpg", "geo_mean", "dro", "cispo")
VERL_ADVANTAGES = ("grpo", "rloo", "reinforce_plus_plus_baseline", "grpo_passk", "opo", "gdpo")
VERL_KL = ("k1", "kl", "abs", "k2", "mse", "k3", "low_var_kl", "k1+", "kl+", "abs+", "k2+", "mse+", "k3+", "low_var_kl+")


def verl_masked_sum(values: torch.Tensor, mask: torch.Tensor, dim: int | None = None) -> torch.Tensor:
    """``verl_F.masked_sum`` (torch_functional.py line 273): padded entries are zeroed by ``where`` first."""
    kept = torch.where(mask.bool(), values, 0.0) * mask
    return kept.sum() if dim is None else kept.sum(dim=dim)


def verl_masked_mean(values: torch.Tensor, mask: torch.Tensor, dim: int | None = None) -> torch.Tensor:
    """``verl_F.masked_mean`` (torch_functional.py line 294): masked sum / (mask count + 1e-8).

    The ``+ 1e-8`` is done in the mask's dtype: a bool/int count becomes float32 (where 1e-8 vanishes
    for counts >= 1), a float64 mask keeps it.
    """
    count = mask.sum() if dim is None else mask.sum(dim=dim)
    return verl_masked_sum(values, mask, dim) / (count + 1e-8)


def verl_masked_var(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``verl_F.masked_var`` (torch_functional.py line 311), unbiased: raises with fewer than 2 tokens.

    The Bessel factor ``n / (n - 1)`` is computed on the mask count (float32 for a bool/int mask).
    """
    mean = verl_masked_mean(values, mask)
    var = verl_masked_mean((values - mean) ** 2, mask)
    n = mask.sum()
    if n == 0:
        raise ValueError("At least one element in the mask has to be 1.")
    if n == 1:
        raise ValueError("The sum of the mask is one, which can cause a division by zero.")
    return var * (n / (n - 1))


def verl_masked_whiten(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``verl_F.masked_whiten`` (torch_functional.py line 329), shift_mean=True: (x - mean) / sqrt(var + 1e-8)."""
    mean, var = verl_masked_mean(values, mask), verl_masked_var(values, mask)
    return (values - mean) * torch.rsqrt(var + 1e-8)


def verl_agg_loss(
    loss_mat: torch.Tensor, mask: torch.Tensor, mode: str, loss_scale_factor: float | None = None
) -> torch.Tensor:
    """``core_algos.agg_loss`` (core_algos.py line 1140) with dp_size = 1 and no global batch info.

    - token-mean: masked sum / number of real tokens (not clamped: no token gives NaN);
    - token-sum: masked sum;
    - seq-mean-token-sum: per-row sum of ``L * M``, averaged over the rows with at least one token;
    - seq-mean-token-sum-norm: the same, divided by ``loss_scale_factor`` (None: T, the padded width);
    - seq-mean-token-mean: per-row ``sum(L * M) / (count + 1e-8)``, averaged over non-empty rows.
    """
    if mode == "token-mean":
        return verl_masked_sum(loss_mat, mask) / mask.sum()
    if mode == "token-sum":
        return verl_masked_sum(loss_mat, mask)
    if mode in ("seq-mean-token-sum", "seq-mean-token-sum-norm"):
        seq = (loss_mat * mask).sum(dim=-1)
        nonempty = (mask.sum(dim=-1) > 0).float()
        loss = verl_masked_sum(seq, nonempty) / nonempty.sum()
        if mode == "seq-mean-token-sum-norm":
            loss = loss / (mask.shape[-1] if loss_scale_factor is None else loss_scale_factor)
        return loss
    if mode == "seq-mean-token-mean":
        count = mask.sum(dim=-1)
        seq = (loss_mat * mask).sum(dim=-1) / (count + 1e-8)
        nonempty = (count > 0).float()
        return verl_masked_sum(seq, nonempty) / nonempty.sum()
    raise ValueError(f"unknown loss_agg_mode {mode!r}")


def verl_policy_loss(
    name: str,
    old: torch.Tensor,
    logp: torch.Tensor,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    *,
    loss_agg_mode: str = "token-mean",
    clip_ratio: float = 0.2,
    clip_ratio_low: float | None = None,
    clip_ratio_high: float | None = None,
    clip_ratio_c: float = 3.0,
    tau_pos: float = 1.0,
    tau_neg: float = 1.05,
    dro_beta: float | None = None,
    loss_scale_factor: float | None = None,
) -> tuple[torch.Tensor, dict[str, float]]:
    """verl's registered policy losses, ``compute_policy_loss_<name>`` in core_algos.py.

    ``clip_ratio_low/high`` default to ``clip_ratio``; ``loss_scale_factor`` is what the actor passes to
    ``agg_loss`` through ``config.global_batch_info``. With ``d = logp - old`` per token:

    - vanilla (line 1285): d clamped to [-20, 20], r = e^d; PPO ``max(-A r, -A clip(r, 1-lo, 1+hi))``,
      and for A < 0 additionally ``min(., -A * clip_ratio_c)`` (dual clip; clip_ratio_c must be > 1).
      pg_clipfrac: clipped term larger; pg_clipfrac_lower: dual cap active (A < 0).
    - gspo (line 1545): log s = logp - sg[logp] + sg[masked mean of d, length clamped to 1], clamped to
      max 10; PPO clip on s (no dual clip); pg_clipfrac as vanilla, pg_clipfrac_lower 0.
    - sapo (line 1622): d clamped to [-20, 20]; ``-sigmoid(tau (r - 1)) * 4 / tau * A``, tau_pos if A > 0
      else tau_neg; always seq-mean-token-mean; both clip fractions 0.
    - gpg (line 1707): ``-logp * A``; no metrics.
    - geo_mean (line 1928): no clamp; per token, d is clipped to [-lo, hi] only on the side that helps
      (``sign(A) * min(sign(A) d, sign(A) clip(d))``; A = 0 drops the token from the sum); ratio =
      exp(sum(d' M) / (count + 1e-8)), advantage = sum(A M) / (count + 1e-8); loss = plain mean over all
      N rows of ``-A r``, whatever loss_agg_mode says. Clip fractions: d outside [-lo, hi] with A > 0 / A < 0.
    - dro (line 2014): ``-(logp A - dro_beta / 2 * d^2)`` (dro_beta > 0 required); only ppo_kl.
    - cispo (line 2047): d clamped to [-20, 20]; ``-sg[clip(r, 1-lo, 1+hi)] * A * logp``; pg_clipfrac:
      r outside the range; pg_clipfrac_lower 0.

    ``actor/ppo_kl`` is the masked mean of -d (clamped where the loss clamps it, except GSPO, whose d is
    raw). Masked means divide by (count + 1e-8).
    """
    lo = clip_ratio if clip_ratio_low is None else clip_ratio_low
    hi = clip_ratio if clip_ratio_high is None else clip_ratio_high
    A = advantages

    def agg(mat: torch.Tensor, mode: str = loss_agg_mode) -> torch.Tensor:
        return verl_agg_loss(mat, mask, mode, loss_scale_factor)

    def out(loss: torch.Tensor, clipfrac, ppo_kl, clipfrac_lower) -> tuple[torch.Tensor, dict[str, float]]:
        return loss, {
            "actor/pg_clipfrac": float(clipfrac),
            "actor/ppo_kl": float(ppo_kl),
            "actor/pg_clipfrac_lower": float(clipfrac_lower),
        }

    if name == "vanilla":
        if not clip_ratio_c > 1.0:
            raise ValueError("clip_ratio_c must be > 1")
        d = torch.clamp(logp - old, -20.0, 20.0)
        r = torch.exp(d)
        unclipped = -A * r
        clipped = -A * torch.clamp(r, 1 - lo, 1 + hi)
        ppo = torch.maximum(unclipped, clipped)
        cap = -A * clip_ratio_c
        loss_mat = torch.where(A < 0, torch.min(cap, ppo), ppo)
        with torch.no_grad():
            clipfrac = verl_masked_mean((clipped > unclipped).float(), mask)
            lower = verl_masked_mean((ppo > cap).float() * (A < 0).float(), mask)
            kl = verl_masked_mean(-d, mask)
        return out(agg(loss_mat), clipfrac, kl, lower)

    if name == "gspo":
        d = logp - old
        length = mask.sum(dim=-1).clamp(min=1)
        seq_d = (d * mask).sum(dim=-1) / length
        log_s = torch.clamp(logp - logp.detach() + seq_d.detach().unsqueeze(-1), max=10.0)
        s = torch.exp(log_s)
        unclipped = -A * s
        clipped = -A * torch.clamp(s, 1 - lo, 1 + hi)
        loss_mat = torch.maximum(unclipped, clipped)
        with torch.no_grad():
            clipfrac = verl_masked_mean((clipped > unclipped).float(), mask)
            kl = verl_masked_mean(-d, mask)
        return out(agg(loss_mat), clipfrac, kl, 0.0)

    if name == "sapo":
        d = torch.clamp(logp - old, -20.0, 20.0)
        r = torch.exp(d)
        tau = torch.where(
            A > 0,
            torch.as_tensor(tau_pos, dtype=A.dtype, device=A.device),
            torch.as_tensor(tau_neg, dtype=A.dtype, device=A.device),
        )
        loss_mat = -(torch.sigmoid(tau * (r - 1.0)) * (4.0 / tau)) * A
        with torch.no_grad():
            kl = verl_masked_mean(-d, mask)
        return out(agg(loss_mat, "seq-mean-token-mean"), 0.0, kl, 0.0)

    if name == "gpg":
        return agg(-logp * A), {}

    if name == "geo_mean":
        d = logp - old
        sign = torch.sign(A)
        d_clip = torch.clamp(d, -lo, hi)
        d_used = sign * torch.min(sign * d, sign * d_clip)
        count = mask.sum(dim=-1)
        ratio = torch.exp((d_used * mask).sum(dim=-1) / (count + 1e-8))
        seq_adv = (A * mask).sum(dim=-1) / (count + 1e-8)
        loss = torch.mean(-seq_adv * ratio)
        with torch.no_grad():
            outside = d != d_clip
            clipfrac = verl_masked_mean((outside * (A > 0)).float(), mask)
            lower = verl_masked_mean((outside * (A < 0)).float(), mask)
            kl = verl_masked_mean(-d, mask)
        return out(loss, clipfrac, kl, lower)

    if name == "dro":
        if dro_beta is None or dro_beta <= 0:
            raise ValueError("dro_beta must be a positive value when using DRO")
        d = logp - old
        loss_mat = -(logp * A - 0.5 * dro_beta * d.square())
        return agg(loss_mat), {"actor/ppo_kl": float(verl_masked_mean(-d.detach(), mask))}

    if name == "cispo":
        d = torch.clamp(logp - old, -20.0, 20.0)
        r = torch.exp(d)
        r_clip = torch.clamp(r, 1 - lo, 1 + hi)
        loss_mat = -r_clip.detach() * A * logp
        with torch.no_grad():
            clipfrac = verl_masked_mean((r != r_clip).float(), mask)
            kl = verl_masked_mean(-d, mask)
        return out(agg(loss_mat), clipfrac, kl, 0.0)

    raise ValueError(f"unknown policy loss {name!r}")


def verl_kl_penalty(logp: torch.Tensor, ref: torch.Tensor, kind: str) -> torch.Tensor:
    """``core_algos.kl_penalty`` / ``kl_penalty_forward`` (core_algos.py lines 2188-2240), per token.

    With d = logp - ref: k1/kl = d; abs = |d|; k2/mse = d^2 / 2; k3/low_var_kl = e^x - x - 1 with
    x = clamp(-d, -20, 20), the result clamped to [-10, 10]. A trailing '+' keeps the value of the base
    estimator and takes the gradient of k2 (straight through); 'k2+' is plain k2.
    """
    base = kind[:-1] if kind.endswith("+") else kind
    d = logp - ref
    if base in ("kl", "k1"):
        value = d
    elif base == "abs":
        value = d.abs()
    elif base in ("mse", "k2"):
        value = 0.5 * d.square()
    elif base in ("low_var_kl", "k3"):
        x = torch.clamp(-d, -20.0, 20.0)
        value = torch.clamp(torch.exp(x) - x - 1, -10.0, 10.0)
    else:
        raise NotImplementedError(f"kl_penalty {kind!r}")
    if not kind.endswith("+") or kind in ("mse", "k2"):
        return value
    k2 = 0.5 * d.square()
    return k2 - k2.detach() + value.detach()


def verl_total_loss(
    name: str,
    old: torch.Tensor,
    logp: torch.Tensor,
    ref: torch.Tensor | None,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    *,
    loss_agg_mode: str = "token-mean",
    use_kl_loss: bool = True,
    kl_loss_type: str = "low_var_kl",
    kl_loss_coef: float = 0.001,
    entropy: torch.Tensor | None = None,
    entropy_coeff: float = 0.0,
    loss_scale_factor: float | None = None,
    **policy_kwargs,
) -> tuple[torch.Tensor, dict[str, float]]:
    """The actor loss of ``verl.workers.utils.losses.ppo_loss`` (losses.py lines 60-145), dp_size = 1.

    The mask is cast to bool (as losses.py does), then ``policy_loss(name) - entropy_coeff *
    agg_loss(entropy)`` (when entropies are given) ``+ kl_loss_coef * agg_loss(kl_penalty(logp, ref,
    kl_loss_type))`` (when ``use_kl_loss``), every ``agg_loss`` with ``loss_agg_mode`` and
    ``loss_scale_factor``. Returns the loss and the policy loss's metrics plus ``kl_loss``.
    """
    mask = mask.to(torch.bool)
    loss, metrics = verl_policy_loss(
        name, old, logp, advantages, mask, loss_agg_mode=loss_agg_mode, loss_scale_factor=loss_scale_factor,
        **policy_kwargs,
    )
    metrics = dict(metrics)
    if entropy is not None:
        loss = loss - entropy_coeff * verl_agg_loss(entropy, mask, loss_agg_mode, loss_scale_factor)
    if use_kl_loss:
        kl_loss = verl_agg_loss(verl_kl_penalty(logp, ref, kl_loss_type), mask, loss_agg_mode, loss_scale_factor)
        loss = loss + kl_loss * kl_loss_coef
        metrics["kl_loss"] = float(kl_loss.detach())
    return loss, metrics


def _groups(index: int | Sequence, n: int) -> dict:
    """Group id -> row numbers, in order of first appearance; an int G means id = row // G."""
    ids = [i // index for i in range(n)] if isinstance(index, int) else list(index)
    groups: dict = {}
    for row, gid in enumerate(ids):
        groups.setdefault(gid, []).append(row)
    return groups


def _verl_grpo_scores(scores: torch.Tensor, groups: dict, epsilon: float, norm: bool) -> torch.Tensor:
    """``compute_grpo_outcome_advantage`` per completion: (s - mean) / (std + eps), std unbiased;
    a group of one has mean 0 and std 1."""
    out = scores.clone()
    for rows in groups.values():
        vals = scores[rows]
        if len(rows) == 1:
            mean, std = torch.tensor(0.0), torch.tensor(1.0)
        else:
            mean, std = vals.mean(), vals.std()
        out[rows] = (vals - mean) / (std + epsilon) if norm else vals - mean
    return out


def verl_advantages(
    name: str,
    scores: torch.Tensor,
    mask: torch.Tensor,
    index: int | Sequence,
    *,
    epsilon: float = 1e-6,
    norm_adv_by_std_in_grpo: bool = True,
    score_list: Sequence[torch.Tensor] | None = None,
    weights: Sequence[float] | None = None,
) -> torch.Tensor:
    """verl's outcome advantage estimators (core_algos.py), per token ``(N, T)`` (zero on padding).

    ``scores (N,)`` is the sum over the row of token_level_rewards; ``index`` is G (groups of G
    consecutive rows) or one group id per row. Groups are taken in order of first appearance.

    - grpo (line 267): (s - mean) / (std + eps) with the unbiased std (or s - mean); group of one:
      mean 0, std 1, so s / (1 + eps).
    - gdpo (line 361): the GRPO advantage of each reward component (``score_list``, read as float32 like
      verl's np.float32 path; None means the one component ``scores`` in its own dtype), summed with
      float32 ``weights`` (default 1), then :func:`verl_masked_whiten` over all real tokens, times mask.
      The trainer (ray_trainer.compute_advantage) never passes norm_adv_by_std_in_grpo, so it is True there.
    - grpo_passk (line 471): only the best completion of each group gets (max - second max), divided by
      (std + eps) when normalising; ties give 0; a group of one raises ValueError.
    - reinforce_plus_plus_baseline (line 533): s - group mean (group of one: mean 0), broadcast over the
      real tokens, whitened over all real tokens, times mask; ``epsilon`` unused.
    - rloo (line 587): ``s n / (n - 1) - mean n / (n - 1)`` (leave-one-out); group of one: s unchanged.
    - opo (line 639): s - length-weighted group mean ``sum(len s) / sum(len)`` (len = real tokens);
      group of one: s unchanged; a group with no tokens at all gives NaN.
    """
    n = scores.shape[0]
    groups = _groups(index, n)
    if name == "grpo":
        adv = _verl_grpo_scores(scores, groups, epsilon, norm_adv_by_std_in_grpo)
        return adv.unsqueeze(-1) * mask
    if name == "gdpo":
        if score_list is None:
            comps = [scores]
        else:
            comps = [torch.as_tensor(c, dtype=torch.float32, device=scores.device) for c in score_list]
        w = (torch.ones(len(comps)) if weights is None else torch.tensor(list(weights))).to(torch.float32)
        total = None
        for k, comp in enumerate(comps):
            term = w[k] * (_verl_grpo_scores(comp, groups, epsilon, norm_adv_by_std_in_grpo).unsqueeze(-1) * mask)
            total = term if total is None else total + term
        return verl_masked_whiten(total, mask) * mask
    if name == "grpo_passk":
        adv = torch.zeros_like(scores)
        for gid, rows in groups.items():
            vals = scores[rows]
            if len(rows) < 2:
                raise ValueError(f"Pass@k requires at least 2 samples per group. Got {len(rows)} for group {gid}.")
            top2 = torch.sort(vals, descending=True).values[:2]
            best = rows[int(torch.argmax(vals))]
            gap = top2[0] - top2[1]
            adv[best] = gap / (vals.std() + epsilon) if norm_adv_by_std_in_grpo else gap
        return adv.unsqueeze(-1) * mask
    if name == "reinforce_plus_plus_baseline":
        centred = scores.clone()
        for rows in groups.values():
            mean = torch.tensor(0.0) if len(rows) == 1 else scores[rows].mean()
            centred[rows] = scores[rows] - mean
        per_token = centred.unsqueeze(-1).tile([1, mask.shape[-1]]) * mask
        return verl_masked_whiten(per_token, mask) * mask
    if name == "rloo":
        adv = scores.clone()
        for rows in groups.values():
            k = len(rows)
            if k > 1:
                mean = scores[rows].mean()
                adv[rows] = scores[rows] * k / (k - 1) - mean * k / (k - 1)
        return adv.unsqueeze(-1) * mask
    if name == "opo":
        lengths = mask.sum(dim=-1)
        adv = scores.clone()
        for rows in groups.values():
            if len(rows) > 1:
                baseline = (lengths[rows] * scores[rows]).sum() / lengths[rows].sum()
                adv[rows] = scores[rows] - baseline
        return adv.unsqueeze(-1) * mask
    raise ValueError(f"unknown advantage estimator {name!r}")
