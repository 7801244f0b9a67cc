"""Algorithms: two or three members of the GRPO family side by side: their formulas, their objectives along
the ratio, what they do to one small batch the reader edits, and the trainer settings that select them."""

from __future__ import annotations

import re

import pandas as pd
import pyarrow as pa
import streamlit as st

import algorithm_figures as af
import classroom
import sections
from safe_text import md
import token_inspector as ti
import trainer_code
import questions
import urlstate
from editor_guard import edit_problem, valid_or_last
from grpo_core import toy_batch as tb
from grpo_core.family import ALGORITHMS

NAMES = list(ALGORITHMS.names())
DEFAULT_PICK = ["grpo", "dapo", "cispo_trl"]
EDITOR, BASE, GOOD, BASE_PRESET = "alg_editor", "alg_base", "alg_good", "alg_base_preset"
INSPECT = "alg_ti_"  # the token inspector's URL parameters: alg_ti_algo, alg_ti_colour
_ARXIV = re.compile(r"\d{4}\.\d{4,5}")



checked = urlstate.validate_params({
    "alg_pick": urlstate.subset_of(*NAMES, max_count=3),
    "alg_preset": urlstate.one_of(*tb.PRESETS),
    "alg_move": urlstate.float_in(*tb.MOVE_RANGE),
    "alg_batch": tb.decode,
    "alg_config": trainer_code.comparable_settings,
    f"{INSPECT}algo": urlstate.one_of(*NAMES, "yours"),
    **ti.url_spec(INSPECT, groups=False, updates=False, entropy=False),
}, max_len={"alg_batch": tb.MAX_ENCODED, "alg_config": trainer_code.PASTE_MAX})


def load(completions: tuple, preset: str) -> None:
    """Make ``completions`` the editor's content, dropping pending edits."""
    st.session_state[BASE] = st.session_state[GOOD] = completions
    st.session_state[BASE_PRESET] = preset
    st.session_state.pop(EDITOR, None)


def formula(latex: str) -> None:
    """A registry formula, cut into lines that fit a card (``toy_batch.formula_lines``), a size smaller."""
    st.latex(r"\small\begin{aligned}&" + r"\\&".join(tb.formula_lines(latex)) + r"\end{aligned}")


def card(algo, differ: list[str]) -> None:
    objective, described = algo.objective, tb.aspects(algo)
    st.subheader(md(algo.title), anchor=False)
    st.markdown(md(algo.idea))
    title, arxiv = algo.paper
    link = f"[{md(title)}](https://arxiv.org/abs/{arxiv})" if _ARXIV.fullmatch(arxiv) else md(title)
    st.markdown(f"{'Paper' if arxiv else 'From'}: {link}")

    def term(aspect: str, label: str) -> None:
        mark = f" :orange-badge[≠ {aspect}]" if aspect in differ else ""
        st.markdown(f"**{label}**: {md(described[aspect])}{mark}")

    term("objective", "Objective")
    formula(objective.formula)
    term("clip widths", "Clip")
    term("aggregation", "Aggregation")
    formula(algo.aggregation.formula)
    term("advantage", "Advantage")
    formula(algo.estimator.formula)
    term("KL", "KL")
    if objective.note:
        st.caption(md(objective.note))


st.title("Algorithms")
st.markdown(
    "GRPO is a family: each member changes one or two parts of the same loss, the per-token **objective**, "
    "how token losses are **aggregated** into one number, how **advantages** are estimated, the **KL** leash "
    "and the **clip widths**. Pick two or three to see what they change, on one chart and on one small batch."
)
picked = st.multiselect(
    "Algorithms to compare", NAMES, default=DEFAULT_PICK, max_selections=3, key="alg_pick", bind="query-params",
    disabled=classroom.locked("alg_pick"),
    help="Two or three names of the family's registry (grpo_core.family.ALGORITHMS); each card below names the "
         "objective, aggregation and advantage estimator it is made of.")
if not picked:
    st.info("Pick at least one algorithm (two or three to compare); the default three are shown until you do.")
with st.expander("Compare your own trainer settings"):
    yours = trainer_code.paste_box("alg_config")
algos = af.lineup(tuple(picked or DEFAULT_PICK), yours)
differ = tb.differences(algos)
if len(algos) > 1:
    same = [a for a in tb.ASPECTS if a not in differ]
    marks = " ".join(f":orange-badge[≠ {a}]" for a in differ) or "nothing (the same loss under two names)"
    st.markdown(f"**Where they differ:** {marks}" + (f" · the same {', '.join(same)}." if same else ""),
                help="≠ marks a part that is not the same in all the picked algorithms, here and on the cards.")
else:
    st.caption("Pick a second algorithm to see where they differ.")
for column, algo in zip(st.columns(len(algos), gap="medium"), algos):
    with column.container(border=True):
        card(algo, differ)

st.header("Along the ratio", divider="gray", anchor=False)
names = tuple(picked or DEFAULT_PICK)
sweep_figure, sentences = af.sweep_view(names, yours)
st.plotly_chart(sweep_figure, key="alg_sweep_chart", theme=None, config={"displaylogo": False})
st.markdown(
    "One token of one completion, its log-prob moved so that its ratio is r (π_old = e^−1). Top: the "
    "objective J = −ℓ the update climbs. Bottom: its **push** ∂J/∂log π, what backpropagation hands the "
    "token: above 0 the step makes it more likely, 0 means the token gives no gradient at all. Each algorithm "
    "has its own colour and dash."
)
if sentences:
    st.markdown("\n".join(f"- {md(s)}" for s in sentences))

# A section: the batch's controls (preset, move, table) rerun only the batch and what is drawn from it
# (app/sections.py); the cards and the curves above depend on the picked algorithms alone.
@sections.section("alg_batch")
def batch_section(algos: list, names: tuple, yours: str, link_batch) -> None:
    st.header("On a small batch", divider="gray", anchor=False)
    left, right = st.columns([1, 2], gap="large")
    with left:
        preset_title = st.selectbox(
            "Preset", list(tb.PRESETS), key="alg_preset", bind="query-params",
            disabled=classroom.locked("alg_preset", EDITOR),  # choosing a preset replaces the table
            help="A ready-made group of completions. Choosing one replaces the table below.")
        preset = tb.PRESETS[preset_title]
        st.caption(md(preset.description))
        move = st.slider(
            "How far π_new moved from π_old (log-ratio)", *tb.MOVE_RANGE, value=0.3, step=0.05, key="alg_move",
            bind="query-params", disabled=classroom.locked("alg_move"),
            help="The policy has already moved toward the better answers (as after one update with num_iterations "
                 "> 1): each token's log-ratio is this times a number between −1 and 1, higher for the answers above "
                 "the group's mean. 0: on-policy, every ratio is 1 (apart from a preset's rare token).")
        if BASE not in st.session_state:  # a new session: the link's table, else the preset's
            load(link_batch or preset.completions, preset_title)
        elif st.session_state.get(BASE_PRESET) != preset_title:
            load(preset.completions, preset_title)
        elif EDITOR not in st.session_state:  # back on this page: the editor forgot its edits, GOOD did not
            st.session_state[BASE] = st.session_state[GOOD]
        base = st.session_state[BASE]
        problem = edit_problem(st.session_state.get(EDITOR), len(base), columns=tb.EDITOR_COLUMNS,
                               min_rows=tb.MIN_COMPLETIONS, max_rows=tb.MAX_COMPLETIONS)
        if problem:
            load(st.session_state[GOOD], preset_title)
            base = st.session_state[BASE]
            st.error(f"{problem}, so it was undone and the last valid table is back.")
        low, high = tb.REWARD_RANGE
        edited = st.data_editor(
            pd.DataFrame({"reward": [c.reward for c in base], "length": [c.length for c in base]}),
            key=EDITOR, num_rows="dynamic", hide_index=True, width="stretch", disabled=classroom.locked(EDITOR),
            column_config={
                "reward": st.column_config.NumberColumn(
                    "reward", min_value=low, max_value=high, step=0.1, default=0.0, required=True, format="%.2f",
                    help=f"The completion's reward, {low:g} to {high:g} (1 = right, 0 = wrong for a verifier)."),
                "length": st.column_config.NumberColumn(
                    "length", min_value=1, max_value=tb.MAX_LENGTH, step=1, default=6, required=True,
                    help=f"Its length in tokens, 1 to {tb.MAX_LENGTH}."),
            })
        table = valid_or_last(tb.from_rows, edited, GOOD, "The results keep showing the last valid table.")
        st.caption(f"Rows are completions 1 to {len(table)} of one group, {tb.MIN_COMPLETIONS} to "
                   f"{tb.MAX_COMPLETIONS} of them.")
        urlstate.set_param("alg_batch", None if table == preset.completions else tb.encode(table))

    batch, results, push_figure = af.batch_view(names, yours, table, preset_title, move)
    with right:
        for column, algo in zip(st.columns(len(algos)), algos):
            column.metric(f"loss · {algo.name}", f"{results[algo.name].loss:.4g}",
                          help=f"grpo_core.grpo_loss of this batch with {algo.name}'s settings (to minimise).")
        st.markdown("**The push on each token**, −∂L/∂log π of the loss:")
        st.plotly_chart(push_figure, key="alg_push_chart", theme=None, config={"displaylogo": False})
        st.caption(
            "Each cell is one token: blue (+) the step makes it more likely, vermilion (−) less likely, 0 a push of "
            "exactly 0 (a clip cut it, or a gate has shut); blank cells are past the completion's end. The push is "
            "the derivative of the whole loss (policy term and β·KL), on one colour scale for all panels.")

    frame = {"completion": [str(i + 1) for i in range(len(table))], "reward": [c.reward for c in table],
             "tokens": [c.length for c in table]}
    for algo in algos:
        frame[f"A · {algo.name}"] = results[algo.name].advantages.tolist()
        frame[f"Σ|∂L/∂log π| · {algo.name}"] = results[algo.name].weight.tolist()
    st.markdown("**Each completion's total weight in the gradient**: Σ over its tokens of |∂L/∂log π| (the absolute "
                "per-token gradient of the loss, summed), next to its advantage A.")
    st.dataframe(pa.table(frame), hide_index=True, width="stretch", column_config={  # Arrow: app/kl_sections.py says why
        k: st.column_config.NumberColumn(k, format="%.4f") for k in frame if k.startswith(("A ·", "Σ"))})

    inspector_section(batch, results, algos)


# A section in the batch's: the inspector's controls and a click on a token rerun the inspector alone.
@sections.section("alg_inspect")
def inspector_section(batch, results: dict, algos: list) -> None:
    st.subheader("Token by token", anchor=False)
    which, colour = st.columns(2)
    by_name = {a.name: a for a in algos}
    inspected = which.selectbox(
        "Algorithm to inspect", list(by_name), key=f"{INSPECT}algo", bind="query-params",
        disabled=classroom.locked(f"{INSPECT}algo"),
        help="Which of the picked algorithms the token inspector below shows the batch under.") or algos[0].name
    ti.draw(ti.ToySource(batch, by_name[inspected], results[inspected].terms), key="alg_inspector", prefix=INSPECT,
            controls=[colour])


batch_section(algos, names, yours, checked.values.get("alg_batch"))

st.header("Use these settings", divider="gray", anchor=False)
for tab, algo in zip(st.tabs([md(a.title) for a in algos]), algos):
    with tab:
        trainer_code.draw(algo.settings, md(algo.title))

questions.draw("algorithms", load=lambda table: load(table, st.session_state["alg_preset"]))
