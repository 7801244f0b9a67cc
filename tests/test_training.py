"""The live-training engine: it learns, its knobs do what they claim, it is reproducible and stops cleanly."""

from __future__ import annotations

import math
import statistics

import pytest
import torch

import grpo_core
from grpo_core.training import (
    STRUCTURAL_FIELDS,
    TIMING_METRICS,
    TRAIN_METRIC_NAMES,
    TrainConfig,
    Trainer,
    TrainingStopped,
    needs_reset,
)

CPU = torch.device("cpu")


def run(config: TrainConfig, steps: int) -> list[dict[str, float]]:
    trainer = Trainer(config, device=CPU)
    return [trainer.step().metrics for _ in range(steps)]


def mean(rows, key, start=None, stop=None):
    return statistics.fmean(r[key] for r in rows[start:stop])


def test_default_config_learns():
    rows = run(TrainConfig(seed=0), 200)
    first, last = mean(rows, "reward", 0, 20), mean(rows, "reward", -20)
    assert last >= first + 0.3, (first, last)
    assert mean(rows, "entropy", -20) < mean(rows, "entropy", 0, 20)


def test_multi_token_task_learns():
    rows = run(TrainConfig(task="times", seed=1), 200)
    assert mean(rows, "reward", -20) >= mean(rows, "reward", 0, 20) + 0.2


@pytest.mark.parametrize("task", ["add", "times"])
def test_start_is_right_sometimes_not_mostly(task):
    # one big first step measures the starting policy (the update happens after sampling)
    for seed in (0, 1):
        accuracy = Trainer(TrainConfig(task=task, seed=seed, prompts_per_step=1000, group_size=4),
                           device=CPU).step().metrics["accuracy"]
        assert 0.05 <= accuracy <= 0.40, (task, seed, accuracy)


def test_large_beta_keeps_policy_closer_to_reference():
    free = run(TrainConfig(seed=3, beta=0.0), 150)
    leashed = run(TrainConfig(seed=3, beta=2.0), 150)
    assert mean(leashed, "kl_ref", -50) < 0.5 * mean(free, "kl_ref", -50)
    assert mean(leashed, "kl", -50) < mean(free, "kl", -50)


def test_mu_one_never_clips_and_mu_four_does():
    on_policy = run(TrainConfig(seed=0, num_iterations=1, epsilon=0.05, lr=0.05), 30)
    for row in on_policy:
        assert row["clip_ratio/region_mean"] == 0.0
        assert row["clip_ratio/low_mean"] == 0.0 and row["clip_ratio/high_mean"] == 0.0
        assert row["ratio_mean"] == 1.0 and row["ratio_max"] == 1.0
    reused = run(TrainConfig(seed=0, num_iterations=4, epsilon=0.05, lr=0.05), 30)
    assert max(r["clip_ratio/region_mean"] for r in reused) > 0.0


def test_same_seed_same_metrics_other_seed_differs():
    config = TrainConfig(task="times", seed=7, num_iterations=2, partial_credit=True)
    a, b = run(config, 15), run(config, 15)
    strip = [{k: v for k, v in r.items() if k not in TIMING_METRICS} for r in a]
    assert strip == [{k: v for k, v in r.items() if k not in TIMING_METRICS} for r in b]
    c = run(config.replace(seed=8), 15)
    assert [r["reward"] for r in c] != [r["reward"] for r in a]


def test_metrics_complete_and_finite():
    trainer = Trainer(TrainConfig(task="times", loss_type="dr_grpo", kl_in="reward", importance_sampling_level="sequence"),
                      device=CPU)
    result = trainer.step()
    assert tuple(result.metrics) == TRAIN_METRIC_NAMES
    assert all(math.isfinite(v) for v in result.metrics.values())
    assert result.metrics["steps_per_s"] > 0
    assert set(result.timing) == {"sample", "update", "total"}
    assert len(trainer.history) == 1
    assert trainer.history.column("reward").tolist() == [result.metrics["reward"]]


def test_groups_match_rewards_and_advantages():
    trainer = Trainer(TrainConfig(prompts_per_step=5, group_size=6, seed=2), device=CPU)
    result = trainer.step()
    groups = result.groups
    assert len(groups) == 5
    for group in groups:
        a, _, b, _ = group.prompt.split()
        assert len(group.completions) == len(group.rewards) == len(group.advantages) == 6
        for text, reward in zip(group.completions, group.rewards):
            assert reward == (1.0 if int(text) == int(a) + int(b) else 0.0)
        assert abs(sum(group.advantages)) < 1e-5
        if len(set(group.rewards)) == 1:
            assert group.advantages == [0.0] * 6
    assert result.metrics["reward"] == pytest.approx(statistics.fmean(r for g in groups for r in g.rewards))


def test_times_task_lengths_rewards_and_partial_credit():
    trainer = Trainer(TrainConfig(task="times", partial_credit=True, prompts_per_step=32, seed=4), device=CPU)
    lengths, seen_partial = [], False
    for _ in range(3):
        result = trainer.step()
        for group in result.groups:
            a, _, b, _ = group.prompt.split()
            right = " ".join(str(int(a) * int(b))) + " EOS"
            for text, reward in zip(group.completions, group.rewards):
                tokens = text.split()
                lengths.append(len(tokens))
                assert "EOS" not in tokens[:-1]  # nothing is kept after the first EOS
                if text == right:
                    assert reward == 1.0
                else:
                    assert 0.0 <= reward <= 0.5
                    seen_partial |= reward > 0
        assert result.metrics["completion_length"] == pytest.approx(
            statistics.fmean(len(t.split()) for g in result.groups for t in g.completions))
    assert len(set(lengths)) >= 3 and max(lengths) <= 6
    assert seen_partial


def test_loss_type_changes_the_loss_on_variable_lengths():
    losses = {lt: Trainer(TrainConfig(task="times", loss_type=lt, seed=5), device=CPU).step().metrics["loss"]
              for lt in ("grpo", "dapo", "dr_grpo")}
    assert len({round(v, 9) for v in losses.values()}) == 3, losses


def test_nan_policy_stops_run_and_keeps_history():
    trainer = Trainer(TrainConfig(seed=0), device=CPU)
    for _ in range(3):
        trainer.step()
    before = trainer.history.table().clone()
    with torch.no_grad():
        trainer.policy.w2.fill_(float("nan"))
    result = trainer.step()
    assert result.stop_reason is not None and "NaN" in result.stop_reason
    assert all(math.isfinite(v) for v in result.metrics.values())
    assert torch.equal(trainer.history.table()[:3], before) and len(trainer.history) == 4
    with pytest.raises(TrainingStopped, match="diverged"):
        trainer.step()
    assert len(trainer.history) == 4


def test_exploding_ratio_stops_run():
    trainer = Trainer(TrainConfig(seed=0, num_iterations=8, lr=0.5, max_ratio=1.5), device=CPU)
    reasons = []
    for _ in range(20):
        result = trainer.step()
        if result.stop_reason:
            reasons.append(result.stop_reason)
            break
    assert reasons and "ratio" in reasons[0]
    assert trainer.history.column("ratio_max")[-1] > 1.5


def test_step_cap_stops_and_raising_the_cap_resumes():
    trainer = Trainer(TrainConfig(max_steps=3), device=CPU)
    reasons = [trainer.step().stop_reason for _ in range(3)]
    assert reasons[:2] == [None, None] and "step cap" in reasons[2]
    with pytest.raises(TrainingStopped):
        trainer.step()
    trainer.reconfigure(trainer.config.replace(max_steps=5))
    assert trainer.step().step == 4


def test_reconfigure_applies_knobs_and_refuses_structural_changes():
    trainer = Trainer(TrainConfig(), device=CPU)
    trainer.reconfigure(trainer.config.replace(lr=0.123, beta=0.0, epsilon=0.3))
    assert trainer.optimizer.param_groups[0]["lr"] == 0.123
    assert trainer.step().metrics["loss"] is not None
    for name, value in [("task", "times"), ("group_size", 4), ("prompts_per_step", 3), ("policy_size", "tiny")]:
        assert name in STRUCTURAL_FIELDS
        changed = trainer.config.replace(**{name: value})
        assert needs_reset(trainer.config, changed)
        with pytest.raises(ValueError, match=name):
            trainer.reconfigure(changed)
    assert not needs_reset(trainer.config, trainer.config.replace(temperature=0.7, loss_type="dapo"))


@pytest.mark.parametrize("field,value", [
    ("task", "poetry"), ("group_size", 0), ("prompts_per_step", 1.5), ("temperature", 0.0), ("lr", -1.0),
    ("beta", float("nan")), ("epsilon", -0.1), ("delta", 1.1), ("loss_type", "sum"), ("kl_estimator", "k9"),
    ("scale_rewards", "median"), ("num_iterations", 0), ("start_skill", 99.0), ("max_ratio", 1.0),
    ("partial_credit", "yes"), ("policy_size", "huge"), ("max_steps", 0),
])
def test_bad_config_raises_naming_the_field(field, value):
    with pytest.raises(ValueError, match=field):
        TrainConfig(**{field: value})


def test_answer_distribution_and_probe_history():
    trainer = Trainer(TrainConfig(seed=0), device=CPU)
    probs = trainer.answer_distribution([0, 55, 99])
    assert probs.shape == (3, 19)
    assert torch.allclose(probs.sum(-1), torch.ones(3))
    assert torch.allclose(probs, trainer.answer_distribution([0, 55, 99], reference=True))
    for _ in range(30):
        trainer.step()
    assert len(trainer.probe_history) == 30 and trainer.probe_history[0].shape == (Trainer.PROBES, 19)
    # [0] is the start (the reference), [k] the policy after k updates
    assert torch.allclose(trainer.probe_history[0], trainer.answer_distribution(trainer.probe_prompts, reference=True),
                          atol=1e-5)
    assert not torch.allclose(trainer.probe_history[-1], trainer.probe_history[0], atol=1e-3)
    assert not torch.allclose(trainer.answer_distribution([0, 55, 99]), probs)
    with pytest.raises(ValueError):
        trainer.answer_distribution([100])
    with pytest.raises(ValueError, match="one-token"):
        Trainer(TrainConfig(task="times"), device=CPU).answer_distribution([0])


def test_runs_on_the_core_device_by_default():
    trainer = Trainer(TrainConfig(prompts_per_step=2, group_size=2))
    assert trainer.device == grpo_core.device()
    assert next(trainer.policy.parameters()).device.type == grpo_core.device().type
    assert math.isfinite(trainer.step().metrics["loss"])


@pytest.mark.parametrize("task,size", [("add", "small"), ("times", "tiny"), ("times", "large")])
def test_reference_table_is_the_reference_forward_in_every_reachable_state(task, size):
    """The lookup the steps use equals the frozen reference's forward pass bit for bit, on every state a
    completion reaches (BOS at position 0, any answer token later); built a prompt at a time it is the same
    table (up to the rounding of a matrix product with fewer rows)."""
    trainer = Trainer(TrainConfig(task=task, policy_size=size, seed=3), device=CPU)
    ref, vocab, t = trainer.reference, trainer.task.vocab_size, trainer.task.max_len
    # every (prompt, answer-token sequence) with each token at each position at least once
    prompts = torch.arange(trainer.task.num_prompts).repeat_interleave(vocab)
    completions = torch.arange(vocab).repeat(trainer.task.num_prompts)[:, None].expand(-1, t).clone()
    completions[:, 1:] = completions[:, 1:].roll(1, dims=0)  # later positions see other previous tokens too
    previous = trainer._previous(completions)
    with torch.no_grad():
        direct = ref(ref.prompt_features(trainer.operands[prompts]), previous)
        assert torch.equal(trainer._reference_table[prompts[:, None], ref.state_index(previous)], direct)
        torch.testing.assert_close(ref.state_logits(trainer.operands, chunk_elements=1), trainer._reference_table,
                                   rtol=1e-6, atol=1e-7)
    states = ref.state_index(previous)
    assert states[:, 0].eq(0).all() and int(states.max()) < 1 + (t - 1) * vocab == trainer._reference_table.shape[1]


def test_a_new_run_builds_its_reference_table_only_when_it_steps():
    trainer = Trainer(TrainConfig(task="times", policy_size="large"), device=CPU)
    assert "_reference_table" not in vars(trainer)
    trainer.step()
    assert "_reference_table" in vars(trainer)
