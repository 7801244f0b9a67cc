"""AppTest of the Reward groups page: the numbers and bars it shows, the URL state, and bad input."""

from __future__ import annotations

import base64
import json
import math
import zlib

import pytest
import torch
from streamlit.testing.v1 import AppTest

from tests.app import pages

from grpo_core import group_advantages, group_reward_std
from grpo_core import reward_table as rt

PAGE = "app_pages/reward_groups.py"
EDITOR = "rg_editor"
NOTEBOOK = [[1.0, 0.0, 1.0, 0.0], [1.0, 1.0, 1.0, 0.0], [1.0, 0.0, 0.0, 0.0], [1.0, 1.0, 1.0, 1.0]]


def open_page(**query: str | list[str]) -> AppTest:
    return pages.open_page(PAGE, **query)


def _decode(values):
    """Like pages.decode, but a plain list keeps its None gaps (the mean line breaks between groups)."""
    return pages.decode(values).tolist() if isinstance(values, dict) else list(values)


def figure(at: AppTest, title_start: str) -> dict:
    for chart in at.get("plotly_chart"):
        spec = json.loads(chart.proto.spec)
        if spec["layout"].get("title", {}).get("text", "").startswith(title_start):
            return spec
    raise AssertionError(f"no chart titled {title_start!r}")


def trace(at: AppTest, title_start: str, name: str) -> dict:
    return next(t for t in figure(at, title_start)["data"] if t.get("name") == name)


def advantage_bars(at: AppTest) -> list[float]:
    return _decode(trace(at, "Advantages", "advantage")["y"])


def edit(at: AppTest, edited_rows=None, added_rows=None, deleted_rows=None) -> AppTest:
    at.session_state[EDITOR] = {"edited_rows": edited_rows or {}, "added_rows": added_rows or [],
                                "deleted_rows": deleted_rows or []}
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def expected(groups, scale="group") -> list[float]:
    return group_advantages(torch.tensor(groups, dtype=torch.float64), scale=scale).flatten().tolist()


def texts(elements) -> str:
    return " ".join(e.value for e in elements)


def test_default_view_is_the_notebooks_groups_with_core_advantages():
    at = open_page()
    bars = advantage_bars(at)
    assert bars == pytest.approx(expected(NOTEBOOK))
    assert bars[:4] == pytest.approx([math.sqrt(3) / 2, -math.sqrt(3) / 2] * 2, abs=1e-6)  # ±0.866
    # Sign encoding: negative bars hatched and vermilion, positive solid blue, zero grey.
    marker = trace(at, "Advantages", "advantage")["marker"]
    assert [s == "/" for s in marker["pattern"]["shape"]] == [a < 0 for a in bars]
    assert len({c for c, a in zip(marker["color"], bars) if a > 0}) == 1
    assert {c for c, a in zip(marker["color"], bars) if a > 0}.isdisjoint(
        {c for c, a in zip(marker["color"], bars) if a < 0})
    # Rewards as bars; the mean and ±std lines sit at the core's group mean and std.
    assert _decode(trace(at, "Rewards", "reward")["y"]) == [r for g in NOTEBOOK for r in g]
    means = [y for y in _decode(trace(at, "Rewards", "group mean")["y"]) if y is not None]
    assert means == pytest.approx([sum(g) / 4 for g in NOTEBOOK for _ in g])
    stds = group_reward_std(torch.tensor(NOTEBOOK, dtype=torch.float64)).tolist()
    upper_trace = next(t for t in figure(at, "Rewards")["data"]
                       if t.get("name") == "mean ± std" and t.get("showlegend"))
    upper = [y for y in _decode(upper_trace["y"]) if y is not None]
    assert upper == pytest.approx([sum(g) / 4 + s for g, s in zip(NOTEBOOK, stds) for _ in g])
    # The all-correct group is named as zero signal, and nothing else is.
    assert "**Zero signal** for P4:" in texts(at.info)
    assert not at.error and not at.warning


@pytest.mark.parametrize("scale", ["none", "batch", "group"])
def test_scale_switch_changes_the_bars_as_the_core_says(scale):
    at = open_page()
    at.sidebar.radio(key="scale").set_value(scale).run()
    bars = advantage_bars(at)
    assert bars == pytest.approx(expected(NOTEBOOK, scale))
    if scale == "none":
        assert bars[:4] == pytest.approx([0.5, -0.5, 0.5, -0.5])  # Dr. GRPO: raw distance from the mean
    if scale == "batch":
        everything = torch.tensor(NOTEBOOK).flatten()
        assert bars[0] == pytest.approx(0.5 / everything.std().item(), rel=1e-6)
    # (A bound widget's URL is written by the browser, not visible to AppTest; the link test covers reading.)


def test_editing_a_reward_updates_bars_and_the_link():
    at = edit(open_page(), edited_rows={3: {"reward": 1.0}})  # group 1 becomes [1, 0, 1, 1]
    groups = [[1.0, 0.0, 1.0, 1.0]] + NOTEBOOK[1:]
    assert advantage_bars(at) == pytest.approx(expected(groups))
    assert rt.decode(at.query_params["rewards"]) == rt.from_rewards(groups)


@pytest.mark.parametrize("bad, message", [
    (float("nan"), "no reward"),
    ("abc", "no reward"),        # the editor cannot parse text into a number column: it becomes missing
    (99.0, "outside"),
    (-1e6, "outside"),
])
def test_bad_reward_shows_a_message_and_keeps_the_last_good_view(bad, message):
    at = open_page()
    before = advantage_bars(at)
    edit(at, edited_rows={0: {"reward": bad}})
    assert message in texts(at.error)
    assert "last valid table" in texts(at.error)
    assert advantage_bars(at) == before
    assert "rewards" not in at.query_params  # the link still describes the shown (default) table


def test_ten_thousand_rows_are_refused_before_the_editor_applies_them():
    at = open_page()
    before = advantage_bars(at)
    edit(at, added_rows=[{"prompt": "p", "completion": "c", "reward": 1.0}] * 10_000)
    assert "10,016" in texts(at.error) and str(rt.MAX_ROWS) in texts(at.error)
    assert advantage_bars(at) == before
    at.run()  # the refused edit is gone: the next run is clean
    assert not at.error and advantage_bars(at) == before


@pytest.mark.parametrize("state", [
    {"edited_rows": {9999: {"reward": 1.0}}, "added_rows": [], "deleted_rows": []},
    {"edited_rows": {0: {"no_such_column": 1.0}}, "added_rows": [], "deleted_rows": []},
    {"edited_rows": {}, "added_rows": [{"no_such_column": 1.0}], "deleted_rows": []},
    {"edited_rows": {}, "added_rows": [], "deleted_rows": [9999]},
    {"edited_rows": "x", "added_rows": [], "deleted_rows": []},
    {"edited_rows": {}, "added_rows": "x", "deleted_rows": []},
    "garbage",
])
def test_crafted_editor_state_is_undone_not_a_crash(state):
    # st.data_editor itself raises on these (rows/columns that do not exist): a crafted client could send them.
    at = open_page()
    at.session_state[EDITOR] = state
    at.run()
    assert not at.exception
    assert "could not be read" in texts(at.error)
    assert advantage_bars(at) == pytest.approx(expected(NOTEBOOK))


def test_deleting_every_row_says_the_table_is_empty():
    at = edit(open_page(), deleted_rows=list(range(16)))
    assert "empty" in texts(at.error)
    assert advantage_bars(at) == pytest.approx(expected(NOTEBOOK))


def test_added_row_without_prompt_joins_the_last_group():
    at = edit(open_page(), added_rows=[{"reward": 0.0}])
    groups = NOTEBOOK[:3]
    assert advantage_bars(at)[:12] == pytest.approx(expected(groups))
    assert advantage_bars(at)[12:] == pytest.approx(expected([[1.0, 1.0, 1.0, 1.0, 0.0]]))
    assert not at.error


def test_groups_of_one_and_two_are_explained():
    # Group 1 keeps rows 0 and 1 (G = 2); group 3 keeps only row 8 (G = 1).
    at = edit(open_page(), deleted_rows=[2, 3, 9, 10, 11])
    info = texts(at.info)
    assert "P1: **two completions** (G = 2)" in info and "P3: **one completion** (G = 1)" in info
    assert "Zero signal" in info and "for P4:" in info
    bars = advantage_bars(at)
    assert bars[:2] == pytest.approx([1 / math.sqrt(2), -1 / math.sqrt(2)])
    assert bars[6] == 0.0  # the lone completion of group 3 (after 2 + 4 bars)


@pytest.mark.parametrize("name", list(rt.PRESETS))
def test_preset_buttons_load_the_preset(name):
    at = open_page()
    at.button(key=f"rg_preset_{name}").click().run()
    table = rt.PRESETS[name].table
    want = [a for g in rt.summarize(table).groups for a in g.advantages]
    assert advantage_bars(at) == pytest.approx(want)
    if name == "all-wrong":
        assert set(advantage_bars(at)) == {0.0} and "Zero signal" in texts(at.info)
        assert at.query_params["rewards"] == "0_0_0_0_0_0_0_0"
    if name != rt.DEFAULT_PRESET:
        assert rt.decode(at.query_params["rewards"]) == table


def test_preset_replaces_pending_edits():
    at = edit(open_page(), edited_rows={0: {"reward": 0.0}})
    at.button(key="rg_preset_notebook").click().run()
    assert advantage_bars(at) == pytest.approx(expected(NOTEBOOK))


def test_link_with_a_table_and_scale_opens_that_view():
    at = open_page(rewards="1_0~0.5_0.25_0", scale="none")
    assert at.sidebar.radio(key="scale").value == "none"
    assert advantage_bars(at) == pytest.approx([0.5, -0.5, 0.25, 0.0, -0.25])
    assert "**two completions**" in texts(at.info)
    assert not at.warning


def test_link_with_named_texts_round_trips():
    table = rt.from_rows([{"prompt": "What is 2+2? <b>", "completion": "&lt;i&gt;4", "reward": 1},
                          {"prompt": "What is 2+2? <b>", "completion": "5", "reward": 0}])
    at = open_page(rewards=rt.encode(table))
    assert advantage_bars(at) == pytest.approx([1 / math.sqrt(2), -1 / math.sqrt(2)])
    hover = trace(at, "Advantages", "advantage")["customdata"]
    # User text never becomes Plotly markup (the only "<br>" is the page's own line break).
    assert all("<b>" not in h and "&lt" not in h for h in hover) and "‹b›" in hover[0]


def _bomb() -> str:
    return "z" + base64.urlsafe_b64encode(zlib.compress(b" " * 5_000_000)).decode().rstrip("=")


@pytest.mark.parametrize("query, bad_key", [
    ({"rewards": "<script>alert(1)</script>"}, "rewards"),
    ({"rewards": "1_0_nan"}, "rewards"),
    ({"rewards": "1_0_1e400"}, "rewards"),
    ({"rewards": "z@@@"}, "rewards"),
    ({"rewards": _bomb()}, "rewards"),
    ({"rewards": "1_" * 5000 + "1"}, "rewards"),
    ({"rewards": ["1_0", "0_1"]}, "rewards"),
    ({"scale": "evil"}, "scale"),
    ({"numbers": "maybe"}, "numbers"),
])
def test_hostile_link_gives_a_notice_and_the_default_view(query, bad_key):
    at = open_page(**query)
    notice = texts(at.warning)
    assert "could not be used" in notice and f"**{bad_key}**" in notice
    assert "<script>" not in notice
    assert advantage_bars(at) == pytest.approx(expected(NOTEBOOK))
    assert bad_key not in at.query_params
    at.run()  # the dropped parameter is gone from the URL: the notice does not come back
    assert not at.warning and not at.exception


def test_show_the_numbers_table_matches_the_bars():
    at = open_page(numbers="true", scale="none")
    frames = [d.value for d in at.dataframe if "advantage" in d.value.columns]  # (the editor is one too)
    assert len(frames) == 1
    frame = frames[0]
    assert list(frame.columns) == ["prompt", "completion", "reward", "group mean", "group std", "advantage"]
    assert frame["advantage"].tolist() == pytest.approx(advantage_bars(at))
    assert frame["group std"].tolist()[:4] == pytest.approx([math.sqrt(1 / 3)] * 4)
    at.sidebar.toggle(key="numbers").set_value(False).run()
    assert not [d for d in at.dataframe if "advantage" in d.value.columns]


def test_all_equal_continuous_rewards_are_zero_signal():
    at = open_page(rewards="_".join(["0.7"] * 8))
    assert set(advantage_bars(at)) == {0.0}
    assert "Zero signal" in texts(at.info)


def test_edits_survive_a_visit_to_another_page():
    at = edit(open_page(), edited_rows={3: {"reward": 1.0}})
    at.switch_page("app_pages/home.py").run()
    at.switch_page(PAGE).run()
    assert advantage_bars(at) == pytest.approx(expected([[1.0, 0.0, 1.0, 1.0]] + NOTEBOOK[1:]))


def test_think_about_it_expander_is_there():
    at = open_page()
    assert any(e.label == "Think about it" for e in at.expander)


def test_zero_signal_means_no_policy_gradient_and_dynamic_sampling_would_drop_it():
    at = open_page()  # the notebook's 4 groups: the last is all right
    info = texts(at.info)
    assert "no policy-gradient signal" in info and "the KL term still pulls on their tokens" in info
    assert "teach the model nothing" not in info
    assert "3 of the 4 groups here would be kept" in info
    at = open_page(rewards="_".join(["0.7"] * 8))
    assert "0 of the 1 groups here would be kept" in texts(at.info)


def test_dapo_dynamic_sampling_and_overlong_shaping_are_explained():
    at = open_page()
    (box,) = [e for e in at.expander if e.label.startswith("What trainers do about zero-spread groups")]
    words = " ".join(m.value for m in box.markdown)
    assert "**Dynamic sampling.**" in words and "keeps sampling until the batch is full" in words
    assert "**Overlong reward shaping.**" in words and "falling linearly to −1" in words
    assert "L_max = 20,480" in words
    (formula,) = [l.value for l in box.latex]
    assert r"L_{\max} - L_{\text{cache}}" in formula and "-1 & L_{\\max} < |y|" in formula
