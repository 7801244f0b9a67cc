"""The one place where chart styling lives: palette, fonts, sizes and the sign encoding.

Colours are Okabe & Ito's colour-blind-safe palette. Sign is never colour alone: positive bars are solid
blue, negative bars are vermilion *and* hatched, zero is grey, and values are printed on the bars.
"""

from __future__ import annotations

from collections.abc import Sequence

import plotly.graph_objects as go

OKABE_ITO = {
    "blue": "#0072B2",
    "vermilion": "#D55E00",
    "orange": "#E69F00",
    "sky": "#56B4E9",
    "green": "#009E73",
    "yellow": "#F0E442",
    "purple": "#CC79A7",
    "black": "#000000",
    "grey": "#8C8C8C",
}
SERIES = [OKABE_ITO[k] for k in ("blue", "orange", "green", "purple", "sky", "vermilion", "yellow", "black")]
POSITIVE = OKABE_ITO["blue"]
NEGATIVE = OKABE_ITO["vermilion"]
NEUTRAL = OKABE_ITO["grey"]
#: Shading of a "safe" region (the trust region, a band) : light, so the lines on it stay readable.
REGION_FILL = "rgba(86, 180, 233, 0.18)"

HEIGHT = 380
FONT_SIZE = 16  # readable from the back of a room on a projector


def style(fig: go.Figure, *, title: str | None = None, height: int = HEIGHT, key: str = "") -> go.Figure:
    """Apply the house style in place and return ``fig``.

    ``key`` feeds ``uirevision``: the user's zoom and legend clicks survive reruns until ``key`` changes.
    """
    fig.update_layout(
        title=dict(text=title, x=0.0, xanchor="left") if title else None,
        height=height,
        template="plotly_white",
        font=dict(size=FONT_SIZE),
        colorway=SERIES,
        margin=dict(l=60, r=20, t=60 if title else 20, b=50),
        legend=dict(orientation="h", yanchor="bottom", y=1.02, xanchor="right", x=1.0),
        uirevision=key or title or "grpo",
        hoverlabel=dict(font_size=FONT_SIZE - 2),
    )
    return fig


def sign_colors(values: Sequence[float]) -> list[str]:
    return [POSITIVE if v > 0 else NEGATIVE if v < 0 else NEUTRAL for v in values]


def sign_patterns(values: Sequence[float]) -> list[str]:
    """Plotly ``marker.pattern.shape`` per bar: hatched for negative, so sign reads without colour."""
    return ["/" if v < 0 else "" for v in values]
