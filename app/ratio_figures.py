"""The Ratio and clipping page's curves, point and figure, built once per setting of its controls.

Defined here rather than in the page: a page script runs again on every rerun, so a cache decorated there would
start empty each time; a module is imported once per server, and its caches last.
"""

import functools
import math

import torch

import charts
from grpo_core.curves import clip_status, surrogate_curve, trust_region

#: The ratio sweep's spacing: the sliders' step and the hover's two decimals. J is piecewise linear in r, so
#: a sweep through every kink (each added exactly) draws its corners where they are; the gradient's jumps
#: are drawn as steps at most one spacing wide. It was 801 points whatever the range: ~3x the spec to
#: build, hash, send and draw (issue 11).
CURVE_STEP = 0.01


def ratio_sweep(x_max: float, kinks: tuple[float, ...]) -> torch.Tensor:
    """``(R,)`` float32 ratios from 0 to ``x_max`` (both included) every :data:`CURVE_STEP`, with each kink
    inside the range (the clip bounds, δ) added exactly, sorted, without repeats."""
    steps = math.floor(x_max / CURVE_STEP + 1e-9)
    grid = torch.arange(0, steps + 1, dtype=torch.float64) * CURVE_STEP
    extra = torch.tensor([k for k in (*kinks, x_max) if 0 <= k <= x_max], dtype=torch.float64)
    return torch.unique(torch.cat([grid, extra]).round(decimals=9).to(torch.float32))


# Bounded: an entry is ~30 KB (mostly the figure's spec: 29 KB of JSON at the defaults, 76 KB with the old
# 801 points), so the cache holds at most ~4 MB once a class has left.
@functools.lru_cache(maxsize=128)
def clip_view(epsilon: float, epsilon_high: float, delta: float | None, ratio: float, advantage: float):
    """``(point, figure)``: the reader's point (``grpo_core.curves.ClipStatus``) and the chart. A class moving
    the same slider asks for the same few settings, and a cached figure costs a rerun no building (issue 11).
    ``functools.lru_cache`` hands every session the same objects, which nothing changes once built."""
    low, high = trust_region(epsilon, epsilon_high)
    x_max = max(2.5, ratio + 0.25, (delta or 0) + 0.5)
    ratios = ratio_sweep(x_max, (low, high) + ((delta,) if delta is not None else ()))
    magnitude = abs(advantage) if advantage != 0 else 1.0
    curves = {sign: surrogate_curve(ratios, sign * magnitude, epsilon=epsilon, epsilon_high=epsilon_high,
                                    delta=delta) for sign in (1, -1)}
    point = clip_status(ratio, advantage, epsilon=epsilon, epsilon_high=epsilon_high, delta=delta)
    return point, charts.clip_panels(curves, point, ratio=ratio, advantage=advantage, region=(low, high),
                                     delta=delta, x_max=x_max, key="ratio-clipping")
