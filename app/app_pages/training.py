"""Live training: a tiny policy learns a simulated task with GRPO, streamed while it runs."""

from __future__ import annotations

import re
import time

import streamlit as st

import classroom
import live_timing
import questions
import token_inspector as ti
import trainer_code
import training_controls as tc
import training_session as ts
import training_view as tv
import urlstate
from training_controls import DIFFICULTY_LABELS, SPEEDS
from grpo_core import device_name
from grpo_core.experiments import DIFFICULTY, EXPERIMENTS
from grpo_core.training import POLICY_SIZES, TASKS, Trainer, TrainingStopped

TICK_BUDGET = 0.05  # most training time per refresh (of 0.2 s): the rest is drawing and slack for the browser
TICK_SHARE = 0.7  # a tick (training + drawing) aims at this share of the interval, leaving slack for load
MIN_TICK_BUDGET = 0.01  # at least one step per refresh however slow the drawing
TICK_WORK = "tr_tick_work"  # seconds the last few complete refreshes took on the server (training + drawing)
TIMER = "tr_timer"  # the interval the refresh fragment's timer was set with
EXPERIMENTS_PER_ROW = 3  # their names fit on a button three to a row


def question_text(text: str) -> str:
    """URL validator of the chosen question: Streamlit stores a bound selectbox by its shown label."""
    if not re.fullmatch(r"\d{1,2} \+ \d{1,2} =", text):
        raise ValueError("it is not a question such as 3 + 4 =")
    return text


#: Every control's URL range (training_controls.URL_SPEC), the token inspector's, and the question's.
#: "tr_exp" (training_session.START): a link that starts a ready-made experiment as the page opens.
URL_SPEC = {**tc.URL_SPEC, **ti.URL_SPEC, "tr_probe": question_text, "tr_exp": urlstate.one_of(*EXPERIMENTS)}
assert ts.START in URL_SPEC

checked = urlstate.validate_params(URL_SPEC)


ts.init(checked)

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
    preset_columns = st.container(key="tr_presets").columns(2)
    for column, (name, label) in zip(preset_columns, (("DeepSeekMath", "DeepSeekMath"),
                                                      ("TRL", "TRL defaults"))):
        column.button(label, key=f"tr_preset_{name.lower()}", on_click=ts.load_preset, args=(name,),
                      help=tc.PRESET_HELP[name], width="stretch",
                      disabled=classroom.locked("tr_presets", *tc.PRESETS[name]))  # a preset sets those knobs
    st.caption("The app starts from DeepSeekMath's GRPO (β = 0.04, loss_type grpo). TRL 1.16's GRPOConfig "
               "defaults differ: loss_type dapo, β = 0, use_bias_correction_kl on.")
    st.header("Run")
    st.selectbox("Task", TASKS, key="tr_task", bind="query-params", disabled=classroom.locked("tr_task"),
                 help=tc.HELP["tr_task"])
    st.selectbox("Policy size", tuple(POLICY_SIZES), key="tr_size", bind="query-params",
                 disabled=classroom.locked("tr_size"),
                 help="Width of the policy network (an embedding of the question, the previous token and the "
                      "position, then an MLP): " + ", ".join(f"{k} = {v}" for k, v in POLICY_SIZES.items())
                      + " hidden units. Changing it starts a new run.")
    st.slider("Prompts per step (B)", 1, tc.MAX_B, key="tr_B", bind="query-params", disabled=classroom.locked("tr_B"),
              help=tc.HELP["tr_B"])
    st.slider("Group size (G)", 1, 32, key="tr_G", bind="query-params", disabled=classroom.locked("tr_G"),
              help=tc.HELP["tr_G"])
    st.selectbox("Difficulty at the start", tuple(DIFFICULTY), key="tr_difficulty", bind="query-params",
                 disabled=classroom.locked("tr_difficulty"),
                 help="How often the starting policy is already right (a stand-in for what pretraining gave an "
                      "LLM): " + "; ".join(DIFFICULTY_LABELS.values()) + ". Easy makes most groups all-right. "
                      "Changing it starts a new run.")
    st.number_input("Seed", 0, 9999, step=1, key="tr_seed", bind="query-params", disabled=classroom.locked("tr_seed"),
                    help=tc.HELP["tr_seed"])
    st.slider("Step cap", 10, 2000, step=10, key="tr_cap", bind="query-params", disabled=classroom.locked("tr_cap"),
              help=tc.HELP["tr_cap"])
    st.select_slider("Speed (steps per refresh)", SPEEDS, key="tr_speed", bind="query-params",
                     disabled=classroom.locked("tr_speed"),
                     help=tc.HELP["tr_speed"])

    st.header("Sampling and update")
    st.slider("Temperature", 0.2, 2.0, step=0.05, key="tr_temp", bind="query-params",
              disabled=classroom.locked("tr_temp"),
              help=tc.HELP["tr_temp"])
    st.slider("Learning rate", 0.001, 0.2, step=0.001, format="%.3f", key="tr_lr", bind="query-params",
              disabled=classroom.locked("tr_lr"),
              help=tc.HELP["tr_lr"])
    st.slider("Updates per batch (μ)", 1, 8, key="tr_mu", bind="query-params", disabled=classroom.locked("tr_mu"),
              help=tc.HELP["tr_mu"])

    st.header("Clipping")
    st.slider("ε (clip width)", 0.0, 1.0, step=0.01, key="tr_eps", bind="query-params",
              disabled=classroom.locked("tr_eps"),
              help=tc.HELP["tr_eps"])
    clip_high = st.toggle("Separate upper bound (ε_high, DAPO's clip-higher)", key="tr_clip_high",
                          bind="query-params", disabled=classroom.locked("tr_clip_high"), help=tc.HELP["tr_clip_high"])
    st.slider("ε_high", 0.0, 5.0, step=0.01, key="tr_eps_high", bind="query-params",
              disabled=classroom.locked("tr_eps_high") or not clip_high,
              help=tc.HELP["tr_eps_high"])
    dual = st.toggle("Dual clip (δ)", key="tr_dual", bind="query-params", disabled=classroom.locked("tr_dual"),
                     help=tc.HELP["tr_dual"])
    st.slider("δ", 1.05, 10.0, step=0.05, key="tr_delta", bind="query-params",
              disabled=classroom.locked("tr_delta") or not dual,
              help=tc.HELP["tr_delta"])

    st.header("KL to the reference")
    st.slider("β (KL weight)", 0.0, 2.0, step=0.01, key="tr_beta", bind="query-params",
              disabled=classroom.locked("tr_beta"),
              help=tc.HELP["tr_beta"])
    st.radio("KL estimator", tc.KL_ESTIMATORS, horizontal=True, key="tr_kl_est", bind="query-params",
             disabled=classroom.locked("tr_kl_est"),
             help=tc.kl_estimator_help())
    st.radio("KL goes into", ("loss", "reward"), horizontal=True, key="tr_kl_in", bind="query-params",
             disabled=classroom.locked("tr_kl_in"),
             help=tc.HELP["tr_kl_in"])
    st.toggle("KL × ratio (TRL's use_bias_correction_kl)", key="tr_kl_bias", bind="query-params",
              disabled=classroom.locked("tr_kl_bias"),
              help=tc.HELP["tr_kl_bias"])

    st.header("Advantages and loss")
    st.radio("Scale advantages by", ("group", "batch", "none"), horizontal=True, key="tr_scale",
             bind="query-params", disabled=classroom.locked("tr_scale"), help=tc.HELP["tr_scale"])
    st.selectbox("Advantage estimator", tc.ESTIMATORS, format_func=tc.LABELS["tr_adv"].get, key="tr_adv",
                 bind="query-params", disabled=classroom.locked("tr_adv"), help=tc.estimator_help())
    vocabulary = st.radio("Vocabulary", tc.VOCABULARIES, horizontal=True, key="tr_vocab", bind="query-params",
                          disabled=classroom.locked("tr_vocab"),
                          help=tc.HELP["tr_vocab"])
    st.selectbox("Loss (TRL loss_type)", tc.LOSS_TYPES, format_func=tc.LABELS["tr_loss"].get, key="tr_loss",
                 bind="query-params",
                 disabled=classroom.locked("tr_loss") or vocabulary != "TRL", help=tc.loss_type_help())
    st.selectbox("Objective (verl policy_loss)", tc.POLICY_LOSSES, format_func=tc.LABELS["tr_policy_loss"].get,
                 key="tr_policy_loss", bind="query-params",
                 disabled=classroom.locked("tr_policy_loss") or vocabulary != "verl", help=tc.policy_loss_help())
    st.selectbox("Aggregation (verl loss_agg_mode)", tc.AGGREGATION_MODES, key="tr_agg", bind="query-params",
                 disabled=classroom.locked("tr_agg") or vocabulary != "verl", help=tc.aggregation_help())
    objective, aggregation = tc.chosen_variant(st.session_state)
    st.caption(tc.variant_caption(objective, aggregation))
    sapo, dro = objective == "sapo", objective == "dro"
    st.slider("τ_pos (SAPO, A > 0)", 0.05, 10.0, step=0.05, key="tr_tau_pos", bind="query-params",
              disabled=classroom.locked("tr_tau_pos") or not sapo,
              help=tc.param_help("sapo", "The gate's steepness for positive advantages (trainers' default 1.0)."))
    st.slider("τ_neg (SAPO, A ≤ 0)", 0.05, 10.0, step=0.05, key="tr_tau_neg", bind="query-params",
              disabled=classroom.locked("tr_tau_neg") or not sapo,
              help=tc.param_help("sapo", "The gate's steepness for negative advantages (trainers' default 1.05)."))
    st.slider("β_dro (DRO)", 0.01, 2.0, step=0.01, key="tr_dro_beta", bind="query-params",
              disabled=classroom.locked("tr_dro_beta") or not dro,
              help=tc.param_help("dro", "Weight of the quadratic penalty on the log-ratio to the sampling policy."))
    st.radio("Importance sampling level", ("token", "sequence"), horizontal=True, key="tr_is",
             bind="query-params", disabled=classroom.locked("tr_is"), help=tc.HELP["tr_is"])
    st.slider("Top-entropy tokens (top_entropy_quantile)", 0.05, 1.0, step=0.05, key="tr_top_ent",
              bind="query-params", disabled=classroom.locked("tr_top_ent"),
              help=tc.HELP["tr_top_ent"])
    st.toggle("Mask truncated completions", key="tr_mask_trunc", bind="query-params",
              disabled=classroom.locked("tr_mask_trunc"),
              help=tc.HELP["tr_mask_trunc"])
    st.toggle("Partial credit", key="tr_partial", bind="query-params", disabled=classroom.locked("tr_partial"),
              help=tc.HELP["tr_partial"])


trainer = ts.current_trainer()
st.caption(f"Policy: {trainer.num_parameters:,} parameters on {device_name(trainer.device)}; the reference is the "
           "starting policy, frozen.")
if ts.NOTICE in st.session_state:
    st.info(st.session_state.pop(ts.NOTICE), icon=":material/info:")

# A class link names all of them at once (an experiment sets every knob, so a lock on any knob locks them too).
with st.container(key="tr_experiments"), st.expander(
        "Ready-made experiments (one click: two to five runs, then overlaid under Compare runs)",
        expanded=not len(trainer.history) or ts.LESSON in st.session_state):
    specs = list(EXPERIMENTS.values())
    for row in range(0, len(specs), EXPERIMENTS_PER_ROW):
        for column, spec in zip(st.columns(EXPERIMENTS_PER_ROW), specs[row:row + EXPERIMENTS_PER_ROW]):
            column.button(spec.name, key=f"tr_exp_{spec.name}", on_click=ts.start_experiment, args=(spec.name,),
                          help=spec.question, width="stretch",
                          disabled=classroom.locked("tr_experiments", *tc.DEFAULTS, "tr_cmp_metric", "tr_cmp_x"))
    st.caption("Each arm starts from the defaults with the experiment's changes and the seed chosen in the sidebar; "
               "pick another seed and run it again to see how much is chance.")
    experiment = st.session_state.get(ts.EXPERIMENT)
    if experiment is not None:
        arms = EXPERIMENTS[experiment["name"]].arms
        st.caption(f"Running “{experiment['name']}”: arm {experiment['arm'] + 1} of {len(arms)} "
                   f"({arms[experiment['arm']][0]}).")
    lesson = st.session_state.get(ts.LESSON)
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


def refresh() -> None:
    """One refresh while playing: train for the refresh's time budget, then draw. A fragment of its own that
    the browser's timer reruns alone (``run_every``), so a refresh redraws neither the page nor the controls."""
    tick_started = time.perf_counter()
    trainer: Trainer = st.session_state[ts.TRAINER]
    interval = st.session_state.get(TIMER, live_timing.REFRESH_SECONDS)
    if st.session_state[ts.PLAYING]:
        speed = st.session_state["tr_speed"]
        # Train for what the refresh has left after drawing (measured last time): a tick that overruns the
        # interval is cut off by the next one and the charts would starve (stack notes).
        budget = min(TICK_BUDGET, max(MIN_TICK_BUDGET, TICK_SHARE * interval - st.session_state.get(tv.DRAW_SECONDS, 0.0)))
        try:
            result = trainer.advance(10_000 if speed == "max" else int(speed), budget)
        except TrainingStopped:
            result = None
        if result is not None:
            st.session_state[ts.LAST] = result
        if trainer.stop_reason is not None:
            st.session_state[ts.PLAYING] = False
            diverged = "diverged" in trainer.stop_reason
            if diverged:
                st.session_state.pop(ts.EXPERIMENT, None)
            elif ts.next_arm(trainer):  # the reset that starts the next arm keeps this run under Compare runs
                st.session_state[ts.PLAYING] = True
            st.rerun(scope="app")  # the full run stops the timer (or restarts it for the next arm)
    tv.draw_view(trainer)
    if st.session_state[ts.PLAYING]:
        recent = st.session_state[TICK_WORK] = live_timing.remember(st.session_state.get(TICK_WORK, []),
                                                                    time.perf_counter() - tick_started)
        if live_timing.should_retime(interval, live_timing.wanted_interval(recent)):
            st.rerun(scope="app")  # re-time the refreshes (the fragment's run_every is set when it is drawn)


def still() -> None:
    """The run while paused: a fragment without a timer, drawn in place of :func:`refresh`."""
    tv.draw_view(st.session_state[ts.TRAINER])


@st.fragment(key=ts.LIVE_FRAGMENT)
def live() -> None:
    """Play, Pause, Step and Reset, and the run's view. A click on one of them reruns this fragment only,
    never the page. While playing the view is the :func:`refresh` fragment, which its ``run_every`` timer
    reruns alone; Pause draws the :func:`still` fragment in its place, and Streamlit cancels the timer of
    the fragment that is gone (the start/stop pattern of a nested ``run_every`` fragment)."""
    if st.session_state.get(ts.PENDING_RESET):
        st.rerun(scope="app")  # the reset happens in the full run, where the settings are read
    trainer: Trainer = st.session_state[ts.TRAINER]
    tv.draw_controls(st.session_state[ts.PLAYING])
    if st.session_state.pop(ts.PENDING_STEP, False) and not st.session_state[ts.PLAYING]:
        try:
            st.session_state[ts.LAST] = trainer.step()
        except TrainingStopped as stopped:
            st.info(f"The run has stopped: {stopped}. Reset, or raise the step cap.", icon=":material/info:")
    if st.session_state[ts.PLAYING]:
        # stretched when the server is loaded (app/live_timing.py)
        interval = st.session_state[TIMER] = live_timing.wanted_interval(st.session_state.get(TICK_WORK, []))
        st.fragment(refresh, run_every=interval)()
    else:
        st.fragment(still)()


live()

# ------------------------------------------------------------------------------------ compare runs

@st.fragment(key=ts.COMPARE_FRAGMENT)
def compare_runs() -> None:
    """Kept runs and the current one, overlaid. A fragment: Pause and Step rerun it with the live view (not
    the page), so the current run shows here as soon as it stops."""
    tv.draw_compare(st.session_state[ts.TRAINER])


compare_runs()

questions.draw("training", load=ts.start_experiment)
