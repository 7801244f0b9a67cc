"""AppTest of the live-training page: play, pause, step, reset, presets, knobs, URL and bad input."""

from __future__ import annotations

import base64
from pathlib import Path

import numpy as np
import pytest
import torch
from streamlit.testing.v1 import AppTest

from tests import page_catalog as pc

MAIN = str(Path(__file__).resolve().parents[2] / "app" / "main.py")
PAGE = "app_pages/training.py"


def open_page(query: dict[str, str] | None = None) -> AppTest:
    at = AppTest.from_file(MAIN, default_timeout=60)
    for key, value in (query or {}).items():
        at.query_params[key] = value
    at.run()
    at.switch_page(PAGE).run()
    assert not at.exception, at.exception
    return at


def trainer(at: AppTest):
    return at.session_state["tr_trainer"]


def values(data) -> np.ndarray:
    if isinstance(data, dict) and "bdata" in data:
        flat = np.frombuffer(base64.b64decode(data["bdata"]), data["dtype"])
        shape = data.get("shape")
        return flat.reshape([int(n) for n in str(shape).split(",")]) if shape else flat
    return np.asarray(data, dtype=float)


def figure(at: AppTest, title_start: str) -> dict:
    for spec in pc.figures(at):
        title = (spec["layout"].get("title") or {}).get("text") or ""
        if title.startswith(title_start):
            return spec
    raise AssertionError(f"no chart titled {title_start!r}")


def trace(at: AppTest, name: str) -> dict:
    for spec in pc.figures(at):
        for data in spec["data"]:
            if data.get("name") == name:
                return data
    raise AssertionError(f"no trace named {name!r}")


def click(at: AppTest, key: str) -> AppTest:
    at.button(key=key).click().run()
    assert not at.exception, at.exception
    pc.fill_in(at)
    assert not at.exception, at.exception
    return at


def test_every_control_explains_itself():
    at = open_page()
    widgets = [*at.sidebar.slider, *at.sidebar.selectbox, *at.sidebar.radio, *at.sidebar.toggle,
               *at.sidebar.number_input, *at.sidebar.select_slider, *at.button]
    assert len(widgets) >= 25
    for widget in widgets:
        assert widget.help and len(widget.help) > 20, widget.label
    assert at.expander and any("Think about it" in e.label for e in at.expander)
    assert "No steps yet" in " ".join(i.value for i in at.info)


def test_play_streams_then_pause_stops_then_reset_empties():
    at = open_page()
    click(at, "tr_play")
    assert at.session_state["tr_playing"] and at.button(key="tr_pause").label == "Pause"
    counts = [len(trainer(at).history)]
    for _ in range(3):
        at.run()  # one run of the fragment: one refresh's worth of steps
        assert not at.exception
        counts.append(len(trainer(at).history))
    assert all(b > a for a, b in zip(counts, counts[1:])), counts
    reward = trace(at, "mean reward")
    x, y = values(reward["x"]), values(reward["y"])
    assert x[-1] == counts[-1]
    assert y[-1] == pytest.approx(trainer(at).history.column("reward")[-1].item(), rel=1e-6)
    band = trace(at, "± group std")  # the spread band's lower edge: mean - group std
    std = trainer(at).history.column("reward_std")[-1].item()
    assert values(band["y"])[-1] == pytest.approx(y[-1] - std, rel=1e-5, abs=1e-6)
    assert values(trace(at, "clip either")["y"]).max() == 0.0  # mu = 1: nothing is ever clipped
    assert at.metric[0].value.startswith(f"{counts[-1]} /")

    click(at, "tr_pause")
    assert not at.session_state["tr_playing"] and at.button(key="tr_play").label == "Play"
    paused_at = len(trainer(at).history)
    at.run()
    at.run()
    assert len(trainer(at).history) == paused_at

    old = trainer(at)
    click(at, "tr_reset")
    assert trainer(at) is not old and len(trainer(at).history) == 0
    assert "No steps yet" in " ".join(i.value for i in at.info)
    assert any(run["label"].startswith("#1") for run in at.session_state["tr_runs"])  # the old run is kept


def test_step_button_runs_exactly_one_step_and_shows_its_groups():
    at = open_page()
    click(at, "tr_step")
    assert len(trainer(at).history) == 1
    table = at.dataframe[0].value
    assert list(table.columns) == ["prompt", "completion", "reward", "advantage"]
    assert len(table) == 4 * 8  # first four questions, G = 8 completions each
    for prompt, group in table.groupby("prompt"):
        a, _, b, _ = prompt.split()
        assert ((group["completion"].astype(int) == int(a) + int(b)) == (group["reward"] == 1.0)).all()
        assert abs(group["advantage"].sum()) < 1e-4
    click(at, "tr_step")
    assert len(trainer(at).history) == 2


def test_preset_loads_its_settings_and_runs_both_arms():
    at = open_page()
    click(at, "tr_exp_β = 0 vs β = 0.5")
    assert at.session_state["tr_beta"] == 0.0 and trainer(at).config.beta == 0.0
    assert trainer(at).config.max_steps == 200 and at.session_state["tr_playing"]
    assert at.sidebar.slider(key="tr_beta").value == 0.0
    first = trainer(at)
    for _ in range(60):
        at.run()
        assert not at.exception
        if trainer(at) is not first:
            break
    assert trainer(at) is not first, "the second arm never started"
    assert trainer(at).config.beta == 0.5 and at.session_state["tr_beta"] == 0.5
    assert at.session_state["tr_cmp_metric"] == "kl_ref"
    for _ in range(60):
        if not at.session_state["tr_playing"]:
            break
        at.run()
    assert not at.session_state["tr_playing"] and len(trainer(at).history) == 200
    labels = [run["label"] for run in at.session_state["tr_runs"]]
    assert any("β=0" in label and "β=0.5" not in label for label in labels)
    overlay = figure(at, "kl_ref by run")
    names = [trace["name"] for trace in overlay["data"]]
    assert any("β=0.5" in n for n in names) and len(names) == 2
    assert at.get("download_button")


def test_structural_change_resets_other_knobs_apply_to_the_same_run():
    at = open_page()
    click(at, "tr_step")
    run = trainer(at)
    at.sidebar.slider(key="tr_beta").set_value(0.3).run()
    assert trainer(at) is run and run.config.beta == 0.3
    at.sidebar.slider(key="tr_lr").set_value(0.05).run()
    assert trainer(at) is run and run.optimizer.param_groups[0]["lr"] == 0.05
    at.sidebar.slider(key="tr_G").set_value(4).run()
    assert trainer(at) is not run and trainer(at).config.group_size == 4
    assert "G changed" in " ".join(i.value for i in at.info)
    assert len(at.session_state["tr_runs"]) == 1


def test_url_sets_the_controls_and_a_hostile_url_only_warns():
    at = open_page({"tr_G": "4", "tr_beta": "0.5", "tr_task": "times"})
    config = trainer(at).config
    assert (config.group_size, config.beta, config.task) == (4, 0.5, "times")
    at = open_page({"tr_beta": "<script>alert(1)</script>", "tr_G": "1e400", "tr_loss": "sum"})
    assert not at.exception
    notice = " ".join(w.value for w in at.warning)
    assert "tr\\_beta" in notice and "tr\\_G" in notice and "<script>" not in notice
    assert trainer(at).config.beta == 0.04 and trainer(at).config.group_size == 8


def test_impossible_clip_settings_warn_and_keep_the_last_good_config():
    at = open_page()
    at.sidebar.toggle(key="tr_dual").set_value(True).run()
    assert trainer(at).config.delta == 3.0
    at.sidebar.toggle(key="tr_clip_high").set_value(True).run()
    at.sidebar.slider(key="tr_eps_high").set_value(0.9).run()
    at.sidebar.slider(key="tr_delta").set_value(1.5).run()  # delta must be > 1 + eps_high = 1.9
    assert not at.exception
    assert any("delta" in w.value for w in at.warning)
    assert trainer(at).config.delta == 3.0 and trainer(at).config.epsilon_high == 0.9
    click(at, "tr_step")
    assert len(trainer(at).history) == 1


def test_divergence_stops_play_with_a_clear_message():
    at = open_page()
    click(at, "tr_step")
    with torch.no_grad():
        trainer(at).policy.w2.fill_(float("nan"))
    click(at, "tr_play")
    at.run()
    assert not at.exception
    assert not at.session_state["tr_playing"]
    assert any("diverged" in e.value and "NaN" in e.value for e in at.error)
    assert len(trainer(at).history) == 2  # the step before is kept, the diverged one recorded
    assert "nan" not in " ".join(str(m.value).lower() for m in at.metric)


def test_answer_distribution_over_time_for_a_chosen_question():
    at = open_page()
    click(at, "tr_step")
    click(at, "tr_step")
    heat = figure(at, "P(answer")
    z = values(heat["data"][0]["z"])
    assert z.shape == (19, 3)  # the start, then two steps
    assert np.allclose(z.sum(axis=0), 1.0, atol=1e-4)
    at.selectbox(key="tr_probe").set_value("5").run()
    label = trainer(at).task.prompt_text(trainer(at).probe_prompts[5])
    assert figure(at, "P(answer")["layout"]["title"]["text"] == f"P(answer | {label}) over training"


def test_step_and_pause_rerun_the_live_view_and_compare_runs_not_the_page():
    at = open_page()
    at.button(key="tr_step").click().run()
    assert not at.exception, at.exception
    assert not at.sidebar.children, "Step reran the whole page"
    assert trainer(at).step_count == 1
    compared = figure(at, "reward by run")  # the stopped run shows under Compare runs at once
    assert [t["name"] for t in compared["data"]] == ["now defaults"]
    pc.fill_in(at)
    click(at, "tr_play")
    steps = trainer(at).step_count
    at.button(key="tr_pause").click().run()
    assert not at.exception, at.exception
    assert not at.sidebar.children, "Pause reran the whole page"
    assert not at.session_state["tr_playing"]
    assert at.button(key="tr_play").label == "Play"
    assert len(values(figure(at, "reward by run")["data"][0]["y"])) == trainer(at).step_count >= steps
