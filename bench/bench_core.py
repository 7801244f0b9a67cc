"""Benchmark of grpo_core's hot paths, as ratios measured side by side in one run.

    .venv/bin/python bench/bench_core.py [--quick]

1. ``group_advantages`` on 100,000 groups x 8 against a Python loop over groups calling the seed
   notebook's 1-D z-score, and against one elementwise pass over the same rewards.
2. ``grpo_loss`` forward + backward on 1,024 completions x 1,024 tokens (float32) against one
   elementwise pass ``(logp_new - logp_old).exp().sum()`` forward + backward: the memory-traffic floor.
3. The same for every registered objective.
4. With ``--device cuda``: one live-training step (``Trainer.step``, default config) on the CPU against the
   same step on the GPU, run in turns: whether a GPU host should train the page's toy on its GPU.

``--device cuda`` runs parts 1-3 on the GPU (synchronised before each clock reading).

Absolute times vary between runs on a shared machine; the ratios are what this prints for comparison.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from grpo_core import (clipped_surrogate, device_name, group_advantages, grpo_loss, kl_estimate,  # noqa: E402
                       probability_ratio)
from grpo_core.objectives import OBJECTIVES  # noqa: E402


DEVICE = torch.device("cpu")


def synchronize() -> None:
    """Waits for the GPU's queued kernels: without it a GPU clock reading times the launch, not the work."""
    if DEVICE.type == "cuda":
        torch.cuda.synchronize(DEVICE)
    elif DEVICE.type == "mps":
        torch.mps.synchronize()


def median_times(fns: dict, repeats: int, warmup: int = 3) -> dict[str, float]:
    """Median seconds of each function, timed in turns (A, B, A, B, ...) so that load on a shared
    machine hits all of them alike and their ratio stays meaningful."""
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    times = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            synchronize()
            start = time.perf_counter()
            fn()
            synchronize()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(ts) for name, ts in times.items()}


def notebook_zscore(rewards: torch.Tensor) -> torch.Tensor:
    """The seed notebook's 1-D function (section 4.1), the loop baseline."""
    mean = rewards.mean()
    std = rewards.std()
    if std < 1e-8:
        return torch.zeros_like(rewards)
    return (rewards - mean) / (std + 1e-8)


def bench_advantages(groups: int, repeats: int) -> dict[str, float]:
    gen = torch.Generator().manual_seed(0)
    rewards = torch.randint(0, 2, (groups, 8), generator=gen).float()
    rewards[::7] += torch.rand(8, generator=gen)  # some continuous groups too
    rewards = rewards.to(DEVICE)

    def loop():
        return torch.stack([notebook_zscore(row) for row in rewards])

    synchronize()
    start = time.perf_counter()
    looped = loop()
    synchronize()
    t_loop = time.perf_counter() - start
    batched = group_advantages(rewards)
    assert torch.allclose(batched, looped, atol=1e-5), "batched and looped advantages disagree"
    med = median_times({"batched_s": lambda: group_advantages(rewards), "pass_s": lambda: rewards * 2.0}, repeats)
    return {"loop_s": t_loop, **med}


def loss_inputs(n: int, t: int, gen: torch.Generator) -> tuple[torch.Tensor, ...]:
    """``logp_new`` (a leaf), ``logp_old``, ``logp_ref``, ``mask``: ``(n, t)``; ``rewards``: ``(n // 8, 8)``;
    drawn on the CPU (the same numbers on every device), then moved to :data:`DEVICE`."""
    new = -3 * torch.rand(n, t, generator=gen)
    old = new + 0.1 * torch.randn(n, t, generator=gen)
    ref = new + 0.1 * torch.randn(n, t, generator=gen)
    rewards = torch.randint(0, 2, (n // 8, 8), generator=gen).float()
    mask = (torch.arange(t) < torch.randint(t // 4, t + 1, (n, 1), generator=gen)).float()
    new, old, ref, rewards, mask = (x.to(DEVICE) for x in (new, old, ref, rewards, mask))
    return new.requires_grad_(), old, ref, rewards, mask


def bench_loss(n: int, t: int, repeats: int) -> dict[str, float]:
    gen = torch.Generator().manual_seed(1)
    new, old, ref, rewards, mask = loss_inputs(n, t, gen)

    def full():
        new.grad = None
        grpo_loss(new, old, ref, rewards, mask).loss.backward()

    def floor():
        new.grad = None
        (new - old).exp().sum().backward()

    def no_kl():
        new.grad = None
        grpo_loss(new, old, None, rewards, mask, beta=0.0).loss.backward()

    def autograd_composed():
        """The same loss recorded op by op for autograd (what grpo_loss did before its fused gradient)."""
        new.grad = None
        adv = group_advantages(rewards).reshape(-1, 1)
        ratio = probability_ratio(new, old)
        per_token = -clipped_surrogate(ratio, adv) + 0.04 * kl_estimate(new, ref)
        (((per_token * mask).sum(-1) / mask.sum(-1).clamp(min=1)).mean()).backward()

    return median_times({"loss_s": full, "floor_s": floor, "no_kl_s": no_kl, "composed_s": autograd_composed}, repeats)


def bench_objectives(n: int, t: int, repeats: int) -> dict[str, float]:
    """Forward + backward of every registered objective (verl vocabulary, token-mean, beta = 0.04), timed in turns
    with the floor pass so that each ratio is measured side by side."""
    gen = torch.Generator().manual_seed(2)
    new, old, ref, rewards, mask = loss_inputs(n, t, gen)

    def run(**kwargs):
        def fn():
            new.grad = None
            grpo_loss(new, old, ref, rewards, mask, **kwargs).loss.backward()
        return fn

    def floor():
        new.grad = None
        (new - old).exp().sum().backward()

    fns = {"floor": floor, "default (loss_type grpo, beta 0.04)": run(),
           "TRL default (dapo, beta 0)": run(loss_type="dapo", beta=0.0)}
    fns.update({name: run(policy_loss=name, loss_agg_mode="token-mean") for name in OBJECTIVES})
    return median_times(fns, repeats)


def bench_trainer_step(repeats: int) -> dict[str, float]:
    """One ``Trainer.step`` (default config) on the CPU and on :data:`DEVICE`, in turns."""
    from grpo_core.training import TrainConfig, Trainer

    trainers = {"cpu": Trainer(TrainConfig(seed=0), device="cpu"), str(DEVICE): Trainer(TrainConfig(seed=0), device=DEVICE)}
    return median_times({name: trainer.step for name, trainer in trainers.items()}, repeats)


def main() -> None:
    global DEVICE
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke run")
    parser.add_argument("--device", default="cpu", help="torch device of parts 1-3 (cpu, cuda); cuda adds part 4")
    args = parser.parse_args()
    DEVICE = torch.device(args.device)
    groups, n, t, repeats = (10_000, 256, 256, 5) if args.quick else (100_000, 1024, 1024, 21)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {DEVICE} ({device_name(DEVICE)})")

    adv = bench_advantages(groups, repeats)
    print(f"\ngroup_advantages on {groups:,} groups x 8 (median of {repeats}, timed in turns; loop run once)")
    print(f"  python loop over groups : {adv['loop_s'] * 1e3:10.2f} ms")
    print(f"  batched group_advantages: {adv['batched_s'] * 1e3:10.3f} ms")
    print(f"  one elementwise pass    : {adv['pass_s'] * 1e3:10.3f} ms")
    print(f"  speed-up over the loop  : {adv['loop_s'] / adv['batched_s']:10.0f} x   (target >= 300)")
    print(f"  time / elementwise pass : {adv['batched_s'] / adv['pass_s']:10.1f} x")

    loss = bench_loss(n, t, repeats)
    print(f"\ngrpo_loss forward + backward on {n} x {t} float32 on {DEVICE} (median of {repeats}, timed in turns)")
    print(f"  grpo_loss               : {loss['loss_s'] * 1e3:10.2f} ms")
    print(f"  (new-old).exp().sum() fb: {loss['floor_s'] * 1e3:10.2f} ms")
    print(f"  ratio to the floor      : {loss['loss_s'] / loss['floor_s']:10.2f} x   (target <= 4)")
    print(f"  same, beta=0 (no KL)    : {loss['no_kl_s'] / loss['floor_s']:10.2f} x")
    print(f"  autograd op by op       : {loss['composed_s'] / loss['floor_s']:10.2f} x   (the composed public functions)")

    table = bench_objectives(n, t, repeats)
    floor = table.pop("floor")
    print(f"\nevery objective, forward + backward on {n} x {t} float32, beta = 0.04 (ratio to the floor pass, "
          f"{floor * 1e3:.2f} ms; target <= 5, default <= 4)")
    for name, seconds in table.items():
        target = 4 if name.startswith("default") else 5
        print(f"  {name:36s}: {seconds / floor:6.2f} x  {'ok' if seconds / floor <= target else 'MISSED'}")

    if DEVICE.type != "cpu":
        steps = bench_trainer_step(repeats)
        cpu_s, dev_s = steps["cpu"], steps[str(DEVICE)]
        print(f"\nlive-training step (Trainer.step, default config; median of {repeats}, timed in turns)")
        print(f"  on the CPU              : {cpu_s * 1e3:10.2f} ms")
        print(f"  on {str(DEVICE):21s}: {dev_s * 1e3:10.2f} ms")
        print(f"  {DEVICE} time / CPU time    : {dev_s / cpu_s:10.2f} x")


if __name__ == "__main__":
    main()
