"""The one place where chart styling lives: palette, fonts, sizes and the sign encoding.

Colours are Okabe & Ito's colour-blind-safe palette. Sign is never colour alone: positive bars are solid
blue, negative bars are vermilion *and* hatched, zero is grey, and values are printed on the bars.

Figures are built as Plotly's plain JSON specs (:class:`PlainFigure`), not from graph objects: building and
validating graph objects was most of a page's rerun (issue 11). Specs are written in Plotly's canonical
form (nested dicts, no ``a_b`` shorthand, no ``None`` values) so that they are exactly what graph objects
would have produced; tests/app/test_charts_plain.py holds every page's figures to that.
"""

from __future__ import annotations

import base64
import contextvars
import functools
from collections.abc import Sequence

import numpy as np
import plotly.colors as pc
import plotly.graph_objects as go
import plotly.io as pio
# What Figure.to_dict() itself uses (convert_to_base64), so that typed arrays come out byte for byte the same.
from _plotly_utils.basevalidators import is_homogeneous_array
from _plotly_utils.utils import is_skipped_key, plotlyjsShortTypes, to_typed_array_spec


class PlainFigure(go.Figure):
    """A figure held as its finished spec, ``{"data": [...], "layout": {...}}``, numpy arrays already as
    Plotly's base64 typed arrays.

    A ``go.Figure`` on purpose, and without its ``__init__``: ``st.plotly_chart`` treats a ``go.Figure`` as
    validated and only calls ``to_dict()``, while a plain dict it validates by building a ``go.Figure`` from
    it (Streamlit 1.67, ``plotly.tools.return_figure_from_figure_or_data``); ``plotly.io.to_json`` likewise.
    So neither building the figure nor drawing it runs a validator or a deep copy. Only ``to_dict()``
    (and ``to_plotly_json()``) work; the spec is shared, not copied, so nothing may change it once built
    (the figure caches hand the same object to every session).
    """

    def __init__(self, data: list[dict], layout: dict):  # no super().__init__(): its validation is what this skips
        spec = {"data": [_finish(trace) for trace in data], "layout": _finish(layout)}
        object.__setattr__(self, "_spec", spec)

    def to_dict(self) -> dict:
        scale = _FONT_SCALE.get()
        return self._spec if scale == 1.0 else scaled(self._spec, scale)

    to_plotly_json = to_dict

    def __repr__(self) -> str:
        return f"PlainFigure({len(self._spec['data'])} traces)"


#: How much larger than the house size this script run draws the charts' type (the classroom's presenter mode
#: sets it at the start of each run; a context variable, so one session's projector never reaches another's).
_FONT_SCALE: contextvars.ContextVar[float] = contextvars.ContextVar("chart_font_scale", default=1.0)


def set_font_scale(scale: float) -> None:
    """Draw the figures of this script run with their type (and height and margins) ``scale`` times larger."""
    _FONT_SCALE.set(float(scale))


def scaled(spec, scale: float, key: str = ""):
    """A copy of a finished spec with every font ``size``, the layout's ``height`` and its ``margin`` times
    ``scale``: the same chart, readable from further away. Data arrays are shared, not walked."""
    if isinstance(spec, dict):
        if "bdata" in spec:
            return spec
        out = {k: scaled(v, scale, k) for k, v in spec.items()}
        if key.endswith("font") and isinstance(out.get("size"), (int, float)):
            out["size"] = out["size"] * scale
        if key == "margin":
            out = {k: v * scale if isinstance(v, (int, float)) else v for k, v in out.items()}
        if key == "layout" and isinstance(out.get("height"), (int, float)):
            out["height"] = round(out["height"] * scale)
        return out
    if isinstance(spec, list) and spec and isinstance(spec[0], (dict, list)):
        return [scaled(v, scale, key) for v in spec]
    return spec


#: The "none" template as Plotly resolves ``template="none"`` (what graph objects put in a figure).
NO_TEMPLATE = pio.templates["none"].to_plotly_json()


def _finish(value, key: str = ""):
    """A copy of ``value`` as graph objects would send it: ``None`` entries dropped at any depth of dicts,
    numpy arrays as base64 typed arrays. Plotly's ``convert_to_base64`` walks every element of every list;
    this one walks only lists of dicts (traces, shapes, annotations), where alone it could convert anything:
    walking a long series element by element was most of a figure's building."""
    if isinstance(value, dict):
        return {k: _finish(v, k) for k, v in value.items() if v is not None}
    if isinstance(value, (list, tuple)):
        return [_finish(v) for v in value] if value and isinstance(value[0], dict) else value
    if isinstance(value, (str, int, float)) or is_skipped_key(key):
        return value
    short = plotlyjsShortTypes.get(str(getattr(value, "dtype", "")))
    if short and isinstance(value, np.ndarray) and value.size:
        # to_typed_array_spec's own result for these dtypes, without its detour through narwhals (~0.3 ms an array)
        spec = {"dtype": short, "bdata": base64.b64encode(value.copy(order="C")).decode("ascii")}
        if value.ndim > 1:
            spec["shape"] = str(value.shape)[1:-1]
        return spec
    return to_typed_array_spec(value) if is_homogeneous_array(value) else value

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
#: A second line drawn over a first (solid) one on the same axes: another colour *and* dashed.
SECOND_LINE = dict(color=OKABE_ITO["vermilion"], width=3, dash="dash")
#: Shading of a "safe" region (the trust region, a band) : light, so the lines on it stay readable.
REGION_FILL = "rgba(86, 180, 233, 0.18)"

HEIGHT = 380
FONT_SIZE = 16  # readable from the back of a room on a projector


def sign_colors(values: Sequence[float]) -> list[str]:
    return [POSITIVE if v > 0 else NEGATIVE if v < 0 else NEUTRAL for v in values]


def sign_patterns(values: Sequence[float]) -> list[str]:
    """Plotly ``marker.pattern.shape`` per bar: hatched for negative, so sign reads without colour."""
    return ["/" if v < 0 else "" for v in values]


# --- Reward groups page: one bar per completion, grouped by prompt on a two-level category axis. ---

def plain_label(text: str, max_len: int = 40) -> str:
    """User text made safe and short for a Plotly label: Plotly reads ``<...>`` as markup and ``&...;`` as
    entities, so angle brackets and ampersands become look-alikes; long text is cut with an ellipsis."""
    text = str(text).replace("<", "‹").replace(">", "›").replace("&", "＆").replace("\n", " ")
    return text if len(text) <= max_len else text[: max_len - 1] + "…"


@functools.lru_cache(maxsize=4096)  # a token grid asks for the same few token texts hundreds of times a redraw
def token_label(text: str) -> str:
    """:func:`plain_label` of a token's text, at most 12 characters (a token grid's cell)."""
    return plain_label(text, 12)


def _group_axis(group_labels: Sequence[str], sizes: Sequence[int]) -> list[list[str]]:
    """Plotly multicategory x: ``[[group, group, ...], ["1", "2", ...]]``, one pair per bar."""
    outer = [label for label, size in zip(group_labels, sizes) for _ in range(size)]
    inner = [str(i + 1) for size in sizes for i in range(size)]
    return [outer, inner]


def _gapped(group_labels: Sequence[str], per_group: Sequence[Sequence[float]]) -> tuple[list[list], list]:
    """x and y of one line trace per group, joined into a single trace with ``None`` breaks between groups
    (one trace, however many groups: figure size stays linear in the number of bars)."""
    outer, inner, ys = [], [], []
    for label, values in zip(group_labels, per_group):
        for i, y in enumerate(values):
            outer.append(label)
            inner.append(str(i + 1))
            ys.append(y)
        outer.append(label)
        inner.append(str(len(values)))
        ys.append(None)
    return [outer, inner], ys


def rewards_by_group(
    group_labels: Sequence[str],
    rewards: Sequence[Sequence[float]],
    means: Sequence[float],
    stds: Sequence[float],
    hover: Sequence[Sequence[str]],
    *,
    height: int = HEIGHT,
    key: str = "rewards",
) -> PlainFigure:
    """Reward bars per group, with each group's mean (solid dash) and mean ± std (dotted dashes).

    Built with :func:`house_layout` (the house style without template validation): a reward edit is a new
    table, so these figures are rebuilt on every edit.
    """
    sizes = [len(r) for r in rewards]
    flat = [v for group in rewards for v in group]
    data = [dict(
        type="bar", x=_group_axis(group_labels, sizes), y=flat, name="reward", marker=dict(color=OKABE_ITO["sky"]),
        customdata=[h for group in hover for h in group],
        hovertemplate="%{customdata}<br>reward %{y:.3f}<extra></extra>",
    )]
    # Markers are horizontal dashes so that a group of one (a single point, no line) still shows its mean.
    x, y = _gapped(group_labels, [[m] * n for m, n in zip(means, sizes)])
    data.append(dict(
        type="scatter", x=x, y=y, name="group mean", mode="lines+markers", line=dict(color=OKABE_ITO["black"], width=3),
        marker=dict(symbol="line-ew-open", size=28, line=dict(width=3, color=OKABE_ITO["black"])),
        hovertemplate="mean %{y:.3f}<extra></extra>",
    ))
    for sign, name in ((1, "mean + std"), (-1, "mean − std")):
        x, y = _gapped(group_labels, [[m + sign * s] * n for m, s, n in zip(means, stds, sizes)])
        data.append(dict(
            type="scatter", x=x, y=y, name="mean ± std", legendgroup="std", showlegend=sign == 1, mode="lines+markers",
            line=dict(color=OKABE_ITO["orange"], width=3, dash="dot"),
            marker=dict(symbol="line-ew-open", size=28, line=dict(width=3, color=OKABE_ITO["orange"])),
            hovertemplate=f"{name} %{{y:.3f}}<extra></extra>",
        ))
    layout = house_layout(title="Rewards", height=height, key=key, xaxis=dict(showgrid=False),
                          yaxis=dict(title=dict(text="reward")), bargap=0.25)
    return PlainFigure(data, layout)


def advantages_by_group(
    group_labels: Sequence[str],
    advantages: Sequence[Sequence[float]],
    hover: Sequence[Sequence[str]],
    *,
    title: str = "Advantages",
    height: int = HEIGHT,
    key: str = "advantages",
    show_values: bool = True,
) -> PlainFigure:
    """Advantage bars per group, sign encoded by colour *and* hatching, values printed on the bars."""
    sizes = [len(a) for a in advantages]
    flat = [v for group in advantages for v in group]
    bars = dict(
        type="bar", x=_group_axis(group_labels, sizes), y=flat, name="advantage",
        marker=dict(color=sign_colors(flat), pattern=dict(shape=sign_patterns(flat), fillmode="overlay",
                                                           fgcolor="white", size=8)),
        # Plain "0.87"/"-0.87": the sign is already in the bar's side, colour and hatching; shorter labels fit
        # over narrow bars at a projector-readable size (constraintext="none" stops Plotly shrinking them).
        text=[f"{v:.2f}" for v in flat] if show_values else None, textposition="outside", cliponaxis=False,
        textfont=dict(size=FONT_SIZE - 3), constraintext="none",
        customdata=[h for group in hover for h in group],
        hovertemplate="%{customdata}<br>advantage %{y:+.3f}<extra></extra>",
    )
    peak = max((abs(v) for v in flat), default=0.0) or 1.0
    layout = house_layout(
        title=title, height=height, key=key, xaxis=dict(showgrid=False),
        yaxis=dict(title=dict(text="advantage"), range=[-1.25 * peak, 1.25 * peak]),
        bargap=0.25, showlegend=False,
        shapes=[dict(type="line", xref="paper", x0=0, x1=1, y0=0, y1=0,
                     line=dict(color=OKABE_ITO["black"], width=1))],
    )
    return PlainFigure([bars], layout)


def subplot_grid(
    rows: int,
    cols: int,
    *,
    row_heights: Sequence[float] | None = None,
    titles: Sequence[str] = (),
    h_gap: float = 0.08,
    v_gap: float = 0.08,
) -> tuple[dict, dict[tuple[int, int], tuple[str, str]]]:
    """A ``rows x cols`` grid of axes as a plain layout dict, and ``{(row, col): (xref, yref)}`` (1-based).

    What ``plotly.subplots.make_subplots`` does, without its cost (~18 ms per call, measured: it dominated
    a page's rerun). Axes carry :func:`house_layout`'s white-axis style, so pass the dict on as
    ``PlainFigure(data, house_layout(..., **grid_layout))`` (merge your own keys in first: building a
    figure in one go is much cheaper than many ``update_layout``/``add_shape`` calls). Columns share their
    x axis (zoom one panel, the panels below follow); only the bottom row shows x tick labels. ``titles``
    (row-major) go above each panel, as ``layout["annotations"]``. Add traces with ``xaxis=xref,
    yaxis=yref``; shapes with ``xref=xref, yref=f"{yref} domain"``.
    """
    heights = list(row_heights or [1.0] * rows)
    scale = (1.0 - v_gap * (rows - 1)) / sum(heights)
    width = (1.0 - h_gap * (cols - 1)) / cols
    refs: dict[tuple[int, int], tuple[str, str]] = {}
    layout: dict = {"annotations": []}
    top = 1.0
    for r in range(1, rows + 1):
        bottom = max(0.0, top - heights[r - 1] * scale)
        for c in range(1, cols + 1):
            n = (r - 1) * cols + c
            suffix = "" if n == 1 else str(n)
            left = (c - 1) * (width + h_gap)
            layout[f"xaxis{suffix}"] = dict(**_WHITE_AXIS, domain=[left, left + width], anchor=f"y{suffix}",
                                            showticklabels=r == rows,
                                            **({} if r == 1 else {"matches": "x" if c == 1 else f"x{c}"}))
            layout[f"yaxis{suffix}"] = dict(**_WHITE_AXIS, domain=[bottom, top], anchor=f"x{suffix}")
            refs[(r, c)] = (f"x{suffix}", f"y{suffix}")
            if n <= len(titles) and titles[n - 1]:
                layout["annotations"].append(dict(
                    text=titles[n - 1], x=left + width / 2, y=top, xref="paper", yref="paper", xanchor="center",
                    yanchor="bottom", yshift=4, showarrow=False, font=dict(size=FONT_SIZE)))
        top = bottom - v_gap
    return layout, refs


# --- Live training page: streaming curves redrawn several times a second, so figures are built cheaply. ---

#: plotly_white's look as plain layout values (what the streaming charts need of the template).
_WHITE_AXIS = dict(gridcolor="#EBF0F8", linecolor="#EBF0F8", zerolinecolor="#EBF0F8", zerolinewidth=2,
                   automargin=True, ticks="")


def house_layout(*, title: str | None = None, height: int = HEIGHT, key: str = "", xaxis: dict | None = None,
                 yaxis: dict | None = None, **overrides) -> dict:
    """The house style as a plain ``layout`` dict for ``PlainFigure(data, layout)``.

    Okabe-Ito palette, projector-sized fonts, margins, legend and ``uirevision`` (``key``: the user's zoom
    survives reruns until it changes), with ``template="none"`` and plotly_white's few visible settings
    spelled out: resolving and validating the ``plotly_white``
    template costs ~10-15 ms per figure, this ~1.5 ms (bench/bench_training.py measures both), which
    matters for charts redrawn several times a second. ``overrides`` replace top-level keys.
    """
    layout = dict(
        template=NO_TEMPLATE, plot_bgcolor="white", paper_bgcolor="white", hovermode="closest",
        title=dict(text=title, x=0.0, xanchor="left") if title else None,
        height=height,
        font=dict(size=FONT_SIZE, color="#2a3f5f"),
        colorway=SERIES,
        margin=dict(l=60, r=20, t=60 if title else 20, b=50),
        legend=dict(orientation="h", yanchor="bottom", y=1.02, xanchor="right", x=1.0),
        uirevision=key or title or "grpo",
        hoverlabel=dict(font=dict(size=FONT_SIZE - 2)),
        xaxis={**_WHITE_AXIS, **(xaxis or {})},
        yaxis={**_WHITE_AXIS, **(yaxis or {})},
    )
    layout.update(overrides)
    return layout


def thin(count: int, max_points: int = 400):
    """Indices (numpy) of at most ``max_points`` of ``count`` evenly spread points, the last one always
    kept: a long run stays cheap to send and draw, and the newest step is always on the chart."""
    import numpy as np

    if count <= max_points:
        return np.arange(count)
    return np.unique(np.linspace(0, count - 1, max_points).round().astype(np.int64))


#: Plotly's "Cividis" as the stops graph objects would resolve the name to: ordered and colour-blind safe.
CIVIDIS = [[i / (len(pc.sequential.Cividis) - 1), c] for i, c in enumerate(pc.sequential.Cividis)]


def answer_distribution_heatmap(steps, probs, answers: Sequence[str], right: int, *, title: str,
                                height: int = 420, key: str = "") -> PlainFigure:
    """Probability of each answer (rows) at each step (columns); ``probs`` is ``(steps, answers)``. The right
    answer's row is outlined and labelled. Cividis: ordered and colour-blind safe."""
    import numpy as np

    return PlainFigure([dict(
        type="heatmap", x=steps, y=list(answers), z=np.asarray(probs, dtype=np.float32).T, zmin=0.0, zmax=1.0,
        colorscale=CIVIDIS, colorbar=dict(title=dict(text="P"), thickness=14),
        hovertemplate="step %{x}<br>answer %{y}<br>P = %{z:.3f}<extra></extra>",
    )], house_layout(
        title=title, height=height, key=key, xaxis=dict(title=dict(text="step")),
        yaxis=dict(title=dict(text="answer token"), type="category", gridcolor="rgba(0,0,0,0)"),
        shapes=[dict(type="rect", xref="x domain", x0=0, x1=1, yref="y", y0=right - 0.5, y1=right + 0.5,
                     line=dict(color=OKABE_ITO["orange"], width=3))],
        annotations=[dict(text=f"right answer: {answers[right]}", xref="x domain", x=0.0, xanchor="left", yref="y",
                          y=right + 0.5, yanchor="bottom", showarrow=False, font=dict(color=OKABE_ITO["black"]),
                          bgcolor="rgba(255,255,255,0.85)")],
    ))


def runs_overlay(runs: Sequence[tuple], *, title: str, y_title: str, x_title: str = "step", height: int = 380,
                 key: str = "") -> PlainFigure:
    """One line per ``(label, steps, values)`` run, colour *and* dash differing; labels in a legend below."""
    dashes = ("solid", "dash", "dot", "dashdot", "longdash", "longdashdot")
    traces = [
        dict(type="scatter", x=steps, y=values, mode="lines", name=plain_label(label, 90),
                   line=dict(color=SERIES[i % len(SERIES)], width=2.5, dash=dashes[i % len(dashes)]))
        for i, (label, steps, values) in enumerate(runs)
    ]
    return PlainFigure(traces, house_layout(
        title=title, height=height + 26 * len(runs), key=key, xaxis=dict(title=dict(text=x_title)),
        yaxis=dict(title=dict(text=y_title)), showlegend=True,
        legend=dict(orientation="v", yanchor="top", y=-0.18, xanchor="left", x=0.0, font=dict(size=FONT_SIZE - 2)),
        margin=dict(l=60, r=20, t=60, b=70 + 26 * len(runs)),
    ))


def training_dashboard(steps, panels: Sequence[tuple], *, cols: int = 2, panel_height: int = 230,
                       key: str = "training", band_name: str = "± group std") -> PlainFigure:
    """The live-training curves as **one** figure: a grid of panels sharing the step axis.

    ``panels`` is a sequence of ``(title, {line name: values}, band)`` with ``band`` ``None`` or
    ``(low, high)`` shaded under the panel's first line (named ``band_name`` in the legend). Within a panel
    lines differ by colour *and* dash; names of multi-line panels go to the one legend. One figure (one Plotly.react in the browser) instead
    of one per metric keeps a refresh several times a second cheap on both ends.
    """
    rows = -(-len(panels) // cols)
    grid, refs = subplot_grid(rows, cols, titles=[p[0] for p in panels], h_gap=0.09, v_gap=0.11)
    dashes = ("solid", "dash", "dot", "dashdot")
    traces = []
    legend_colour = 0  # lines named in the one legend get colours of their own across panels
    for n, (title, series, band) in enumerate(panels):
        xref, yref = refs[(n // cols + 1, n % cols + 1)]
        shown = [*series.values(), *(band or ())]
        if all(len(v) and min(v) >= 0 for v in shown):  # a fraction at 0 reads as 0 at the bottom, not mid-panel
            grid["yaxis" + yref[1:]]["rangemode"] = "nonnegative"
        if band is not None:
            low, high = band
            traces.append(dict(type="scatter", x=steps, y=high, mode="lines", line=dict(width=0), hoverinfo="skip",
                                     showlegend=False, xaxis=xref, yaxis=yref))
            traces.append(dict(type="scatter", x=steps, y=low, mode="lines", line=dict(width=0), fill="tonexty",
                                     fillcolor="rgba(0, 114, 178, 0.18)", name=band_name, hoverinfo="skip",
                                     xaxis=xref, yaxis=yref))
        for i, (name, values) in enumerate(series.items()):
            colour = SERIES[0]
            if len(series) > 1:
                colour = SERIES[legend_colour % len(SERIES)]
                legend_colour += 1
            traces.append(dict(type="scatter", x=steps, y=values, mode="lines", name=name, xaxis=xref, yaxis=yref,
                                     showlegend=len(series) > 1,
                                     line=dict(color=colour, width=2.2, dash=dashes[i % len(dashes)]),
                                     hovertemplate=f"{plain_label(name)}: %{{y:.4g}}<extra>step %{{x}}</extra>"))
    for n in range(len(panels), rows * cols):  # an empty cell of the grid shows nothing
        xref, yref = refs[(n // cols + 1, n % cols + 1)]
        grid["xaxis" + xref[1:]]["visible"] = False
        grid["yaxis" + yref[1:]]["visible"] = False
    bottom = f"xaxis{'' if rows * cols == 1 else (rows - 1) * cols + 1}"
    grid.setdefault(bottom.replace("xaxis1", "xaxis"), {})["title"] = dict(text="step")
    # Fixed margins (70 px holds tick labels such as −0.0123, −1.5e-4 or −100k) and a zero-length
    # ``transition``: a refresh that brings only new points then takes Plotly.react's animation path, which
    # redraws the traces and ticks without the whole figure (a draw 1.55x faster in Chromium than with
    # automargin and no transition, bench/bench_browser.py part 2). That path does not move margins, so with
    # automargin a refresh whose labels grew drew lines past their panels
    # (tests/browser/test_dashboard_redraw_browser.py).
    layout = house_layout(height=rows * panel_height + 120, key=key, showlegend=True,
                          margin=dict(l=70, r=15, t=40, b=60), transition=dict(duration=0),
                          legend=dict(orientation="h", yanchor="bottom", y=1.0 + 40 / (rows * panel_height),
                                      xanchor="left", x=0.0, font=dict(size=FONT_SIZE - 3)))
    for name, axis in grid.items():
        if name.startswith(("xaxis", "yaxis")):
            # Plotly's default for these axes ("hide past div") measures every tick label's box at each
            # draw; the labels stay inside the panels here, and skipping it made a draw 1.07-1.17x faster in
            # Chromium (bench/bench_browser.py).
            axis["ticklabeloverflow"] = "allow"
            axis["automargin"] = False
    layout.update(grid)
    return PlainFigure(traces, layout)


def training_panels(m: dict, kl_estimator: str) -> list[tuple]:
    """The live-training page's panels for :func:`training_dashboard`, from per-step metric arrays ``m``
    (``grpo_core.training.TRAIN_METRIC_NAMES`` keys). Shared with bench/bench_training.py, which times them."""
    return [
        ("Reward", {"mean reward": m["reward"]}, (m["reward"] - m["reward_std"], m["reward"] + m["reward_std"])),
        ("KL to the reference", {"KL exact": m["kl_ref"], f"KL {kl_estimator} estimate": m["kl"]}, None),
        ("Clipped fraction", {"clip low": m["clip_ratio/low_mean"], "clip high": m["clip_ratio/high_mean"],
                              "clip either": m["clip_ratio/region_mean"]}, None),
        ("Groups with no reward spread", {"zero-std groups": m["frac_reward_zero_std"]}, None),
        ("Entropy (nats)", {"entropy": m["entropy"]}, None),
        ("Completion length (tokens)", {"length": m["completion_length"]}, None),
        ("Loss", {"loss": m["loss"]}, None),
        ("Right answers", {"right": m["accuracy"]}, None),
    ]


#: Diverging, colour-blind safe (Okabe-Ito blue to vermilion through near-white), centred by ``zmid``.
DIVERGING = [[0.0, OKABE_ITO["blue"]], [0.5, "#F4F4F4"], [1.0, OKABE_ITO["vermilion"]]]
#: Marks drawn on clipped tokens, so that the clip side reads without colour.
CLIP_MARKS = {1: "▲", -1: "▼", 0: ""}


def token_grid(values, texts: Sequence[Sequence[str]], clip_side, row_labels: Sequence[str], *, neutral: float,
               label: str, numbers: np.ndarray, sentences: Sequence[str],
               number_labels: Sequence[str], title: str | None = None, key: str = "") -> PlainFigure:
    """Tokens as cells (rows: completions, columns: positions), coloured by ``values (R, T)`` on a diverging
    scale centred on ``neutral``; each cell shows its token's text, ▲/▼ for a token clipped at the high/low
    side (never colour alone). Empty ``texts`` cells are padding (blank).

    On mouse-over the ``k``-th real token (non-empty ``texts`` cell, row by row) shows its text, its row's
    label and its position, then ``numbers[k]`` (``(P, Q)``) under their ``number_labels``, then
    ``sentences[k]`` (Plotly-safe markup).
    The numbers travel as one typed array and one hover template formats them in the browser, which is
    lighter than a formatted string (or a JSON number) per token.

    The hover and the click belong to a second trace, one invisible marker per real token in row-major order
    (Plotly gives heatmaps no selection); the selected token is framed. Its point index ``k`` is the ``k``-th
    real token; its ``customdata[k]`` is ``numbers[k]``, its ``text[k]`` the token's text, ``hovertext[k]`` the
    sentence."""
    z = np.asarray(values, dtype=np.float64)
    side = np.asarray(clip_side)
    real = np.array([[bool(t) for t in row] for row in texts])
    z = np.where(real, z, np.nan)  # padding: no colour (Plotly leaves NaN cells empty)
    spread = float(np.nanmax(np.abs(z - neutral))) if np.isfinite(z).any() else 1.0
    spread = spread if spread > 0 else 1.0
    cells = [[(token_label(t) + CLIP_MARKS[int(s)]) if t else "" for t, s in zip(row, sides)]
             for row, sides in zip(texts, side)]
    layout = house_layout(
        title=title, height=max(240, 46 * z.shape[0] + 140), key=key,
        xaxis=dict(title=dict(text="token position"), side="top", type="category", gridcolor="rgba(0,0,0,0)"),
        yaxis=dict(type="category", autorange="reversed", gridcolor="rgba(0,0,0,0)"),
        # the x axis and its title sit on top: the chart's title goes above them, not over them
        margin=dict(l=60, r=20, t=110 if title else 70, b=20),
    )
    if title:
        layout["title"].update(yref="container", y=1.0, yanchor="top", pad=dict(t=12))
    layout["hoverlabel"] = dict(font=dict(size=FONT_SIZE - 2), align="left", bgcolor="white", bordercolor="#2a3f5f")
    rows, columns = np.nonzero(real)
    # "+.4~g": 4 significant digits, a sign always, no trailing zeros (Python's "+.4g")
    template = "<br>".join(["<b>%{text}</b> · %{y}, token %{x}",
                            *(f"{plain_label(name, 60)}: %{{customdata[{i}]:+.4~g}}" for i, name in enumerate(number_labels)),
                            "%{hovertext}"]) + "<extra></extra>"
    return PlainFigure([dict(
        type="heatmap", z=z, x=[str(i + 1) for i in range(z.shape[1])], y=list(row_labels), zmid=neutral,
        zmin=neutral - spread, zmax=neutral + spread, colorscale=DIVERGING, text=cells,
        texttemplate="%{text}", textfont=dict(size=FONT_SIZE), hoverinfo="skip", xgap=2, ygap=2,
        colorbar=dict(title=dict(text=label, side="right"), thickness=14),
    ), dict(
        type="scatter", mode="markers", x=[str(c + 1) for c in columns], y=[row_labels[r] for r in rows],
        customdata=numbers, text=[token_label(t) for row in texts for t in row if t], hovertext=list(sentences),
        hovertemplate=template, hoverlabel=dict(namelength=0), showlegend=False, name="tokens",
        marker=dict(symbol="square-open", size=34, color=OKABE_ITO["black"], line=dict(width=4), opacity=0),
        selected=dict(marker=dict(opacity=1)), unselected=dict(marker=dict(opacity=0)),
    )], layout)


# --- Ratio and clipping page: the clipped objective and its gradients along the ratio, and the reader's point. ---

#: The second line of the gradient panels: what backpropagation hands the policy's log-probability.
LOG_GRADIENT_NAME = "r·dJ/dr = ∂J/∂log π (what backprop sees)"


def clip_panels(curves: dict, point, *, ratio: float, advantage: float, region: tuple[float, float],
                delta: float | None, x_max: float, key: str = "ratio-clipping") -> PlainFigure:
    """The objective J (top) and its gradients dJ/dr and r·dJ/dr (bottom) along the ratio, A > 0 | A < 0.

    ``curves`` maps the sign (1, -1) to a ``grpo_core.curves.SurrogateCurve``; ``point`` is the reader's
    ``ClipStatus`` at ``(ratio, advantage)``, marked on the panels of its sign. ``region`` is the trust
    region ``(1 − ε, 1 + ε_high)``, shaded in every panel; ``delta`` (dual clip) is a dotted line in the
    A < 0 panels.
    """
    low, high = region
    magnitude = abs(advantage) if advantage != 0 else 1.0
    # Both gradient panels share one scale, wide enough for r·dJ/dr, which grows with r where J follows r·A.
    gradient_reach = max(magnitude, *(curves[s].log_gradient.abs().max().item() for s in (1, -1)))
    layout, grid = subplot_grid(
        2, 2, row_heights=[0.64, 0.36],
        titles=(f"A = +{magnitude:g} (better than the group)", f"A = −{magnitude:g} (worse than the group)"),
    )
    x = curves[1].ratio.numpy()
    point_col = 0 if advantage == 0 else 1 if advantage > 0 else 2
    marker = dict(size=16, symbol="diamond", color=OKABE_ITO["black"], line=dict(color="white", width=2))
    traces, shapes, axes = [], [], {}
    for col, sign in ((1, 1), (2, -1)):
        curve = curves[sign]
        first = col == 1
        (xo, yo), (xg, yg) = grid[(1, col)], grid[(2, col)]
        for xref, yref in ((xo, yo), (xg, yg)):
            shapes.append(dict(type="rect", x0=low, x1=high, xref=xref, y0=0, y1=1, yref=f"{yref} domain",
                               fillcolor=REGION_FILL, line=dict(width=0), layer="below"))
            shapes.append(dict(type="line", x0=1, x1=1, xref=xref, y0=0, y1=1, yref=f"{yref} domain",
                               line=dict(color=NEUTRAL, width=1), layer="below"))
            if delta is not None and sign < 0:
                shapes.append(dict(type="line", x0=delta, x1=delta, xref=xref, y0=0, y1=1, yref=f"{yref} domain",
                                   line=dict(color=OKABE_ITO["black"], width=2, dash="dot")))
        traces.append(dict(
            type="scatter", x=x, y=curve.unclipped.numpy(), xaxis=xo, yaxis=yo, name="unclipped r·A",
            legendgroup="unclipped", showlegend=first, line=dict(color=NEUTRAL, dash="dash", width=2),
            hoverinfo="skip",
        ))
        traces.append(dict(
            type="scatter", x=x, y=curve.objective.numpy(), xaxis=xo, yaxis=yo, name="clipped objective J(r)",
            legendgroup="objective", showlegend=first, line=dict(color=OKABE_ITO["orange"], width=4),
            hovertemplate="r = %{x:.2f}<br>J = %{y:.3f}<extra></extra>",
        ))
        traces.append(dict(
            type="scatter", x=x, y=curve.gradient.numpy(), xaxis=xg, yaxis=yg, name="dJ/dr (autograd)",
            legendgroup="gradient", showlegend=first, line=dict(color=OKABE_ITO["blue"], width=3),
            hovertemplate="r = %{x:.2f}<br>dJ/dr = %{y:.3f}<extra></extra>",
        ))
        traces.append(dict(
            type="scatter", x=x, y=curve.log_gradient.numpy(), xaxis=xg, yaxis=yg, name=LOG_GRADIENT_NAME,
            legendgroup="log_gradient", showlegend=first, line=SECOND_LINE,
            hovertemplate="r = %{x:.2f}<br>∂J/∂log π = r·dJ/dr = %{y:.3f}<extra></extra>",
        ))
        if col == point_col:
            traces.append(dict(
                type="scatter", x=[ratio], y=[point.objective], xaxis=xo, yaxis=yo, mode="markers",
                name="your point", legendgroup="point", marker=marker,
                hovertemplate="r = %{x:.2f}<br>J = %{y:.3f}<extra>your point</extra>",
            ))
            traces.append(dict(
                type="scatter", x=[ratio, ratio], y=[point.gradient, point.log_gradient], xaxis=xg, yaxis=yg,
                mode="markers", name="your point", legendgroup="point", showlegend=False, marker=marker,
                customdata=["dJ/dr", "r·dJ/dr"],
                hovertemplate="r = %{x:.2f}<br>%{customdata} = %{y:.3f}<extra>your point</extra>",
            ))
        axes[f"xaxis{xo[1:]}"] = dict(range=[0, x_max])
        axes[f"xaxis{xg[1:]}"] = dict(range=[0, x_max], title=dict(text="ratio r = π_new / π_old"))
        axes[f"yaxis{yg[1:]}"] = dict(range=[-1.15 * gradient_reach, 1.15 * gradient_reach], zeroline=True,
                                      zerolinecolor=OKABE_ITO["black"], zerolinewidth=2)
    annotations = layout["annotations"]
    xo, yo = grid[(1, 1)]
    annotations.append(dict(x=(low + high) / 2, xref=xo, y=0.99, yref=f"{yo} domain", text="trust<br>region",
                            showarrow=False, yanchor="top", font=dict(size=FONT_SIZE - 2)))
    if delta is not None:
        xo, yo = grid[(1, 2)]
        annotations.append(dict(x=delta, xref=xo, y=1.0, yref=f"{yo} domain", text=" δ", showarrow=False,
                                yanchor="top", xanchor="left"))
    for name, extra in axes.items():
        layout[name] = {**layout.get(name, {}), **extra}
    layout["shapes"] = shapes
    layout["yaxis"]["title"] = dict(text="objective J")
    layout["yaxis3"]["title"] = dict(text="gradient")
    # The legend goes below the panels: above them it would collide with the panel titles.
    layout["legend"] = dict(orientation="h", yanchor="top", y=-0.14, xanchor="center", x=0.5)
    layout["margin"] = dict(l=60, r=20, t=40, b=40)
    return PlainFigure(traces, house_layout(height=680, key=key, **layout))


# --- Algorithms page: the family's objectives along the ratio, and per-token pushes on a toy batch. ---

#: Line dashes that go with :data:`SERIES`, so that series differ by colour *and* dash.
DASHES = ("solid", "dash", "dot", "dashdot", "longdash", "longdashdot")
#: Diverging, colour-blind safe: vermilion (made less likely) - white - blue (made more likely).
PUSH_SCALE = [[0.0, NEGATIVE], [0.5, "#FFFFFF"], [1.0, POSITIVE]]


def objective_sweeps(ratios, series: Sequence[tuple], *, height: int = 640, key: str = "sweeps") -> PlainFigure:
    """Objective J (top row) and its push ∂J/∂log π (bottom row) along the ratio, A > 0 | A < 0.

    ``series`` is a sequence of ``(label, {1: (J, push), -1: (J, push)})``; series ``i`` is drawn in
    ``SERIES[i]`` with ``DASHES[i]``, in the four panels x/y (J, A > 0), x2/y2 (J, A < 0), x3/y3 (push,
    A > 0), x4/y4 (push, A < 0). A grey line marks r = 1 in each panel.
    """
    layout, grid = subplot_grid(2, 2, titles=("A = +1 (better than the group)", "A = −1 (worse than the group)"),
                                v_gap=0.1)
    x = ratios.numpy() if hasattr(ratios, "numpy") else ratios
    traces, shapes = [], []
    for i, (label, curves) in enumerate(series):
        line = dict(color=SERIES[i % len(SERIES)], width=3, dash=DASHES[i % len(DASHES)])
        name = plain_label(label, 60)
        for col, sign in ((1, 1), (2, -1)):
            for row, values, what in ((1, curves[sign][0], "J"), (2, curves[sign][1], "∂J/∂log π")):
                xref, yref = grid[(row, col)]
                traces.append(dict(
                    type="scatter", x=x, y=values.numpy() if hasattr(values, "numpy") else values,
                    xaxis=xref, yaxis=yref,
                    mode="lines", name=name, legendgroup=name, showlegend=row == 1 and col == 1, line=line,
                    hovertemplate=f"{name}<br>r = %{{x:.3f}}<br>{what} = %{{y:.4f}}<extra></extra>"))
    for xref, yref in grid.values():
        shapes.append(dict(type="line", x0=1, x1=1, xref=xref, y0=0, y1=1, yref=f"{yref} domain",
                           line=dict(color=NEUTRAL, width=1), layer="below"))
        layout["xaxis" + xref[1:]]["range"] = [0, float(x[-1])]
    layout["xaxis3"]["title"] = dict(text="ratio r = π_new / π_old")
    layout["xaxis4"]["title"] = dict(text="ratio r = π_new / π_old")
    layout["yaxis"]["title"] = dict(text="objective J")
    layout["yaxis3"]["title"] = dict(text="push ∂J/∂log π")
    for n in (3, 4):
        layout[f"yaxis{n}"].update(zeroline=True, zerolinecolor=OKABE_ITO["black"], zerolinewidth=1.5)
    layout.update(shapes=shapes, legend=dict(orientation="h", yanchor="top", y=-0.16, xanchor="center", x=0.5),
                  margin=dict(l=70, r=20, t=40, b=70))
    return PlainFigure(traces, house_layout(height=height, key=key, **layout))


def push_heatmaps(panels: Sequence[tuple], row_labels: Sequence[str], *, key: str = "pushes") -> PlainFigure:
    """One heatmap per ``(title, push)`` panel, stacked: ``push`` is a completions × tokens numpy array, NaN on
    padding (drawn as a gap, no hover), on one shared colour scale centred on 0. Each cell also prints its sign
    (+, − or 0 for a push of exactly 0), so sign never rests on colour alone."""
    import numpy as np

    rows = len(panels)
    tokens = max((z.shape[1] for _, z in panels), default=1)
    height = rows * (34 * len(row_labels) + 60) + 90
    layout, grid = subplot_grid(rows, 1, titles=[t for t, _ in panels], v_gap=60 / (height - 90))
    peak = max((float(np.nanmax(np.abs(z))) for _, z in panels if np.isfinite(z).any()), default=0.0) or 1.0
    labels = [plain_label(s, 30) for s in row_labels]
    traces = []
    for n, (title, z) in enumerate(panels):
        xref, yref = grid[(n + 1, 1)]
        text = np.where(np.isnan(z), "", np.where(z > 0, "+", np.where(z < 0, "−", "0"))).tolist()
        traces.append(dict(
            type="heatmap", z=z, x=np.arange(1, tokens + 1), y=labels, text=text, texttemplate="%{text}", xaxis=xref,
            yaxis=yref, coloraxis="coloraxis", xgap=2, ygap=2, hoverongaps=False, name=plain_label(title, 60),
            hovertemplate="%{y}, token %{x}<br>push %{z:.4f}<extra></extra>"))
        layout["yaxis" + yref[1:]].update(autorange="reversed", type="category", showgrid=False)
        layout["xaxis" + xref[1:]].update(showgrid=False, dtick=1 if tokens <= 12 else 2, tickangle=0,
                                          tickfont=dict(size=FONT_SIZE - 3))
    layout[f"xaxis{'' if rows == 1 else rows}"]["title"] = dict(text="token")
    layout["coloraxis"] = dict(colorscale=PUSH_SCALE, cmin=-peak, cmax=peak,
                               colorbar=dict(title=dict(text="push"), thickness=14))
    return PlainFigure(traces, house_layout(height=height, key=key, margin=dict(l=130, r=20, t=40, b=50),
                                                 **layout))


# --- KL and β page: the mean gradient of each KL term, against the gradients of the two KL divergences. ---

#: One look per KL term (k1/k2/k3 in the loss, k1/k3 in the reward): colour *and* bar pattern.
KL_TERM_STYLES = {
    "k1": dict(color=OKABE_ITO["vermilion"], pattern=""),
    "k2": dict(color=OKABE_ITO["sky"], pattern="/"),
    "k3": dict(color=OKABE_ITO["blue"], pattern="."),
    "k1_reward": dict(color=OKABE_ITO["green"], pattern="x"),
    "k3_reward": dict(color=OKABE_ITO["purple"], pattern="-"),
}
#: The exact targets, one shape each (shape tells them apart without colour).
KL_TARGET_SYMBOLS = ("diamond", "x", "triangle-up")
KL_TARGET_COLORS = (OKABE_ITO["black"], OKABE_ITO["orange"], OKABE_ITO["black"])


def kl_gradient_bars(parameters: Sequence[str], terms: Sequence[tuple], targets: Sequence[tuple], *, title: str,
                     height: int = 420, key: str = "kl-gradients") -> PlainFigure:
    """Grouped bars, one group per parameter: each ``(term, name, means, errors)`` of ``terms`` is one bar per
    parameter (styled by :data:`KL_TERM_STYLES[term]`) with ± ``errors`` whiskers. Each ``(name, values, on)``
    of ``targets`` (at most three) is a marker per parameter drawn on top of the bars of the terms in ``on``,
    so that a bar and the exact value it should reach sit on one vertical line.

    The x axis is numeric (group ``p`` centred on ``p``, ticks named by ``parameters``) so that markers can sit
    exactly on their bars."""
    count = len(terms)
    width = 0.8 / max(count, 1)
    offset = {term: (j - (count - 1) / 2) * width for j, (term, *_rest) in enumerate(terms)}
    centres = list(range(len(parameters)))
    data = []
    for term, name, means, errors in terms:
        style = KL_TERM_STYLES[term]
        data.append(dict(
            type="bar", x=[c + offset[term] for c in centres], y=list(means), name=name, width=width * 0.92,
            customdata=list(parameters),
            marker=dict(color=style["color"], line=dict(color=OKABE_ITO["black"], width=1),
                        pattern=dict(shape=style["pattern"], fgcolor="white", fillmode="overlay")),
            error_y=dict(type="data", array=list(errors), visible=True, color=OKABE_ITO["black"], thickness=1.5),
            hovertemplate=f"{name}<br>%{{customdata}}: %{{y:.4f}}<extra></extra>",
        ))
    for (name, values, on), symbol, color in zip(targets, KL_TARGET_SYMBOLS, KL_TARGET_COLORS):
        data.append(dict(
            type="scatter", x=[c + offset[term] for term in on for c in centres], y=[v for _ in on for v in values],
            customdata=[p for _ in on for p in parameters], name=name, mode="markers", cliponaxis=False,
            marker=dict(size=14, symbol=symbol, color=color,
                        line=dict(color="white" if symbol != "x" else color, width=1.5)),
            hovertemplate=f"{name}<br>%{{customdata}}: %{{y:.4f}}<extra></extra>",
        ))
    layout = house_layout(
        title=title, height=height, key=key, barmode="overlay",
        xaxis=dict(tickmode="array", tickvals=centres, ticktext=list(parameters), range=[-0.5, len(parameters) - 0.5],
                   showgrid=False, zeroline=False),
        yaxis=dict(title=dict(text="mean gradient (β = 1)"), zeroline=True, zerolinecolor=OKABE_ITO["grey"],
                   zerolinewidth=2),
        legend=dict(orientation="h", yanchor="top", y=-0.12, xanchor="left", x=0.0),
        margin=dict(l=70, r=20, t=60, b=40),
    )
    return PlainFigure(data, layout)
