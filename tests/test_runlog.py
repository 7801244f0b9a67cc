"""Reading trainer logs (grpo_core.runlog): the real TRL and verl samples under app/samples and the CSV under tests/data, the same data
in the other layouts, and every kind of bad input answered with a clear message or a warning, never a crash."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from grpo_core.runlog import (
    KNOWN_METRICS,
    MAX_BYTES,
    MAX_METRICS,
    MAX_ROWS,
    NOT_THE_SAME,
    RunLog,
    mapping_table,
    parse_log,
)
from grpo_core.training import TRAIN_METRIC_NAMES

DATA = Path(__file__).resolve().parent / "data"
SAMPLES = Path(__file__).resolve().parents[1] / "app" / "samples"  # the real logs, one copy, shipped with the app
TRL = SAMPLES / "trl_trainer_state.json"
VERL = SAMPLES / "verl_file_logger.jsonl"
CSV = DATA / "wandb_export.csv"


def lines(*entries) -> str:
    return "\n".join(json.dumps(e) for e in entries)


def test_the_real_trl_sample():
    state = json.loads(TRL.read_text())
    log = parse_log(TRL.read_bytes())
    assert log.kind == "TRL trainer_state.json"
    history = [e for e in state["log_history"] if "reward" in e]
    assert len(log.steps) == len(history) == 120
    np.testing.assert_array_equal(log.steps, [e["step"] for e in history])
    for ours, theirs in (("reward", "reward"), ("frac_reward_zero_std", "frac_reward_zero_std"), ("kl", "kl"),
                         ("completion_length", "completions/mean_length"),
                         ("truncated_fraction", "completions/clipped_ratio"), ("clip_ratio/region_mean", "clip_ratio/region_mean")):
        np.testing.assert_allclose(log.metrics[ours], [e[theirs] for e in history])
        assert log.sources[ours] == theirs
    assert "rewards/right_digit/mean" in log.unknown and "reward" in log.known
    assert not log.warnings


def test_the_real_verl_sample():
    records = [json.loads(line) for line in VERL.read_text().splitlines()]
    log = parse_log(VERL.read_bytes())
    assert log.kind == "verl JSON lines" and len(log.steps) == len(records) == 60
    for ours, theirs in (("reward", "critic/score/mean"), ("clip_ratio/region_mean", "actor/pg_clipfrac"),
                         ("kl", "actor/kl_loss"), ("entropy", "actor/entropy"),
                         ("completion_length", "response_length/mean"), ("truncated_fraction", "response_length/clip_ratio"),
                         ("loss", "actor/pg_loss")):
        np.testing.assert_allclose(log.metrics[ours], [r["data"][theirs] for r in records])
    # never mistaken for what they are not
    assert "actor/ppo_kl" in log.unknown and "actor/pg_clipfrac_lower" in log.unknown
    assert "clip_ratio/low_mean" not in log.metrics
    rows = {r["in the log"]: r for r in log.mapping_rows()}
    assert rows["actor/ppo_kl"]["explorer name"] == "" and "not the KL to the reference" in rows["actor/ppo_kl"]["meaning"]


def test_the_csv_sample_reads_as_the_trl_log_it_was_made_from():
    trl, csv = parse_log(TRL.read_bytes()), parse_log(CSV.read_bytes())
    assert csv.kind == "CSV"
    np.testing.assert_array_equal(csv.steps, trl.steps)
    for name in ("reward", "kl", "entropy", "completion_length", "truncated_fraction", "loss"):
        np.testing.assert_allclose(csv.metrics[name], trl.metrics[name])
        assert csv.sources[name] == "train/" + trl.sources[name]


def test_the_same_log_as_json_lines_as_a_list_and_as_text():
    history = json.loads(TRL.read_text())["log_history"]
    reference = parse_log(TRL.read_bytes())
    for text in (lines(*history), json.dumps(history), TRL.read_text()):
        log = parse_log(text)
        np.testing.assert_array_equal(log.steps, reference.steps)
        assert set(log.metrics) == set(reference.metrics)
        np.testing.assert_allclose(log.metrics["reward"], reference.metrics["reward"])


def test_mapping_table_covers_every_explorer_name_it_claims():
    targets = {k.name for k in KNOWN_METRICS}
    for name in ("reward", "reward_std", "frac_reward_zero_std", "kl", "entropy", "clip_ratio/low_mean",
                 "clip_ratio/high_mean", "clip_ratio/region_mean", "completion_length", "loss"):
        assert name in TRAIN_METRIC_NAMES and name in targets
    assert len(mapping_table()) == len(KNOWN_METRICS) + len(NOT_THE_SAME)
    assert not set(NOT_THE_SAME) & {k.source for k in KNOWN_METRICS}


def test_first_source_of_a_name_wins_and_the_second_keeps_its_own():
    log = parse_log(lines({"step": 1, "data": {"actor/kl_loss": 0.1, "actor/reward_kl_penalty": 0.2}},
                          {"step": 2, "data": {"actor/kl_loss": 0.2, "actor/reward_kl_penalty": 0.3}}))
    assert log.sources["kl"] == "actor/kl_loss"
    np.testing.assert_allclose(log.metrics["actor/reward_kl_penalty"], [0.2, 0.3])
    assert "actor/reward_kl_penalty" in log.unknown


def test_repeated_steps_merge_and_conflicts_are_warned():
    log = parse_log(lines({"step": 1, "loss": 0.5}, {"step": 1, "reward": 0.2}, {"step": 2, "loss": 0.4},
                          {"step": 2, "loss": 0.3}))
    np.testing.assert_array_equal(log.steps, [1, 2])
    np.testing.assert_allclose(log.metrics["loss"], [0.5, 0.3])
    assert log.metrics["reward"][0] == 0.2 and math.isnan(log.metrics["reward"][1])
    assert any("twice" in w for w in log.warnings)


def test_missing_steps_and_uneven_spacing():
    log = parse_log(lines({"loss": 1.0}, {"step": 1, "loss": 0.5}, {"step": 2, "loss": 0.4}, {"step": 10, "loss": 0.3},
                          {"step": -3, "loss": 0.1}, {"step": 2.5, "loss": 0.1}, {"step": "x", "loss": 0.1}))
    np.testing.assert_array_equal(log.steps, [1, 2, 10])
    assert any("no whole, non-negative step" in w and w.startswith("4") for w in log.warnings)
    assert any("not evenly spaced" in w for w in log.warnings)


def test_nonfinite_huge_and_non_numeric_values_are_skipped_with_warnings():
    text = ('{"step": 1, "loss": NaN, "reward": Infinity, "kl": 1e999, "entropy": 1e300, "x": 12345678901234567890123,'
            ' "note": "<script>alert(1)</script>", "flag": true, "nested": {"a": 1}, "ok": 0.5}\n'
            '{"step": 2, "loss": 0.1, "ok": "0.25"}')
    log = parse_log(text)
    assert set(log.metrics) == {"loss", "ok"}
    np.testing.assert_allclose(log.metrics["ok"], [0.5, 0.25])
    assert any("NaN, infinite or beyond" in w for w in log.warnings)
    assert any("not numbers" in w for w in log.warnings)
    assert all(np.isfinite(v[np.isfinite(v)]).all() for v in log.metrics.values())


def test_html_in_metric_names_is_kept_as_text_and_control_characters_go():
    log = parse_log(lines({"step": 1, "<img src=x onerror=alert(1)>": 1.0, "a\x1b[31mb\u202e": 2.0}))
    assert "<img src=x onerror=alert(1)>" in log.metrics and "a[31mb" in log.metrics


def test_a_malformed_line_is_skipped_and_counted():
    log = parse_log('{"step": 1, "loss": 0.5}\n{"step": 2, "loss": \n{"step": 3, "loss": 0.3}\n')
    np.testing.assert_array_equal(log.steps, [1, 3])
    assert any("line 2" in w for w in log.warnings)


@pytest.mark.parametrize("data, message", [
    (b"", "empty"),
    (b"   \n\t", "empty"),
    (b"\xff\xfe\x00\x01garbage", "not UTF-8"),
    ("a\x00b", "binary"),
    ('{"log_history": 3}', "not a list"),
    ('{"foo": "bar"}', "nothing to show"),
    ("[1, 2, 3]", "nothing to show"),
    ("{not json at all", "neither JSON nor JSON lines"),
    ("[" * 100_000, "neither JSON nor JSON lines"),
    ('{"step": 1, "loss": ' + "9" * 5000 + "}", "neither JSON nor JSON lines"),
    ("<html><script>alert(1)</script></html>", "looks like HTML"),
    ("a,b\n1,2\n", "no step column"),
    ("step,loss\nx,y\n", "nothing to show"),
    ('{"step": 1}', "nothing to show"),
    (b"\x80\x04\x95pickle", "not UTF-8"),
])
def test_bad_input_gives_a_clear_message(data, message):
    with pytest.raises(ValueError, match=message):
        parse_log(data)


def test_size_and_row_limits():
    with pytest.raises(ValueError, match="20 MB"):
        parse_log(b" " * (MAX_BYTES + 1))
    with pytest.raises(ValueError, match="100,000"):
        parse_log("\n".join(f'{{"step": {i}, "loss": 0.1}}' for i in range(MAX_ROWS + 1)))
    with pytest.raises(ValueError, match="100,000"):
        parse_log("step,loss\n" + "\n".join(f"{i},0.1" for i in range(MAX_ROWS + 2)))


def test_too_many_metrics_keeps_the_first():
    log = parse_log(json.dumps({"step": 1, **{f"m{i}": float(i) for i in range(MAX_METRICS + 20)}}))
    assert len(log.metrics) == MAX_METRICS
    assert any(str(MAX_METRICS) in w for w in log.warnings)


def test_csv_variants():
    log = parse_log("global_step\tloss\treward\n1\t0.5\t0.1\n2\t\t0.2\n3\tnan\t0.3\n")
    np.testing.assert_array_equal(log.steps, [1, 2, 3])
    assert np.isnan(log.metrics["loss"][1:]).all()
    log = parse_log('step,"comment, with comma",reward\n1,"<b>hi</b>",0.1\n2,"x",0.2\n')
    assert "comment, with comma" not in log.metrics
    np.testing.assert_allclose(log.metrics["reward"], [0.1, 0.2])


def test_series_returns_finite_points_only():
    log = RunLog("test", np.array([1, 2, 3]), {"a": np.array([1.0, np.nan, 3.0])}, {"a": "a"})
    steps, values = log.series("a")
    np.testing.assert_array_equal(steps, [1, 3])
    np.testing.assert_array_equal(values, [1.0, 3.0])
