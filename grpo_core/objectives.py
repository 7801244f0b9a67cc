r"""Policy objectives of the GRPO family, one registry entry each (verl's ``register_policy_loss``).

Each entry is a small function that returns the **per-token policy loss** :math:`\ell_{i,t}` and its
derivative in :math:`\log\pi_\theta`, computed in the forward pass (so :func:`grpo_core.grpo_loss` never
records the graph for autograd; gradcheck holds each one to finite differences), plus its metadata: the
idea, the paper, the LaTeX the app shows, and the TRL / verl settings that select it.

Shapes: ``N`` completions, ``T`` tokens. Inputs are ``(N, T)`` with a float mask; an advantage is one per
completion, ``(N, 1)``. A term that is the same for every token of a completion (a sequence-level ratio:
GSPO, GMPO) is returned as ``(N, 1)`` with ``per_row=True``: its derivative in each token's log-prob is then
``d loss_i / d logp_{i,t}``, and :func:`grpo_core.grpo_loss` weighs it by the completion's total weight.

Where TRL and verl differ under one name, the entry says how (``note``) and the tests pin both.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

import torch

from grpo_core import _checks
from grpo_core.kl import LOG_RATIO_CLAMP
from grpo_core.registry import Registry

RATIO_LEVELS = ("token", "sequence")


@dataclass(frozen=True)
class ObjectiveParams:
    """The knobs an objective may read (each entry lists the ones it reads in ``Objective.params``).

    Attributes:
        epsilon: lower clip width :math:`\\varepsilon` (TRL ``epsilon``, verl ``clip_ratio_low``).
        epsilon_high: upper clip width (TRL ``epsilon_high``, verl ``clip_ratio_high``); for ``cispo_trl`` the
            cap itself (TRL recommends 5.0).
        delta: dual-clip cap of the ratio for ``A < 0`` (TRL ``delta``, verl ``clip_ratio_c``), or ``None``.
        tau_pos, tau_neg: SAPO's gate temperatures for ``A > 0`` and ``A <= 0``.
        dro_beta: DRO's weight of the quadratic log-ratio penalty (> 0).
        vespo_k_pos, vespo_lambda_pos, vespo_k_neg, vespo_lambda_neg: VESPO's Gamma weighting for
            ``A >= 0`` and ``A < 0``.
        level: ``"token"`` or ``"sequence"`` (GSPO-style geometric-mean ratio; TRL ``importance_sampling_level``).
    """

    epsilon: float = 0.2
    epsilon_high: float = 0.2
    delta: float | None = None
    tau_pos: float = 1.0
    tau_neg: float = 1.05
    dro_beta: float = 0.1
    vespo_k_pos: float = 2.0
    vespo_lambda_pos: float = 3.0
    vespo_k_neg: float = 3.0
    vespo_lambda_neg: float = 2.0
    level: str = "token"


@dataclass
class PolicyInputs:
    """What an objective function reads. All tensors are detached.

    Attributes:
        logp: ``(N, T)`` log-probs of the sampled tokens under the policy being trained.
        log_ratio: ``(N, T)`` :math:`\\log\\pi_\\theta - \\log\\pi_{old}`, exactly 0 on padding, not clamped.
        adv: ``(N, 1)`` advantages.
        real: ``(N, T)`` float mask, 1 on real tokens.
        lengths: ``(N, 1)`` real tokens per completion.
        params: :class:`ObjectiveParams`.
    """

    logp: torch.Tensor
    log_ratio: torch.Tensor
    adv: torch.Tensor
    real: torch.Tensor
    lengths: torch.Tensor
    params: ObjectiveParams

    @cached_property
    def in_range(self) -> bool:
        """No token log-ratio reaches the ±:data:`LOG_RATIO_CLAMP` clamp (checked once, shared)."""
        return _in_range(self.log_ratio)


@dataclass
class PolicyTerms:
    """What an objective function returns.

    Attributes:
        loss: ``(N, T)`` per-token policy loss :math:`\\ell_{i,t}`, or ``(N, 1)`` when ``per_row``.
        grad: ``(N, T)`` (or broadcastable) derivative of ``loss`` in ``logp``: of :math:`\\ell_{i,t}` in
            :math:`\\log\\pi_{i,t}`, or with ``per_row`` of :math:`\\ell_i` in each :math:`\\log\\pi_{i,t}`.
        ratio: ``(N, T)`` or ``(N, 1)``: the importance ratio the objective uses (what the app shows).
        low, high: bool, shape of ``ratio`` or ``(N, T)``: tokens (or completions) whose weight a clip holds
            at the low / high side — TRL's ``clip_ratio/low_mean`` and ``/high_mean`` count them. ``None``
            with ``flat`` set: the side is the sign of the advantage (PPO's clip; see :meth:`sides`);
            ``None`` without ``flat``: nothing is clipped.
        flat: where the clip makes the policy gradient exactly 0, as bool or as float 1.0/0.0 (``None``: nowhere).
        capped: held by the dual-clip cap δ (flat, but not counted as clipped), bool or float 1.0/0.0, or ``None``.
        per_row: ``loss`` is one value per completion, ``(N, 1)``.
        extra: further per-row or per-token tensors the objective exposes (VESPO's ``phi``).
    """

    loss: torch.Tensor
    grad: torch.Tensor
    ratio: torch.Tensor
    low: torch.Tensor | None
    high: torch.Tensor | None
    flat: torch.Tensor | None = None
    capped: torch.Tensor | None = None
    per_row: bool = False
    extra: dict | None = None

    def sides(self, adv: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(low, high)`` bool tensors, built from ``flat`` and the sign of ``adv (N, 1)`` when not given."""
        if self.low is not None or self.high is not None or self.flat is None:
            none = torch.zeros_like(self.ratio, dtype=torch.bool)
            return (none if self.low is None else self.low), (none if self.high is None else self.high)
        flat = self.flat_mask
        low = flat & (adv < 0)
        if self.capped is not None:
            low &= ~(self.capped != 0)
        return low, flat & (adv > 0)

    @property
    def flat_mask(self) -> torch.Tensor | None:
        """``flat`` as a bool tensor (or ``None``)."""
        return None if self.flat is None or self.flat.dtype == torch.bool else self.flat != 0


@dataclass(frozen=True)
class Objective:
    """One policy objective.

    Attributes:
        name: the registry key (verl's ``policy_loss.loss_mode`` where verl has it).
        title: the name people say.
        idea: one plain sentence.
        paper: ``(title, arXiv id)``.
        formula: LaTeX of the per-token loss :math:`\\ell_{i,t}` the app shows.
        trl: the ``GRPOConfig`` settings that select it, or ``None`` (not in TRL).
        verl: the verl overrides that select it, or ``None`` (not in verl).
        params: the :class:`ObjectiveParams` fields it reads.
        fixed_aggregation: verl ignores ``loss_agg_mode`` for this objective and always aggregates this way.
        note: where the trainers differ, or what the card must say.
        fn: ``PolicyInputs -> PolicyTerms``.
    """

    name: str
    title: str
    idea: str
    paper: tuple[str, str]
    formula: str
    trl: dict | None
    verl: dict | None
    params: tuple[str, ...]
    fixed_aggregation: str | None
    note: str
    fn: Callable[[PolicyInputs], PolicyTerms]


OBJECTIVES: Registry[Objective] = Registry("policy_loss")


def register_objective(name: str, **meta) -> Callable:
    """Decorator: add ``fn`` to :data:`OBJECTIVES` under ``name`` with its metadata."""

    def add(fn):
        meta.setdefault("fixed_aggregation", None)
        meta.setdefault("note", "")
        OBJECTIVES.add(name, Objective(name=name, fn=fn, **meta))
        return fn

    return add


# ------------------------------------------------------------------------------------------ helpers


def _in_range(log_ratio: torch.Tensor) -> bool:
    """Whether no log-ratio reaches the ±:data:`LOG_RATIO_CLAMP` clamp (one read; usually true)."""
    lowest, highest = torch.aminmax(log_ratio)
    return bool(lowest >= -LOG_RATIO_CLAMP) and bool(highest <= LOG_RATIO_CLAMP)


def _exp_clamped(log_ratio: torch.Tensor, in_range: bool | None = None) -> torch.Tensor:
    if in_range if in_range is not None else _in_range(log_ratio):
        return log_ratio.exp()
    return log_ratio.clamp(-LOG_RATIO_CLAMP, LOG_RATIO_CLAMP).exp_()


def _ratio(x: PolicyInputs, level: str | None = None) -> torch.Tensor:
    """``(N, T)`` token ratios, or ``(N, 1)`` sequence ratios :math:`\\exp(\\frac1{|o|}\\sum_t \\log r_t)`."""
    if (level or x.params.level) == "sequence":
        return _exp_clamped(x.log_ratio.sum(dim=-1, keepdim=True) / x.lengths.clamp(min=1))
    return _exp_clamped(x.log_ratio, x.in_range)


def _through_ratio(x: PolicyInputs, d_loss_d_log_ratio: torch.Tensor, level: str) -> torch.Tensor:
    """Chain rule from the log-ratio to the token log-probs (``d_loss_d_log_ratio`` is changed in place).

    Token level: :math:`\\partial\\ell/\\partial\\log\\pi_t = \\partial\\ell/\\partial\\log r_t`. Sequence level:
    :math:`\\log s_i` is the mean of the token log-ratios, so each token gets :math:`1/|o_i|` of it. Where the
    ±:data:`LOG_RATIO_CLAMP` clamp holds, the derivative is 0, as autograd through the clamp would say.
    """
    if level == "sequence":
        log_ratio = x.log_ratio.sum(dim=-1, keepdim=True) / x.lengths.clamp(min=1)
        d_loss_d_log_ratio = d_loss_d_log_ratio / x.lengths.clamp(min=1)
    else:
        log_ratio = x.log_ratio
    in_range = x.in_range if level != "sequence" else None
    if not (in_range if in_range is not None else _in_range(log_ratio)):  # build the mask only where it bites
        d_loss_d_log_ratio.masked_fill_(log_ratio.abs() > LOG_RATIO_CLAMP, 0.0)
    return d_loss_d_log_ratio


def ratio_bounds(
    advantages: torch.Tensor, *, epsilon: float, epsilon_high: float, delta: float | None
) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Per-element bounds ``(lower, upper)`` with PPO's clipped objective ``== A * clamp(r, lower, upper)``.

    The min of the two PPO terms is the same as clamping the ratio on one side only, the side chosen by
    the sign of ``A``: ``A > 0``: ``[0, 1+eps_high]``; ``A < 0``: ``[1-eps, delta or inf]``; ``A = 0``:
    unbounded. The ratio moves the objective (nonzero gradient) exactly where the clamp does not bite.
    """
    zero = torch.zeros((), dtype=advantages.dtype, device=advantages.device)
    lower = torch.where(advantages < 0, zero + (1 - epsilon), zero)
    cap = float("inf") if delta is None else delta
    upper = torch.where(advantages > 0, zero + (1 + epsilon_high), zero + cap)
    return lower, upper


def _ppo_clip(x: PolicyInputs, level: str, delta: float | None) -> PolicyTerms:
    r"""PPO's clip, written with float ops only (CPU torch runs compares, bool masks and tensor-bounded clamps
    5-15x slower than a multiply, and this is the hot path of every default run).

    With :math:`s = \operatorname{sign}(A)` and :math:`c` the bound on the side A pushes toward
    (:math:`1+\varepsilon_{high}` for A > 0, :math:`1-\varepsilon` for A < 0), :math:`u = s\,(r - c)` is how
    far the ratio went past it, :math:`\max(u, 0)` is what the clip removes, and the gradient is 0 exactly
    where :math:`u > 0` (``flat``): the same numbers as ``A * clamp(r, *ratio_bounds(A))``.
    """
    p = x.params
    ratio = _ratio(x, level)
    sign = torch.sign(x.adv)
    bound = torch.where(x.adv > 0, 1 + p.epsilon_high, 1 - p.epsilon).to(ratio.dtype)
    # plain mul/sub: addcmul with broadcast operands takes torch's slow path here
    over = (ratio * sign).sub_(bound * sign).relu_()  # (r - c) * s: how far past the bound
    flat = torch.sign(over)  # 1.0 where the clip holds, else 0.0
    held = ratio - over.mul_(sign)
    capped = None
    if delta is not None:  # dual clip: negative advantages also stop at r = delta
        negative = (x.adv < 0).to(ratio.dtype)
        past_cap = (ratio - delta).mul_(negative).relu_()
        held.sub_(past_cap)
        capped = torch.sign(past_cap)
        flat = flat + capped
    loss = held.mul_(-x.adv)
    # d(-A r)/d log r = -A r where the clip does not hold
    grad = _through_ratio(x, (1.0 - flat).mul_(ratio).mul_(-x.adv), level)
    return PolicyTerms(loss=loss, grad=grad, ratio=ratio, low=None, high=None, flat=flat, capped=capped,
                       per_row=level == "sequence")


_SG = r"\operatorname{sg}"
_R = r"r_{i,t} = \frac{\pi_\theta(o_{i,t})}{\pi_{old}(o_{i,t})}"
_CLIP_PARAMS = ("epsilon", "epsilon_high")


# ------------------------------------------------------------------------------------------ entries


@register_objective(
    "vanilla", title="PPO / GRPO clip",
    idea="Follow the advantage, but stop pushing once the ratio has left [1−ε, 1+ε_high] on the side the "
         "advantage pushes toward.",
    paper=("DeepSeekMath: Pushing the Limits of Mathematical Reasoning in Open Language Models (PPO's clip: "
           "Schulman et al. 2017, 1707.06347)", "2402.03300"),
    formula=r"\ell_{i,t} = -\min\bigl(\min(r_{i,t},\delta)\,\hat A_i,\ \operatorname{clip}(r_{i,t},1-\varepsilon,1+\varepsilon_{high})\,\hat A_i\bigr),\quad " + _R,
    trl={"loss_type": "dapo"}, verl={"actor_rollout_ref.actor.policy_loss.loss_mode": "vanilla"},
    params=("epsilon", "epsilon_high", "delta", "level"),
    note="δ (dual clip) caps the ratio of negative-advantage tokens: TRL's delta (off by default), verl's "
         "clip_ratio_c (on by default at 3.0). With importance_sampling_level='sequence' (TRL) the ratio is "
         "GSPO's.")
def _vanilla(x: PolicyInputs) -> PolicyTerms:
    return _ppo_clip(x, x.params.level, x.params.delta)


@register_objective(
    "gspo", title="GSPO",
    idea="One ratio per completion, the geometric mean of its token ratios, clipped as a whole: tokens of "
         "one answer rise and fall together.",
    paper=("Group Sequence Policy Optimization", "2507.18071"),
    formula=r"\ell_{i} = -\min\bigl(s_i\hat A_i,\ \operatorname{clip}(s_i,1-\varepsilon,1+\varepsilon_{high})\hat A_i\bigr),\quad s_i = \exp\Bigl(\frac{1}{|o_i|}\sum_t \log\frac{\pi_\theta(o_{i,t})}{\pi_{old}(o_{i,t})}\Bigr)",
    trl={"importance_sampling_level": "sequence", "loss_type": "grpo"},
    verl={"actor_rollout_ref.actor.policy_loss.loss_mode": "gspo",
          "actor_rollout_ref.actor.loss_agg_mode": "seq-mean-token-mean"},
    params=_CLIP_PARAMS,
    note="verl writes s_i on every token (sg(s_i)·π/sg(π)) and aggregates by loss_agg_mode (default "
         "token-mean, paper: seq-mean-token-mean); TRL's clip_ratio/* count completions. No dual clip. GSPO's "
         "paper uses ε = 3e-4 / 4e-4. verl clamps log s_i at 10, grpo_core and TRL at ±20 / not at all.")
def _gspo(x: PolicyInputs) -> PolicyTerms:
    return _ppo_clip(x, "sequence", None)


def _cispo(x: PolicyInputs, lower: float, upper: float) -> PolicyTerms:
    ratio = _ratio(x)
    weight = ratio.clamp(min=lower, max=upper)
    low = ratio < lower
    high = ratio > upper
    if math.isinf(lower):  # TRL's convention: only positive-advantage tokens above the cap are "clipped"
        high &= x.adv > 0
        low = None
    weighted = weight * -x.adv
    return PolicyTerms(loss=weighted * x.logp, grad=weighted.expand_as(x.logp), ratio=ratio, low=low, high=high)


@register_objective(
    "cispo", title="CISPO (verl)",
    idea="Clip the importance *weight*, not the update: the weight is held in [1−ε, 1+ε_high] and stopped, "
         "so every token keeps a gradient.",
    paper=("MiniMax-M1: Scaling Test-Time Compute Efficiently with Lightning Attention", "2506.13585"),
    formula=r"\ell_{i,t} = -" + _SG + r"\bigl(\operatorname{clip}(r_{i,t},1-\varepsilon,1+\varepsilon_{high})\bigr)\,\hat A_i\log\pi_\theta(o_{i,t})",
    trl=None, verl={"actor_rollout_ref.actor.policy_loss.loss_mode": "cispo"},
    params=("epsilon", "epsilon_high", "level"),
    note="verl clips the stopped ratio on both sides; TRL's loss_type='cispo' caps it at ε_high only "
         "(see cispo_trl).")
def _cispo_verl(x: PolicyInputs) -> PolicyTerms:
    return _cispo(x, 1 - x.params.epsilon, 1 + x.params.epsilon_high)


@register_objective(
    "cispo_trl", title="CISPO (TRL)",
    idea="Cap the importance weight from above only, at ε_high itself (TRL recommends 5.0), and stop its "
         "gradient: every token keeps a gradient.",
    paper=("MiniMax-M1: Scaling Test-Time Compute Efficiently with Lightning Attention", "2506.13585"),
    formula=r"\ell_{i,t} = -" + _SG + r"\bigl(\min(r_{i,t},\varepsilon_{high})\bigr)\,\hat A_i\log\pi_\theta(o_{i,t})",
    trl={"loss_type": "cispo", "epsilon_high": 5.0}, verl=None,
    params=("epsilon_high", "level"),
    note="TRL reads epsilon_high as the cap itself (ε_max of ScaleRL, recommended 5.0), not as a width; "
         "with epsilon_high unset it is epsilon (0.2). verl's cispo clips to [1−ε, 1+ε_high] instead.")
def _cispo_cap(x: PolicyInputs) -> PolicyTerms:
    return _cispo(x, -math.inf, x.params.epsilon_high)


@register_objective(
    "sapo", title="SAPO",
    idea="Replace the hard clip by a smooth sigmoid gate: the push fades as the ratio leaves 1, faster for "
         "negative advantages (τ_neg > τ_pos).",
    paper=("Soft Adaptive Policy Optimization", "2511.20347"),
    formula=r"\ell_{i,t} = -\frac{4}{\tau}\,\sigma\bigl(\tau\,(r_{i,t}-1)\bigr)\,\hat A_i,\quad \tau = \begin{cases}\tau_{pos} & \hat A_i > 0\\ \tau_{neg} & \text{else}\end{cases}",
    trl={"loss_type": "sapo"}, verl={"actor_rollout_ref.actor.policy_loss.loss_mode": "sapo"},
    params=("tau_pos", "tau_neg", "level"), fixed_aggregation="seq-mean-token-mean",
    note="verl ignores loss_agg_mode for SAPO and always uses seq-mean-token-mean (its KL term still follows "
         "loss_agg_mode); TRL's loss_type='sapo' aggregates the same way. At r = 1 its gradient equals "
         "vanilla's.")
def _sapo(x: PolicyInputs) -> PolicyTerms:
    p = x.params
    ratio = _ratio(x)
    tau = torch.where(x.adv > 0, p.tau_pos, p.tau_neg).to(ratio.dtype)
    gate = torch.sigmoid(tau * (ratio - 1))
    loss = gate * (4 / tau) * -x.adv
    # d/d log r of 4/τ σ(τ(r−1)) = 4 σ(1−σ) r
    grad = _through_ratio(x, -x.adv * 4 * gate * (1 - gate) * ratio, p.level)
    return PolicyTerms(loss=loss, grad=grad, ratio=ratio, low=None, high=None,
                       per_row=p.level == "sequence")


@register_objective(
    "geo_mean", title="GMPO",
    idea="Geometric mean instead of arithmetic: clip each token's log-ratio (on the side its advantage "
         "pushes), then average the log-ratios of a completion; outlier tokens move the ratio less.",
    paper=("Geometric-Mean Policy Optimization", "2507.20673"),
    formula=r"\ell_i = -\hat A_i\exp\Bigl(\frac{1}{|o_i|}\sum_t \operatorname{sgn}(\hat A_i)\min\bigl(\operatorname{sgn}(\hat A_i)\log r_{i,t},\ \operatorname{sgn}(\hat A_i)\operatorname{clip}(\log r_{i,t},-\varepsilon,\varepsilon_{high})\bigr)\Bigr)",
    trl=None, verl={"actor_rollout_ref.actor.policy_loss.loss_mode": "geo_mean"},
    params=_CLIP_PARAMS, fixed_aggregation="seq-mean-token-mean",
    note="verl clips in log space with clip_ratio itself (ε = 0.2 means log r in [−0.2, 0.2]; the paper "
         "uses e^±0.4) and averages the per-completion loss over all completions, ignoring loss_agg_mode. "
         "verl's pg_clipfrac counts a token outside the range on either side; clip_ratio/* here count the "
         "tokens the clip holds.")
def _geo_mean(x: PolicyInputs) -> PolicyTerms:
    p = x.params
    lr = x.log_ratio
    positive, negative = x.adv > 0, x.adv < 0
    high = (lr > p.epsilon_high) & positive
    low = (lr < -p.epsilon) & negative
    flat = high | low
    clipped = torch.where(positive, lr.clamp(max=p.epsilon_high), lr.clamp(min=-p.epsilon))
    clipped = torch.where(x.adv == 0, 0.0, clipped) * x.real
    ratio = _exp_clamped(clipped.sum(dim=-1, keepdim=True) / x.lengths.clamp(min=1))
    loss = ratio * -x.adv
    grad = (loss / x.lengths.clamp(min=1)).expand_as(lr).masked_fill(flat, 0.0)
    return PolicyTerms(loss=loss, grad=grad, ratio=ratio, low=low, high=high, flat=flat, per_row=True)


@register_objective(
    "gpg", title="GPG",
    idea="Plain policy gradient: no ratio, no clip, no KL — the advantage times the log-prob.",
    paper=("GPG: A Simple and Strong Reinforcement Learning Baseline for Model Reasoning", "2504.02546"),
    formula=r"\ell_{i,t} = -\hat A_i\log\pi_\theta(o_{i,t})",
    trl=None, verl={"actor_rollout_ref.actor.policy_loss.loss_mode": "gpg"}, params=())
def _gpg(x: PolicyInputs) -> PolicyTerms:
    return PolicyTerms(loss=x.logp * -x.adv, grad=(-x.adv).expand_as(x.logp), ratio=_ratio(x), low=None, high=None)


@register_objective(
    "dro", title="DRO",
    idea="Policy gradient with a quadratic leash on the log-ratio to the sampling policy instead of a clip.",
    paper=("Offline Regularised Reinforcement Learning for Large Language Models Alignment (DRO)", "2405.19107"),
    formula=r"\ell_{i,t} = -\Bigl(\hat A_i\log\pi_\theta(o_{i,t}) - \frac{\beta_{dro}}{2}\bigl(\log r_{i,t}\bigr)^2\Bigr)",
    trl=None, verl={"actor_rollout_ref.actor.policy_loss.loss_mode": "dro",
                    "actor_rollout_ref.actor.policy_loss.dro_beta": 0.1},
    params=("dro_beta",), note="verl requires policy_loss.dro_beta > 0 (no default).")
def _dro(x: PolicyInputs) -> PolicyTerms:
    beta = x.params.dro_beta
    lr = x.log_ratio
    loss = x.logp * -x.adv + (0.5 * beta) * lr.square()
    return PolicyTerms(loss=loss, grad=(-x.adv) + beta * lr, ratio=_ratio(x), low=None, high=None)


@register_objective(
    "vespo", title="VESPO",
    idea="A smooth Gamma-shaped weight of the whole sequence's ratio replaces the clip: near-on-policy "
         "sequences keep weight ≈ 1, far-off ones fade to 0.",
    paper=("VESPO: Variational Sequence-Level Soft Policy Optimization", "2602.10693"),
    formula=r"\ell_{i,t} = -" + _SG + r"\bigl(\phi(w_i)\bigr)\,\hat A_i\log\pi_\theta(o_{i,t}),\quad \phi(w) = e^{\lambda}w^{k}e^{-\lambda w},\ w_i = \prod_t r_{i,t}",
    trl={"loss_type": "vespo"}, verl=None,
    params=("vespo_k_pos", "vespo_lambda_pos", "vespo_k_neg", "vespo_lambda_neg"),
    note="TRL clamps log w_i to [ln 1e-8, 20] and picks (k, λ) by A ≥ 0 (pos) or A < 0 (neg); φ(1) = 1. "
         "w_i is the product of the token ratios (not their geometric mean).")
def _vespo(x: PolicyInputs) -> PolicyTerms:
    p = x.params
    floor = math.log(1e-8)
    log_w = (x.log_ratio.clamp(-LOG_RATIO_CLAMP, LOG_RATIO_CLAMP) * x.real).sum(dim=-1, keepdim=True)
    log_w = log_w.clamp(floor, LOG_RATIO_CLAMP)
    nonneg = x.adv >= 0
    k = torch.where(nonneg, p.vespo_k_pos, p.vespo_k_neg).to(log_w.dtype)
    lam = torch.where(nonneg, p.vespo_lambda_pos, p.vespo_lambda_neg).to(log_w.dtype).clamp(min=1e-4)
    phi = torch.exp(lam + k * log_w - lam * log_w.exp()).nan_to_num(nan=0.0, posinf=0.0, neginf=0.0)
    weighted = phi * -x.adv
    return PolicyTerms(loss=weighted * x.logp, grad=weighted.expand_as(x.logp), ratio=_ratio(x), low=None,
                       high=None, extra={"phi": phi})


#: The names of :data:`OBJECTIVES`, in order.
OBJECTIVE_NAMES = OBJECTIVES.names()


def check_params(params: ObjectiveParams) -> None:
    """``ValueError`` naming the field for a parameter out of its range."""
    for name in ("epsilon", "epsilon_high", "tau_pos", "tau_neg", "dro_beta", "vespo_k_pos", "vespo_lambda_pos",
                 "vespo_k_neg", "vespo_lambda_neg"):
        _checks.non_negative(name, getattr(params, name))
    for name in ("tau_pos", "tau_neg"):
        if getattr(params, name) == 0:
            raise ValueError(f"{name} must be > 0")
    if params.delta is not None:
        _checks.non_negative("delta", params.delta)
        if params.delta <= 1 + params.epsilon_high:
            raise ValueError(f"delta must be > 1 + epsilon_high = {1 + params.epsilon_high:g} (the upper clip "
                             f"bound); got {params.delta!r}")
    _checks.choice("importance_sampling_level", params.level, RATIO_LEVELS)


def objective_along_ratio(
    name: str,
    ratios: torch.Tensor,
    advantage: float,
    *,
    logp_old: float = -1.0,
    params: ObjectiveParams | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    r"""One token's objective and its push as its ratio sweeps ``ratios``: the clipping chart for any entry.

    Each ratio is one single-token completion with :math:`\log\pi_\theta = \log\pi_{old} + \log r` (so
    token and sequence level coincide). The objectives that read :math:`\log\pi_\theta` itself (CISPO, GPG,
    DRO, VESPO) depend on ``logp_old`` too.

    Args:
        name: a name of :data:`OBJECTIVES`.
        ratios: ``(R,)`` positive ratios.
        advantage: the token's advantage :math:`\hat A`.
        logp_old: :math:`\log\pi_{old}` of the token (<= 0).
        params: :class:`ObjectiveParams` (default: the trainers' defaults).

    Returns:
        ``(objective, push)``, both ``(R,)``: the objective to maximise, :math:`J = -\ell`, and
        :math:`\partial J/\partial\log\pi_\theta` (what backpropagation sees: :math:`r\,dJ/dr` for the
        ratio-based objectives).
    """
    entry = OBJECTIVES.get(name)
    params = params or ObjectiveParams()
    check_params(params)
    ratios = _checks.tensor("ratios", ratios).reshape(-1, 1)
    if not bool((ratios > 0).all()):
        raise ValueError("ratios must be > 0")
    log_ratio = ratios.log()
    one = torch.ones_like(ratios)
    terms = entry.fn(PolicyInputs(logp=log_ratio + logp_old, log_ratio=log_ratio,
                                  adv=torch.full_like(ratios, float(advantage)), real=one, lengths=one,
                                  params=params))
    return -terms.loss.expand_as(ratios).reshape(-1), -terms.grad.expand_as(ratios).reshape(-1)
