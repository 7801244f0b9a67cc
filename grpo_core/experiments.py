"""Ready-made experiments on the toy trainer: each a question, two or more arms, and a lesson the runs check.

An :class:`Experiment` is data: the :class:`~grpo_core.training.TrainConfig` changes of each arm and the
changes they share, how many steps to run, which metric to overlay, the lesson sentence shown after it
ran, and a ``claim`` that checks the lesson on the arms' histories (a :class:`Runs`) and says, with the
numbers, whether these runs show it (:class:`Verdict`). The live-training page maps the config changes
to its widgets and runs the arms itself; :func:`run_experiment` runs them here, for the tests and for
measuring the numbers the lessons quote. Nothing in this module imports Streamlit.

Every lesson was measured first (seeds 0–3 at the experiment's steps); each number a lesson quotes is
a mean over those seeds, and ``tests/test_experiments.py`` asserts each claim in the direction it states.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import torch

from grpo_core.advantages import group_advantages
from grpo_core.arithmetic_tasks import DEFAULT_START_SKILL
from grpo_core.training import (
    TRAIN_METRIC_NAMES,
    MetricHistory,
    TrainConfig,
    Trainer,
    TrainingStopped,
)

#: Logits added to the task's default start skill for each difficulty the page offers.
DIFFICULTY = {"hard": -1.5, "normal": 0.0, "easy": 3.0}


def start_skill(task: str, difficulty: str) -> float | None:
    """``TrainConfig.start_skill`` of ``difficulty`` on ``task`` (``None``: the task's default, "normal")."""
    offset = DIFFICULTY[difficulty]
    return None if offset == 0 else DEFAULT_START_SKILL[task] + offset


def difficulty_of(config: TrainConfig) -> str | None:
    """The difficulty whose start skill ``config`` has, or ``None`` if it is none of :data:`DIFFICULTY`."""
    if config.start_skill is None:
        return "normal"
    offset = config.start_skill - DEFAULT_START_SKILL[config.task]
    return next((name for name, o in DIFFICULTY.items() if abs(o - offset) < 1e-9), None)


# ----------------------------------------------------------------------------------------- runs


class Runs:
    """The arms' per-step metrics: ``columns[label][metric]`` is a ``(steps,)`` float64 tensor.

    Args:
        columns: ``{arm label: {metric name: (steps,) values}}``.
        samples_per_step: ``{arm label: B * G}`` (for comparisons at equal samples).
    """

    def __init__(self, columns: Mapping[str, Mapping[str, torch.Tensor]], samples_per_step: Mapping[str, int]):
        self.columns = {label: {k: torch.as_tensor(v, dtype=torch.float64) for k, v in cols.items()}
                        for label, cols in columns.items()}
        self.samples_per_step = dict(samples_per_step)

    @classmethod
    def from_tables(cls, tables: Mapping[str, object], samples_per_step: Mapping[str, int],
                    names: tuple[str, ...] = TRAIN_METRIC_NAMES) -> Runs:
        """From ``(steps, len(names))`` tables (a :meth:`MetricHistory.table`, or the page's numpy copies)."""
        columns = {}
        for label, table in tables.items():
            table = torch.as_tensor(table, dtype=torch.float64).reshape(-1, len(names))
            columns[label] = {name: table[:, i] for i, name in enumerate(names)}
        return cls(columns, samples_per_step)

    def steps(self, label: str) -> int:
        return int(next(iter(self.columns[label].values())).shape[0])

    def window(self, label: str, metric: str, *, first: float | None = None, last: float | None = None) -> torch.Tensor:
        """The values of ``metric``: all steps, the ``first`` or the ``last`` fraction of them (at least one)."""
        values = self.columns[label][metric]
        n = values.shape[0]
        if first is not None:
            return values[: max(1, round(first * n))]
        if last is not None:
            return values[n - max(1, round(last * n)):]
        return values

    def mean(self, label: str, metric: str, *, first: float | None = None, last: float | None = None) -> float:
        values = self.window(label, metric, first=first, last=last)
        return float(values.mean()) if values.numel() else float("nan")

    def max(self, label: str, metric: str) -> float:
        values = self.columns[label][metric]
        return float(values.max()) if values.numel() else float("nan")

    def mean_up_to_samples(self, label: str, metric: str, samples: int) -> float:
        """Mean of ``metric`` over the steps of ``label`` until it has seen ``samples`` completions."""
        steps = max(1, min(self.steps(label), samples // self.samples_per_step[label]))
        return float(self.columns[label][metric][:steps].mean())


@dataclass(frozen=True)
class Check:
    """One checked statement: what it says (with the measured numbers) and whether the runs show it."""

    text: str
    holds: bool


@dataclass(frozen=True)
class Verdict:
    """What a claim found on some runs: every :class:`Check`, and whether all of them hold."""

    checks: tuple[Check, ...]

    @property
    def holds(self) -> bool:
        return all(c.holds for c in self.checks)

    def __str__(self) -> str:
        return "; ".join(f"{'✓' if c.holds else '✗'} {c.text}" for c in self.checks)


def _f(x: float) -> str:
    return f"{x:.3g}" if abs(x) < 10 else f"{x:.1f}"


# ----------------------------------------------------------------------------------------- experiments


@dataclass(frozen=True)
class Experiment:
    """A ready-made experiment.

    Attributes:
        name: the button's label.
        question: what it asks (the button's help).
        arms: ``(label, TrainConfig changes)`` of each run, in the order they run.
        common: TrainConfig changes every arm shares (on top of ``TrainConfig()``).
        steps: steps per arm (the run's ``max_steps``).
        metric: the :data:`TRAIN_METRIC_NAMES` column to overlay.
        lesson: the sentence shown after it ran (numbers: means over seeds 0–3 at ``steps``).
        claim: ``Runs -> Verdict``: checks the lesson on the arms' histories.
        x_axis: ``"step"``, or ``"samples"`` to compare the arms against completions sampled.
    """

    name: str
    question: str
    arms: tuple[tuple[str, dict], ...]
    steps: int
    metric: str
    lesson: str
    claim: Callable[[Runs], Verdict]
    common: dict = field(default_factory=dict)
    x_axis: str = "step"

    def __post_init__(self) -> None:
        if self.metric not in TRAIN_METRIC_NAMES:
            raise ValueError(f"metric must be one of TRAIN_METRIC_NAMES; got {self.metric!r}")
        if len({label for label, _ in self.arms}) != len(self.arms) or len(self.arms) < 2:
            raise ValueError("an experiment needs at least two arms with distinct labels")
        if self.x_axis not in ("step", "samples"):
            raise ValueError(f"x_axis must be 'step' or 'samples'; got {self.x_axis!r}")
        for _, changes in self.arms:  # every arm must be a valid config
            self.config(changes)

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(label for label, _ in self.arms)

    def config(self, changes: dict, *, seed: int = 0, base: TrainConfig | None = None,
               steps: int | None = None, extra: dict | None = None) -> TrainConfig:
        """The TrainConfig of an arm: ``base`` (default ``TrainConfig()``) with the common changes, the arm's
        changes, then ``extra`` (a test's smaller batch), the seed and the step cap."""
        return (base or TrainConfig()).replace(**{**self.common, **changes, **(extra or {}), "seed": seed,
                                                  "max_steps": steps or self.steps})

    def configs(self, *, seed: int = 0, steps: int | None = None, extra: dict | None = None) -> dict[str, TrainConfig]:
        return {label: self.config(changes, seed=seed, steps=steps, extra=extra) for label, changes in self.arms}


@dataclass
class ExperimentRun:
    """What :func:`run_experiment` ran: each arm's config, history and stop reason (``None``: ran to the cap
    or stopped there)."""

    experiment: Experiment
    seed: int
    configs: dict[str, TrainConfig]
    histories: dict[str, MetricHistory]
    diverged: dict[str, str | None]

    @property
    def runs(self) -> Runs:
        return Runs.from_tables({label: h.table() for label, h in self.histories.items()},
                                {label: c.prompts_per_step * c.group_size for label, c in self.configs.items()})

    def verdict(self) -> Verdict:
        return self.experiment.claim(self.runs)


def run_experiment(experiment: Experiment, seed: int = 0, *, steps: int | None = None, extra: dict | None = None,
                   device: torch.device | str = "cpu") -> ExperimentRun:
    """Run every arm of ``experiment`` from ``seed`` for ``steps`` (default: the experiment's) steps, each with
    :meth:`Trainer.step` until its cap or until it diverges. ``extra``: TrainConfig changes applied to every
    arm after the experiment's own (a test's smaller batch)."""
    configs = experiment.configs(seed=seed, steps=steps, extra=extra)
    histories, diverged = {}, {}
    for label, config in configs.items():
        trainer = Trainer(config, device=device)
        try:
            while trainer.stop_reason is None:
                trainer.step()
        except TrainingStopped:  # pragma: no cover - the loop checks stop_reason first
            pass
        histories[label] = trainer.history
        reason = trainer.stop_reason
        diverged[label] = reason if reason is not None and "diverged" in reason else None
    return ExperimentRun(experiment, seed, configs, histories, diverged)


def lone_wrong_advantage(group_size: int, scale: str) -> tuple[float, float]:
    """``(|A| of the one wrong answer among group_size - 1 right ones, |A| of an answer in a half-right group)``
    under GRPO's advantages with ``scale`` (group std or none): the relative weights std scaling gives."""
    lone = torch.ones(1, group_size)
    lone[0, 0] = 0.0
    half = torch.zeros(1, group_size)
    half[0, : group_size // 2] = 1.0
    return (float(group_advantages(lone, scale=scale)[0, 0].abs()),
            float(group_advantages(half, scale=scale)[0, 0].abs()))


_LONE = {scale: lone_wrong_advantage(16, scale) for scale in ("group", "none")}


# -------------------------------------------------------------------------- the claims, one per experiment


def _claim_group_size(r: Runs) -> Verdict:
    small, wide, big = "G = 2, B = 16", "G = 2, B = 128", "G = 16, B = 16"
    per_step = (r.mean(big, "reward"), r.mean(small, "reward"))
    equal = (r.mean(wide, "reward"), r.mean(big, "reward"))
    zero = (r.mean(wide, "frac_reward_zero_std"), r.mean(big, "frac_reward_zero_std"))
    samples = r.steps(small) * r.samples_per_step[small]
    small_equal = (r.mean(small, "reward"), r.mean_up_to_samples(big, "reward", samples))
    return Verdict((
        Check(f"per step, G = 16 learns faster than G = 2 at the same B (mean reward {_f(per_step[0])} vs "
              f"{_f(per_step[1])})", per_step[0] > 1.15 * per_step[1]),
        Check(f"at equal samples per step, G = 2 (B = 128) keeps up (mean reward {_f(equal[0])} vs {_f(equal[1])})",
              equal[0] >= equal[1] - 0.03),
        Check(f"G = 2 (B = 16) keeps up too against samples seen (mean reward over its {samples} samples "
              f"{_f(small_equal[0])}, G = 16 over its first {samples}: {_f(small_equal[1])})",
              small_equal[0] >= small_equal[1] - 0.03),
        Check(f"yet most G = 2 groups have no reward spread ({zero[0]:.0%} vs {zero[1]:.0%} for G = 16)",
              zero[0] > 0.6 and zero[0] > zero[1] + 0.3),
    ))


def _claim_epsilon(r: Runs) -> Verdict:
    small, large = "ε = 0.05", "ε = 0.5"
    clip = (r.mean(small, "clip_ratio/region_mean"), r.mean(large, "clip_ratio/region_mean"))
    reward = (r.mean(small, "reward"), r.mean(large, "reward"))
    ratio = (r.mean(small, "ratio_max"), r.mean(large, "ratio_max"))
    entropy = (r.mean(small, "entropy"), r.mean(large, "entropy"))
    return Verdict((
        Check(f"ε = 0.05 clips far more tokens ({clip[0]:.1%} vs {clip[1]:.1%} per update)", clip[0] > 3 * clip[1]),
        Check(f"but the reward is about the same (mean {_f(reward[0])} vs {_f(reward[1])})",
              abs(reward[0] - reward[1]) < 0.05),
        Check(f"ε = 0.5 lets the ratio go further (mean largest ratio {_f(ratio[1])} vs {_f(ratio[0])})",
              ratio[1] > 1.5 * ratio[0]),
        Check(f"and the entropy falls faster (mean {_f(entropy[1])} vs {_f(entropy[0])} nats)",
              entropy[1] < entropy[0] - 0.15),
    ))


def _claim_beta(r: Runs) -> Verdict:
    free, leash = "β = 0", "β = 0.5"
    kl = (r.mean(free, "kl_ref", last=0.2), r.mean(leash, "kl_ref", last=0.2))
    reward = (r.mean(free, "reward", last=0.2), r.mean(leash, "reward", last=0.2))
    return Verdict((
        Check(f"β = 0.5 keeps the policy closer to the reference (KL at the end {_f(kl[1])} vs {_f(kl[0])})",
              kl[1] < 0.6 * kl[0]),
        Check(f"and it costs reward here (reward at the end {_f(reward[1])} vs {_f(reward[0])})",
              reward[1] < reward[0]),
    ))


def _claim_mu(r: Runs) -> Verdict:
    one, four = "μ = 1", "μ = 4"
    return Verdict((
        Check(f"with μ = 1 nothing is ever clipped (largest clip fraction {r.max(one, 'clip_ratio/region_mean'):g}, "
              f"largest ratio {r.max(one, 'ratio_max'):g})",
              r.max(one, "clip_ratio/region_mean") == 0 and r.max(one, "ratio_max") == 1),
        Check(f"with μ = 4 the clip holds {r.mean(four, 'clip_ratio/region_mean'):.1%} of the tokens per update",
              r.mean(four, "clip_ratio/region_mean") > 0.02),
    ))


def _claim_std(r: Runs) -> Verdict:
    eg, en, ng, nn = "easy, group", "easy, none", "normal, group", "normal, none"
    easy = r.mean(eg, "advantage_std") / r.mean(en, "advantage_std")
    normal = r.mean(ng, "advantage_std") / r.mean(nn, "advantage_std")
    reward = (r.mean(eg, "reward"), r.mean(en, "reward"))
    late = (r.mean(ng, "reward", last=0.2), r.mean(nn, "reward", last=0.2))
    return Verdict((
        Check(f"std scaling multiplies the advantages' spread about as much on easy prompts (×{easy:.2f}) as on "
              f"normal ones (×{normal:.2f})", easy > 1.8 and normal > 1.8 and 0.8 < easy / normal < 1.4),
        Check(f"on easy prompts both learn alike (mean reward {_f(reward[0])} vs {_f(reward[1])})",
              abs(reward[0] - reward[1]) < 0.02),
        Check(f"at normal difficulty group scaling learned faster (reward at the end {_f(late[0])} vs {_f(late[1])})",
              late[0] > late[1]),
    ))


def _claim_kl(r: Runs) -> Verdict:
    free, k1, k2, k3, reward = "β = 0", "k1", "k2", "k3", "k1 in the reward"
    kl = {label: r.mean(label, "kl_ref", last=0.2) for label in (free, k1, k2, k3, reward)}
    return Verdict((
        Check(f"k1 in the loss leaves the policy about as far as no KL term (KL at the end {_f(kl[k1])} vs "
              f"{_f(kl[free])})", kl[k1] > 0.85 * kl[free]),
        Check(f"k2 pulls ({_f(kl[k2])})", kl[k2] < 0.85 * kl[k1]),
        Check(f"k3 pulls harder ({_f(kl[k3])})", kl[k3] < 0.85 * kl[k2]),
        Check(f"k1 in the reward pulls hardest ({_f(kl[reward])})", kl[reward] < kl[k3]),
    ))


def _claim_length(r: Runs) -> Verdict:
    length = {label: r.mean(label, "completion_length", last=0.5) for label in ("grpo", "dapo", "dr_grpo")}
    reward = {label: r.mean(label, "reward", last=0.5) for label in ("grpo", "dapo", "dr_grpo")}
    return Verdict((
        Check(f"grpo's completions stay longer (mean length {_f(length['grpo'])} tokens vs {_f(length['dapo'])} "
              f"with dapo, {_f(length['dr_grpo'])} with dr_grpo, second half of the run)",
              length["grpo"] > max(length["dapo"], length["dr_grpo"]) + 0.1),
        Check(f"at about the same reward ({_f(reward['grpo'])}, {_f(reward['dapo'])}, {_f(reward['dr_grpo'])})",
              max(reward.values()) - min(reward.values()) < 0.06),
    ))


def _claim_cispo(r: Runs) -> Verdict:
    clip, cispo = "clip (vanilla)", "CISPO"
    cut = r.mean(clip, "clip_ratio/high_mean")
    ratio = (r.mean(clip, "ratio_max"), r.mean(cispo, "ratio_max"))
    entropy = (r.mean(clip, "entropy"), r.mean(cispo, "entropy"))
    reward = (r.mean(clip, "reward"), r.mean(cispo, "reward"))
    return Verdict((
        Check(f"the clip cuts the gradient of {cut:.1%} of the tokens per update (positive advantage, ratio above "
              f"1 + ε); CISPO cuts none ({r.mean(cispo, 'clip_ratio/high_mean'):.1%} of its weights are capped, "
              "their gradient stays)", cut > 0.01),
        Check(f"without the trust region CISPO's ratio goes further (mean largest ratio {_f(ratio[1])} vs "
              f"{_f(ratio[0])})", ratio[1] > 1.3 * ratio[0]),
        Check(f"and its entropy falls faster (mean {_f(entropy[1])} vs {_f(entropy[0])} nats)",
              entropy[1] < entropy[0] - 0.05),
        Check(f"at this learning rate its reward is lower (mean {_f(reward[1])} vs {_f(reward[0])})",
              reward[1] < reward[0]),
    ))


def _claim_rloo(r: Runs) -> Verdict:
    rloo, none, group = "rloo", "grpo, scale = none", "grpo, scale = group"
    reward = {label: r.mean(label, "reward") for label in (rloo, none, group)}
    early = float((r.window(rloo, "reward", first=0.2) - r.window(none, "reward", first=0.2)).abs().max())
    return Verdict((
        Check(f"rloo and grpo without std scaling make the same run (mean reward {_f(reward[rloo])} vs "
              f"{_f(reward[none])}; largest gap over the first fifth of the steps {early:.2g})",
              abs(reward[rloo] - reward[none]) < 0.01 and early < 0.01),
        Check(f"std scaling changes little on easy prompts either ({_f(reward[group])})",
              abs(reward[group] - reward[none]) < 0.02),
    ))


def _claim_passk(r: Runs) -> Verdict:
    grpo, passk = "grpo", "grpo_passk"
    entropy = (r.mean(grpo, "entropy", last=0.2), r.mean(passk, "entropy", last=0.2))
    reward = (r.mean(grpo, "reward", last=0.2), r.mean(passk, "reward", last=0.2))
    return Verdict((
        Check(f"pass@k advantages keep the policy spread out (entropy at the end {_f(entropy[1])} vs "
              f"{_f(entropy[0])} nats)", entropy[1] > entropy[0] + 0.5),
        Check(f"and its mean reward, pass@1, rises much less ({_f(reward[1])} vs {_f(reward[0])})",
              reward[1] < reward[0] - 0.1),
    ))


_VERL_TOKEN_MEAN = {"loss_type": None, "loss_agg_mode": "token-mean"}

EXPERIMENTS: dict[str, Experiment] = {e.name: e for e in (
    Experiment(
        name="G = 2 vs G = 16",
        question="What does the group size change, at equal samples? G = 2 with B = 16 samples 8× less than G = 16; "
                 "G = 2 with B = 128 samples as much (256 completions a step) over 8× more questions. The runs are "
                 "overlaid against completions sampled.",
        arms=(("G = 2, B = 16", {"group_size": 2, "prompts_per_step": 16}),
              ("G = 2, B = 128", {"group_size": 2, "prompts_per_step": 128}),
              ("G = 16, B = 16", {"group_size": 16, "prompts_per_step": 16})),
        steps=150, metric="reward", x_axis="samples", claim=_claim_group_size,
        lesson="Per step, G = 16 learns much faster than G = 2 at the same B (mean reward 0.56 vs 0.33), but it "
               "samples 8× more. Against samples seen, G = 2 keeps up: with B = 128 (the same 256 samples a "
               "step) it learns as fast (0.59 vs 0.56), although 79% of its groups have no reward spread and "
               "give no policy-gradient signal (27% with G = 16); with B = 16 it is even ahead over its 4,800 samples (0.33 vs 0.24 "
               "for G = 16 over its first 4,800). Small groups waste samples, but here they do not learn less per "
               "sample: the same samples cover 8× more questions.",
    ),
    Experiment(
        name="ε small vs large",
        question="What does ε change? With μ = 4 updates per batch the ratio can move at all: compare how often "
                 "the clip holds, how far the ratio goes, the entropy and the reward.",
        arms=(("ε = 0.05", {"epsilon": 0.05}), ("ε = 0.5", {"epsilon": 0.5})),
        common={"num_iterations": 4}, steps=150, metric="ratio_max", claim=_claim_epsilon,
        lesson="A small ε clips far more tokens (27% vs 4.5% of them per update), yet both learn about as fast "
               "here (mean reward 0.60 vs 0.61). What ε changes is how far each batch moves the policy: with "
               "ε = 0.5 the largest ratio reaches 3.4–5.4 (about 2 with ε = 0.05), and the entropy falls faster "
               "(mean 0.89 vs 1.23 nats).",
    ),
    Experiment(
        name="β = 0 vs β = 0.5",
        question="The KL leash: how far does the policy drift from the starting (reference) policy with and "
                 "without it, and what does it cost? (k3 in the loss, the app's default estimator.)",
        arms=(("β = 0", {"beta": 0.0}), ("β = 0.5", {"beta": 0.5})),
        steps=200, metric="kl_ref", claim=_claim_beta,
        lesson="The leash holds: after 200 steps the policy is less than half as far from the reference with "
               "β = 0.5 (KL 0.71 vs 1.61 over the last 40 steps), and it costs reward here (0.64 vs 0.79), since "
               "the reference is the weak starting policy.",
    ),
    Experiment(
        name="μ = 1 vs μ = 4",
        question="When does the clip act? With one update per batch (TRL's default num_iterations = 1) the policy "
                 "that sampled is the one being updated.",
        arms=(("μ = 1", {"num_iterations": 1}), ("μ = 4", {"num_iterations": 4})),
        steps=150, metric="clip_ratio/region_mean", claim=_claim_mu,
        lesson="With one update per batch the ratio is exactly 1 and the clip fraction is exactly 0 at every "
               "step: the clip only acts when a batch is reused (μ > 1; in TRL also when steps_per_generation "
               "exceeds gradient_accumulation_steps, or when the sampler's numbers differ from the trainer's). "
               "With μ = 4 it holds about 12% of the tokens per update.",
    ),
    Experiment(
        name="Std scaling vs none, easy prompts",
        question="Does dividing by the group's std over-weight nearly solved questions (Dr. GRPO's difficulty "
                 "bias)? Easy and normal prompts, with and without std scaling, G = 16: compare the advantages' "
                 "spread and the reward.",
        arms=(("easy, group", {"start_skill": start_skill("add", "easy"), "scale_rewards": "group"}),
              ("easy, none", {"start_skill": start_skill("add", "easy"), "scale_rewards": "none"}),
              ("normal, group", {"scale_rewards": "group"}),
              ("normal, none", {"scale_rewards": "none"})),
        common={"group_size": 16}, steps=150, metric="advantage_std", claim=_claim_std,
        lesson="Std scaling raises the batch's advantage spread about as much on easy prompts (×2.8) as on normal "
               "ones (×2.5): seen from the whole batch it is mostly one global scale, and Adam's per-parameter "
               "step size cancels a global scale, so on easy prompts both runs learn alike (mean reward 0.91 vs "
               f"0.90). The difficulty bias is relative, inside a batch: with G = 16 the lone wrong answer of a "
               f"15-right group gets |A| = {_LONE['group'][0]:.2f} with std scaling and {_LONE['none'][0]:.2f} "
               f"without ({_LONE['group'][0] / _LONE['none'][0]:.0f}×), a half-right group's answers "
               f"{_LONE['group'][1]:.2f} and {_LONE['none'][1]:.2f} "
               f"({_LONE['group'][1] / _LONE['none'][1]:.1f}×). At normal difficulty, where groups range from "
               "one right answer to all right, that reweighting shows: group scaling learned faster (reward "
               "0.81 vs 0.73 over the last 30 steps).",
    ),
    Experiment(
        name="k1 vs k2 vs k3 in the loss, β = 0.5",
        question="Which KL estimators pull the policy back when they are in the loss? The same β = 0.5 with k1, "
                 "k2 and k3 in the loss, against no KL at all and k1 in the reward.",
        arms=(("β = 0", {"beta": 0.0}),
              ("k1", {"beta": 0.5, "kl_estimator": "k1"}),
              ("k2", {"beta": 0.5, "kl_estimator": "k2"}),
              ("k3", {"beta": 0.5, "kl_estimator": "k3"}),
              ("k1 in the reward", {"beta": 0.5, "kl_estimator": "k1", "kl_in": "reward"})),
        steps=200, metric="kl_ref", claim=_claim_kl,
        lesson="In the loss, k1's gradient is zero on average: at β = 0.5 it leaves the policy about as far from "
               "the reference as no KL term at all (KL 1.54 vs 1.61 over the last 40 steps). k2's gradient is "
               "that of KL(π‖π_ref) and k3's that of the forward KL(π_ref‖π): both pull (1.09 and 0.71). k1 in "
               "the reward (InstructGPT, verl's use_kl_in_reward), where it is unbiased, pulls hardest (0.37).",
    ),
    Experiment(
        name="grpo vs dapo vs dr_grpo, times task",
        question="How does loss_type weigh long answers? On the times task completions differ in length: compare "
                 "their mean length under the three aggregations.",
        arms=(("grpo", {"loss_type": "grpo"}), ("dapo", {"loss_type": "dapo"}), ("dr_grpo", {"loss_type": "dr_grpo"})),
        common={"task": "times"}, steps=200, metric="completion_length", claim=_claim_length,
        lesson="loss_type grpo averages each completion's tokens first, so each token of a long answer weighs "
               "less: long wrong answers are pushed down less per token and stay. Its completions are longer "
               "(3.2 tokens vs 2.9 with dapo and with dr_grpo over the second half of the run; the wrong ones "
               "alone 4.2 vs 3.5 over the whole run) at about the same reward (0.65, 0.66, 0.66). dapo (a token "
               "mean) and dr_grpo (a constant denominator) weigh every token alike.",
    ),
    Experiment(
        name="Clip vs CISPO, μ = 4",
        question="What does clipping the weight instead of the update change? With μ = 4 updates per batch (β = 0, "
                 "token-mean), the clip cuts the gradient of tokens whose ratio left [1−ε, 1+ε]; CISPO only caps "
                 "their weight.",
        arms=(("clip (vanilla)", {**_VERL_TOKEN_MEAN, "policy_loss": "vanilla"}),
              ("CISPO", {**_VERL_TOKEN_MEAN, "policy_loss": "cispo"})),
        common={"num_iterations": 4, "beta": 0.0}, steps=150, metric="ratio_max", claim=_claim_cispo,
        lesson="With μ = 4 the clip stops the gradient of every positive-advantage token whose ratio passed 1 + ε "
               "(about 3% of the tokens per update here: clip_ratio/high_mean). CISPO caps only those tokens' "
               "weight and keeps their gradient (its clip_ratio/high_mean, about 6%, counts capped weights, not "
               "cut gradients). Without that trust region the ratio runs further (mean largest ratio 4.9 vs 2.3), "
               "the entropy falls faster (0.54 vs 0.75 nats) and, at this learning rate, the reward is lower.",
    ),
    Experiment(
        name="RLOO vs GRPO, easy prompts",
        question="RLOO compares each answer with the mean of the others, GRPO with the group mean (itself "
                 "included), then divides by the std. How different are the runs? β = 0, easy prompts.",
        arms=(("rloo", {"advantage_estimator": "rloo"}),
              ("grpo, scale = none", {"scale_rewards": "none"}),
              ("grpo, scale = group", {"scale_rewards": "group"})),
        common={"start_skill": start_skill("add", "easy"), "beta": 0.0}, steps=150, metric="reward",
        claim=_claim_rloo,
        lesson="RLOO's leave-one-out advantages are exactly G/(G−1) times GRPO's unscaled ones (8/7 here): one "
               "global scale, which Adam's per-parameter step size cancels. With β = 0 the rloo run and the grpo "
               "run without std scaling are the same run up to rounding (mean reward 0.90 in both; the same "
               "reward at every one of the first 30 steps), and on easy "
               "prompts std scaling changes little either. The estimators differ in the size of the "
               "advantages, which matters where something else is added to the loss (a KL term with β > 0).",
    ),
    Experiment(
        name="Pass@k vs GRPO advantages",
        question="What does training for pass@k do? grpo_passk rewards only each group's best answer, by its "
                 "margin over the second best.",
        arms=(("grpo", {"advantage_estimator": "grpo"}), ("grpo_passk", {"advantage_estimator": "grpo_passk"})),
        steps=150, metric="entropy", claim=_claim_passk,
        lesson="With 0/1 rewards, grpo_passk teaches only from groups with exactly one right answer, and never "
               "pushes a wrong answer down. The policy stays spread out (entropy 2.2 vs 0.8 nats over the last 30 "
               "steps) and its mean reward, pass@1, rises much less (0.37 vs 0.68): it trains for one right "
               "answer among G (pass@G), not for every answer to be right.",
    ),
)}
