"""What a training log shows, in sentences: each finding with its evidence and where the explorer shows why.

:func:`find` reads a :class:`grpo_core.runlog.RunLog` (explorer names: ``reward``, ``reward_std``,
``frac_reward_zero_std``, ``kl``, ``entropy``, ``clip_ratio/*``, ``completion_length``,
``truncated_fraction``, ``loss``) and returns :class:`Finding`\\ s. Every threshold is a named constant
below; every sentence is built from the numbers it states, and says only what holds whatever the run's
other settings were (where a reading depends on a setting, the sentence names the setting).

"Early" and "late" are the means of the first and the last quarter of the steps where a metric is logged
(at least :data:`MIN_POINTS` of them), so one noisy step neither makes nor breaks a finding.
Nothing here imports Streamlit.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from grpo_core.runlog import RunLog

#: Fewest logged steps of a metric before a finding reads it.
MIN_POINTS = 4
#: No signal: a step where at least this fraction of groups had one reward for all completions ...
NO_SIGNAL_FRACTION = 0.5
#: ... on at least this share of the logged steps.
NO_SIGNAL_SHARE = 0.25
#: Loss "near 0": the median of |loss| is at most this ...
LOSS_NEAR_ZERO = 0.05
#: ... while the reward's late mean differs from its early mean by at least this much.
REWARD_MOVES = 0.05
#: KL grows without bound: the quarter means rise each quarter and the late one is at least this many times
#: the second quarter's ...
KL_GROWTH = 2.0
#: ... and at least this large (nats per token).
KL_MIN = 0.01
#: Entropy collapse: the late mean is at most this share of the early one.
ENTROPY_COLLAPSE = 0.3
#: Length drift: the late mean length is at least this many times the early one.
LENGTH_GROWTH = 1.3
#: Truncation: a step where at least this fraction of completions hit the length limit ...
TRUNCATED_FRACTION = 0.1
#: ... on at least this share of the logged steps.
TRUNCATED_SHARE = 0.25
#: reward_std shrinking: the late mean is at most this share of the early one ...
REWARD_STD_SHRINK = 0.25
#: ... from an early mean of at least this.
REWARD_STD_MIN = 0.01
#: Most (step, value) pairs a finding lists as evidence.
EVIDENCE_POINTS = 6


#: The Live training page's URL parameter that starts a ready-made experiment as the page opens.
START_EXPERIMENT = "tr_exp"


@dataclass(frozen=True)
class Link:
    """Where the explorer shows the mechanism.

    Attributes:
        page: the page's ``url_path`` in app/main.py (``"training"``, ``"reward-groups"``, ...).
        label: the link's text.
        query: URL parameters that set the page up (the page's own keys; a list repeats the key), may be empty.
        experiment: the name of a ready-made experiment on that page (``grpo_core.experiments.EXPERIMENTS``),
            or ``None``.
    """

    page: str
    label: str
    query: dict[str, str | list[str]] = field(default_factory=dict)
    experiment: str | None = None

    @property
    def url_query(self) -> dict[str, str | list[str]]:
        """``query``, and the experiment to start on opening (the Live training page's ``tr_exp``)."""
        return {**self.query, START_EXPERIMENT: self.experiment} if self.experiment else dict(self.query)

    @property
    def text(self) -> str:
        """The link's words, saying what opening it starts."""
        return self.label + (f" (starts the ready-made experiment “{self.experiment}”)" if self.experiment else "")


@dataclass(frozen=True)
class Finding:
    """One thing the log shows.

    Attributes:
        key: a stable id (``"no_signal"``, ``"clip_zero"``, ...).
        title: a few words.
        sentence: what the numbers show and why, in plain words (true for the numbers it states).
        metric: the explorer name of the metric the evidence is of.
        evidence: up to :data:`EVIDENCE_POINTS` ``(step, value)`` pairs that show it.
        links: where to see the mechanism.
    """

    key: str
    title: str
    sentence: str
    metric: str
    evidence: tuple[tuple[int, float], ...]
    links: tuple[Link, ...]


def _series(log: RunLog, name: str) -> tuple[np.ndarray, np.ndarray] | None:
    if name not in log.metrics:
        return None
    steps, values = log.series(name)
    return (steps, values) if len(values) >= MIN_POINTS else None


def _quarters(values: np.ndarray) -> list[float]:
    """Means of the four quarters of ``values`` (in step order)."""
    return [float(np.mean(part)) for part in np.array_split(values, 4)]


def _evidence(steps: np.ndarray, values: np.ndarray, pick: np.ndarray | None = None) -> tuple[tuple[int, float], ...]:
    index = np.flatnonzero(pick) if pick is not None else np.arange(len(steps))
    if len(index) > EVIDENCE_POINTS:
        index = index[np.unique(np.linspace(0, len(index) - 1, EVIDENCE_POINTS).round().astype(int))]
    return tuple((int(steps[i]), float(values[i])) for i in index)


def _g(x: float) -> str:
    return f"{x:.3g}"


def _pct(x: float) -> str:
    return f"{100 * x:.0f}%"


def find(log: RunLog) -> list[Finding]:
    """Every finding the log shows, in a fixed order (see the module docstring for what each reads)."""
    found = []
    for check in (_no_signal, _reward_std_shrinks, _clip_zero, _loss_near_zero, _kl_grows, _entropy_collapse,
                  _length_drift, _truncated):
        finding = check(log)
        if finding is not None:
            found.append(finding)
    return found


def _no_signal(log: RunLog) -> Finding | None:
    data = _series(log, "frac_reward_zero_std")
    if data is None:
        return None
    steps, values = data
    hit = values >= NO_SIGNAL_FRACTION
    if hit.sum() < max(2, NO_SIGNAL_SHARE * len(values)):
        return None
    return Finding(
        "no_signal", "Many groups give no learning signal",
        f"At {int(hit.sum())} of {len(values)} logged steps at least {_pct(NO_SIGNAL_FRACTION)} of the groups gave "
        f"all their completions the same reward (frac_reward_zero_std up to {_pct(float(values.max()))}). A group "
        "with one reward everywhere has advantages of exactly 0, so it adds nothing to the policy gradient (a KL "
        "term in the loss still pulls on it): those "
        "prompts are always solved or never. More completions per prompt (num_generations / rollout.n), prompts "
        "of the right difficulty, or rewards with partial credit give groups spread.",
        "frac_reward_zero_std", _evidence(steps, values, hit),
        (Link("reward-groups", "Reward groups: a group with one reward has zero advantages"),
         Link("training", "Live training: G = 2 vs G = 16", experiment="G = 2 vs G = 16")))


def _reward_std_shrinks(log: RunLog) -> Finding | None:
    data = _series(log, "reward_std")
    if data is None:
        return None
    steps, values = data
    early, *_, late = _quarters(values)
    if not (early >= REWARD_STD_MIN and late <= REWARD_STD_SHRINK * early):
        return None
    return Finding(
        "reward_std_shrinks", "The rewards stop differing",
        f"The spread of the rewards (reward_std) fell from {_g(early)} early in the run to {_g(late)} late (means "
        "of the first and last quarter of the steps). Completions increasingly get the same reward, so the "
        "advantages, each reward minus its group's mean, shrink toward 0 and the learning signal with them. "
        "Either the task is being solved (check the reward) or the policy has stopped exploring (check the "
        "entropy).",
        "reward_std", _evidence(steps, values),
        (Link("reward-groups", "Reward groups: advantages come from the spread inside a group"),))


def _clip_zero(log: RunLog) -> Finding | None:
    names = [n for n in ("clip_ratio/region_mean", "clip_ratio/low_mean", "clip_ratio/high_mean") if n in log.metrics]
    data = [_series(log, n) for n in names]
    data = [(n, d) for n, d in zip(names, data) if d is not None]
    if not data or any(np.any(d[1] != 0) for _, d in data):
        return None
    name, (steps, values) = data[0]
    return Finding(
        "clip_zero", "The clip never acts",
        f"The clipped fraction ({', '.join(n for n, _ in data)}) is exactly 0 at all {len(values)} logged steps. "
        "That is expected when every batch is used for one update by the very policy that sampled it: in TRL, "
        "num_iterations = 1 with gradient_accumulation_steps a multiple of steps_per_generation (the defaults) and "
        "without vLLM's importance-sampling correction; in verl, ppo_epochs = 1 with one mini-batch per batch. "
        "Then every ratio π/π_old is 1 and ε never matters. Clipping only acts once a batch is reused "
        "(num_iterations / ppo_epochs > 1, or several mini-batches).",
        name, _evidence(steps, values),
        (Link("ratio-clipping", "Ratio and clipping: where the clip cuts the gradient"),
         Link("training", "Live training: μ = 1 vs μ = 4", experiment="μ = 1 vs μ = 4")))


def _loss_near_zero(log: RunLog) -> Finding | None:
    loss, reward = _series(log, "loss"), _series(log, "reward")
    if loss is None or reward is None:
        return None
    steps, values = loss
    early, *_, late = _quarters(reward[1])
    typical = float(np.median(np.abs(values)))
    if not (typical <= LOSS_NEAR_ZERO and abs(late - early) >= REWARD_MOVES):
        return None
    return Finding(
        "loss_near_zero", "The loss sits near 0 while the reward moves",
        f"The loss stays near 0 (median |loss| {_g(typical)}) while the mean reward went from {_g(early)} early to "
        f"{_g(late)} late. That is normal for GRPO: advantages are centred in each group, so the policy term "
        "averages to about 0 whatever the model learns (0 up to rounding with one update per batch, β = 0, loss_type "
        "\"grpo\" and every token in the loss), while its gradient is not 0. The loss value says little here; watch the reward.",
        "loss", _evidence(steps, values),
        (Link("reward-groups", "Reward groups: advantages average to 0 in each group"),))


def _kl_grows(log: RunLog) -> Finding | None:
    data = _series(log, "kl")
    if data is None:
        return None
    steps, values = data
    q = _quarters(values)
    if not (q[1] < q[2] < q[3] and q[3] >= KL_MIN and q[3] >= KL_GROWTH * max(q[1], 1e-12)):
        return None
    return Finding(
        "kl_grows", "KL to the reference keeps growing",
        f"The KL to the reference rose in every quarter of the run, from {_g(q[0])} to {_g(q[3])} (quarter "
        f"means), {q[3] / max(q[1], 1e-12):.1f}× the second quarter's, and shows no sign of levelling off. The "
        "policy keeps drifting from where it started; only β (beta in TRL, kl_loss_coef with use_kl_loss=True in "
        "verl) pulls it back, and a larger β pulls harder.",
        "kl", _evidence(steps, values),
        (Link("kl-beta", "KL and β: the leash to the reference"),
         Link("training", "Live training: β = 0 vs β = 0.5", experiment="β = 0 vs β = 0.5")))


def _entropy_collapse(log: RunLog) -> Finding | None:
    data = _series(log, "entropy")
    if data is None:
        return None
    steps, values = data
    early, *_, late = _quarters(values)
    if not (early > 0 and late <= ENTROPY_COLLAPSE * early):
        return None
    return Finding(
        "entropy_collapse", "Entropy collapses",
        f"The policy's entropy fell from {_g(early)} to {_g(late)} nats per token (late mean {_pct(late / early)} "
        "of the early one). The policy is becoming sure of its answers; once every completion of a group is the "
        "same, the group has no reward spread and stops teaching. A higher upper clip (epsilon_high / "
        "clip_ratio_high, DAPO's clip-higher), a higher sampling temperature or an entropy bonus keep exploring.",
        "entropy", _evidence(steps, values),
        (Link("training", "Live training with clip-higher (ε_high = 0.28)",
              query={"tr_clip_high": "true", "tr_eps_high": "0.28", "tr_mu": "4"}),))


def _length_drift(log: RunLog) -> Finding | None:
    data = _series(log, "completion_length")
    if data is None:
        return None
    steps, values = data
    early, *_, late = _quarters(values)
    if not (early > 0 and late >= LENGTH_GROWTH * early):
        return None
    return Finding(
        "length_drift", "Completions get longer",
        f"The mean completion length grew from {_g(early)} to {_g(late)} tokens ({late / early:.2f}×). Longer "
        "answers can be real reasoning, but loss_type \"grpo\" also favours them when they are wrong: it averages "
        "each completion over its own tokens first, so each token of a long wrong answer is pushed down less "
        "than a token of a short one (the length bias Dr. GRPO points out). loss_type \"dapo\" or \"dr_grpo\" "
        "(verl: loss_agg_mode token-mean or seq-mean-token-sum-norm) weighs every token the same.",
        "completion_length", _evidence(steps, values),
        (Link("algorithms", "Algorithms: one long wrong answer under grpo, dapo and dr_grpo",
              query={"alg_pick": ["grpo", "dapo", "dr_grpo"], "alg_preset": "one long wrong answer"}),
         Link("training", "Live training: grpo vs dapo vs dr_grpo on the times task",
              experiment="grpo vs dapo vs dr_grpo, times task")))


def _truncated(log: RunLog) -> Finding | None:
    data = _series(log, "truncated_fraction")
    if data is None:
        return None
    steps, values = data
    hit = values >= TRUNCATED_FRACTION
    if hit.sum() < max(2, TRUNCATED_SHARE * len(values)):
        return None
    return Finding(
        "truncated", "Many completions are cut off",
        f"At {int(hit.sum())} of {len(values)} logged steps at least {_pct(TRUNCATED_FRACTION)} of the completions "
        f"hit the length limit without finishing (up to {_pct(float(values.max()))}). A cut answer is usually "
        "scored as wrong whatever its reasoning, which teaches the policy that long answers fail. Raise the limit "
        "(max_completion_length / data.max_response_length), or leave cut answers out of the loss "
        "(mask_truncated_completions=True in TRL, DAPO's overlong filtering).",
        "truncated_fraction", _evidence(steps, values, hit),
        (Link("training", "Live training on the times task (answers can be cut)", query={"tr_task": "times"}),))
