"""A real, tiny GRPO training run: its settings, its results and the trainer, on the simulated tasks of
:mod:`grpo_core.arithmetic_tasks` with the policy of :mod:`grpo_core.tiny_policy`.

Everything the live-training page shows is computed here; the GRPO math itself is
:func:`grpo_core.grpo_loss`. Nothing in this module imports Streamlit.

Shapes: ``B`` prompts per step, ``G`` completions per prompt, ``N = B*G``, ``T`` completion tokens
(``T = 1`` for the one-token task), ``V`` the policy's vocabulary (its answer tokens), ``P`` the task's
prompts.

The policy is ``logits = net(prompt, previous token, position) + prior``, divided by the temperature:

- ``net`` is a small MLP (embeddings of the two operands, of the previous token and of the position,
  summed, then two ``tanh`` layers); it is what GRPO trains.
- ``prior`` is a fixed bonus of ``skill_p`` logits on the right next token while the completion is right
  so far. It stands in for what pretraining gave an LLM: the starting policy is right on some answers,
  not on most, so groups have reward spread from the first step. ``skill_p`` differs by prompt (drawn
  once from the seed around :attr:`TrainConfig.start_skill`), so some prompts are easy and some hard.

The reference policy is a frozen copy of the starting policy; the "old" policy is the policy at the time
a step's completions were sampled (its log-probs are kept for the ``num_iterations`` updates).
"""

from __future__ import annotations

import copy
import dataclasses
import math
import time
from dataclasses import dataclass, field
from functools import cached_property

import torch

from grpo_core import _checks
from grpo_core.device import device as default_device
from grpo_core.advantages import ADVANTAGE_ESTIMATORS
from grpo_core.aggregation import AGGREGATIONS
from grpo_core.arithmetic_tasks import AddTask, Task, TimesTask
from grpo_core.functional import ADVANTAGE_SCALES, KL_ESTIMATORS, RATIO_LEVELS, _check_clip, probability_ratio
from grpo_core.loss import KL_PLACEMENTS, LOSS_TYPES, METRIC_NAMES, grpo_loss
from grpo_core.inspector import UpdateInputs
from grpo_core.objectives import OBJECTIVES
from grpo_core.tiny_policy import TinyPolicy

TASKS = ("add", "times")
TASK_LABELS = {
    "add": "a + b, one answer token",
    "times": "a × b, digit by digit then EOS",
}
#: Hidden width of the policy's MLP for each size.
POLICY_SIZES = {"tiny": 16, "small": 64, "large": 256}
#: The fields whose change needs a fresh run (new policy, new task or new batch shape).
STRUCTURAL_FIELDS = ("task", "prompts_per_step", "group_size", "policy_size", "start_skill", "seed",
                     "max_completion_length")
#: Spread (std, in logits) of the per-prompt skill around ``start_skill``.
SKILL_SPREAD = 1.0
#: Metrics that depend on wall-clock time: they differ between two runs with the same seed.
TIMING_METRICS = ("steps_per_s",)
#: Every key of :attr:`StepResult.metrics`, in display order.
TRAIN_METRIC_NAMES = METRIC_NAMES + ("accuracy", "entropy", "kl_ref", "ratio_max", "steps_per_s")


@dataclass(frozen=True)
class TrainConfig:
    """Every knob of a run. Validated on construction (``ValueError`` naming the field).

    Attributes:
        task: ``"add"`` (one-token: ``a + b`` with ``a, b`` in 0..9, answer tokens 0..18) or ``"times"``
            (``a × b`` with ``a, b`` in 0..12, written digit by digit then EOS: 2 to 4 tokens).
        policy_size: ``"tiny"``, ``"small"`` or ``"large"`` (hidden width 16, 64, 256).
        prompts_per_step: ``B``, prompts sampled per step.
        group_size: ``G``, completions sampled per prompt.
        temperature: divides the logits, for sampling and for every log-prob (as TRL does).
        lr: Adam learning rate.
        num_iterations: ``μ``, policy updates per batch of completions. ``μ = 1`` is on-policy: the old
            log-probs are the new ones detached, the ratio is exactly 1 and nothing is clipped.
        epsilon, epsilon_high, delta, beta, kl_estimator, kl_in, kl_bias_correction, scale_rewards,
        advantage_estimator, loss_type, policy_loss, loss_agg_mode, importance_sampling_level, tau_pos,
        tau_neg, dro_beta, top_entropy_quantile, mask_truncated_completions: passed to
        :func:`grpo_core.grpo_loss` (:meth:`loss_settings`). ``loss_type`` is TRL's name of the variant;
        to use verl's ``policy_loss``/``loss_agg_mode`` instead, set ``loss_type=None``. Completions that
        reach ``max_completion_length`` without EOS count as truncated.
        partial_credit: ``"add"``: 0.5 for an answer off by one; ``"times"``: up to 0.5 for the digits in
            the right place of a wrong answer. Exact answers always get 1.
        start_skill: mean logit bonus of the right token in the starting policy; ``None`` = the task's
            default, tuned so that about 20% of the first answers are right.
        seed: seeds the policy's initial weights, the per-prompt skills, the prompts and the sampling.
        max_steps: the run stops after this many steps.
        max_completion_length: ``"times"`` only: longest completion in tokens (longer is cut, reward 0).
        max_ratio: the run stops (diverged) if any probability ratio exceeds this.
    """

    task: str = "add"
    policy_size: str = "small"
    prompts_per_step: int = 16
    group_size: int = 8
    temperature: float = 1.0
    lr: float = 0.01
    num_iterations: int = 1
    epsilon: float = 0.2
    epsilon_high: float | None = None
    delta: float | None = None
    beta: float = 0.04
    kl_estimator: str = "k3"
    kl_in: str = "loss"
    scale_rewards: str = "group"
    loss_type: str | None = "grpo"
    importance_sampling_level: str = "token"
    policy_loss: str | None = None
    loss_agg_mode: str | None = None
    advantage_estimator: str = "grpo"
    kl_bias_correction: bool = False
    tau_pos: float = 1.0
    tau_neg: float = 1.05
    dro_beta: float = 0.1
    top_entropy_quantile: float = 1.0
    mask_truncated_completions: bool = False
    partial_credit: bool = False
    start_skill: float | None = None
    seed: int = 0
    max_steps: int = 1000
    max_completion_length: int = 6
    max_ratio: float = 1e3

    def __post_init__(self) -> None:
        _checks.choice("task", self.task, TASKS)
        _checks.choice("policy_size", self.policy_size, tuple(POLICY_SIZES))
        _int_in("prompts_per_step", self.prompts_per_step, 1, 4096)
        _int_in("group_size", self.group_size, 1, 4096)
        _int_in("num_iterations", self.num_iterations, 1, 64)
        _int_in("seed", self.seed, 0, 2**63 - 1)
        _int_in("max_steps", self.max_steps, 1, 10**7)
        _int_in("max_completion_length", self.max_completion_length, 4, 32)
        if _checks.non_negative("temperature", self.temperature) == 0:
            raise ValueError("temperature must be > 0")
        if _checks.non_negative("lr", self.lr) == 0:
            raise ValueError("lr must be > 0")
        _checks.non_negative("beta", self.beta)
        _check_clip(self.epsilon, self.epsilon_high, self.delta)
        _checks.choice("kl_estimator", self.kl_estimator, KL_ESTIMATORS)
        _checks.choice("kl_in", self.kl_in, KL_PLACEMENTS)
        _checks.choice("scale_rewards", self.scale_rewards, ADVANTAGE_SCALES)
        if self.loss_type is None:
            OBJECTIVES.get(self.policy_loss or "vanilla", argument="policy_loss")
            AGGREGATIONS.get(self.loss_agg_mode or "token-mean", argument="loss_agg_mode")
        else:
            _checks.choice("loss_type", self.loss_type, LOSS_TYPES)
            if self.policy_loss is not None or self.loss_agg_mode is not None:
                raise ValueError("policy_loss/loss_agg_mode are verl's names for what loss_type names: set "
                                 "loss_type=None to use them")
        estimator = ADVANTAGE_ESTIMATORS.get(self.advantage_estimator, argument="advantage_estimator")
        if estimator.per_reward:
            raise ValueError(f"advantage_estimator {self.advantage_estimator!r} needs several reward functions; "
                             "the toy tasks have one")
        if self.advantage_estimator == "grpo_passk" and self.group_size < 2:
            raise ValueError("advantage_estimator 'grpo_passk' needs group_size >= 2")
        for name in ("kl_bias_correction", "mask_truncated_completions"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be a bool; got {getattr(self, name)!r}")
        for name in ("tau_pos", "tau_neg"):
            if not 0 < _checks.non_negative(name, getattr(self, name)) <= 100:
                raise ValueError(f"{name} must be in (0, 100]; got {getattr(self, name)!r}")
        _checks.non_negative("dro_beta", self.dro_beta)
        if not 0 <= _checks.non_negative("top_entropy_quantile", self.top_entropy_quantile) <= 1:
            raise ValueError(f"top_entropy_quantile must be in [0, 1]; got {self.top_entropy_quantile!r}")
        _checks.choice("importance_sampling_level", self.importance_sampling_level, RATIO_LEVELS)
        if not isinstance(self.partial_credit, bool):
            raise ValueError(f"partial_credit must be a bool; got {self.partial_credit!r}")
        if self.start_skill is not None and not (
            not isinstance(self.start_skill, bool) and isinstance(self.start_skill, (int, float))
            and math.isfinite(self.start_skill) and -10 <= self.start_skill <= 10
        ):
            raise ValueError(f"start_skill must be None or a number in [-10, 10]; got {self.start_skill!r}")
        if _checks.non_negative("max_ratio", self.max_ratio) <= 1:
            raise ValueError(f"max_ratio must be > 1; got {self.max_ratio!r}")

    def loss_settings(self) -> dict:
        """The :func:`grpo_core.grpo_loss` keyword arguments of this run (also what a trainer config needs)."""
        settings = dict(epsilon=self.epsilon, epsilon_high=self.epsilon_high, delta=self.delta, beta=self.beta,
                        kl_estimator=self.kl_estimator, kl_in=self.kl_in, kl_bias_correction=self.kl_bias_correction,
                        scale_rewards=self.scale_rewards, advantage_estimator=self.advantage_estimator,
                        importance_sampling_level=self.importance_sampling_level, tau_pos=self.tau_pos,
                        tau_neg=self.tau_neg, dro_beta=self.dro_beta,
                        top_entropy_quantile=self.top_entropy_quantile,
                        mask_truncated_completions=self.mask_truncated_completions)
        if self.loss_type is None:
            settings.update(policy_loss=self.policy_loss, loss_agg_mode=self.loss_agg_mode)
        else:
            settings["loss_type"] = self.loss_type
        return settings

    def replace(self, **changes) -> TrainConfig:
        """A copy with ``changes`` applied (and validated)."""
        return dataclasses.replace(self, **changes)


def _int_in(name: str, value, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"{name} must be an int in [{low}, {high}]; got {value!r}")
    return value


def config_changes(config: TrainConfig, base: TrainConfig | None = None) -> dict[str, object]:
    """The fields of ``config`` that differ from ``base`` (default: ``TrainConfig()``), in field order."""
    base = base or TrainConfig()
    return {f.name: getattr(config, f.name) for f in dataclasses.fields(config)
            if getattr(config, f.name) != getattr(base, f.name)}


def needs_reset(old: TrainConfig, new: TrainConfig) -> bool:
    """Whether going from ``old`` to ``new`` needs a fresh run (a :data:`STRUCTURAL_FIELDS` changed)."""
    return any(getattr(old, name) != getattr(new, name) for name in STRUCTURAL_FIELDS)


def _adam(params, lr: float) -> torch.optim.Optimizer:
    """Adam, fused (one kernel for all parameters) where this torch has it for the device."""
    params = list(params)
    try:
        return torch.optim.Adam(params, lr=lr, fused=True)
    except (RuntimeError, ValueError):
        return torch.optim.Adam(params, lr=lr)


# --------------------------------------------------------------------------------------------- tasks


def make_task(config: TrainConfig) -> Task:
    return AddTask() if config.task == "add" else TimesTask(config.max_completion_length)


# ------------------------------------------------------------------------------------------- results


@dataclass(frozen=True)
class Group:
    """One prompt's group: its completions (as text), their rewards and advantages."""

    prompt: str
    completions: list[str]
    rewards: list[float]
    advantages: list[float]


@dataclass
class StepResult:
    """What one :meth:`Trainer.step` did.

    Attributes:
        step: 1-based index of this step in the run.
        metrics: the floats of :data:`TRAIN_METRIC_NAMES`: :func:`grpo_core.grpo_loss`'s metrics (averaged
            over the ``num_iterations`` updates where they change), plus ``accuracy`` (fraction of exact
            answers), ``entropy`` (mean per-token entropy of the policy, nats), ``kl_ref`` (mean per-token
            exact KL(policy || reference) over the vocabulary, along the sampled completions), ``ratio_max``
            and ``steps_per_s``.
        timing: seconds spent in ``sample`` (incl. rewards and the reference's log-probs; for the one-token
            task also the policy's forward pass, which sampling and the first update share), ``update``
            (the other forward passes, loss, backward, optimizer; all iterations) and ``total``.
        stop_reason: why the run stopped at this step (diverged, step cap), else ``None``.
    """

    step: int
    metrics: dict[str, float]
    timing: dict[str, float]
    stop_reason: str | None
    _task: Task = field(repr=False)
    _prompts: torch.Tensor = field(repr=False)
    _completions: torch.Tensor = field(repr=False)
    _lengths: torch.Tensor = field(repr=False)
    _rewards: torch.Tensor = field(repr=False)
    _advantages: torch.Tensor = field(repr=False)
    _updates: list = field(default_factory=list, repr=False)

    @property
    def num_updates(self) -> int:
        """How many updates (μ) this step made with the same completions."""
        return len(self._updates)

    def token_text(self, row: int) -> list[str]:
        """The text of each token of completion ``row`` (all ``T`` positions, padding included)."""
        return [self._task.vocab[i] for i in self._completion_ids[row]]

    @cached_property
    def reward_list(self) -> list[float]:
        """Every completion's reward, row by row (``B * G``): read once for every rerun that shows them."""
        return self._rewards.reshape(-1).tolist()

    @cached_property
    def _completion_ids(self) -> list[list[int]]:
        return self._completions.tolist()  # one read of the tensor for every row the inspector asks for

    def inspect(self, update: int = 0):
        """:class:`grpo_core.loss.LossTerms` of update ``update`` (0-based) of this step: every per-token term
        of the loss that was minimised, recomputed from the same inputs with :func:`grpo_core.loss_terms`."""
        if not 0 <= update < len(self._updates):
            raise ValueError(f"update must be in [0, {len(self._updates) - 1}]; got {update!r}")
        return self._updates[update].terms()

    @property
    def settings(self) -> dict:
        """The :func:`grpo_core.grpo_loss` keyword arguments this step was trained with."""
        return dict(self._updates[0].settings) if self._updates else {}

    def entropy(self, update: int = 0) -> torch.Tensor:
        """``(N, T)`` the policy's entropy at each position, at update ``update``."""
        return self._updates[update].entropy

    @cached_property
    def groups(self) -> list[Group]:
        """This step's ``B`` groups, decoded to text (built on first access)."""
        completions = self._completions.tolist()
        lengths = self._lengths.tolist()
        rewards = self._rewards.tolist()
        advantages = self._advantages.tolist()
        g = len(rewards[0])
        return [
            Group(
                prompt=self._task.prompt_text(p),
                completions=[self._task.completion_text(completions[b * g + i], lengths[b * g + i]) for i in range(g)],
                rewards=rewards[b],
                advantages=advantages[b],
            )
            for b, p in enumerate(self._prompts.tolist())
        ]


class TrainingStopped(RuntimeError):
    """Raised by :meth:`Trainer.step` once the run has stopped; the message is the reason."""


class MetricHistory:
    """Per-step metrics in one growing ``(steps, metrics)`` float64 tensor (compact for long runs)."""

    def __init__(self, names: tuple[str, ...] = TRAIN_METRIC_NAMES):
        self.names = names
        self._index = {n: i for i, n in enumerate(names)}
        self._data = torch.empty((64, len(names)), dtype=torch.float64)
        self._len = 0

    def __len__(self) -> int:
        return self._len

    def append(self, metrics: dict[str, float]) -> None:
        if self._len == self._data.shape[0]:
            self._data = torch.cat([self._data, torch.empty_like(self._data)])
        self._data[self._len] = torch.tensor([metrics[n] for n in self.names], dtype=torch.float64)
        self._len += 1

    def column(self, name: str) -> torch.Tensor:
        """``(steps,)`` values of metric ``name``."""
        return self._data[: self._len, self._index[name]]

    def table(self) -> torch.Tensor:
        """``(steps, len(names))`` (a view: copy it to keep it)."""
        return self._data[: self._len]


# ------------------------------------------------------------------------------------------- trainer


class Trainer:
    """A GRPO run of :class:`TinyPolicy` on a simulated task.

    ``Trainer(TrainConfig(seed=0))`` is the default experiment; :meth:`step` samples ``B`` prompts and
    ``G`` completions each, scores them, and makes ``num_iterations`` updates with :func:`grpo_loss`.
    """

    #: How many prompts :attr:`probe_history` follows (one-token task).
    PROBES = 6

    def __init__(self, config: TrainConfig | None = None, *, device: torch.device | str | None = None):
        self.config = config or TrainConfig()
        self.device = torch.device(device) if device is not None else default_device()
        self.task = make_task(self.config)
        init_gen = torch.Generator().manual_seed(self.config.seed)
        hidden = POLICY_SIZES[self.config.policy_size]
        self.policy = TinyPolicy(self.task.operand_count, self.task.vocab_size, self.task.max_len, hidden, init_gen)
        skill = self.task.default_skill if self.config.start_skill is None else float(self.config.start_skill)
        self.prompt_skill = (skill + SKILL_SPREAD * torch.randn(self.task.num_prompts, generator=init_gen)).to(self.device)
        self.policy.to(self.device)
        self.reference = copy.deepcopy(self.policy).requires_grad_(False)
        self.optimizer = _adam(self.policy.parameters(), self.config.lr)
        self.generator = torch.Generator(device=self.device).manual_seed(self.config.seed)
        self.operands = self.task.operands.to(self.device)
        self.targets = self.task.targets.to(self.device)
        self.target_lengths = self.task.target_lengths.to(self.device)
        self.history = MetricHistory()
        self.stop_reason: str | None = None
        self.step_count = 0
        # Prompts whose whole answer distribution is recorded each step: spread from hardest to easiest.
        order = torch.argsort(self.prompt_skill.cpu())
        picks = torch.linspace(0, self.task.num_prompts - 1, self.PROBES).round().long()
        self.probe_prompts: list[int] = order[picks].tolist()
        self._probe_index = torch.tensor(self.probe_prompts, device=self.device)
        #: One-token task: ``probe_history[k]`` is the ``(PROBES, V)`` answer distribution of the probe prompts
        #: after ``k`` updates (``[0]`` is the start), recorded by step ``k + 1`` as it samples.
        self.probe_history: list[torch.Tensor] = []

    # -------------------------------------------------------------- knobs

    def reconfigure(self, config: TrainConfig) -> None:
        """Apply non-structural changes from the next step on; ``ValueError`` if a reset is needed."""
        if needs_reset(self.config, config):
            changed = [n for n in STRUCTURAL_FIELDS if getattr(self.config, n) != getattr(config, n)]
            raise ValueError(f"{', '.join(changed)} changed: start a new Trainer (a fresh run)")
        self.config = config
        for group in self.optimizer.param_groups:
            group["lr"] = config.lr
        if self.stop_reason is not None and self.stop_reason.startswith("reached the step cap") \
                and self.step_count < config.max_steps:
            self.stop_reason = None

    @property
    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.policy.parameters())

    # -------------------------------------------------------------- policy pieces

    def _prior(self, prompt_index: torch.Tensor, completions: torch.Tensor) -> torch.Tensor:
        """``(N, T, V)`` fixed logit bonus on the right next token while the completion is right so far."""
        targets = self.targets[prompt_index]
        right_so_far = torch.ones_like(completions, dtype=torch.bool)
        if completions.shape[1] > 1:
            right_so_far[:, 1:] = (completions[:, :-1] == targets[:, :-1]).cumprod(dim=-1).bool()
        bonus = torch.zeros(*completions.shape, self.task.vocab_size, device=self.device)
        bonus.scatter_(-1, targets[:, :, None], (self.prompt_skill[prompt_index][:, None] * right_so_far)[:, :, None])
        return bonus

    def _previous(self, completions: torch.Tensor) -> torch.Tensor:
        previous = torch.full_like(completions, self.policy.bos)
        previous[:, 1:] = completions[:, :-1]
        return previous

    @cached_property
    def _reference_table(self) -> torch.Tensor:
        """``(P, S, V)``: the frozen reference's net output in every state a completion can reach
        (:meth:`TinyPolicy.state_logits`), so that its log-probs on a batch are a lookup, not a forward pass per
        step (the policy is Markov in the previous token). Built at the run's first use, not with the run: a
        new run shows at once, and one whose settings change again before it trains never builds it."""
        with torch.no_grad():
            return self.reference.state_logits(self.operands)

    def _reference_log_probs(self, prompt_index, previous, prior) -> torch.Tensor:
        """``(N, T, V)`` log-probabilities of the frozen reference (from its table)."""
        states = self.policy.state_index(previous)
        logits = self._reference_table[prompt_index[:, None], states] + prior
        return torch.log_softmax(logits / self.config.temperature, dim=-1)

    def _log_probs(self, policy: TinyPolicy, prompt_index, previous, prior) -> torch.Tensor:
        """``(N, T, V)`` log-probabilities at the run's temperature."""
        logits = policy(policy.prompt_features(self.operands[prompt_index]), previous) + prior
        return torch.log_softmax(logits / self.config.temperature, dim=-1)

    @torch.no_grad()
    def _sample(self, prompt_index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Sample ``(N, T)`` completions and their ``(N, T)`` bool mask (real tokens up to the first EOS).

        Gumbel-max sampling (``argmax(logits/τ - log E)``, ``E ~ Exp(1)``): one fused draw per position that
        never raises on NaN logits (a diverged policy is caught by the loss check, not by a crash).
        """
        n, t = prompt_index.shape[0], self.task.max_len
        features = self.policy.prompt_features(self.operands[prompt_index])
        targets = self.targets[prompt_index]
        skill = self.prompt_skill[prompt_index]
        noise = torch.empty((n, t, self.task.vocab_size), device=self.device).exponential_(generator=self.generator).log_()
        completions = torch.empty((n, t), dtype=torch.long, device=self.device)
        previous = torch.full((n,), self.policy.bos, dtype=torch.long, device=self.device)
        right_so_far = torch.ones(n, dtype=torch.bool, device=self.device)
        for pos in range(t):
            logits = self.policy.step_logits(features, previous, pos)
            logits.scatter_add_(-1, targets[:, pos : pos + 1], (skill * right_so_far)[:, None])
            token = (logits / self.config.temperature - noise[:, pos]).argmax(dim=-1)
            completions[:, pos] = token
            right_so_far &= token == targets[:, pos]
            previous = token
        if self.task.eos is None:
            return completions, torch.ones_like(completions, dtype=torch.bool)
        is_eos = completions == self.task.eos
        eos_before = torch.cumsum(is_eos, dim=-1) - is_eos.long()
        return completions, eos_before == 0

    @torch.no_grad()
    def answer_distribution(self, prompts: list[int] | torch.Tensor, *, reference: bool = False) -> torch.Tensor:
        """One-token task: ``(len(prompts), V)`` probabilities of each answer token (at the temperature)."""
        if self.task.eos is not None:
            raise ValueError("answer_distribution is for the one-token task ('add') only")
        index = torch.as_tensor(prompts, dtype=torch.long, device=self.device).reshape(-1)
        if index.numel() and (index.min() < 0 or index.max() >= self.task.num_prompts):
            raise ValueError(f"prompts must be in [0, {self.task.num_prompts - 1}]")
        completions = torch.zeros((index.shape[0], 1), dtype=torch.long, device=self.device)
        previous, prior = self._previous(completions), self._prior(index, completions)
        if reference:
            return self._reference_log_probs(index, previous, prior)[:, 0].exp().cpu()
        return self._log_probs(self.policy, index, previous, prior)[:, 0].exp().cpu()

    # -------------------------------------------------------------- the step

    def advance(self, max_steps: int, time_budget: float) -> StepResult | None:
        """Run up to ``max_steps`` steps, stopping early once ``time_budget`` seconds have passed (a step is
        never cut short) or the run stops. Returns the last step's result, ``None`` if no step ran."""
        deadline = time.perf_counter() + time_budget
        result = None
        for _ in range(max_steps):
            if self.stop_reason is not None:
                break
            result = self.step()
            if time.perf_counter() >= deadline:
                break
        return result

    def step(self) -> StepResult:
        """One GRPO step: sample ``B×G`` completions, score them, ``num_iterations`` policy updates.

        Raises:
            TrainingStopped: the run had already stopped (its message is the reason).
        """
        if self.stop_reason is not None:
            raise TrainingStopped(self.stop_reason)
        if self.device.type != "cpu":
            return self._step()
        # One intra-op thread on CPU: at these sizes a second thread saves little, and with it some
        # float reductions depend on how work is split, so the same seed would not give the same run.
        threads = torch.get_num_threads()
        if threads == 1:  # the app's setting: no process-wide toggle racing other sessions' steps
            return self._step()
        torch.set_num_threads(1)
        try:
            return self._step()
        finally:
            torch.set_num_threads(threads)

    def _step(self) -> StepResult:
        cfg = self.config
        start = time.perf_counter()
        b, g = cfg.prompts_per_step, cfg.group_size
        prompt_index = torch.randint(self.task.num_prompts, (b,), generator=self.generator, device=self.device)
        index = prompt_index.repeat_interleave(g)
        first_logp_all = None
        if self.task.max_len == 1:
            # One token: the policy's input does not depend on what it samples, so the forward pass that
            # samples is the first update's forward pass (same weights, same numbers): it is done once.
            # The probe prompts ride along in the same forward pass (rows after the batch's N).
            n = index.shape[0]
            rows = torch.cat([index, self._probe_index])
            previous = torch.full((rows.shape[0], 1), self.policy.bos, dtype=torch.long, device=self.device)
            prior = self._prior(rows, previous)
            with_probes = self._log_probs(self.policy, rows, previous, prior)
            probe_probs = with_probes[n:].detach()[:, 0].exp()
            first_logp_all, previous, prior = with_probes[:n], previous[:n], prior[:n]
            noise = torch.empty_like(first_logp_all).exponential_(generator=self.generator).log_()
            completions = (first_logp_all.detach() - noise).argmax(dim=-1)
            mask = torch.ones_like(completions, dtype=torch.bool)
        else:
            completions, mask = self._sample(index)
            previous = self._previous(completions)
            prior = self._prior(index, completions)
        targets, target_lengths = self.targets[index], self.target_lengths[index]
        rewards, correct = self.task.rewards(targets, target_lengths, completions, mask, cfg.partial_credit)
        rewards = rewards.reshape(b, g)
        tokens = completions[:, :, None]
        with torch.no_grad():
            ref_logp_all = self._reference_log_probs(index, previous, prior)
            logp_ref = ref_logp_all.gather(-1, tokens).squeeze(-1)
        sampled = time.perf_counter()

        summed: dict[str, float] = {}
        settings = cfg.loss_settings()
        updates: list[UpdateInputs] = []
        truncated = None
        if cfg.mask_truncated_completions:  # no EOS within max_completion_length (never, on the one-token task)
            truncated = (torch.zeros_like(mask[:, 0]) if self.task.eos is None
                         else ~(completions == self.task.eos).any(dim=-1))
        logp_old = None
        stop_reason = None
        for iteration in range(cfg.num_iterations):
            if iteration == 0 and first_logp_all is not None:
                logp_all = first_logp_all
            else:
                logp_all = self._log_probs(self.policy, index, previous, prior)
            logp = logp_all.gather(-1, tokens).squeeze(-1)
            if iteration > 0:  # this update's entropies (TRL's entropy mask reads them)
                with torch.no_grad():
                    entropy = -(logp_all.exp() * logp_all).sum(-1)
            if iteration == 0:
                with torch.no_grad():
                    probs = logp_all.exp()
                    entropy = -(probs * logp_all).sum(-1)
                    kl_ref = (probs * (logp_all - ref_logp_all)).sum(-1)
                    real = mask.float()
                    count = real.sum()
                    token_stats = torch.stack([(entropy * real).sum() / count, (kl_ref * real).sum() / count,
                                               correct.float().mean()])
                if cfg.num_iterations > 1:
                    logp_old = logp.detach()
            result = grpo_loss(
                logp, logp_old, logp_ref, rewards, mask, max_completion_length=self.task.max_len,
                entropy=entropy if cfg.top_entropy_quantile < 1 else None, truncated=truncated,
                **settings,
            )
            if logp_old is None:  # on-policy: every ratio is exactly 1
                loss_value, ratio_max = result.loss.item(), 1.0
            else:
                ratio = probability_ratio(logp.detach(), logp_old, mask, level=cfg.importance_sampling_level)
                real_ratio = torch.where(mask, ratio.expand_as(logp), 1.0)
                loss_value, ratio_max = torch.stack([result.loss.detach(), real_ratio.max()]).tolist()
            updates.append(UpdateInputs(
                logp=logp.detach(), logp_old=logp_old, logp_ref=logp_ref, rewards=rewards, mask=mask,
                entropy=entropy, truncated=truncated, settings={**settings, "max_completion_length": self.task.max_len}))
            if iteration == 0:
                advantages = result.advantages
            for name, value in result.metrics.items():
                summed[name] = summed.get(name, 0.0) + value
            summed["ratio_max"] = max(summed.get("ratio_max", 0.0), ratio_max)
            if not math.isfinite(loss_value):
                stop_reason = (f"diverged at step {self.step_count + 1}: the loss became {loss_value} "
                               "(NaN/inf); the update was not applied")
                break
            if ratio_max > cfg.max_ratio:
                stop_reason = (f"diverged at step {self.step_count + 1}: a probability ratio reached "
                               f"{ratio_max:.3g} > {cfg.max_ratio:g} (the policy moved too far from the "
                               "policy that sampled); the update was not applied")
                break
            self.optimizer.zero_grad(set_to_none=True)
            result.loss.backward()
            self.optimizer.step()
        done = time.perf_counter()

        iterations = iteration + 1
        metrics = {name: summed[name] / iterations for name in METRIC_NAMES}
        entropy_value, kl_ref_value, accuracy = token_stats.tolist()
        metrics.update(accuracy=accuracy, entropy=entropy_value, kl_ref=kl_ref_value,
                       ratio_max=summed["ratio_max"], steps_per_s=1.0 / max(done - start, 1e-9))
        metrics = {k: (v if math.isfinite(v) else 0.0) for k, v in metrics.items()}
        self.step_count += 1
        if stop_reason is None and self.step_count >= cfg.max_steps:
            stop_reason = f"reached the step cap ({cfg.max_steps} steps)"
        self.stop_reason = stop_reason
        self.history.append(metrics)
        if self.task.eos is None:
            self.probe_history.append(probe_probs.cpu())
        return StepResult(
            step=self.step_count, metrics=metrics,
            timing={"sample": sampled - start, "update": done - sampled, "total": done - start},
            stop_reason=stop_reason, _task=self.task, _prompts=prompt_index.cpu(),
            _completions=completions.cpu(), _lengths=mask.sum(-1).cpu(), _rewards=rewards.cpu(),
            _advantages=advantages.cpu(), _updates=updates,
        )
