"""What one figure costs the server: built as a plain spec (``charts.PlainFigure``) against graph objects.

    .venv/bin/python bench/bench_figures.py [--rounds 15] [--quick]

For the figures of the Ratio and clipping, Live training / Your run, Reward groups and KL and β pages, each
built from the same inputs three ways, in turns (so this shared machine's load hits all alike), each followed
by what ``st.plotly_chart`` then does with it (Streamlit 1.67: ``return_figure_from_figure_or_data(...,
validate_figure=True)`` and ``plotly.io.to_json``):

- graph objects: ``go.Figure(data=..., layout=...)`` from the builder's traces and layout, validating every
  property, as the figures were built before issue 11;
- plain spec: ``charts.PlainFigure``, the finished spec without validators or copies;
- cached: only the sending of a figure already built (what a figure cache hit costs a rerun).

Issue 11's table: the first two columns' ratio is what building figures as plain specs bought per figure.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "app")]
from bench.quiet import silence_bare_mode_warning  # noqa: E402

silence_bare_mode_warning()
import numpy as np  # noqa: E402
import plotly.graph_objects as go  # noqa: E402
import plotly.io as pio  # noqa: E402
import plotly.tools  # noqa: E402

import charts  # noqa: E402
import ratio_figures  # noqa: E402
from grpo_core import reward_table as rt  # noqa: E402
from grpo_core.curves import clip_status, surrogate_curve, trust_region  # noqa: E402
from grpo_core.training import TrainConfig, Trainer  # noqa: E402


def send(figures) -> None:
    """What ``st.plotly_chart`` does with each figure before it leaves the server."""
    for figure in figures:
        pio.to_json(plotly.tools.return_figure_from_figure_or_data(figure, validate_figure=True), validate=False)


def cases(steps: int) -> dict:
    """Builders of the pages' figures, each returning a tuple of figures, with the pages' inputs."""
    ratios = ratio_figures.ratio_sweep(2.5, trust_region(0.2, 0.2))
    curves = {s: surrogate_curve(ratios, float(s), epsilon=0.2, epsilon_high=0.2, delta=None) for s in (1, -1)}
    point = clip_status(1.5, 1.0, epsilon=0.2)
    trainer = Trainer(TrainConfig(seed=0, max_steps=10**6), device="cpu")
    for _ in range(steps):
        trainer.step()
    table = trainer.history.table().numpy()
    metrics = {name: table[:, i] for i, name in enumerate(trainer.history.names)}
    summary = rt.summarize(next(iter(rt.PRESETS.values())).table, scale="group")
    labels = [f"P{b + 1}" for b in range(len(summary.groups))]
    hover = [[f"P{b + 1}: {c}" for c in g.completions] for b, g in enumerate(summary.groups)]
    groups = summary.groups
    return {
        "ratio-clipping: clip_panels": lambda: (charts.clip_panels(
            curves, point, ratio=1.5, advantage=1.0, region=trust_region(0.2, 0.2), delta=None, x_max=2.5),),
        f"training, your-run: dashboard ({steps} steps)": lambda: (charts.training_dashboard(
            np.arange(1, steps + 1), charts.training_panels(metrics, "k3")),),
        "reward-groups: rewards + advantages": lambda: (
            charts.rewards_by_group(labels, [g.rewards for g in groups], [g.mean for g in groups],
                                    [g.std for g in groups], hover),
            charts.advantages_by_group(labels, [g.advantages for g in groups], hover)),
        "kl-beta: kl_gradient_bars": lambda: (charts.kl_gradient_bars(
            ["μ", "log σ"], [(t, t, np.array([0.1, -0.2]), np.array([0.01, 0.02])) for t in charts.KL_TERM_STYLES],
            [("exact", np.array([0.1, 0.2]), ("k2",))], title="t"),),
    }


def graph_objects(data: list[dict], layout: dict) -> go.Figure:
    """How the figures were built before: graph objects from the same traces and layout, validated."""
    return go.Figure(data=data, layout=layout)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--quick", action="store_true", help="a smoke run: 2 rounds, a short training run")
    args = parser.parse_args(argv)
    rounds = 2 if args.quick else args.rounds
    builders = cases(steps=20 if args.quick else 200)
    plain = charts.PlainFigure
    times: dict[tuple[str, str], list[float]] = {}
    try:
        for r in range(rounds):
            for name, build in builders.items():
                for mode in (("graph objects", "plain spec") if r % 2 == 0 else ("plain spec", "graph objects")):
                    charts.PlainFigure = graph_objects if mode == "graph objects" else plain
                    start = time.perf_counter()
                    figures = build()
                    send(figures)
                    times.setdefault((name, mode), []).append(time.perf_counter() - start)
                    if mode == "plain spec":
                        start = time.perf_counter()
                        send(figures)
                        times.setdefault((name, "cached"), []).append(time.perf_counter() - start)
    finally:
        charts.PlainFigure = plain
    print(f"One figure built and sent as st.plotly_chart sends it, medians of {rounds} rounds in turns")
    print(f"{'figure':<44} {'graph objects':>14} {'plain spec':>11} {'x faster':>9} {'cached (send only)':>19}")
    for name in builders:
        old, new, hit = (statistics.median(times[(name, mode)]) * 1000
                         for mode in ("graph objects", "plain spec", "cached"))
        print(f"{name:<44} {old:11.2f} ms {new:8.2f} ms {old / new:9.1f} {hit:16.2f} ms")


if __name__ == "__main__":
    main()
