"""The token inspector's numbers are the trained loss's: gradients held to autograd, sentences to branches."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from grpo_core import grpo_loss
from grpo_core.inspector import QUANTITIES, explain_token, token_values
from grpo_core.training import TrainConfig, Trainer

CONFIGS = {
    "clip, μ = 3": dict(task="times", num_iterations=3, epsilon=0.1, epsilon_high=0.12, beta=0.04, lr=0.05),
    "cispo": dict(task="times", num_iterations=3, loss_type="cispo", epsilon_high=1.05, beta=0.04, lr=0.05),
    "gmpo": dict(task="times", num_iterations=2, loss_type=None, policy_loss="geo_mean", loss_agg_mode="token-mean",
                 lr=0.05),
    "one token, dual clip": dict(task="add", num_iterations=4, delta=1.3, epsilon=0.1, lr=0.1),
}


@pytest.fixture(scope="module", params=list(CONFIGS))
def step(request):
    trainer = Trainer(TrainConfig(seed=1, **CONFIGS[request.param]))
    for _ in range(15):
        result = trainer.step()
    return result


def test_inspector_gradient_is_autograds_gradient_of_the_trained_loss(step):
    for update in range(step.num_updates):
        terms = step.inspect(update)
        inputs = step._updates[update]
        logp = inputs.logp.clone().requires_grad_()
        loss = grpo_loss(logp, inputs.logp_old, inputs.logp_ref, inputs.rewards, inputs.mask,
                         truncated=inputs.truncated, **inputs.settings).loss
        (grad,) = torch.autograd.grad(loss, logp)
        torch.testing.assert_close(terms.grad, grad, rtol=1e-5, atol=1e-8)
        torch.testing.assert_close(terms.grad_policy + terms.grad_kl, grad, rtol=1e-5, atol=1e-7)


def test_every_quantity_is_finite_and_zero_on_padding(step):
    terms = step.inspect(step.num_updates - 1)
    pad = terms.mask == 0
    for name in QUANTITIES:
        values = token_values(terms, name, step.entropy(step.num_updates - 1))
        assert torch.isfinite(values).all(), name
        expected = 1.0 if name == "ratio" else 0.0
        assert torch.all(values[pad] == expected), name


def test_ratios_leave_one_over_the_updates_of_a_batch(step):
    first = token_values(step.inspect(0), "log_ratio")
    last = token_values(step.inspect(step.num_updates - 1), "log_ratio")
    assert torch.all(first == 0)  # the first update is on-policy
    assert last.abs().max() > 0


def test_each_sentence_names_the_branch_the_token_took(step):
    terms = step.inspect(step.num_updates - 1)
    cfg = step._updates[0].settings
    said = {}
    for row in range(terms.mask.shape[0]):
        for position in range(terms.mask.shape[1]):
            text = explain_token(terms, row, position, epsilon=cfg["epsilon"], epsilon_high=cfg["epsilon_high"],
                                 beta=cfg["beta"])
            flat = terms.flat is not None and bool(terms.flat[row, position])
            if terms.mask[row, position] == 0:
                assert text.startswith("Padding")
            elif float(terms.advantages[row, 0]) == 0:
                assert "no gradient" in text
            elif flat:
                assert "gradient is 0" in text and terms.grad_policy[row, position] == 0
            else:
                assert "gradient is 0" not in text
            said[text.split(" ")[0]] = True
    assert len(said) >= 2


def test_token_table_reads_each_rows_quantities_sentence_fields_and_points(step):
    from grpo_core.inspector import SENTENCE_FIELDS, token_table

    update = step.num_updates - 1
    terms, entropy = step.inspect(update), step.entropy(update)
    table = token_table(terms, entropy)
    # read() hands back Python lists (on the CPU); the terms stay on the trainer's device (CUDA where there is one).
    assert table.quantities == tuple(QUANTITIES.names())
    rows = list(range(terms.mask.shape[0]))[::-1][:5]  # any order: the inspector sorts rows by reward
    shown, fields, advantages, finite = table.read(rows)
    assert finite
    for name in QUANTITIES.names():
        torch.testing.assert_close(torch.tensor(shown[name], dtype=torch.float64),
                                   token_values(terms, name, entropy)[rows].double(), check_device=False)
    fields = torch.tensor(fields, dtype=torch.float64)
    assert fields.shape == (len(rows), terms.mask.shape[1], len(SENTENCE_FIELDS))
    torch.testing.assert_close(fields[..., SENTENCE_FIELDS.index("mask")], terms.mask[rows].double(),
                               check_device=False)
    torch.testing.assert_close(fields[..., SENTENCE_FIELDS.index("clipped_high")],
                               terms.clipped_high.expand_as(terms.mask)[rows].double(), check_device=False)
    torch.testing.assert_close(torch.tensor(advantages, dtype=torch.float64), terms.advantages[rows, 0].double(),
                               check_device=False)
    points = table.points(rows)  # the real tokens, row by row: one line each, as the hover trace's points
    real = terms.mask[rows] > 0
    assert points.device.type == "cpu"
    assert points.shape == (int(real.sum()), len(QUANTITIES))
    torch.testing.assert_close(points[:, table.quantities.index("grad")].double(),
                               token_values(terms, "grad", entropy)[rows][real].double(), check_device=False)


def test_token_table_says_which_rows_are_not_finite(step):
    from grpo_core.inspector import token_table

    terms = step.inspect(0)
    broken = terms.grad_policy.clone()
    broken[1, 0] = float("nan")
    broken[0, 0] = -0.0
    table = token_table(dataclasses.replace(terms, grad_policy=broken, mask=torch.ones_like(terms.mask)))
    assert not table.read([0, 1])[3] and table.read([0, 2])[3]
    shown, *_ = table.read([0])
    assert str(shown["grad_policy"][0][0]) == "0.0"  # no "-0" reaches the screen
