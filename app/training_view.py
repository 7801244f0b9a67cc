"""The live-training page's view of a run: its status, the dashboard, this step's groups, the answer
distribution, the token inspector, Play / Pause / Step / Reset, the ready-made experiments and the kept runs.
The live fragments at the end (:func:`live`, :func:`compare_runs`) draw the run and own its timing: while
playing, a refresh trains for its share of the interval, then draws what the session holds."""

from __future__ import annotations

import io
import math
import time

import pandas as pd
import streamlit as st
from streamlit.runtime.scriptrunner_utils.script_run_context import get_script_run_ctx
import torch

import charts
import classroom
import live_timing
import sections
import token_inspector as ti
import training_controls as tc
import training_session as ts
from explanations import EXPLAIN
from live_chart import live_plotly_chart
from grpo_core.experiments import EXPERIMENTS
from grpo_core.training import TRAIN_METRIC_NAMES, Trainer, TrainingStopped
from training_controls import describe

DRAW_SECONDS, DETAIL_TICKS = "tr_draw_seconds", "tr_detail_ticks"
TICK_BUDGET = 0.05  # most training time per refresh (of 0.2 s): the rest is drawing and slack for the browser
TICK_SHARE = 0.7  # a tick (training + drawing) aims at this share of the interval, leaving slack for load
MIN_TICK_BUDGET = 0.01  # at least one step per refresh however slow the drawing
TICK_WORK = "tr_tick_work"  # seconds the last few complete refreshes took on the server (training + drawing)
TICK_CPU = "tr_tick_cpu"  # and the CPU seconds their script thread used (the same, less waiting for the others)
TIMER = "tr_timer"  # the interval the refresh fragment's timer was set with
TIMER_SET = "tr_timer_set"  # when (time.perf_counter()) it was set
#: The server's playing runs (module state: one per server process): their intervals and training time are shared.
ACTIVE_RUNS = live_timing.ActiveRuns()
EXPERIMENTS_PER_ROW = 3  # their names fit on a button three to a row
DETAIL_EVERY = 4  # while playing fast, the groups table and the distribution refresh every 4th tick
SLOW_SPEEDS = ("1", "2")
# Redrawing the curves is the browser's main cost while playing (~85% busy at 400 points a line, measured
# with long-task timing in Chromium on this machine): fewer points per line, evenly thinned, keep it light.
LIVE_POINTS = 200
HEATMAP_COLUMNS = 120


def history_arrays(trainer: Trainer):
    table = trainer.history.table()
    index = charts.thin(table.shape[0], LIVE_POINTS)
    rows = table[torch.as_tensor(index)].numpy()
    columns = {name: rows[:, i] for i, name in enumerate(trainer.history.names)}
    return index + 1, columns, index


def draw_status(trainer: Trainer) -> None:
    last = st.session_state.get(ts.LAST)
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
    cache = st.session_state.setdefault(ts.DETAIL_CACHE, {})
    last = st.session_state.get(ts.LAST)
    if last is None:
        st.caption("Run a step to see its groups.")
        return
    if st.session_state[ts.PLAYING] and st.session_state["tr_speed"] not in SLOW_SPEEDS:
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


def draw_tokens() -> None:
    st.subheader("Token by token")
    last = st.session_state.get(ts.LAST)
    if last is None or not last.num_updates:
        st.caption("Run a step to see its tokens.")
    elif st.session_state[ts.PLAYING]:
        st.caption(f"Step {last.step}: the tokens show when paused or after **Step**.")
    else:
        st.caption("Every completion of one group as a row of its tokens, as the last step's loss saw them: pick "
                   "what colours them, hover a token for all its numbers and why its gradient is what it is.")
        ti.draw(last, key="tr_inspector")


def draw_distribution(trainer: Trainer, fresh: bool) -> None:
    st.subheader("The policy's answers to one question")
    if trainer.task.eos is not None:
        st.caption("Drawn for the one-token task (a + b), where the whole answer distribution is one row of "
                   "numbers. Switch the task to see it.")
        return
    labels = [trainer.task.prompt_text(p) for p in trainer.probe_prompts]
    choice = st.selectbox("Question", [str(i) for i in range(len(labels))], format_func=lambda i: labels[int(i)],
                          key="tr_probe", bind="query-params", disabled=classroom.locked("tr_probe"),
                          help=tc.HELP["tr_probe"])
    probe = int(choice)
    cache = st.session_state.setdefault(ts.DETAIL_CACHE, {})
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
    # (a rerun right after the click) can then only repeat what it meant. A class link names them as one.
    play_pause = controls[0].container(key="tr_play_pause")
    if running:
        play_pause.button("Pause", key="tr_pause", on_click=ts.pause, type="primary", width="stretch",
                          help=tc.HELP["tr_pause"], disabled=classroom.locked("tr_play_pause"))
    else:
        play_pause.button("Play", key="tr_play", on_click=ts.play, type="primary", width="stretch",
                          help=tc.HELP["tr_play"], disabled=classroom.locked("tr_play_pause"))
    controls[1].button("Step", key="tr_step", on_click=ts.request_step,
                       width="stretch", disabled=classroom.locked("tr_step") or running, help=tc.HELP["tr_step"])
    controls[2].button("Reset", key="tr_reset", on_click=ts.request_reset, width="stretch",
                       help=tc.HELP["tr_reset"], disabled=classroom.locked("tr_reset"))


def draw_view(trainer: Trainer) -> None:
    """The run as it is now: status, the dashboard, this step's groups, the answer distribution."""
    started = time.perf_counter()
    draw_status(trainer)
    draw_charts(trainer)
    # The groups table and the distribution are for reading, not for watching scroll by: while playing fast
    # the table waits for a ts.pause and the distribution is rebuilt every DETAIL_EVERY-th refresh.
    ticks = st.session_state[DETAIL_TICKS] = st.session_state.get(DETAIL_TICKS, 0) + 1
    fresh = not st.session_state[ts.PLAYING] or st.session_state["tr_speed"] in SLOW_SPEEDS or ticks % DETAIL_EVERY == 0
    left, right = st.columns([1, 1], gap="large")
    with left:
        draw_groups(fresh)
    with right:
        draw_distribution(trainer, fresh)
    draw_tokens()
    st.session_state[DRAW_SECONDS] = time.perf_counter() - started


@sections.section(ts.EXPERIMENTS_SECTION)
def draw_experiments() -> None:
    """The ready-made experiments' buttons, the one running and the last one's lesson: a section, which a new
    run reruns (its box opens for a run not yet trained). A button sets every control and starts a run, which
    the whole page shows. A class link names them all at once (an experiment sets every knob, so a lock on any
    knob locks them too)."""
    if st.session_state.get(ts.PENDING_RESET) and not classroom.in_full_run():
        st.rerun(scope="app")  # an experiment's button: the reset happens in the full run, where the settings are read
    trainer: Trainer = st.session_state[ts.TRAINER]
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


def draw_compare(trainer: Trainer) -> None:
    """Kept runs and ``trainer``'s current one, overlaid, with a CSV of their metrics."""
    st.header("Compare runs")
    runs = list(st.session_state[ts.RUNS])
    if len(trainer.history):
        runs.append(dict(label=f"now {describe(trainer.config)}", table=trainer.history.table().numpy(),
                         samples=ts.samples_per_step(trainer.config)))
    if not runs:
        st.caption(f"Finished runs are kept here (the last {ts.MAX_KEPT_RUNS}) to overlay with the current one. Run "
                   "an experiment above, or Reset after a run to keep it.")
    else:
        metric = st.selectbox("Metric", TRAIN_METRIC_NAMES, key="tr_cmp_metric", bind="query-params",
                              disabled=classroom.locked("tr_cmp_metric"),
                              help=tc.HELP["tr_cmp_metric"])
        along = st.radio("Along", tc.COMPARE_X, horizontal=True, key="tr_cmp_x", bind="query-params",
                         disabled=classroom.locked("tr_cmp_x"),
                         help=tc.HELP["tr_cmp_x"])
        column = TRAIN_METRIC_NAMES.index(metric or "reward")
        lines = []
        for run in runs:
            index = charts.thin(run["table"].shape[0])
            x = (index + 1) * (run.get("samples", 1) if along == "samples" else 1)
            lines.append((run["label"], x, run["table"][index, column]))
        overlay = charts.runs_overlay(lines, title=f"{metric} by run", y_title=metric or "", key="tr_compare",
                                      x_title="completions sampled" if along == "samples" else "step")
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
                           help=tc.HELP["tr_csv"], disabled=classroom.locked("tr_csv"))


# ----------------------------------------------------------------------------------- live fragment


def refresh() -> None:
    """One refresh while playing: train for the refresh's time budget, then draw. A fragment of its own that
    the browser's timer reruns alone (``run_every``), so a refresh redraws neither the page nor the controls."""
    tick_started, tick_cpu = time.perf_counter(), time.thread_time()
    trainer: Trainer = st.session_state[ts.TRAINER]
    interval = st.session_state.get(TIMER, live_timing.REFRESH_SECONDS)
    if st.session_state[ts.PLAYING]:
        speed = st.session_state["tr_speed"]
        # Train for what the refresh has left after drawing (measured last time): a tick that overruns the
        # interval has its drawing dropped by the next one and the charts would starve (app/live_timing.py).
        budget = min(TICK_BUDGET, max(MIN_TICK_BUDGET, TICK_SHARE * interval - st.session_state.get(DRAW_SECONDS, 0.0)))
        active = ACTIVE_RUNS.tick(_session_id())
        budget = live_timing.training_budget(budget, active)
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
    draw_view(trainer)
    if st.session_state[ts.PLAYING]:
        recent = st.session_state[TICK_WORK] = live_timing.remember(st.session_state.get(TICK_WORK, []),
                                                                    time.perf_counter() - tick_started)
        cpu = st.session_state[TICK_CPU] = live_timing.remember(st.session_state.get(TICK_CPU, []),
                                                                time.thread_time() - tick_cpu, live_timing.CPU_WINDOW)
        timed_for = time.perf_counter() - st.session_state.get(TIMER_SET, -math.inf)
        if live_timing.should_retime(interval, live_timing.wanted_interval(recent, active, cpu), timed_for,
                                     live_timing.starves(interval, recent)):
            st.rerun(scope="app")  # re-time the refreshes (the fragment's run_every is set when it is drawn)


def _session_id() -> str:
    ctx = get_script_run_ctx()
    return ctx.session_id if ctx else ""


def still() -> None:
    """The run while paused: a fragment without a timer, drawn in place of :func:`refresh`."""
    draw_view(st.session_state[ts.TRAINER])


@st.fragment(key=ts.LIVE_FRAGMENT)
def live() -> None:
    """Play, Pause, Step and Reset, and the run's view. A click on one of them reruns this fragment only,
    never the page. While playing the view is the :func:`refresh` fragment, which its ``run_every`` timer
    reruns alone; Pause draws the :func:`still` fragment in its place, and Streamlit cancels the timer of
    the fragment that is gone (the start/stop pattern of a nested ``run_every`` fragment)."""
    if st.session_state.get(ts.PENDING_RESET):
        st.rerun(scope="app")  # the reset happens in the full run, where the settings are read
    trainer: Trainer = st.session_state[ts.TRAINER]
    draw_controls(st.session_state[ts.PLAYING])
    if st.session_state.pop(ts.PENDING_STEP, False) and not st.session_state[ts.PLAYING]:
        try:
            st.session_state[ts.LAST] = trainer.step()
        except TrainingStopped as stopped:
            st.info(f"The run has stopped: {stopped}. Reset, or raise the step cap.", icon=":material/info:")
    if st.session_state[ts.PLAYING]:
        # stretched when the server is loaded (app/live_timing.py)
        interval = st.session_state[TIMER] = live_timing.wanted_interval(st.session_state.get(TICK_WORK, []),
                                                                          ACTIVE_RUNS.tick(_session_id()),
                                                                          st.session_state.get(TICK_CPU, []))
        st.session_state[TIMER_SET] = time.perf_counter()
        st.fragment(refresh, run_every=interval)()
    else:
        st.fragment(still)()


# ------------------------------------------------------------------------------------ compare runs

@st.fragment(key=ts.COMPARE_FRAGMENT)
def compare_runs() -> None:
    """Kept runs and the current one, overlaid. A fragment: Pause and Step rerun it with the live view (not
    the page), so the current run shows here as soon as it stops."""
    draw_compare(st.session_state[ts.TRAINER])
