"""AppTest of the live-training page: play, pause, step, reset, presets, knobs, URL and bad input."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from streamlit.testing.v1 import AppTest

from grpo_core.inspector import QUANTITIES
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


def run_to_the_end(at: AppTest) -> None:
    """Train the page's current run to its cap in one go, then let the page react (next arm, or done)."""
    arm = trainer(at)
    if arm.stop_reason is None:
        arm.advance(10**6, 120.0)
    for _ in range(5):  # the refresh that finds the run stopped, then the full rerun it asks for
        at.run()
        assert not at.exception, at.exception
        if trainer(at) is not arm or not at.session_state["tr_playing"]:
            return


def test_preset_loads_its_settings_and_runs_both_arms():
    at = open_page()
    click(at, "tr_exp_β = 0 vs β = 0.5")
    assert at.session_state["tr_beta"] == 0.0 and trainer(at).config.beta == 0.0
    assert trainer(at).config.max_steps == 200 and at.session_state["tr_playing"]
    assert at.sidebar.slider(key="tr_beta").value == 0.0
    first = trainer(at)
    steps = [len(first.history)]
    for _ in range(3):  # refreshes train the arm...
        at.run()
        assert not at.exception
        steps.append(len(first.history))
    assert all(b > a for a, b in zip(steps, steps[1:])), steps
    run_to_the_end(at)  # ...then the rest of it at once (refreshes train ~0.05 s each; it would take minutes)
    assert trainer(at) is not first, "the second arm never started"
    assert trainer(at).config.beta == 0.5 and at.session_state["tr_beta"] == 0.5
    assert at.session_state["tr_cmp_metric"] == "kl_ref"
    run_to_the_end(at)
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


# ------------------------------------------------------------------ the family's controls, presets, experiments

import training_controls as tc  # noqa: E402  (app/ is on the test path)
from grpo_core.aggregation import AGGREGATIONS  # noqa: E402
from grpo_core.experiments import EXPERIMENTS  # noqa: E402
from grpo_core.family import trl_code, trl_config, verl_code  # noqa: E402
from grpo_core.kl import KL_ESTIMATORS  # noqa: E402
from grpo_core.loss import LOSS_TYPES, TRL_LOSS_TYPES  # noqa: E402
from grpo_core.objectives import OBJECTIVES  # noqa: E402
from grpo_core.training import TrainConfig  # noqa: E402


def step_terms(at: AppTest):
    """The loss terms of one step of the page's trainer, first update: what it really minimises with the
    settings the widgets gave it (stepped here, not through a rerun: the widgets are what is tested)."""
    return trainer(at).step().inspect(0)


def test_every_trl_loss_type_reaches_the_trainer_and_its_loss():
    at = open_page()
    run = trainer(at)
    assert at.sidebar.selectbox(key="tr_loss").options == [tc.loss_type_label(n) for n in LOSS_TYPES]
    for name in LOSS_TYPES:
        at.sidebar.selectbox(key="tr_loss").set_value(name).run()
        assert not at.exception, at.exception
        assert trainer(at) is run, "a loss_type change restarted the run"
        assert run.config.loss_type == name and run.config.policy_loss is None
        terms = step_terms(at)
        assert (terms.objective, terms.aggregation) == (TRL_LOSS_TYPES[name].objective, TRL_LOSS_TYPES[name].aggregation)
        assert OBJECTIVES[TRL_LOSS_TYPES[name].objective].title in " ".join(c.value for c in at.sidebar.caption)


def test_verl_vocabulary_every_objective_and_aggregation_reach_the_trainer():
    at = open_page()
    assert at.sidebar.selectbox(key="tr_policy_loss").disabled and not at.sidebar.selectbox(key="tr_loss").disabled
    at.sidebar.radio(key="tr_vocab").set_value("verl").run()
    assert at.sidebar.selectbox(key="tr_loss").disabled and not at.sidebar.selectbox(key="tr_policy_loss").disabled
    config = trainer(at).config
    assert (config.loss_type, config.policy_loss, config.loss_agg_mode) == (None, "vanilla", "token-mean")
    for name in OBJECTIVES:
        at.sidebar.selectbox(key="tr_policy_loss").set_value(name).run()
        assert not at.exception, at.exception
        assert trainer(at).config.policy_loss == name
        terms = step_terms(at)
        assert terms.objective == name
        assert terms.aggregation == (OBJECTIVES[name].fixed_aggregation or "token-mean")
    at.sidebar.selectbox(key="tr_policy_loss").set_value("vanilla").run()
    for mode in AGGREGATIONS:
        at.sidebar.selectbox(key="tr_agg").set_value(mode).run()
        assert trainer(at).config.loss_agg_mode == mode and step_terms(at).aggregation == mode


def test_estimators_and_masks_reach_the_trainer():
    at = open_page()
    run = trainer(at)
    for name in tc.ESTIMATORS:
        at.sidebar.selectbox(key="tr_adv").set_value(name).run()
        assert not at.exception, at.exception
        assert run.config.advantage_estimator == name
        assert torch.isfinite(trainer(at).step().inspect(0).advantages).all()
    assert at.sidebar.radio(key="tr_kl_est").options == list(KL_ESTIMATORS)
    for name in KL_ESTIMATORS:
        at.sidebar.radio(key="tr_kl_est").set_value(name).run()
        assert run.config.kl_estimator == name
        assert step_terms(at).kl is not None
    at.sidebar.toggle(key="tr_kl_bias").set_value(True).run()
    at.sidebar.slider(key="tr_top_ent").set_value(0.5).run()
    at.sidebar.toggle(key="tr_mask_trunc").set_value(True).run()
    assert (run.config.kl_bias_correction, run.config.top_entropy_quantile, run.config.mask_truncated_completions) \
        == (True, 0.5, True)
    assert trainer(at) is run and len(run.history) == len(tc.ESTIMATORS) + len(KL_ESTIMATORS)


def test_sapo_and_dro_parameters_are_enabled_only_where_they_act():
    at = open_page()
    for key in ("tr_tau_pos", "tr_tau_neg", "tr_dro_beta"):
        assert at.sidebar.slider(key=key).disabled and at.sidebar.slider(key=key).help
    at.sidebar.selectbox(key="tr_loss").set_value("sapo").run()
    assert not at.sidebar.slider(key="tr_tau_pos").disabled and at.sidebar.slider(key="tr_dro_beta").disabled
    at.sidebar.slider(key="tr_tau_pos").set_value(2.5).run()
    at.sidebar.slider(key="tr_tau_neg").set_value(3.0).run()
    assert (trainer(at).config.tau_pos, trainer(at).config.tau_neg) == (2.5, 3.0)
    at.sidebar.radio(key="tr_vocab").set_value("verl").run()
    at.sidebar.selectbox(key="tr_policy_loss").set_value("dro").run()
    assert at.sidebar.slider(key="tr_tau_pos").disabled and not at.sidebar.slider(key="tr_dro_beta").disabled
    at.sidebar.slider(key="tr_dro_beta").set_value(0.5).run()
    assert trainer(at).config.dro_beta == 0.5 and trainer(at).config.policy_loss == "dro"


def code_blocks(at: AppTest) -> list[str]:
    return [c.value for c in at.code]


def test_trl_and_verl_settings_match_the_current_run():
    at = open_page()
    settings = tc.trainer_settings(trainer(at).config)
    fields, _ = trl_config(settings)
    assert fields["loss_type"] == "grpo" and fields["beta"] == 0.04
    blocks = code_blocks(at)
    assert trl_code(settings)[0] in blocks and verl_code(settings)[0] in blocks
    assert 'loss_type="grpo"' in blocks[0] and any("kl_loss_coef=0.04" in b for b in blocks)
    at.sidebar.slider(key="tr_mu").set_value(4).run()
    at.sidebar.selectbox(key="tr_loss").set_value("dapo").run()
    blocks = code_blocks(at)
    assert 'loss_type="dapo"' in blocks[0] and "num_iterations=4" in blocks[0]
    assert any("ppo_epochs=4" in b and "loss_agg_mode=token-mean" in b for b in blocks)
    # k2 in the loss: TRL has only k3, verl has it
    at.sidebar.radio(key="tr_kl_est").set_value("k2").run()
    assert any("TRL cannot run" in i.value and "k3" in i.value for i in at.info)
    assert any("kl_loss_type=mse" in b for b in code_blocks(at))
    # GMPO: verl only
    at.sidebar.radio(key="tr_vocab").set_value("verl").run()
    at.sidebar.selectbox(key="tr_policy_loss").set_value("geo_mean").run()
    assert any("TRL cannot run" in i.value for i in at.info)
    assert any("policy_loss.loss_mode=geo_mean" in b for b in code_blocks(at))


def test_presets_trl_defaults_and_back_to_deepseekmath():
    at = open_page()
    click(at, "tr_step")
    run = trainer(at)
    assert any("DeepSeekMath" in c.value and "0.04" in c.value for c in at.sidebar.caption)
    click(at, "tr_preset_trl")
    config = trainer(at).config
    assert trainer(at) is run, "a preset restarted the run"
    assert (config.loss_type, config.beta, config.scale_rewards, config.epsilon, config.epsilon_high,
            config.num_iterations, config.kl_bias_correction) == ("dapo", 0.0, "group", 0.2, None, 1, True)
    fields, _ = trl_config(tc.trainer_settings(config))
    assert fields == {"loss_type": "dapo", "beta": 0.0, "epsilon": 0.2, "scale_rewards": "group"}
    click(at, "tr_preset_deepseekmath")
    assert trainer(at).config == TrainConfig(max_steps=trainer(at).config.max_steps)


#: Streamlit's own URL encoding of each new control (a labelled selectbox keeps its label).
NEW_URL = {"tr_vocab": "verl", "tr_policy_loss": tc.policy_loss_label("sapo"), "tr_agg": "seq-mean-token-sum",
           "tr_adv": tc.estimator_label("rloo"), "tr_kl_est": "k3+", "tr_kl_bias": "true", "tr_tau_pos": "2.5",
           "tr_tau_neg": "3.0", "tr_dro_beta": "0.5", "tr_top_ent": "0.5", "tr_mask_trunc": "true", "tr_B": "128",
           "tr_eps_high": "5.0", "tr_clip_high": "true", "tr_cmp_x": "samples"}


def test_url_round_trips_the_new_controls():
    at = open_page(NEW_URL)
    assert not at.warning, [w.value for w in at.warning]
    config = trainer(at).config
    assert (config.loss_type, config.policy_loss, config.loss_agg_mode) == (None, "sapo", "seq-mean-token-sum")
    assert (config.advantage_estimator, config.kl_estimator, config.kl_bias_correction) == ("rloo", "k3+", True)
    assert (config.tau_pos, config.tau_neg, config.dro_beta) == (2.5, 3.0, 0.5)
    assert (config.top_entropy_quantile, config.mask_truncated_completions) == (0.5, True)
    assert (config.prompts_per_step, config.epsilon_high) == (128, 5.0)
    click(at, "tr_step")  # Compare runs, where the x axis is chosen, shows once there is a run
    assert at.session_state["tr_cmp_x"] == "samples"
    # a bare option (an older link) works for the labelled selectboxes too
    at = open_page({"tr_loss": "dapo", "tr_adv": "grpo_passk", "tr_policy_loss": "gpg"})
    assert not at.warning, [w.value for w in at.warning]
    assert trainer(at).config.loss_type == "dapo" and trainer(at).config.advantage_estimator == "grpo_passk"
    assert at.session_state["tr_policy_loss"] == "gpg"


def url_text(value) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def test_every_experiment_arm_is_a_set_of_control_values():
    for experiment in EXPERIMENTS.values():
        for label, changes in experiment.arms:
            config = experiment.config(changes, seed=5)
            values = tc.widgets_for(config)
            assert tc.config_from_widgets({**tc.DEFAULTS, **values}) == config, (experiment.name, label)
            for key, value in values.items():  # each value as the URL would carry it parses back to itself
                text = tc.LABELS[key][value] if key in tc.LABELS else url_text(value)
                assert tc.URL_SPEC[key](text) == value, (experiment.name, key)


def test_bad_values_of_the_new_controls_only_warn():
    bad = {"tr_loss": "nope", "tr_adv": "<b>x</b>", "tr_kl_est": "k9", "tr_tau_pos": "nan", "tr_top_ent": "0",
           "tr_B": "129", "tr_policy_loss": "", "tr_vocab": "both", "tr_dro_beta": "1e400", "tr_kl_bias": "yes",
           "tr_agg": "token_mean", "tr_cmp_x": "time"}
    at = open_page(bad)
    assert not at.exception
    notice = " ".join(w.value for w in at.warning)
    for key in bad:
        assert key.replace("_", "\\_") in notice, key
    assert "<b>" not in notice
    assert trainer(at).config == TrainConfig(max_steps=trainer(at).config.max_steps)


def test_an_experiment_runs_every_arm_and_shows_what_it_found():
    name = "G = 2 vs G = 16"
    at = open_page()
    assert {b.key for b in at.button if b.key.startswith("tr_exp_")} == {f"tr_exp_{n}" for n in EXPERIMENTS}
    assert at.button(key=f"tr_exp_{name}").help == EXPERIMENTS[name].question
    click(at, f"tr_exp_{name}")
    assert at.session_state["tr_cmp_x"] == "samples"
    shapes = []
    for _ in range(len(EXPERIMENTS[name].arms) + 2):
        config = trainer(at).config
        shapes.append((config.group_size, config.prompts_per_step))
        if not at.session_state["tr_playing"]:
            break
        at.run()  # a refresh trains the arm a little
        assert not at.exception, at.exception
        run_to_the_end(at)
    assert shapes[:3] == [(2, 16), (2, 128), (16, 16)] and len(trainer(at).history) == 150
    assert not at.session_state["tr_playing"]
    lesson = at.session_state["tr_lesson"]
    assert lesson["name"] == name and lesson["holds"], lesson["checks"]
    assert any(EXPERIMENTS[name].lesson in m.value for m in at.markdown)
    assert any("These runs show it" in s.value for s in at.success)
    overlay = figure(at, "reward by run")
    assert len(overlay["data"]) == 3 and overlay["layout"]["xaxis"]["title"]["text"] == "completions sampled"
    assert values(overlay["data"][1]["x"])[-1] == 150 * 256  # G = 2, B = 128: 256 completions a step


def inspector_trace(at: AppTest) -> dict:
    for chart in at.get("plotly_chart"):
        spec = json.loads(chart.proto.spec)
        if spec["data"] and spec["data"][0].get("type") == "heatmap" and "token position" in json.dumps(spec["layout"]):
            return spec["data"][0]
    raise AssertionError("no token inspector on the page")


@pytest.mark.parametrize("task", ["times", "add"])
def test_the_token_inspector_shows_the_last_steps_group_with_its_gradients(task):
    at = open_page({"tr_task": task, "tr_mu": "3", "tr_eps": "0.05"})
    for _ in range(3):
        click(at, "tr_step")
    step = at.session_state["tr_last"]
    assert at.slider(key="ti_update").max == 3  # μ = 3 updates of the same batch to step through
    at.selectbox(key="ti_colour").set_value(QUANTITIES["grad"].label).run()
    at.slider(key="ti_update").set_value(3).run()
    trace = inspector_trace(at)
    g = step._rewards.shape[1]
    assert len(trace["y"]) == g  # one row per completion of the group shown
    group = at.number_input(key="ti_group").value - 1
    rows = sorted(range(group * g, (group + 1) * g), key=lambda r: -float(step._rewards.reshape(-1)[r]))
    shown = values(trace["z"]).reshape(g, -1)
    expected = step.inspect(2).grad[rows].cpu().numpy()
    real = step.inspect(2).mask[rows].cpu().numpy() > 0
    np.testing.assert_allclose(shown[real], expected[real], rtol=1e-5, atol=1e-9)
    if task == "add":
        assert shown.shape[1] == 1  # one token a row


def test_the_token_inspector_opens_on_the_first_group_with_reward_spread():
    at = open_page({"tr_task": "times"})
    click(at, "tr_step")
    rewards = at.session_state["tr_last"]._rewards
    spread = [bool(rewards[b].max() > rewards[b].min()) for b in range(rewards.shape[0])]
    assert at.number_input(key="ti_group").value == (spread.index(True) + 1 if any(spread) else 1)


def test_a_link_with_tr_exp_starts_that_experiment_once_and_a_bad_name_is_dropped():
    from grpo_core.experiments import EXPERIMENTS
    from tests import page_catalog as pc

    name = "G = 2 vs G = 16"
    at = open_page({"tr_exp": name})
    pc.fill_in(at)
    assert not at.warning and not at.exception
    assert at.session_state["tr_experiment"]["name"] == name and at.session_state["tr_playing"]
    first_arm = dict(EXPERIMENTS[name].arms[0][1])
    assert at.session_state["tr_G"] == first_arm["group_size"]
    assert "tr_exp" not in at.query_params  # gone from the URL: a reload does not start it again
    at = open_page({"tr_exp": "<b>no such experiment</b>"})
    (notice,) = [w.value for w in at.warning]
    assert "tr\\_exp" in notice and "<b>" not in notice
    assert "tr_experiment" not in at.session_state
