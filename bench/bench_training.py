"""Live-training speed, measured side by side in one run (run: ``.venv/bin/python bench/bench_training.py``).

Prints, for the default config (and the multi-token task):

- training steps per second, with the split between sampling (incl. rewards and the reference's
  log-probs; for the one-token task also the policy's forward pass, which sampling and the first update
  share), the update (forward where not shared, grpo_loss, backward, Adam) and drawing (building the Plotly figures
  and the table the page builds for one refresh, and serialising them as Streamlit does);
- the step time as a ratio to the bare policy forward + backward on the same batch (``log_softmax``,
  gather, ``sum().backward()``), measured interleaved with the steps so that load hits both alike;
- the cost of one figure with Plotly's ``plotly_white`` template against ``charts.house_layout()`` (why the
  house style is a plain dict).

Rounds alternate the measured things and the medians over rounds are printed, because this machine's
cores are shared: absolute times move with the load, ratios much less.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "app")]

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import plotly.graph_objects as go  # noqa: E402
import plotly.io as pio  # noqa: E402
import torch  # noqa: E402

import charts  # noqa: E402
import live_timing  # noqa: E402
from grpo_core import grpo_loss  # noqa: E402
from grpo_core.training import TrainConfig, Trainer  # noqa: E402


def bare_forward_backward(trainer: Trainer, batch) -> None:
    """The policy alone on the step's batch: forward, log-softmax, gather, backward."""
    index, previous, prior, tokens = batch
    logp = trainer._log_probs(trainer.policy, index, previous, prior).gather(-1, tokens).squeeze(-1)
    trainer.policy.zero_grad(set_to_none=True)
    logp.sum().backward()


def grpo_loss_alone(trainer: Trainer, batch, repeats: int) -> float:
    """Seconds per :func:`grpo_loss` forward + backward on the batch's shapes (leaf log-probs, no policy)."""
    index, previous, prior, tokens = batch
    cfg = trainer.config
    with torch.no_grad():
        logp_ref = trainer._reference_log_probs(index, previous, prior).gather(-1, tokens).squeeze(-1)
    logp = logp_ref.clone().requires_grad_()
    rewards = (torch.rand(cfg.prompts_per_step, cfg.group_size, generator=trainer.generator) > 0.5).float()
    mask = torch.ones_like(logp, dtype=torch.bool)

    def once():
        grpo_loss(logp, None, logp_ref, rewards, mask, beta=cfg.beta).loss.backward()

    once()
    start = time.perf_counter()
    for _ in range(repeats):
        once()
    return (time.perf_counter() - start) / repeats


def make_batch(trainer: Trainer):
    cfg = trainer.config
    index = torch.randint(trainer.task.num_prompts, (cfg.prompts_per_step,), generator=trainer.generator)
    index = index.repeat_interleave(cfg.group_size)
    completions, _ = trainer._sample(index)
    return index, trainer._previous(completions), trainer._prior(index, completions), completions[:, :, None]


def draw_once(trainer: Trainer, last) -> None:
    """What one refresh of the page builds: the dashboard, the answer heatmap, the groups table."""
    table = trainer.history.table()
    index = charts.thin(table.shape[0], 200)  # training_view.LIVE_POINTS
    rows = table[torch.as_tensor(index)].numpy()
    m = {name: rows[:, i] for i, name in enumerate(trainer.history.names)}
    steps = index + 1
    panels = charts.training_panels(m, trainer.config.kl_estimator)
    figures = [charts.training_dashboard(steps, panels)]
    if trainer.probe_history:
        pick = charts.thin(len(trainer.probe_history), 120)  # training_view.HEATMAP_COLUMNS
        probs = torch.stack([trainer.probe_history[i][0] for i in pick]).numpy()
        figures.append(charts.answer_distribution_heatmap(pick + 1, probs, trainer.task.vocab, 3, title="P"))
    for fig in figures:  # what st.plotly_chart does with a figure
        pio.to_json(fig.to_dict(), validate=False)
    groups = last.groups[:4]
    pd.DataFrame([dict(prompt=g.prompt, completion=c, reward=r, advantage=a)
                  for g in groups for c, r, a in zip(g.completions, g.rewards, g.advantages)]).to_dict()


def bench_task(task: str, rounds: int, steps: int) -> None:
    torch.manual_seed(0)
    trainer = Trainer(TrainConfig(task=task, seed=0, max_steps=10**6), device="cpu")
    for _ in range(20):
        trainer.step()
    step_ms, sample_ms, update_ms, bare_ms, draw_ms, loss_ms = [], [], [], [], [], []
    threads = torch.get_num_threads()
    for _ in range(rounds):
        results = [trainer.step() for _ in range(steps)]
        timings = [r.timing for r in results]
        step_ms.append(1e3 * statistics.fmean(t["total"] for t in timings))
        sample_ms.append(1e3 * statistics.fmean(t["sample"] for t in timings))
        update_ms.append(1e3 * statistics.fmean(t["update"] for t in timings))
        torch.set_num_threads(1)  # as Trainer.step runs
        batch = make_batch(trainer)
        bare_forward_backward(trainer, batch)
        start = time.perf_counter()
        for _ in range(steps):
            bare_forward_backward(trainer, batch)
        bare_ms.append(1e3 * (time.perf_counter() - start) / steps)
        loss_ms.append(1e3 * grpo_loss_alone(trainer, batch, steps))
        torch.set_num_threads(threads)
        start = time.perf_counter()
        for _ in range(3):
            draw_once(trainer, results[-1])
        draw_ms.append(1e3 * (time.perf_counter() - start) / 3)
    step, bare, draw = map(statistics.median, (step_ms, bare_ms, draw_ms))
    ratios = sorted(a / b for a, b in zip(step_ms, bare_ms))  # per round: both measured moments apart
    ratio, low, high = statistics.median(ratios), ratios[len(ratios) // 4], ratios[(3 * len(ratios)) // 4]
    print(f"\n== task={task!r}, default config otherwise (B={trainer.config.prompts_per_step}, "
          f"G={trainer.config.group_size}, {trainer.num_parameters:,} parameters), CPU, medians of {rounds} rounds ==")
    print(f"training steps/s          : {1e3 / step:8.1f}   (target >= 100)   step {step:.2f} ms")
    print(f"  sampling (+rewards, ref): {statistics.median(sample_ms):8.2f} ms  "
          f"({statistics.median(sample_ms) / step:.0%} of the step)")
    print(f"  loss + backward + Adam  : {statistics.median(update_ms):8.2f} ms  "
          f"({statistics.median(update_ms) / step:.0%} of the step)")
    print(f"bare policy fwd+bwd       : {bare:8.2f} ms   step / bare = {ratio:.2f}x per round "
          f"(quartiles {low:.2f}-{high:.2f}; target <= 2x)")
    print(f"  of which grpo_loss alone: {statistics.median(loss_ms):8.2f} ms   (forward + backward on the same shapes "
          f"= {statistics.median(loss_ms) / bare:.2f}x the bare policy fwd+bwd)")
    print(f"drawing one refresh       : {draw:8.2f} ms   (dashboard + heatmap + groups table, serialised)")
    share = 1000 * 0.7 * live_timing.REFRESH_SECONDS  # the page's TICK_SHARE of its fastest refresh
    print(f"  = {draw / step:.1f} training steps; a {1000 * live_timing.REFRESH_SECONDS:.0f} ms refresh with this "
          f"drawing leaves {max(0.0, share - draw):.0f} ms (~{max(0.0, share - draw) / step:.0f} steps) of training "
          "at 70% of the interval")


def bench_style(rounds: int) -> None:
    x = np.arange(400, dtype=np.float64)
    y = np.random.default_rng(0).random(400)
    styled, plain = [], []
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(10):
            go.Figure([go.Scatter(x=x, y=y)], layout=dict(template="plotly_white", title="t")).to_dict()
        styled.append((time.perf_counter() - start) / 10 * 1e3)
        start = time.perf_counter()
        for _ in range(10):
            go.Figure([go.Scatter(x=x, y=y)], layout=charts.house_layout(title="t")).to_dict()
        plain.append((time.perf_counter() - start) / 10 * 1e3)
    s, p = statistics.median(styled), statistics.median(plain)
    print(f"\none figure: plotly_white template {s:.2f} ms vs house_layout() {p:.2f} ms -> {s / p:.1f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--steps", type=int, default=25)
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads available; Trainer.step uses 1 on CPU")
    bench_task("add", args.rounds, args.steps)
    bench_task("times", args.rounds, args.steps)
    bench_style(args.rounds)


if __name__ == "__main__":
    main()
