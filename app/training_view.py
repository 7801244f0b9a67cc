"""The live-training page's view of a run: its status, the dashboard, this step's groups, the answer
distribution, the token inspector, and Play / Pause / Step / Reset. Drawn by the page's live fragments (while
playing, several times a second), which own the timing; this module only draws what the session holds."""

from __future__ import annotations

import io
import time

import pandas as pd
import streamlit as st
import torch

import charts
import classroom
import token_inspector as ti
import training_controls as tc
import training_session as ts
from explanations import EXPLAIN
from live_chart import live_plotly_chart
from grpo_core.training import TRAIN_METRIC_NAMES, Trainer
from training_controls import describe

DRAW_SECONDS, DETAIL_TICKS = "tr_draw_seconds", "tr_detail_ticks"
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
    elif st.session_state[ts.PLAYING] and st.session_state["tr_speed"] not in SLOW_SPEEDS:
        st.caption(f"Step {last.step}: the tokens show when paused, after **Step**, or at speed 1–2.")
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
