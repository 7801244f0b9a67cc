"""Your run: a TRL or verl training log read into the dashboard of the live run, with findings that say what
GRPO did and where the explorer shows why; and a trainer config taken back to the live page's settings."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st

import charts
import page_links
import classroom
import sections
from safe_text import md
import trainer_code
import training_controls as tc
import urlstate
from explanations import LOG_EXPLAIN
from grpo_core.findings import find
from grpo_core.runlog import MAX_BYTES, MAX_ROWS, RunLog, mapping_table, parse_log, smooth
from grpo_core.trainer_settings import parse_settings
from grpo_core.training import TRAIN_METRIC_NAMES, TrainConfig

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
EXAMPLES = {"TRL": "trl_trainer_state.json", "verl": "verl_file_logger.jsonl"}
EXAMPLE_HELP = {"TRL": "TRL 1.16's GRPOTrainer on a tiny random Llama (CPU, 120 steps, num_iterations = 1)",
                "verl": "verl 0.9's GRPO loss and FileLogger on a tiny tabular policy (60 steps, 2 mini-batches)"}
MAX_FILES, MAX_PASTE = 4, 2_000_000
# the dashboard's panels: (title, {line name: metric}, explanation key), in the live page's order
PANELS = [
    ("Reward", {"mean reward": "reward"}, "reward"),
    ("KL to the reference", {"KL estimate": "kl"}, "kl"),
    ("Clipped fraction", {"clip low": "clip_ratio/low_mean", "clip high": "clip_ratio/high_mean",
                          "clip either": "clip_ratio/region_mean"}, "clip"),
    ("Groups with no reward spread", {"zero-std groups": "frac_reward_zero_std"}, "zero_std"),
    ("Entropy (nats)", {"entropy": "entropy"}, "entropy"),
    ("Completion length (tokens)", {"length": "completion_length"}, "length"),
    ("Loss", {"loss": "loss"}, "loss"),
    ("Truncated completions", {"truncated": "truncated_fraction"}, "truncated"),
]

checked = urlstate.validate_params({"yr_example": urlstate.one_of(*EXAMPLES), "yr_smooth": urlstate.int_in(1, 50),
                                    "yr_cmp": urlstate.one_of(*TRAIN_METRIC_NAMES, "truncated_fraction")})


@st.cache_data(max_entries=8, show_spinner=False)
def parsed(data: bytes) -> RunLog | str:
    """The log, or the reason it cannot be read (a plain sentence; cached by content)."""
    try:
        return parse_log(data)
    except ValueError as err:
        return str(err)


def finding_card(finding) -> None:
    with st.container(border=True):
        st.markdown(f"**{md(finding.title)}**")
        st.markdown(md(finding.sentence))
        points = ", ".join(f"step {s}: {v:.4g}" for s, v in finding.evidence)
        st.caption(f"Evidence ({md(finding.metric)}): {md(points)}")
        for link in finding.links:
            page_links.draw(link)


def live_runs() -> list[tuple[str, np.ndarray, dict]]:
    """Runs of the Live training page in this session: kept ones and the current one, as (label, steps, metrics)."""
    out = []
    for run in st.session_state.get("tr_runs", []):
        table = np.asarray(run["table"])
        out.append((f"live {run['label']}", np.arange(1, len(table) + 1),
                    {n: table[:, i] for i, n in enumerate(TRAIN_METRIC_NAMES)}))
    trainer = st.session_state.get("tr_trainer")
    if trainer is not None and len(trainer.history):
        table = trainer.history.table().numpy()
        out.append(("live now", np.arange(1, len(table) + 1), {n: table[:, i] for i, n in enumerate(TRAIN_METRIC_NAMES)}))
    return out


@sections.section("yr_settings")
def settings_section() -> None:
    text = st.text_area(
        "A TRL GRPOConfig (JSON, YAML, GRPOConfig(...) or --flags) or verl overrides (key=value, or nested YAML)",
        key="yr_config", height=140, max_chars=200_000, disabled=classroom.locked("yr_config"),
        placeholder="GRPOConfig(loss_type='dapo', beta=0.04, epsilon_high=0.28, num_generations=8)\n"
                    "or: actor_rollout_ref.actor.clip_ratio_high=0.28 algorithm.adv_estimator=grpo",
        help="Read with safe parsers only (json, yaml.safe_load, Python literals): nothing is run. Fields the "
             "text leaves out take the trainer's own defaults where they change the loss.")
    if not text.strip():
        st.caption("The fields it used and could not use are listed here, with a link to Live training set up "
                   "with them.")
        return
    try:
        result = parse_settings(text)
        config = result.config(TrainConfig())
        widgets = tc.widgets_for(config)
    except ValueError as err:
        st.error(f"These settings cannot be used: {md(err)}", icon=":material/error:")
        return
    left, right = st.columns(2, gap="large")
    left.markdown(f"**Used ({result.trainer})**")
    left.dataframe(pd.DataFrame(result.used or [("(none)", "")], columns=["field", "sets"]), hide_index=True)
    right.markdown("**Not used**")
    right.dataframe(pd.DataFrame(result.unused or [("(none)", "")], columns=["field", "why"]), hide_index=True)
    with st.expander(f"Trainer defaults taken for fields the text leaves out ({len(result.defaults)})"):
        st.markdown("\n".join(f"- {md(d)}" for d in result.defaults) or "None.")
    # every algorithm control, not only those that differ from the defaults: the link sets the whole algorithm.
    # A selectbox shown with labels is bound to its label in the URL (Streamlit seeds it from that only).
    query = {k: tc.LABELS[k][v] if k in tc.LABELS else str(v).lower() if isinstance(v, bool) else str(v)
             for k, v in widgets.items() if k in (*tc.ALGORITHM_KEYS, "tr_G")}
    st.page_link(page_links.PAGE_FILES["training"], label="Live training with these settings", query_params=query,
                 icon=":material/play_arrow:")
    if len(text) <= trainer_code.PASTE_MAX:
        st.page_link(page_links.PAGE_FILES["algorithms"], label="Compare with the family on the Algorithms page",
                     query_params={"alg_config": text}, icon=":material/compare:")
    else:
        st.caption(f"The Algorithms page compares settings of up to {trainer_code.PASTE_MAX:,} characters (they "
                   "travel in its URL); paste only the loss fields there.")


@sections.section("yr_dash")
def dashboard_section(log: RunLog, several: bool, smoothed: list[str]) -> None:
    window = st.slider("Smooth over the last N logged steps", 1, 50, 1, key="yr_smooth", bind="query-params",
                       disabled=classroom.locked("yr_smooth"), on_change=sections.also_rerun, args=smoothed,
                       help="A trailing mean over N logged steps, for noisy runs; 1 shows the values as logged.")
    st.header("What the log shows", divider="gray", anchor=False)
    if several:
        st.caption("The first run; all are overlaid under Compare runs.")
    panels, texts = [], []  # the live run's panels that the log has data for
    for title, lines, explain in PANELS:
        series = {name: smooth(log.metrics[m], window) for name, m in lines.items() if m in log.metrics}
        if not series:
            continue
        band = None
        if title == "Reward" and "reward_std" in log.metrics:
            mean = series["mean reward"]
            spread = smooth(log.metrics["reward_std"], window)
            band = (mean - spread, mean + spread)
        panels.append((title, series, band))
        texts.append(f"- **{title}**: {LOG_EXPLAIN[explain]}")
    if not panels:
        st.info("None of the dashboard's metrics is in this log; its other metrics are plotted below.")
        return
    st.plotly_chart(charts.training_dashboard(log.steps, panels, key="yr_dashboard", band_name="± reward_std"),
                    key="yr_dashboard_chart", config={"displayModeBar": False})
    st.caption("\n".join(texts))


@sections.section("yr_other")
def other_section(log: RunLog, drawn: bool) -> None:
    window = st.session_state["yr_smooth"]  # not an argument: the slider's change reruns this section alone
    picked = st.multiselect("Plot other metrics of the log", log.unknown, max_selections=6, key="yr_unknown",
                            disabled=classroom.locked("yr_unknown"),
                            help="Metrics the mapping table does not name, as the log calls them; with none of "
                                 "the dashboard's, the first three are plotted until you pick.")
    picked = picked or ([] if drawn else log.unknown[:3])
    if picked:
        lines = [(m, *log.series(m)) for m in picked]
        st.plotly_chart(charts.runs_overlay([(m, s, smooth(v, window)) for m, s, v in lines],
                                            title="Other metrics", y_title="value", key="yr_other"),
                        key="yr_other_chart")


@sections.section("yr_compare")
def compare_section(runs: list, names: list[str]) -> None:
    window = st.session_state["yr_smooth"]  # not an argument: the slider's change reruns this section alone
    metric = st.selectbox("Metric", names, key="yr_cmp", bind="query-params", disabled=classroom.locked("yr_cmp"),
                          help="Loaded logs, and the runs of Live training in this session, on one chart.") or names[0]
    lines = [(label, steps, smooth(metrics[metric], window)) for label, steps, metrics in runs if metric in metrics]
    st.plotly_chart(charts.runs_overlay(lines, title=f"{metric} by run", y_title=metric, key="yr_compare"),
                    key="yr_compare_chart", config={"displayModeBar": False})
    st.caption("Load several logs above to overlay them; runs of Live training in this session show here too.")


# ------------------------------------------------------------------------------------------------ page

st.title("Your run")
st.markdown(
    "Bring a GRPO run from **TRL** or **verl** and see it the way the live run shows its own: the same panels, "
    "and findings that say what the numbers mean and which page shows the mechanism. Files are read as data "
    f"only (JSON, JSON lines or CSV; nothing is run), up to {MAX_BYTES // 2**20} MB and {MAX_ROWS:,} steps each.")
files = st.file_uploader(
    "Training logs: TRL trainer_state.json or its JSON lines, verl's file-logger JSONL, or a CSV with a step column",
    type=["json", "jsonl", "csv", "txt"], accept_multiple_files=True, key="yr_files", max_upload_size=20,
    disabled=classroom.locked("yr_files"),
    help=f"Up to {MAX_FILES} files, overlaid under Compare runs. TRL writes trainer_state.json into each "
         "checkpoint; verl's file logger writes to $VERL_FILE_LOGGER_PATH (trainer.logger=['file']).") or []
with st.expander("…or paste a log"):
    pasted = st.text_area("Log text", key="yr_paste", height=120, max_chars=MAX_PASTE,
                          disabled=classroom.locked("yr_paste"),
                          help=f"The same formats, up to {MAX_PASTE:,} characters.")

logs: list[tuple[str, RunLog]] = []
sources = [(f.name, f) for f in files[:MAX_FILES]] + ([("pasted log", pasted)] if pasted.strip() else [])
if len(files) > MAX_FILES:
    st.warning(f"Only the first {MAX_FILES} files are read.", icon=":material/warning:")
for name, source in sources:
    if getattr(source, "size", 0) > MAX_BYTES:
        st.error(f"{md(charts.plain_label(name, 80))} is larger than {MAX_BYTES // 2**20} MB, the limit here; it "
                 "was not read.")
        continue
    result = parsed(source.getvalue() if hasattr(source, "getvalue") else source.encode("utf-8", "replace"))
    if isinstance(result, str):
        st.error(f"{'The pasted log' if source is pasted else md(charts.plain_label(name, 80))} cannot be read: "
                 f"{md(result)}", icon=":material/error:")
        continue
    for warning in result.warnings:
        st.warning(f"{md(charts.plain_label(name, 80))}: {md(warning)}", icon=":material/warning:")
    logs.append((name, result))
if not logs:
    example = st.radio("Nothing loaded yet: an example run", list(EXAMPLES), horizontal=True, key="yr_example",
                       bind="query-params", disabled=classroom.locked("yr_example"), captions=[EXAMPLE_HELP[k] for k in EXAMPLES],
                       help="Real logs made by the trainers themselves (tests/data/make_*.py says how).")
    logs.append((f"example {example}", parsed((SAMPLES / EXAMPLES[example or "TRL"]).read_bytes())))

st.dataframe(pd.DataFrame([{"run": name, "format": log.kind, "steps": len(log.steps),
                            "first step": int(log.steps[0]), "last step": int(log.steps[-1]),
                            "metrics": len(log.metrics), "mapped": len(log.known)} for name, log in logs]),
             hide_index=True)
name, log = logs[0]
runs = [(n, lg.steps, lg.metrics) for n, lg in logs] + live_runs()
names = list(dict.fromkeys(m for m in ("reward", *TRAIN_METRIC_NAMES, "truncated_fraction")
                           if any(m in r[2] for r in runs)))
# the sections below the slider that smooth with it: its change reruns them with the dashboard (app/sections.py)
smoothed = ["yr_dash"] + ["yr_other"] * bool(log.unknown) + ["yr_compare"] * bool(names)
dashboard_section(log, len(logs) > 1, smoothed)
found = find(log)
st.subheader("Findings", anchor=False)
if not found:
    st.caption("None of the patterns the explorer knows (no signal, a clip that never acts, a loss near 0, "
               "growing KL, entropy collapse, growing length, truncation, vanishing reward spread) shows here.")
for finding in found:
    finding_card(finding)

with st.expander("How the log's metrics map onto the explorer's names"):
    st.dataframe(pd.DataFrame(log.mapping_rows()), hide_index=True, width="stretch")
    st.caption("Every metric either trainer logs that the explorer knows:")
    st.dataframe(pd.DataFrame(mapping_table()), hide_index=True, width="stretch")
if log.unknown:
    other_section(log, any(m in log.metrics for _, lines, _ in PANELS for m in lines.values()))

st.header("Compare runs", divider="gray", anchor=False)
if names:
    compare_section(runs, names)
else:
    st.caption("No metric of the explorer's names is in the loaded logs to compare.")

st.header("Paste your config", divider="gray", anchor=False)
settings_section()
