"""grpo_core.toy_batch: the Algorithms page's batch, presets, differences, sweeps, sentences and trainer code."""

from __future__ import annotations

import ast
import math
import re

import numpy as np
import pytest
import torch

from grpo_core import grpo_loss, loss_terms
from grpo_core import toy_batch as tb
from grpo_core.advantages import ADVANTAGE_ESTIMATORS
from grpo_core.aggregation import AGGREGATIONS
from grpo_core.family import ALGORITHMS, Algorithm
from grpo_core.objectives import OBJECTIVES, objective_along_ratio

A = ALGORITHMS


def batch_of(title: str, move: float = 0.3) -> tb.ToyBatch:
    preset = tb.PRESETS[title]
    return tb.build(preset.completions, move=move, rare=preset.rare)


# ------------------------------------------------------------------------------------------ presets


def test_presets_are_valid_groups_named_as_the_page_offers_them():
    assert list(tb.PRESETS) == ["one long wrong answer", "a rare token that became likely", "balanced"]
    assert tb.DEFAULT_PRESET in tb.PRESETS
    for title, preset in tb.PRESETS.items():
        assert preset.title == title and preset.description
        assert tb.check_completions(preset.completions) == preset.completions


def test_one_long_wrong_answer_has_one_wrong_answer_far_longer_than_the_rest():
    completions = tb.PRESETS["one long wrong answer"].completions
    mean = sum(c.reward for c in completions) / len(completions)
    longest = max(completions, key=lambda c: c.length)
    assert longest.reward < mean
    assert all(longest.length >= 3 * c.length for c in completions if c is not longest)


def test_rare_token_preset_puts_a_jump_of_e_to_the_5_6_in_a_right_answer():
    preset = tb.PRESETS["a rare token that became likely"]
    batch = batch_of(preset.title)
    row, token = batch.rare
    assert preset.completions[row].reward == max(c.reward for c in preset.completions)
    assert batch.logp_old[row, token] == tb.RARE_OLD and batch.logp_new[row, token] == tb.RARE_NEW
    assert math.exp(tb.RARE_OLD) < 0.003 and math.exp(tb.RARE_NEW) > 0.6
    log_ratio = (batch.logp_new - batch.logp_old) * batch.mask
    assert float(log_ratio[row, token]) == pytest.approx(5.6)
    others = log_ratio.clone()
    others[row, token] = 0
    assert float(others.abs().max()) <= 0.3 + 1e-12  # every other token moved by at most `move`


def test_balanced_preset_is_two_right_two_wrong_of_about_one_length():
    completions = tb.PRESETS["balanced"].completions
    assert sorted(c.reward for c in completions) == [0, 0, 1, 1]
    assert max(c.length for c in completions) - min(c.length for c in completions) <= 1


# -------------------------------------------------------------------------------------------- build


@pytest.mark.parametrize("title", list(tb.PRESETS))
@pytest.mark.parametrize("move", [0.0, 0.3, 1.0])
def test_build_shapes_and_ranges(title, move):
    completions = tb.PRESETS[title].completions
    batch = batch_of(title, move)
    g, t = len(completions), max(c.length for c in completions)
    assert batch.rewards.shape == (1, g)
    for x in (batch.mask, batch.logp_old, batch.logp_ref, batch.logp_new):
        assert x.shape == (g, t) and x.dtype == torch.float64 and torch.isfinite(x).all()
    assert batch.lengths == [c.length for c in completions]
    real = batch.mask > 0
    for x in (batch.logp_old, batch.logp_ref, batch.logp_new):
        assert (x[real] < 0).all()  # probabilities below 1
    if batch.rare is not None:
        real[batch.rare] = False
        assert batch.logp_ref[batch.rare] == batch.logp_old[batch.rare] == tb.RARE_OLD
    assert float((batch.logp_ref - batch.logp_old)[real].abs().max()) <= 0.075 + 1e-12


def test_the_policy_moved_toward_the_better_answers_by_at_most_move():
    completions = tb.PRESETS["balanced"].completions
    batch = tb.build(completions, move=0.4)
    log_ratio = batch.logp_new - batch.logp_old
    for i, c in enumerate(completions):
        moved = log_ratio[i, :c.length]
        assert float(moved.abs().max()) <= 0.4 + 1e-12
        assert (moved >= -1e-12).all() if c.reward > 0.5 else (moved <= 1e-12).all()
    on_policy = tb.build(completions, move=0.0)
    assert torch.equal(on_policy.logp_new, on_policy.logp_old)


def test_build_is_deterministic_and_padding_never_changes_a_loss():
    batch = batch_of("one long wrong answer")
    assert torch.equal(batch.logp_new, batch_of("one long wrong answer").logp_new)
    pad = batch.mask == 0
    assert pad.any()
    for algorithm in A.values():
        base = grpo_loss(batch.logp_new, batch.logp_old, batch.logp_ref, batch.rewards, batch.mask,
                         **algorithm.settings).loss
        noisy = [x.masked_fill(pad, -7.5) for x in (batch.logp_new, batch.logp_old, batch.logp_ref)]
        other = grpo_loss(*noisy, batch.rewards, batch.mask, **algorithm.settings).loss
        assert float(other) == pytest.approx(float(base), abs=1e-12), algorithm.name


def test_a_short_row_puts_its_rare_token_last():
    batch = tb.build(tb._table((1, 2), (0, 5)), rare=(0, 4))
    assert batch.rare == (0, 1)


@pytest.mark.parametrize("completions, message", [
    (tb._table((1, 5)), "2 to 8 completions"),
    (tb._table(*[(1, 5)] * 9), "2 to 8 completions"),
    (tb._table((1, 5), (9, 5)), "reward must be a number from -5 to 5"),
    ((tb.Completion(math.nan, 5), tb.Completion(0.0, 5)), "reward"),
    ((tb.Completion(1.0, 0), tb.Completion(0.0, 5)), "length"),
    ((tb.Completion(1.0, 21), tb.Completion(0.0, 5)), "length"),
    ((tb.Completion(1.0, 2.5), tb.Completion(0.0, 5)), "length"),
])
def test_bad_completions_are_refused(completions, message):
    with pytest.raises(ValueError, match=message):
        tb.build(completions)


@pytest.mark.parametrize("move", [-0.1, 1.01, math.nan, "0.3"])
def test_move_out_of_range_is_refused(move):
    with pytest.raises(ValueError, match="move"):
        tb.build(tb.PRESETS["balanced"].completions, move=move)


# -------------------------------------------------------------------------- table rows and the URL


def test_from_rows_takes_the_editor_records_numpy_numbers_included():
    rows = [{"reward": np.float64(1.0), "length": np.int64(5)}, {"reward": 0, "length": 7.0}]
    assert tb.from_rows(rows) == tb._table((1, 5), (0, 7))


@pytest.mark.parametrize("row, message", [
    ({"reward": "three", "length": 5}, "reward must be a number"),
    ({"reward": None, "length": 5}, "reward must be a number"),
    ({"reward": math.inf, "length": 5}, "reward must be a number"),
    ({"reward": True, "length": 5}, "reward must be a number"),
    ({"reward": 1.0, "length": 5.5}, "whole number"),
    ({"reward": 1.0}, "length must be a number"),
    ({"reward": 1e308, "length": 5}, "from -5 to 5"),
])
def test_from_rows_refuses_bad_cells(row, message):
    with pytest.raises(ValueError, match=message):
        tb.from_rows([row, {"reward": 0.0, "length": 3}])


@pytest.mark.parametrize("completions", [p.completions for p in tb.PRESETS.values()]
                         + [tb._table((-4.95, 20), (0.25, 1), (5, 3))])
def test_encode_decode_round_trip(completions):
    text = tb.encode(completions)
    assert len(text) <= tb.MAX_ENCODED and tb.decode(text) == completions


@pytest.mark.parametrize("text", ["", "1:5", "abc", ",".join(["1:5"] * 9), "nan:5,0:3", "1:0,0:3", "1e3:5,0:1",
                                  "1:5;0:3", "1:5,0:3,", "<b>1</b>:5,0:3", "9:5,0:3", "1:021,0:3"])
def test_decode_refuses_malformed_text(text):
    with pytest.raises(ValueError):
        tb.decode(text)


@pytest.mark.parametrize("pending, problem", [
    (None, None),
    ({"edited_rows": {0: {"reward": 2.0}}, "added_rows": [], "deleted_rows": []}, None),
    ({"edited_rows": {"3": {"length": 2}}, "added_rows": [{"reward": 1.0}], "deleted_rows": [1]}, None),
    ({"edited_rows": {}, "added_rows": [{"reward": 1.0}] * 10_000, "deleted_rows": []}, "10,004 completions"),
    ({"edited_rows": {}, "added_rows": [], "deleted_rows": [0, 1, 2]}, "1 completions"),
    ({"edited_rows": {7: {"reward": 1.0}}, "added_rows": [], "deleted_rows": []}, "could not be read"),
    ({"edited_rows": {0: {"prompt": "x"}}, "added_rows": [], "deleted_rows": []}, "could not be read"),
    ({"edited_rows": [1], "added_rows": [], "deleted_rows": []}, "could not be read"),
    ({"edited_rows": {}, "added_rows": ["x"], "deleted_rows": []}, "could not be read"),
    ("junk", "could not be read"),
])
def test_the_batch_editor_refuses_what_it_cannot_apply(pending, problem):
    from editor_guard import edit_problem  # app/, shared with the reward-groups editor

    found = edit_problem(pending, 4, columns=tb.EDITOR_COLUMNS, min_rows=tb.MIN_COMPLETIONS,
                         max_rows=tb.MAX_COMPLETIONS)
    assert found is None if problem is None else problem in found


# --------------------------------------------------------------------------------------- evaluate


@pytest.mark.parametrize("name", list(A))
def test_evaluate_is_grpo_loss_and_its_gradient(name):
    batch = batch_of("a rare token that became likely")
    result = tb.evaluate(A[name], batch)
    args = (batch.logp_new, batch.logp_old, batch.logp_ref, batch.rewards, batch.mask)
    expected = grpo_loss(*args, **A[name].settings)
    terms = loss_terms(*args, **A[name].settings)
    assert result.loss == pytest.approx(float(expected.loss), rel=1e-12, abs=1e-15)
    torch.testing.assert_close(result.advantages, expected.advantages.reshape(-1))
    torch.testing.assert_close(result.push, -terms.grad * batch.mask)
    torch.testing.assert_close(result.weight, terms.grad.abs().sum(dim=-1))
    torch.testing.assert_close(result.terms.grad, terms.grad)  # what the token inspector shows
    # autograd agrees with the gradient the page shows
    logp = batch.logp_new.clone().requires_grad_(True)
    grpo_loss(logp, *args[1:], **A[name].settings).loss.backward()
    torch.testing.assert_close(-logp.grad * batch.mask, result.push)


def test_token_labels_name_the_real_tokens_and_leave_padding_blank():
    batch = tb.build(tb._table((1, 3), (0, 5)))
    assert batch.token_labels(0) == ["t1", "t2", "t3", "", ""]
    assert batch.token_labels(1) == ["t1", "t2", "t3", "t4", "t5"]


@pytest.mark.parametrize("name, expected", [
    ("grpo", {"epsilon": 0.2, "epsilon_high": 0.2, "beta": 0.04}),
    ("dapo", {"epsilon": 0.2, "epsilon_high": 0.28, "beta": 0.0}),
    ("cispo_trl", {"epsilon": 0.2, "epsilon_high": 5.0, "beta": 0.0}),
])
def test_explain_settings_are_the_clip_widths_and_beta_the_loss_uses(name, expected):
    assert tb.explain_settings(A[name]) == expected


def test_the_clip_cuts_the_rare_token_and_cispo_keeps_it():
    batch = batch_of("a rare token that became likely")
    spot = batch.rare
    assert tb.evaluate(A["dapo"], batch).push[spot] == 0  # vanilla clip, A > 0, ratio far above 1 + ε_high
    assert tb.evaluate(A["cispo_trl"], batch).push[spot] > 0  # weight capped at 5, gradient kept
    assert tb.evaluate(A["gmpo"], batch).push[spot] == 0  # clipped in log space


def test_token_mean_gives_the_long_wrong_answer_a_larger_share_than_grpos_sequence_mean():
    batch = batch_of("one long wrong answer", move=0.0)  # on-policy: no clip, aggregation alone differs
    long_row = int(torch.tensor(batch.lengths).argmax())
    share = {n: float(tb.evaluate(A[n], batch).weight[long_row] / tb.evaluate(A[n], batch).weight.sum())
             for n in ("grpo", "dapo", "dr_grpo")}
    assert share["dapo"] > 2 * share["grpo"]
    grpo = tb.evaluate(A["grpo"], batch)
    per_token = grpo.push.abs().sum(dim=-1) / torch.tensor(batch.lengths, dtype=torch.float64)
    assert per_token[long_row] < per_token.min() * 1.0001 and per_token[long_row] == per_token.min()


# ----------------------------------------------------------------------------- what an algorithm is


def test_objective_params_follow_grpo_loss_defaults():
    p = tb.objective_params({})
    assert (p.epsilon, p.epsilon_high, p.delta, p.level) == (0.2, 0.2, None, "token")
    p = tb.objective_params(A["dapo"].settings)
    assert (p.epsilon, p.epsilon_high) == (0.2, 0.28)
    assert tb.objective_params(A["gspo"].settings).level == "sequence"
    assert tb.objective_params({"tau_neg": 2.0}).tau_neg == 2.0


def test_an_algorithms_objective_is_gspo_for_a_sequence_level_clip():
    assert A["gspo"].objective.name == "gspo" and A["luspo"].objective.name == "gspo"
    assert A["grpo"].objective.name == "vanilla"
    assert A["sapo"].objective.name == "sapo"


@pytest.mark.parametrize("pair, differ", [
    (("grpo", "dapo"), ["aggregation", "KL", "clip widths"]),
    (("gspo", "luspo"), ["aggregation"]),
    (("grpo", "gspo"), ["objective", "KL", "clip widths"]),
    (("cispo", "cispo_trl"), ["objective", "clip widths"]),
    (("dapo", "rloo"), ["advantage", "clip widths"]),
    (("grpo", "dr_grpo"), ["aggregation", "advantage", "KL"]),
    (("sapo", "grpo"), ["objective", "KL", "clip widths"]),
    (("grpo", "grpo"), []),
])
def test_differences(pair, differ):
    assert tb.differences([A[n] for n in pair]) == differ


def test_aspects_describe_the_settings():
    assert tb.aspects(A["grpo"]) == {
        "objective": "PPO / GRPO clip", "aggregation": "seq-mean-token-mean",
        "advantage": "GRPO (group z-score), scale: group", "KL": "β = 0.04, k3 in the loss",
        "clip widths": "ε = 0.2, ε_high = 0.2"}
    assert tb.aspects(A["dr_grpo"])["advantage"].endswith("scale: none")
    assert tb.aspects(A["dr_grpo"])["aggregation"] == "seq-mean-token-sum-norm (C = T)"
    assert tb.aspects(A["sapo"])["clip widths"] == "no clip"
    assert tb.aspects(A["sapo"])["objective"] == "SAPO (τ_pos = 1, τ_neg = 1.05)"
    assert tb.aspects(A["gspo"])["objective"] == "GSPO (sequence-level ratio)"
    assert tb.aspects(A["cispo_trl"])["clip widths"] == "ε_high = 5"


# -------------------------------------------------------------------------------- along the ratio


def test_ratio_grid_is_0_to_3_without_0():
    r = tb.ratio_grid()
    assert r.shape == (tb.RATIO_POINTS,) and float(r[0]) > 0 and float(r[-1]) == 3.0
    assert torch.allclose(r.diff(), torch.full((tb.RATIO_POINTS - 1,), 0.01, dtype=torch.float64))


@pytest.mark.parametrize("name", list(A))
def test_sweep_is_objective_along_ratio(name):
    r = tb.ratio_grid()
    curves = tb.sweep(A[name], r)
    for sign in (1, -1):
        j, push = objective_along_ratio(A[name].objective.name, r, float(sign),
                                        params=tb.objective_params(A[name].settings))
        torch.testing.assert_close(curves[sign][0], j)
        torch.testing.assert_close(curves[sign][1], push)
        assert torch.isfinite(j).all() and torch.isfinite(push).all()


def _push(name: str, sign: int, **params) -> tuple[np.ndarray, np.ndarray]:
    r = tb.ratio_grid()
    _, push = objective_along_ratio(name, r, float(sign), params=tb.objective_params(params))
    return r.numpy(), push.numpy()


def _sentences(name: str) -> list[str]:
    r = tb.ratio_grid()
    return tb.sweep_sentences(A[name], r, tb.sweep(A[name], r))


def test_vanilla_sentence_is_true_of_the_numbers():
    (sentence,) = _sentences("dapo")
    assert "goes flat only on the side A pushes toward" in sentence
    assert "r > 1+ε_high = 1.28" in sentence and "r < 1−ε = 0.8" in sentence
    r, pos = _push("vanilla", 1, epsilon_high=0.28)
    assert (pos[r > 1.28 + 1e-9] == 0).all() and (pos[r < 1.28 - 1e-9] > 0).all()
    r, neg = _push("vanilla", -1, epsilon_high=0.28)
    assert (neg[r < 0.8 - 1e-9] == 0).all() and (neg[r > 0.8 + 1e-9] < 0).all()


@pytest.mark.parametrize("name, least", [("cispo_trl", 0.01), ("cispo", 0.8)])
def test_cispo_sentence_is_true_of_the_numbers(name, least):
    (sentence,) = _sentences(name)
    assert "push never drops to zero" in sentence and f"at least {least:.3g} in size" in sentence
    objective = A[name].objective.name
    sizes = [np.abs(_push(objective, s, **A[name].settings)[1]) for s in (1, -1)]
    assert min(float(s.min()) for s in sizes) == pytest.approx(least) and all((s > 0).all() for s in sizes)


def test_sapo_sentence_is_true_of_the_numbers():
    (sentence,) = _sentences("sapo")
    assert "gate is smooth" in sentence
    steps = []
    for sign in (1, -1):
        _, push = _push("sapo", sign)
        assert (push != 0).all()
        steps.append(np.abs(np.diff(push)).max())
    assert f"at most {max(steps):.3g}" in sentence and max(steps) < 0.02
    # ... where the clip's push jumps by more than 1 at its bound
    _, clip = _push("vanilla", 1)
    assert np.abs(np.diff(clip)).max() > 1


def test_gmpo_sentence_is_true_of_the_numbers():
    (sentence,) = _sentences("gmpo")
    assert "clips in log space" in sentence and "e^0.4 ≈ 1.492" in sentence and "e^−0.4 ≈ 0.670" in sentence
    r, pos = _push("geo_mean", 1, epsilon=0.4, epsilon_high=0.4)
    assert (pos[r > math.exp(0.4)] == 0).all() and (pos[r < math.exp(0.4)] > 0).all()
    r, neg = _push("geo_mean", -1, epsilon=0.4, epsilon_high=0.4)
    assert (neg[r < math.exp(-0.4)] == 0).all() and (neg[r > math.exp(-0.4)] < 0).all()


def test_gpg_dro_vespo_sentences_are_true_of_the_numbers():
    assert _sentences("gpg") == ["GPG's push is A itself at every ratio: no ratio, no clip."]
    assert (_push("gpg", 1)[1] == 1).all()
    assert "never cut to 0" in _sentences("dro")[0]
    (vespo,) = _sentences("vespo")
    r, pos = _push("vespo", 1)
    assert f"largest at r ≈ {r[np.abs(pos).argmax()]:.2f}" in vespo


def test_a_sentence_the_numbers_do_not_bear_out_is_left_out():
    wide = Algorithm("wide", "Wide clip", "", ("", ""), {"loss_type": "dapo", "epsilon_high": 5.0, "beta": 0.0})
    r = tb.ratio_grid()
    assert tb.sweep_sentences(wide, r, tb.sweep(wide, r)) == []  # no flat region on (0, 3] for A > 0


# ------------------------------------------------------------------------------------- formulas


def _bare(latex: str) -> str:
    return re.sub(r"\\quad|\\,|\\ |,|\s", "", latex)


FORMULAS = [(f"{kind}:{n}", e.formula) for kind, reg in (("objective", OBJECTIVES), ("aggregation", AGGREGATIONS),
                                                           ("advantage", ADVANTAGE_ESTIMATORS)) for n, e in reg.items()]


@pytest.mark.parametrize("latex", [f for _, f in FORMULAS], ids=[n for n, _ in FORMULAS])
def test_formula_lines_keep_every_symbol_and_balance_braces(latex):
    lines = tb.formula_lines(latex)
    assert _bare("".join(lines)) == _bare(latex)
    for line in lines:
        assert line.count("{") == line.count("}") and line.count(r"\begin") == line.count(r"\end")
        assert tb._glyphs(line) <= 31 or not [c for c in tb._cuts(line) if c[2] != ",\\quad "]


def test_formula_lines_cut_definitions_and_long_lines():
    vanilla = tb.formula_lines(OBJECTIVES.get("vanilla").formula)
    assert len(vanilla) == 3 and vanilla[1].startswith(r"\quad \operatorname{clip}")
    assert vanilla[2].startswith("r_{i,t} =")
    assert tb.formula_lines(AGGREGATIONS.get("token-mean").formula) == [AGGREGATIONS.get("token-mean").formula]
    rloo = tb.formula_lines(ADVANTAGE_ESTIMATORS.get("rloo").formula)
    assert rloo[1].startswith(r"\quad = \frac{G}{G-1}")


# ----------------------------------------------------------------------------------- trainer code

from grpo_core.family import trl_code, verl_code  # noqa: E402  (the code the Algorithms page shows)


def test_trl_code_is_python_with_the_config_fields():
    code, notes = trl_code(A["cispo_trl"].settings)
    ast.parse(code)
    assert 'loss_type="cispo"' in code and "epsilon_high=5.0" in code and "beta=0.0" in code and notes == []
    code, _ = trl_code(A["gspo"].settings)
    assert 'importance_sampling_level="sequence"' in code and "epsilon=0.0003" in code


def test_verl_code_is_one_command_with_the_overrides():
    code, notes = verl_code(A["grpo"].settings)
    lines = code.split("\n")
    assert lines[0] == "python3 -m verl.trainer.main_ppo \\"
    assert all(line.endswith(" \\") for line in lines[:-1]) and not lines[-1].endswith("\\")
    assert "    actor_rollout_ref.actor.kl_loss_coef=0.04 \\" in lines and "clip_ratio_c=1e9" in code
    assert notes and "dual clip" in notes[0]


@pytest.mark.parametrize("name, trainer, why", [
    ("cispo_trl", "verl", "verl has no policy_loss"),
    ("vespo", "verl", "verl has no policy_loss"),
    ("gmpo", "trl", "TRL has no loss_type"),
    ("rloo", "trl", "TRL has no RLOO"),
])
def test_a_trainer_that_cannot_run_it_says_why(name, trainer, why):
    code, notes = (trl_code if trainer == "trl" else verl_code)(A[name].settings)
    assert code is None and why in notes[0]
