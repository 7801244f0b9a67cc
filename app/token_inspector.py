"""The token inspector, shared by the pages that show a batch: pick a group (and an update when μ > 1) and
what colours the tokens; every completion of the group is a row of its tokens, sorted by reward, with all
of a token's numbers and one sentence on its branch on hover. Numbers from grpo_core.inspector only."""

from __future__ import annotations

import streamlit as st

import charts
import urlstate
from grpo_core.inspector import QUANTITIES, explain_token, token_values

#: The inspector's controls as URL parameters (``PREFIX`` + name); pages merge this into their spec.
PREFIX = "ti_"
URL_SPEC = {
    f"{PREFIX}group": urlstate.int_in(1, 64),
    f"{PREFIX}update": urlstate.int_in(1, 8),
    f"{PREFIX}colour": urlstate.one_of(*QUANTITIES.names()),
}
CLIP_LEGEND = "▲ held by the clip at its high side, ▼ at its low side; a blank cell is padding."


def _hover(token: str, numbers: dict[str, float], sentence: str) -> str:
    lines = [f"<b>{charts.plain_label(token, 12)}</b>"]
    lines += [f"{QUANTITIES[name].label}: {value:+.4g}" for name, value in numbers.items()]
    return "<br>".join(lines) + "<br>" + charts.plain_label(sentence, 400)


def draw(step, *, settings: dict, key: str = "inspector") -> None:
    """The inspector for one :class:`grpo_core.training.StepResult` trained with ``settings`` (its
    :meth:`~grpo_core.training.TrainConfig.loss_settings`)."""
    groups = step.groups
    g = len(groups[0].rewards)
    left, middle, right = st.columns(3)
    group = left.number_input(
        "Group", 1, len(groups), step=1, key=f"{PREFIX}group", bind="query-params",
        help="Which prompt of the step to look at (1 is the first of the batch).")
    update = 1
    if step.num_updates > 1:
        update = middle.slider(
            "Update of the batch (μ)", 1, step.num_updates, key=f"{PREFIX}update", bind="query-params",
            help="Step through the μ updates made with the same completions: the ratios start at exactly 1 and "
                 "move away, until the clip holds them.")
    quantity = right.selectbox(
        "Colour tokens by", QUANTITIES.names(), format_func=lambda name: QUANTITIES[name].label,
        key=f"{PREFIX}colour", bind="query-params", help="What the cell colour shows; hover a token for all of it.")
    group = min(int(group), len(groups))
    update = min(int(update), step.num_updates)
    terms = step.inspect(update - 1)
    entropy = step.entropy(update - 1)
    rows = sorted(range((group - 1) * g, group * g), key=lambda r: -float(step._rewards.reshape(-1)[r]))
    shown = {name: token_values(terms, name, entropy) for name in QUANTITIES.names()}
    texts, hover, labels = [], [], []
    for row in rows:
        length = int(terms.mask[row].sum())
        tokens = step.token_text(row)
        texts.append([tokens[t] if t < length else "" for t in range(len(tokens))])
        hover.append([
            _hover(tokens[t], {name: float(values[row, t]) for name, values in shown.items()},
                   explain_token(terms, row, t, epsilon=settings["epsilon"], epsilon_high=settings["epsilon_high"],
                                 beta=settings["beta"]))
            for t in range(len(tokens))])
        labels.append(f"R {float(step._rewards.reshape(-1)[row]):.2f} · A {float(terms.advantages[row, 0]):+.2f}")
    entry = QUANTITIES[quantity]
    st.plotly_chart(charts.token_grid(
        shown[quantity][rows], texts, hover, terms.clipped_high[rows].int() - terms.clipped_low[rows].int(), labels,
        neutral=entry.neutral, label=entry.label,
        title=f"“{groups[group - 1].prompt}”: tokens coloured by {entry.label}", key=f"{key}_{quantity}"),
        key=f"{key}_grid", config={"displayModeBar": False})
    st.caption(f"{entry.help} Rows: the group's completions, highest reward first, with reward R and "
               f"advantage A. {CLIP_LEGEND} The diverging scale is centred on {entry.neutral:g}.")
