"""grpo_core.reward_table: rows -> groups, the link encoding, and the per-completion numbers."""

from __future__ import annotations

import base64
import hashlib
import json
import math
import zlib

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from grpo_core import group_advantages, group_reward_std
from grpo_core import reward_table as rt

NOTEBOOK = [[1.0, 0.0, 1.0, 0.0], [1.0, 1.0, 1.0, 0.0], [1.0, 0.0, 0.0, 0.0], [1.0, 1.0, 1.0, 1.0]]


def row(prompt, completion, reward):
    return {"prompt": prompt, "completion": completion, "reward": reward}


# --- summarize: every number comes from the core --------------------------------------------------------

@pytest.mark.parametrize("scale", ["group", "batch", "none"])
def test_rectangular_table_matches_one_core_call(scale):
    summary = rt.summarize(rt.from_rewards(NOTEBOOK), scale=scale)
    rewards = torch.tensor(NOTEBOOK, dtype=torch.float64)
    want = group_advantages(rewards, scale=scale)
    assert [a for g in summary.groups for a in g.advantages] == pytest.approx(want.flatten().tolist())
    assert [g.std for g in summary.groups] == pytest.approx(group_reward_std(rewards).tolist())
    assert [g.mean for g in summary.groups] == pytest.approx(rewards.mean(-1).tolist())
    assert summary.batch_std == pytest.approx(rewards.std().item())


def test_notebook_numbers_by_hand():
    groups = rt.summarize(rt.from_rewards(NOTEBOOK)).groups
    assert groups[0].advantages == pytest.approx((0.5 / math.sqrt(1 / 3), -0.5 / math.sqrt(1 / 3)) * 2)
    undivided = rt.summarize(rt.from_rewards(NOTEBOOK), scale="none").groups[0].advantages
    assert undivided == pytest.approx((0.5, -0.5) * 2)
    assert [g.zero_signal for g in groups] == [False, False, False, True]
    assert groups[3].advantages == (0.0, 0.0, 0.0, 0.0)


@pytest.mark.parametrize("scale", ["group", "none"])
def test_ragged_groups_are_each_their_own_core_call(scale):
    ragged = [[1.0, 0.0, 1.0, 0.0], [0.2, 0.9], [0.5], [3.0, 1.0, 2.0, 0.0, -1.0, 0.5]]
    summary = rt.summarize(rt.from_rewards(ragged), scale=scale)
    for group, rewards in zip(summary.groups, ragged):
        alone = group_advantages(torch.tensor(rewards, dtype=torch.float64), scale=scale)
        assert group.advantages == pytest.approx(tuple(alone.tolist()))
        assert group.size == len(rewards)
    assert summary.groups[2].zero_signal and summary.groups[2].advantages == (0.0,)


def test_ragged_batch_scale_divides_by_the_std_of_all_rewards():
    ragged = [[1.0, 0.0, 1.0, 0.0], [0.2, 0.9, 0.4]]
    summary = rt.summarize(rt.from_rewards(ragged), scale="batch", eps=1e-8)
    everything = torch.tensor([r for g in ragged for r in g], dtype=torch.float64)
    for group, rewards in zip(summary.groups, ragged):
        mean = sum(rewards) / len(rewards)
        sigma = everything.std().item() + 1e-8
        assert group.advantages == pytest.approx(tuple((r - mean) / sigma for r in rewards))


def test_summary_rows_are_one_per_completion():
    table = rt.from_rows([row("q1", "a", 1), row("q1", "b", 0), row("q2", "c", 0.5)])
    rows = rt.summarize(table).rows()
    assert [r["completion"] for r in rows] == ["a", "b", "c"]
    assert rows[0]["group mean"] == 0.5 and rows[2]["group std"] == 0.0 and rows[2]["advantage"] == 0.0
    assert set(rows[0]) == {"prompt", "completion", "reward", "group mean", "group std", "advantage"}


def test_unknown_scale_is_a_value_error():
    with pytest.raises(ValueError, match="scale"):
        rt.summarize(rt.from_rewards(NOTEBOOK), scale="zscore")


def test_presets():
    assert [g.rewards for g in rt.PRESETS["notebook"].table.groups] == [tuple(g) for g in NOTEBOOK]
    one_right = rt.PRESETS["one-right-of-8"].table.groups
    assert len(one_right) == 1 and one_right[0].size == 8 and sorted(one_right[0].rewards) == [0.0] * 7 + [1.0]
    assert all(g.zero_signal for g in rt.summarize(rt.PRESETS["all-wrong"].table).groups)
    continuous = rt.PRESETS["continuous"].table.groups
    assert any(r not in (0.0, 1.0) for g in continuous for r in g.rewards)
    # Its two prompts differ in spread a lot, but group scaling makes their largest pushes comparable,
    # while "none" shrinks the near-tie one: the Dr. GRPO contrast the page shows.
    by_group = rt.summarize(rt.PRESETS["continuous"].table).groups
    by_none = rt.summarize(rt.PRESETS["continuous"].table, scale="none").groups
    peak = lambda g: max(abs(a) for a in g.advantages)  # noqa: E731
    assert peak(by_group[1]) > 0.5 * peak(by_group[0]) and peak(by_none[1]) < 0.1 * peak(by_none[0])
    assert rt.DEFAULT_PRESET in rt.PRESETS


# --- from_rows: validation ------------------------------------------------------------------------------

def test_rows_group_by_prompt_in_order_of_first_appearance():
    table = rt.from_rows([row("b", "1", 1), row("a", "2", 0), row("b", "3", 0)])
    assert [g.prompt for g in table.groups] == ["b", "a"]
    assert table.groups[0].completions == ("1", "3") and table.groups[0].rewards == (1.0, 0.0)


def test_row_without_prompt_joins_the_group_above_and_gets_a_default_label():
    table = rt.from_rows([row("q", "x", 1), row(None, None, 0), row(float("nan"), "  ", "0.5")])
    assert len(table.groups) == 1
    assert table.groups[0].completions == ("x", rt.default_completion(1), rt.default_completion(2))
    assert table.groups[0].rewards == (1.0, 0.0, 0.5)


@pytest.mark.parametrize("bad_reward, message", [
    (None, "no reward"), (float("nan"), "no reward"), ("", "no reward"), (float("inf"), "finite"),
    ("abc", "not a number"), ("1_0", "not a number"), ("0x10", "not a number"), ("nan", "not a number"),
    (True, "true/false"), ([1], "not a number"), (10.5, "outside"), (-10.01, "outside"),
])
def test_bad_rewards_name_the_row(bad_reward, message):
    with pytest.raises(ValueError, match=message) as info:
        rt.from_rows([row("q", "a", 1), row("q", "b", bad_reward)])
    assert "Row 2" in str(info.value)


def test_range_edges_are_accepted():
    table = rt.from_rows([row("q", "a", rt.REWARD_MIN), row("q", "b", rt.REWARD_MAX)])
    assert table.groups[0].rewards == (rt.REWARD_MIN, rt.REWARD_MAX)


@pytest.mark.parametrize("rows, message", [
    ([], "empty"),
    ([row(None, "a", 1)], "Row 1 has no prompt"),
    ([row("q", "a", 1)] * (rt.MAX_ROWS + 1), f"more than the {rt.MAX_ROWS}"),
    ([row("q", "a", 1)] * 10_000, "10,000 completions"),
    ([row("q" * (rt.MAX_TEXT + 1), "a", 1)], "longer than"),
    ([row("q", "a" * (rt.MAX_TEXT + 1), 1)], "longer than"),
    (["not a row"], "Row 1"),
])
def test_bad_tables(rows, message):
    with pytest.raises(ValueError, match=message):
        rt.from_rows(rows)


def test_max_rows_is_accepted():
    assert rt.from_rows([row("q", "a", 0.5)] * rt.MAX_ROWS).n_rows == rt.MAX_ROWS


# --- encode / decode ------------------------------------------------------------------------------------

def test_unnamed_tables_encode_as_readable_numbers():
    assert rt.encode(rt.PRESETS["notebook"].table) == "1_0_1_0~1_1_1_0~1_0_0_0~1_1_1_1"
    assert rt.decode("0.5_-0.25~1e-3") == rt.from_rewards([[0.5, -0.25], [0.001]])


@pytest.mark.parametrize("name", list(rt.PRESETS))
def test_presets_round_trip(name):
    table = rt.PRESETS[name].table
    assert rt.decode(rt.encode(table)) == table


def test_named_table_round_trips_packed():
    prompt = "Wie viel ist 2+2? 🤔 <b>&"
    table = rt.from_rows([row(prompt, "vier ~_", 1), row(prompt, "5", 0.1),
                          row("second", "x", -3.25)])
    encoded = rt.encode(table)
    assert encoded.startswith(rt.PACKED_PREFIX) and len(encoded) <= rt.MAX_ENCODED
    assert all(c.isalnum() or c in "-_" for c in encoded)  # URL-safe without escaping
    assert rt.decode(encoded) == table


def test_texts_too_long_for_a_link_fall_back_to_the_numbers():
    # 256 rows of hash-digest texts barely compress: they cannot fit in MAX_ENCODED characters.
    digest = lambda i: hashlib.sha256(str(i).encode()).hexdigest() * 3  # noqa: E731
    rows = [row(f"prompt {i // 8} " + digest(-i)[:150], digest(i)[:190], i % 3 / 2) for i in range(rt.MAX_ROWS)]
    table = rt.from_rows(rows)
    encoded = rt.encode(table)
    assert len(encoded) <= rt.MAX_ENCODED and not encoded.startswith(rt.PACKED_PREFIX)
    back = rt.decode(encoded)
    assert [g.rewards for g in back.groups] == [g.rewards for g in table.groups]


rewards_strategy = st.floats(min_value=rt.REWARD_MIN, max_value=rt.REWARD_MAX, allow_nan=False)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(rewards_strategy, min_size=1, max_size=9), min_size=1, max_size=12),
       st.booleans(), st.text(min_size=1, max_size=20).filter(str.strip))
def test_any_valid_table_round_trips(groups, named, name):
    table = rt.from_rewards(groups)
    if named:
        table = rt.from_rows([{**r, "prompt": f"{name.strip()} {r['prompt']}"} for r in table.rows()])
    assert rt.decode(rt.encode(table)) == table


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300) | st.from_regex(r"z[A-Za-z0-9_-]{0,80}", fullmatch=True)
       | st.from_regex(r"[0-9._~eE+-]{1,60}", fullmatch=True))
def test_decoding_anything_is_a_table_or_a_value_error(text):
    try:
        table = rt.decode(text)
    except ValueError:
        return
    assert 1 <= table.n_rows <= rt.MAX_ROWS
    assert all(rt.REWARD_MIN <= r <= rt.REWARD_MAX for g in table.groups for r in g.rewards)


def _pack(payload: bytes) -> str:
    return rt.PACKED_PREFIX + base64.urlsafe_b64encode(zlib.compress(payload)).decode().rstrip("=")


@pytest.mark.parametrize("text, message", [
    ("", "empty"),
    ("1" * (rt.MAX_ENCODED + 1), "longer than"),
    ("_".join(["1"] * (rt.MAX_ROWS + 1)), "more than"),
    ("1__0", "not a list of numbers"),
    ("1_0~", "not a list of numbers"),
    ("<script>", "not a list of numbers"),
    ("1_inf", "not a list of numbers"),
    ("1e999", "finite"),
    ("1_11", "outside"),
    ("z!!", "base64url"),
    ("zAAAA", "corrupted"),
    (_pack(b" " * 1_000_000), "too large"),                     # a zlib bomb stops at the size cap
    (_pack(b"[" * 100_000), "corrupted"),                       # nesting deep enough to blow the parser
    (_pack(b'[["q",[["a",NaN]]]]'), "corrupted|not a reward"),
    (_pack(b'{"q": 1}'), "structure"),
    (_pack(b'[["q",[["a",true]]]]'), "structure"),
    (_pack(b'[["q",[["a","1"]]]]'), "structure"),
    (_pack(b'[["q",[]]]'), "without completions"),
    (_pack(json.dumps([["q", [["a", 1]] * (rt.MAX_ROWS + 1)]]).encode()), "more than"),
    (_pack(json.dumps([["q", [["a", 50]]]]).encode()), "outside"),
    (_pack(b"\xff\xfe"), "corrupted"),
])
def test_hostile_encodings_are_value_errors_that_do_not_quote_the_input(text, message):
    with pytest.raises(ValueError, match=message) as info:
        rt.decode(text)
    assert "<script>" not in str(info.value) and len(str(info.value)) < 200


def test_decode_rejects_non_strings():
    with pytest.raises(ValueError):
        rt.decode(None)  # type: ignore[arg-type]
