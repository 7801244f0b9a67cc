"""Trainer settings both ways: what grpo_core.family writes for TRL and verl, grpo_core.trainer_settings reads
back to the same run (the same loss and gradient on random batches, the same μ); and pasted text in every
accepted form, with bad text refused clearly."""

from __future__ import annotations

import random

import pytest
import torch

from grpo_core import grpo_loss
from grpo_core import toy_batch as tb
from grpo_core.family import ALGORITHMS, trl_code, trl_config, verl_code, verl_overrides
from grpo_core.trainer_settings import MAX_TEXT, from_trl, from_verl, parse_settings
from grpo_core.training import TrainConfig


def batch(seed: int, b=3, g=4, t=7):
    gen = torch.Generator().manual_seed(seed)
    new = (torch.randn(b * g, t, generator=gen, dtype=torch.float64) * 0.5 - 1.5)
    old = new + 0.4 * torch.randn(b * g, t, generator=gen, dtype=torch.float64)  # ratios far enough to clip
    ref = new + 0.3 * torch.randn(b * g, t, generator=gen, dtype=torch.float64)
    lengths = torch.randint(2, t + 1, (b * g,), generator=gen)
    mask = (torch.arange(t)[None, :] < lengths[:, None]).double()
    rewards = torch.randint(0, 3, (b, g), generator=gen).double() / 2
    entropy = torch.rand(b * g, t, generator=gen, dtype=torch.float64)
    return new, old, ref, rewards, mask, entropy, lengths == t


def loss_and_grad(config: TrainConfig, seed: int):
    new, old, ref, rewards, mask, entropy, truncated = batch(seed)
    x = new.clone().requires_grad_()
    out = grpo_loss(x, old, ref, rewards, mask, entropy=entropy, truncated=truncated, **config.loss_settings())
    (grad,) = torch.autograd.grad(out.loss, x)
    return out.loss.detach(), grad


def assert_same_run(original: TrainConfig, parsed: TrainConfig, where: str) -> None:
    assert parsed.num_iterations == original.num_iterations, where
    for seed in (0, 1):
        (loss_a, grad_a), (loss_b, grad_b) = loss_and_grad(original, seed), loss_and_grad(parsed, seed)
        torch.testing.assert_close(loss_b, loss_a, rtol=1e-9, atol=1e-12, msg=f"{where}: loss differs")
        torch.testing.assert_close(grad_b, grad_a, rtol=1e-9, atol=1e-12, msg=f"{where}: gradient differs")


def config_of(settings: dict) -> TrainConfig:
    """An algorithm's grpo_loss settings as a TrainConfig (verl's vocabulary needs loss_type=None)."""
    fields = dict(settings)
    if "policy_loss" in fields or "loss_agg_mode" in fields:
        fields.setdefault("loss_type", None)
    return TrainConfig(**fields)


def family_settings(config: TrainConfig) -> dict:
    """What family.trl_config / verl_overrides take: loss_settings() plus num_iterations."""
    return {**config.loss_settings(), "num_iterations": config.num_iterations}


def round_trip_trl(config: TrainConfig) -> TrainConfig | None:
    fields, _ = trl_config(family_settings(config))
    if fields is None:
        return None
    parsed = from_trl(fields)
    assert not [u for u in parsed.unused], parsed.unused  # every field trl_config writes is read
    return parsed.config()


def round_trip_verl(config: TrainConfig) -> TrainConfig | None:
    overrides, _ = verl_overrides(family_settings(config))
    if overrides is None:
        return None
    parsed = parse_settings(" ".join(overrides))
    assert parsed.trainer == "verl"
    assert not parsed.unused, parsed.unused
    return parsed.config()


@pytest.mark.parametrize("name", list(ALGORITHMS.names()))
def test_every_algorithm_round_trips_through_each_trainer_that_can_run_it(name):
    config = config_of(ALGORITHMS[name].settings)
    expressed = 0
    for trainer, round_trip in (("TRL", round_trip_trl), ("verl", round_trip_verl)):
        parsed = round_trip(config)
        if parsed is not None:
            expressed += 1
            assert_same_run(config, parsed, f"{name} through {trainer}")
    assert expressed, f"{name}: neither trainer can run it"


def random_config(rng: random.Random) -> TrainConfig:
    epsilon = rng.choice([0.1, 0.2, 0.3])
    high = rng.choice([None, epsilon + 0.08])
    fields = dict(
        epsilon=epsilon, epsilon_high=high, delta=rng.choice([None, 4.0]),
        beta=rng.choice([0.0, 0.04, 0.3]), kl_estimator=rng.choice(["k1", "k2", "k3"]),
        kl_in=rng.choice(["loss", "reward"]), kl_bias_correction=rng.choice([False, True]),
        scale_rewards=rng.choice(["group", "batch", "none"]), importance_sampling_level=rng.choice(["token", "sequence"]),
        num_iterations=rng.choice([1, 2, 4]), top_entropy_quantile=rng.choice([1.0, 0.5]),
        mask_truncated_completions=rng.choice([False, True]), group_size=rng.choice([4, 8, 16]),
        temperature=rng.choice([0.7, 1.0]),
    )
    if rng.random() < 0.5:
        fields["loss_type"] = rng.choice(["grpo", "bnpo", "dapo", "dr_grpo", "sapo", "cispo"])
        if fields["loss_type"] == "cispo":
            fields.update(epsilon_high=5.0, delta=None)
    else:
        fields.update(loss_type=None, policy_loss=rng.choice(["vanilla", "cispo", "sapo", "gpg", "dro", "geo_mean"]),
                      loss_agg_mode=rng.choice(["token-mean", "seq-mean-token-mean", "seq-mean-token-sum"]),
                      advantage_estimator=rng.choice(["grpo", "rloo", "reinforce_plus_plus_baseline"]))
        if fields["policy_loss"] == "sapo":
            fields.update(tau_pos=1.5, tau_neg=2.0)
        if fields["policy_loss"] == "dro":
            fields["dro_beta"] = 0.3
    return TrainConfig(**fields)


def effective_for_trainer(config: TrainConfig, trainer: str) -> TrainConfig:
    """The settings a trainer's config can carry: what the loss does not read is left out of the comparison
    (a trainer config need not state a KL estimator with β = 0, nor SAPO's temperatures for another loss)."""
    changes = {}
    if trainer == "verl":  # verl has no top-entropy mask nor truncation mask in its loss settings
        changes.update(top_entropy_quantile=1.0, mask_truncated_completions=False)
    return config.replace(**changes)


@pytest.mark.parametrize("seed", range(40))
def test_random_configs_round_trip_where_the_trainer_can_express_them(seed):
    rng = random.Random(seed)
    config = random_config(rng)
    for trainer, round_trip in (("TRL", round_trip_trl), ("verl", round_trip_verl)):
        wanted = effective_for_trainer(config, trainer)
        parsed = round_trip(wanted)
        if parsed is None:
            continue
        assert_same_run(wanted, parsed, f"seed {seed} through {trainer}: {wanted}")


def test_a_fair_share_of_random_configs_is_expressible():
    counts = {"TRL": 0, "verl": 0}
    for seed in range(40):
        config = random_config(random.Random(seed))
        counts["TRL"] += trl_config(family_settings(config))[0] is not None
        counts["verl"] += verl_overrides(family_settings(effective_for_trainer(config, "verl")))[0] is not None
    assert counts["TRL"] >= 5 and counts["verl"] >= 5, counts


# ------------------------------------------------------------------------------------------ text forms


def test_grpo_config_call_json_yaml_wandb_and_cli_flags_read_the_same():
    texts = [
        "from trl import GRPOConfig\nargs = GRPOConfig(loss_type='grpo', beta=0.04, epsilon_high=0.28, num_generations=16)",
        '{"loss_type": "grpo", "beta": 0.04, "epsilon_high": 0.28, "num_generations": 16}',
        "loss_type: grpo\nbeta: 0.04\nepsilon_high: 0.28\nnum_generations: 16\n",
        "loss_type:\n  desc: null\n  value: grpo\nbeta:\n  value: 0.04\nepsilon_high:\n  value: 0.28\n"
        "num_generations:\n  value: 16\n",
        "trl grpo --loss_type grpo --beta=0.04 --epsilon_high 0.28 --num_generations 16",
    ]
    results = [parse_settings(t) for t in texts]
    for text, result in zip(texts, results):
        assert result.trainer == "TRL", text
        assert result.changes == results[0].changes, text
    config = results[0].config()
    assert (config.loss_type, config.beta, config.epsilon_high, config.group_size) == ("grpo", 0.04, 0.28, 16)
    assert config.kl_estimator == "k3" and config.kl_in == "loss"


def test_trl_defaults_fill_what_the_text_leaves_out_and_say_so():
    result = parse_settings("GRPOConfig(output_dir='out')")
    config = result.config()
    assert config.loss_type == "dapo" and config.beta == 0.0  # TRL 1.16's defaults, not the explorer's
    assert any("loss_type = dapo" in d for d in result.defaults)
    assert result.unused == [("output_dir", result.unused[0][1])]


def test_unused_fields_are_listed_with_reasons():
    result = parse_settings("GRPOConfig(learning_rate=1e-6, max_completion_length=1024, per_device_train_batch_size=8, "
                            "multi_objective_aggregation='normalize_then_sum', beta=float('nan'))")
    reasons = dict(result.unused)
    assert "learning rate" in reasons["learning_rate"]
    assert "answer lengths" in reasons["max_completion_length"]
    assert "not a setting of the loss" in reasons["per_device_train_batch_size"]
    assert "several reward functions" in reasons["multi_objective_aggregation"]
    assert "expression" in reasons["beta"]
    assert "lr" not in result.changes and "advantage_estimator" not in result.changes


def test_verl_command_line_and_nested_yaml_read_the_same():
    line = ("python3 -m verl.trainer.main_ppo \\\n  algorithm.adv_estimator=grpo \\\n"
            "  actor_rollout_ref.actor.clip_ratio_low=0.2 actor_rollout_ref.actor.clip_ratio_high=0.28 \\\n"
            "  actor_rollout_ref.actor.use_kl_loss=True actor_rollout_ref.actor.kl_loss_coef=0.001 \\\n"
            "  actor_rollout_ref.actor.kl_loss_type=low_var_kl actor_rollout_ref.rollout.n=5 \\\n"
            "  +actor_rollout_ref.actor.policy_loss.loss_mode=vanilla trainer.n_gpus_per_node=8")
    nested = """
algorithm:
  adv_estimator: grpo
actor_rollout_ref:
  actor:
    clip_ratio_low: 0.2
    clip_ratio_high: 0.28
    use_kl_loss: true
    kl_loss_coef: 0.001
    kl_loss_type: low_var_kl
    policy_loss:
      loss_mode: vanilla
  rollout:
    n: 5
trainer:
  n_gpus_per_node: 8
"""
    a, b = parse_settings(line), parse_settings(nested)
    assert a.trainer == b.trainer == "verl"
    assert a.changes == b.changes
    config = a.config()
    assert (config.epsilon_high, config.beta, config.kl_estimator, config.group_size, config.delta) == (0.28, 0.001, "k3", 5, 3.0)
    assert config.loss_type is None and config.policy_loss == "vanilla" and config.loss_agg_mode == "token-mean"
    assert dict(a.unused)["trainer.n_gpus_per_node"].startswith("not a setting")
    assert any("clip_ratio_c = 3.0" in d for d in a.defaults)  # verl's dual clip is on unless turned off


def test_verl_reasons_for_what_the_explorer_cannot_run():
    result = from_verl({"algorithm.adv_estimator": "gae", "actor_rollout_ref.actor.clip_ratio": 0.3,
                        "actor_rollout_ref.actor.policy_loss.loss_mode": "clip_cov",
                        "actor_rollout_ref.actor.kl_loss_type": "full"})
    reasons = dict(result.unused)
    assert "critic" in reasons["algorithm.adv_estimator"]
    assert "clip_ratio_low" in reasons["actor_rollout_ref.actor.clip_ratio"]
    assert "not one the explorer has" in reasons["actor_rollout_ref.actor.policy_loss.loss_mode"]
    assert "no KL term" in reasons["actor_rollout_ref.actor.kl_loss_type"]
    result.config()  # what could be used still makes a valid run


@pytest.mark.parametrize("text", [
    "", "   ", "hello world", "[1, 2, 3]", "{" * 5000, "GRPOConfig(" + "(" * 500, "a: &a [*a]",
    "x: " + "[" * 3000, "<script>alert(1)</script>", "GRPOConfig(beta=__import__('os').system('true'))",
])
def test_bad_text_gives_a_clear_error_or_nothing_used(text):
    try:
        result = parse_settings(text)
    except ValueError as err:
        assert str(err)
        return
    assert not result.used or all(k != "beta" for k, _ in result.used)


def test_billion_laughs_yaml_is_bounded():
    bomb = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]\n"
        for i in range(8))
    result = parse_settings(bomb)  # lists are leaves: nothing to expand
    assert result.trainer == "TRL"


def test_too_long_text_is_refused():
    with pytest.raises(ValueError, match="longer than"):
        parse_settings("beta: 0.1\n" * (MAX_TEXT // 5))


# ------------------------------------------------------------------ the settings as a member of the family


@pytest.mark.parametrize("name", list(ALGORITHMS.names()))
def test_each_algorithms_trainer_code_read_back_is_the_same_loss_on_the_toy_batch(name):
    preset = tb.PRESETS[tb.DEFAULT_PRESET]
    batch = tb.build(preset.completions, rare=preset.rare)
    expected = tb.evaluate(ALGORITHMS[name], batch)
    read = 0
    for make in (trl_code, verl_code):
        code, _ = make(ALGORITHMS[name].settings)
        if code is None:
            continue
        yours, left_out = parse_settings(code).algorithm()
        assert yours.name == "yours" and not left_out
        got = tb.evaluate(yours, batch)
        assert got.loss == pytest.approx(expected.loss, rel=1e-6, abs=1e-9), (name, make.__name__)
        torch.testing.assert_close(got.push, expected.push, rtol=1e-5, atol=1e-8)
        read += 1
    assert read, f"{name}: neither trainer's code could be read back"


def test_settings_the_batch_cannot_show_are_left_out_and_said():
    yours, left_out = parse_settings("GRPOConfig(top_entropy_quantile=0.2, mask_truncated_completions=True, "
                                     "beta=0.04)").algorithm()
    assert "top_entropy_quantile" not in yours.settings and "mask_truncated_completions" not in yours.settings
    assert [n.split(":")[0] for n in left_out] == ["top_entropy_quantile", "mask_truncated_completions"]
    assert yours.settings["beta"] == 0.04 and yours.settings["loss_type"] == "dapo"  # TRL 1.16's default
    assert "beta" in yours.idea and yours.title == "Your TRL settings"

