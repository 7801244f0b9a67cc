"""The GRPO family as named algorithms, and the trainer settings that select each one.

An :class:`Algorithm` is a bundle of :func:`grpo_core.grpo_loss` keyword arguments with its paper and idea;
its formulas come from the registries it names (objective, aggregation, advantage estimator), never
written again here. :func:`trl_config` and :func:`verl_overrides` turn any such bundle into TRL 1.16
``GRPOConfig`` fields or verl 0.9 command-line overrides, and list what the trainer cannot express.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from grpo_core.advantages import ADVANTAGE_ESTIMATORS, AdvantageEstimator
from grpo_core.aggregation import AGGREGATIONS, Aggregation
from grpo_core.kl import KL_ESTIMATORS_REGISTRY
from grpo_core.loss import TRL_LOSS_TYPES, resolve_variant
from grpo_core.objectives import OBJECTIVES, Objective
from grpo_core.registry import Registry


@dataclass(frozen=True)
class Algorithm:
    """A named member of the family.

    Attributes:
        name: registry key.
        title: the name people say.
        idea: one plain sentence: what it changes and why.
        paper: ``(title, arXiv id)``.
        settings: :func:`grpo_core.grpo_loss` keyword arguments that select it (everything else default).
    """

    name: str
    title: str
    idea: str
    paper: tuple[str, str]
    settings: dict = field(default_factory=dict)

    @property
    def objective(self) -> Objective:
        """The objective entry whose formula describes it (the clip at sequence level is GSPO's)."""
        name = resolve_variant(*_vocabulary(self.settings))[0]
        if name == "vanilla" and self.settings.get("importance_sampling_level") == "sequence":
            name = "gspo"
        return OBJECTIVES.get(name)

    @property
    def aggregation(self) -> Aggregation:
        return AGGREGATIONS.get(resolve_variant(*_vocabulary(self.settings))[1])

    @property
    def estimator(self) -> AdvantageEstimator:
        return ADVANTAGE_ESTIMATORS.get(self.settings.get("advantage_estimator", "grpo"))


def _vocabulary(settings: dict) -> tuple[str | None, str | None, str | None]:
    return settings.get("loss_type"), settings.get("policy_loss"), settings.get("loss_agg_mode")


ALGORITHMS: Registry[Algorithm] = Registry("algorithm")


def _add(name: str, title: str, idea: str, paper: tuple[str, str], **settings) -> None:
    ALGORITHMS.add(name, Algorithm(name, title, idea, paper, settings))


_add("grpo", "GRPO (DeepSeekMath)",
     "PPO without a critic: the group's mean reward is the baseline; clip to π_old, k3 KL to π_ref in the loss.",
     ("DeepSeekMath: Pushing the Limits of Mathematical Reasoning in Open Language Models", "2402.03300"),
     loss_type="grpo", beta=0.04)
_add("dapo", "DAPO (TRL's default aggregation)",
     "Token-mean aggregation (no length bias per token), a higher upper clip (ε_high = 0.28) so rare tokens can "
     "grow, no KL.",
     ("DAPO: An Open-Source LLM Reinforcement Learning System at Scale", "2503.14476"),
     loss_type="dapo", beta=0.0, epsilon_high=0.28)
_add("dr_grpo", "Dr. GRPO",
     "Remove both biases of GRPO: no division by the group's std, and a constant instead of each answer's length.",
     ("Understanding R1-Zero-Like Training: A Critical Perspective", "2503.20783"),
     loss_type="dr_grpo", beta=0.0, scale_rewards="none")
_add("gspo", "GSPO",
     "Sequence-level ratio and clip: a whole answer is kept or clipped together (tiny ε: 3e-4 / 4e-4).",
     ("Group Sequence Policy Optimization", "2507.18071"),
     loss_type="grpo", importance_sampling_level="sequence", beta=0.0, epsilon=3e-4, epsilon_high=4e-4)
_add("luspo", "LUSPO",
     "GSPO with each answer's loss summed over its tokens, so a long answer is not weighted down.",
     ("Length-Unbiased Sequence Policy Optimization", "2602.05261"),
     loss_type="luspo", importance_sampling_level="sequence", beta=0.0, epsilon=3e-4, epsilon_high=4e-4)
_add("cispo_trl", "CISPO (TRL)",
     "Clip the stopped importance weight at 5 instead of clipping the update: no token loses its gradient.",
     ("MiniMax-M1: Scaling Test-Time Compute Efficiently with Lightning Attention", "2506.13585"),
     loss_type="cispo", beta=0.0, epsilon_high=5.0)
_add("cispo", "CISPO (verl)",
     "Clip the stopped importance weight to [1−ε, 1+ε_high]: no token loses its gradient.",
     ("MiniMax-M1: Scaling Test-Time Compute Efficiently with Lightning Attention", "2506.13585"),
     policy_loss="cispo", loss_agg_mode="token-mean", beta=0.0, epsilon_high=0.28)
_add("sapo", "SAPO",
     "A smooth sigmoid gate instead of the hard clip, steeper for negative advantages.",
     ("Soft Adaptive Policy Optimization", "2511.20347"),
     loss_type="sapo", beta=0.0)
_add("gmpo", "GMPO",
     "Geometric mean of the token ratios, clipped in log space: outlier tokens barely move the update.",
     ("Geometric-Mean Policy Optimization", "2507.20673"),
     policy_loss="geo_mean", loss_agg_mode="token-mean", beta=0.0, epsilon=0.4, epsilon_high=0.4)
_add("gpg", "GPG",
     "The plain policy gradient A·∇log π: no ratio, no clip, no KL.",
     ("GPG: A Simple and Strong Reinforcement Learning Baseline for Model Reasoning", "2504.02546"),
     policy_loss="gpg", loss_agg_mode="token-mean", beta=0.0)
_add("dro", "DRO",
     "Policy gradient with a quadratic penalty on the log-ratio to the sampler instead of a clip.",
     ("Offline Regularised Reinforcement Learning for Large Language Models Alignment", "2405.19107"),
     policy_loss="dro", loss_agg_mode="token-mean", beta=0.0, dro_beta=0.1)
_add("vespo", "VESPO",
     "A smooth Gamma weight of the sequence's ratio replaces the clip.",
     ("VESPO: Variational Sequence-Level Soft Policy Optimization", "2602.10693"),
     loss_type="vespo", beta=0.0)
_add("rloo", "RLOO",
     "Leave-one-out baseline: each answer is compared with the mean of the others, no std division.",
     ("Back to Basics: Revisiting REINFORCE Style Optimization for Learning from Human Feedback in LLMs",
      "2402.14740"),
     policy_loss="vanilla", loss_agg_mode="token-mean", beta=0.0, advantage_estimator="rloo")
_add("reinforce_pp", "REINFORCE++ (baseline)",
     "Group mean as baseline, then one normalisation over the whole batch's tokens instead of per group.",
     ("REINFORCE++: A Simple and Efficient Approach for Aligning Large Language Models", "2501.03262"),
     policy_loss="vanilla", loss_agg_mode="token-mean", beta=0.0, advantage_estimator="reinforce_plus_plus_baseline")
_add("opo", "OPO",
     "A length-weighted baseline, optimal for a sequence-sum loss, on exact on-policy updates.",
     ("On-Policy RL with Optimal Reward Baseline", "2505.23585"),
     policy_loss="vanilla", loss_agg_mode="seq-mean-token-sum", beta=0.0, advantage_estimator="opo")


# -------------------------------------------------------------------------------- trainer settings

#: grpo_loss's defaults, for the fields a trainer config must state when they differ.
_DEFAULTS = {"epsilon": 0.2, "epsilon_high": None, "delta": None, "beta": 0.04, "kl_estimator": "k3",
             "kl_in": "loss", "kl_bias_correction": False, "scale_rewards": "group",
             "advantage_estimator": "grpo", "importance_sampling_level": "token", "tau_pos": 1.0, "tau_neg": 1.05,
             "dro_beta": 0.1, "vespo_k_pos": 2.0, "vespo_lambda_pos": 3.0, "vespo_k_neg": 3.0,
             "vespo_lambda_neg": 2.0, "top_entropy_quantile": 1.0, "mask_truncated_completions": False,
             "num_iterations": 1}
#: TRL's ``loss_type`` for each (objective, aggregation) it can express.
_TRL_BY_VARIANT = {(t.objective, t.aggregation): t.name for t in TRL_LOSS_TYPES.values() if t.name != "bnpo"}


def _get(settings: dict, name: str):
    return settings.get(name, _DEFAULTS[name])


def trl_config(settings: dict) -> tuple[dict | None, list[str]]:
    """TRL 1.16 ``GRPOConfig`` fields for ``settings`` (grpo_loss keyword arguments, plus ``num_iterations``).

    Returns:
        ``(fields, notes)``: ``fields`` is ``None`` when TRL cannot run this variant; ``notes`` says what
        could not be expressed or what differs.
    """
    notes: list[str] = []
    objective, aggregation, _, _ = resolve_variant(*_vocabulary(settings))
    loss_type = settings.get("loss_type") or _TRL_BY_VARIANT.get((objective, aggregation))
    if loss_type is None:
        return None, [f"TRL has no loss_type for {OBJECTIVES.get(objective).title} with {aggregation} "
                      f"aggregation"]
    estimator = _get(settings, "advantage_estimator")
    if estimator not in ("grpo", "normalize_then_sum"):
        return None, [f"TRL has no {ADVANTAGE_ESTIMATORS.get(estimator).title} advantage estimator"]
    fields: dict = {"loss_type": loss_type}
    beta = _get(settings, "beta")
    fields["beta"] = beta
    if beta > 0:
        if _get(settings, "kl_in") != "loss":
            return None, ["TRL puts the KL term in the loss only"]
        if _get(settings, "kl_estimator") != "k3":
            return None, [f"TRL's KL term is always k3; {_get(settings, 'kl_estimator')} is not available"]
        fields["use_bias_correction_kl"] = bool(_get(settings, "kl_bias_correction"))
    if loss_type not in ("sapo", "vespo", "cispo"):  # those read no lower width
        fields["epsilon"] = _get(settings, "epsilon")
    if settings.get("epsilon_high") is not None and loss_type not in ("sapo", "vespo"):
        fields["epsilon_high"] = settings["epsilon_high"]
    if settings.get("delta") is not None:
        fields["delta"] = settings["delta"]
    scale = _get(settings, "scale_rewards")
    fields["scale_rewards"] = {True: "group", False: "none"}.get(scale, scale)
    if estimator == "normalize_then_sum":
        fields["multi_objective_aggregation"] = "normalize_then_sum"
    if _get(settings, "importance_sampling_level") != "token":
        fields["importance_sampling_level"] = "sequence"
    for ours, theirs in (("tau_pos", "sapo_temperature_pos"), ("tau_neg", "sapo_temperature_neg")):
        if loss_type == "sapo" and ours in settings:
            fields[theirs] = settings[ours]
    for name in ("vespo_k_pos", "vespo_lambda_pos", "vespo_k_neg", "vespo_lambda_neg"):
        if loss_type == "vespo" and name in settings:
            fields[name] = settings[name]
    for name in ("top_entropy_quantile", "mask_truncated_completions", "num_iterations"):
        if name in settings and settings[name] != _DEFAULTS[name]:
            fields[name] = settings[name]
    if "max_completion_length" in settings:
        fields["max_completion_length"] = settings["max_completion_length"]
    if "eps" in settings and settings["eps"] != 1e-4 and fields["scale_rewards"] != "none":
        notes.append("TRL adds 1e-4 to the std; grpo_core's eps here differs")
    return fields, notes


_ACTOR = "actor_rollout_ref.actor"


def verl_overrides(settings: dict) -> tuple[list[str] | None, list[str]]:
    """verl 0.9 command-line overrides (``key=value``) for ``settings``.

    Returns:
        ``(overrides, notes)``: ``overrides`` is ``None`` when verl cannot run this variant.
    """
    notes: list[str] = []
    objective, aggregation, kl_aggregation, _ = resolve_variant(*_vocabulary(settings))
    sequence = _get(settings, "importance_sampling_level") == "sequence"
    if objective == "vanilla" and sequence:
        objective = "gspo"
    if OBJECTIVES.get(objective).verl is None or (sequence and objective not in ("gspo", "geo_mean")):
        return None, [f"verl has no policy_loss for {OBJECTIVES.get(objective).title}"
                      + (" with a sequence-level ratio" if sequence else "")]
    if _get(settings, "top_entropy_quantile") < 1:
        return None, ["verl 0.9 has no loss on the top-entropy tokens only (TRL's top_entropy_quantile)"]
    if _get(settings, "mask_truncated_completions"):
        return None, ["verl 0.9 has no loss mask for truncated completions (TRL's mask_truncated_completions)"]
    estimator = ADVANTAGE_ESTIMATORS.get(_get(settings, "advantage_estimator"))
    if estimator.verl is None:
        return None, [f"verl has no {estimator.title} advantage estimator"]
    scale = _get(settings, "scale_rewards")
    scale = {True: "group", False: "none"}.get(scale, scale)
    if scale == "batch" and estimator.uses_scale:
        return None, ["verl scales GRPO advantages by the group's std or not at all (no batch std)"]
    out = [f"algorithm.adv_estimator={estimator.name}"]
    if estimator.uses_scale:
        out.append(f"algorithm.norm_adv_by_std_in_grpo={scale != 'none'}")
    out.append(f"{_ACTOR}.policy_loss.loss_mode={objective}")
    out.append(f"{_ACTOR}.loss_agg_mode={kl_aggregation}")
    if aggregation != kl_aggregation and objective not in ("sapo", "geo_mean"):
        notes.append(f"verl aggregates the KL term with {kl_aggregation}")
    low = _get(settings, "epsilon")
    high = settings.get("epsilon_high")
    out.append(f"{_ACTOR}.clip_ratio_low={low:g}")
    out.append(f"{_ACTOR}.clip_ratio_high={(low if high is None else high):g}")
    if objective == "vanilla":
        delta = settings.get("delta")
        out.append(f"{_ACTOR}.clip_ratio_c={delta:g}" if delta is not None else f"{_ACTOR}.clip_ratio_c=1e9")
        if delta is None:
            notes.append("verl's dual clip is on by default (clip_ratio_c=3.0): 1e9 turns it off, as here")
    if objective == "sapo":
        out += [f"{_ACTOR}.tau_pos={_get(settings, 'tau_pos'):g}", f"{_ACTOR}.tau_neg={_get(settings, 'tau_neg'):g}"]
    if objective == "dro":
        out.append(f"{_ACTOR}.policy_loss.dro_beta={_get(settings, 'dro_beta'):g}")
    if aggregation == "seq-mean-token-sum-norm" and settings.get("loss_scale_factor") is not None:
        out.append(f"{_ACTOR}.loss_scale_factor={settings['loss_scale_factor']:g}")
    beta = _get(settings, "beta")
    kl_name = KL_ESTIMATORS_REGISTRY.get(_get(settings, "kl_estimator")).verl[0]
    if beta > 0 and _get(settings, "kl_in") == "reward":
        out += ["algorithm.use_kl_in_reward=True", f"algorithm.kl_ctrl.kl_coef={beta:g}", f"algorithm.kl_penalty={kl_name}",
                f"{_ACTOR}.use_kl_loss=False"]
    elif beta > 0:
        out += [f"{_ACTOR}.use_kl_loss=True", f"{_ACTOR}.kl_loss_coef={beta:g}", f"{_ACTOR}.kl_loss_type={kl_name}"]
        if _get(settings, "kl_bias_correction"):
            return None, ["verl does not multiply the KL term by the importance ratio (TRL's use_bias_correction_kl)"]
    else:
        out.append(f"{_ACTOR}.use_kl_loss=False")
    if _get(settings, "num_iterations") > 1:
        out.append(f"{_ACTOR}.ppo_epochs={settings['num_iterations']}")
    if "eps" in settings and settings["eps"] != 1e-6 and estimator.uses_scale:
        notes.append("verl adds 1e-6 to the std; grpo_core's eps here differs")
    return out, notes


def _python_value(value) -> str:
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return repr(value)


def trl_code(settings: dict) -> tuple[str | None, list[str]]:
    """Python code building the TRL ``GRPOConfig`` of :func:`trl_config` (``None`` where TRL cannot run
    ``settings``), and the notes."""
    fields, notes = trl_config(settings)
    if fields is None:
        return None, notes
    body = "".join(f"    {k}={_python_value(v)},\n" for k, v in fields.items())
    return f"from trl import GRPOConfig\n\nconfig = GRPOConfig(\n{body})", notes


def verl_code(settings: dict) -> tuple[str | None, list[str]]:
    """verl's command line with the overrides of :func:`verl_overrides`, one per line (``None`` where verl
    cannot run ``settings``), and the notes."""
    overrides, notes = verl_overrides(settings)
    if overrides is None:
        return None, notes
    return "python3 -m verl.trainer.main_ppo \\\n" + " \\\n".join(f"    {o}" for o in overrides), notes
