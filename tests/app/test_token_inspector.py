"""The token inspector widget (app/token_inspector.py) on a real trainer step, through AppTest."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from tests.app.pages import decode


def _script():
    import streamlit as st

    import token_inspector
    from grpo_core.training import TrainConfig, Trainer

    if "step" not in st.session_state:
        trainer = Trainer(TrainConfig(task="times", num_iterations=3, epsilon=0.1, epsilon_high=0.12, lr=0.05, seed=1))
        for _ in range(15):
            st.session_state.step = trainer.step()
        st.session_state.settings = trainer.config.loss_settings()
    token_inspector.draw(st.session_state.step, settings=st.session_state.settings)


def open_inspector() -> AppTest:
    at = AppTest.from_function(_script, default_timeout=60)
    at.run()
    assert not at.exception, at.exception
    return at


def grid(at: AppTest) -> dict:
    return json.loads(at.get("plotly_chart")[0].proto.spec)["data"][0]


def test_rows_are_the_groups_completions_sorted_by_reward_with_their_tokens():
    at = open_inspector()
    step = at.session_state.step
    trace = grid(at)
    rewards = [float(label.split("R ")[1].split(" ")[0]) for label in trace["y"]]
    assert rewards == sorted(rewards, reverse=True)
    assert len(trace["y"]) == len(step.groups[0].rewards)
    shown_tokens = {cell.rstrip("▲▼") for row in trace["text"] for cell in row if cell}
    assert shown_tokens <= set(step._task.vocab)


def test_colour_and_update_controls_change_what_is_shown():
    at = open_inspector()
    at.selectbox(key="ti_colour").set_value("log_ratio").run()
    first = decode(grid(at)["z"])
    assert np.nanmax(np.abs(first)) == 0  # update 1 is on-policy: every log-ratio is 0
    at.slider(key="ti_update").set_value(3).run()
    later = decode(grid(at)["z"])
    assert np.nanmax(np.abs(later)) > 0
    clicks = json.loads(at.get("plotly_chart")[0].proto.spec)["data"][1]
    assert "ratio r = π/π_old: %{customdata[0]:+.4~g}" in clicks["hovertemplate"]
    assert (decode(clicks["customdata"])[:, 0] != 1).any()  # the ratios have left 1 at update 3
    at.number_input(key="ti_group").set_value(2).run()
    assert not at.exception
    prompt = at.session_state.step.groups[1].prompt
    assert prompt in json.loads(at.get("plotly_chart")[0].proto.spec)["layout"]["title"]["text"]


def test_the_url_opens_a_group_and_a_bad_value_is_dropped_without_a_crash():
    at = AppTest.from_function(_script, default_timeout=60)
    at.query_params["ti_group"] = "3"
    at.query_params["ti_colour"] = "<b>nope</b>"
    at.run()
    assert not at.exception
    assert at.number_input(key="ti_group").value == 3
    assert at.selectbox(key="ti_colour").value == "ratio"


def _panel(at: AppTest) -> list[str]:
    """The explanation panel's three lines: the token, its numbers, its sentence (Markdown as shown)."""
    texts = [re.sub(r"\\(.)", r"\1", m.value) for m in at.markdown]
    start = next(i for i, text in enumerate(texts) if text.startswith("**#"))
    return texts[start:start + 3]


def test_the_click_trace_has_one_point_per_real_token_in_row_major_order():
    at = open_inspector()
    heat, clicks = json.loads(at.get("plotly_chart")[0].proto.spec)["data"]
    real = [(y, str(t + 1)) for y, row in zip(heat["y"], heat["text"]) for t, cell in enumerate(row) if cell]
    assert list(zip(clicks["y"], clicks["x"])) == real
    assert heat["hoverinfo"] == "skip"  # the markers carry the hover: one template, the numbers as data
    from grpo_core.inspector import QUANTITIES, explain_token, token_values

    step, settings = at.session_state.step, at.session_state.settings
    terms, entropy = step.inspect(0), step.entropy(0)
    group, g = at.number_input(key="ti_group").value - 1, len(step.groups[0].rewards)
    rewards = step._rewards.reshape(-1).tolist()
    rows = sorted(range(group * g, group * g + g), key=lambda r: -rewards[r])
    names = list(QUANTITIES.names())  # a trainer step has entropies: every quantity, in the registry's order
    for k, name in enumerate(names):
        assert f"{QUANTITIES[name].label}: %{{customdata[{k}]:+.4~g}}" in clicks["hovertemplate"]
    assert clicks["hovertemplate"].startswith("<b>%{text}</b> · %{y}, token %{x}")
    import charts
    lengths = terms.mask.sum(dim=-1).int().tolist()
    cells = [(i, t) for i, row in enumerate(rows) for t in range(lengths[row])]
    numbers = decode(clicks["customdata"])
    assert numbers.shape == (len(cells), len(names)) == (len(clicks["text"]), len(names))
    for (i, t), point, head, sentence in zip(cells, numbers, clicks["text"], clicks["hovertext"], strict=True):
        row = rows[i]
        for k, name in enumerate(names):
            assert point[k] == pytest.approx(float(token_values(terms, name, entropy)[row, t]), rel=1e-6, abs=1e-12)
        assert head == charts.token_label(step.token_text(row)[t])  # the hover's head: token, row label, position
        assert sentence.replace("<br>", " ") == explain_token(
            terms, row, t, epsilon=settings["epsilon"], epsilon_high=settings["epsilon_high"], beta=settings["beta"])
    picker = at.selectbox(key="ti_token")
    assert len(picker.options) == len(real)


def _cells_and_clipped(step, group: int, update: int) -> tuple[list, list]:
    """The explain list's cells ``(i, t)`` of ``group`` (0-based), rows sorted by reward as the grid shows
    them, and those of the cells whose token was clipped at ``update`` (1-based)."""
    terms, g = step.inspect(update - 1), len(step.groups[0].rewards)
    rewards = step._rewards.reshape(-1).tolist()
    rows = sorted(range(group * g, group * g + g), key=lambda r: -rewards[r])
    lengths = terms.mask.sum(dim=-1).int().tolist()
    cells = [(i, t) for i, row in enumerate(rows) for t in range(lengths[row])]
    side = (terms.clipped_high.expand_as(terms.mask).int() - terms.clipped_low.expand_as(terms.mask).int()).tolist()
    return cells, [c for c in cells if side[rows[c[0]]][c[1]]]


def test_the_explain_list_follows_the_update_until_the_user_picks_a_token():
    at = open_inspector()
    step = at.session_state.step
    # a group whose first clipped token is not its first token, so that opening on either can be told apart
    found = next(((grp, u) for u in (3, 2) for grp in range(len(step.groups))
                  if (cc := _cells_and_clipped(step, grp, u))[1] and cc[1][0] != cc[0][0]), None)
    assert found, "this run clips no token past a group's first: nothing to tell the list's opening by"
    group, update = found
    cells, clipped = _cells_and_clipped(step, group, update)
    at.number_input(key="ti_group").set_value(group + 1).run()
    at.slider(key="ti_update").set_value(update).run()
    assert at.selectbox(key="ti_token").value == clipped[0]  # the first clipped token of this update
    at.slider(key="ti_update").set_value(1).run()  # on-policy: nothing is clipped, the list opens on the first
    assert at.selectbox(key="ti_token").value == cells[0]
    pick = max(k for k, c in enumerate(cells) if c not in (cells[0], clipped[0]))
    at.selectbox(key="ti_token").select_index(pick).run()
    at.slider(key="ti_update").set_value(update).run()
    assert not at.exception
    assert at.selectbox(key="ti_token").value == cells[pick]  # the user's own pick stays across updates
    # ...also when it is the token the list would open on at some update: a pick, not the list's own
    at.selectbox(key="ti_token").select_index(cells.index(clipped[0])).run()
    for at_update in (1, update, 1):
        at.slider(key="ti_update").set_value(at_update).run()
        assert at.selectbox(key="ti_token").value == clipped[0], at_update
    # another group: its own first token (update 1 clips nothing), the pick was this group's
    other = next(g for g in range(len(step.groups)) if g != group)
    at.number_input(key="ti_group").set_value(other + 1).run()
    assert at.selectbox(key="ti_token").value == _cells_and_clipped(step, other, 1)[0][0]


def test_explain_panel_shows_the_picked_tokens_numbers_and_sentence_from_the_core():
    from grpo_core.inspector import QUANTITIES, explain_token, token_values

    at = open_inspector()
    at.slider(key="ti_update").set_value(3).run()
    step, settings = at.session_state.step, at.session_state.settings
    terms, entropy = step.inspect(2), step.entropy(2)
    group, g = at.number_input(key="ti_group").value - 1, len(step.groups[0].rewards)
    rewards = step._rewards.reshape(-1).tolist()
    rows = sorted(range(group * g, group * g + g), key=lambda r: -rewards[r])
    lengths = terms.mask.sum(dim=-1).int().tolist()
    cells = [(i, t) for i, row in enumerate(rows) for t in range(lengths[row])]
    side = (terms.clipped_high.int() - terms.clipped_low.int()).tolist()
    clipped = [c for c in cells if side[rows[c[0]]][c[1]]]
    picker = at.selectbox(key="ti_token")
    assert len(picker.options) == len(cells)
    assert picker.value == (clipped or cells)[0]  # it opens on the first clipped token
    for k in (0, len(cells) - 1):
        picker.select_index(k).run()
        assert not at.exception
        i, t = cells[k]
        row = rows[i]
        head, numbers, sentence = _panel(at)
        assert head.startswith(f"**#{row - group * g + 1}") and f"token {t + 1}" in head
        assert ("▲" in head) == (side[row][t] == 1) and ("▼" in head) == (side[row][t] == -1)
        expected = explain_token(terms, row, t, epsilon=settings["epsilon"], epsilon_high=settings["epsilon_high"],
                                 beta=settings["beta"])
        assert sentence == expected
        for name in QUANTITIES.names():
            value = float(token_values(terms, name, entropy)[row, t])
            assert f"**{value + 0.0:+.4g}**" in numbers, name
