"""The Algorithms page's cached figures: the picked members' objectives along the ratio, and their results on
the reader's batch. A module of their own, imported once: a cache decorated in a page file would start empty
with every rerun of the page; here it lasts as long as the server.
"""

from __future__ import annotations

import functools

import numpy as np

import charts
import trainer_code
from grpo_core import toy_batch as tb
from grpo_core.family import ALGORITHMS


def lineup(names: tuple[str, ...], yours: str) -> list:
    """The picked members of the family, then the loss of the pasted settings (``yours``, "" for none)."""
    algos = [ALGORITHMS[n] for n in names]
    return algos + [trainer_code.read_pasted(yours)[1]] if yours else algos


@functools.lru_cache(maxsize=64)
def sweep_view(names: tuple[str, ...], yours: str):
    """The along-the-ratio figure and its checked sentences for ``names`` (and ``yours``). Cached (building the
    figure is most of a rerun; it depends on the picked names only); ``functools.lru_cache`` hands out the same
    objects, which nothing mutates (``st.plotly_chart`` only serialises)."""
    algos, ratios = lineup(names, yours), tb.ratio_grid()
    curves = {a.name: tb.sweep(a, ratios) for a in algos}
    figure = charts.objective_sweeps(ratios, [(a.title, curves[a.name]) for a in algos], key="alg-sweeps")
    return figure, [s for a in algos for s in tb.sweep_sentences(a, ratios, curves[a.name])]


@functools.lru_cache(maxsize=128)
def batch_view(names: tuple[str, ...], yours: str, table: tuple, preset: str, move: float):
    """The batch, each algorithm's :class:`~grpo_core.toy_batch.BatchResult` on it, and the push heatmaps."""
    batch = tb.build(table, move=move, rare=tb.PRESETS[preset].rare)
    algos = {a.name: a for a in lineup(names, yours)}
    results = {n: tb.evaluate(a, batch) for n, a in algos.items()}
    padding = batch.mask.numpy() == 0
    panels = [(a.title, np.where(padding, np.nan, results[n].push.numpy())) for n, a in algos.items()]
    labels = [f"#{i + 1} · reward {c.reward:g}" for i, c in enumerate(table)]
    return batch, results, charts.push_heatmaps(panels, labels, key="alg-pushes")
