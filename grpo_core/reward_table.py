"""A table of (prompt, completion, reward) rows: the groups GRPO compares, as a user edits them.

A *reward table* is what the Reward groups page shows: one row per sampled completion, the completions of
one prompt forming its group. This module turns rows (from an editor or a link) into validated groups,
encodes them into a short query-string value and back, and computes the per-completion numbers
(reward, group mean, group std, advantage) with :func:`grpo_core.group_advantages` and
:func:`grpo_core.group_reward_std`. No Streamlit here.

Groups may have different sizes ``G_b``. Trainers sample a fixed ``G`` per prompt, so the core functions
take a rectangular ``(B, G)`` tensor; padding would change the means, so :func:`summarize` calls them once
per distinct group size on the ``(B_g, G)`` stack of the groups of that size. ``scale="group"`` and
``"none"`` are per-group, so this is exact. ``scale="batch"`` divides by the unbiased std of *all*
``sum(G_b)`` rewards: with one group size this is the core's own ``"batch"`` call; with several, the
centred rewards (``scale="none"``) are divided by that std plus ``eps``, which is what the core computes
for a rectangular batch.

Limits (every violation raises ``ValueError`` with a message a user can act on): at most
:data:`MAX_ROWS` completions, rewards finite and in ``[REWARD_MIN, REWARD_MAX]``, texts at most
:data:`MAX_TEXT` characters, an encoded value at most :data:`MAX_ENCODED` characters.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from grpo_core.functional import ADVANTAGE_SCALES, group_advantages, group_reward_std

REWARD_MIN = -10.0
REWARD_MAX = 10.0
#: Most completions (rows) a table may hold: enough for 32 prompts x G = 8, few enough to draw every bar.
MAX_ROWS = 256
MAX_TEXT = 200
#: Longest encoded table accepted from a URL (a full 256-row table of short decimals fits).
MAX_ENCODED = 8192
_MAX_JSON = 128 * 1024  # decompressed size cap: a zlib bomb stops here

_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d{1,3})?")
_BASE64URL = re.compile(r"[A-Za-z0-9_-]*")
_REWARD_SEP, _GROUP_SEP = "_", "~"
#: First character of the packed (texts included) form of :func:`encode`.
PACKED_PREFIX = "z"


def default_prompt(index: int) -> str:
    """Label of the ``index``-th (0-based) prompt when the user has not named it."""
    return f"prompt {index + 1}"


def default_completion(index: int) -> str:
    """Label of the ``index``-th (0-based) completion of a group when the user has not named it."""
    return f"answer {index + 1}"


@dataclass(frozen=True)
class RewardGroup:
    """One prompt and its ``G`` sampled completions with their rewards."""

    prompt: str
    completions: tuple[str, ...]
    rewards: tuple[float, ...]

    @property
    def size(self) -> int:
        return len(self.rewards)


@dataclass(frozen=True)
class RewardTable:
    """Validated groups, in the order their prompts first appear. Build with :func:`from_rows`."""

    groups: tuple[RewardGroup, ...]

    @property
    def n_rows(self) -> int:
        return sum(g.size for g in self.groups)

    def rows(self) -> list[dict[str, Any]]:
        """One ``{"prompt", "completion", "reward"}`` dict per completion (the editor's rows)."""
        return [
            {"prompt": g.prompt, "completion": c, "reward": r}
            for g in self.groups
            for c, r in zip(g.completions, g.rewards)
        ]


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or (
        isinstance(value, str) and not value.strip()
    )


def _text(value: Any, what: str, row: int) -> str:
    text = value if isinstance(value, str) else str(value)
    text = text.strip()
    if len(text) > MAX_TEXT:
        raise ValueError(f"Row {row}: the {what} is longer than {MAX_TEXT} characters; shorten it.")
    return text


def _reward(value: Any, row: int) -> float:
    if _is_missing(value):
        raise ValueError(f"Row {row} has no reward: type a number between {REWARD_MIN:g} and {REWARD_MAX:g}.")
    if isinstance(value, bool):
        raise ValueError(f"Row {row}: the reward must be a number, not true/false.")
    if isinstance(value, str):
        if not _NUMBER.fullmatch(value.strip()):
            raise ValueError(f"Row {row}: the reward is not a number; type e.g. 1, 0 or 0.5.")
        value = float(value)
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        raise ValueError(f"Row {row}: the reward is not a number; type e.g. 1, 0 or 0.5.") from None
    if not math.isfinite(number):
        raise ValueError(f"Row {row}: the reward must be a finite number (not NaN or infinity).")
    if not REWARD_MIN <= number <= REWARD_MAX:
        raise ValueError(f"Row {row}: the reward {number:g} is outside [{REWARD_MIN:g}, {REWARD_MAX:g}].")
    return number


def from_rows(rows: Sequence[Mapping[str, Any]]) -> RewardTable:
    """Validate editor rows into a :class:`RewardTable`.

    Args:
        rows: dicts with keys ``"prompt"``, ``"completion"``, ``"reward"`` (e.g. a DataFrame's
            ``to_dict("records")``). A row with no prompt joins the group of the row above it (a newly
            added row continues the last group); a row with no completion text gets
            :func:`default_completion`. Rows of one prompt need not be adjacent: a group is every row
            with that prompt, in the order the prompts first appear.

    Raises:
        ValueError: no rows; more than :data:`MAX_ROWS`; a reward missing, not a number, not finite or
            out of range; a text too long; the first row without a prompt. The message names the row
            (1-based) so the user can fix it.
    """
    if len(rows) == 0:
        raise ValueError("The table is empty: add at least one completion with a reward.")
    if len(rows) > MAX_ROWS:
        raise ValueError(
            f"{len(rows):,} completions is more than the {MAX_ROWS} this page can draw; "
            "delete rows or load a preset."
        )
    order: list[str] = []
    members: dict[str, tuple[list[Any], list[float]]] = {}
    prompt = None
    for index, row in enumerate(rows):
        number = index + 1
        if not isinstance(row, Mapping):
            raise ValueError(f"Row {number} is not a (prompt, completion, reward) row.")
        if not _is_missing(row.get("prompt")):
            prompt = _text(row.get("prompt"), "prompt", number)
        elif prompt is None:
            raise ValueError("Row 1 has no prompt: type which prompt its completion answers.")
        completion = row.get("completion")
        completion = None if _is_missing(completion) else _text(completion, "completion", number)
        reward = _reward(row.get("reward"), number)
        if prompt not in members:
            order.append(prompt)
            members[prompt] = ([], [])
        members[prompt][0].append(completion)
        members[prompt][1].append(reward)
    groups = []
    for p in order:
        completions, rewards = members[p]
        labels = tuple(default_completion(i) if c is None else c for i, c in enumerate(completions))
        groups.append(RewardGroup(p, labels, tuple(rewards)))
    return RewardTable(tuple(groups))


def from_rewards(groups: Sequence[Sequence[float]]) -> RewardTable:
    """A table of unnamed prompts and completions: ``[[1, 0, 1, 0], [1, 1]]`` -> two groups."""
    return from_rows([
        {"prompt": default_prompt(b), "completion": default_completion(i), "reward": r}
        for b, group in enumerate(groups)
        for i, r in enumerate(group)
    ])


@dataclass(frozen=True)
class Preset:
    title: str
    description: str
    table: RewardTable


PRESETS: dict[str, Preset] = {
    "notebook": Preset(
        "Notebook's 4 groups",
        "Half right, mostly right, mostly wrong, all right: four prompts with G = 4 and 0/1 rewards.",
        from_rewards([[1, 0, 1, 0], [1, 1, 1, 0], [1, 0, 0, 0], [1, 1, 1, 1]]),
    ),
    "one-right-of-8": Preset(
        "1 right out of 8",
        "A hard prompt: one lucky completion out of eight. It gets a large push; the seven others a small one.",
        from_rewards([[0, 0, 0, 1, 0, 0, 0, 0]]),
    ),
    "all-wrong": Preset(
        "All wrong",
        "Every completion failed: no completion is better than its group, so there is no policy-gradient "
        "signal (only a KL term, with β > 0, still pulls).",
        from_rewards([[0, 0, 0, 0, 0, 0, 0, 0]]),
    ),
    "continuous": Preset(
        "Continuous scores",
        "Graded scores (e.g. a reward model): one prompt with a wide spread, one where all scores nearly tie.",
        from_rewards([[0.9, 0.2, 0.55, 0.4, 0.75, 0.1], [0.51, 0.5, 0.49, 0.5, 0.52, 0.48]]),
    ),
}
DEFAULT_PRESET = "notebook"


def _format_reward(value: float) -> str:
    text = repr(float(value))
    return text[:-2] if text.endswith(".0") else text


def has_default_texts(table: RewardTable) -> bool:
    """Whether every prompt and completion still has its default label (then the link is just numbers)."""
    return all(
        g.prompt == default_prompt(b) and all(c == default_completion(i) for i, c in enumerate(g.completions))
        for b, g in enumerate(table.groups)
    )


def _rewards_only(table: RewardTable) -> str:
    return _GROUP_SEP.join(_REWARD_SEP.join(_format_reward(r) for r in g.rewards) for g in table.groups)


def encode(table: RewardTable) -> str:
    """Encode ``table`` as a short, URL-safe query-string value for :func:`decode`.

    Unnamed tables read as numbers: rewards joined by ``_``, groups by ``~`` (``1_0_1_0~1_1_1_0``).
    Tables with texts are ``z`` + base64url(zlib(JSON ``[[prompt, [[completion, reward], ...]], ...]``)).
    ``decode(encode(t)) == t`` whenever the packed form fits in :data:`MAX_ENCODED` characters; when long
    texts do not fit, the texts are left out (numbers only: the rewards and the group sizes survive, the
    labels become the defaults), so a link can always be made of anything :func:`from_rows` accepts.
    """
    if has_default_texts(table):
        return _rewards_only(table)
    payload = [[g.prompt, [[c, r] for c, r in zip(g.completions, g.rewards)]] for g in table.groups]
    packed = zlib.compress(json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode(), 9)
    text = PACKED_PREFIX + base64.urlsafe_b64encode(packed).decode().rstrip("=")
    return text if len(text) <= MAX_ENCODED else _rewards_only(table)


def _reject_constant(name: str) -> float:
    raise ValueError(f"the table holds {name}, which is not a reward")


def decode(text: str) -> RewardTable:
    """Inverse of :func:`encode`, for text that came from anywhere (a shared link, a hostile one).

    Raises:
        ValueError: text too long, not in either format, a zlib bomb, malformed JSON or structure, or a
            table :func:`from_rows` rejects. Messages never quote the input.
    """
    if not isinstance(text, str) or not text:
        raise ValueError("the reward table is empty")
    if len(text) > MAX_ENCODED:
        raise ValueError(f"the reward table is longer than {MAX_ENCODED} characters")
    if text.startswith(PACKED_PREFIX):
        return from_rows(_unpack(text[len(PACKED_PREFIX):]))
    groups = [g.split(_REWARD_SEP) for g in text.split(_GROUP_SEP)]
    if sum(len(g) for g in groups) > MAX_ROWS:
        raise ValueError(f"the reward table has more than {MAX_ROWS} completions")
    for g in groups:
        for token in g:
            if not _NUMBER.fullmatch(token):
                raise ValueError("the reward table is not a list of numbers (rewards split by _, groups by ~)")
    return from_rewards([[float(t) for t in g] for g in groups])


def _unpack(body: str) -> list[dict[str, Any]]:
    if not _BASE64URL.fullmatch(body):
        raise ValueError("the packed reward table is not base64url text")
    try:
        packed = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        inflater = zlib.decompressobj()
        raw = inflater.decompress(packed, _MAX_JSON)
        if inflater.unconsumed_tail or not inflater.eof:
            raise ValueError("the packed reward table is too large or cut short")
        payload = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
    except (binascii.Error, zlib.error, UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise ValueError("the packed reward table is corrupted") from None
    if not isinstance(payload, list):
        raise ValueError("the packed reward table has the wrong structure")
    rows: list[dict[str, Any]] = []
    for group in payload:
        if not (isinstance(group, list) and len(group) == 2 and isinstance(group[0], str)
                and isinstance(group[1], list)):
            raise ValueError("the packed reward table has the wrong structure")
        for item in group[1]:
            if not (isinstance(item, list) and len(item) == 2 and isinstance(item[0], str)
                    and isinstance(item[1], (int, float)) and not isinstance(item[1], bool)):
                raise ValueError("the packed reward table has the wrong structure")
            rows.append({"prompt": group[0], "completion": item[0], "reward": item[1]})
            if len(rows) > MAX_ROWS:
                raise ValueError(f"the reward table has more than {MAX_ROWS} completions")
        if not group[1]:
            raise ValueError("the packed reward table has a prompt without completions")
    return rows


@dataclass(frozen=True)
class GroupStats:
    """One group's numbers. ``std`` is the group's unbiased std whatever the scale (0 when G = 1)."""

    prompt: str
    completions: tuple[str, ...]
    rewards: tuple[float, ...]
    mean: float
    std: float
    advantages: tuple[float, ...]

    @property
    def size(self) -> int:
        return len(self.rewards)

    @property
    def zero_signal(self) -> bool:
        """All rewards equal (or G = 1): every advantage is exactly 0, so this group gives no policy-gradient
        signal (a KL term in the loss, with beta > 0, still acts on its tokens)."""
        return self.std == 0.0


@dataclass(frozen=True)
class TableSummary:
    """Per-group numbers of a table under one ``scale``; ``batch_std`` is what ``"batch"`` divides by."""

    groups: tuple[GroupStats, ...]
    scale: str
    batch_std: float

    def rows(self) -> list[dict[str, Any]]:
        """The "show the numbers" rows: one per completion."""
        return [
            {"prompt": g.prompt, "completion": c, "reward": r, "group mean": g.mean, "group std": g.std,
             "advantage": a}
            for g in self.groups
            for c, r, a in zip(g.completions, g.rewards, g.advantages)
        ]


def summarize(table: RewardTable, *, scale: str = "group", eps: float = 1e-8) -> TableSummary:
    r"""Group mean, group std and advantage of every completion of ``table``.

    .. math::
        \hat A_{b,i} = \frac{r_{b,i} - \operatorname{mean}(r_{b,:})}{\sigma + \varepsilon},\quad
        \sigma = \operatorname{std}(r_{b,:}) \text{ (group)},\ \operatorname{std}(r) \text{ (batch)},\
        \sigma + \varepsilon = 1 \text{ (none)}

    Computed in float64 by :func:`grpo_core.group_advantages`, once per distinct group size (see the
    module docstring for ragged groups and ``"batch"``).

    Raises:
        ValueError: unknown ``scale`` or bad ``eps`` (from the core).
    """
    if scale not in ADVANTAGE_SCALES:
        raise ValueError(f"scale must be one of {', '.join(map(repr, ADVANTAGE_SCALES))}; got {scale!r}")
    by_size: dict[int, list[int]] = {}
    for b, g in enumerate(table.groups):
        by_size.setdefault(g.size, []).append(b)
    everything = torch.tensor([r for g in table.groups for r in g.rewards], dtype=torch.float64)
    batch_std = everything.std().item() if everything.numel() > 1 else 0.0
    one_size = len(by_size) == 1
    stats: list[GroupStats | None] = [None] * len(table.groups)
    for indices in by_size.values():
        rewards = torch.tensor([table.groups[b].rewards for b in indices], dtype=torch.float64)
        if one_size or scale != "batch":
            advantages = group_advantages(rewards, scale=scale, eps=eps)
        else:
            advantages = group_advantages(rewards, scale="none", eps=eps) / (batch_std + eps)
        stds = group_reward_std(rewards)
        means = rewards.mean(dim=-1)
        for row, b in enumerate(indices):
            group = table.groups[b]
            stats[b] = GroupStats(group.prompt, group.completions, group.rewards, means[row].item(),
                                  stds[row].item(), tuple(advantages[row].tolist()))
    return TableSummary(tuple(stats), scale, batch_std)
