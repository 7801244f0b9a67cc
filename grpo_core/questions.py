"""The "Think about it" questions of every page, each with the view that answers it and the answer itself.

A :class:`Question` is data: its text, the widget values its "Show me" gives the page (``widgets``, keyed by
the page's own widget keys, the values as the widgets hold them), what the page's own loader gets
(``data``: a reward table, a batch's completions, the name of a ready-made experiment), and for the
Overview the page that "Show me" opens. Its :meth:`Question.answer` computes, with the same core calls the
page makes in that view, an :class:`Answer`: plain sentences with the numbers in them, each a
:class:`~grpo_core.experiments.Check` whose ``holds`` says whether the numbers bear the sentence out
(``tests/test_questions.py`` asserts that every one does). Nothing here imports Streamlit.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch

from grpo_core import toy_batch as tb
from grpo_core import reward_table as rt
from grpo_core.advantages import group_advantages
from grpo_core.curves import (
    GRADIENT_TERMS,
    KL_ESTIMATORS,
    categorical_gradient_lab,
    gaussian_gradient_lab,
    clip_status,
    gaussian_estimator_lab,
    surrogate_curve,
    total_reward,
)
from grpo_core.experiments import EXPERIMENTS, Check, lone_wrong_advantage, run_experiment
from grpo_core.family import ALGORITHMS
from grpo_core.loss import grpo_loss
from grpo_core.training import TrainConfig, Trainer

#: Steps per arm of the short runs that answer the Live training questions (the page runs the experiments'
#: own, longer, step counts; every claim of the experiments holds at this length with seed 0, and a run of
#: all the arms takes about a second).
SHORT_STEPS = 60
SHORT_SEED = 0


@dataclass(frozen=True)
class Answer:
    """What "Reveal" shows: a lead-in and the checked sentences, each with its numbers."""

    lead: str
    checks: tuple[Check, ...]
    #: The numbers the sentences quote, by name (tests compare them with what the page shows).
    numbers: Mapping[str, float] = field(default_factory=dict)

    @property
    def holds(self) -> bool:
        return all(c.holds for c in self.checks)

    @property
    def text(self) -> str:
        return " ".join([self.lead, *(c.text for c in self.checks)]).strip()


@dataclass(frozen=True)
class Question:
    """One question and what answers it.

    Attributes:
        key: the question's id, ``q_<page prefix>_<n>``; its buttons' keys start with it.
        text: the question (Markdown, the app's own text).
        widgets: ``{widget key: value}`` that "Show me" sets (values as the widgets hold them).
        compute: builds the :class:`Answer` (call :meth:`answer`, which caches it).
        data: what "Show me" hands the page's loader (a :class:`~grpo_core.reward_table.RewardTable`, a
            tuple of :class:`~grpo_core.toy_batch.Completion`, an experiment's name), or ``None``.
        page: the script of the page "Show me" opens (``app_pages/x.py``), ``None`` for this page.
    """

    key: str
    text: str
    widgets: Mapping[str, Any]
    compute: Callable[[], Answer]
    data: Any = None
    page: str | None = None

    def answer(self) -> Answer:
        return _cached(self.compute)


@functools.lru_cache(maxsize=None)
def _cached(compute: Callable[[], Answer]) -> Answer:
    return compute()


def _n(x: float, digits: int = 3) -> str:
    """A number as the answers print it: ``digits`` significant digits, a real minus sign, no ``-0``."""
    text = f"{x:.{digits}g}" if x != 0 else "0"
    return text.replace("-", "−")


def _ns(values) -> str:
    return ", ".join(_n(v) for v in values)


# ----------------------------------------------------------------------------------- reward groups

_NOTEBOOK = rt.PRESETS["notebook"].table


def _shifted(table: rt.RewardTable, group: int, by: float) -> rt.RewardTable:
    return rt.from_rewards([[r + by if b == group else r for r in g.rewards] for b, g in enumerate(table.groups)])


_SHIFTED = _shifted(_NOTEBOOK, 0, 5.0)
_PAIRS = rt.from_rewards([[1.0, 0.0], [0.51, 0.50]])
_ONE_OF_16 = rt.from_rewards([[0.0] * 3 + [1.0] + [0.0] * 12])


def _rg_all_wrong() -> Answer:
    wrong = rt.summarize(rt.PRESETS["all-wrong"].table).groups[0]
    lucky = rt.summarize(rt.from_rewards([[1.0] + [0.0] * 7])).groups[0]
    return Answer(
        "Advantages compare each reward with its own group's mean.",
        (Check(f"With all {wrong.size} rewards {_n(wrong.rewards[0])}, the mean is {_n(wrong.mean)} and the std "
               f"{_n(wrong.std)}: every completion is exactly average, so every advantage is 0 (largest |A| "
               f"{_n(max(map(abs, wrong.advantages)))}) and the group gives no policy-gradient signal.",
               wrong.std == 0 and all(a == 0 for a in wrong.advantages)),
         Check(f"One lucky right answer among 8 moves the mean to {_n(lucky.mean)}: it gets A = "
               f"{_n(lucky.advantages[0])}, each of the 7 wrong ones {_n(lucky.advantages[1])}.",
               lucky.advantages[0] > 2 and all(-1 < a < 0 for a in lucky.advantages[1:]))),
        {"lucky": lucky.advantages[0]},
    )


def _rg_rare_one() -> Answer:
    groups = rt.summarize(_NOTEBOOK).groups
    checks = []
    for b, name in ((1, "mostly right"), (2, "mostly wrong")):
        g = groups[b]
        top = max(range(g.size), key=lambda i: abs(g.advantages[i]))
        rare = min(set(g.rewards), key=g.rewards.count)
        checks.append(Check(
            f"In P{b + 1} ({name}, rewards {_ns(g.rewards)}, mean {_n(g.mean)}) the biggest push is completion "
            f"{top + 1}'s, A = {_n(g.advantages[top])}: the one reward of {_n(rare)}, the farthest from the mean.",
            g.rewards[top] == rare and g.rewards.count(rare) == 1))
    checks.append(Check(
        "The rare answer is always the farthest from the mean, because the mean sits near the common reward.",
        all(abs(groups[b].advantages[i]) >= abs(a) for b in (1, 2) for i in range(4) for a in groups[b].advantages
            if groups[b].rewards.count(groups[b].rewards[i]) == 1)))
    return Answer("", tuple(checks))


def _rg_offset() -> Answer:
    before, after = rt.summarize(_NOTEBOOK).groups[0], rt.summarize(_SHIFTED).groups[0]
    gap = max(abs(a - b) for a, b in zip(before.advantages, after.advantages))
    return Answer(
        "Show me loaded Notebook's 4 groups with 5 added to every reward of P1.",
        (Check(f"P1's rewards went from {_ns(before.rewards)} to {_ns(after.rewards)} and its mean from "
               f"{_n(before.mean)} to {_n(after.mean)}, but its advantages stay {_ns(after.advantages)} (largest "
               f"change {_n(gap)}): the std did not move ({_n(after.std)}), and the mean moved with every reward.",
               gap < 1e-9 and abs(before.std - after.std) < 1e-12),
         Check("So an offset common to a group's rewards never matters; only the differences inside the group do.",
               gap < 1e-9)),
    )


def _rg_lone_right() -> Answer:
    sizes = (8, 16, 32, 64)
    lone = {scale: [float(group_advantages(torch.tensor([[1.0] + [0.0] * (g - 1)], dtype=torch.float64),
                                           scale=scale)[0, 0]) for g in sizes] for scale in ("group", "none")}
    return Answer(
        "The lone right answer's advantage for G = " + ", ".join(map(str, sizes)) + ":",
        (Check(f"with scale group {_ns(lone['group'])}: it grows like √G, so at G = 64 one lucky answer pushes "
               f"{_n(lone['group'][-1] / lone['group'][0])}× harder than at G = 8;",
               all(b > a for a, b in zip(lone["group"], lone["group"][1:]))),
         Check(f"with none {_ns(lone['none'])} (1 − 1/G): it stays below 1 however many wrong answers there are, "
               "the safer push with G = 64, when a single lucky answer may be noise.",
               all(a < 1 for a in lone["none"]))),
        {"G16_group": lone["group"][1]},
    )


def _rg_pairs() -> Answer:
    group, none = rt.summarize(_PAIRS, scale="group").groups, rt.summarize(_PAIRS, scale="none").groups
    return Answer(
        "Show me loaded the two pairs side by side: P1 = 1 and 0, P2 = 0.51 and 0.50.",
        (Check(f"With scale group both pairs get the same bars, {_ns(group[0].advantages)} and "
               f"{_ns(group[1].advantages)}: with G = 2 the std is the gap ÷ √2 ({_n(group[0].std)} and "
               f"{_n(group[1].std)}), so each bar is ±1/√2 whatever the gap: the division erases how far apart "
               "they were.", max(abs(a - b) for a, b in zip(group[0].advantages, group[1].advantages)) < 1e-6
               and all(abs(g.std * math.sqrt(2) - (max(g.rewards) - min(g.rewards))) < 1e-9 for g in group)),
         Check(f"With none they are {_ns(none[0].advantages)} and {_ns(none[1].advantages)}: the raw distance "
               "from the mean.", abs(none[0].advantages[0] / none[1].advantages[0] - 100) < 1e-6)),
        {"pair": group[0].advantages[0]},
    )


def _rg_continuous() -> Answer:
    table = rt.PRESETS["continuous"].table
    group, none = rt.summarize(table, scale="group").groups, rt.summarize(table, scale="none").groups
    near = [max(abs(a) for a in g.advantages) for g in (group[1], none[1])]
    wide = [max(abs(a) for a in g.advantages) for g in (group[0], none[0])]
    return Answer(
        "P2 is the near-tie (rewards " + _ns(table.groups[1].rewards) + ").",
        (Check(f"With group its largest |A| is {_n(near[0])}, as big as P1's {_n(wide[0])}; with none it is "
               f"{_n(near[1])} against P1's {_n(wide[1])}: P2 loses its push.",
               near[0] > 0.8 * wide[0] and near[1] < 0.1 * wide[1]),
         Check("If those 0.01 differences are a noisy reward model's, group scaling turns noise into full-size "
               "pushes; none keeps them small.", near[1] < 0.05)),
    )


# ----------------------------------------------------------------------------------- ratio and clipping

_CLIP_DEFAULTS = {"clip_eps": 0.2, "clip_higher": False, "clip_eps_high": 0.28, "clip_dual": False,
                  "clip_delta": 3.0}


def _clip(**widgets) -> dict:
    return {**_CLIP_DEFAULTS, **widgets}


def _rc_clip_higher() -> Answer:
    plain = clip_status(1.5, 1.0, epsilon=0.2)
    higher = clip_status(1.5, 1.0, epsilon=0.2, epsilon_high=0.6)
    negative = clip_status(1.5, -1.0, epsilon=0.2, epsilon_high=0.6)
    return Answer(
        "",
        (Check(f"With ε = 0.2, r = 1.5 is past 1 + ε = {_n(plain.high)} on the side A = +1 pushes toward: the "
               f"objective is held at {_n(plain.objective)} and dJ/dr = {_n(plain.gradient)}.",
               plain.clipped and plain.gradient == 0),
         Check(f"With ε_high = 0.6 the band reaches {_n(higher.high)}, r = 1.5 is inside it and dJ/dr = "
               f"{_n(higher.gradient)} = A again.", not higher.clipped and higher.gradient == 1.0),
         Check(f"The upper bound only flattens A > 0 (with A = −1 at r = 1.5 dJ/dr is {_n(negative.gradient)}, not "
               "clipped): ε_high gives room to good completions whose probability is still rising, DAPO's rare "
               "right tokens.", not negative.clipped)),
        {"gradient": higher.gradient},
    )


def _rc_below_positive() -> Answer:
    point = clip_status(0.5, 1.0)
    return Answer(
        "",
        (Check(f"At r = 0.5 with A = +1 the two terms are r·A = {_n(point.unclipped)} and clip(r)·A = "
               f"{_n(point.low)}; the min takes the smaller, unclipped one, so dJ/dr = {_n(point.gradient)}.",
               not point.clipped and point.unclipped < point.low and point.gradient == 1.0),
         Check("The good completion became less likely; pulling it back up is the direction the update wants, so "
               "the clip never stops it.", point.reason == "below_positive")),
        {"gradient": point.gradient},
    )


def _rc_dual() -> Answer:
    left, far = clip_status(0.5, -1.0), clip_status(4.0, -1.0)
    capped = clip_status(4.0, -1.0, delta=3.0)
    return Answer(
        "",
        (Check(f"With A = −1 the left side is flat: at r = 0.5 dJ/dr = {_n(left.gradient)} (below 1 − ε = "
               f"{_n(left.low)} the bad completion is already unlikely enough).", left.clipped and left.gradient == 0),
         Check(f"At r = 4 dJ/dr stays {_n(far.gradient)}, but the push on log π is r·dJ/dr = {_n(far.log_gradient)}: "
               "four times the advantage.", far.gradient == -1.0 and far.log_gradient == -4.0),
         Check(f"Dual clip with δ = 3 caps the objective at δ·A = {_n(capped.objective)} past r = 3, so there the "
               f"push is {_n(capped.log_gradient)}.", capped.clipped and capped.log_gradient == 0)),
        {"push": capped.log_gradient},
    )


def _rc_zero_eps() -> Answer:
    ratios = torch.linspace(0.0, 2.5, 251, dtype=torch.float64)
    curve = surrogate_curve(ratios, 1.0, epsilon=0.0)
    live = ratios[curve.gradient != 0]
    wide = clip_status(1.5, 1.0, epsilon=0.8)
    return Answer(
        "",
        (Check(f"With ε = 0 the band is the single point r = 1. For A = +1 dJ/dr is non-zero only for r ≤ 1 "
               f"(from {_n(float(live.min()))} to {_n(float(live.max()))} on this chart): the first update of a "
               "batch (r = 1) still pushes, but once a token has moved up nothing pushes it further, so reusing "
               "the batch (μ > 1) can only undo moves in the wrong direction.",
               bool(live.numel()) and float(live.max()) == 1.0),
         Check(f"With ε = 0.8 the band is [0.2, 1.8]: at r = 1.5 nothing is clipped (dJ/dr = {_n(wide.gradient)}), "
               "so a reused batch can move each probability almost 2× per update, with little left of the trust "
               "region.", not wide.clipped and wide.gradient == 1.0)),
    )


def _rc_zero_advantage() -> Answer:
    ratios = torch.linspace(0.0, 2.5, 251, dtype=torch.float64)
    curve = surrogate_curve(ratios, 0.0)
    rewards = torch.tensor([[1.0, 1.0, 1.0, 1.0]], dtype=torch.float64)
    return Answer(
        "",
        (Check(f"With A = 0 both terms are 0 at every ratio (largest |J| {_n(float(curve.objective.abs().max()))}, "
               f"largest |dJ/dr| {_n(float(curve.gradient.abs().max()))}): the objective is flat, so the ratio "
               "cannot matter.", float(curve.objective.abs().max()) == 0 and float(curve.gradient.abs().max()) == 0),
         Check(f"A group whose rewards are all 1 gets advantages {_ns(group_advantages(rewards)[0].tolist())}: all "
               "its completions sit here.", bool((group_advantages(rewards) == 0).all()))),
    )


def _rc_on_policy() -> Answer:
    up, down = clip_status(1.0, 1.0), clip_status(1.0, -1.0)
    return Answer(
        "",
        (Check(f"With μ = 1 and no separate sampler every token sits at r = 1, in the middle of the band: J = r·A "
               f"({_n(up.objective)} for A = +1, {_n(down.objective)} for A = −1), dJ/dr = A, nothing clipped.",
               not up.clipped and not down.clipped and up.gradient == 1.0 and down.gradient == -1.0),
         Check("So the clip changes nothing: with TRL's defaults (β = 0 too) only the optimizer limits each update.",
               up.objective == up.unclipped)),
        {"objective": up.objective},
    )


# ----------------------------------------------------------------------------------- algorithms


def _alg_results(preset: str, names: tuple[str, ...], move: float):
    spec = tb.PRESETS[preset]
    batch = tb.build(spec.completions, move=move, rare=spec.rare)
    return batch, {n: tb.evaluate(ALGORITHMS[n], batch) for n in names}


_LONG, _RARE = "one long wrong answer", "a rare token that became likely"


def _alg_long() -> Answer:
    batch, results = _alg_results(_LONG, ("grpo", "dapo"), 0.3)
    grpo, dapo = results["grpo"].weight, results["dapo"].weight
    change = (dapo - grpo).abs()
    row = int(change.argmax())
    real = batch.mask[row] > 0
    per_token = [float(results[n].push[row][real].mean()) for n in ("grpo", "dapo")]
    return Answer(
        "",
        (Check(f"Completion {row + 1}, the {batch.lengths[row]}-token wrong answer, changes most: Σ|∂L/∂log π| "
               f"{_n(float(grpo[row]))} with grpo, {_n(float(dapo[row]))} with dapo.",
               row == 1 and float(change[row]) > 2 * float(change[[i for i in range(4) if i != row]].max())),
         Check(f"grpo divides each answer by its own length, so each of its tokens gets 1/{batch.lengths[row]} of its "
               f"answer's push (mean push {_n(per_token[0])}); dapo's token mean gives every token of the batch the "
               f"same share, so its tokens are pushed down harder ({_n(per_token[1])}).",
               per_token[1] < per_token[0] < 0)),
    )


def _alg_rare() -> Answer:
    batch, results = _alg_results(_RARE, ("grpo", "dapo", "cispo_trl"), 0.3)
    push = {n: float(r.push[batch.rare]) for n, r in results.items()}
    row, col = batch.rare
    return Answer(
        f"The rare token is completion {row + 1}'s token {col + 1} (t{col + 1}).",
        (Check(f"dapo leaves it at exactly {_n(push['dapo'])}: its ratio is far above 1 + ε_high, and the clip cuts "
               "its gradient.", push["dapo"] == 0 and bool(results["dapo"].clipped[batch.rare])),
         Check(f"grpo's clip cuts it too; what is left, {_n(push['grpo'])}, is its β·KL term pulling the token "
               "back toward the reference.", bool(results["grpo"].clipped[batch.rare]) and push["grpo"] < 0),
         Check(f"CISPO (TRL) still pushes it up ({_n(push['cispo_trl'])}): it caps the weight, not the gradient, so "
               "a token that jumped that far keeps being reinforced.", push["cispo_trl"] > 0)),
        {"cispo_push": push["cispo_trl"]},
    )


def _alg_gspo_luspo() -> Answer:
    differ = tb.differences([ALGORITHMS["gspo"], ALGORITHMS["luspo"]])
    batch, results = _alg_results(_LONG, ("gspo", "luspo"), 0.0)
    weights = {n: r.weight for n, r in results.items()}
    long_row = max(range(len(batch.lengths)), key=batch.lengths.__getitem__)
    ratio = {n: float(w[long_row] / w.min()) for n, w in weights.items()}
    return Answer(
        "Show me sets the slider to 0, where no sequence ratio is clipped by their tiny ε.",
        (Check(f"They differ in the {' and '.join(differ)} only.", differ == ["aggregation"]),
         Check(f"GSPO averages an answer's tokens, so every answer weighs alike whatever its length (the "
               f"{batch.lengths[long_row]}-token answer {_n(ratio['gspo'])}× the lightest); LUSPO sums them, so "
               f"the long answer weighs {_n(ratio['luspo'])}× the lightest.",
               abs(ratio["gspo"] - 1) < 1e-6 and ratio["luspo"] > 3)),
    )


def _alg_on_policy() -> Answer:
    names = ("grpo", "dapo", "cispo_trl")
    counts = {}
    for move in (0.3, 0.0):
        batch, results = _alg_results(_LONG, names, move)
        counts[move] = {n: (int(((r.push == 0) & (batch.mask > 0)).sum()), int(r.clipped.sum()))
                        for n, r in results.items()}
    moved, still = counts[0.3], counts[0.0]
    return Answer(
        "On \"one long wrong answer\":",
        (Check(f"at 0.3 the clip holds {moved['grpo'][1]} tokens with grpo and {moved['dapo'][1]} with dapo; dapo's "
               f"show as {moved['dapo'][0]} cells of exactly 0 (grpo's keep the push of their β·KL term, so "
               f"{moved['grpo'][0]} zeros).", moved["dapo"][0] == moved["dapo"][1] > 0 and moved["grpo"][1] > 0),
         Check(f"At 0 every ratio is 1, inside every band: {sum(c[1] for c in still.values())} tokens are clipped "
               f"and {sum(c[0] for c in still.values())} cells are 0. The clip only acts once the policy has moved.",
               all(c == (0, 0) for c in still.values()))),
    )


def _alg_sapo() -> Answer:
    ratios = tb.ratio_grid()
    sapo, grpo = tb.sweep(ALGORITHMS["sapo"], ratios), tb.sweep(ALGORITHMS["grpo"], ratios)
    checks = []
    for sign, flat in ((1, "above 1 + ε = 1.2"), (-1, "below 1 − ε = 0.8")):
        s, g = sapo[sign][1].abs(), grpo[sign][1].abs()
        more, less = ratios[s > g + 1e-9], ratios[s < g - 1e-9]
        bound = 1.2 if sign > 0 else 0.8
        side_more = bool((more >= bound - 1e-9).all()) if sign > 0 else bool((more <= bound + 1e-9).all())
        checks.append(Check(
            f"For A = {'+' if sign > 0 else '−'}1, SAPO pushes harder for r from {_n(float(more.min()))} to "
            f"{_n(float(more.max()))}, where the clip is flat ({flat}), and less from "
            f"{_n(float(less.min()))} to {_n(float(less.max()))}.",
            side_more and bool(less.numel())))
    return Answer("", tuple(checks))


# ----------------------------------------------------------------------------------- KL and β

_KL_LAB = {"kl_lab": "Gaussians", "kl_mu": 0.5, "kl_sigma": 1.0, "kl_mu_ref": 0.0, "kl_sigma_ref": 1.0,
           "kl_samples": 10, "kl_trials": 200, "kl_seed": 0}


#: The token lab as the page starts it (its five policy and reference logits).
_TOKEN_LAB = {"kl_lab": "Tokens", "kl_samples": 10, "kl_trials": 200, "kl_seed": 0,
              **{f"kl_logit{i + 1}": v for i, v in enumerate((2.0, 1.0, 0.5, -1.0, -2.0))},
              **{f"kl_ref_logit{i + 1}": v for i, v in enumerate((1.0, 1.0, 1.0, 0.0, 0.0))}}


def _kl(**widgets) -> dict:
    return {**_KL_LAB, **widgets}


def _lab(w: Mapping) -> Any:
    return gaussian_estimator_lab(w["kl_mu"], w["kl_sigma"], w["kl_mu_ref"], w["kl_sigma_ref"],
                                  num_samples=w["kl_samples"], num_trials=w["kl_trials"], seed=w["kl_seed"])


def _kl_zero() -> Answer:
    total = float(total_reward(1.0, torch.tensor([0.1], dtype=torch.float64),
                               torch.tensor([10.0], dtype=torch.float64))[0, 0])
    long_total = float(total_reward(1.0, torch.tensor([0.04], dtype=torch.float64),
                                    torch.tensor([100.0], dtype=torch.float64))[0, 0])
    return Answer(
        "",
        (Check(f"R − β·KL = 0 at β = R / KL = 0.1: the chart's KL = 10 line reaches {_n(total)} there.",
               abs(total) < 1e-12),
         Check(f"If a long completion's KL, summed over its tokens, is 100, then at DeepSeekMath's β = 0.04 its total "
               f"reward is {_n(long_total)}. β has to be chosen for the KL's scale (per token or summed).",
               long_total < 0)),
        {"total": total},
    )


def _kl_negative() -> Answer:
    widgets = _kl(kl_samples=1)
    lab = _lab(widgets)
    gradients = gaussian_gradient_lab(widgets["kl_mu"], widgets["kl_sigma"], widgets["kl_mu_ref"],
                                      widgets["kl_sigma_ref"], num_samples=1, num_trials=widgets["kl_trials"], seed=0)
    k1_gradient = float(gradients.distance_in_standard_errors()[0])
    negative = lab.frac_negative_samples.tolist()
    z = abs(float(lab.bias[0])) / float(lab.standard_error[0])
    return Answer(
        "",
        (Check(f"Only k1 goes negative: {negative[0]:.0%} of its single samples, against {negative[1]:.0%} for k2 "
               f"and {negative[2]:.0%} for k3.", negative[0] > 0.1 and negative[1] == 0 and negative[2] == 0),
         Check(f"Its mean is {_n(float(lab.mean[0]))} for an exact KL of {_n(lab.exact)}, {z:.1f} standard errors "
               "away: unbiased, so a logged average over many tokens is right.", z < 3),
         Check(f"In the loss its value does not act at all, only its gradient ∇log π, whose mean is 0: section 3 "
               f"measures it {k1_gradient:.1f} standard errors from 0.", k1_gradient < 3)),
        {"k1_negative": negative[0]},
    )


def _kl_samples() -> Answer:
    small, large = _lab(_kl(kl_samples=10)), _lab(_kl(kl_samples=1000))
    shrink = (small.spread / large.spread).tolist()
    return Answer(
        "",
        (Check("From N = 10 to 1000 the spread shrinks by " + ", ".join(
            f"{s:.1f}× for {k}" for k, s in zip(KL_ESTIMATORS, shrink)) + ": about √100 = 10, the 1/√N of an average "
            "of independent samples.", all(7 < s < 14 for s in shrink)),),
        {"k1_spread": float(large.spread[0])},
    )


def _kl_distance() -> Answer:
    close, far = _lab(_kl(kl_mu=0.1)), _lab(_kl(kl_mu=2.5))
    names = KL_ESTIMATORS
    best = int(close.spread.argmin())
    return Answer(
        "",
        (Check(f"At π mean 0.1 {names[best]} has the smallest spread ({_n(float(close.spread[best]))}, k1 "
               f"{_n(float(close.spread[0]))}).", names[best] in ("k2", "k3") and float(close.spread[2]) < float(close.spread[0])),
         Check(f"At 2.5 k2's bias grows to {_n(float(far.bias[1]))} (from {_n(float(close.bias[1]))}), and k3 is now "
               f"noisier than k1 (spread {_n(float(far.spread[2]))} vs {_n(float(far.spread[0]))}).",
               abs(float(far.bias[1])) > 10 * abs(float(close.bias[1])) and float(far.spread[2]) > float(far.spread[0]))),
        {"k3_spread": float(far.spread[2])},
    )


def _kl_infinite() -> Answer:
    lab = _lab(_kl(kl_sigma=0.4, kl_sigma_ref=2.0, kl_samples=1000))
    z = abs(float(lab.bias[2])) / float(lab.standard_error[2])
    return Answer(
        "",
        (Check(f"k3's bias is {_n(float(lab.bias[2]))}, {z:.1f} “standard errors” from 0.", z > 3),
         Check("But σ_π² = 0.16 ≤ σ_ref²/2 = 2: e^(−d) = π_ref/π explodes in the reference's wider tails, k3's "
               "variance is infinite, and a standard error computed from samples means nothing. k3 stays unbiased; "
               "its mean just converges slowly.", lab.infinite_variance[2])),
        {"exact": lab.exact},
    )


def _kl_gradients() -> Answer:
    w = _TOKEN_LAB
    lab = categorical_gradient_lab([w[f"kl_logit{i + 1}"] for i in range(5)],
                                   [w[f"kl_ref_logit{i + 1}"] for i in range(5)],
                                   num_samples=w["kl_samples"], num_trials=w["kl_trials"], seed=w["kl_seed"])
    z = dict(zip(GRADIENT_TERMS, lab.distance_in_standard_errors().tolist()))
    targets = {"k1": torch.zeros_like(lab.reverse_kl_grad), "k2": lab.reverse_kl_grad, "k3": lab.forward_kl_grad,
               "k1_reward": lab.reverse_kl_grad}
    same = {t: torch.allclose(lab.expected[GRADIENT_TERMS.index(t)], target) for t, target in targets.items()}
    return Answer(
        "",
        (Check(f"k2 in the loss and k1 in the reward sit on the diamonds, ∇KL(π‖π_ref) ({z['k2']:.1f} and "
               f"{z['k1_reward']:.1f} standard errors away).", same["k2"] and same["k1_reward"]
               and z["k2"] < 4 and z["k1_reward"] < 4),
         Check(f"k3 in the loss sits on the crosses, ∇KL(π_ref‖π) ({z['k3']:.1f}).", same["k3"] and z["k3"] < 4),
         Check(f"k1 in the loss sits at 0 ({z['k1']:.1f} standard errors from it): on average no pull at all.",
               same["k1"] and z["k1"] < 4)),
    )


#: The KL and β page's section-4 batch (its NOTEBOOK): the first completion drifted far from the reference.
_PLACEMENT = {"logp_new": [-1.0, -2.0, -0.5, -3.0], "logp_old": [-1.1, -1.9, -0.6, -2.8],
              "logp_ref": [-2.5, -2.1, -0.7, -3.1], "rewards": [1.0, 0.0, 1.0, 0.0]}


def _placement_loss(*, beta: float, old: list[float]) -> float:
    inputs = {k: torch.tensor(v, dtype=torch.float64) for k, v in _PLACEMENT.items()}
    return float(grpo_loss(inputs["logp_new"], torch.tensor(old, dtype=torch.float64), inputs["logp_ref"],
                           inputs["rewards"], beta=beta, kl_estimator="k3").loss)


def _placement_pull(beta: float, rewards: list[float]) -> float:
    """The size of the loss's gradient in the section-4 batch's log-probs, with ``rewards``."""
    new = torch.tensor(_PLACEMENT["logp_new"], dtype=torch.float64, requires_grad=True)
    old, ref = (torch.tensor(_PLACEMENT[k], dtype=torch.float64) for k in ("logp_old", "logp_ref"))
    loss = grpo_loss(new, old, ref, torch.tensor(rewards, dtype=torch.float64), beta=beta, kl_estimator="k3").loss
    (gradient,) = torch.autograd.grad(loss, new)
    return float(gradient.abs().sum())


def placement_advantages(beta: float) -> dict[str, list[float]]:
    inputs = {k: torch.tensor(v) for k, v in _PLACEMENT.items()}
    return {place: grpo_loss(inputs["logp_new"], inputs["logp_old"], inputs["logp_ref"], inputs["rewards"],
                             beta=beta, kl_in=place, kl_estimator="k3").advantages.reshape(-1).tolist()
            for place in ("loss", "reward")}


def _kl_placement() -> Answer:
    zero, one = placement_advantages(0.0), placement_advantages(1.0)
    moved = {p: max(abs(a - b) for a, b in zip(zero[p], one[p])) for p in zero}
    return Answer(
        "",
        (Check(f"“A, KL in reward” changes: the drifted right answer falls from {_n(zero['reward'][0])} to "
               f"{_n(one['reward'][0])} while the other right one rises to {_n(one['reward'][2])}, since β·KL is "
               "subtracted from its reward before the group comparison.",
               one["reward"][0] < zero["reward"][0] and one["reward"][2] > one["reward"][0]),
         Check(f"“A, KL in loss” does not move (largest change {_n(moved['loss'])}): there the advantages come from "
               "the rewards alone and the KL acts through its own gradient.", moved["loss"] < 1e-6)),
        {"reward_A1": one["reward"][0]},
    )


# ----------------------------------------------------------------------------------- live training


@functools.lru_cache(maxsize=None)
def short_run(name: str):
    """The experiment ``name`` run for :data:`SHORT_STEPS` steps per arm from :data:`SHORT_SEED` (cached)."""
    return run_experiment(EXPERIMENTS[name], SHORT_SEED, steps=SHORT_STEPS)


def _experiment(name: str, lead: str) -> Callable[[], Answer]:
    def compute() -> Answer:
        checks = short_run(name).verdict().checks
        return Answer(f"{lead} In a {SHORT_STEPS}-step run of each arm (seed {SHORT_SEED}):".strip(),
                      tuple(Check(c.text + (";" if i < len(checks) - 1 else "."), c.holds) for i, c in enumerate(checks)))
    compute.__name__ = f"experiment_{name}"
    return compute


def _tr_std() -> Answer:
    lone = {s: lone_wrong_advantage(16, s)[0] for s in ("group", "none")}
    ran = _experiment("Std scaling vs none, easy prompts", "")()
    return Answer(
        ran.lead,
        (Check(f"in a group of 16 with one wrong answer the std is small, so dividing by it turns the lone wrong "
               f"answer's |A| = {_n(lone['none'])} into {_n(lone['group'])};", lone["group"] > 3 * lone["none"]),
         *ran.checks),
    )


def _tr_binary() -> Answer:
    binary = group_advantages(torch.tensor([[1.0, 1.0, 0, 0, 0, 0, 0, 0]], dtype=torch.float64))[0]
    trainer = Trainer(TrainConfig(partial_credit=True, seed=0))
    rewards = torch.tensor([r for g in trainer.step().groups for r in g.rewards], dtype=torch.float64)
    halves = float((rewards == 0.5).double().mean())
    values = sorted({round(v, 6) for v in binary.tolist()})
    return Answer(
        "",
        (Check(f"A group of 0/1 rewards has only two advantages, one for right and one for wrong answers (2 right of "
               f"8: {_ns(values[::-1])}): exactly the verdict a checker gives.", len(values) == 2),
         Check(f"With partial credit an answer off by one scores 0.5 ({halves:.0%} of the first step's answers "
               "here), so a group can rank near misses above plain misses: three advantages instead of two.",
               halves > 0)),
    )


QUESTIONS: dict[str, tuple[Question, ...]] = {}


def _register(page: str, prefix: str, items: list[tuple]) -> None:
    QUESTIONS[page] = tuple(
        Question(f"q_{prefix}_{i + 1}", text, widgets, compute, *extra)
        for i, (text, widgets, compute, *extra) in enumerate(items))


def _home_critic() -> Answer:
    g = rt.summarize(_NOTEBOOK).groups[1]
    return Answer(
        "The group-relative advantage Â_i: its baseline is the mean reward of the other answers to the same "
        "prompt (its own group), where PPO asks a learned critic.",
        (Check(f"In Notebook's P2 (rewards {_ns(g.rewards)}) the mean is {_n(g.mean)}, so the right answers get "
               f"A = {_n(g.advantages[0])} and the wrong one {_n(g.advantages[3])}.",
               g.advantages[0] > 0 > g.advantages[3] and abs(sum(g.advantages)) < 1e-9),),
    )


def _home_clip_kl() -> Answer:
    moved, still = clip_status(1.5, 1.0), clip_status(1.0, 1.0)
    kl_terms = [_placement_loss(beta=0.04, old=old) - _placement_loss(beta=0.0, old=old)
                for old in (_PLACEMENT["logp_old"], _PLACEMENT["logp_new"])]
    return Answer(
        "",
        (Check(f"The clip limits one update: it compares π_θ with π_old, the model that sampled (r = π_θ/π_old). "
               f"At r = 1.5 with A = +1 its gradient is {_n(moved.gradient)}; at r = 1 it is {_n(still.gradient)}, "
               "so it acts only once the policy has moved away from π_old.",
               moved.clipped and not still.clipped),
         Check(f"The KL term anchors the whole run: it compares π_θ with π_ref, the frozen model from before RL, "
               f"whatever π_old is (the section-4 batch of KL and β: its β·KL term is {_n(kl_terms[0])} with π_old "
               f"as sampled and {_n(kl_terms[1])} with π_old = π_θ).", abs(kl_terms[0] - kl_terms[1]) < 1e-6)),
    )


def _home_equal() -> Answer:
    rewards = torch.tensor([[1.0, 1.0, 1.0, 1.0]], dtype=torch.float64)
    adv = group_advantages(rewards)[0].tolist()
    point = clip_status(1.5, 0.0)
    pull = [_placement_pull(beta, [1.0, 1.0, 1.0, 1.0]) for beta in (0.0, 0.04)]
    return Answer(
        "",
        (Check(f"The advantage Â_i: rewards 1, 1, 1, 1 give A = {_ns(adv)}, so min(r·A, clip(r)·A) = "
               f"{_n(point.objective)} with gradient {_n(point.gradient)} whatever r (Show me: r = 1.5, A = 0).",
               all(a == 0 for a in adv) and point.objective == 0 and point.gradient == 0),
         Check(f"Only the β·KL term still acts on that prompt's tokens: on the KL and β page's section-4 batch with "
               f"rewards 1, 1, 1, 1 the loss's gradient is {_n(pull[0])} in size with β = 0 and {_n(pull[1])} with "
               "β = 0.04.", pull[0] == 0 and pull[1] > 0)),
    )


def _home_length() -> Answer:
    batch, results = _alg_results(_LONG, ("grpo", "dapo"), 0.3)
    long_row = max(range(len(batch.lengths)), key=batch.lengths.__getitem__)
    share = {n: float(r.weight[long_row] / r.weight.sum()) for n, r in results.items()}
    return Answer(
        "In the 1/|o_i| factor: each token of answer i counts 1/(G·|o_i|), so a long answer's tokens count less "
        "each and the answer as a whole about as much as a short one.",
        (Check(f"On \"one long wrong answer\" the {batch.lengths[long_row]}-token answer takes {share['grpo']:.0%} "
               f"of the gradient with grpo (that factor) and {share['dapo']:.0%} with dapo, whose single token "
               "mean lets a longer answer count more.",
               share["dapo"] > share["grpo"] and abs(share["grpo"] - 1 / len(batch.lengths)) < 0.1),),
    )


_register("home", "home", [
    ("Which term of the loss replaces PPO's value network (the critic), and what does it compare each answer with?",
     {"scale": "group"}, _home_critic, _NOTEBOOK, "app_pages/reward_groups.py"),
    ("One term limits how far a single update moves the model, another anchors it over the whole run. Which is "
     "which, and what does each compare the model with (π_old or π_ref)?",
     _clip(clip_ratio=1.5, clip_adv=1.0), _home_clip_kl, None, "app_pages/ratio_clipping.py"),
    ("If every answer to a prompt gets the same reward, which factor of the loss becomes 0 for that prompt?",
     _clip(clip_ratio=1.5, clip_adv=0.0), _home_equal, None, "app_pages/ratio_clipping.py"),
    ("Where in the formula would a longer answer count more, or less, than a short one?",
     {"alg_pick": ["grpo", "dapo"], "alg_preset": _LONG, "alg_move": 0.3}, _home_length,
     tb.PRESETS[_LONG].completions, "app_pages/algorithms.py"),
])

_register("reward_groups", "rg", [
    ("Load **All wrong**. Why is every advantage exactly 0? What would one lucky right answer change?",
     {"scale": "group"}, _rg_all_wrong, rt.PRESETS["all-wrong"].table),
    ("In **Notebook's 4 groups**, compare \"mostly right\" (P2) and \"mostly wrong\" (P3). Which single "
     "completion gets the biggest push in each, and why is it always the rare one?",
     {"scale": "group"}, _rg_rare_one, _NOTEBOOK),
    ("Add 5 to every reward of one group. Do its advantages move? What does that say about the reward's offset?",
     {"scale": "group"}, _rg_offset, _SHIFTED),
    ("Load **1 right out of 8**, then add more wrong answers (G = 16, 32 …). What happens to the lone right "
     "answer's advantage with scale *group*? With *none*? Which is safer with G = 64?",
     {"scale": "group"}, _rg_lone_right, _ONE_OF_16),
    ("Give a group two completions, with rewards 1 and 0, and another with 0.51 and 0.50. With scale *group* do "
     "their bars differ? With *none*?",
     {"scale": "group"}, _rg_pairs, _PAIRS),
    ("Load **Continuous scores** and switch between *group* and *none*. Which prompt loses its push under "
     "*none*, and would you want it to when those tiny differences are a noisy reward model's?",
     {"scale": "none"}, _rg_continuous, rt.PRESETS["continuous"].table),
])

_register("ratio_clipping", "rc", [
    ("Set r = 1.5 and A = +1. Why is the gradient 0? Now switch on clip-higher with ε_high = 0.6: what changes, "
     "and which completions does DAPO want to give this extra room?",
     _clip(clip_ratio=1.5, clip_adv=1.0, clip_higher=True, clip_eps_high=0.6), _rc_clip_higher),
    ("Set r = 0.5 and A = +1. The ratio is far outside the trust region, yet nothing is clipped. Why does GRPO "
     "still let this completion's gradient through?",
     _clip(clip_ratio=0.5, clip_adv=1.0), _rc_below_positive),
    ("With A = −1, which side of the trust region is flat? Move r to 4: dJ/dr stays at A, but how large is the "
     "push on log π (r·dJ/dr), and what does switching on dual clip with δ = 3 do to it?",
     _clip(clip_ratio=4.0, clip_adv=-1.0, clip_dual=True, clip_delta=3.0), _rc_dual),
    ("Set ε = 0. Where is the gradient still non-zero? What would training do with ε = 0.8?",
     _clip(clip_eps=0.0, clip_ratio=0.5, clip_adv=1.0), _rc_zero_eps),
    ("Set A = 0. Why does the ratio no longer matter at all? (Think of a group where every completion got the "
     "same reward.)", _clip(clip_ratio=1.5, clip_adv=0.0), _rc_zero_advantage),
    ("With μ = 1 and no separate sampler, where on this chart does every token of the update sit, and does the "
     "clip change anything? What does that mean for a run with TRL's defaults?",
     _clip(clip_ratio=1.0, clip_adv=1.0), _rc_on_policy),
])

_register("algorithms", "alg", [
    ("Load **one long wrong answer** with grpo and dapo. Which completion's Σ|∂L/∂log π| changes most between "
     "them, and why does token-mean push its tokens down harder?",
     {"alg_pick": ["grpo", "dapo"], "alg_preset": _LONG, "alg_move": 0.3}, _alg_long, tb.PRESETS[_LONG].completions),
    ("Load **a rare token that became likely** with grpo, dapo and CISPO (TRL). Find the token in the heatmaps "
     "(or hover it in the token inspector): which algorithm still pushes it, which leaves it at 0, and what is "
     "left of grpo's push?",
     {"alg_pick": ["grpo", "dapo", "cispo_trl"], "alg_preset": _RARE, "alg_move": 0.3}, _alg_rare,
     tb.PRESETS[_RARE].completions),
    ("Compare gspo and luspo: they differ in one part only. Which, and what does that do to a long answer?",
     {"alg_pick": ["gspo", "luspo"], "alg_preset": _LONG, "alg_move": 0.0}, _alg_gspo_luspo,
     tb.PRESETS[_LONG].completions),
    ("Set the slider to 0: every ratio is 1 (but a preset's rare token). Which 0 cells of the heatmaps "
     "disappear, and why?",
     {"alg_pick": ["grpo", "dapo", "cispo_trl"], "alg_preset": _LONG, "alg_move": 0.0}, _alg_on_policy,
     tb.PRESETS[_LONG].completions),
    ("Pick sapo and grpo. Where along the ratio does SAPO's push exceed the clipped one's, and where is it smaller?",
     {"alg_pick": ["sapo", "grpo"], "alg_preset": _LONG, "alg_move": 0.3}, _alg_sapo, tb.PRESETS[_LONG].completions),
])

_register("kl_beta", "kl", [
    ("With R = 1 and KL = 10, at which β does the total reward reach 0? What does that tell you about choosing β "
     "when the KL of a long completion (summed over its tokens) can be large?",
     {"kl_reward": 1.0, "kl_value3": 10.0, "kl_beta": 0.1}, _kl_zero),
    ("Set N = 1. Which estimator gives negative single-sample estimates, and how often? Its mean is still "
     "unbiased: why is that enough for a logged KL, and why does the sign not matter for k1 in the loss? (Look "
     "at its gradient in section 3.)", _kl(kl_samples=1), _kl_negative),
    ("Move N from 10 to 1000. By how much does each estimator's spread shrink? (Compare with √100 = 10.)",
     _kl(kl_samples=1000), _kl_samples),
    ("Move π's mean to 0.1 (π and π_ref nearly equal). Which estimator has the smallest spread now? Then move it "
     "to 2.5: what happens to k2's bias, and which of k1 and k3 is noisier now?", _kl(kl_mu=2.5), _kl_distance),
    ("Set π std = 0.4, π_ref std = 2 and N = 1000. How many standard errors from 0 is k3's bias, and why is that "
     "no evidence against an unbiased estimator? (Hint: e^(−d) = π_ref/π.)",
     _kl(kl_sigma=0.4, kl_sigma_ref=2.0, kl_samples=1000), _kl_infinite),
    ("In section 3, switch to Tokens. Which bars sit on the diamonds (reverse KL), which on the crosses (forward "
     "KL), and where are k1's?", _TOKEN_LAB, _kl_gradients),
    ("In section 4, move β from 0 to 1. Which column of advantages changes, and why does the other not?",
     {"kl_beta": 1.0}, _kl_placement),
])

_register("training", "tr", [
    ("Run **G = 2 vs G = 16**. Why does the G = 2 run waste so many groups (watch *groups with no reward "
     "spread*)? What does G = 16 cost?", {}, _experiment(
         "G = 2 vs G = 16", "A group of 2 has spread only when one answer is right and the other wrong; G = 16 "
         "samples 8× more completions per question."), "G = 2 vs G = 16"),
    ("Run **μ = 1 vs μ = 4** and look at the clipped fraction. Why is it exactly 0 with μ = 1, whatever ε is?",
     {}, _experiment("μ = 1 vs μ = 4", "With one update per batch the policy being updated is the one that "
                     "sampled, so every ratio is 1."), "μ = 1 vs μ = 4"),
    ("Run **ε small vs large** (μ = 4): which learns faster, and which keeps the ratio calmer?",
     {}, _experiment("ε small vs large", ""), "ε small vs large"),
    ("Run **β = 0 vs β = 0.5** from the same seed. How far does each policy drift from where it started (KL to "
     "the reference)? Does the leash cost reward?", {}, _experiment("β = 0 vs β = 0.5", ""), "β = 0 vs β = 0.5"),
    ("On *easy* prompts, why does dividing by the group std turn one wrong answer into a large push? Run **Std "
     "scaling vs none, easy prompts**.", {}, _tr_std, "Std scaling vs none, easy prompts"),
    ("On the times task, run **grpo vs dapo vs dr_grpo** and watch the completion length: which one punishes "
     "long wrong answers less per token?", {}, _experiment(
         "grpo vs dapo vs dr_grpo, times task", "grpo averages each completion's tokens first, so each token of a "
         "long wrong answer gets a smaller push down."), "grpo vs dapo vs dr_grpo, times task"),
    ("Rewards here are 0 or 1. How many different advantages can a group of binary rewards have, and why does "
     "that suit answers a checker can verify? Turn on partial credit and compare.",
     {"tr_partial": True}, _tr_binary),
])
