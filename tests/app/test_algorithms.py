"""AppTest of the Algorithms page: the cards, the differences, the chart and its sentences, the toy batch's
loss, weights and pushes, the trainer settings, and the URL state."""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pytest
import torch
from streamlit.testing.v1 import AppTest

from tests.app import pages

from grpo_core import grpo_loss, loss_terms
from grpo_core import toy_batch as tb
from grpo_core.family import ALGORITHMS
from grpo_core.objectives import objective_along_ratio
from grpo_core.trainer_settings import parse_settings

PAGE = "app_pages/algorithms.py"
DEFAULT = ["grpo", "dapo", "cispo_trl"]
decode = pages.decode


def open_page(**query) -> AppTest:
    return pages.open_page(PAGE, **query)


def rerun(at: AppTest) -> AppTest:
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def plain(markdown: str) -> str:
    """Markdown-escaped text as the reader sees it."""
    return re.sub(r"\\(.)", r"\1", markdown)


def figure(at: AppTest, key: str) -> dict:
    (chart,) = [c for c in at.get("plotly_chart") if c.proto.id.endswith(f"-{key}")]
    return json.loads(chart.proto.spec)


def cards(at: AppTest, n: int):
    return at.columns[:n]


def metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def bare(latex: str) -> str:
    """A formula without the card's wrapper, line breaks and spacing: what the symbols are."""
    latex = latex.strip().strip("$").strip()
    latex = latex.removeprefix(r"\small\begin{aligned}").removesuffix(r"\end{aligned}")
    return re.sub(r"\\quad|\\,|\\ |\\\\|&|,|\s", "", latex)


def batch_for(title: str, table=None, move: float = 0.3) -> tb.ToyBatch:
    preset = tb.PRESETS[title]
    return tb.build(table or preset.completions, move=move, rare=preset.rare)


def expected_loss(name: str, batch: tb.ToyBatch) -> float:
    return float(grpo_loss(batch.logp_new, batch.logp_old, batch.logp_ref, batch.rewards, batch.mask,
                           **ALGORITHMS[name].settings).loss)


def edit(at: AppTest, **state) -> AppTest:
    at.session_state["alg_editor"] = {"edited_rows": {}, "added_rows": [], "deleted_rows": [], **state}
    return rerun(at)


# --------------------------------------------------------------------------------------------- cards


def test_default_cards_show_each_algorithms_registry_formulas_paper_and_idea():
    at = open_page()
    assert at.multiselect(key="alg_pick").value == DEFAULT
    for column, name in zip(cards(at, 3), DEFAULT):
        algo = ALGORITHMS[name]
        assert plain(column.subheader[0].value) == algo.title
        texts = [plain(m.value) for m in column.markdown]
        assert algo.idea in texts
        title, arxiv = algo.paper
        assert f"Paper: [{title}](https://arxiv.org/abs/{arxiv})" in texts
        shown = [bare(x.value) for x in column.latex]
        assert shown == [bare(algo.objective.formula), bare(algo.aggregation.formula),
                         bare(algo.estimator.formula)]
        assert [x.value.strip().strip("$").strip() for x in column.latex][0] == (
            r"\small\begin{aligned}&" + r"\\&".join(tb.formula_lines(algo.objective.formula))
            + r"\end{aligned}")
        assert plain(column.caption[0].value) == algo.objective.note


def test_sapo_card_says_verl_ignores_loss_agg_mode():
    at = open_page(alg_pick=["sapo", "grpo"])
    (note,) = [plain(c.value) for c in cards(at, 2)[0].caption]
    assert "verl ignores loss_agg_mode for SAPO" in note


def differs_on_cards(at: AppTest, n: int) -> list[set[str]]:
    return [{m.group(1) for x in column.markdown for m in re.finditer(r":orange-badge\[≠ ([^\]]+)\]", x.value)}
            for column in cards(at, n)]


def summary(at: AppTest) -> str:
    (line,) = [m.value for m in at.markdown if m.value.startswith("**Where they differ:**")]
    return line


@pytest.mark.parametrize("pick, differ", [
    (["gspo", "luspo"], {"aggregation"}),  # the one pair of the registry that differs in aggregation alone
    (["grpo", "dapo"], {"aggregation", "KL", "clip widths"}),  # dapo also drops the KL and raises ε_high
    (["cispo", "cispo_trl"], {"objective", "clip widths"}),
    (["grpo", "dapo", "cispo_trl"], {"objective", "aggregation", "KL", "clip widths"}),
])
def test_differs_marks_name_the_terms_that_differ(pick, differ):
    at = open_page(alg_pick=pick)
    assert differs_on_cards(at, len(pick)) == [differ] * len(pick)
    line = summary(at)
    assert set(re.findall(r":orange-badge\[≠ ([^\]]+)\]", line)) == differ
    same = [a for a in tb.ASPECTS if a not in differ]
    assert line.endswith(f"the same {', '.join(same)}.")
    # the mark is text, not colour alone, and sits on the line of the term it names
    for column in cards(at, len(pick)):
        for x in column.markdown:
            for aspect in re.findall(r"≠ ([^\]]+)\]", x.value):
                label = {"objective": "Objective", "clip widths": "Clip", "aggregation": "Aggregation",
                         "advantage": "Advantage", "KL": "KL"}[aspect]
                assert x.value.startswith(f"**{label}**:")


def test_gspo_and_luspo_cards_show_what_their_aggregations_are():
    at = open_page(alg_pick=["gspo", "luspo"])
    for column, name in zip(cards(at, 2), ["gspo", "luspo"]):
        lines = [plain(x.value) for x in column.markdown]
        assert f"**Aggregation**: {ALGORITHMS[name].aggregation.name}" in " ".join(lines)
        assert "**Objective**: GSPO (sequence-level ratio)" in lines


def test_one_pick_shows_one_card_and_no_differences():
    at = open_page(alg_pick="sapo")
    assert plain(cards(at, 1)[0].subheader[0].value) == "SAPO"
    assert not [m for m in at.markdown if m.value.startswith("**Where they differ:**")]
    assert any("Pick a second algorithm" in c.value for c in at.caption)


def test_no_pick_shows_the_defaults_with_a_note():
    at = open_page()
    at.multiselect(key="alg_pick").set_value([])
    rerun(at)
    assert any("Pick at least one algorithm" in i.value for i in at.info)
    assert [plain(c.subheader[0].value) for c in cards(at, 3)] == [ALGORITHMS[n].title for n in DEFAULT]
    assert set(metrics(at)) == {f"loss · {n}" for n in DEFAULT}


# --------------------------------------------------------------------------------------------- chart


def traces(at: AppTest) -> dict[tuple[str, str], dict]:
    return {(t["name"], t["xaxis"]): t for t in figure(at, "alg_sweep_chart")["data"]}


PANELS = {"x": (1, 0), "x2": (-1, 0), "x3": (1, 1), "x4": (-1, 1)}  # xaxis: (sign of A, J or push)


@pytest.mark.parametrize("pick", [DEFAULT, ["sapo", "gmpo", "cispo"], ["gspo", "dro", "vespo"], ["gpg", "opo"]])
def test_chart_is_objective_along_ratio_for_each_algorithm_and_sign(pick):
    at = open_page(alg_pick=pick)
    shown = traces(at)
    assert len(shown) == 4 * len(pick)
    styles = set()
    for name in pick:
        algo = ALGORITHMS[name]
        params = tb.objective_params(algo.settings)
        for xaxis, (sign, which) in PANELS.items():
            trace = shown[(algo.title, xaxis)]
            x = decode(trace["x"])
            assert x[0] > 0 and x[-1] == 3.0 and len(x) == tb.RATIO_POINTS
            expected = objective_along_ratio(algo.objective.name, torch.tensor(x), float(sign),
                                             params=params)[which]
            np.testing.assert_allclose(decode(trace["y"]), expected.numpy(), rtol=1e-12, atol=1e-12)
        line = shown[(algo.title, "x")]["line"]
        styles.add((line["color"], line["dash"]))
    assert len(styles) == len(pick)  # each algorithm its own colour *and* dash
    assert len({c for c, _ in styles}) == len(pick) and len({d for _, d in styles}) == len(pick)


def sentences(at: AppTest) -> list[str]:
    bullets = [m.value for m in at.markdown if m.value.startswith("- ")]
    return [plain(line[2:]) for block in bullets for line in block.split("\n")]


def plotted_push(at: AppTest, name: str, sign: int) -> tuple[np.ndarray, np.ndarray]:
    trace = traces(at)[(ALGORITHMS[name].title, "x3" if sign > 0 else "x4")]
    return decode(trace["x"]), decode(trace["y"])


def test_sentences_are_true_of_the_plotted_numbers():
    at = open_page(alg_pick=["dapo", "cispo_trl", "sapo"])
    dapo, cispo, sapo = sentences(at)
    # vanilla (DAPO's clip) goes flat only on the side A pushes toward
    assert "goes flat only on the side A pushes toward" in dapo
    assert "1+ε_high = 1.28" in dapo and "1−ε = 0.8" in dapo
    r, pos = plotted_push(at, "dapo", 1)
    assert (pos[r > 1.28 + 1e-9] == 0).all() and (pos[r < 1.28 - 1e-9] != 0).all()
    r, neg = plotted_push(at, "dapo", -1)
    assert (neg[r < 0.8 - 1e-9] == 0).all() and (neg[r > 0.8 + 1e-9] != 0).all()
    # CISPO's push never drops to zero
    least = min(np.abs(plotted_push(at, "cispo_trl", s)[1]).min() for s in (1, -1))
    assert least > 0 and "never drops to zero" in cispo and f"at least {least:.3g} in size" in cispo
    # SAPO's gate is smooth: no jump, never 0
    steps = [np.abs(np.diff(plotted_push(at, "sapo", s)[1])).max() for s in (1, -1)]
    assert all((plotted_push(at, "sapo", s)[1] != 0).all() for s in (1, -1))
    assert "gate is smooth" in sapo and f"at most {max(steps):.3g} between neighbouring" in sapo
    assert max(steps) < 0.02 < np.abs(np.diff(plotted_push(at, "dapo", 1)[1])).max()


def test_gmpo_sentence_is_true_of_the_plotted_numbers():
    at = open_page(alg_pick=["gmpo", "grpo"])
    gmpo, grpo = sentences(at)
    assert "clips in log space" in gmpo and "e^0.4 ≈ 1.492" in gmpo and "e^−0.4 ≈ 0.670" in gmpo
    r, pos = plotted_push(at, "gmpo", 1)
    assert (pos[r > math.exp(0.4)] == 0).all() and (pos[r < math.exp(0.4)] > 0).all()
    r, neg = plotted_push(at, "gmpo", -1)
    assert (neg[r < math.exp(-0.4)] == 0).all() and (neg[r > math.exp(-0.4)] < 0).all()
    assert "1+ε_high = 1.2 " in grpo


# ------------------------------------------------------------------------------------------- batch


@pytest.mark.parametrize("preset", list(tb.PRESETS))
def test_loss_shown_is_grpo_loss_on_the_toy_batch(preset):
    at = open_page(alg_preset=preset)
    batch = batch_for(preset)
    shown = metrics(at)
    for name in DEFAULT:
        assert shown[f"loss · {name}"] == f"{expected_loss(name, batch):.4g}"


def test_slider_moves_the_policy_and_the_loss_follows():
    at = open_page()
    at.slider(key="alg_move").set_value(0.75)
    rerun(at)
    batch = batch_for(tb.DEFAULT_PRESET, move=0.75)
    assert metrics(at)["loss · dapo"] == f"{expected_loss('dapo', batch):.4g}"


def weight_table(at: AppTest):
    (frame,) = [d.value for d in at.dataframe if "completion" in d.value.columns]
    return frame


def test_weights_and_heatmaps_are_the_gradient_of_the_loss():
    at = open_page(alg_preset="a rare token that became likely")
    batch = batch_for("a rare token that became likely")
    frame = weight_table(at)
    assert list(frame["tokens"]) == batch.lengths
    heatmaps = [t for t in figure(at, "alg_push_chart")["data"] if t["type"] == "heatmap"]
    assert len(heatmaps) == 3
    for name, heatmap in zip(DEFAULT, heatmaps):
        terms = loss_terms(batch.logp_new, batch.logp_old, batch.logp_ref, batch.rewards, batch.mask,
                           **ALGORITHMS[name].settings)
        np.testing.assert_allclose(frame[f"Σ|∂L/∂log π| · {name}"], terms.grad.abs().sum(dim=-1).numpy())
        np.testing.assert_allclose(frame[f"A · {name}"], terms.advantages.reshape(-1).numpy())
        z = decode(heatmap["z"]).reshape(batch.mask.shape)
        real = batch.mask.numpy() > 0
        np.testing.assert_allclose(z[real], -terms.grad.numpy()[real])
        assert np.isnan(z[~real]).all()  # padding: a gap, no number
        text = np.array(heatmap["text"])
        assert (text[~real] == "").all() and set(text[real]) <= {"+", "−", "0"}
    # the rare token: cut to 0 by DAPO's clip, kept by CISPO
    row, token = batch.rare
    dapo, cispo = (decode(h["z"]).reshape(batch.mask.shape)[row, token] for h in heatmaps[1:])
    assert dapo == 0 and np.array(heatmaps[1]["text"])[row, token] == "0" and cispo > 0


def test_editing_the_table_changes_the_batch_and_the_link():
    at = edit(open_page(), edited_rows={0: {"reward": 0.5}, 1: {"length": 3}})
    table = tb._table((0.5, 5), (0, 3), (1, 6), (0, 4))
    assert at.query_params["alg_batch"] == tb.encode(table)
    assert metrics(at)["loss · grpo"] == f"{expected_loss('grpo', batch_for(tb.DEFAULT_PRESET, table)):.4g}"
    # the link opens the same view in a new session
    again = open_page(alg_batch=at.query_params["alg_batch"])
    assert metrics(again) == metrics(at)


@pytest.mark.parametrize("state, message", [
    ({"edited_rows": {0: {"reward": 99.0}}}, "from -5 to 5"),
    ({"edited_rows": {0: {"reward": math.nan}}}, "must be a number"),
    ({"edited_rows": {0: {"length": 0}}}, "length must be a whole number"),
    ({"deleted_rows": [0, 1, 2, 3]}, "would leave 0 completions"),
    ({"added_rows": [{"reward": 1.0, "length": 3}] * 10_000}, "would make 10,004 completions"),
])
def test_a_bad_edit_shows_a_message_and_keeps_the_last_table(state, message):
    at = open_page()
    before = metrics(at)
    at = edit(at, **state)
    assert any(message in plain(e.value) for e in at.error), [e.value for e in at.error]
    assert metrics(at) == before and "alg_batch" not in at.query_params


def test_a_preset_replaces_the_table():
    at = edit(open_page(), edited_rows={0: {"reward": 0.5}})
    at.selectbox(key="alg_preset").set_value("balanced")
    rerun(at)
    (editor,) = [d.value for d in at.dataframe if "reward" in d.value.columns and "completion" not in d.value.columns]
    assert list(editor["reward"]) == [c.reward for c in tb.PRESETS["balanced"].completions]
    assert "alg_batch" not in at.query_params
    assert metrics(at)["loss · dapo"] == f"{expected_loss('dapo', batch_for('balanced')):.4g}"


# ---------------------------------------------------------------------------------- token inspector

RARE = "a rare token that became likely"


def inspector(at: AppTest) -> dict:
    trace, _clicks = figure(at, "alg_inspector_grid")["data"]
    return trace


def shown_rows(trace: dict) -> list[int]:
    """The completion (0-based row of the table) of each inspector row, from its "#k · R · A" label."""
    return [int(label.split(" ")[0].lstrip("#")) - 1 for label in trace["y"]]


def test_inspector_shows_the_batchs_completions_sorted_by_reward_with_their_tokens():
    table = tb._table((0, 3), (1, 5), (0.5, 2), (1, 4), (-1, 6))
    at = open_page(alg_batch=tb.encode(table))
    trace = inspector(at)
    rows = shown_rows(trace)
    assert rows == [1, 3, 2, 0, 4]  # highest reward first, ties in table order
    terms = loss_terms(*(getattr(batch_for(tb.DEFAULT_PRESET, table), k) for k in (
        "logp_new", "logp_old", "logp_ref", "rewards", "mask")), **ALGORITHMS["grpo"].settings)
    for label, row in zip(trace["y"], rows):
        assert label == f"#{row + 1} · R {table[row].reward:.2f} · A {float(terms.advantages[row, 0]):+.2f}"
    for cells, row in zip(trace["text"], rows):
        assert [c.rstrip("▲▼") for c in cells] == [f"t{j + 1}" if j < table[row].length else "" for j in range(6)]
    assert "GRPO" in figure(at, "alg_inspector_grid")["layout"]["title"]["text"]


@pytest.mark.parametrize("name", DEFAULT)
def test_inspector_colour_by_grad_is_loss_terms_grad_of_the_chosen_algorithm(name):
    at = open_page(alg_preset=RARE, alg_ti_algo=name)
    at.selectbox(key="alg_ti_colour").set_value("grad")
    rerun(at)
    trace = inspector(at)
    rows = shown_rows(trace)
    batch = batch_for(RARE)
    terms = loss_terms(batch.logp_new, batch.logp_old, batch.logp_ref, batch.rewards, batch.mask,
                       **ALGORITHMS[name].settings)
    z = decode(trace["z"]).reshape(batch.mask.shape)
    real = batch.mask.numpy()[rows] > 0
    np.testing.assert_allclose(z[real], terms.grad.numpy()[rows][real])
    assert np.isnan(z[~real]).all()
    assert "∂L/∂log π, total" in figure(at, "alg_inspector_grid")["layout"]["title"]["text"]


@pytest.mark.parametrize("name, said", [
    ("grpo", "so its policy gradient is 0; β·KL still pulls on it"),
    ("dapo", "so its policy gradient is 0; nothing else pulls on it"),  # β = 0
    ("cispo_trl", "clips only the stopped weight: the token keeps a policy gradient"),
])
def test_inspector_hover_says_whether_the_clipped_rare_token_keeps_a_gradient(name, said):
    at = open_page(alg_preset=RARE, alg_ti_algo=name)
    assert at.selectbox(key="alg_ti_algo").value == name
    trace = inspector(at)
    row, token = batch_for(RARE).rare
    cell = shown_rows(trace).index(row)
    assert trace["text"][cell][token] == f"t{token + 1}▲"  # held at the high side: a mark, not colour alone
    _heat, clicks = figure(at, "alg_inspector_grid")["data"]
    ((point, head, sentence),) = [
        (p, h, s.replace("<br>", " "))  # the sentence is wrapped at spaces
        for p, h, s, y, x in zip(decode(clicks["customdata"]), clicks["text"], clicks["hovertext"], clicks["y"],
                                 clicks["x"], strict=True)
        if y == trace["y"][cell] and x == str(token + 1)]
    assert said in sentence and head == f"t{token + 1}"  # the hover's head: this text, its row, its position
    assert point[0] == pytest.approx(math.exp(-0.4 + 6), rel=1e-3)  # its ratio, e^(−0.4 + 6) ≈ 270
    batch, rows = batch_for(RARE), shown_rows(trace)
    terms = loss_terms(batch.logp_new, batch.logp_old, batch.logp_ref, batch.rewards, batch.mask,
                       **ALGORITHMS[name].settings)
    marks = np.array([[c[-1:] if c.endswith(("▲", "▼")) else "" for c in cells] for cells in trace["text"]])
    np.testing.assert_array_equal(marks == "▲", terms.clipped_high.numpy()[rows])
    np.testing.assert_array_equal(marks == "▼", terms.clipped_low.numpy()[rows])


def test_inspector_controls_are_the_pages_own_url_parameters():
    label = "per-token KL estimate"
    at = open_page(alg_pick=["gspo", "sapo"], alg_ti_algo="sapo", alg_ti_colour=label)
    assert not at.warning
    assert at.selectbox(key="alg_ti_algo").value == "sapo" and at.selectbox(key="alg_ti_colour").value == "kl"
    assert "entropy" not in at.selectbox(key="alg_ti_colour").options  # a toy batch has no policy to ask
    assert not at.number_input and [s.key for s in at.slider] == ["alg_move"]  # one group, one update: no picker
    at.selectbox(key="alg_ti_algo").set_value("gspo")
    rerun(at)
    assert "GSPO" in figure(at, "alg_inspector_grid")["layout"]["title"]["text"]


# --------------------------------------------------------------------------------------- settings


def test_settings_show_the_trl_config_and_the_verl_overrides():
    at = open_page()
    codes = [(c.language, c.value) for c in at.main.code]  # the sidebar's class link is code too
    assert [lang for lang, _ in codes] == ["python", "bash", "python", "bash", "python"]  # no verl for CISPO (TRL)
    trl = {ALGORITHMS[n].name: v for n, (lang, v) in zip(["grpo", "grpo", "dapo", "dapo", "cispo_trl"], codes)
           if lang == "python"}
    assert 'loss_type="cispo"' in trl["cispo_trl"] and "epsilon_high=5.0" in trl["cispo_trl"]
    assert 'loss_type="grpo"' in trl["grpo"] and "beta=0.04" in trl["grpo"]
    assert 'loss_type="dapo"' in trl["dapo"] and "epsilon_high=0.28" in trl["dapo"]
    verl = [v for lang, v in codes if lang == "bash"]
    assert "actor_rollout_ref.actor.loss_agg_mode=seq-mean-token-mean" in verl[0]
    assert "actor_rollout_ref.actor.kl_loss_coef=0.04" in verl[0]
    assert "actor_rollout_ref.actor.clip_ratio_high=0.28" in verl[1]
    (why,) = [plain(i.value) for i in at.info if "cannot run" in i.value]
    assert why.startswith("verl cannot run CISPO (TRL)") and "verl has no policy_loss" in why
    assert [plain(t.label) for t in at.tabs] == [ALGORITHMS[n].title for n in DEFAULT]


def test_trl_cannot_run_gmpo_and_says_why():
    at = open_page(alg_pick=["gmpo", "cispo"])
    whys = [plain(i.value) for i in at.info if "cannot run" in i.value]
    assert any(w.startswith("TRL cannot run GMPO") and "TRL has no loss_type" in w for w in whys)
    assert any("actor_rollout_ref.actor.policy_loss.loss_mode=geo_mean" in c.value for c in at.code)


def test_pasted_trl_settings_join_the_comparison_as_the_loss_they_select():
    # TRL's DAPO config, as a user pastes it: the same loss as the family's dapo, under a fourth card
    at = open_page()
    at.text_area(key="alg_config").input("GRPOConfig(loss_type='dapo', epsilon_high=0.28, output_dir='<b>x</b>')")
    rerun(at)
    shown = metrics(at)
    assert list(shown) == [f"loss · {n}" for n in (*DEFAULT, "yours")]
    assert shown["loss · yours"] == shown["loss · dapo"]
    assert "Your TRL settings" in [plain(s.value) for s in at.subheader]
    (used,) = [plain(m.value) for m in at.markdown if m.value.startswith("**Used")]
    assert used.startswith("**Used (TRL):** loss_type, epsilon_high") and "not used: output_dir" in used
    assert "<b>" not in used.replace("<b>x</b>", "") and "\\<b" not in used
    at.selectbox(key="alg_ti_algo").set_value("yours")
    rerun(at)
    assert "Your TRL settings" in figure(at, "alg_inspector_grid")["layout"]["title"]["text"]


def test_verl_overrides_from_a_link_are_compared_and_what_the_batch_cannot_show_is_said():
    overrides = ("actor_rollout_ref.actor.policy_loss.loss_mode=cispo actor_rollout_ref.actor.use_kl_loss=true "
                 "actor_rollout_ref.actor.kl_loss_coef=0.04")
    at = open_page(alg_pick=["grpo"], alg_config=overrides)
    assert not at.warning
    assert list(metrics(at)) == ["loss · grpo", "loss · yours"]
    yours, _ = parse_settings(overrides).algorithm()
    expected = tb.evaluate(yours, batch_for(tb.DEFAULT_PRESET)).loss
    assert metrics(at)["loss · yours"] == f"{expected:.4g}"
    assert any("CISPO (verl)" in plain(m.value) for m in at.markdown)
    at = open_page(alg_config="GRPOConfig(top_entropy_quantile=0.2)")
    (used,) = [plain(m.value) for m in at.markdown if m.value.startswith("**Used")]
    assert "left out here: top_entropy_quantile" in used


@pytest.mark.parametrize("text", ["<script>alert(1)</script>", "beta: [1, 2", "x" * 2500])
def test_settings_that_cannot_be_read_change_nothing(text):
    at = open_page(alg_config=text)
    assert [w.value for w in at.warning] and "<script" not in at.warning[0].value
    assert list(metrics(at)) == [f"loss · {n}" for n in DEFAULT]
    at = open_page()
    at.text_area(key="alg_config").input(text[:2000])
    rerun(at)
    assert [e.value for e in at.error if "cannot be compared" in e.value]
    assert list(metrics(at)) == [f"loss · {n}" for n in DEFAULT]


# ---------------------------------------------------------------------------------------- the URL


def test_a_link_opens_the_shared_view():
    table = tb._table((1, 3), (0, 9), (0.5, 4))
    at = open_page(alg_pick=["gspo", "luspo"], alg_preset="balanced", alg_move="0.6", alg_batch=tb.encode(table))
    assert not at.warning
    assert at.multiselect(key="alg_pick").value == ["gspo", "luspo"]
    assert at.selectbox(key="alg_preset").value == "balanced"
    assert at.slider(key="alg_move").value == pytest.approx(0.6)
    batch = batch_for("balanced", table, move=0.6)
    assert metrics(at) == {f"loss · {n}": f"{expected_loss(n, batch):.4g}" for n in ("gspo", "luspo")}
    assert at.query_params["alg_batch"] == tb.encode(table)


@pytest.mark.parametrize("query, bad", [
    ({"alg_pick": ["grpo", "<script>alert(1)</script>"]}, ["alg_pick"]),
    ({"alg_pick": ["grpo", "dapo", "sapo", "gmpo"]}, ["alg_pick"]),
    ({"alg_pick": ["grpo", "grpo"]}, ["alg_pick"]),
    ({"alg_move": "nan", "alg_preset": "<b>x</b>"}, ["alg_move", "alg_preset"]),
    ({"alg_move": "7"}, ["alg_move"]),
    ({"alg_batch": "1:5,0:999"}, ["alg_batch"]),
    ({"alg_batch": "9" * 5000}, ["alg_batch"]),
    ({"alg_batch": ["1:5,0:3", "1:5,0:4"]}, ["alg_batch"]),
    ({"alg_ti_algo": "<b>x</b>", "alg_ti_colour": "grad"}, ["alg_ti_algo", "alg_ti_colour"]),
])
def test_bad_link_values_give_a_notice_not_a_crash(query, bad):
    at = open_page(**query)
    (notice,) = [w.value for w in at.warning]
    assert "could not be used" in notice and "<script" not in notice and "<b>" not in notice
    for key in bad:
        assert f"**{key.replace('_', chr(92) + '_')}**" in notice
    assert at.multiselect(key="alg_pick").value == DEFAULT
    assert at.slider(key="alg_move").value == pytest.approx(0.3)
    assert metrics(at)["loss · grpo"] == f"{expected_loss('grpo', batch_for(tb.DEFAULT_PRESET)):.4g}"
    rerun(at)
    assert not at.warning  # the dropped values are gone from the URL


def test_every_control_has_help_a_range_and_a_url_key():
    at = open_page()
    page = at.main  # the sidebar holds the app's own "Link for my class" builder
    controls = [*page.multiselect, *page.selectbox, *page.slider]
    assert len(controls) == 6  # the picks, the preset, the algorithm to inspect, its colour, its token, the move
    for control in controls:
        assert control.help and control.key.startswith("alg_")
    (slider,) = at.slider
    assert (slider.min, slider.max) == tb.MOVE_RANGE
    assert at.multiselect(key="alg_pick").max_selections == 3
    assert any(e.label == "Think about it" for e in at.expander)


def test_nothing_shown_is_nan_or_raw_html():
    from tests import page_catalog as pc

    at = open_page(alg_pick=["vespo", "dro", "sapo"], alg_preset="a rare token that became likely", alg_move="1")
    assert not pc.nonfinite_texts(at) and not pc.nonfinite_cells(at)
    assert not any(s.raw_html for s in pc.shown(at))
