r"""The Algorithms page's numbers: a small batch a reader edits, the family's objectives along the ratio,
what differs between algorithms, and their trainer settings as code. Pure torch, no Streamlit.

A toy batch is **one group** of ``G`` completions (``MIN_COMPLETIONS <= G <= MAX_COMPLETIONS``), each a
reward and a length (``1 <= length <= MAX_LENGTH`` tokens). :func:`build` turns it into the tensors
:func:`grpo_core.grpo_loss` takes, ``T = max(lengths)``:

- ``rewards (1, G)``, ``mask (G, T)`` (1 on a completion's first ``length`` tokens);
- ``logp_old (G, T)``: a fixed pattern of token log-probs in ``[-1.65, -0.15]``;
- ``logp_ref (G, T)``: ``logp_old`` moved by at most ±0.075 (the reference is where the policy started);
- ``logp_new (G, T)``: ``logp_old + move * d``, ``d`` in ``[-1, 1]``: ``0.5 * sign(r_i - mean r) + u - 0.5``
  with ``u`` a fixed pattern in ``[0, 1]`` — the policy has already moved toward the better answers (as
  after a first update with ``num_iterations > 1``), token by token unevenly; capped at ``-0.005`` so every
  probability stays below 1. ``move`` (``MOVE_RANGE``) is how far it moved, in log-ratio.
- a preset may name a **rare token** ``(row, token)``: ``logp_old = logp_ref = -6`` (p ≈ 0.25 %) and
  ``logp_new = -0.4`` (p ≈ 67 %) whatever ``move``: a ratio of e^5.6 ≈ 270 (and a large KL to the reference).
  If the row is shorter, its last token is the rare one.

Padding holds finite values (``logp_* = -1``) and never changes a loss.
"""

from __future__ import annotations

import math
import numbers
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch

from grpo_core.family import Algorithm
from grpo_core.kl import KL_ESTIMATORS_REGISTRY
from grpo_core.loss import LossTerms, grpo_loss
from grpo_core.objectives import ObjectiveParams, objective_along_ratio

MIN_COMPLETIONS, MAX_COMPLETIONS = 2, 8
MAX_LENGTH = 20
REWARD_RANGE = (-5.0, 5.0)
MOVE_RANGE = (0.0, 1.0)
RARE_OLD, RARE_NEW = -6.0, -0.4
_PAD = -1.0
_CAP = -0.005
#: Longest encoded table a link may hold: ``MAX_COMPLETIONS`` pairs like ``-4.95:20``.
MAX_ENCODED = 12 * MAX_COMPLETIONS


@dataclass(frozen=True)
class Completion:
    reward: float
    length: int


@dataclass(frozen=True)
class Preset:
    """A ready-made batch: its ``title`` is what the page offers (and the URL holds)."""

    title: str
    description: str
    completions: tuple[Completion, ...]
    rare: tuple[int, int] | None = None


def _table(*pairs: tuple[float, int]) -> tuple[Completion, ...]:
    return tuple(Completion(float(r), int(n)) for r, n in pairs)


PRESETS: dict[str, Preset] = {p.title: p for p in (
    Preset("one long wrong answer", "Two right answers of 5-6 tokens, a wrong one of 4 and a wrong one of 18: "
           "how much of the push down reaches each token of the long one depends on the aggregation.",
           _table((1, 5), (0, 18), (1, 6), (0, 4))),
    Preset("a rare token that became likely", "Token 3 of the first right answer had p ≈ 0.25 % when it was "
           "sampled and now has p ≈ 67 %: a ratio of ≈ 270. The clip cuts its gradient; CISPO caps its weight.",
           _table((1, 6), (0, 7), (1, 5), (0, 6)), rare=(0, 2)),
    Preset("balanced", "Two right and two wrong answers of about the same length: the objectives differ only "
           "in how they treat ratios away from 1.", _table((1, 6), (0, 6), (1, 7), (0, 6))),
)}
DEFAULT_PRESET = "one long wrong answer"


def check_completions(completions: Sequence[Completion]) -> tuple[Completion, ...]:
    """The completions as a tuple; ``ValueError`` saying what is wrong (count, reward or length range)."""
    out = tuple(completions)
    if not MIN_COMPLETIONS <= len(out) <= MAX_COMPLETIONS:
        raise ValueError(f"A group needs {MIN_COMPLETIONS} to {MAX_COMPLETIONS} completions; this one has {len(out)}.")
    low, high = REWARD_RANGE
    for i, c in enumerate(out, 1):
        if not (isinstance(c.reward, float) and math.isfinite(c.reward) and low <= c.reward <= high):
            raise ValueError(f"Completion {i}: the reward must be a number from {low:g} to {high:g}.")
        if not (isinstance(c.length, int) and 1 <= c.length <= MAX_LENGTH):
            raise ValueError(f"Completion {i}: the length must be a whole number of tokens from 1 to {MAX_LENGTH}.")
    return out


def _number(value, what: str, row: int) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(float(value)):
        raise ValueError(f"Completion {row}: the {what} must be a number.")
    return float(value)


def from_rows(rows: Sequence[Mapping]) -> tuple[Completion, ...]:
    """Completions from table rows ``{"reward": float, "length": int}`` (what the page's editor returns)."""
    out = []
    for i, row in enumerate(rows, 1):
        reward = _number(row.get("reward"), "reward", i)
        length = _number(row.get("length"), "length", i)
        if length != int(length):
            raise ValueError(f"Completion {i}: the length must be a whole number of tokens.")
        out.append(Completion(reward, int(length)))
    return check_completions(out)


#: The columns the batch editor lets a reader change.
EDITOR_COLUMNS = ("reward", "length")


def encode(completions: Sequence[Completion]) -> str:
    """``"1:5,0:18"``: reward:length pairs (what the URL holds)."""
    return ",".join(f"{c.reward:g}:{c.length}" for c in completions)


_PAIR = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+):\d{1,3}")


def decode(text: str) -> tuple[Completion, ...]:
    """The inverse of :func:`encode`; ``ValueError`` (a message that does not quote ``text``) if malformed."""
    pairs = text.split(",")
    if len(pairs) > MAX_COMPLETIONS or not all(_PAIR.fullmatch(p) for p in pairs):
        raise ValueError("it is not a list of reward:length pairs")
    return check_completions([Completion(float(r), int(n)) for r, n in (p.split(":") for p in pairs)])


# --------------------------------------------------------------------------------------------- the batch


@dataclass(frozen=True)
class ToyBatch:
    """The tensors of one toy group (float64): ``rewards (1, G)``, the rest ``(G, T)``."""

    rewards: torch.Tensor
    mask: torch.Tensor
    logp_old: torch.Tensor
    logp_ref: torch.Tensor
    logp_new: torch.Tensor
    rare: tuple[int, int] | None

    @property
    def lengths(self) -> list[int]:
        return [int(n) for n in self.mask.sum(dim=-1).tolist()]

    def token_labels(self, row: int) -> list[str]:
        """What the token inspector writes in each of the ``T`` cells of completion ``row``: ``t1``, ``t2``, ...
        (a toy completion has no text), ``""`` past its end."""
        return [f"t{j + 1}" if j < self.lengths[row] else "" for j in range(self.mask.shape[1])]


def _pattern(g: int, t: int, a: int, b: int, c: int, m: int) -> torch.Tensor:
    """``(g, t)`` fixed values in ``[0, 1]``: ``((a*i + b*j + c) mod m) / (m - 1)``."""
    i = torch.arange(g, dtype=torch.float64).unsqueeze(1)
    j = torch.arange(t, dtype=torch.float64).unsqueeze(0)
    return torch.remainder(a * i + b * j + c, m) / (m - 1)


def build(completions: Sequence[Completion], *, move: float = 0.3, rare: tuple[int, int] | None = None) -> ToyBatch:
    """The batch of ``completions`` (see the module docstring); ``move`` in ``MOVE_RANGE``."""
    completions = check_completions(completions)
    if not (isinstance(move, (int, float)) and MOVE_RANGE[0] <= move <= MOVE_RANGE[1]):
        raise ValueError(f"move must be a number in [{MOVE_RANGE[0]:g}, {MOVE_RANGE[1]:g}]; got {move!r}")
    g, t = len(completions), max(c.length for c in completions)
    rewards = torch.tensor([[c.reward for c in completions]], dtype=torch.float64)
    lengths = torch.tensor([c.length for c in completions]).unsqueeze(1)
    mask = (torch.arange(t).unsqueeze(0) < lengths).to(torch.float64)
    old = -(0.15 + 1.5 * _pattern(g, t, 37, 17, 11, 29))
    ref = old + 0.15 * (_pattern(g, t, 13, 23, 5, 31) - 0.5)
    side = torch.sign(rewards[0] - rewards[0].mean()).unsqueeze(1)
    new = (old + move * (0.5 * side + _pattern(g, t, 19, 7, 3, 23) - 0.5)).clamp(max=_CAP)
    spot = None
    if rare is not None:
        row = rare[0] % g
        spot = (row, min(rare[1], completions[row].length - 1))
        old[spot], ref[spot], new[spot] = RARE_OLD, RARE_OLD, RARE_NEW
    real = mask > 0
    old, ref, new = (x.masked_fill(~real, _PAD) for x in (old, ref, new))
    return ToyBatch(rewards, mask, old, ref, new, spot)


@dataclass(frozen=True)
class BatchResult:
    """One algorithm on one toy batch.

    Attributes:
        loss: :func:`grpo_core.grpo_loss`'s loss.
        advantages: ``(G,)``.
        push: ``(G, T)`` :math:`-\\partial L/\\partial\\log\\pi_{i,t}` (policy and KL terms; > 0: the step makes
            the token more likely), 0 on padding.
        weight: ``(G,)`` each completion's total weight in the gradient,
            :math:`\\sum_t |\\partial L/\\partial\\log\\pi_{i,t}|`.
        clipped: ``(G, T)`` bool, tokens whose policy gradient a clip holds at exactly 0.
        terms: every per-token term of the loss (:class:`grpo_core.loss.LossTerms`), for the token inspector.
    """

    loss: float
    advantages: torch.Tensor
    push: torch.Tensor
    weight: torch.Tensor
    clipped: torch.Tensor
    terms: LossTerms


def explain_settings(algorithm: Algorithm) -> dict[str, float | None]:
    """``epsilon``, ``epsilon_high`` and ``beta`` as ``grpo_loss(**algorithm.settings)`` uses them (what
    :func:`grpo_core.inspector.explain_token` quotes)."""
    params = objective_params(algorithm.settings)
    return {"epsilon": params.epsilon, "epsilon_high": params.epsilon_high,
            "beta": algorithm.settings.get("beta", 0.04)}


def evaluate(algorithm: Algorithm, batch: ToyBatch) -> BatchResult:
    out = grpo_loss(batch.logp_new, batch.logp_old, batch.logp_ref, batch.rewards, batch.mask, return_terms=True,
                    **algorithm.settings)
    terms = out.terms
    grad = terms.grad * batch.mask
    flat = terms.flat if terms.flat is not None else torch.zeros_like(batch.mask, dtype=torch.bool)
    return BatchResult(float(out.loss), out.advantages.reshape(-1), -grad, grad.abs().sum(dim=-1), flat, terms)


# ------------------------------------------------------------------------------- what an algorithm is


def objective_params(settings: Mapping) -> ObjectiveParams:
    """The :class:`ObjectiveParams` that ``grpo_loss(**settings)`` uses."""
    eps = settings.get("epsilon", 0.2)
    high = settings.get("epsilon_high")
    defaults = ObjectiveParams()
    return ObjectiveParams(
        epsilon=eps, epsilon_high=eps if high is None else high, delta=settings.get("delta"),
        level=settings.get("importance_sampling_level", "token"),
        **{k: settings.get(k, getattr(defaults, k)) for k in (
            "tau_pos", "tau_neg", "dro_beta", "vespo_k_pos", "vespo_lambda_pos", "vespo_k_neg", "vespo_lambda_neg")})


_CLIP = {"epsilon": "ε", "epsilon_high": "ε_high", "delta": "δ"}
_OTHER = {"tau_pos": "τ_pos", "tau_neg": "τ_neg", "dro_beta": "β_dro", "vespo_k_pos": "k_pos",
          "vespo_lambda_pos": "λ_pos", "vespo_k_neg": "k_neg", "vespo_lambda_neg": "λ_neg"}
ASPECTS = ("objective", "aggregation", "advantage", "KL", "clip widths")


def aspects(algorithm: Algorithm) -> dict[str, str]:
    """One plain description per aspect of :data:`ASPECTS`; two algorithms differ in an aspect exactly when
    its descriptions differ."""
    s = algorithm.settings
    objective = algorithm.objective
    params = objective_params(s)
    reads = set(objective.params) | ({"epsilon", "epsilon_high"} if objective.name == "gspo" else set())
    other = ", ".join(f"{_OTHER[k]} = {getattr(params, k):g}" for k in _OTHER if k in reads)
    level = " (sequence-level ratio)" if s.get("importance_sampling_level") == "sequence" else ""
    clip = [f"{_CLIP[k]} = {getattr(params, k):g}" for k in ("epsilon", "epsilon_high") if k in reads]
    if "delta" in reads and params.delta is not None:
        clip.append(f"δ = {params.delta:g}")
    aggregation = algorithm.aggregation.name
    if aggregation == "seq-mean-token-sum-norm":
        constant = s.get("loss_scale_factor") or s.get("max_completion_length")
        aggregation += f" (C = {constant:g})" if constant else " (C = T)"
    estimator = algorithm.estimator
    scale = s.get("scale_rewards", "group")
    scale = {True: "group", False: "none"}.get(scale, scale)
    advantage = estimator.title + (f", scale: {scale}" if estimator.uses_scale else "")
    beta = s.get("beta", 0.04)
    if beta > 0:
        kl = (f"β = {beta:g}, {s.get('kl_estimator', 'k3')} in the {s.get('kl_in', 'loss')}"
              + (", × ratio" if s.get("kl_bias_correction") else ""))
        KL_ESTIMATORS_REGISTRY.get(s.get("kl_estimator", "k3"))
    else:
        kl = "none (β = 0)"
    return {"objective": objective.title + level + (f" ({other})" if other else ""), "aggregation": aggregation,
            "advantage": advantage, "KL": kl, "clip widths": ", ".join(clip) or "no clip"}


def differences(algorithms: Sequence[Algorithm]) -> list[str]:
    """The aspects of :data:`ASPECTS` in which the ``algorithms`` are not all the same."""
    described = [aspects(a) for a in algorithms]
    return [k for k in ASPECTS if len({d[k] for d in described}) > 1]


# ------------------------------------------------------------------------------------ formulas in a card

#: Where a line may be cut, outside braces: definitions (``,\quad``), list items (``,\ ``), a chain of
#: equalities or a sum (`` = ``, `` - ``, `` + ``: the next line starts with the sign), a thin space, after a
#: big opening parenthesis (``\Bigl(``).
_CUT = re.compile(r"\\begin\{|\\end\{|[{}]|,\\quad |,\\ |\\,| = | - | \+ |(?<=\\Bigl\()")
_COMMAND = re.compile(r"\\(?:operatorname|text|mathrm)\{([^}]*)\}|\\([A-Za-z]+)")
_INVISIBLE = ("bigl", "bigr", "Bigl", "Bigr", "left", "right", "frac", "quad")


def _group(latex: str, start: int) -> int:
    """The index just past the ``{...}`` group that opens at ``latex[start]``."""
    depth = 0
    for i in range(start, len(latex)):
        depth += {"{": 1, "}": -1}.get(latex[i], 0)
        if depth == 0:
            return i + 1
    return len(latex)


def _glyphs(latex: str) -> int:
    """A rough count of the glyphs ``latex`` renders on one line: a command is one, braces and scripts none,
    a fraction the longer of its numerator and denominator."""
    at = latex.find("\\frac{")
    if at >= 0:
        middle = _group(latex, at + 5)
        end = _group(latex, middle) if middle < len(latex) and latex[middle] == "{" else middle
        top, bottom = latex[at + 6:middle - 1], latex[middle + 1:end - 1]
        return _glyphs(latex[:at]) + max(_glyphs(top), _glyphs(bottom)) + _glyphs(latex[end:])
    shown = _COMMAND.sub(lambda m: m.group(1) if m.group(1) is not None else (
        "" if m.group(2) in _INVISIBLE else "x"), latex)
    return len(re.sub(r"[{}_^\\ ]", "", shown))


def _cuts(line: str) -> list[tuple[int, int, str]]:
    """``(start, end, text)`` of each top-level place ``line`` may be cut (not its first `` = ``)."""
    out, depth, first_equals = [], 0, True
    for m in _CUT.finditer(line):
        text = m.group(0)
        if text in ("{", "\\begin{"):
            depth += 1
        elif text == "}":
            depth -= 1
        elif text == "\\end{":
            depth -= 1  # its name's closing brace takes the other level
        elif depth == 0:
            if text == " = " and first_equals:
                first_equals = False
                continue
            out.append((m.start(), m.end(), text))
    return out


def _cut(line: str, at: tuple[int, int, str]) -> tuple[str, str]:
    start, end, text = at
    head = line[:start] + ("," if text.startswith(",") else "")
    tail = line[start + 1:] if text in (" = ", " - ", " + ") else line[end:]
    return head.strip(), tail.strip()


def formula_lines(latex: str, max_glyphs: int = 28) -> list[str]:
    r"""``latex`` cut into lines that fit a narrow card: ``\begin{aligned}&line\\&line...\end{aligned}``.

    Always cut after a top-level ``,\quad`` (a formula and its definitions); a line still longer than about
    ``max_glyphs`` rendered glyphs is cut at the top-level ``,\ ``, `` = `` (not the first), `` - ``, `` + ``
    or ``\,`` nearest its middle, again until it fits or nothing is left to cut; such a continuation starts
    with ``\quad``. Top-level: outside ``{...}`` and ``\begin...\end``. A ``\bigl(``/``\bigr)`` pair may
    end up on two lines, which KaTeX allows (unlike ``\left``/``\right``, which no registry formula uses).
    """
    parts, rest = [], latex
    while True:
        definitions = [c for c in _cuts(rest) if c[2] == ",\\quad "]
        if not definitions:
            parts.append(rest.strip())
            break
        head, rest = _cut(rest, definitions[0])
        parts.append(head.rstrip(","))
    lines = []
    for part in parts:
        pending = [part]
        while pending:
            line = pending.pop(0)
            options = [c for c in _cuts(line) if c[2] != ",\\quad "]
            if _glyphs(line) <= max_glyphs or not options:
                lines.append(line)
                continue
            head, tail = _cut(line, min(options, key=lambda c: abs(c[0] - len(line) / 2)))
            pending[:0] = [head, tail if tail.startswith("\\quad ") else "\\quad " + tail]
    return [line for line in lines if line]


# ------------------------------------------------------------------------------------ along the ratio

#: The plotted ratios: ``(0, 3]`` without 0, every 0.01.
RATIO_POINTS, RATIO_MAX = 300, 3.0


def ratio_grid() -> torch.Tensor:
    """``(RATIO_POINTS,)`` float64 ratios ``0.01, 0.02, ..., 3.0``."""
    return torch.linspace(0.0, RATIO_MAX, RATIO_POINTS + 1, dtype=torch.float64)[1:]


def sweep(algorithm: Algorithm, ratios: torch.Tensor) -> dict[int, tuple[torch.Tensor, torch.Tensor]]:
    """``{+1: (J, push), -1: (J, push)}``, each ``(R,)``: :func:`objective_along_ratio` at ``A = ±1``."""
    name, params = algorithm.objective.name, objective_params(algorithm.settings)
    return {sign: objective_along_ratio(name, ratios, float(sign), params=params) for sign in (1, -1)}


def _flat_edges(ratios, push, bound_pos: float, bound_neg: float, flat_above: bool) -> bool:
    """True when the plotted push is 0 exactly on the far side of the bound and non-zero on the near side."""
    r = ratios
    far = r > bound_pos + 1e-9 if flat_above else r < bound_neg - 1e-9
    near = r < bound_pos - 1e-9 if flat_above else r > bound_neg + 1e-9
    return bool(far.any()) and bool((push[far] == 0).all()) and bool((push[near] != 0).all())


def sweep_sentences(algorithm: Algorithm, ratios: torch.Tensor,
                    curves: dict[int, tuple[torch.Tensor, torch.Tensor]]) -> list[str]:
    """Plain sentences about the plotted push of ``algorithm``, each checked against the numbers first
    (a sentence whose claim the numbers do not bear out is left out)."""
    objective, p = algorithm.objective, objective_params(algorithm.settings)
    pos, neg = curves[1][1], curves[-1][1]
    name, title = objective.name, algorithm.title
    out = []
    if name in ("vanilla", "gspo"):
        high, low = 1 + p.epsilon_high, 1 - p.epsilon
        delta = p.delta if name == "vanilla" else None
        cut_neg = neg if delta is None else neg[ratios < delta - 1e-9]
        r_neg = ratios if delta is None else ratios[ratios < delta - 1e-9]
        if _flat_edges(ratios, pos, high, low, True) and _flat_edges(r_neg, cut_neg, high, low, False):
            out.append(f"{title} goes flat only on the side A pushes toward: with A > 0 its push is 0 for "
                       f"r > 1+ε_high = {high:g} (already pushed up enough) and non-zero below; with A < 0 it is 0 "
                       f"for r < 1−ε = {low:g} and non-zero above" + (f" up to δ = {delta:g}." if delta else "."))
    elif name in ("cispo", "cispo_trl"):
        least = min(float(pos.abs().min()), float(neg.abs().min()))
        if least > 0:
            out.append(f"{title}'s push never drops to zero: on the plotted r ∈ (0, {RATIO_MAX:g}] it is at least "
                       f"{least:.3g} in size, for A > 0 and A < 0 — the weight is capped, the gradient is not cut.")
    elif name == "sapo":
        step = max(float(pos.diff().abs().max()), float(neg.diff().abs().max()))
        if bool((pos != 0).all() and (neg != 0).all()) and step < 0.02:
            out.append(f"{title}'s gate is smooth: its push changes by at most {step:.3g} between neighbouring "
                       f"plotted ratios ({float(ratios[1] - ratios[0]):g} apart) and is never 0, where a hard "
                       f"clip's push drops straight to 0 at its bound.")
    elif name == "geo_mean":
        high, low = math.exp(p.epsilon_high), math.exp(-p.epsilon)
        if _flat_edges(ratios, pos, high, low, True) and _flat_edges(ratios, neg, high, low, False):
            out.append(f"{title} clips in log space: with A > 0 its push is 0 past r = e^{p.epsilon_high:g} ≈ "
                       f"{high:.3f}, with A < 0 below r = e^−{p.epsilon:g} ≈ {low:.3f}: bounds symmetric in log r, "
                       f"where the ratio clip's 1 ± ε are symmetric in r.")
    elif name == "gpg":
        if bool((pos == 1).all() and (neg == -1).all()):
            out.append(f"{title}'s push is A itself at every ratio: no ratio, no clip.")
    elif name == "dro":
        if bool((pos != 0).all() and (neg != 0).all()):
            out.append(f"{title}'s push A − β_dro·log r leans back toward r = 1 but is never cut to 0 on the "
                       f"plotted ratios.")
    elif name == "vespo":
        top = int(pos.abs().argmax())
        if 0 < top < len(ratios) - 1 and float(pos[-1].abs()) < float(pos[top].abs()):
            out.append(f"{title}'s Gamma weight rises and fades: for A > 0 its push is largest at r ≈ "
                       f"{float(ratios[top]):.2f} and is {float(pos[-1]):.3g} at r = {RATIO_MAX:g}.")
    return out
