"""Findings (grpo_core.findings) on crafted logs: each fires on a log that shows it and not on one that does not,
states the numbers it rests on, and links to a page that exists (with URL keys that page reads)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from grpo_core import findings as fd
from grpo_core.runlog import RunLog, parse_log
from tests import page_catalog as pc

STEPS = np.arange(1, 41)
RISING = np.linspace(0.1, 0.8, 40)
FLAT = np.full(40, 0.3)


def log_of(**columns) -> RunLog:
    metrics = {name.replace("__", "/"): np.asarray(v, dtype=np.float64) for name, v in columns.items()}
    return RunLog("test", STEPS, metrics, {n: n for n in metrics})


def keys(log: RunLog) -> list[str]:
    return [f.key for f in fd.find(log)]


CASES = {
    # key: (a log that shows it, a log that does not)
    "no_signal": (log_of(frac_reward_zero_std=np.r_[np.full(20, 0.75), np.full(20, 0.1)]),
                  log_of(frac_reward_zero_std=np.r_[np.full(5, 0.75), np.full(35, 0.1)])),
    "reward_std_shrinks": (log_of(reward_std=np.linspace(0.4, 0.0, 40)), log_of(reward_std=np.linspace(0.4, 0.3, 40))),
    "clip_zero": (log_of(clip_ratio__region_mean=np.zeros(40), clip_ratio__low_mean=np.zeros(40)),
                  log_of(clip_ratio__region_mean=np.r_[np.zeros(39), 0.001])),
    "loss_near_zero": (log_of(loss=np.full(40, 0.002), reward=RISING), log_of(loss=np.full(40, 0.002), reward=FLAT)),
    "kl_grows": (log_of(kl=np.linspace(0.0, 0.4, 40) ** 1.5), log_of(kl=np.r_[np.linspace(0, 0.2, 20), np.full(20, 0.2)])),
    "entropy_collapse": (log_of(entropy=np.linspace(2.0, 0.1, 40)), log_of(entropy=np.linspace(2.0, 1.2, 40))),
    "length_drift": (log_of(completion_length=np.linspace(100, 400, 40)), log_of(completion_length=np.linspace(100, 110, 40))),
    "truncated": (log_of(truncated_fraction=np.full(40, 0.3)), log_of(truncated_fraction=np.full(40, 0.02))),
}


@pytest.mark.parametrize("key", list(CASES))
def test_each_finding_fires_on_a_log_that_shows_it_and_not_on_one_that_does_not(key):
    shows, does_not = CASES[key]
    assert key in keys(shows)
    assert key not in keys(does_not)


def test_every_check_has_a_case():
    shown = set()
    for shows, _ in CASES.values():
        shown |= set(keys(shows))
    assert shown == set(CASES)


def test_the_loss_near_zero_needs_the_loss_to_be_near_zero():
    assert "loss_near_zero" not in keys(log_of(loss=np.full(40, 0.8), reward=RISING))


def test_the_clip_zero_sentence_states_when_it_is_expected():
    (finding,) = [f for f in fd.find(CASES["clip_zero"][0]) if f.key == "clip_zero"]
    for needed in ("num_iterations = 1", "steps_per_generation", "gradient_accumulation_steps", "vLLM",
                   "ppo_epochs = 1", "40 logged steps"):
        assert needed in finding.sentence, needed


def test_sentences_state_the_numbers_they_rest_on():
    (kl,) = [f for f in fd.find(CASES["kl_grows"][0]) if f.key == "kl_grows"]
    q = [float(np.mean(p)) for p in np.array_split(np.linspace(0.0, 0.4, 40) ** 1.5, 4)]
    assert f"{q[0]:.3g}" in kl.sentence and f"{q[3]:.3g}" in kl.sentence
    (trunc,) = fd.find(CASES["truncated"][0])
    assert "At 40 of 40 logged steps" in trunc.sentence and "up to 30%" in trunc.sentence
    (length,) = fd.find(CASES["length_drift"][0])
    assert 'loss_type "grpo"' in length.sentence


def test_evidence_is_real_points_of_the_metric():
    for shows, _ in CASES.values():
        for finding in fd.find(shows):
            steps, values = shows.series(finding.metric)
            assert 0 < len(finding.evidence) <= fd.EVIDENCE_POINTS
            for step, value in finding.evidence:
                assert value == values[list(steps).index(step)]


def test_short_logs_and_missing_metrics_give_no_finding():
    short = RunLog("t", np.arange(1, 4), {"entropy": np.array([2.0, 1.0, 0.0])}, {"entropy": "entropy"})
    assert fd.find(short) == []
    assert fd.find(log_of(something_else=RISING)) == []
    gappy = log_of(entropy=np.r_[np.full(37, np.nan), 2.0, 1.0, 0.01])  # three logged points only
    assert fd.find(gappy) == []


def test_links_point_at_pages_and_keys_that_exist():
    from grpo_core.experiments import EXPERIMENTS

    pages = {p.url_path: p for p in pc.pages()}
    for shows, _ in CASES.values():
        for finding in fd.find(shows):
            for link in finding.links:
                assert link.page in pages, link
                page_keys = pc.url_keys(pages[link.page])
                for key in link.query:
                    assert key in page_keys, (link.page, key)
                if link.experiment is not None:
                    assert link.experiment in EXPERIMENTS and link.page == "training", link


def test_the_real_samples():
    data = Path(__file__).resolve().parents[1] / "app" / "samples"  # the real TRL and verl logs
    trl = fd.find(parse_log((data / "trl_trainer_state.json").read_bytes()))
    assert {"no_signal", "clip_zero", "truncated"} <= {f.key for f in trl}  # a random tiny model, num_iterations = 1
    verl = fd.find(parse_log((data / "verl_file_logger.jsonl").read_bytes()))
    assert "clip_zero" not in {f.key for f in verl}  # two mini-batches, two epochs: the clip acts
