"""Every ready-made experiment's lesson, checked on real runs of the toy: the effect each sentence claims
appears, in the direction it claims (grpo_core.experiments; the page shows the same lessons and claims).

The default run uses fewer steps than the page (the effects already show; each step count below was
checked over seeds 0-5 before it was chosen). ``test_lessons_at_the_page_s_steps`` (``-m long``) runs every
experiment as the page does, over the seeds the lessons' numbers were measured on.
"""

from __future__ import annotations

import pytest
import torch

from grpo_core.experiments import (
    EXPERIMENTS,
    Experiment,
    Runs,
    difficulty_of,
    lone_wrong_advantage,
    run_experiment,
    start_skill,
)
from grpo_core.training import TRAIN_METRIC_NAMES, TrainConfig

#: Steps and seeds of each experiment in the default run. Where an effect is noisier at few steps, two seeds.
QUICK = {
    "G = 2 vs G = 16": (60, (0,)),
    "ε small vs large": (60, (0,)),
    "β = 0 vs β = 0.5": (80, (0,)),
    "μ = 1 vs μ = 4": (20, (0,)),
    "Std scaling vs none, easy prompts": (80, (1,)),
    "k1 vs k2 vs k3 in the loss, β = 0.5": (100, (0, 4)),
    "grpo vs dapo vs dr_grpo, times task": (80, (0,)),
    "Clip vs CISPO, μ = 4": (60, (0,)),
    "RLOO vs GRPO, easy prompts": (40, (0,)),
    "Pass@k vs GRPO advantages": (60, (0,)),
}


def test_every_experiment_has_a_quick_check():
    assert set(QUICK) == set(EXPERIMENTS)
    assert len(EXPERIMENTS) >= 9


@pytest.mark.parametrize("name", list(QUICK))
def test_lesson_holds(name):
    steps, seeds = QUICK[name]
    for seed in seeds:
        run = run_experiment(EXPERIMENTS[name], seed, steps=steps)
        assert not any(run.diverged.values()), run.diverged
        verdict = run.verdict()
        assert verdict.holds, f"{name}, seed {seed}, {steps} steps: {verdict}"


@pytest.mark.slow
@pytest.mark.long
@pytest.mark.parametrize("name", list(EXPERIMENTS))
def test_lessons_at_the_page_s_steps(name):
    """As the page runs it (its steps, from the defaults), over seeds 0-3: the seeds the lessons quote."""
    for seed in range(4):
        run = run_experiment(EXPERIMENTS[name], seed)
        verdict = run.verdict()
        assert verdict.holds, f"{name}, seed {seed}: {verdict}"


def test_experiments_are_well_formed():
    for experiment in EXPERIMENTS.values():
        assert experiment.metric in TRAIN_METRIC_NAMES
        assert experiment.lesson and experiment.question
        configs = experiment.configs(seed=7)
        assert [c.seed for c in configs.values()] == [7] * len(configs)
        assert all(c.max_steps == experiment.steps for c in configs.values())
        assert len(set(configs.values())) == len(configs), f"{experiment.name}: two arms are the same run"
        assert 150 <= experiment.steps <= 200


def test_the_std_lesson_quotes_group_advantages():
    lone_group, half_group = lone_wrong_advantage(16, "group")
    lone_none, half_none = lone_wrong_advantage(16, "none")
    assert lone_group == pytest.approx(3.75, rel=1e-4) and lone_none == pytest.approx(0.9375)
    assert half_group == pytest.approx(0.5 / (16 / 15 * 0.25) ** 0.5, rel=1e-4) and half_none == 0.5
    lesson = EXPERIMENTS["Std scaling vs none, easy prompts"].lesson
    assert "3.75" in lesson and "0.94" in lesson and "4×" in lesson and "1.9×" in lesson


def test_difficulty_round_trips_through_start_skill():
    for task in ("add", "times"):
        for difficulty in ("hard", "normal", "easy"):
            assert difficulty_of(TrainConfig(task=task, start_skill=start_skill(task, difficulty))) == difficulty
    assert difficulty_of(TrainConfig(start_skill=0.123)) is None


def test_runs_windows_and_samples():
    table = torch.arange(10, dtype=torch.float64)[:, None].repeat(1, len(TRAIN_METRIC_NAMES))
    runs = Runs.from_tables({"a": table, "b": table.numpy()}, {"a": 4, "b": 32})
    assert runs.steps("a") == 10
    assert runs.mean("a", "reward") == 4.5
    assert runs.mean("a", "reward", last=0.2) == 8.5 and runs.mean("a", "reward", first=0.2) == 0.5
    assert runs.max("b", "kl_ref") == 9
    assert runs.mean_up_to_samples("a", "reward", 8) == 0.5  # two steps of 4 samples
    assert runs.mean_up_to_samples("b", "reward", 8) == 0.0  # never less than one step


def test_a_claim_can_fail():
    """The claims are not vacuous: swap the arms of one and it no longer holds."""
    experiment = EXPERIMENTS["β = 0 vs β = 0.5"]
    run = run_experiment(experiment, 0, steps=40)
    runs = run.runs
    swapped = Runs({"β = 0": runs.columns["β = 0.5"], "β = 0.5": runs.columns["β = 0"]}, runs.samples_per_step)
    assert run.verdict().holds and not experiment.claim(swapped).holds
    assert "✗" in str(experiment.claim(swapped))


def test_bad_experiments_are_refused():
    claim = EXPERIMENTS["μ = 1 vs μ = 4"].claim
    with pytest.raises(ValueError, match="metric"):
        Experiment("x", "q", (("a", {}), ("b", {"beta": 0.0})), 10, "nope", "l", claim)
    with pytest.raises(ValueError, match="two arms"):
        Experiment("x", "q", (("a", {}),), 10, "reward", "l", claim)
    with pytest.raises(ValueError, match="beta"):
        Experiment("x", "q", (("a", {}), ("b", {"beta": -1.0})), 10, "reward", "l", claim)
