"""Reward groups: edit a table of rewards and watch the group-relative advantages answer."""

from __future__ import annotations

import pandas as pd
import streamlit as st

import classroom
import questions
import reward_figures as rf
import sections
import urlstate
from editor_guard import edit_problem, valid_or_last
from grpo_core import reward_table as rt

COLUMNS = {"prompt", "completion", "reward"}
EDITOR = "rg_editor"  # the data editor's key (its edits live in session state under it)
BASE = "rg_base"  # the table the editor's edits apply to: a preset, a link's table, or the last good one
GOOD = "rg_good"  # the last valid table: what the charts show while an edit is invalid
#: scale_rewards values (what the URL holds) and the one-line reading shown under each option.
SCALES = {
    "group": "÷ each group's own std",
    "batch": "÷ one std for the whole batch",
    "none": "no division (Dr. GRPO)",
}

checked = urlstate.validate_params(
    {"scale": urlstate.one_of(*SCALES), "numbers": urlstate.boolean(), "rewards": rt.decode},
    max_len={"rewards": rt.MAX_ENCODED},
)


def named(labels: list[str], most: int = 10) -> str:
    """``P1, P2 and P3``; long lists end in "and N more" so a note stays one line or two."""
    shown = ", ".join(labels[:most])
    return shown + (f" and {len(labels) - most} more" if len(labels) > most else "")


def load(table: rt.RewardTable) -> None:
    """Make ``table`` the editor's content, dropping pending edits (a preset button's callback)."""
    st.session_state[BASE] = table
    st.session_state[GOOD] = table
    st.session_state.pop(EDITOR, None)


def load_preset(table: rt.RewardTable) -> None:
    """A preset button's callback: the table, and the sections that draw it (the button is in one)."""
    load(table)
    sections.also_rerun("rg_table", "rg_charts", "rg_numbers")


if BASE not in st.session_state:  # a new session: the link's table, else the default preset
    load(checked.values.get("rewards", rt.PRESETS[rt.DEFAULT_PRESET].table))
elif EDITOR not in st.session_state:  # back on this page: the editor forgot its edits, GOOD did not
    st.session_state[BASE] = st.session_state[GOOD]

st.title("Reward groups")
st.markdown(
    "GRPO samples a **group** of completions for each prompt and scores each one. It never asks whether a "
    "reward is high in absolute terms, only whether it beats the **other completions of the same prompt**. "
    "Edit the rewards, add or delete completions, or load a preset, and watch the advantages answer."
)

# The sidebar's view controls, a section of their own: a change reruns them and the sections that read them.
@sections.section("rg_view")
def view_section() -> None:
    with st.sidebar:
        st.radio(
            "Scale the advantages (`scale_rewards`)", list(SCALES), captions=list(SCALES.values()), key="scale",
            bind="query-params", disabled=classroom.locked("scale"),
            on_change=sections.also_rerun, args=("rg_view", "rg_charts", "rg_numbers"),
            help="What the distance from the group mean is divided by. group: each group's own std (DeepSeekMath, "
                 "TRL's default). batch: one std over all completions of the batch (TRL scale_rewards='batch'). "
                 "none: no division at all, as Dr. GRPO recommends, so near-ties stay small pushes.",
        )
        st.toggle(
            "Show the numbers", key="numbers", bind="query-params", disabled=classroom.locked("numbers"),
            on_change=sections.also_rerun, args=("rg_view", "rg_numbers"),
            help="A table with every completion's reward, its group's mean and std, and its advantage: the exact "
                 "numbers the bars are drawn from.",
        )


view_section()


# The presets and the editor, with the link's table they change. The charts and the numbers read that table
# from the session state, in sections of their own: a scale change redraws them, not the editor.
@sections.section("rg_table")
def table_section() -> None:
    st.subheader("Presets")
    preset_columns = st.container(key="rg_presets").columns(2)  # a class link names the presets as one
    for i, (name, preset) in enumerate(rt.PRESETS.items()):
        preset_columns[i % 2].button(
            preset.title, key=f"rg_preset_{name}", on_click=load_preset, args=(preset.table,),
            help=preset.description, width="stretch",
            disabled=classroom.locked("rg_presets", EDITOR),  # a preset replaces the table
        )

    st.subheader("Completions and rewards")
    base: rt.RewardTable = st.session_state[BASE]
    problem = edit_problem(st.session_state.get(EDITOR), base.n_rows, columns=COLUMNS, max_rows=rt.MAX_ROWS)
    if problem:
        load(st.session_state[GOOD])
        base = st.session_state[BASE]
        st.error(f"{problem}, so it was undone and the last valid table is back.")
    edited = st.data_editor(
        pd.DataFrame(base.rows(), columns=["prompt", "completion", "reward"]),
        key=EDITOR, num_rows="dynamic", hide_index=True, width="stretch", height=420, disabled=classroom.locked(EDITOR),
        on_change=sections.also_rerun, args=("rg_table", "rg_charts", "rg_numbers"),
        column_config={
            "prompt": st.column_config.TextColumn(
                "prompt", max_chars=rt.MAX_TEXT, width="small",
                help="Which prompt this completion answers. Rows with the same prompt form one group; "
                     "a new row with no prompt joins the group above it."),
            "completion": st.column_config.TextColumn(
                "completion", max_chars=rt.MAX_TEXT, width="small",
                help="The sampled answer (only a label here: the reward is what GRPO sees)."),
            "reward": st.column_config.NumberColumn(
                "reward", width="small", min_value=rt.REWARD_MIN, max_value=rt.REWARD_MAX, step=0.01, default=0.0,
                required=True, format="%.2f",
                help=f"The score the reward function gave this completion, between {rt.REWARD_MIN:g} and "
                     f"{rt.REWARD_MAX:g} (1 = right, 0 = wrong for a verifier; any number for a reward model)."),
        },
    )
    table = valid_or_last(rt.from_rows, edited, GOOD, "The charts keep showing the last valid table.")
    st.caption(f"{len(table.groups)} prompt(s), {table.n_rows} completions; rewards in "
               f"[{rt.REWARD_MIN:g}, {rt.REWARD_MAX:g}], at most {rt.MAX_ROWS} rows.")
    encoded = rt.encode(table)
    urlstate.set_param("rewards", None if table == rt.PRESETS[rt.DEFAULT_PRESET].table else encoded)
    if not encoded.startswith(rt.PACKED_PREFIX) and not rt.has_default_texts(table):
        st.caption("The texts are too long to fit in a link: a shared link keeps the rewards, not the texts.")


@sections.section("rg_charts")
def charts_section() -> None:
    # Read, not passed: an edit or the sidebar's scale reruns this section alone, with the last full run's arguments.
    scale, table = st.session_state["scale"], st.session_state[GOOD]
    summary = rf.summary_of(table, scale)
    rewards_figure, advantages_figure = rf.figures(table, scale)

    st.plotly_chart(rewards_figure, key="rg_rewards_chart", width="stretch", theme=None)
    st.caption("Each bar is one completion's reward. The black dash is its group's mean, the orange dashes sit "
               "one standard deviation above and below it. Only the distance from the black dash matters.")
    st.plotly_chart(advantages_figure, key="rg_advantages_chart", width="stretch", theme=None)
    st.caption(
        "Solid blue bars (above 0) are made **more** likely by the update, hatched vermilion bars (below 0) "
        "**less** likely; grey means untouched. "
        + {
            "group": "Dividing by each group's own std makes every group with any spread push about equally "
                     "hard, even when its rewards barely differ.",
            "batch": "One std for the whole batch keeps the groups' sizes comparable: a group whose rewards "
                     "barely differ gets small bars, a widely spread one big bars.",
            "none": "Without the division (Dr. GRPO) a bar is the raw distance from the group mean: near-ties "
                    "give small pushes, and prompts that are nearly always solved or nearly always failed are "
                    "no longer up-weighted by a small std.",
        }[scale]
    )
    zero = [rf.group_label(b) for b, g in enumerate(summary.groups) if g.zero_signal and g.size > 1]
    kept = sum(not g.zero_signal for g in summary.groups)  # what DAPO's dynamic sampling keeps
    singles = [rf.group_label(b) for b, g in enumerate(summary.groups) if g.size == 1]
    pairs = [rf.group_label(b) for b, g in enumerate(summary.groups) if g.size == 2 and not g.zero_signal]
    if zero:
        st.info(
            f"**Zero signal** for {named(zero)}: all the rewards are equal, so every completion is exactly "
            "average and every advantage is 0. These prompts give no policy-gradient signal in this step, "
            "however good or bad the answers were (trainers log this share as `frac_reward_zero_std`); with "
            "β > 0 and the KL in the loss, the KL term still pulls on their tokens. DAPO's dynamic sampling "
            f"would drop them: {kept} of the {len(summary.groups)} groups here would be kept.",
            icon=":material/block:",
        )
    if singles:
        st.info(
            f"{named(singles)}: **one completion** (G = 1): there is nothing to compare it "
            "with, so its advantage is 0. GRPO needs at least two samples per prompt.",
            icon=":material/person:",
        )
    if pairs:
        st.info(
            f"{named(pairs)}: **two completions** (G = 2): one is above the mean and one below by the same "
            "amount. With group scaling the pair is always ±0.71 whatever the rewards (1 vs 0 or 0.51 vs "
            "0.50); only scale 'none' keeps how far apart they were.",
            icon=":material/compare_arrows:",
        )


left, right = st.columns([2, 3], gap="large")
with left:
    table_section()
with right:
    charts_section()

with st.expander("What trainers do about zero-spread groups and overlong answers (DAPO)"):
    st.markdown(
        "**Dynamic sampling.** A group whose rewards are all equal (all right or all wrong) has zero "
        "advantages, so it takes a place in the batch and gives no policy-gradient signal. DAPO "
        "over-samples prompts, drops every group with zero spread (accuracy 0 or 1), and keeps sampling "
        "until the batch is full of groups that have both right and wrong answers (verl: "
        "`filter_groups`). The batch then has a constant number of informative groups, at the cost of "
        "more generation.\n\n"
        "**Overlong reward shaping.** An answer cut off at the length limit gets a wrong-answer reward even "
        "if its reasoning was sound, which is reward noise. DAPO's *soft overlong punishment* adds a length "
        "penalty to the correctness reward: 0 up to L_max − L_cache tokens, then falling linearly to −1 "
        "over the last L_cache tokens, and −1 past L_max (DAPO: an expected maximum of 16,384 tokens plus "
        "a 4,096-token cache, L_max = 20,480; verl: `overlong_buffer`). Longer answers near the limit "
        "then score a little lower than otherwise equal shorter ones, and so get a smaller advantage."
    )
    st.latex(
        r"R_{\text{length}}(y) = \begin{cases} 0 & |y| \le L_{\max} - L_{\text{cache}} \\ "
        r"\dfrac{(L_{\max} - L_{\text{cache}}) - |y|}{L_{\text{cache}}} & L_{\max} - L_{\text{cache}} < |y| \le L_{\max} \\ "
        r"-1 & L_{\max} < |y| \end{cases}"
    )


@sections.section("rg_numbers")
def numbers_section() -> None:
    scale = st.session_state["scale"]
    if not st.session_state["numbers"]:
        return
    # Not an argument: an edit reruns this section with the editor's, and the editor's section has set it.
    table = st.session_state[GOOD]
    st.subheader("The numbers")
    st.dataframe(
        pd.DataFrame(rf.summary_of(table, scale).rows()), hide_index=True, width="stretch",
        column_config={k: st.column_config.NumberColumn(k, format="%.4f")
                       for k in ("reward", "group mean", "group std", "advantage")},
    )


numbers_section()

questions.draw("reward_groups", load=load)
