"""Live training: a tiny policy learns a simulated task with GRPO, streamed while it runs."""

from __future__ import annotations

import re

import streamlit as st

import classroom
import questions
import sections
import token_inspector as ti
import trainer_code
import training_controls as tc
import training_session as ts
import training_view as tv
import urlstate
from training_controls import DIFFICULTY_LABELS, SPEEDS
from grpo_core import device_name
from grpo_core.experiments import DIFFICULTY, EXPERIMENTS
from grpo_core.training import POLICY_SIZES, TASKS


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

# The run controls, a section per group (app/sections.py): a change reruns its group and the sections that show
# its value (training_session.sections_reading); one that starts a new run (task, size, B, G, difficulty, seed),
# every section that shows the run. The presets stay outside: they set controls of every group.
def rerun(section: str, key: str) -> dict:
    return dict(on_change=sections.also_rerun, args=(section, *ts.sections_reading(key)))


@sections.section(ts.NEW_RUN_SECTION)
def new_run_section() -> None:
    section = ts.NEW_RUN_SECTION
    st.header("Run")
    st.selectbox("Task", TASKS, key="tr_task", bind="query-params", **rerun(section, "tr_task"),
                 disabled=classroom.locked("tr_task"), help=tc.HELP["tr_task"])
    st.selectbox("Policy size", tuple(POLICY_SIZES), key="tr_size", bind="query-params", **rerun(section, "tr_size"),
                 disabled=classroom.locked("tr_size"),
                 help="Width of the policy network (an embedding of the question, the previous token and the "
                      "position, then an MLP): " + ", ".join(f"{k} = {v}" for k, v in POLICY_SIZES.items())
                      + " hidden units. Changing it starts a new run.")
    st.slider("Prompts per step (B)", 1, tc.MAX_B, key="tr_B", bind="query-params", **rerun(section, "tr_B"),
              disabled=classroom.locked("tr_B"), help=tc.HELP["tr_B"])
    st.slider("Group size (G)", 1, 32, key="tr_G", bind="query-params", **rerun(section, "tr_G"),
              disabled=classroom.locked("tr_G"), help=tc.HELP["tr_G"])
    st.selectbox("Difficulty at the start", tuple(DIFFICULTY), key="tr_difficulty", bind="query-params",
                 **rerun(section, "tr_difficulty"), disabled=classroom.locked("tr_difficulty"),
                 help="How often the starting policy is already right (a stand-in for what pretraining gave an "
                      "LLM): " + "; ".join(DIFFICULTY_LABELS.values()) + ". Easy makes most groups all-right. "
                      "Changing it starts a new run.")
    st.number_input("Seed", 0, 9999, step=1, key="tr_seed", bind="query-params", **rerun(section, "tr_seed"),
                    disabled=classroom.locked("tr_seed"), help=tc.HELP["tr_seed"])


@sections.section("tr_pace")
def pace_section() -> None:
    st.slider("Step cap", 10, 2000, step=10, key="tr_cap", bind="query-params", **rerun("tr_pace", "tr_cap"),
              disabled=classroom.locked("tr_cap"),
              help=tc.HELP["tr_cap"])
    st.select_slider("Speed (steps per refresh)", SPEEDS, key="tr_speed", bind="query-params",
                     **rerun("tr_pace", "tr_speed"), disabled=classroom.locked("tr_speed"), help=tc.HELP["tr_speed"])


@sections.section("tr_sampling")
def sampling_section() -> None:
    st.header("Sampling and update")
    st.slider("Temperature", 0.2, 2.0, step=0.05, key="tr_temp", bind="query-params", **rerun("tr_sampling", "tr_temp"),
              disabled=classroom.locked("tr_temp"), help=tc.HELP["tr_temp"])
    st.slider("Learning rate", 0.001, 0.2, step=0.001, format="%.3f", key="tr_lr", bind="query-params",
              **rerun("tr_sampling", "tr_lr"), disabled=classroom.locked("tr_lr"), help=tc.HELP["tr_lr"])
    st.slider("Updates per batch (μ)", 1, 8, key="tr_mu", bind="query-params", **rerun("tr_sampling", "tr_mu"),
              disabled=classroom.locked("tr_mu"),
              help=tc.HELP["tr_mu"])


@sections.section("tr_clipping")
def clipping_section() -> None:
    st.header("Clipping")
    st.slider("ε (clip width)", 0.0, 1.0, step=0.01, key="tr_eps", bind="query-params",
              **rerun("tr_clipping", "tr_eps"), disabled=classroom.locked("tr_eps"), help=tc.HELP["tr_eps"])
    clip_high = st.toggle("Separate upper bound (ε_high, DAPO's clip-higher)", key="tr_clip_high", bind="query-params",
                          **rerun("tr_clipping", "tr_clip_high"),
                          disabled=classroom.locked("tr_clip_high"), help=tc.HELP["tr_clip_high"])
    st.slider("ε_high", 0.0, 5.0, step=0.01, key="tr_eps_high", bind="query-params",
              **rerun("tr_clipping", "tr_eps_high"),
              disabled=classroom.locked("tr_eps_high") or not clip_high, help=tc.HELP["tr_eps_high"])
    dual = st.toggle("Dual clip (δ)", key="tr_dual", bind="query-params", **rerun("tr_clipping", "tr_dual"),
                     disabled=classroom.locked("tr_dual"),
                     help=tc.HELP["tr_dual"])
    st.slider("δ", 1.05, 10.0, step=0.05, key="tr_delta", bind="query-params", **rerun("tr_clipping", "tr_delta"),
              disabled=classroom.locked("tr_delta") or not dual, help=tc.HELP["tr_delta"])


@sections.section("tr_kl")
def kl_section() -> None:
    st.header("KL to the reference")
    st.slider("β (KL weight)", 0.0, 2.0, step=0.01, key="tr_beta", bind="query-params", **rerun("tr_kl", "tr_beta"),
              disabled=classroom.locked("tr_beta"),
              help=tc.HELP["tr_beta"])
    st.radio("KL estimator", tc.KL_ESTIMATORS, horizontal=True, key="tr_kl_est", bind="query-params",
             **rerun("tr_kl", "tr_kl_est"), disabled=classroom.locked("tr_kl_est"), help=tc.kl_estimator_help())
    st.radio("KL goes into", ("loss", "reward"), horizontal=True, key="tr_kl_in", bind="query-params",
             **rerun("tr_kl", "tr_kl_in"), disabled=classroom.locked("tr_kl_in"), help=tc.HELP["tr_kl_in"])
    st.toggle("KL × ratio (TRL's use_bias_correction_kl)", key="tr_kl_bias", bind="query-params",
              **rerun("tr_kl", "tr_kl_bias"), disabled=classroom.locked("tr_kl_bias"), help=tc.HELP["tr_kl_bias"])


@sections.section("tr_loss_settings")
def loss_section() -> None:
    section = "tr_loss_settings"
    st.header("Advantages and loss")
    st.radio("Scale advantages by", ("group", "batch", "none"), horizontal=True, key="tr_scale", bind="query-params",
             **rerun(section, "tr_scale"), disabled=classroom.locked("tr_scale"), help=tc.HELP["tr_scale"])
    st.selectbox("Advantage estimator", tc.ESTIMATORS,
                 format_func=tc.LABELS["tr_adv"].get, key="tr_adv", bind="query-params", **rerun(section, "tr_adv"),
                 disabled=classroom.locked("tr_adv"), help=tc.estimator_help())
    vocabulary = st.radio("Vocabulary", tc.VOCABULARIES, horizontal=True, key="tr_vocab", bind="query-params",
                          **rerun(section, "tr_vocab"), disabled=classroom.locked("tr_vocab"), help=tc.HELP["tr_vocab"])
    st.selectbox("Loss (TRL loss_type)", tc.LOSS_TYPES,
                 format_func=tc.LABELS["tr_loss"].get, key="tr_loss", bind="query-params", **rerun(section, "tr_loss"),
                 disabled=classroom.locked("tr_loss") or vocabulary != "TRL", help=tc.loss_type_help())
    st.selectbox("Objective (verl policy_loss)", tc.POLICY_LOSSES, format_func=tc.LABELS["tr_policy_loss"].get,
                 key="tr_policy_loss", bind="query-params", **rerun(section, "tr_policy_loss"),
                 disabled=classroom.locked("tr_policy_loss") or vocabulary != "verl", help=tc.policy_loss_help())
    st.selectbox("Aggregation (verl loss_agg_mode)", tc.AGGREGATION_MODES, key="tr_agg", bind="query-params",
                 **rerun(section, "tr_agg"),
                 disabled=classroom.locked("tr_agg") or vocabulary != "verl", help=tc.aggregation_help())
    objective, aggregation = tc.chosen_variant(st.session_state)
    st.caption(tc.variant_caption(objective, aggregation))
    sapo, dro = objective == "sapo", objective == "dro"
    st.slider("τ_pos (SAPO, A > 0)", 0.05, 10.0, step=0.05, key="tr_tau_pos", bind="query-params",
              **rerun(section, "tr_tau_pos"), disabled=classroom.locked("tr_tau_pos") or not sapo,
              help=tc.param_help("sapo", "The gate's steepness for positive advantages (trainers' default 1.0)."))
    st.slider("τ_neg (SAPO, A ≤ 0)", 0.05, 10.0, step=0.05, key="tr_tau_neg", bind="query-params",
              **rerun(section, "tr_tau_neg"), disabled=classroom.locked("tr_tau_neg") or not sapo,
              help=tc.param_help("sapo", "The gate's steepness for negative advantages (trainers' default 1.05)."))
    st.slider("β_dro (DRO)", 0.01, 2.0, step=0.01, key="tr_dro_beta", bind="query-params",
              **rerun(section, "tr_dro_beta"), disabled=classroom.locked("tr_dro_beta") or not dro,
              help=tc.param_help("dro", "Weight of the quadratic penalty on the log-ratio to the sampling policy."))
    st.radio("Importance sampling level", ("token", "sequence"), horizontal=True, key="tr_is", bind="query-params",
             **rerun(section, "tr_is"), disabled=classroom.locked("tr_is"), help=tc.HELP["tr_is"])
    st.slider("Top-entropy tokens (top_entropy_quantile)", 0.05, 1.0, step=0.05, key="tr_top_ent", bind="query-params",
              **rerun(section, "tr_top_ent"), disabled=classroom.locked("tr_top_ent"), help=tc.HELP["tr_top_ent"])
    st.toggle("Mask truncated completions", key="tr_mask_trunc", bind="query-params", **rerun(section, "tr_mask_trunc"),
              disabled=classroom.locked("tr_mask_trunc"), help=tc.HELP["tr_mask_trunc"])
    st.toggle("Partial credit", key="tr_partial", bind="query-params", **rerun(section, "tr_partial"),
              disabled=classroom.locked("tr_partial"),
              help=tc.HELP["tr_partial"])


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
    new_run_section()
    pace_section()
    sampling_section()
    clipping_section()
    kl_section()
    loss_section()


@sections.section(ts.RUN_SECTION)
def run_section() -> None:
    """The trainer brought to the controls' settings, and what it says about them (a new run is the page's)."""
    before = st.session_state.get(ts.TRAINER)
    trainer = ts.current_trainer()
    if trainer is not before and not sections.in_this_run(*ts.NEW_RUN_READERS):
        st.rerun(scope="app")  # a new run from a change that reruns less (a fixed setting): the page shows it
    st.caption(f"Policy: {trainer.num_parameters:,} parameters on {device_name(trainer.device)}; the reference is "
               "the starting policy, frozen.")
    if ts.NOTICE in st.session_state:
        st.info(st.session_state.pop(ts.NOTICE), icon=":material/info:")


@sections.section(ts.CODE_SECTION)
def code_section() -> None:
    with st.expander("Use these settings in TRL / verl"):
        st.caption("The current run's loss settings as TRL 1.16 GRPOConfig fields and verl 0.9 overrides "
                   "(grpo_core.family); batch size, model and learning rate are yours to set.")
        trainer_code.draw(tc.trainer_settings(st.session_state[ts.TRAINER].config), "these settings")


run_section()
tv.draw_experiments()
code_section()


tv.live()
tv.compare_runs()

questions.draw("training", load=ts.start_experiment)
