"""The live-training page's controls: widget keys, defaults, URL ranges, presets, and the mapping between the
widgets and :class:`grpo_core.training.TrainConfig` (both ways). No widget is drawn here.

Names, titles and explanations of objectives, aggregations and estimators come from grpo_core's registries,
never written again here.
"""

from __future__ import annotations

from collections.abc import Mapping

import urlstate
from grpo_core.advantages import ADVANTAGE_ESTIMATORS
from grpo_core.aggregation import AGGREGATIONS
from grpo_core.experiments import DIFFICULTY, difficulty_of, start_skill
from grpo_core.kl import KL_ESTIMATORS, KL_ESTIMATORS_REGISTRY
from grpo_core.loss import LOSS_TYPES, TRL_LOSS_TYPES, resolve_variant
from grpo_core.objectives import OBJECTIVES
from grpo_core.training import POLICY_SIZES, TASKS, TRAIN_METRIC_NAMES, TrainConfig, config_changes

SPEEDS = ("1", "2", "5", "10", "25", "max")
DIFFICULTY_LABELS = {"hard": "hard (about 8% right at the start)", "normal": "normal (about 20% right)",
                     "easy": "easy (about 75% right)"}
VOCABULARIES = ("TRL", "verl")
SCALES = ("group", "batch", "none")
#: The advantage estimators a run with one reward function can use (gdpo / normalize_then_sum need several).
ESTIMATORS = tuple(name for name, e in ADVANTAGE_ESTIMATORS.items() if not e.per_reward)
POLICY_LOSSES = OBJECTIVES.names()
AGGREGATION_MODES = AGGREGATIONS.names()
MAX_B = 128

#: Short names of TrainConfig fields for run labels ("β=0.5, G=4").
SHORT = {"task": "task", "policy_size": "size", "prompts_per_step": "B", "group_size": "G", "temperature": "T",
         "lr": "lr", "num_iterations": "μ", "epsilon": "ε", "epsilon_high": "ε_high", "delta": "δ", "beta": "β",
         "kl_estimator": "KL", "kl_in": "KL in", "kl_bias_correction": "KL×ratio", "scale_rewards": "scale",
         "advantage_estimator": "adv", "loss_type": "loss", "policy_loss": "policy_loss",
         "loss_agg_mode": "agg", "importance_sampling_level": "IS", "tau_pos": "τ_pos", "tau_neg": "τ_neg",
         "dro_beta": "β_dro", "top_entropy_quantile": "top-ρ", "mask_truncated_completions": "mask truncated",
         "partial_credit": "partial credit", "start_skill": "skill", "seed": "seed"}


# ------------------------------------------------------------------------------------ labels and help


def loss_type_label(name: str) -> str:
    """``"dapo · PPO / GRPO clip · token-mean"``: TRL's name, then the objective and aggregation it stands for."""
    entry = TRL_LOSS_TYPES[name]
    return f"{name} · {OBJECTIVES[entry.objective].title} · {entry.aggregation}"


def policy_loss_label(name: str) -> str:
    return f"{name} · {OBJECTIVES[name].title}"


def estimator_label(name: str) -> str:
    return f"{name} · {ADVANTAGE_ESTIMATORS[name].title}"


#: Selectboxes whose shown label (what Streamlit keeps in the URL) differs from the option.
LABELS = {
    "tr_loss": {name: loss_type_label(name) for name in LOSS_TYPES},
    "tr_policy_loss": {name: policy_loss_label(name) for name in POLICY_LOSSES},
    "tr_adv": {name: estimator_label(name) for name in ESTIMATORS},
}


def _bullets(items) -> str:
    return "\n".join(f"- **{name}**: {text}" for name, text in items)


def loss_type_help() -> str:
    return ("TRL's loss_type names an objective and an aggregation at once (GRPOConfig.loss_type; TRL 1.16's "
            "default is dapo):\n\n" + _bullets(
                (t.name, f"{OBJECTIVES[t.objective].title}, {t.aggregation}. {t.note}") for t in TRL_LOSS_TYPES.values()))


def policy_loss_help() -> str:
    return "verl's policy_loss.loss_mode: the per-token objective.\n\n" + _bullets(
        (name, o.idea) for name, o in OBJECTIVES.items())


def aggregation_help() -> str:
    return "verl's loss_agg_mode: how per-token losses become one number.\n\n" + _bullets(
        (name, f"{a.idea} {a.length_bias}") for name, a in AGGREGATIONS.items())


def estimator_help() -> str:
    return ("How rewards become advantages (verl's algorithm.adv_estimator). Scale advantages by applies to "
            "grpo and grpo_passk.\n\n" + _bullets((name, ADVANTAGE_ESTIMATORS[name].idea) for name in ESTIMATORS))


def kl_estimator_help() -> str:
    return ("How the KL to the reference is estimated per sampled token, d = log π − log π_ref. In the loss "
            "what matters is the estimator's gradient, with samples from π:\n\n" + _bullets(
                (name, k.in_loss) for name, k in KL_ESTIMATORS_REGISTRY.items())
            + "\n\nIn the reward (KL goes into: reward) the detached value weights ∇log π: k1's gives the "
              "unbiased gradient of KL(π‖π_ref); k3's, although its value is unbiased, gives ∇KL(π‖π_ref) − "
              "∇KL(π_ref‖π), nearly 0 while π ≈ π_ref.")


def objective_of(config: TrainConfig) -> str:
    """The registry name of the objective ``config`` runs (from either vocabulary)."""
    return resolve_variant(config.loss_type, config.policy_loss, config.loss_agg_mode)[0]


def aggregation_of(config: TrainConfig) -> str:
    return resolve_variant(config.loss_type, config.policy_loss, config.loss_agg_mode)[1]


def chosen_variant(state: Mapping) -> tuple[str, str]:
    """``(objective, aggregation)`` registry names the vocabulary controls in ``state`` select."""
    if state["tr_vocab"] == "TRL":
        entry = TRL_LOSS_TYPES[state["tr_loss"]]
        return entry.objective, entry.aggregation
    return resolve_variant(None, state["tr_policy_loss"], state["tr_agg"])[:2]


def variant_caption(objective: str, aggregation: str) -> str:
    """One caption: the chosen objective's idea and how its aggregation weighs length (from the registries)."""
    o, a = OBJECTIVES[objective], AGGREGATIONS[aggregation]
    return f"**{o.title}**: {o.idea} **{aggregation}**: {a.length_bias}"


def param_help(objective: str, text: str) -> str:
    o = OBJECTIVES[objective]
    return f"{text} Used by {o.title} only ({o.idea})"


# ------------------------------------------------------------------------------------ URL validators


def labelled(key: str):
    """URL validator of a selectbox shown with labels: its label (what Streamlit writes) or its bare option
    (an older or hand-written link). Returns the option."""
    labels = LABELS[key]
    by_text = {**{option: option for option in labels}, **{label: option for option, label in labels.items()}}

    def parse(text: str) -> str:
        if text not in by_text:
            raise ValueError("it must be one of " + ", ".join(labels))
        return by_text[text]

    return parse


# ------------------------------------------------------------------------------------ keys and defaults

#: Every run control: its key (also its URL name) and default. The defaults are DeepSeekMath's GRPO
#: (β = 0.04, loss_type "grpo": each completion's token mean, then the mean over completions).
DEFAULTS = {
    "tr_task": "add", "tr_size": "small", "tr_B": 16, "tr_G": 8, "tr_difficulty": "normal", "tr_seed": 0,
    "tr_temp": 1.0, "tr_lr": 0.01, "tr_mu": 1, "tr_eps": 0.2, "tr_clip_high": False, "tr_eps_high": 0.28,
    "tr_dual": False, "tr_delta": 3.0, "tr_beta": 0.04, "tr_kl_est": "k3", "tr_kl_in": "loss",
    "tr_kl_bias": False, "tr_scale": "group", "tr_adv": "grpo", "tr_vocab": "TRL", "tr_loss": "grpo",
    "tr_policy_loss": "vanilla", "tr_agg": "token-mean", "tr_tau_pos": 1.0, "tr_tau_neg": 1.05,
    "tr_dro_beta": 0.1, "tr_is": "token", "tr_top_ent": 1.0, "tr_mask_trunc": False, "tr_partial": False,
    "tr_cap": 300, "tr_speed": "25",
}
#: Run settings the live view shows besides the run's own numbers: the step cap (in the status; a raised cap lets a
#: stopped run go on), the temperature (the answer distribution is the policy's at it), the KL estimator (a
#: dashboard legend names it). The others show only from the next step on, which redraws the view anyway.
SHOWN_LIVE = ("tr_cap", "tr_temp", "tr_kl_est")
#: Run settings that the TRL / verl code (trainer_settings) leaves out, and the one a run's label (describe) does.
NOT_IN_CODE = ("tr_temp", "tr_lr", "tr_cap", "tr_partial")
NOT_IN_LABEL = ("tr_cap",)
#: How fast a run plays: no section but its own shows it (a playing view reads it at every refresh).
PACE = ("tr_speed",)
#: The controls that start a new run (STRUCTURAL_FIELDS): their section reruns every one that shows the run.
NEW_RUN = ("tr_task", "tr_size", "tr_B", "tr_G", "tr_difficulty", "tr_seed")


#: View choices (not run settings): which question's distribution, which metric to compare, along what.
VIEW_DEFAULTS = {"tr_probe": "0", "tr_cmp_metric": "reward", "tr_cmp_x": "step"}
COMPARE_X = ("step", "samples")

#: The algorithm's settings (what a preset sets); the task, batch, policy, seed and pace stay as they are.
ALGORITHM_KEYS = ("tr_temp", "tr_mu", "tr_eps", "tr_clip_high", "tr_eps_high", "tr_dual", "tr_delta", "tr_beta",
                  "tr_kl_est", "tr_kl_in", "tr_kl_bias", "tr_scale", "tr_adv", "tr_vocab", "tr_loss",
                  "tr_policy_loss", "tr_agg", "tr_tau_pos", "tr_tau_neg", "tr_dro_beta", "tr_is", "tr_top_ent",
                  "tr_mask_trunc")
PRESETS = {
    # The app's defaults: DeepSeekMath's GRPO.
    "DeepSeekMath": {k: DEFAULTS[k] for k in ALGORITHM_KEYS},
    # TRL 1.16's GRPOConfig defaults: loss_type "dapo", beta 0, scale_rewards "group", epsilon 0.2,
    # num_iterations 1, use_bias_correction_kl=True (it only acts once beta > 0; TRL's KL is always k3).
    "TRL": {**{k: DEFAULTS[k] for k in ALGORITHM_KEYS}, "tr_loss": "dapo", "tr_beta": 0.0, "tr_kl_bias": True},
}
PRESET_HELP = {
    "DeepSeekMath": "The app's defaults, DeepSeekMath's GRPO: loss_type grpo (each completion's token mean, then "
                    "the mean over completions), β = 0.04 with k3 in the loss, ε = 0.2, std scaling per group, "
                    "μ = 1. The task, batch, policy, seed and pace stay as they are.",
    "TRL": "TRL 1.16's GRPOConfig defaults: loss_type dapo (token mean), β = 0 (no KL term, no reference model), "
           "scale_rewards group, ε = 0.2, num_iterations 1 (so the clip never acts either), "
           "use_bias_correction_kl = True (only acts once β > 0). TRL adds 1e-4 to the std (with Bessel's "
           "correction); the toy adds 1e-8, which differs only for groups with almost no spread. The task, "
           "batch, policy, seed and pace stay as they are.",
}

URL_SPEC = {
    "tr_task": urlstate.one_of(*TASKS), "tr_size": urlstate.one_of(*POLICY_SIZES),
    "tr_B": urlstate.int_in(1, MAX_B), "tr_G": urlstate.int_in(1, 32), "tr_difficulty": urlstate.one_of(*DIFFICULTY),
    "tr_seed": urlstate.int_in(0, 9999), "tr_temp": urlstate.float_in(0.2, 2.0), "tr_lr": urlstate.float_in(0.001, 0.2),
    "tr_mu": urlstate.int_in(1, 8), "tr_eps": urlstate.float_in(0.0, 1.0), "tr_clip_high": urlstate.boolean(),
    "tr_eps_high": urlstate.float_in(0.0, 5.0), "tr_dual": urlstate.boolean(), "tr_delta": urlstate.float_in(1.05, 10.0),
    "tr_beta": urlstate.float_in(0.0, 2.0), "tr_kl_est": urlstate.one_of(*KL_ESTIMATORS),
    "tr_kl_in": urlstate.one_of("loss", "reward"), "tr_kl_bias": urlstate.boolean(),
    "tr_scale": urlstate.one_of(*SCALES), "tr_adv": labelled("tr_adv"), "tr_vocab": urlstate.one_of(*VOCABULARIES),
    "tr_loss": labelled("tr_loss"), "tr_policy_loss": labelled("tr_policy_loss"),
    "tr_agg": urlstate.one_of(*AGGREGATION_MODES), "tr_tau_pos": urlstate.float_in(0.05, 10.0),
    "tr_tau_neg": urlstate.float_in(0.05, 10.0), "tr_dro_beta": urlstate.float_in(0.01, 2.0),
    "tr_is": urlstate.one_of("token", "sequence"), "tr_top_ent": urlstate.float_in(0.05, 1.0),
    "tr_mask_trunc": urlstate.boolean(), "tr_partial": urlstate.boolean(), "tr_cap": urlstate.int_in(10, 2000),
    "tr_speed": urlstate.one_of(*SPEEDS), "tr_cmp_metric": urlstate.one_of(*TRAIN_METRIC_NAMES),
    "tr_cmp_x": urlstate.one_of(*COMPARE_X),
}


# ------------------------------------------------------------------------------------ widgets <-> config


def config_from_widgets(state: Mapping) -> TrainConfig:
    """The TrainConfig the controls in ``state`` (session state) describe.

    Raises:
        ValueError, TypeError, KeyError: the settings cannot be used together (the message says why).
    """
    task = state["tr_task"]
    trl = state["tr_vocab"] == "TRL"
    return TrainConfig(
        task=task, policy_size=state["tr_size"], prompts_per_step=int(state["tr_B"]), group_size=int(state["tr_G"]),
        temperature=float(state["tr_temp"]), lr=float(state["tr_lr"]), num_iterations=int(state["tr_mu"]),
        epsilon=float(state["tr_eps"]), epsilon_high=float(state["tr_eps_high"]) if state["tr_clip_high"] else None,
        delta=float(state["tr_delta"]) if state["tr_dual"] else None, beta=float(state["tr_beta"]),
        kl_estimator=state["tr_kl_est"], kl_in=state["tr_kl_in"], kl_bias_correction=bool(state["tr_kl_bias"]),
        scale_rewards=state["tr_scale"], advantage_estimator=state["tr_adv"],
        loss_type=state["tr_loss"] if trl else None,
        policy_loss=None if trl else state["tr_policy_loss"], loss_agg_mode=None if trl else state["tr_agg"],
        importance_sampling_level=state["tr_is"], tau_pos=float(state["tr_tau_pos"]),
        tau_neg=float(state["tr_tau_neg"]), dro_beta=float(state["tr_dro_beta"]),
        top_entropy_quantile=float(state["tr_top_ent"]), mask_truncated_completions=bool(state["tr_mask_trunc"]),
        partial_credit=bool(state["tr_partial"]), start_skill=start_skill(task, state["tr_difficulty"]),
        seed=int(state["tr_seed"]), max_steps=int(state["tr_cap"]),
    )


def widgets_for(config: TrainConfig) -> dict:
    """The control values that describe ``config`` (the inverse of :func:`config_from_widgets`).

    Controls that ``config`` leaves unused (ε_high while clip-higher is off, the other vocabulary's
    selectboxes) keep their defaults. Raises ``ValueError`` if a value is outside what the controls offer.
    """
    difficulty = difficulty_of(config)
    if difficulty is None:
        raise ValueError(f"start_skill {config.start_skill} is none of the difficulties {', '.join(DIFFICULTY)}")
    trl = config.loss_type is not None
    values = {
        "tr_task": config.task, "tr_size": config.policy_size, "tr_B": config.prompts_per_step,
        "tr_G": config.group_size, "tr_difficulty": difficulty, "tr_seed": config.seed, "tr_temp": config.temperature,
        "tr_lr": config.lr, "tr_mu": config.num_iterations, "tr_eps": config.epsilon,
        "tr_clip_high": config.epsilon_high is not None,
        "tr_eps_high": DEFAULTS["tr_eps_high"] if config.epsilon_high is None else config.epsilon_high,
        "tr_dual": config.delta is not None, "tr_delta": DEFAULTS["tr_delta"] if config.delta is None else config.delta,
        "tr_beta": config.beta, "tr_kl_est": config.kl_estimator, "tr_kl_in": config.kl_in,
        "tr_kl_bias": config.kl_bias_correction, "tr_scale": config.scale_rewards,
        "tr_adv": config.advantage_estimator, "tr_vocab": "TRL" if trl else "verl",
        "tr_loss": config.loss_type if trl else DEFAULTS["tr_loss"],
        "tr_policy_loss": DEFAULTS["tr_policy_loss"] if trl else (config.policy_loss or "vanilla"),
        "tr_agg": DEFAULTS["tr_agg"] if trl else (config.loss_agg_mode or "token-mean"),
        "tr_tau_pos": config.tau_pos, "tr_tau_neg": config.tau_neg, "tr_dro_beta": config.dro_beta,
        "tr_is": config.importance_sampling_level, "tr_top_ent": config.top_entropy_quantile,
        "tr_mask_trunc": config.mask_truncated_completions, "tr_partial": config.partial_credit,
        "tr_cap": config.max_steps,
    }
    for key, value in values.items():
        if key in URL_SPEC:  # the URL ranges are the widgets' ranges
            text = str(value).lower() if isinstance(value, bool) else str(value)
            try:
                URL_SPEC[key](text)
            except ValueError as err:
                raise ValueError(f"{key} = {value!r} is outside the controls: {err}") from None
    if config.max_completion_length != TrainConfig().max_completion_length or config.max_ratio != TrainConfig().max_ratio:
        raise ValueError("max_completion_length and max_ratio have no control")
    return values


def describe(config: TrainConfig) -> str:
    """A run's label: the settings that differ from the defaults, short (``"β=0.5, G=4"``), or "defaults"."""
    changes = {k: v for k, v in config_changes(config).items() if k in SHORT and v is not None}
    if "start_skill" in changes:
        changes["start_skill"] = difficulty_of(config) or f"{changes['start_skill']:g}"
    return ", ".join(f"{SHORT[k]}={v:g}" if isinstance(v, float) else f"{SHORT[k]}={v}" for k, v in changes.items()) \
        or "defaults"


def trainer_settings(config: TrainConfig) -> dict:
    """The settings :func:`grpo_core.family.trl_config` / :func:`~grpo_core.family.verl_overrides` read."""
    return {**config.loss_settings(), "num_iterations": config.num_iterations}


#: Every control's help text (what the "?" beside it says), by its key.
HELP = {
    "tr_task": ("add: a + b, one answer token, so the policy's whole answer distribution can be drawn. times: a × b, "
                "the answer is written digit by digit then EOS, so completions differ in length and loss_type "
                "matters. Changing it starts a new run."),
    "tr_B": ("How many questions each step samples. Changing it starts a new run."),
    "tr_G": ("Completions sampled per question. Advantages compare completions of the same question, so a group "
             "needs both right and wrong answers to teach anything. Changing it starts a new run."),
    "tr_seed": ("Seeds the starting weights, the questions and the sampling: the same seed and settings give the same"
                " run on a CPU. Changing it starts a new run."),
    "tr_cap": ("The run stops after this many steps (so a run never holds the server's CPU for long). Raising it "
               "lets a stopped run go on."),
    "tr_speed": ("Steps per chart refresh (up to 5 refreshes a second). 1 is slow motion, to read each step's groups; "
                 "max trains as fast as fits in the refresh."),
    "tr_temp": ("Divides the logits when sampling and in every log-prob (as TRL does). Higher = more varied answers "
                "in a group, so more groups with a reward spread."),
    "tr_lr": ("Adam step size for the policy update. Too high and the policy collapses onto one answer (or "
              "diverges)."),
    "tr_mu": ("num_iterations: how many gradient updates reuse one batch of completions. With μ = 1 the policy that"
              " sampled is the one being updated: the ratio is exactly 1 and nothing is clipped."),
    "tr_eps": ("The ratio π/π_old may move to 1−ε (negative advantage) or 1+ε (positive) before the objective stops "
               "rewarding further movement."),
    "tr_clip_high": ("Use a different, usually larger, upper clip width, so that unlikely right answers can grow faster."),
    "tr_eps_high": ("Upper clip width: ratios above 1+ε_high on a positive advantage stop counting. For TRL's loss_type "
                    "cispo it is the cap of the importance weight itself, not a width (TRL recommends 5.0; with "
                    "clip-higher off the cap is ε)."),
    "tr_dual": ("Cap the ratio at δ on negative advantages too, so one exploded ratio cannot dominate."),
    "tr_delta": ("The cap of the dual clip; must be above 1+ε_high."),
    "tr_beta": ("How hard GRPO pulls the policy back toward the frozen starting policy. 0 = no leash (TRL's default);"
                " DeepSeekMath used 0.04."),
    "tr_kl_in": ("loss: β·KL added per token to the loss (DeepSeekMath, TRL). reward: β·KL subtracted from each "
                 "completion's reward before the advantages are computed."),
    "tr_kl_bias": ("Multiply each token's KL term by its importance ratio π/π_old, as TRL 1.16 does by default "
                   "(use_bias_correction_kl=True): the KL is then estimated for the policy being trained, not for the "
                   "one that sampled. On-policy (μ = 1) its value is unchanged, not its gradient. Acts only with β > 0 "
                   "and the KL in the loss."),
    "tr_scale": ("scale_rewards: divide by each group's std (DeepSeekMath), by the batch std, or not at all (Dr. "
                 "GRPO)."),
    "tr_vocab": ("Two names for one choice. TRL's loss_type names the objective and the aggregation together; verl "
                 "picks policy_loss and loss_agg_mode separately (and has objectives TRL lacks). Both select entries "
                 "of the same registry here."),
    "tr_is": ("token: one ratio per token (PPO, GRPO). sequence: one ratio per completion, the geometric mean of "
              "its tokens' ratios (GSPO). On the one-token add task the two are identical (one token's ratio is its"
              " completion's). GSPO clips with ε = 3e-4, ε_high = 4e-4, which the ε slider (step 0.01) cannot "
              "reach: sequence level here uses the ε above."),
    "tr_top_ent": ("TRL's top_entropy_quantile ρ: the policy loss only on the ρ share of the batch's tokens with the "
                   "highest entropy (\"Beyond the 80/20 rule\"); the KL term and the denominators still count every token."
                   " 1 = every token. On the one-token task every token is an answer."),
    "tr_mask_trunc": ("TRL's mask_truncated_completions (DAPO's overlong filtering): completions that reach the length "
                      "limit without EOS leave the loss entirely, so an answer cut off is not punished for it. Only the "
                      "times task has such completions."),
    "tr_partial": ("Rewards beyond 0/1: half credit for an answer off by one (add), or up to half for the right digits "
                   "in the right places (times)."),
    "tr_probe": ("Six questions, from the one the starting policy found hardest to the easiest; their full answer "
                 "distributions are recorded at every step."),
    "tr_step": ("Run exactly one GRPO step and show it."),
    "tr_reset": ("Start a fresh run with the current settings (the old run is kept under Compare runs)."),
    "tr_pause": ("Stop training after the current refresh; the run is kept and Play goes on."),
    "tr_play": ("Start training; while it runs the charts refresh up to 5 times a second (less when the server is "
                "busy)."),
    "tr_cmp_metric": ("Which per-step metric to overlay; the legend lists each run's settings that differ from the "
                      "defaults."),
    "tr_cmp_x": ("Steps, or completions sampled so far (step × B × G): runs with different B or G compared at equal "
                 "sampling cost."),
    "tr_csv": ("One row per run and step, with every metric shown on this page."),
}
