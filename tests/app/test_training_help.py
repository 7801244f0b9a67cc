"""The live-training page's words about the KL estimator, the KL panel, zero-spread groups and the importance
sampling level: what they say must be true of the math and of the toy (issue 14)."""

from __future__ import annotations

from pathlib import Path

import torch
from streamlit.testing.v1 import AppTest

from grpo_core.training import TRAIN_METRIC_NAMES, Trainer, TrainConfig
from tests import page_catalog as pc

MAIN = str(Path(__file__).resolve().parents[2] / "app" / "main.py")
PAGE = "app_pages/training.py"


def open_page(*, stepped: bool = False) -> AppTest:
    """The page; with ``stepped``, after one training step, once the dashboard and its panel texts show."""
    at = AppTest.from_file(MAIN, default_timeout=60)
    at.run()
    at.switch_page(PAGE).run()
    if stepped:
        at.button(key="tr_step").click().run()
        pc.fill_in(at)
    assert not at.exception, at.exception
    return at


def shown(at: AppTest) -> str:
    return " ".join([*(c.value for c in at.caption), *(m.value for m in at.markdown)])


def test_kl_panel_and_estimator_help_judge_the_estimators_by_their_gradient():
    at = open_page(stepped=True)
    text = shown(at)
    assert "β pulls both down" not in text
    assert "k1 not at all (its gradient has mean 0)" in text
    assert "k2 along that of KL(π‖π_ref), k3 along that of KL(π_ref‖π)" in text
    assert "In the reward, k1 gives the unbiased gradient of KL(π‖π_ref)" in text
    estimator_help = at.sidebar.radio(key="tr_kl_est").help
    assert "gradient" in estimator_help and "KL(π_ref‖π)" in estimator_help
    assert "the value is what counts" not in estimator_help  # k3's unbiased value gives a biased gradient there
    assert "k3's, although its value is unbiased, gives ∇KL(π‖π_ref) − ∇KL(π_ref‖π)" in estimator_help


def test_zero_spread_groups_give_no_policy_gradient_but_the_kl_still_pulls():
    text = shown(open_page(stepped=True))
    assert "they teach nothing" not in text
    assert "no policy-gradient signal (with β > 0 and the KL in the loss, the KL term still pulls" in text


def test_importance_sampling_help_says_the_one_token_task_cannot_tell_and_eps_cannot_reach_gspo():
    help_text = open_page().sidebar.radio(key="tr_is").help
    assert "On the one-token add task the two are identical" in help_text
    assert "3e-4" in help_text and "4e-4" in help_text and "step 0.01" in help_text


def test_sequence_level_is_token_level_on_the_one_token_task():
    # The claim of that help string, on the toy itself: with μ = 4 (so that ratios move and the clip acts),
    # token- and sequence-level runs from one seed end with the same weights and the same metrics.
    runs = []
    for level in ("token", "sequence"):
        trainer = Trainer(TrainConfig(task="add", num_iterations=4, importance_sampling_level=level, seed=3),
                          device="cpu")
        for _ in range(5):
            trainer.step()
        runs.append(trainer)
    token, sequence = runs
    for a, b in zip(token.policy.parameters(), sequence.policy.parameters()):
        assert torch.equal(a, b)
    timing = TRAIN_METRIC_NAMES.index("steps_per_s")
    keep = [i for i in range(len(TRAIN_METRIC_NAMES)) if i != timing]
    torch.testing.assert_close(token.history.table()[:, keep], sequence.history.table()[:, keep], rtol=0, atol=0)
    assert token.history.column("clip_ratio/region_mean").max() > 0  # the ratio did move: a real comparison
