"""Live training's run controls rerun the sections that show them (training_session.sections_reading): the
TRL / verl code and a run's label are rerun exactly for the controls that change them."""

from __future__ import annotations

import pytest

from tests import page_catalog  # noqa: F401  (puts app/ on the import path)
import training_controls as tc
import training_session as ts

#: States in which each run control is used: the clip-higher and dual-clip values count only when those
#: are on, verl's selectboxes only with its vocabulary.
BASES = ({**tc.DEFAULTS, "tr_clip_high": True, "tr_dual": True},
         {**tc.DEFAULTS, "tr_clip_high": True, "tr_dual": True, "tr_vocab": "verl"})
OTHER = {"tr_task": "times", "tr_size": "large", "tr_B": 4, "tr_G": 4, "tr_difficulty": "easy", "tr_seed": 7,
         "tr_temp": 0.7, "tr_lr": 0.05, "tr_mu": 2, "tr_eps": 0.3, "tr_clip_high": False, "tr_eps_high": 0.4,
         "tr_dual": False, "tr_delta": 4.0, "tr_beta": 0.5, "tr_kl_est": "k1", "tr_kl_in": "reward",
         "tr_kl_bias": True, "tr_scale": "none", "tr_adv": "rloo", "tr_vocab": "TRL", "tr_loss": "dapo",
         "tr_policy_loss": "gspo", "tr_agg": "seq-mean-token-sum", "tr_tau_pos": 2.0, "tr_tau_neg": 2.0,
         "tr_dro_beta": 0.5, "tr_is": "sequence", "tr_top_ent": 0.5, "tr_mask_trunc": True, "tr_partial": True,
         "tr_cap": 100, "tr_speed": "max"}


def shown(state: dict) -> tuple:
    config = tc.config_from_widgets(state)
    return tc.trainer_settings(config), tc.describe(config)


@pytest.mark.parametrize("key", sorted(set(tc.DEFAULTS) - set(tc.NEW_RUN)))
def test_a_control_reruns_the_code_and_the_runs_exactly_when_it_changes_them(key):
    assert set(OTHER) == set(tc.DEFAULTS)
    changes = [tuple(a != b for a, b in zip(shown(base), shown({**base, key: OTHER[key]}))) for base in BASES]
    code, label = any(c[0] for c in changes), any(c[1] for c in changes)
    reading = ts.sections_reading(key)
    assert (ts.CODE_SECTION in reading) == code, (key, reading)
    assert (ts.COMPARE_FRAGMENT in reading) == label, (key, reading)
    if reading:  # the settings are applied to the trainer before anything shows it
        assert reading[0] == ts.RUN_SECTION
    assert (ts.LIVE_FRAGMENT in reading) == (key in tc.SHOWN_LIVE)


def test_the_controls_that_start_a_new_run_are_the_structural_fields():
    from grpo_core.training import STRUCTURAL_FIELDS, needs_reset

    base = tc.config_from_widgets(tc.DEFAULTS)
    resets = {key for key in tc.DEFAULTS if needs_reset(base, tc.config_from_widgets({**tc.DEFAULTS, key: OTHER[key]}))}
    assert resets == set(tc.NEW_RUN), STRUCTURAL_FIELDS
    for key in tc.NEW_RUN:  # the new run is made first, then shown in the run's view and the runs kept
        reading = ts.sections_reading(key)
        assert reading[0] == ts.RUN_SECTION and {ts.LIVE_FRAGMENT, ts.COMPARE_FRAGMENT} <= set(reading), key
