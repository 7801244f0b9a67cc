"""Live training: a tiny policy learns a simulated task with GRPO, streamed while it runs."""

from __future__ import annotations

import io
import re
import time

import pandas as pd
import streamlit as st
import torch

import charts
import live_timing
import trainer_code
import training_controls as tc
import urlstate
from live_chart import live_plotly_chart
from training_controls import DEFAULTS, DIFFICULTY_LABELS, SHORT, SPEEDS, VIEW_DEFAULTS, describe
from grpo_core import device_name
from grpo_core.experiments import DIFFICULTY, EXPERIMENTS, Runs
from grpo_core.training import (
    POLICY_SIZES,
    TASKS,
    TRAIN_METRIC_NAMES,
    TrainConfig,
    Trainer,
    TrainingStopped,
    config_changes,
    needs_reset,
)

TRAINER, LAST, PLAYING, RUNS, NOTICE = "tr_trainer", "tr_last", "tr_playing", "tr_runs", "tr_notice"
PENDING_RESET, PENDING_STEP = "tr_pending_reset", "tr_pending_step"
PENDING_WIDGETS, EXPERIMENT = "tr_pending_widgets", "tr_experiment"
RUN_COUNTER = "tr_run_counter"
LIVE_FRAGMENT, COMPARE_FRAGMENT = "tr_live", "tr_compare_runs"  # fragment keys (st.rerun(scope=...) names them)

TICK_BUDGET = 0.05  # most training time per refresh (of 0.2 s): the rest is drawing and slack for the browser
TICK_SHARE = 0.7  # a tick (training + drawing) aims at this share of the interval, leaving slack for load
MIN_TICK_BUDGET = 0.01  # at least one step per refresh however slow the drawing
DRAW_SECONDS, DETAIL_TICKS, DETAIL_CACHE = "tr_draw_seconds", "tr_detail_ticks", "tr_detail_cache"
TICK_WORK = "tr_tick_work"  # seconds the last few complete refreshes took on the server (training + drawing)
TIMER = "tr_timer"  # the interval the refresh fragment's timer was set with
DETAIL_EVERY = 4  # while playing fast, the groups table and the distribution refresh every 4th tick
SLOW_SPEEDS = ("1", "2")
# Redrawing the curves is the browser's main cost while playing (~85% busy at 400 points a line, measured
# with long-task timing in Chromium on this machine): fewer points per line, evenly thinned, keep it light.
LIVE_POINTS = 200
HEATMAP_COLUMNS = 120
MAX_KEPT_RUNS = 6  # the largest experiment has five arms
LESSON = "tr_lesson"  # the last finished experiment: its lesson and what its runs showed
EXPERIMENTS_PER_ROW = 3  # their names fit on a button three to a row


def question_text(text: str) -> str:
    """URL validator of the chosen question: Streamlit stores a bound selectbox by its shown label."""
    if not re.fullmatch(r"\d{1,2} \+ \d{1,2} =", text):
        raise ValueError("it is not a question such as 3 + 4 =")
    return text


#: Every control's URL range (training_controls.URL_SPEC), and the question's.
URL_SPEC = {**tc.URL_SPEC, "tr_probe": question_text}

EXPLAIN = {  # in the dashboard's panel order (row by row)
    "reward": "Mean reward of the step's completions (line) and the mean spread inside a group (band: ± the "
              "group std). Rising = the policy is learning the task.",
    "kl": "How far the policy has moved from the frozen starting policy: the exact KL over the "
          "vocabulary along the sampled answers (solid), and the sampled estimator GRPO puts in the "
          "loss (dashed; noisy: one unlikely token can spike it). With the KL in the loss, β pulls the policy "
          "back through the estimator's gradient: k2 along that of KL(π‖π_ref), k3 along that of KL(π_ref‖π), "
          "k1 not at all (its gradient has mean 0). In the reward, k1 gives the unbiased gradient of KL(π‖π_ref).",
    "clip": "Fraction of tokens whose ratio was clipped: low (ratio < 1−ε on a negative advantage), high "
            "(ratio > 1+ε_high on a positive one), and either. With μ = 1 all three are exactly 0.",
    "zero_std": "Fraction of groups whose completions all got the same reward: their advantages are 0, so "
                "they give no policy-gradient signal (with β > 0 and the KL in the loss, the KL term still pulls "
                "on them). Rises as prompts become always right (or stay always wrong).",
    "entropy": "How spread the policy's choices are (nats). It falls as the policy becomes sure of its "
               "answers; at 0 every completion in a group is the same and learning stops.",
    "length": "Mean completion length in tokens (the digit task only varies it). loss_type decides how "
              "length weighs in the loss.",
    "loss": "The GRPO loss that was minimised. Its value says little (advantages average to 0 in each "
            "group); watch the reward instead.",
    "accuracy": "Fraction of completions exactly right (equal to the reward unless partial credit is on).",
}

checked = urlstate.validate_params(URL_SPEC)


# ----------------------------------------------------------------------------------------- state


def archive(trainer: Trainer | None) -> None:
    """Keep ``trainer``'s run for Compare runs (the last :data:`MAX_KEPT_RUNS`)."""
    if trainer is None or len(trainer.history) == 0:
        return
    st.session_state[RUN_COUNTER] = st.session_state.get(RUN_COUNTER, 0) + 1
    runs = st.session_state.setdefault(RUNS, [])
    runs.append(dict(label=f"#{st.session_state[RUN_COUNTER]} {describe(trainer.config)}",
                     table=trainer.history.table().numpy().copy(), samples=samples_per_step(trainer.config)))
    del runs[:-MAX_KEPT_RUNS]


def samples_per_step(config: TrainConfig) -> int:
    return config.prompts_per_step * config.group_size


def load_widgets(values: dict) -> None:
    """Set controls (a callback, or the top of the script: before the widgets exist)."""
    for key, value in values.items():
        st.session_state[key] = value


def play() -> None:
    trainer = st.session_state.get(TRAINER)
    if trainer is not None and trainer.stop_reason is not None:
        st.session_state[NOTICE] = f"The run has stopped: {trainer.stop_reason}. Reset, or raise the step cap."
        return
    st.session_state[PLAYING] = True


def pause() -> None:
    st.session_state[PLAYING] = False
    st.rerun(scope=[LIVE_FRAGMENT, COMPARE_FRAGMENT])  # the Play button first, then the stopped run compared


def request_step() -> None:
    st.session_state[PENDING_STEP] = True
    st.rerun(scope=[LIVE_FRAGMENT, COMPARE_FRAGMENT])


def request_reset() -> None:
    st.session_state[PLAYING] = False
    st.session_state[PENDING_RESET] = True
    st.session_state.pop(EXPERIMENT, None)


def load_preset(name: str) -> None:
    """A callback: set the algorithm's controls to a preset (the run goes on with them from the next step)."""
    load_widgets(tc.PRESETS[name])
    st.session_state[NOTICE] = f"{name} settings loaded: they apply from the next step."


def arm_widgets(name: str, arm: int, seed: int) -> dict:
    """The control values of an experiment's arm: the defaults, the arm's config changes, the chosen seed."""
    experiment = EXPERIMENTS[name]
    config = experiment.config(experiment.arms[arm][1], seed=seed)
    return {**DEFAULTS, **tc.widgets_for(config), "tr_speed": "max"}


def start_experiment(name: str) -> None:
    seed = int(st.session_state.get("tr_seed", 0))
    load_widgets(arm_widgets(name, 0, seed))
    st.session_state["tr_cmp_metric"] = EXPERIMENTS[name].metric
    st.session_state["tr_cmp_x"] = EXPERIMENTS[name].x_axis
    st.session_state[EXPERIMENT] = dict(name=name, arm=0, seed=seed, tables={}, samples={})
    st.session_state.pop(LESSON, None)
    st.session_state[PENDING_RESET] = True
    st.session_state[PLAYING] = True


def next_arm(trainer: Trainer) -> bool:
    """After an experiment's arm finished (``trainer`` ran it): keep its metrics, then queue the next arm
    (applied at the top of the next run), or, after the last arm, check the lesson on the arms' runs."""
    experiment = st.session_state.get(EXPERIMENT)
    if experiment is None:
        return False
    spec = EXPERIMENTS[experiment["name"]]
    label = spec.arms[experiment["arm"]][0]
    experiment["tables"][label] = trainer.history.table().numpy().copy()
    experiment["samples"][label] = samples_per_step(trainer.config)
    if experiment["arm"] + 1 >= len(spec.arms):
        st.session_state.pop(EXPERIMENT)
        verdict = spec.claim(Runs.from_tables(experiment["tables"], experiment["samples"]))
        st.session_state[LESSON] = dict(name=spec.name, seed=experiment["seed"], lesson=spec.lesson,
                                        holds=verdict.holds, checks=[(c.text, c.holds) for c in verdict.checks])
        st.session_state[NOTICE] = (f"Experiment “{spec.name}” done: its {len(spec.arms)} runs are overlaid under "
                                    "Compare runs, and what they showed is under Ready-made experiments.")
        return False
    experiment["arm"] += 1
    st.session_state[PENDING_WIDGETS] = arm_widgets(spec.name, experiment["arm"], experiment["seed"])
    st.session_state[PENDING_RESET] = True
    return True


st.session_state.setdefault(PLAYING, False)
st.session_state.setdefault(RUNS, [])
if PENDING_WIDGETS in st.session_state:
    load_widgets(st.session_state.pop(PENDING_WIDGETS))
for key, value in {**DEFAULTS, **VIEW_DEFAULTS}.items():
    if key in st.session_state:
        continue
    if key not in checked.values:
        st.session_state[key] = value
    elif key in tc.LABELS:  # Streamlit seeds a labelled selectbox from its label only: a bare option is set here
        st.session_state[key] = checked.values[key]

# ------------------------------------------------------------------------------------------ page

st.title("Live training")
st.markdown(
    "A tiny policy learns to answer arithmetic questions with GRPO, live. Each step it gets **B** questions, "
    "writes **G** answers to each (a *group*), a checker scores them, and GRPO pushes up the answers that beat "
    "their group's average. Press **Play**, then change a knob while it runs: most knobs apply from the next "
    "step; the task, B, G, policy size, difficulty and seed start a new run."
)

with st.sidebar:
    st.header("Presets")
    preset_columns = st.columns(2)
    for column, (name, label) in zip(preset_columns, (("DeepSeekMath", "DeepSeekMath"),
                                                      ("TRL", "TRL defaults"))):
        column.button(label, key=f"tr_preset_{name.lower()}", on_click=load_preset, args=(name,),
                      help=tc.PRESET_HELP[name], width="stretch")
    st.caption("The app starts from DeepSeekMath's GRPO (β = 0.04, loss_type grpo). TRL 1.16's GRPOConfig "
               "defaults differ: loss_type dapo, β = 0, use_bias_correction_kl on.")
    st.header("Run")
    st.selectbox("Task", TASKS, key="tr_task", bind="query-params",
                 help="add: a + b, one answer token, so the policy's whole answer distribution can be drawn. times: "
                      "a × b, the answer is written digit by digit then EOS, so completions differ in length and loss_type "
                      "matters. Changing it starts a new run.")
    st.selectbox("Policy size", tuple(POLICY_SIZES), key="tr_size", bind="query-params",
                 help="Width of the policy network (an embedding of the question, the previous token and the "
                      "position, then an MLP): " + ", ".join(f"{k} = {v}" for k, v in POLICY_SIZES.items())
                      + " hidden units. Changing it starts a new run.")
    st.slider("Prompts per step (B)", 1, tc.MAX_B, key="tr_B", bind="query-params",
              help="How many questions each step samples. Changing it starts a new run.")
    st.slider("Group size (G)", 1, 32, key="tr_G", bind="query-params",
              help="Completions sampled per question. Advantages compare completions of the same question, so "
                   "a group needs both right and wrong answers to teach anything. Changing it starts a new run.")
    st.selectbox("Difficulty at the start", tuple(DIFFICULTY), key="tr_difficulty", bind="query-params",
                 help="How often the starting policy is already right (a stand-in for what pretraining gave an "
                      "LLM): " + "; ".join(DIFFICULTY_LABELS.values()) + ". Easy makes most groups all-right. "
                      "Changing it starts a new run.")
    st.number_input("Seed", 0, 9999, step=1, key="tr_seed", bind="query-params",
                    help="Seeds the starting weights, the questions and the sampling: the same seed and settings "
                         "give the same run on a CPU. Changing it starts a new run.")
    st.slider("Step cap", 10, 2000, step=10, key="tr_cap", bind="query-params",
              help="The run stops after this many steps (so a run never holds the server's CPU for long). "
                   "Raising it lets a stopped run go on.")
    st.select_slider("Speed (steps per refresh)", SPEEDS, key="tr_speed", bind="query-params",
                     help="Steps per chart refresh (up to 5 refreshes a second). 1 is slow motion, to read each "
                          "step's groups; max trains as fast as fits in the refresh.")

    st.header("Sampling and update")
    st.slider("Temperature", 0.2, 2.0, step=0.05, key="tr_temp", bind="query-params",
              help="Divides the logits when sampling and in every log-prob (as TRL does). Higher = more varied "
                   "answers in a group, so more groups with a reward spread.")
    st.slider("Learning rate", 0.001, 0.2, step=0.001, format="%.3f", key="tr_lr", bind="query-params",
              help="Adam step size for the policy update. Too high and the policy collapses onto one answer "
                   "(or diverges).")
    st.slider("Updates per batch (μ)", 1, 8, key="tr_mu", bind="query-params",
              help="num_iterations: how many gradient updates reuse one batch of completions. With μ = 1 the "
                   "policy that sampled is the one being updated: the ratio is exactly 1 and nothing is clipped.")

    st.header("Clipping")
    st.slider("ε (clip width)", 0.0, 1.0, step=0.01, key="tr_eps", bind="query-params",
              help="The ratio π/π_old may move to 1−ε (negative advantage) or 1+ε (positive) before the "
                   "objective stops rewarding further movement.")
    clip_high = st.toggle("Separate upper bound (ε_high, DAPO's clip-higher)", key="tr_clip_high",
                          bind="query-params", help="Use a different, usually larger, upper clip width, so that "
                                                    "unlikely right answers can grow faster.")
    st.slider("ε_high", 0.0, 5.0, step=0.01, key="tr_eps_high", bind="query-params", disabled=not clip_high,
              help="Upper clip width: ratios above 1+ε_high on a positive advantage stop counting. For TRL's "
                   "loss_type cispo it is the cap of the importance weight itself, not a width (TRL recommends "
                   "5.0; with clip-higher off the cap is ε).")
    dual = st.toggle("Dual clip (δ)", key="tr_dual", bind="query-params",
                     help="Cap the ratio at δ on negative advantages too, so one exploded ratio cannot dominate.")
    st.slider("δ", 1.05, 10.0, step=0.05, key="tr_delta", bind="query-params", disabled=not dual,
              help="The cap of the dual clip; must be above 1+ε_high.")

    st.header("KL to the reference")
    st.slider("β (KL weight)", 0.0, 2.0, step=0.01, key="tr_beta", bind="query-params",
              help="How hard GRPO pulls the policy back toward the frozen starting policy. 0 = no leash "
                   "(TRL's default); DeepSeekMath used 0.04.")
    st.radio("KL estimator", tc.KL_ESTIMATORS, horizontal=True, key="tr_kl_est", bind="query-params",
             help=tc.kl_estimator_help())
    st.radio("KL goes into", ("loss", "reward"), horizontal=True, key="tr_kl_in", bind="query-params",
             help="loss: β·KL added per token to the loss (DeepSeekMath, TRL). reward: β·KL subtracted from "
                  "each completion's reward before the advantages are computed.")
    st.toggle("KL × ratio (TRL's use_bias_correction_kl)", key="tr_kl_bias", bind="query-params",
              help="Multiply each token's KL term by its importance ratio π/π_old, as TRL 1.16 does by default "
                   "(use_bias_correction_kl=True): the KL is then estimated for the policy being trained, not for "
                   "the one that sampled. On-policy (μ = 1) its value is unchanged, not its gradient. Acts only "
                   "with β > 0 and the KL in the loss.")

    st.header("Advantages and loss")
    st.radio("Scale advantages by", ("group", "batch", "none"), horizontal=True, key="tr_scale",
             bind="query-params", help="scale_rewards: divide by each group's std (DeepSeekMath), by the batch "
                                       "std, or not at all (Dr. GRPO).")
    st.selectbox("Advantage estimator", tc.ESTIMATORS, format_func=tc.LABELS["tr_adv"].get, key="tr_adv",
                 bind="query-params", help=tc.estimator_help())
    vocabulary = st.radio("Vocabulary", tc.VOCABULARIES, horizontal=True, key="tr_vocab", bind="query-params",
                          help="Two names for one choice. TRL's loss_type names the objective and the aggregation "
                               "together; verl picks policy_loss and loss_agg_mode separately (and has objectives "
                               "TRL lacks). Both select entries of the same registry here.")
    st.selectbox("Loss (TRL loss_type)", tc.LOSS_TYPES, format_func=tc.LABELS["tr_loss"].get, key="tr_loss",
                 bind="query-params", disabled=vocabulary != "TRL", help=tc.loss_type_help())
    st.selectbox("Objective (verl policy_loss)", tc.POLICY_LOSSES, format_func=tc.LABELS["tr_policy_loss"].get,
                 key="tr_policy_loss", bind="query-params", disabled=vocabulary != "verl", help=tc.policy_loss_help())
    st.selectbox("Aggregation (verl loss_agg_mode)", tc.AGGREGATION_MODES, key="tr_agg", bind="query-params",
                 disabled=vocabulary != "verl", help=tc.aggregation_help())
    objective, aggregation = tc.chosen_variant(st.session_state)
    st.caption(tc.variant_caption(objective, aggregation))
    sapo, dro = objective == "sapo", objective == "dro"
    st.slider("τ_pos (SAPO, A > 0)", 0.05, 10.0, step=0.05, key="tr_tau_pos", bind="query-params", disabled=not sapo,
              help=tc.param_help("sapo", "The gate's steepness for positive advantages (trainers' default 1.0)."))
    st.slider("τ_neg (SAPO, A ≤ 0)", 0.05, 10.0, step=0.05, key="tr_tau_neg", bind="query-params", disabled=not sapo,
              help=tc.param_help("sapo", "The gate's steepness for negative advantages (trainers' default 1.05)."))
    st.slider("β_dro (DRO)", 0.01, 2.0, step=0.01, key="tr_dro_beta", bind="query-params", disabled=not dro,
              help=tc.param_help("dro", "Weight of the quadratic penalty on the log-ratio to the sampling policy."))
    st.radio("Importance sampling level", ("token", "sequence"), horizontal=True, key="tr_is",
             bind="query-params", help="token: one ratio per token (PPO, GRPO). sequence: one ratio per "
                                       "completion, the geometric mean of its tokens' ratios (GSPO). On the "
                                       "one-token add task the two are identical (one token's ratio is its "
                                       "completion's). GSPO clips with ε = 3e-4, ε_high = 4e-4, which the ε "
                                       "slider (step 0.01) cannot reach: sequence level here uses the ε above.")
    st.slider("Top-entropy tokens (top_entropy_quantile)", 0.05, 1.0, step=0.05, key="tr_top_ent",
              bind="query-params",
              help="TRL's top_entropy_quantile ρ: the policy loss only on the ρ share of the batch's tokens with the "
                   "highest entropy (\"Beyond the 80/20 rule\"); the KL term and the denominators still count every "
                   "token. 1 = every token. On the one-token task every token is an answer.")
    st.toggle("Mask truncated completions", key="tr_mask_trunc", bind="query-params",
              help="TRL's mask_truncated_completions (DAPO's overlong filtering): completions that reach the length "
                   "limit without EOS leave the loss entirely, so an answer cut off is not punished for it. Only the "
                   "times task has such completions.")
    st.toggle("Partial credit", key="tr_partial", bind="query-params",
              help="Rewards beyond 0/1: half credit for an answer off by one (add), or up to half for the right "
                   "digits in the right places (times).")


def current_config() -> TrainConfig | None:
    try:
        return tc.config_from_widgets(st.session_state)
    except (ValueError, TypeError, KeyError) as err:
        st.warning(f"These settings cannot be used, so the run keeps its last good settings: {err}",
                   icon=":material/warning:")
        return None


config = current_config()
trainer: Trainer | None = st.session_state.get(TRAINER)
if config is not None:
    if trainer is None:
        trainer = st.session_state[TRAINER] = Trainer(config)
    elif st.session_state.pop(PENDING_RESET, False) or needs_reset(trainer.config, config):
        changed = [SHORT.get(k, k) for k, v in config_changes(config, trainer.config).items() if needs_reset(
            trainer.config, trainer.config.replace(**{k: v}))]
        if changed and len(trainer.history):
            st.session_state[NOTICE] = (f"{', '.join(changed)} changed, so a new run started; the previous run "
                                        "is kept under Compare runs.")
        archive(trainer)
        trainer = st.session_state[TRAINER] = Trainer(config)
        st.session_state.pop(LAST, None)
        st.session_state.pop(DETAIL_CACHE, None)
    else:
        trainer.reconfigure(config)
if trainer is None:  # the very first settings are unusable: start from the defaults
    trainer = st.session_state[TRAINER] = Trainer(TrainConfig())
st.caption(f"Policy: {trainer.num_parameters:,} parameters on {device_name(trainer.device)}; the reference is the "
           "starting policy, frozen.")
if NOTICE in st.session_state:
    st.info(st.session_state.pop(NOTICE), icon=":material/info:")

with st.expander("Ready-made experiments (one click: two to five runs, then overlaid under Compare runs)",
                 expanded=not len(trainer.history) or LESSON in st.session_state):
    specs = list(EXPERIMENTS.values())
    for row in range(0, len(specs), EXPERIMENTS_PER_ROW):
        for column, spec in zip(st.columns(EXPERIMENTS_PER_ROW), specs[row:row + EXPERIMENTS_PER_ROW]):
            column.button(spec.name, key=f"tr_exp_{spec.name}", on_click=start_experiment, args=(spec.name,),
                          help=spec.question, width="stretch")
    st.caption("Each arm starts from the defaults with the experiment's changes and the seed chosen in the sidebar; "
               "pick another seed and run it again to see how much is chance.")
    experiment = st.session_state.get(EXPERIMENT)
    if experiment is not None:
        arms = EXPERIMENTS[experiment["name"]].arms
        st.caption(f"Running “{experiment['name']}”: arm {experiment['arm'] + 1} of {len(arms)} "
                   f"({arms[experiment['arm']][0]}).")
    lesson = st.session_state.get(LESSON)
    if lesson is not None:
        st.markdown(f"**{lesson['name']}** (seed {lesson['seed']}): {lesson['lesson']}")
        shown = "\n".join(f"- {'✓' if holds else '✗ not seen:'} {text}" for text, holds in lesson["checks"])
        if lesson["holds"]:
            st.success("These runs show it:\n" + shown, icon=":material/check_circle:")
        else:
            st.warning("These runs show only part of it (another seed may differ):\n" + shown,
                       icon=":material/help:")

with st.expander("Use these settings in TRL / verl"):
    st.caption("The current run's loss settings as TRL 1.16 GRPOConfig fields and verl 0.9 overrides "
               "(grpo_core.family); batch size, model and learning rate are yours to set.")
    trainer_code.draw(tc.trainer_settings(trainer.config), "these settings")


# ----------------------------------------------------------------------------------- live fragment


def history_arrays(trainer: Trainer):
    table = trainer.history.table()
    index = charts.thin(table.shape[0], LIVE_POINTS)
    rows = table[torch.as_tensor(index)].numpy()
    columns = {name: rows[:, i] for i, name in enumerate(trainer.history.names)}
    return index + 1, columns, index


def draw_status(trainer: Trainer) -> None:
    last = st.session_state.get(LAST)
    cells = st.columns(5)
    metrics = last.metrics if last is not None else {}
    cells[0].metric("Step", f"{trainer.step_count} / {trainer.config.max_steps}")
    cells[1].metric("Reward (last step)", f"{metrics['reward']:.3f}" if metrics else "–")
    cells[2].metric("Right answers", f"{metrics['accuracy']:.0%}" if metrics else "–")
    cells[3].metric("KL to reference", f"{metrics['kl_ref']:.3f}" if metrics else "–")
    cells[4].metric("Steps per second", f"{metrics['steps_per_s']:.0f}" if metrics else "–",
                    help="Training steps per second of compute, for the last step (drawing not included).")
    if trainer.stop_reason is not None:
        (st.error if "diverged" in trainer.stop_reason else st.info)(
            f"The run stopped: {trainer.stop_reason}.", icon=":material/stop_circle:")


def draw_charts(trainer: Trainer) -> None:
    if len(trainer.history) == 0:
        st.info("No steps yet: press **Play** or **Step**.", icon=":material/play_arrow:")
        return
    steps, m, _ = history_arrays(trainer)
    panels = charts.training_panels(m, trainer.config.kl_estimator)
    live_plotly_chart(charts.training_dashboard(steps, panels, key="tr_dashboard"), key="tr_chart_dashboard")
    # one element, not one per panel: each element is redrawn in the browser at every refresh
    st.caption("\n".join(f"- **{title}**: {text}" for (title, _, _), text in zip(panels, EXPLAIN.values())))


def draw_groups(fresh: bool) -> None:
    st.subheader("This step's groups")
    cache = st.session_state.setdefault(DETAIL_CACHE, {})
    last = st.session_state.get(LAST)
    if last is None:
        st.caption("Run a step to see its groups.")
        return
    if st.session_state[PLAYING] and st.session_state["tr_speed"] not in SLOW_SPEEDS:
        # dozens of steps go by per refresh: a table nobody can read would only slow the refreshes down
        st.caption(f"Step {last.step}: the table shows when paused, after **Step**, or at speed 1–2 (slow motion).")
        return
    if fresh or cache.get("groups") is None:
        shown = last.groups[:4]
        rows = [dict(prompt=g.prompt, completion=c, reward=r, advantage=a)
                for g in shown for c, r, a in zip(g.completions, g.rewards, g.advantages)]
        caption = (f"Step {last.step}: the first {len(shown)} of {len(last.groups)} questions, every completion, "
                   "its reward and its advantage (reward − group mean, scaled). Positive advantages are pushed "
                   "up, negative ones down; a group with one reward everywhere gets 0.")
        cache["groups"] = (caption, pd.DataFrame(rows))
    caption, table = cache["groups"]
    st.caption(caption)
    st.dataframe(table, hide_index=True, height=min(38 + 35 * len(table), 420),
                 column_config={"reward": st.column_config.NumberColumn(format="%.2f"),
                                "advantage": st.column_config.NumberColumn(format="%+.3f")})


def draw_distribution(trainer: Trainer, fresh: bool) -> None:
    st.subheader("The policy's answers to one question")
    if trainer.task.eos is not None:
        st.caption("Drawn for the one-token task (a + b), where the whole answer distribution is one row of "
                   "numbers. Switch the task to see it.")
        return
    labels = [trainer.task.prompt_text(p) for p in trainer.probe_prompts]
    choice = st.selectbox("Question", [str(i) for i in range(len(labels))], format_func=lambda i: labels[int(i)],
                          key="tr_probe", bind="query-params",
                          help="Six questions, from the one the starting policy found hardest to the easiest; "
                               "their full answer distributions are recorded at every step.")
    probe = int(choice)
    cache = st.session_state.setdefault(DETAIL_CACHE, {})
    if fresh or cache.get("distribution", (None,))[0] != (id(trainer), probe):
        prompt = trainer.probe_prompts[probe]
        right = int(trainer.task.targets[prompt, 0])
        start = trainer.answer_distribution([prompt], reference=True)[0]
        # probe_history[k] is the distribution after k updates; the current one is appended.
        index = charts.thin(len(trainer.probe_history), HEATMAP_COLUMNS)
        probs = torch.stack([trainer.probe_history[i][probe] for i in index]
                            + [trainer.answer_distribution([prompt])[0]]).numpy()
        steps = index.tolist() + [trainer.step_count]
        fig = charts.answer_distribution_heatmap(steps, probs, trainer.task.vocab, right,
                                                 title=f"P(answer | {labels[probe]}) over training", key="tr_dist")
        caption = (f"Each column is the policy's whole distribution over the 19 answers at that step (step 0: "
                   f"the start). Right answer: {trainer.task.vocab[right]}, now P = {probs[-1][right]:.2f} (start "
                   f"{float(start[right]):.2f}). GRPO moves probability onto it only from groups where some "
                   "answers were right and some wrong.")
        cache["distribution"] = ((id(trainer), probe), fig, caption)
    _, fig, caption = cache["distribution"]
    live_plotly_chart(fig, key="tr_chart_dist")
    st.caption(caption)


def draw_controls(running: bool) -> None:
    controls = st.columns([1, 1, 1, 4])
    # Two buttons with their own keys, not one toggle: a click that Streamlit delivers to a later run too
    # (a rerun right after the click) can then only repeat what it meant.
    if running:
        controls[0].button("Pause", key="tr_pause", on_click=pause, type="primary", width="stretch",
                           help="Stop training after the current refresh; the run is kept and Play goes on.")
    else:
        controls[0].button("Play", key="tr_play", on_click=play, type="primary", width="stretch",
                           help="Start training; while it runs the charts refresh up to 5 times a second (less "
                                "when the server is busy).")
    controls[1].button("Step", key="tr_step", on_click=request_step,
                       width="stretch", disabled=running, help="Run exactly one GRPO step and show it.")
    controls[2].button("Reset", key="tr_reset", on_click=request_reset, width="stretch",
                       help="Start a fresh run with the current settings (the old run is kept under Compare runs).")


def draw_view(trainer: Trainer) -> None:
    """The run as it is now: status, the dashboard, this step's groups, the answer distribution."""
    started = time.perf_counter()
    draw_status(trainer)
    draw_charts(trainer)
    # The groups table and the distribution are for reading, not for watching scroll by: while playing fast
    # the table waits for a pause and the distribution is rebuilt every DETAIL_EVERY-th refresh.
    ticks = st.session_state[DETAIL_TICKS] = st.session_state.get(DETAIL_TICKS, 0) + 1
    fresh = not st.session_state[PLAYING] or st.session_state["tr_speed"] in SLOW_SPEEDS or ticks % DETAIL_EVERY == 0
    left, right = st.columns([1, 1], gap="large")
    with left:
        draw_groups(fresh)
    with right:
        draw_distribution(trainer, fresh)
    st.session_state[DRAW_SECONDS] = time.perf_counter() - started


def refresh() -> None:
    """One refresh while playing: train for the refresh's time budget, then draw. A fragment of its own that
    the browser's timer reruns alone (``run_every``), so a refresh redraws neither the page nor the controls."""
    tick_started = time.perf_counter()
    trainer: Trainer = st.session_state[TRAINER]
    interval = st.session_state.get(TIMER, live_timing.REFRESH_SECONDS)
    if st.session_state[PLAYING]:
        speed = st.session_state["tr_speed"]
        # Train for what the refresh has left after drawing (measured last time): a tick that overruns the
        # interval is cut off by the next one and the charts would starve (stack notes).
        budget = min(TICK_BUDGET, max(MIN_TICK_BUDGET, TICK_SHARE * interval - st.session_state.get(DRAW_SECONDS, 0.0)))
        try:
            result = trainer.advance(10_000 if speed == "max" else int(speed), budget)
        except TrainingStopped:
            result = None
        if result is not None:
            st.session_state[LAST] = result
        if trainer.stop_reason is not None:
            st.session_state[PLAYING] = False
            diverged = "diverged" in trainer.stop_reason
            if diverged:
                st.session_state.pop(EXPERIMENT, None)
            elif next_arm(trainer):  # the reset that starts the next arm keeps this run under Compare runs
                st.session_state[PLAYING] = True
            st.rerun(scope="app")  # the full run stops the timer (or restarts it for the next arm)
    draw_view(trainer)
    if st.session_state[PLAYING]:
        recent = st.session_state[TICK_WORK] = live_timing.remember(st.session_state.get(TICK_WORK, []),
                                                                    time.perf_counter() - tick_started)
        if live_timing.should_retime(interval, live_timing.wanted_interval(recent)):
            st.rerun(scope="app")  # re-time the refreshes (the fragment's run_every is set when it is drawn)


def still() -> None:
    """The run while paused: a fragment without a timer, drawn in place of :func:`refresh`."""
    draw_view(st.session_state[TRAINER])


@st.fragment(key=LIVE_FRAGMENT)
def live() -> None:
    """Play, Pause, Step and Reset, and the run's view. A click on one of them reruns this fragment only,
    never the page. While playing the view is the :func:`refresh` fragment, which its ``run_every`` timer
    reruns alone; Pause draws the :func:`still` fragment in its place, and Streamlit cancels the timer of
    the fragment that is gone (the start/stop pattern of a nested ``run_every`` fragment)."""
    if st.session_state.get(PENDING_RESET):
        st.rerun(scope="app")  # the reset happens in the full run, where the settings are read
    trainer: Trainer = st.session_state[TRAINER]
    draw_controls(st.session_state[PLAYING])
    if st.session_state.pop(PENDING_STEP, False) and not st.session_state[PLAYING]:
        try:
            st.session_state[LAST] = trainer.step()
        except TrainingStopped as stopped:
            st.info(f"The run has stopped: {stopped}. Reset, or raise the step cap.", icon=":material/info:")
    if st.session_state[PLAYING]:
        # stretched when the server is loaded (app/live_timing.py)
        interval = st.session_state[TIMER] = live_timing.wanted_interval(st.session_state.get(TICK_WORK, []))
        st.fragment(refresh, run_every=interval)()
    else:
        st.fragment(still)()


live()

# ------------------------------------------------------------------------------------ compare runs

@st.fragment(key=COMPARE_FRAGMENT)
def compare_runs() -> None:
    """Kept runs and the current one, overlaid. A fragment: Pause and Step rerun it with the live view (not
    the page), so the current run shows here as soon as it stops."""
    trainer: Trainer = st.session_state[TRAINER]
    st.header("Compare runs")
    runs = list(st.session_state[RUNS])
    if len(trainer.history):
        runs.append(dict(label=f"now {describe(trainer.config)}", table=trainer.history.table().numpy(),
                         samples=samples_per_step(trainer.config)))
    if not runs:
        st.caption(f"Finished runs are kept here (the last {MAX_KEPT_RUNS}) to overlay with the current one. Run "
                   "an experiment above, or Reset after a run to keep it.")
    else:
        metric = st.selectbox("Metric", TRAIN_METRIC_NAMES, key="tr_cmp_metric", bind="query-params",
                              help="Which per-step metric to overlay; the legend lists each run's settings that "
                                   "differ from the defaults.")
        along = st.radio("Along", tc.COMPARE_X, horizontal=True, key="tr_cmp_x", bind="query-params",
                         help="Steps, or completions sampled so far (step × B × G): runs with different B or G "
                              "compared at equal sampling cost.")
        column = TRAIN_METRIC_NAMES.index(metric or "reward")
        lines = []
        for run in runs:
            index = charts.thin(run["table"].shape[0])
            x = (index + 1) * (run.get("samples", 1) if along == "samples" else 1)
            lines.append((run["label"], x, run["table"][index, column]))
        overlay = charts.runs_overlay(lines, title=f"{metric} by run", y_title=metric or "", key="tr_compare")
        if along == "samples":
            overlay.update_xaxes(title_text="completions sampled")
        st.plotly_chart(overlay, key="tr_chart_compare", config={"displayModeBar": False})
        st.caption("The current run updates here when it is paused or stopped. The legend spells out what "
                   "differs from the default settings; #numbers count runs in this session.")

        def runs_csv(runs=tuple(runs)) -> str:  # built only when the button is clicked
            frames = [pd.DataFrame(run["table"], columns=TRAIN_METRIC_NAMES)
                      .assign(run=run["label"], step=lambda d: d.index + 1) for run in runs]
            buffer = io.StringIO()
            pd.concat(frames)[["run", "step", *TRAIN_METRIC_NAMES]].to_csv(buffer, index=False)
            return buffer.getvalue()

        st.download_button("Download these runs' metrics (CSV)", runs_csv, file_name="grpo_runs.csv",
                           mime="text/csv", on_click="ignore", key="tr_csv",
                           help="One row per run and step, with every metric shown on this page.")


compare_runs()

with st.expander("Think about it"):
    st.markdown(
        "1. Run **G = 2 vs G = 16**. Why does the G = 2 run waste so many groups (watch *groups with no reward "
        "spread*)? What does G = 16 cost?\n"
        "2. Set μ = 1 and look at the clipped fraction. Why is it exactly 0 whatever ε is? Now set μ = 4.\n"
        "3. With μ = 4, compare ε = 0.05 and ε = 0.5: which learns faster, and which keeps the ratio calmer?\n"
        "4. Train with β = 0 until the reward is high, then with β = 0.5 from the same seed. How far does each "
        "policy drift from where it started (KL to the reference)? Does the leash cost reward?\n"
        "5. On *easy* prompts, why does dividing by the group std turn one wrong answer into a large push? "
        "Compare scale = group and none.\n"
        "6. On the times task, switch loss_type between grpo and dapo and watch the completion length: which "
        "one punishes long wrong answers less per token?\n"
        "7. Rewards here are 0 or 1. What does a group of binary rewards give as advantages, and why does that "
        "suit tasks whose answers can be checked? Turn on partial credit and compare."
    )
