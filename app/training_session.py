"""The Live training page's session: its state keys, the trainer kept across reruns, and the callbacks of
Play, Pause, Step, Reset, the presets and the ready-made experiments (a small state machine that queues an
experiment's arms one after the other and checks its lesson at the end). No drawing here."""

from __future__ import annotations

import streamlit as st


import training_controls as tc
import urlstate
from training_controls import DEFAULTS, SHORT, VIEW_DEFAULTS, describe
from grpo_core.experiments import EXPERIMENTS, Runs
from grpo_core.findings import START_EXPERIMENT as START
from grpo_core.training import TrainConfig, Trainer, config_changes, needs_reset

TRAINER, LAST, PLAYING, RUNS, NOTICE = "tr_trainer", "tr_last", "tr_playing", "tr_runs", "tr_notice"
PENDING_RESET, PENDING_STEP = "tr_pending_reset", "tr_pending_step"
PENDING_WIDGETS, EXPERIMENT = "tr_pending_widgets", "tr_experiment"
RUN_COUNTER = "tr_run_counter"
LIVE_FRAGMENT, COMPARE_FRAGMENT = "tr_live", "tr_compare_runs"  # fragment keys (st.rerun(scope=...) names them)
RUN_SECTION, CODE_SECTION = "tr_run", "tr_code"  # sections: the settings applied, the TRL / verl code
NEW_RUN_SECTION, EXPERIMENTS_SECTION = "tr_new_run", "tr_ready_made"  # the controls that start a run, the experiments
#: What a new run changes on the page, in the order it must rerun: the trainer first (the run section makes it),
#: then the experiments (their box opens for a fresh run), the run's view and the runs kept (the old one among them).
NEW_RUN_READERS = (RUN_SECTION, EXPERIMENTS_SECTION, LIVE_FRAGMENT, COMPARE_FRAGMENT)
DETAIL_CACHE = "tr_detail_cache"  # the groups table and distribution drawn last (the page's drawing cache)
MAX_KEPT_RUNS = 6  # the largest experiment has five arms
LESSON = "tr_lesson"  # the last finished experiment: its lesson and what its runs showed


def sections_reading(key: str) -> tuple[str, ...]:
    """The page's sections that show control ``key``'s value (the new run, for a control of
    :data:`training_controls.NEW_RUN`), besides the control's own, in the order they must rerun:
    :data:`RUN_SECTION` first, since it applies the settings to the trainer that the others show."""
    if key in tc.NEW_RUN:
        return NEW_RUN_READERS
    if key not in DEFAULTS or key in tc.PACE:
        return ()
    shown = ((LIVE_FRAGMENT, key in tc.SHOWN_LIVE), (COMPARE_FRAGMENT, key not in tc.NOT_IN_LABEL),
             (CODE_SECTION, key not in tc.NOT_IN_CODE))
    return (RUN_SECTION, *[section for section, shows in shown if shows])


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


def init(checked) -> None:
    """Seed the session at the top of each run: queued widget values first, then every control's default or
    the link's value (``checked``: the page's validated URL parameters)."""
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
    if START in checked.values:  # a link that starts an experiment (a lesson's, a finding's): once, then gone
        start_experiment(checked.values[START])
        urlstate.set_param(START, None)


def current_config() -> TrainConfig | None:
    try:
        return tc.config_from_widgets(st.session_state)
    except (ValueError, TypeError, KeyError) as err:
        st.warning(f"These settings cannot be used, so the run keeps its last good settings: {err}",
                   icon=":material/warning:")
        return None


def current_trainer() -> Trainer:
    """The session's trainer, brought to the controls' settings: reconfigured in place, or a new run when a
    structural setting changed or a reset was asked for (the old run kept for Compare runs)."""
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
            # The question picked keeps its rank (the i-th hardest), but the new run's questions differ, and the
            # browser would show the old question's name until the value is set again from here.
            st.session_state["tr_probe"] = st.session_state.get("tr_probe", VIEW_DEFAULTS["tr_probe"])
        else:
            trainer.reconfigure(config)
    if trainer is None:  # the very first settings are unusable: start from the defaults
        trainer = st.session_state[TRAINER] = Trainer(TrainConfig())
    return trainer
