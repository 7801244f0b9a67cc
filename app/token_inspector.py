"""The token inspector, shared by the pages that show a batch: pick a group (and an update when μ > 1) and
what colours the tokens; every completion of the group is a row of its tokens, sorted by reward, with all
of a token's numbers and one sentence on its branch on hover. Numbers from grpo_core.inspector only.

The inspector reads a batch through :class:`BatchSource`; :class:`StepSource` adapts a trainer step
(:class:`grpo_core.training.StepResult`), :class:`ToySource` the Algorithms page's toy group. Its controls
are URL parameters named ``prefix + "group" | "update" | "colour"``: each page passes its own ``prefix``
(and merges :func:`url_spec` of it into its ``urlstate.validate_params`` spec), so two pages never share one.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Mapping, Sequence
from typing import Protocol

import streamlit as st
import torch

import charts
import urlstate
from grpo_core import toy_batch
from grpo_core.inspector import QUANTITIES, explain_token, token_values
from grpo_core.loss import LossTerms
from grpo_core.training import StepResult

PREFIX = "ti_"
CLIP_LEGEND = "▲ held by the clip at its high side, ▼ at its low side; a blank cell is padding."


class BatchSource(Protocol):
    """What the inspector reads of one batch of ``num_groups * group_size`` completions (rows).

    Attributes:
        num_groups, group_size: a group is ``group_size`` consecutive rows.
        num_updates: the updates (μ) made with this batch; ``terms`` and ``entropy`` take a 0-based one.
        rewards: each row's reward.
        settings: ``epsilon``, ``epsilon_high`` and ``beta`` of the loss (what the sentences quote).
    """

    num_groups: int
    group_size: int
    num_updates: int
    rewards: Sequence[float]
    settings: Mapping

    def terms(self, update: int) -> LossTerms: ...

    def entropy(self, update: int) -> torch.Tensor | None:
        """``(N, T)`` the policy's entropy, or ``None`` where it is not known (not offered as a colour)."""

    def tokens(self, row: int) -> list[str]:
        """The text of each of the ``T`` tokens of row ``row`` (padding positions may hold anything)."""

    def title(self, group: int) -> str:
        """What the chart's title calls group ``group`` (0-based): its prompt, quoted."""


class StepSource:
    """:class:`BatchSource` of a trainer step; ``settings`` default to the ones the step was trained with."""

    def __init__(self, step: StepResult, settings: Mapping | None = None):
        self.step = step
        self.settings = settings if settings is not None else step.settings
        self.num_groups, self.group_size = step._rewards.shape
        self.num_updates = step.num_updates
        self.rewards = step._rewards.reshape(-1).tolist()

    def terms(self, update: int) -> LossTerms:
        return self.step.inspect(update)

    def entropy(self, update: int) -> torch.Tensor | None:
        return self.step.entropy(update)

    def tokens(self, row: int) -> list[str]:
        return self.step.token_text(row)

    def title(self, group: int) -> str:
        return f"“{self.step.groups[group].prompt}”"


class ToySource:
    """:class:`BatchSource` of the Algorithms page's toy group (``grpo_core.toy_batch``) under one algorithm:
    one group, one update, tokens named ``t1``, ``t2``, ..., no entropy."""

    num_groups, num_updates = 1, 1

    def __init__(self, batch: toy_batch.ToyBatch, algorithm, terms: LossTerms | None = None):
        self.batch, self.algorithm = batch, algorithm
        self.group_size = int(batch.rewards.shape[1])
        self.rewards = batch.rewards.reshape(-1).tolist()
        self.settings = toy_batch.explain_settings(algorithm)
        self._terms = terms if terms is not None else toy_batch.evaluate(algorithm, batch).terms

    def terms(self, update: int) -> LossTerms:
        return self._terms

    def entropy(self, update: int) -> None:
        return None

    def tokens(self, row: int) -> list[str]:
        return self.batch.token_labels(row)

    def title(self, group: int) -> str:
        return f"{charts.plain_label(self.algorithm.title, 40)} on the batch above"


def _first_group_with_spread(source: BatchSource) -> int:
    """The first group (1-based) whose rewards differ, where the policy term has something to show; else 1."""
    g = source.group_size
    for group in range(source.num_groups):
        rewards = source.rewards[group * g:(group + 1) * g]
        if max(rewards) > min(rewards):
            return group + 1
    return 1


def _colour_label(name: str) -> str:
    return QUANTITIES[name].label


def url_spec(prefix: str = PREFIX, *, groups: bool = True, updates: bool = True, entropy: bool = True) -> dict:
    """The inspector's URL parameters and their validators, for a page's ``urlstate.validate_params`` (leave
    out the controls the page's batches never show: a second group, a second update, entropy)."""
    names = [n for n in QUANTITIES.names() if entropy or n != "entropy"]
    spec = {f"{prefix}group": urlstate.int_in(1, 4096)} if groups else {}  # TrainConfig's largest B
    if updates:
        spec[f"{prefix}update"] = urlstate.int_in(1, 8)
    spec[f"{prefix}colour"] = urlstate.one_of(*map(_colour_label, names))  # a bound selectbox keeps the label
    return spec


#: The training page's spec (``PREFIX``).
URL_SPEC = url_spec()


def _hover(token: str, where: str, numbers: dict[str, float], sentence: str) -> str:
    lines = [f"<b>{charts.plain_label(token, 12)}</b> · {where}"]
    lines += [f"{QUANTITIES[name].label}: {value + 0.0:+.4g}" for name, value in numbers.items()]  # no "-0"
    return "<br>".join([*lines, *textwrap.wrap(charts.plain_label(sentence, 400), 64)])


def draw(source: BatchSource | StepResult, *, settings: Mapping | None = None, key: str = "inspector",
         prefix: str = PREFIX, controls: Sequence | None = None) -> None:
    """The inspector for one batch: a :class:`BatchSource`, or a :class:`~grpo_core.training.StepResult`
    trained with ``settings`` (its :meth:`~grpo_core.training.TrainConfig.loss_settings`). ``key`` names its
    chart, ``prefix`` its controls' keys (= URL parameters). ``controls``: containers for its controls, one
    each, in order: the group (shown if the batch has several), the update (if μ > 1), the colour; by
    default a row of columns."""
    if isinstance(source, StepResult):
        source = StepSource(source, settings)
    g = source.group_size
    wanted = [source.num_groups > 1, source.num_updates > 1, True]
    slots = list(controls or [])
    if len(slots) < sum(wanted):
        slots = st.columns(max(sum(wanted), 2))
    slots = iter(slots)
    left, middle, right = (next(slots) if want else None for want in wanted)
    group = update = 1
    if source.num_groups > 1:
        group = left.number_input(
            "Group", 1, source.num_groups, value=_first_group_with_spread(source), step=1, key=f"{prefix}group",
            bind="query-params", help="Which prompt of the step to look at (1 is the first of the batch; the "
                                      "inspector opens on the first group whose rewards differ).")
    if source.num_updates > 1:
        update = middle.slider(
            "Update of the batch (μ)", 1, source.num_updates, key=f"{prefix}update", bind="query-params",
            help="Step through the μ updates made with the same completions: the ratios start at exactly 1 and "
                 "move away, until the clip holds them.")
    group = min(max(int(group), 1), source.num_groups)
    update = min(max(int(update), 1), source.num_updates)
    terms, entropy = source.terms(update - 1), source.entropy(update - 1)
    names = [n for n in QUANTITIES.names() if entropy is not None or n != "entropy"]
    quantity = right.selectbox(
        "Colour tokens by", names, format_func=_colour_label, key=f"{prefix}colour", bind="query-params",
        help="What the cell colour shows; hover a token for all of it.") or names[0]
    first = (group - 1) * g
    rows = sorted(range(first, first + g), key=lambda r: -source.rewards[r])
    shown = {name: token_values(terms, name, entropy)[rows].tolist() for name in names}
    lengths = [int(n) for n in terms.mask[rows].sum(dim=-1).tolist()]
    if not any(lengths):
        st.info("No token of this group is in the loss (every position is masked), so there is nothing to inspect.")
        return
    if not all(math.isfinite(v) for values in shown.values() for row in values for v in row):
        st.warning("Some of this batch's numbers are not finite (the run diverged), so the inspector is not drawn.")
        return
    texts, hover, labels = [], [], []
    for i, (row, length) in enumerate(zip(rows, lengths)):
        tokens = source.tokens(row)
        texts.append([tokens[t] if t < length else "" for t in range(len(tokens))])
        hover.append([
            _hover(tokens[t], f"completion #{row - first + 1}, token {t + 1}",
                   {name: values[i][t] for name, values in shown.items()},
                   explain_token(terms, row, t, epsilon=source.settings["epsilon"],
                                 epsilon_high=source.settings["epsilon_high"], beta=source.settings["beta"]))
            if t < length else "Padding: past the end of the completion, not in the loss."
            for t in range(len(tokens))])
        # "#k": the row's number in its group, which also keeps equal (R, A) rows apart on the category axis
        labels.append(f"#{row - first + 1} · R {source.rewards[row]:.2f} · A {float(terms.advantages[row, 0]):+.2f}")
    entry = QUANTITIES[quantity]
    st.plotly_chart(charts.token_grid(
        shown[quantity], texts, hover, terms.clipped_high[rows].int() - terms.clipped_low[rows].int(), labels,
        neutral=entry.neutral, label=entry.label,
        title=f"{source.title(group - 1)}: tokens coloured by {entry.label}", key=f"{key}_{quantity}"),
        key=f"{key}_grid", theme=None, config={"displayModeBar": False})
    note = " With one completion a group has no spread to compare: every advantage is 0." if g == 1 else ""
    st.caption(f"{entry.help} Rows: the group's completions, highest reward first, with their number #, reward R "
               f"and advantage A. {CLIP_LEGEND} The diverging scale is centred on {entry.neutral:g}.{note}")
