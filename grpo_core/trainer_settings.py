"""Read a trainer's settings back into the explorer: a TRL ``GRPOConfig`` or verl overrides → ``TrainConfig``.

The inverse of :func:`grpo_core.family.trl_config` and :func:`grpo_core.family.verl_overrides`: what they
write, :func:`parse_settings` reads back to the same loss (tested for every algorithm of the family and for
random ``TrainConfig``\\ s). Accepted text:

- TRL: a JSON or YAML mapping of ``GRPOConfig`` fields (also a W&B ``config.yaml``, whose fields are
  ``{value: ...}``), a ``GRPOConfig(beta=0.04, ...)`` call (read with :mod:`ast`, literals only: nothing is
  evaluated), or ``--field value`` command-line flags.
- verl: Hydra overrides (``actor_rollout_ref.actor.clip_ratio_high=0.28 algorithm.adv_estimator=rloo``, a
  whole ``python -m verl.trainer.main_ppo ... \\`` command line too), or the same as nested YAML/JSON.

Fields that the text does not give take the trainer's own defaults where they change the loss (TRL 1.16:
``loss_type="dapo"``, ``beta=0.0``, ``use_bias_correction_kl=True``; verl 0.9: ``loss_mode=vanilla``,
``loss_agg_mode=token-mean``, ``clip_ratio_low/high=0.2``, ``clip_ratio_c=3.0``, ``use_kl_loss=False``), and
the result says so. Every field of the text is listed as used or unused, with the reason. Only safe parsers
(``json``, ``yaml.safe_load``, ``ast.parse`` + ``ast.literal_eval``); ``ValueError`` for what cannot be read.
Nothing here imports Streamlit.
"""

from __future__ import annotations

import ast
import json
import math
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field

from grpo_core.advantages import ADVANTAGE_ESTIMATORS
from grpo_core.aggregation import AGGREGATIONS
from grpo_core.family import Algorithm
from grpo_core.kl import KL_ESTIMATORS_REGISTRY
from grpo_core.loss import LOSS_TYPES
from grpo_core.objectives import OBJECTIVES
from grpo_core.training import TrainConfig

#: Longest settings text read (characters).
MAX_TEXT = 200_000
#: Most fields read from one text (and nodes visited while flattening nested YAML).
MAX_FIELDS = 2_000
#: Learning rates the explorer's tiny policy trains with (an LLM's 1e-6 would not move it).
LR_RANGE = (0.001, 0.2)
#: verl's ``clip_ratio_c`` at or above this is "dual clip off" (verl_overrides writes 1e9 for that).
DUAL_CLIP_OFF = 1e6

A = "actor_rollout_ref.actor."
#: TRL 1.16 ``GRPOConfig`` defaults of the fields that change the loss.
TRL_DEFAULTS = {"loss_type": "dapo", "beta": 0.0, "epsilon": 0.2, "epsilon_high": None, "delta": None,
                "scale_rewards": "group", "importance_sampling_level": "token", "use_bias_correction_kl": True,
                "num_iterations": 1, "top_entropy_quantile": 1.0, "mask_truncated_completions": False,
                "sapo_temperature_pos": 1.0, "sapo_temperature_neg": 1.05,
                "multi_objective_aggregation": "sum_then_normalize"}
#: verl 0.9 defaults (trainer/config/actor/actor.yaml, algorithm) of the fields that change the loss.
VERL_DEFAULTS = {A + "policy_loss.loss_mode": "vanilla", A + "loss_agg_mode": "token-mean",
                 A + "clip_ratio_low": 0.2, A + "clip_ratio_high": 0.2, A + "clip_ratio_c": 3.0,
                 A + "use_kl_loss": False, A + "kl_loss_coef": 0.001, A + "kl_loss_type": "low_var_kl",
                 A + "ppo_epochs": 1, A + "tau_pos": 1.0, A + "tau_neg": 1.05,
                 "algorithm.norm_adv_by_std_in_grpo": True, "algorithm.use_kl_in_reward": False,
                 "algorithm.kl_ctrl.kl_coef": 0.001, "algorithm.kl_penalty": "kl"}
#: TRL fields that the explorer reads, and verl's; the others are listed as unused.
_TRL_OTHER = {
    "vespo_k_pos": "the explorer's trainer runs VESPO with its default shape", "vespo_lambda_pos": "the same",
    "vespo_k_neg": "the same", "vespo_lambda_neg": "the same",
    "max_completion_length": "the explorer's tasks have their own answer lengths",
    "steps_per_generation": "the explorer generates once per step", "entropy_coef": "the explorer has no entropy bonus",
}


@dataclass
class Settings:
    """What :func:`parse_settings` read.

    Attributes:
        trainer: ``"TRL"`` or ``"verl"``.
        changes: ``{TrainConfig field: value}``; apply with :meth:`config`.
        used: ``[(field in the text, what it set)]``.
        unused: ``[(field in the text, why it was not used)]``.
        defaults: sentences naming the trainer defaults applied for fields the text did not give.
    """

    trainer: str
    changes: dict = field(default_factory=dict)
    used: list[tuple[str, str]] = field(default_factory=list)
    unused: list[tuple[str, str]] = field(default_factory=list)
    defaults: list[str] = field(default_factory=list)

    def config(self, base: TrainConfig | None = None) -> TrainConfig:
        """``base`` (default ``TrainConfig()``) with the changes; ``ValueError`` if they do not make a valid run."""
        return (base or TrainConfig()).replace(**self.changes)

    def algorithm(self) -> tuple[Algorithm, list[str]]:
        """The loss these settings select, as a member of the family named ``"yours"``, for a batch that has
        no entropies and no truncated answers (the Algorithms page's), and one sentence for each setting
        that such a batch cannot show (they are left out of the returned settings).

        Raises:
            ValueError: the settings do not make a valid run (as :meth:`config`).
        """
        loss = self.config().loss_settings()
        left_out = []
        if loss.pop("top_entropy_quantile") < 1:
            left_out.append("top_entropy_quantile: a batch without the policy's entropies cannot pick the "
                            "high-entropy tokens, so every token keeps its policy term here (Live training "
                            "applies it).")
        if loss.pop("mask_truncated_completions"):
            left_out.append("mask_truncated_completions: no answer of this batch is truncated, so nothing would "
                            "be masked (Live training applies it).")
        fields = ", ".join(name.removeprefix("actor_rollout_ref.") for name, _ in self.used) or "none: the defaults"
        idea = f"The loss your pasted {self.trainer} settings select (fields read: {fields})."
        return Algorithm("yours", f"Your {self.trainer} settings", idea, (f"your {self.trainer} config", ""),
                         loss), left_out


# ------------------------------------------------------------------------------------------ reading text


def parse_settings(text: str, trainer: str | None = None) -> Settings:
    """Read settings text (see the module docstring) as ``trainer`` (``"TRL"``, ``"verl"``, or None: detect).

    Raises:
        ValueError: too long, or no field could be read.
    """
    if not isinstance(text, str):
        raise ValueError("Settings must be text.")
    if len(text) > MAX_TEXT:
        raise ValueError(f"The settings text is longer than {MAX_TEXT:,} characters, the limit here.")
    fields = _read_fields(text)
    if not fields:
        raise ValueError("No settings found: paste a GRPOConfig (JSON, YAML or GRPOConfig(...)) or verl overrides "
                         "(key=value).")
    is_verl = trainer == "verl" or (trainer is None and any(k.startswith(("actor_rollout_ref.", "algorithm.",
                                                                           "data.", "trainer.")) for k in fields))
    return from_verl(fields) if is_verl else from_trl(fields)


def _read_fields(text: str) -> dict[str, object]:
    stripped = text.strip()
    if not stripped:
        return {}
    if stripped[0] in "{[":
        try:
            document = json.loads(stripped)
        except (ValueError, RecursionError):
            document = None
        if isinstance(document, dict):
            return _flatten(document)
    if re.search(r"\bGRPOConfig\s*\(", stripped):
        return _call_fields(stripped)
    import yaml

    try:
        document = yaml.safe_load(stripped)
    except (yaml.YAMLError, ValueError, RecursionError):
        document = None
    if isinstance(document, dict):
        return _flatten(document)
    return _overrides(stripped)


def _flatten(document: dict) -> dict[str, object]:
    """Nested mappings as dotted keys; W&B's ``{"value": v, "desc": ...}`` as ``v``. Bounded in size."""
    out: dict[str, object] = {}
    stack = [("", document, 0)]
    visited = 0
    while stack:
        prefix, node, depth = stack.pop()
        visited += 1
        if visited > MAX_FIELDS or depth > 12:
            raise ValueError(f"The settings are nested too deeply or hold more than {MAX_FIELDS:,} fields.")
        if isinstance(node, dict) and set(node) <= {"value", "desc"} and "value" in node:
            node = node["value"]
        if isinstance(node, dict) and node:
            stack.extend((f"{prefix}{k}.", v, depth + 1) for k, v in reversed(list(node.items()))
                         if isinstance(k, (str, int)))
            continue
        key = prefix[:-1]
        if key:
            out[key] = node
    return out


def _call_fields(text: str) -> dict[str, object]:
    """The keyword arguments of the first ``GRPOConfig(...)`` call, literals only (nothing evaluated)."""
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        raise ValueError("The GRPOConfig(...) text is not valid Python.") from None
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", "")) == "GRPOConfig":
            out = {}
            for keyword in node.keywords:
                if keyword.arg is None:
                    continue
                try:
                    out[keyword.arg] = ast.literal_eval(keyword.value)
                except (ValueError, TypeError, SyntaxError, RecursionError, MemoryError):
                    out[keyword.arg] = _NotLiteral()
            return out
    return {}


class _NotLiteral:
    """A GRPOConfig argument that is an expression, not a literal: listed as unused."""


_TOKEN_KEY = re.compile(r"^\+{0,2}([A-Za-z_][\w.\-/]*)=(.*)$", re.S)


def _overrides(text: str) -> dict[str, object]:
    """``key=value`` overrides (verl/Hydra) or ``--key value`` flags (TRL's CLI) from a command line."""
    try:
        tokens = shlex.split(text.replace("\\\n", " "), comments=True)
    except ValueError:
        tokens = text.split()
    out: dict[str, object] = {}
    i = 0
    while i < len(tokens) and len(out) < MAX_FIELDS:
        token = tokens[i]
        if token.startswith("--") and len(token) > 2:
            key, _, value = token[2:].partition("=")
            if not _ and i + 1 < len(tokens) and not tokens[i + 1].startswith("--"):
                value, i = tokens[i + 1], i + 1
            elif not _:
                value = "true"
            out[key.replace("-", "_")] = _scalar(value)
        elif match := _TOKEN_KEY.match(token):
            out[match.group(1)] = _scalar(match.group(2))
        i += 1
    return out


def _scalar(text: str):
    """A Hydra/CLI value: true/false, null, a number, or the text (quotes removed)."""
    value = text.strip().strip("'\"")
    lowered = value.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered in ("null", "none", "~"):
        return None
    try:
        number = float(value)
    except ValueError:
        return value
    if math.isfinite(number) and number == int(number) and re.fullmatch(r"[+-]?\d+", value):
        return int(number)
    return number


# -------------------------------------------------------------------------------------- typed values


def _float(value, low: float = -math.inf, high: float = math.inf) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError("not a number")
    number = float(value)
    if not math.isfinite(number) or not low <= number <= high:
        raise ValueError(f"must be a number of at least {low:g}" if high == math.inf
                         else f"must be a number from {low:g} to {high:g}")
    return number


def _int(value, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or value != int(value) or not low <= value <= high:
        raise ValueError(f"must be a whole number in [{low}, {high}]")
    return int(value)


def _bool(value) -> bool:
    if isinstance(value, bool):
        return value
    raise ValueError("must be true or false")


def _choice(value, options) -> str:
    if not isinstance(value, str) or value not in options:
        raise ValueError("must be one of " + ", ".join(map(str, options)))
    return value


class _Reader:
    """Collects changes, used and unused fields while the trainer-specific code reads its fields."""

    def __init__(self, trainer: str, fields: dict, defaults: dict):
        self.result = Settings(trainer)
        self.fields, self.defaults, self.seen = fields, defaults, set()

    def get(self, key: str):
        """The text's value of ``key``, else the trainer's default (noted), else None."""
        self.seen.add(key)
        if key in self.fields:
            return self.fields[key]
        if key in self.defaults:
            default = self.defaults[key]
            self.result.defaults.append(f"{key} = {default} ({self.result.trainer}'s default)")
            return default
        return None

    def given(self, key: str) -> bool:
        return key in self.fields

    def set(self, key: str, what: str, **changes) -> None:
        self.result.changes.update(changes)
        if key in self.fields:
            self.result.used.append((key, what))

    def unused(self, key: str, reason: str) -> None:
        self.seen.add(key)
        if key in self.fields:
            self.result.unused.append((key, reason))

    def read(self, key: str, convert, target: str, *, explain: str = "") -> None:
        """``changes[target] = convert(value of key)``, or the key listed as unused with the reason."""
        value = self.get(key)
        if value is None and key not in self.fields and key not in self.defaults:
            return
        if isinstance(value, _NotLiteral):
            self.unused(key, "it is an expression, not a literal value")
            return
        try:
            converted = convert(value)
        except (ValueError, TypeError) as err:
            self.unused(key, f"its value {err}")
            return
        self.set(key, f"{target} = {converted}{explain}", **{target: converted})

    def finish(self, other_reason: str) -> Settings:
        for key, value in self.fields.items():
            if key not in self.seen:
                self.result.unused.append((key, other_reason))
            elif isinstance(value, _NotLiteral) and all(k != key for k, _ in self.result.unused):
                self.result.unused.append((key, "it is an expression, not a literal value"))
        self.result.unused = [(k, r) for k, r in self.result.unused if k not in {u for u, _ in self.result.used}]
        return self.result


def _optional(convert):
    return lambda value: None if value is None else convert(value)


def _lr(value) -> float:
    lr = _float(value, 0.0)
    if not LR_RANGE[0] <= lr <= LR_RANGE[1]:
        raise ValueError(f"is an LLM's learning rate; the explorer's tiny policy trains with {LR_RANGE[0]:g} to "
                         f"{LR_RANGE[1]:g}, so the live page keeps its own")
    return lr


# ------------------------------------------------------------------------------------------------ TRL


def from_trl(fields: Mapping[str, object]) -> Settings:
    """TRL 1.16 ``GRPOConfig`` fields (a dict, as :func:`grpo_core.family.trl_config` writes) → settings."""
    r = _Reader("TRL", dict(fields), TRL_DEFAULTS)
    r.read("loss_type", lambda v: _choice(v, LOSS_TYPES), "loss_type")
    if "loss_type" in r.result.changes:
        r.result.changes.update(policy_loss=None, loss_agg_mode=None)
    r.read("beta", lambda v: _float(v, 0.0), "beta")
    if r.result.changes.get("beta", 0) > 0:
        r.result.changes.update(kl_estimator="k3", kl_in="loss")
        r.result.defaults.append("kl_estimator = k3, KL in the loss (TRL's only KL term)")
    r.read("use_bias_correction_kl", _bool, "kl_bias_correction")
    r.read("epsilon", lambda v: _float(v, 0.0), "epsilon")
    r.read("epsilon_high", _optional(lambda v: _float(v, 0.0)), "epsilon_high")
    r.read("delta", _optional(lambda v: _float(v, 1.0)), "delta")
    r.read("scale_rewards", lambda v: {True: "group", False: "none"}.get(v, v) if isinstance(v, bool)
           else _choice(v, ("group", "batch", "none")), "scale_rewards")
    aggregation = r.get("multi_objective_aggregation")
    if aggregation == "sum_then_normalize":
        r.set("multi_objective_aggregation", "advantage_estimator = grpo", advantage_estimator="grpo")
    else:
        r.unused("multi_objective_aggregation", "normalize_then_sum needs several reward functions; the explorer's "
                                                "tasks have one" if aggregation == "normalize_then_sum"
                 else "its value must be sum_then_normalize or normalize_then_sum")
    r.read("importance_sampling_level", lambda v: _choice(v, ("token", "sequence")), "importance_sampling_level")
    r.read("sapo_temperature_pos", lambda v: _float(v, 1e-9, 100), "tau_pos")
    r.read("sapo_temperature_neg", lambda v: _float(v, 1e-9, 100), "tau_neg")
    r.read("top_entropy_quantile", lambda v: _float(v, 0.0, 1.0), "top_entropy_quantile")
    r.read("mask_truncated_completions", _bool, "mask_truncated_completions")
    r.read("num_iterations", lambda v: _int(v, 1, 64), "num_iterations")
    r.read("num_generations", lambda v: _int(v, 1, 4096), "group_size")
    r.read("temperature", lambda v: _float(v, 1e-6, 100), "temperature")
    r.read("learning_rate", _lr, "lr")
    for key, reason in _TRL_OTHER.items():
        r.unused(key, reason)
    return r.finish("not a setting of the loss the explorer models (batching, logging, generation, hardware)")


# ----------------------------------------------------------------------------------------------- verl


def _by_verl_name(registry, key: str, value) -> str:
    for name, entry in registry.items():
        if (entry.verl or {}).get(key) == value:
            return name
    raise ValueError("is not one the explorer has")


def _kl_name(value) -> str:
    if not isinstance(value, str):
        raise ValueError("must be a verl KL name")
    base, plus = (value[:-1], "+") if value.endswith("+") else (value, "")
    for name, entry in KL_ESTIMATORS_REGISTRY.items():
        if base in entry.verl and not name.endswith("+") and (name + plus) in KL_ESTIMATORS_REGISTRY:
            return name + plus
    raise ValueError("is not a KL estimator the explorer has (k1, k2, k3, abs and the + forms)")


def from_verl(fields: Mapping[str, object]) -> Settings:
    """verl 0.9 overrides (``{dotted key: value}``, as :func:`grpo_core.family.verl_overrides` writes) → settings."""
    fields = {k.lstrip("+"): v for k, v in fields.items()}
    r = _Reader("verl", fields, VERL_DEFAULTS)
    estimator = r.fields.get("algorithm.adv_estimator")
    r.seen.add("algorithm.adv_estimator")
    if estimator is None:
        r.result.defaults.append("algorithm.adv_estimator is not given: verl's default is gae, which needs a "
                                 "critic; the explorer keeps its own estimator")
    else:
        try:
            name = _by_verl_name(ADVANTAGE_ESTIMATORS, "algorithm.adv_estimator", estimator)
            if ADVANTAGE_ESTIMATORS.get(name).per_reward:
                raise ValueError("needs several reward functions; the explorer's tasks have one")
            r.set("algorithm.adv_estimator", f"advantage_estimator = {name}", advantage_estimator=name)
        except ValueError as err:
            r.unused("algorithm.adv_estimator", f"its value {err} (gae, reinforce_plus_plus, remax need a critic or "
                                                "a greedy baseline the explorer does not model)")
    norm = r.get("algorithm.norm_adv_by_std_in_grpo")
    if isinstance(norm, bool):
        r.set("algorithm.norm_adv_by_std_in_grpo", f"scale_rewards = {'group' if norm else 'none'}",
              scale_rewards="group" if norm else "none")
    else:
        r.unused("algorithm.norm_adv_by_std_in_grpo", "its value must be true or false")

    mode_key, agg_key = A + "policy_loss.loss_mode", A + "loss_agg_mode"
    r.read(mode_key, lambda v: _by_verl_name(OBJECTIVES, mode_key, v), "policy_loss")
    r.read(agg_key, lambda v: _choice(v, AGGREGATIONS.names()), "loss_agg_mode")
    if "policy_loss" in r.result.changes or "loss_agg_mode" in r.result.changes:
        r.result.changes["loss_type"] = None
        r.result.changes.setdefault("policy_loss", "vanilla")
        r.result.changes.setdefault("loss_agg_mode", "token-mean")
    objective = r.result.changes.get("policy_loss", "vanilla")

    r.unused(A + "clip_ratio", "verl 0.9 reads clip_ratio only where clip_ratio_low/high are null, and they "
                               "default to 0.2: set clip_ratio_low and clip_ratio_high")
    r.read(A + "clip_ratio_low", lambda v: _float(v, 0.0), "epsilon")
    low = r.result.changes.get("epsilon", 0.2)
    r.read(A + "clip_ratio_high", lambda v: None if _float(v, 0.0) == low else _float(v, 0.0), "epsilon_high")
    if objective == "vanilla":
        r.read(A + "clip_ratio_c", lambda v: None if _float(v, 1.0) >= DUAL_CLIP_OFF else _float(v, 1.0), "delta",
               explain=" (verl's dual clip)")
    else:
        r.unused(A + "clip_ratio_c", "verl applies the dual clip in the vanilla loss only")
        r.result.changes["delta"] = None
    if objective == "sapo":
        r.read(A + "tau_pos", lambda v: _float(v, 1e-9, 100), "tau_pos")
        r.read(A + "tau_neg", lambda v: _float(v, 1e-9, 100), "tau_neg")
    else:
        r.unused(A + "tau_pos", "only the sapo loss reads it")
        r.unused(A + "tau_neg", "only the sapo loss reads it")
    if objective == "dro":
        r.read(A + "policy_loss.dro_beta", lambda v: _float(v, 0.0), "dro_beta")
    else:
        r.unused(A + "policy_loss.dro_beta", "only the dro loss reads it")

    in_loss, in_reward = r.get(A + "use_kl_loss"), r.get("algorithm.use_kl_in_reward")
    if in_loss is True:
        r.set(A + "use_kl_loss", "KL in the loss", kl_in="loss")
        r.read(A + "kl_loss_coef", lambda v: _float(v, 0.0), "beta")
        r.read(A + "kl_loss_type", _kl_name, "kl_estimator")
        if in_reward is True:
            r.unused("algorithm.use_kl_in_reward", "the explorer has one β: the KL loss is used")
    elif in_reward is True:
        r.set("algorithm.use_kl_in_reward", "KL in the reward", kl_in="reward")
        r.read("algorithm.kl_ctrl.kl_coef", lambda v: _float(v, 0.0), "beta")
        r.read("algorithm.kl_penalty", _kl_name, "kl_estimator")
        if r.fields.get("algorithm.kl_ctrl.type", "fixed") != "fixed":
            r.unused("algorithm.kl_ctrl.type", "the explorer's β is fixed (no adaptive controller)")
        r.seen.add("algorithm.kl_ctrl.type")
    else:
        r.set(A + "use_kl_loss", "beta = 0 (no KL term)", beta=0.0)
        for key in (A + "kl_loss_coef", A + "kl_loss_type", "algorithm.kl_ctrl.kl_coef", "algorithm.kl_penalty"):
            r.unused(key, "no KL term is on (use_kl_loss and use_kl_in_reward are false)")
    r.read(A + "ppo_epochs", lambda v: _int(v, 1, 64), "num_iterations")
    r.read("actor_rollout_ref.rollout.n", lambda v: _int(v, 1, 4096), "group_size")
    r.read("actor_rollout_ref.rollout.temperature", lambda v: _float(v, 1e-6, 100), "temperature")
    r.read(A + "optim.lr", _lr, "lr")
    r.unused(A + "loss_scale_factor", "the explorer's seq-mean-token-sum-norm divides by the longest completion")
    r.unused(A + "entropy_coeff", "the explorer has no entropy bonus")
    return r.finish("not a setting of the loss the explorer models (batching, rollout, hardware, logging)")
