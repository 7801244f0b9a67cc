"""The token inspector, shared by the pages that show a batch: pick a group (and an update when μ > 1) and
what colours the tokens; every completion of the group is a row of its tokens, sorted by reward, with all
of a token's numbers and one sentence on its branch on hover. Numbers from grpo_core.inspector only.

The inspector reads a batch through :class:`BatchSource`; :class:`StepSource` adapts a trainer step
(:class:`grpo_core.training.StepResult`), :class:`ToySource` the Algorithms page's toy group. Its controls
are URL parameters named ``prefix + "group" | "update" | "colour"``: each page passes its own ``prefix``
(and merges :func:`url_spec` of it into its ``urlstate.validate_params`` spec), so two pages never share one.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import streamlit as st
import torch

import charts
import classroom
import urlstate
from safe_text import md
from grpo_core import toy_batch
from grpo_core.inspector import QUANTITIES, TokenTable, sentences, token_table
from grpo_core.loss import LossTerms
from grpo_core.training import StepResult

PREFIX = "ti_"
CLIP_LEGEND = "▲ held by the clip at its high side, ▼ at its low side; a blank cell is padding."
#: Groups × updates of one batch whose grids a session keeps (a group of 32 × 6 tokens: about 120 kB).
KEPT_GRIDS = 4
QUANTITY_LABELS = {name: entry.label for name, entry in QUANTITIES.items()}
CLIP_WORDS = {1: "· ▲ held by the clip at its high side", -1: "· ▼ held by the clip at its low side", 0: ""}


class BatchSource(Protocol):
    """What the inspector reads of one batch of ``num_groups * group_size`` completions (rows).

    Attributes:
        num_groups, group_size: a group is ``group_size`` consecutive rows.
        num_updates: the updates (μ) made with this batch; ``terms`` and ``entropy`` take a 0-based one.
        rewards: each row's reward.
        settings: ``epsilon``, ``epsilon_high`` and ``beta`` of the loss (what the sentences quote).
        origin: the object the batch's numbers come from: two sources with the same ``origin`` (the same
            object, ``is``) and settings show the same numbers, so the inspector may keep what it computed.
    """

    num_groups: int
    group_size: int
    num_updates: int
    rewards: Sequence[float]
    settings: Mapping
    origin: object

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
        self.step = self.origin = step
        self.settings = settings if settings is not None else step.settings
        self.num_groups, self.group_size = step._rewards.shape
        self.num_updates = step.num_updates
        self.rewards = step.reward_list

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
        self._terms = self.origin = terms if terms is not None else toy_batch.evaluate(algorithm, batch).terms

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


def _hover_sentence(sentence: str) -> str:
    """A token's sentence made safe for Plotly and wrapped for its hover (the token's numbers, shown above it,
    are data, formatted by the chart's hover template: charts.token_grid)."""
    return "<br>".join(_wrap(charts.plain_label(sentence, 400)))


#: A line of at most 64 characters ending before a space (or the text's end), else one longer word alone.
_LINE = re.compile(r"(?! )(?:.{1,64}(?= |$)|\S+)")


def _wrap(text: str) -> list[str]:
    """Lines of at most 64 characters, broken at spaces (a word longer than that gets its own line): one
    regular-expression scan, where textwrap.wrap's many per call would weigh on a grid's hundreds of hovers."""
    return _LINE.findall(text)


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
            bind="query-params", disabled=classroom.locked(f"{prefix}group"),
            help="Which prompt of the step to look at (1 is the first of the batch; the inspector opens on the "
                 "first group whose rewards differ).")
    if source.num_updates > 1:
        update = middle.slider(
            "Update of the batch (μ)", 1, source.num_updates, key=f"{prefix}update", bind="query-params",
            disabled=classroom.locked(f"{prefix}update"),
            help="Step through the μ updates made with the same completions: the ratios start at exactly 1 and "
                 "move away, until the clip holds them.")
    group = min(max(int(group), 1), source.num_groups)
    update = min(max(int(update), 1), source.num_updates)
    grid = _grid_memo(source, group, update, memo=f"{key}_memo")
    names = list(grid.shown)
    quantity = right.selectbox(
        "Colour tokens by", names, format_func=_colour_label, key=f"{prefix}colour", bind="query-params",
        disabled=classroom.locked(f"{prefix}colour"),
        help="What the cell colour shows; hover a token for all of it.") or names[0]
    if grid.problem:
        (st.warning if grid.diverged else st.info)(grid.problem)
        return
    entry = QUANTITIES[quantity]
    event = st.plotly_chart(charts.token_grid(
        grid.shown[quantity], grid.texts, grid.side, grid.labels, neutral=entry.neutral, numbers=grid.numbers,
        sentences=grid.hover_sentences,
        number_labels=[QUANTITY_LABELS[name] for name in names],
        label=entry.label, title=f"{source.title(group - 1)}: tokens coloured by {entry.label}",
        key=f"{key}_{quantity}"),
        key=f"{key}_grid", theme=None, config={"displayModeBar": False}, on_select="rerun", selection_mode="points")
    _explain_panel(event, grid, key=f"{prefix}token", chart=f"{key}_grid")
    note = " With one completion a group has no spread to compare: every advantage is 0." if g == 1 else ""
    st.caption(f"{entry.help} Rows: the group's completions, highest reward first, with their number #, reward R "
               f"and advantage A. {CLIP_LEGEND} The diverging scale is centred on {entry.neutral:g}.{note}")


@dataclass
class _Grid:
    """What the inspector draws of one group at one update: ``shown[quantity][i][t]`` for row ``i`` of the
    group sorted by reward, the tokens' ``texts``, what each real token's hover shows (``numbers`` ``(P, Q)``,
    ``hover_sentences``: charts.token_grid), row ``labels``, clip ``side`` (+1/−1/0), and ``sentences[(i, t)]``
    and ``names[(i, t)]`` (what the token list calls it) for the real tokens in row-major order; ``problem``
    says why nothing is drawn. None of it depends on the colour, so a colour change only redraws."""

    shown: dict
    texts: list = field(default_factory=list)
    numbers: np.ndarray | None = None
    hover_sentences: list = field(default_factory=list)
    labels: list = field(default_factory=list)
    side: list = field(default_factory=list)
    sentences: dict = field(default_factory=dict)
    names: dict = field(default_factory=dict)
    problem: str = ""
    diverged: bool = False


def _kept(source: BatchSource, memo: str) -> dict:
    """The session's dict under ``memo`` for ``source``'s batch and settings (emptied when either changes)."""
    kept = st.session_state.get(memo)
    if not kept or kept[0] is not source.origin or kept[1] != dict(source.settings):
        kept = st.session_state[memo] = (source.origin, dict(source.settings), {})
    return kept[2]


def _grid_memo(source: BatchSource, group: int, update: int, *, memo: str) -> _Grid:
    """:func:`_grid`, kept in the session for the groups and updates of the last batch and settings seen (at
    most :data:`KEPT_GRIDS`): changing the colour, or going back to a group, redraws without recomputing a
    hover or a sentence. The shown update's :class:`~grpo_core.inspector.TokenTable` is kept too (under
    ``memo + "_table"``), so that another group of the same update neither computes the loss again nor reads
    more than its own rows."""
    grids, tables = _kept(source, memo), _kept(source, memo + "_table")
    if (group, update) not in grids:
        if len(grids) >= KEPT_GRIDS:
            grids.pop(next(iter(grids)))
        if update not in tables:  # one update's table only: a large step's is megabytes
            tables.clear()
            tables[update] = token_table(source.terms(update - 1), source.entropy(update - 1))
        grids[group, update] = _grid(source, group, tables[update])
    return grids[group, update]


def _grid(source: BatchSource, group: int, table: TokenTable) -> _Grid:
    first = (group - 1) * source.group_size
    rows = sorted(range(first, first + source.group_size), key=lambda r: -source.rewards[r])
    shown, fields, advantages, finite = table.read(rows)
    lengths = [int(sum(cell[0] for cell in row)) for row in fields]  # the mask is the first sentence field
    if not any(lengths):
        return _Grid(shown, problem="No token of this group is in the loss (every position is masked), so there is "
                                    "nothing to inspect.")
    if not finite:
        return _Grid(shown, problem="Some of this batch's numbers are not finite (the run diverged), so the "
                                    "inspector is not drawn.", diverged=True)
    said = sentences(fields, advantages, epsilon=source.settings["epsilon"],
                     epsilon_high=source.settings["epsilon_high"], beta=source.settings["beta"])
    grid = _Grid(shown, side=[[int(v) for v in row] for row in shown["clip_side"]])
    for i, (row, length) in enumerate(zip(rows, lengths)):
        number, tokens = row - first + 1, source.tokens(row)
        grid.texts.append(tokens[:length] + [""] * (len(tokens) - length))
        for t, (label, sentence) in enumerate(zip(map(charts.token_label, tokens[:length]), said[i])):
            grid.sentences[i, t] = sentence
            grid.names[i, t] = f"#{number}, token {t + 1}: {label}"
            grid.hover_sentences.append(_hover_sentence(sentence))
        # "#k": the row's number in its group, which also keeps equal (R, A) rows apart on the category axis
        grid.labels.append(f"#{number} · R {source.rewards[row]:.2f} · A {advantages[i]:+.2f}")
    grid.numbers = table.points(rows).numpy()
    return grid


def _selected(state) -> tuple[int, ...]:
    """The points of the grid's click trace that a chart's selection ``state`` holds (empty for none)."""
    return tuple(p["point_index"] for p in (state["selection"]["points"] if state else [])
                 if p.get("curve_number") == 1)


def _remember_pick(key: str, group: tuple, chart: str) -> None:
    # One browser event changes one control. A list value that comes with a change of the grid's selection
    # is the list's old value, sent before the list took the one the page gave it (Chromium sometimes
    # deselects the chart ~60 ms after a click's rerun: tests/test_token_inspector_protocol.py): not a pick.
    if _selected(st.session_state.get(chart)) == st.session_state.get(f"{key}_selected", ()):
        st.session_state[f"{key}_picked"] = (group, st.session_state[key])


def _explain_panel(event, grid: _Grid, *, key: str, chart: str) -> None:
    """One token's numbers and sentence in the page's own type (readable on a projector): the token a click
    on the grid (``event``, the chart keyed ``chart``) selected, or the one picked in the list under it (the
    keyboard's way). ``cells`` are the real tokens ``(row, position)`` in the grid's row-major order, which
    is the click trace's point order."""
    cells, sentences, shown, side = list(grid.sentences), grid.sentences, grid.shown, grid.side
    selected = _selected(event)
    group = tuple(grid.labels)  # the group's rows: the same through its updates, another group's differ
    before = st.session_state.get(f"{key}_selected", ())
    if before != selected:  # a selection outlives its rerun: a change is a click (a deselect too, so that
        st.session_state[f"{key}_selected"] = selected  # clicking the token again counts)
        added = [i for i in selected if i not in before]  # a shift-click adds its token to the selection
        if added and 0 <= added[0] < len(cells):
            st.session_state[f"{key}_picked"] = (group, cells[added[0]])
    # A token the user picked (a click, or the list) stays while they step through the group's updates, to
    # watch its ratio move; otherwise the list opens on the update's first clipped token, else its first.
    picked = st.session_state.get(f"{key}_picked")
    if picked is not None and picked[0] == group and picked[1] in cells:
        st.session_state[key] = picked[1]
    else:
        st.session_state[key] = next((c for c in cells if side[c[0]][c[1]]), cells[0])

    row, position = st.selectbox(
        "Explain token", cells, format_func=grid.names.__getitem__, key=key, disabled=classroom.locked(key),
        on_change=_remember_pick, args=(key, group, chart),
        help="Click a token in the grid, or pick it here (type to search): all its numbers and which branch of "
             "the loss it took.")
    with st.container(border=True, key=f"{key}_panel"):
        st.markdown(f"**{md(grid.names[row, position])}** {CLIP_WORDS[side[row][position]]}")
        st.markdown(" · ".join(f"{md(QUANTITIES[q].label)} **{values[row][position]:+.4g}**"
                               for q, values in shown.items()))
        st.markdown(md(sentences[row, position]))
