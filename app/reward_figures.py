"""The Reward groups page's cached statistics and figures of one (table, scale), and the groups' short names.

Kept apart so that the page (app/app_pages/reward_groups.py) reads as its sections.
"""

from __future__ import annotations

import functools


import charts
from grpo_core import reward_table as rt


def group_label(index: int) -> str:
    """Short name of the ``index``-th group on the chart axes and in the notes (the prompt is in the hover)."""
    return f"P{index + 1}"


@functools.lru_cache(maxsize=128)
def summary_of(table: rt.RewardTable, scale: str) -> rt.TableSummary:
    """The group statistics of one (table, scale), which the charts, their notes and the numbers all read."""
    return rt.summarize(table, scale=scale)


@functools.lru_cache(maxsize=128)
def figures(table: rt.RewardTable, scale: str) -> tuple:
    """The reward and advantage figures of one (table, scale).

    Building the two figures is the largest part of a rerun (bench/bench_reward_groups.py times a scale flip
    with and without this cache), so they are cached: flipping the scale back and forth or returning to a
    table costs no rebuild. ``functools.lru_cache`` hands out the same objects without a copy: safe because nothing
    mutates them after this (``st.plotly_chart`` only serialises). Keyed by the (immutable, hashable)
    table; bounded so that many visitors' tables cannot grow memory without limit.
    """
    summary = summary_of(table, scale)
    labels = [group_label(b) for b in range(len(summary.groups))]
    hover = [
        [f"{group_label(b)}: {charts.plain_label(g.prompt)}<br>{charts.plain_label(c)}" for c in g.completions]
        for b, g in enumerate(summary.groups)
    ]
    title = {"group": "Advantages = (r − mean) ÷ group std", "batch": "Advantages = (r − mean) ÷ batch std",
             "none": "Advantages = r − mean  (Dr. GRPO)"}[scale]
    rewards_figure = charts.rewards_by_group(
        labels, [g.rewards for g in summary.groups], [g.mean for g in summary.groups],
        [g.std for g in summary.groups], hover, height=340, key="rg-rewards")
    advantages_figure = charts.advantages_by_group(
        labels, [g.advantages for g in summary.groups], hover,
        title=title, height=340, key="rg-advantages",
        show_values=sum(g.size for g in summary.groups) <= 48)
    return rewards_figure, advantages_figure
