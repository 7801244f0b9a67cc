"""The Lessons page's content as data: eight steps through GRPO, the seed notebook's five questions, and a
printable worksheet. Nothing in this module imports Streamlit.

Each :class:`Step` asks the learner for a :class:`Prediction` first (an option, or a number on a slider);
its ``answer`` function then computes what really happens with grpo_core (advantages, the clip, the KL
penalty, aggregation weights, short seeded runs of the ready-made experiments of
:mod:`grpo_core.experiments`) and returns an :class:`Answer`: the numbers, the right option or value, and
an explanation built from those numbers, so that it stays true for them. ``tests/test_lessons.py`` checks
every sentence's claim against the numbers it quotes.

The learner's answers travel in one URL value (:func:`encode_answers` / :func:`decode_answers`), because the
page shows one step at a time and Streamlit drops a bound widget's URL value once the widget is not drawn.
"""

from __future__ import annotations

import functools
import html
import re
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import torch

from grpo_core.aggregation import aggregation_weights
from grpo_core.curves import total_reward
from grpo_core.experiments import EXPERIMENTS, Check, run_experiment
from grpo_core.findings import Link
from grpo_core.functional import clipped_surrogate, group_advantages, probability_ratio
from grpo_core.reward_table import PRESETS, encode, from_rewards
from grpo_core.training import TrainConfig, Trainer

#: The Lessons page's ``url_path`` in app/main.py (the worksheet's links to each step start with it).
LESSONS_PAGE = "lessons"
#: Steps of the short experiments (the full ones run 150-200): each step stays well under 2 s on a CPU.
SHORT_STEPS = {"G = 2 vs G = 16": 40, "ε small vs large": 40, "β = 0 vs β = 0.5": 60}
LIVE_STEPS = 60
MAX_TITLE = 80


def fmt(x: float, digits: int = 3) -> str:
    """``x`` with ``digits`` significant digits, never ``-0``."""
    text = f"{x:.{digits}g}"
    return "0" if re.fullmatch(r"-0(\.0*)?(e[+-]?\d+)?", text) or float(text) == 0 else text


def pct(x: float) -> str:
    return f"{x:.0%}"


# ------------------------------------------------------------------------------------------------ data


@dataclass(frozen=True)
class Prediction:
    """What the learner guesses before the reveal: one of ``options``, or a number on a slider."""

    prompt: str
    options: tuple[str, ...] = ()
    low: float = 0.0
    high: float = 1.0
    step: float = 0.05
    default: float = 0.0
    tolerance: float = 0.0  # a slider guess within this of the value counts as right

    @property
    def kind(self) -> str:
        return "choice" if self.options else "slider"

    def parse(self, text: str) -> str | float:
        """A guess as the URL holds it (an option's letter, or a number) -> the option or the number."""
        if self.kind == "choice":
            if not re.fullmatch(r"[a-z]", text) or ord(text) - 97 >= len(self.options):
                raise ValueError("an answer is not one of its step's options")
            return self.options[ord(text) - 97]
        if not re.fullmatch(r"-?\d{1,3}(\.\d{1,4})?", text):
            raise ValueError("an answer is not a short number")
        value = float(text)
        if not self.low <= value <= self.high:
            raise ValueError("an answer is outside its slider's range")
        return value

    def format(self, guess: str | float) -> str:
        """A guess as the URL holds it."""
        if self.kind == "choice":
            return chr(97 + self.options.index(guess))
        return fmt(round(float(guess), 4), 6)


@dataclass(frozen=True)
class Answer:
    """What happened: the right option (choice) or value (slider), the numbers, the explanation."""

    correct: str | float
    shown: str  # the right option, or the value as the page shows it
    explanation: str
    numbers: Mapping[str, float] = field(default_factory=dict)
    checks: tuple[Check, ...] = ()  # an experiment's lesson checked on these runs (each says if it holds)
    experiment: str | None = None  # the ready-made experiment whose lesson ``checks`` checks

    def is_right(self, prediction: Prediction, guess: str | float) -> bool:
        if prediction.kind == "choice":
            return guess == self.correct
        return abs(float(guess) - float(self.correct)) <= prediction.tolerance + 1e-6

    def verdict(self, prediction: Prediction, guess: str | float) -> str:
        """"You said X; it is Y." plus whether that is right (or close enough, or how far off)."""
        said = guess if prediction.kind == "choice" else fmt(float(guess))
        head = f"You said {said}; it is {self.shown}."
        if self.is_right(prediction, guess):
            return head + (" Right." if prediction.kind == "choice" or prediction.tolerance == 0
                           else f" Close enough (within {fmt(prediction.tolerance)}).")
        if prediction.kind == "choice":
            return head + " Not this time."
        return head + f" Off by {fmt(abs(float(guess) - float(self.correct)), 2)}."


@dataclass(frozen=True)
class Step:
    number: int
    title: str
    text: str
    prediction: Prediction
    answer: Callable[[], Answer]
    links: tuple[Link, ...]


@dataclass(frozen=True)
class Question:
    """One of the seed notebook's "Think about this" questions: where the app shows it, and its answer."""

    number: int
    text: str
    answer: Callable[[], Answer]
    links: tuple[Link, ...]


# ------------------------------------------------------------------------------------------- answers

SCORES = (0.9, 0.6, 0.8, 0.7)  # a reward model's scores of four answers: all positive
NOTEBOOK_GROUP = (1.0, 0.0, 1.0, 0.0)


def baseline_answer() -> Answer:
    rewards = torch.tensor([SCORES])
    fixed = rewards - 0.0
    relative = group_advantages(rewards, scale="none")
    up_fixed, up_group = int((fixed > 0).sum()), int((relative > 0).sum())
    down_group = int((relative < 0).sum())
    mean = float(rewards.mean())
    options = STEPS_OPTIONS["baseline"]
    correct = options[up_fixed]
    return Answer(
        correct, correct,
        f"With a fixed baseline of 0 each advantage is the reward itself ({fmt(min(SCORES))} to {fmt(max(SCORES))}), "
        f"all positive, so all {up_fixed} answers are pushed up, the worst one ({fmt(min(SCORES))}) too, only less. "
        f"Subtracting the group mean ({fmt(mean)}) instead leaves {up_group} answers above it, pushed up, and "
        f"{down_group} below it, pushed down: the group itself says which answers beat what the policy usually "
        "writes for this prompt, with no critic network to learn that baseline.",
        {"pushed_up_fixed": up_fixed, "pushed_up_group": up_group, "pushed_down_group": down_group, "mean": mean,
         "lowest_fixed_advantage": float(fixed.min())})


def advantages_answer() -> Answer:
    rewards = torch.tensor([NOTEBOOK_GROUP])
    adv = group_advantages(rewards)[0]
    mean, std = float(rewards.mean()), float(rewards.std())
    right, wrong, total = float(adv[0]), float(adv[1]), float(adv.sum())
    return Answer(
        right, fmt(right),
        f"The group mean is {fmt(mean)} and its std {fmt(std)} (the unbiased std, ÷ (G − 1), as torch.std and TRL "
        f"take it), so a right answer gets (1 − {fmt(mean)}) ÷ {fmt(std)} = {fmt(right)} and a wrong one "
        f"{fmt(wrong)}. The advantages sum to {fmt(total)}: what the right answers gain, the wrong ones lose.",
        {"mean": mean, "std": std, "right": right, "wrong": wrong, "sum": total})


LOGP_NEW = (-1.0, -2.0, -0.5, -3.0)  # the seed notebook's verification cell
LOGP_OLD = (-1.1, -1.9, -0.6, -2.8)


def ratio_answer() -> Answer:
    ratios = probability_ratio(torch.tensor(LOGP_NEW), torch.tensor(LOGP_OLD))
    first = float(ratios[0])
    up, down = int((ratios > 1).sum()), int((ratios < 1).sum())
    return Answer(
        first, fmt(first, 4),
        f"The ratio is exp(log π_new − log π_old) = exp({fmt(LOGP_NEW[0] - LOGP_OLD[0], 2)}) = {fmt(first)}: the new "
        f"policy makes this token {pct(first - 1)} more likely than the policy that sampled it. Of the seed's four "
        f"answers {up} became more likely and {down} less likely (ratios "
        f"{', '.join(fmt(float(r)) for r in ratios)}). A ratio of exactly 1 means no change: every ratio "
        "is 1 on the first update of a fresh batch, while the policy being updated is the one that sampled it.",
        {"ratio": first, "more_likely": up, "less_likely": down})


CLIP_RATIO, CLIP_ADV, CLIP_EPS = 1.5, 1.0, 0.2  # the seed notebook's example


def clip_answer() -> Answer:
    ratio = torch.tensor(CLIP_RATIO, requires_grad=True)
    objective = clipped_surrogate(ratio, torch.tensor(CLIP_ADV), epsilon=CLIP_EPS)
    objective.backward()
    value, grad = float(objective.detach()), float(ratio.grad)
    inside = torch.tensor(1.1, requires_grad=True)
    clipped_surrogate(inside, torch.tensor(CLIP_ADV), epsilon=CLIP_EPS).backward()
    return Answer(
        value, fmt(value),
        f"Unclipped it would be r × A = {fmt(CLIP_RATIO * CLIP_ADV)}. The clip caps the ratio at 1 + ε = "
        f"{fmt(1 + CLIP_EPS)}, so the objective is {fmt(value)}, and flat there: its gradient in r is {fmt(grad)}, "
        f"so this update pushes this token no further. Inside the clip (r = 1.1) the gradient is A = "
        f"{fmt(float(inside.grad))}: the clip only stops a push that has already gone past 1 + ε.",
        {"objective": value, "unclipped": CLIP_RATIO * CLIP_ADV, "gradient": grad, "gradient_inside": float(inside.grad)})


KL_R, KL_BETA, KL_VALUE = 1.0, 0.1, 5.0


def kl_answer() -> Answer:
    totals = total_reward(KL_R, torch.tensor([KL_BETA, 0.2, 0.0]), torch.tensor([KL_VALUE]))[0].double()
    at_beta, at_double, free = (float(t) for t in totals)
    at_double = round(at_double, 6)
    return Answer(
        at_beta, fmt(at_beta),
        f"R − β·KL = {fmt(KL_R)} − {fmt(KL_BETA)} × {fmt(KL_VALUE)} = {fmt(at_beta)}: the leash takes "
        f"{pct(1 - at_beta / KL_R)} of the reward of an answer written that far from the reference. At β = 0.2 the same "
        f"drift leaves {fmt(at_double)}, and at β = 0 the whole {fmt(free)}. The further the policy drifts from the "
        "frozen reference, the more reward an answer must earn to be worth it.",
        {"total": at_beta, "total_beta_0.2": at_double, "total_beta_0": free})


LENGTHS = (5, 18, 6, 4)  # the Algorithms page's preset "one long wrong answer": right, wrong, right, wrong


def aggregation_answer() -> Answer:
    mask = torch.zeros(len(LENGTHS), max(LENGTHS))
    for row, length in enumerate(LENGTHS):
        mask[row, :length] = 1.0
    grpo = aggregation_weights("seq-mean-token-mean", mask)[:, 0]
    dapo = aggregation_weights("token-mean", mask)[:, 0]
    long_w, short_w = float(grpo[1]), float(grpo[3])
    ratio = short_w / long_w
    options = STEPS_OPTIONS["aggregation"]
    correct = options[0] if long_w > short_w * (1 + 1e-6) else options[2] if long_w < short_w * (1 - 1e-6) else options[1]
    long_share_grpo = long_w * LENGTHS[1]
    long_share_dapo = float(dapo[1]) * LENGTHS[1]
    return Answer(
        correct, correct,
        f"Under grpo each answer's tokens are averaged first: a token of the 18-token answer weighs 1/(4 · 18) = "
        f"{fmt(long_w)}, one of the 4-token answer 1/(4 · 4) = {fmt(short_w)}, {fmt(ratio, 2)}× more. Each whole "
        f"answer weighs the same ({fmt(long_share_grpo)}), however long. Under dapo (one mean over all {sum(LENGTHS)} "
        f"tokens) every token weighs {fmt(float(dapo[1]))}, so the long wrong answer gets {LENGTHS[1]}/{sum(LENGTHS)} = "
        f"{pct(long_share_dapo)} of the loss's weight: a long wrong answer is pushed down less per token under grpo, and can stay.",
        {"grpo_long_token": long_w, "grpo_short_token": short_w, "dapo_token": float(dapo[1]),
         "grpo_long_share": long_share_grpo, "dapo_long_share": long_share_dapo})


def _first_last(values: torch.Tensor, n: int = 10) -> tuple[float, float]:
    return float(values[:n].mean()), float(values[-n:].mean())


def live_run_answer() -> Answer:
    trainer = Trainer(TrainConfig(max_steps=LIVE_STEPS, seed=0), device="cpu")
    while trainer.stop_reason is None:
        trainer.step()
    history = trainer.history
    first, last = _first_last(history.column("reward"))
    zero_first, zero_last = _first_last(history.column("frac_reward_zero_std"))
    kl_end = float(history.column("kl_ref")[-10:].mean())
    trend = ("it rose: each step GRPO pushed up the answers that beat their group's average" if last > first
             else "it did not rise in this short run")
    return Answer(
        last, fmt(last, 2),
        f"Over its first 10 steps the mean reward was {fmt(first, 2)}; over the last 10 it was {fmt(last, 2)}, so "
        f"{trend}. Groups with no reward spread (all right or all wrong, no signal) went from {pct(zero_first)} to "
        f"{pct(zero_last)} of the groups, and the policy's KL to its starting point reached {fmt(kl_end, 2)}.",
        {"reward_first": first, "reward_last": last, "zero_std_first": zero_first, "zero_std_last": zero_last,
         "kl_end": kl_end})


@functools.cache  # steps 8 and questions 3 and 4 read the same seeded runs: run each once per process
def _short(name: str):
    return run_experiment(EXPERIMENTS[name], steps=SHORT_STEPS[name], device="cpu")


def _g_numbers() -> dict[str, float]:
    runs = _short("G = 2 vs G = 16").runs
    small, big = "G = 2, B = 16", "G = 16, B = 16"
    return {"reward_g2": runs.mean(small, "reward"), "reward_g16": runs.mean(big, "reward"),
            "zero_std_g2": runs.mean(small, "frac_reward_zero_std"),
            "zero_std_g16": runs.mean(big, "frac_reward_zero_std"),
            "samples_g2": runs.samples_per_step[small], "samples_g16": runs.samples_per_step[big],
            "reward_g16_same_samples": runs.mean_up_to_samples(big, "reward", runs.steps(small) * runs.samples_per_step[small])}


def _eps_numbers() -> tuple[dict[str, float], tuple[Check, ...]]:
    run = _short("ε small vs large")
    runs = run.runs
    small, large = "ε = 0.05", "ε = 0.5"
    return ({"reward_small": runs.mean(small, "reward"), "reward_large": runs.mean(large, "reward"),
             "clip_small": runs.mean(small, "clip_ratio/region_mean"), "clip_large": runs.mean(large, "clip_ratio/region_mean"),
             "ratio_small": runs.mean(small, "ratio_max"), "ratio_large": runs.mean(large, "ratio_max"),
             "entropy_small": runs.mean(small, "entropy"), "entropy_large": runs.mean(large, "entropy")},
            run.verdict().checks)


def _beta_numbers() -> dict[str, float]:
    runs = _short("β = 0 vs β = 0.5").runs
    return {"reward_free": runs.mean("β = 0", "reward"), "reward_leash": runs.mean("β = 0.5", "reward"),
            "kl_free": runs.mean("β = 0", "kl_ref", last=0.2), "kl_leash": runs.mean("β = 0.5", "kl_ref", last=0.2)}


def knobs_answer() -> Answer:
    g, (e, checks), b = _g_numbers(), _eps_numbers(), _beta_numbers()
    gaps = {"G": abs(g["reward_g16"] - g["reward_g2"]), "ε": abs(e["reward_small"] - e["reward_large"]),
            "β": abs(b["reward_free"] - b["reward_leash"])}
    options = STEPS_OPTIONS["knobs"]
    least = min(gaps, key=gaps.get)
    correct = options["Gεβ".index(least)]
    more_less = "less" if b["kl_leash"] < b["kl_free"] else "more"
    return Answer(
        correct, correct,
        f"Mean reward gaps: G {fmt(gaps['G'], 2)}, ε {fmt(gaps['ε'], 2)}, β {fmt(gaps['β'], 2)}.\n"
        f"G = 2 vs 16 (B = 16): {pct(g['zero_std_g2'])} of the G = 2 groups had no reward spread and taught nothing "
        f"({pct(g['zero_std_g16'])} with G = 16); mean reward {fmt(g['reward_g2'], 2)} vs {fmt(g['reward_g16'], 2)}, "
        f"but G = 16 samples {g['samples_g16'] // g['samples_g2']:.0f}× more per step.\n"
        f"ε = 0.05 vs 0.5 (μ = 4): the small ε clipped {pct(e['clip_small'])} of the tokens per update against "
        f"{pct(e['clip_large'])}, and the largest ratio reached {fmt(e['ratio_small'], 2)} vs {fmt(e['ratio_large'], 2)} "
        f"on average; mean reward {fmt(e['reward_small'], 2)} vs {fmt(e['reward_large'], 2)}.\n"
        f"β = 0 vs 0.5: over the last fifth of the run the policy's KL to the reference was {fmt(b['kl_free'], 2)} "
        f"vs {fmt(b['kl_leash'], 2)}, {more_less} with the leash; mean reward {fmt(b['reward_free'], 2)} vs "
        f"{fmt(b['reward_leash'], 2)}.",
        {**{f"gap_{k}": v for k, v in gaps.items()}, **g, **e, **b}, checks, "ε small vs large")


# --------------------------------------------------------------------------------- the five questions


def same_reward_answer() -> Answer:
    rewards = torch.tensor([[1.0, 1.0, 1.0, 1.0], [0.0, 0.0, 0.0, 0.0]])
    adv = group_advantages(rewards)
    largest = float(adv.abs().max())
    return Answer(
        largest, fmt(largest),
        f"Every advantage is {fmt(largest)} for a group all right ([1, 1, 1, 1]) and for one all wrong ([0, 0, 0, 0]): "
        "no answer beats its group, so the policy-gradient term gives that prompt nothing, whatever the rewards' "
        "size. Only a KL term (β > 0, in the loss) still pulls on it. Such groups waste their samples, which is why "
        "DAPO samples again until groups have a spread.",
        {"largest_advantage": largest})


def group_size_answer() -> Answer:
    g = _g_numbers()
    faster = "faster" if g["reward_g16"] > g["reward_g2"] else "not faster"
    keeps = "kept up" if g["reward_g2"] >= g["reward_g16_same_samples"] else "fell behind"
    return Answer(
        g["zero_std_g2"], pct(g["zero_std_g2"]),
        f"With G = 2, {pct(g['zero_std_g2'])} of the groups had both answers alike (both right or both wrong) and "
        f"gave no signal, against {pct(g['zero_std_g16'])} with G = 16 ({SHORT_STEPS['G = 2 vs G = 16']} steps, 16 "
        f"questions a step). Per step G = 16 learned {faster} (mean reward {fmt(g['reward_g16'], 2)} vs "
        f"{fmt(g['reward_g2'], 2)}), but it samples {g['samples_g16'] // g['samples_g2']:.0f}× more. Against samples "
        f"seen, G = 2 {keeps} (mean reward {fmt(g['reward_g2'], 2)} over its samples vs {fmt(g['reward_g16_same_samples'], 2)} "
        "for G = 16 over as many). A very large G (64) spends 64 samples on one question: the baseline gets precise, "
        "the cost grows with G.",
        g)


def epsilon_answer() -> Answer:
    e, checks = _eps_numbers()
    steadier = e["ratio_small"] < e["ratio_large"] and e["entropy_small"] > e["entropy_large"]
    move = ("The small ε keeps each batch's move small" if steadier else "Here the small ε did not keep each batch's "
            "move smaller on both counts")
    same = abs(e["reward_small"] - e["reward_large"]) < 0.05
    return Answer(
        e["clip_small"], pct(e["clip_small"]),
        f"With μ = 4 updates per batch, ε = 0.05 clipped {pct(e['clip_small'])} of the tokens per update and ε = 0.5 "
        f"{pct(e['clip_large'])}. {move} (largest ratio {fmt(e['ratio_small'], 2)} vs {fmt(e['ratio_large'], 2)} on "
        f"average; entropy {fmt(e['entropy_small'], 2)} vs {fmt(e['entropy_large'], 2)} nats, where a faster fall means "
        f"a policy growing sure faster): that is the stability a small ε buys. The speed was "
        f"{'about the same' if same else 'different'} here (mean reward {fmt(e['reward_small'], 2)} vs "
        f"{fmt(e['reward_large'], 2)}). With μ = 1 (TRL's default) the ratio is exactly 1 and ε does nothing at all.",
        {**e, "steadier": float(steadier), "same_speed": float(same)}, checks, "ε small vs large")


def binary_answer() -> Answer:
    rights = {}
    for k in (1, 4, 7):
        group = torch.zeros(1, 8)
        group[0, :k] = 1.0
        adv = group_advantages(group)[0]
        rights[k] = (float(adv[0]), float(adv[-1]), len({round(float(a), 6) for a in adv}))
    return Answer(
        rights[1][0], fmt(rights[1][0]),
        f"With 0/1 rewards a group's mean is its pass rate and its advantages take only {rights[1][2]} values, the right "
        f"answers' and the wrong ones'. The rarer the right answer, the harder it is pushed: 1 right of 8 gets "
        f"{fmt(rights[1][0])}, 4 right of 8 get {fmt(rights[4][0])} each, 7 right of 8 get {fmt(rights[7][0])} (the "
        f"lone wrong one {fmt(rights[7][1])}). A checker gives the reward, so no reward model and no critic has to be "
        "learned, and the group compares answers to the same question, so a hard question and an easy one both "
        "teach (until every answer is alike).",
        {"right_1_of_8": rights[1][0], "right_4_of_8": rights[4][0], "right_7_of_8": rights[7][0],
         "wrong_7_of_8": rights[7][1], "distinct_1_of_8": rights[1][2]})


# --------------------------------------------------------------------------------------------- steps

STEPS_OPTIONS = {
    "baseline": ("none", "1", "2", "3", "all 4"),
    "aggregation": ("more", "the same", "less"),
    "knobs": ("G = 2 instead of 16", "ε = 0.05 instead of 0.5", "β = 0.5 instead of 0"),
}
_SCORES_LINK = Link("reward-groups", "Reward groups with these four scores, not divided by the std",
                    {"rewards": encode(from_rewards([list(SCORES)])), "scale": "none"})

STEPS: tuple[Step, ...] = (
    Step(1, "Why a group baseline",
         f"A reward model scores four answers to one prompt {', '.join(fmt(s) for s in SCORES)}: all positive. "
         "A policy-gradient update pushes each answer's probability up or down in proportion to its advantage: its reward minus a baseline.",
         Prediction("With a fixed baseline of 0 (advantage = reward), how many of the four answers are pushed up?",
                    options=STEPS_OPTIONS["baseline"]),
         baseline_answer, (_SCORES_LINK,)),
    Step(2, "Advantages",
         "The seed's group: four answers, rewards 1, 0, 1, 0. GRPO's advantage is a z-score inside the group: "
         "A = (r − mean) ÷ std.",
         Prediction("What advantage does a right answer get?", low=0.0, high=3.0, step=0.05, default=0.0, tolerance=0.1),
         advantages_answer, (Link("reward-groups", "Reward groups: the seed's four groups, with the numbers",
                                  {"numbers": "true"}),)),
    Step(3, "The ratio",
         "After an update the policy gives a sampled token a new log-probability. The seed's first answer: "
         f"log π_old = {fmt(LOGP_OLD[0])}, log π_new = {fmt(LOGP_NEW[0])}.",
         Prediction("What is the ratio π_new / π_old?", low=0.0, high=3.0, step=0.01, default=1.0, tolerance=0.02),
         ratio_answer, (Link("ratio-clipping", "Ratio and clipping at this ratio", {"clip_ratio": "1.11", "clip_adv": "1.0"}),)),
    Step(4, "Clipping",
         f"The seed's example: the ratio has reached {fmt(CLIP_RATIO)} on a good answer (A = {fmt(CLIP_ADV)}), with "
         f"ε = {fmt(CLIP_EPS)}. GRPO maximises min(r·A, clip(r, 1 − ε, 1 + ε)·A).",
         Prediction("What is the clipped objective?", low=0.0, high=2.0, step=0.05, default=0.0, tolerance=0.0),
         clip_answer, (Link("ratio-clipping", "Ratio and clipping with the seed's numbers",
                            {"clip_ratio": "1.5", "clip_adv": "1.0", "clip_eps": "0.2"}),)),
    Step(5, "The KL leash",
         f"With the KL in the reward, each answer's reward becomes R − β·KL. An answer worth R = {fmt(KL_R)} was "
         f"written by a policy that has drifted KL = {fmt(KL_VALUE)} nats from the frozen reference; β = {fmt(KL_BETA)}.",
         Prediction("What total reward does it get?", low=-1.0, high=1.0, step=0.05, default=1.0, tolerance=0.0),
         kl_answer, (Link("kl-beta", "KL and β: the penalty against β", {"kl_reward": "1.0", "kl_beta": "0.1"}),)),
    Step(6, "Aggregation",
         f"Four answers of {', '.join(map(str, LENGTHS))} tokens (right, wrong, right, wrong). The loss averages "
         "per-token terms; loss_type grpo averages each answer's tokens first, then the answers.",
         Prediction("Under grpo, one token of the 18-token wrong answer weighs ... one token of the 4-token wrong one.",
                    options=STEPS_OPTIONS["aggregation"]),
         aggregation_answer, (Link("algorithms", "Algorithms: this batch under grpo, dapo and dr_grpo",
                                   {"alg_pick": ["grpo", "dapo", "dr_grpo"], "alg_preset": "one long wrong answer"}),)),
    Step(7, "A live run",
         f"A tiny policy learns a + b with GRPO (16 questions a step, G = 8, the app's defaults). At the start about "
         f"20% of its answers are right. It trains for {LIVE_STEPS} steps, seed 0.",
         Prediction("What mean reward will it have over its last 10 steps?", low=0.0, high=1.0, step=0.05,
                    default=0.2, tolerance=0.1),
         live_run_answer, (Link("training", "Live training: this run (press Play)",
                                {"tr_cap": str(LIVE_STEPS), "tr_seed": "0"}),)),
    Step(8, "What G, ε and β change",
         "Three short experiments, each changing one knob: G = 2 vs 16 (B = 16), ε = 0.05 vs 0.5 (μ = 4 updates per "
         "batch), β = 0 vs 0.5 (k3 in the loss).",
         Prediction("Which change moves the mean reward least?", options=STEPS_OPTIONS["knobs"]),
         knobs_answer, tuple(Link("training", f"Live training: {name}", experiment=name) for name in SHORT_STEPS)),
)

QUESTIONS: tuple[Question, ...] = (
    Question(1, "Why is using the group average better than using a fixed baseline of 0?", baseline_answer,
             (_SCORES_LINK,)),
    Question(2, "What happens if ALL completions in the group get the same reward?", same_reward_answer,
             (Link("reward-groups", "Reward groups: a group all right and one all wrong",
                   {"rewards": encode(from_rewards([[1, 1, 1, 1], [0, 0, 0, 0]])), "numbers": "true"}),)),
    Question(3, "What happens if the group size G is very small (e.g., 2)? Very large (e.g., 64)?", group_size_answer,
             (Link("training", "Live training: G = 2 vs G = 16", experiment="G = 2 vs G = 16"),)),
    Question(4, "How does the choice of epsilon affect training stability vs speed?", epsilon_answer,
             (Link("training", "Live training: ε small vs large", experiment="ε small vs large"),)),
    Question(5, "Why is GRPO particularly well-suited for reasoning tasks where rewards are binary?", binary_answer,
             (Link("reward-groups", "Reward groups: 1 right out of 8",
                   {"rewards": encode(PRESETS["one-right-of-8"].table), "numbers": "true"}),)),
)


# ------------------------------------------------------------------------------------- URL and links


def encode_answers(answers: Mapping[int, str | float]) -> str:
    """``{step: guess}`` -> ``"1:e,2:0.85"`` (steps in order; a choice as its option's letter)."""
    return ",".join(f"{n}:{STEPS[n - 1].prediction.format(answers[n])}" for n in sorted(answers))


def decode_answers(text: str) -> dict[int, str | float]:
    """The inverse of :func:`encode_answers`; ``ValueError`` (a plain reason) if malformed."""
    answers: dict[int, str | float] = {}
    for part in text.split(",") if text else []:
        number, sep, value = part.partition(":")
        if not sep or not re.fullmatch(r"[1-9]", number) or int(number) > len(STEPS):
            raise ValueError(f"an answer does not name a step 1 to {len(STEPS)}")
        if int(number) in answers:
            raise ValueError("a step is answered twice")
        answers[int(number)] = STEPS[int(number) - 1].prediction.parse(value)
    return answers


def worksheet_title(text: str) -> str:
    """URL validator of the worksheet's title: one line of at most :data:`MAX_TITLE` characters."""
    if len(text) > MAX_TITLE or any(ord(c) < 32 for c in text):
        raise ValueError(f"it must be one line of at most {MAX_TITLE} characters")
    return text


def link_url(link: Link) -> str:
    """A relative URL (``page?key=value``) that opens the link's page set up as the link says."""
    query = urllib.parse.urlencode(link.url_query, doseq=True)
    return link.page + (f"?{query}" if query else "")


def step_link(number: int) -> Link:
    return Link(LESSONS_PAGE, f"Lessons, step {number}", {"ls_step": str(number)})


# ------------------------------------------------------------------------------------------ worksheet


def _blank(prediction: Prediction) -> list[str]:
    if prediction.kind == "choice":
        return [f"[ ] {option}" for option in prediction.options]
    return [f"My guess (between {fmt(prediction.low)} and {fmt(prediction.high)}): ________"]


def app_base(url: str | None) -> str:
    """The app's address as a prefix for the worksheet's links (``http(s)://host/path/``, without the Lessons
    page's own path), or ``""`` (relative links) for anything that is not a plain http(s) address."""
    if not url:
        return ""
    parts = urllib.parse.urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc or any(c in url for c in "\"'<> \\"):
        return ""
    path = parts.path.rstrip("/").removesuffix("/" + LESSONS_PAGE)  # the page's own path, where Streamlit keeps it
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, path + "/", "", ""))


def worksheet_markdown(title: str = "GRPO lesson", base_url: str | None = None) -> str:
    """The lesson as a printable Markdown worksheet: each prediction with a blank, and the links to open
    (relative, or under ``base_url``, the app's address)."""
    base = app_base(base_url)
    title = " ".join(title.split()) or "GRPO lesson"
    lines = [f"# {title}", "", "Write your prediction down before you open the step and press Reveal.", ""]
    for step in STEPS:
        lines += [f"## Step {step.number}: {step.title}", "", step.text, "", f"**{step.prediction.prompt}**", ""]
        lines += [f"- {b}" for b in _blank(step.prediction)]
        lines += ["", "What happened: ________________________________", "", "Open:"]
        lines += [f"- [{link.text}]({base}{link_url(link)})" for link in (step_link(step.number), *step.links)]
        lines.append("")
    lines += ["## The seed notebook's questions", ""]
    for q in QUESTIONS:
        lines += [f"{q.number}. {q.text}", "", "   My answer: ________________________________", ""]
        lines += [f"   - [{link.text}]({base}{link_url(link)})" for link in q.links]
        lines.append("")
    return "\n".join(lines)


def worksheet_html(title: str = "GRPO lesson", base_url: str | None = None) -> str:
    """The same worksheet as one HTML page; every text piece goes through ``html.escape``."""
    e = html.escape
    base = app_base(base_url)
    title = " ".join(title.split()) or "GRPO lesson"

    def links(items) -> str:
        return "<ul>" + "".join(f'<li><a href="{e(base + link_url(link))}">{e(link.text)}</a></li>'
                                for link in items) + "</ul>"

    parts = [f"<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{e(title)}</title>",
             "<style>body{font-family:sans-serif;max-width:46em;margin:2em auto;line-height:1.4}"
             ".blank{border-bottom:1px solid #000;min-height:1.6em;margin:.4em 0 1em}"
             "section{break-inside:avoid;margin-bottom:1.5em}</style></head><body>",
             f"<h1>{e(title)}</h1><p>Write your prediction down before you open the step and press Reveal.</p>"]
    for step in STEPS:
        blanks = "".join(f"<li>{e(b)}</li>" for b in _blank(step.prediction))
        parts.append(f"<section><h2>Step {step.number}: {e(step.title)}</h2><p>{e(step.text)}</p>"
                     f"<p><strong>{e(step.prediction.prompt)}</strong></p><ul>{blanks}</ul>"
                     f"<p>What happened:</p><div class=\"blank\"></div><p>Open:</p>"
                     f"{links((step_link(step.number), *step.links))}</section>")
    parts.append("<h2>The seed notebook's questions</h2><ol>")
    for q in QUESTIONS:
        parts.append(f"<li><p>{e(q.text)}</p><p>My answer:</p><div class=\"blank\"></div>{links(q.links)}</li>")
    parts.append("</ol></body></html>")
    return "".join(parts)


def all_links() -> list[Link]:
    """Every link the lesson and the worksheet give (steps, their Show me links, the questions')."""
    out = []
    for step in STEPS:
        out += [step_link(step.number), *step.links]
    for q in QUESTIONS:
        out += list(q.links)
    return out

