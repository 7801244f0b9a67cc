"""Your run (app/app_pages/your_run.py) in AppTest: each log format uploaded and pasted, the dashboard drawn
from the log's own numbers, findings with their links, bad files answered with a message (never HTML, never
a crash), the overlay with live runs, and a pasted trainer config turned into a link to Live training."""

from __future__ import annotations

import json
import urllib.parse
from pathlib import Path

import numpy as np
import pytest

import training_controls as tc
from grpo_core.runlog import MAX_BYTES, parse_log
from grpo_core.training import TRAIN_METRIC_NAMES
from tests import page_catalog as pc
from tests.app.pages import decode, open_page

PAGE = "app_pages/your_run.py"
DATA = Path(__file__).resolve().parents[1] / "data"
SAMPLES = Path(__file__).resolve().parents[2] / "app" / "samples"  # the real TRL and verl logs (one copy)

FILES = {"TRL trainer_state.json": SAMPLES / "trl_trainer_state.json",
         "verl JSON lines": SAMPLES / "verl_file_logger.jsonl", "CSV": DATA / "wandb_export.csv"}


def figures(at) -> dict[str, dict]:
    """Figures by their element key (``yr_dashboard_chart``, ``yr_compare_chart``, ...)."""
    out = {}
    for node in pc.nodes(at):
        figure = pc.figure_of(node)
        if figure is not None:
            out[node.proto.id.split("-")[-1] if not getattr(node, "key", None) else node.key] = figure
    return out


def dashboard_trace(at, name: str) -> tuple[np.ndarray, np.ndarray]:
    (figure,) = [f for k, f in figures(at).items() if "dashboard" in k]
    (trace,) = [t for t in figure["data"] if t.get("name") == name]
    return decode(trace["x"]), decode(trace["y"])


def texts(at) -> str:
    return "\n".join(s.text for s in pc.shown(at))


def summary(at):
    return at.dataframe[0].value


def link_query(at) -> dict[str, str]:
    (link,) = [p.proto for p in at.get("page_link") if p.proto.label == "Live training with these settings"]
    assert link.page == "training"
    return {k: v[0] for k, v in urllib.parse.parse_qs(link.query_string).items()}


def upload(at, *files: tuple[str, bytes]):
    at.file_uploader(key="yr_files").set_value([(name, data, "application/octet-stream") for name, data in files])
    return at.run()


def clean(at) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not pc.raw_html_with(at, ["<script", "onerror", "<img"]), "user text rendered as HTML"
    assert not pc.nonfinite_texts(at) and not pc.nonfinite_cells(at)


def test_opens_on_the_trl_example_with_its_dashboard_findings_and_links():
    at = open_page(PAGE)
    clean(at)
    assert summary(at)["format"].tolist() == ["TRL trainer_state.json"]
    log = parse_log((SAMPLES / "trl_trainer_state.json").read_bytes())
    steps, reward = dashboard_trace(at, "mean reward")
    np.testing.assert_array_equal(steps, log.steps)
    np.testing.assert_allclose(reward, log.metrics["reward"], rtol=1e-6)
    shown = texts(at)
    for title in ("Many groups give no learning signal", "The clip never acts", "Many completions are cut off"):
        assert title in shown
    links = {p.proto.label: p.proto for p in at.get("page_link")}
    (mu,) = [p for label, p in links.items() if p.page == "training" and "μ = 1 vs μ = 4" in label]
    # one click starts the experiment there (the live page's tr_exp)
    assert urllib.parse.parse_qs(mu.query_string)["tr_exp"] == ["μ = 1 vs μ = 4"] and "starts the" in mu.label
    (reward_groups,) = [p for p in links.values() if p.page == "reward-groups"]
    assert reward_groups.page_script_hash  # a registered page
    assert "completions/mean_length" in at.dataframe[1].value["in the log"].tolist()  # the mapping table


def test_the_verl_example_from_the_url():
    at = open_page(PAGE, yr_example="verl")
    clean(at)
    assert summary(at)["format"].tolist() == ["verl JSON lines"]
    assert "The loss sits near 0 while the reward moves" in texts(at)
    _, clip = dashboard_trace(at, "clip either")
    assert clip.max() > 0  # two mini-batches: the clip acts


@pytest.mark.parametrize("kind", list(FILES))
def test_each_format_uploaded_draws_its_own_numbers(kind):
    data = FILES[kind].read_bytes()
    at = upload(open_page(PAGE), (FILES[kind].name, data))
    clean(at)
    assert summary(at)["format"].tolist() == [kind]
    log = parse_log(data)
    steps, length = dashboard_trace(at, "length")
    np.testing.assert_array_equal(steps, log.steps)
    np.testing.assert_allclose(length, log.metrics["completion_length"], rtol=1e-6)
    assert not at.radio, "the example picker is gone once a log is loaded"


def test_pasted_json_lines_and_smoothing_from_the_url():
    history = json.loads((SAMPLES / "trl_trainer_state.json").read_text())["log_history"]
    at = open_page(PAGE, yr_smooth="5")
    at.text_area(key="yr_paste").input("\n".join(json.dumps(e) for e in history)).run()
    clean(at)
    assert summary(at)["format"].tolist() == ["TRL JSON lines"]
    _, smoothed = dashboard_trace(at, "mean reward")
    reward = np.array([e["reward"] for e in history])
    assert smoothed[10] == pytest.approx(reward[6:11].mean())


def test_several_uploads_and_live_runs_are_overlaid():
    at = open_page(PAGE)
    at.session_state["tr_runs"] = [dict(label="β=0.5", table=np.full((30, len(TRAIN_METRIC_NAMES)), 0.25))]
    at = upload(at, *((FILES[k].name, FILES[k].read_bytes()) for k in ("TRL trainer_state.json", "verl JSON lines")))
    clean(at)
    (compare,) = [f for k, f in figures(at).items() if "compare" in k]
    assert [t["name"] for t in compare["data"]] == ["trl_trainer_state.json", "verl_file_logger.jsonl", "live β=0.5"]


def test_unknown_metrics_can_be_plotted():
    at = open_page(PAGE)
    at.multiselect(key="yr_unknown").set_value(["rewards/right_digit/mean"]).run()
    clean(at)
    (other,) = [f for k, f in figures(at).items() if "other" in k]
    assert other["data"][0]["name"] == "rewards/right_digit/mean"


@pytest.mark.parametrize("data, expect", [
    (b"<html><script>alert('x')</script><img src=x onerror=alert(1)></html>", "cannot be read"),
    (b"\x80\x04\x95\x00pickle", "not UTF"),
    (b"[" * 50_000, "cannot be read"),
    (b'{"step": 1, "loss": NaN, "reward": 1e999}\n{"step": 2, "loss": 0.5, "reward": 0.1}', "NaN, infinite"),
    (b'{"step": 1, "<script>alert(1)</script>": 1}\n{"step": 1, "<script>alert(1)</script>": 2}', "logged twice"),
])
def test_bad_files_get_a_message_and_the_page_stays_up(data, expect):
    at = upload(open_page(PAGE), ("<img src=x onerror=alert(1)>.json", data))
    clean(at)
    assert expect in texts(at)
    assert figures(at), "the page still draws a run"


def test_an_oversized_upload_is_refused_by_our_own_check():
    at = upload(open_page(PAGE), ("big.jsonl", b" " * (MAX_BYTES + 1)))
    clean(at)
    assert "larger than 20 MB" in texts(at)


def test_a_hostile_file_name_is_never_markup():
    data = (SAMPLES / "verl_file_logger.jsonl").read_bytes()
    at = upload(open_page(PAGE), ("<img src=x onerror=alert(1)>.jsonl", data))
    clean(at)
    (compare,) = [f for k, f in figures(at).items() if "compare" in k]
    assert "<" not in compare["data"][0]["name"]


def test_a_trl_config_is_listed_and_linked_to_live_training():
    at = open_page(PAGE)
    at.text_area(key="yr_config").input(
        "GRPOConfig(loss_type='dapo', beta=0.04, epsilon_high=0.28, num_generations=16, learning_rate=1e-6, "
        "output_dir='<b>x</b>')").run()
    clean(at)
    used, unused = at.dataframe[-2].value, at.dataframe[-1].value
    assert {"loss_type", "beta", "epsilon_high", "num_generations"} <= set(used["field"])
    assert {"learning_rate", "output_dir"} <= set(unused["field"])
    query = link_query(at)
    assert (query["tr_loss"], query["tr_beta"], query["tr_clip_high"], query["tr_eps_high"], query["tr_G"],
            query["tr_vocab"], query["tr_kl_bias"]) == (tc.LABELS["tr_loss"]["dapo"], "0.04", "true", "0.28", "16",
                                                        "TRL", "true")
    for key, value in query.items():  # every value is one the live page's URL check accepts
        tc.URL_SPEC[key](value)
    (link,) = [p.proto for p in at.get("page_link") if "Algorithms" in p.proto.label]
    assert link.page == "algorithms"
    (text,) = urllib.parse.parse_qs(link.query_string)["alg_config"]
    assert text.startswith("GRPOConfig(loss_type='dapo'")  # the text itself: the Algorithms page reads it again


def test_verl_overrides_link_with_verl_vocabulary():
    at = open_page(PAGE)
    at.text_area(key="yr_config").input(
        "actor_rollout_ref.actor.clip_ratio_high=0.28 algorithm.adv_estimator=rloo actor_rollout_ref.rollout.n=4 "
        "actor_rollout_ref.actor.ppo_epochs=2").run()
    clean(at)
    query = link_query(at)
    assert (query["tr_vocab"], query["tr_adv"], query["tr_mu"], query["tr_G"], query["tr_dual"]) == \
        ("verl", tc.LABELS["tr_adv"]["rloo"], "2", "4", "true")


@pytest.mark.parametrize("text", ["<script>alert(1)</script>", "{" * 3000, "beta: .nan", "GRPOConfig(beta=-1)",
                                  "actor_rollout_ref.rollout.n=100000"])
def test_bad_configs_give_a_message(text):
    at = open_page(PAGE)
    at.text_area(key="yr_config").input(text).run()
    clean(at)
    assert at.error or at.dataframe[-1].value["field"].tolist() != ["(none)"]
