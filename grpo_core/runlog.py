"""Read a GRPO training log that a trainer wrote: TRL, verl or a CSV, into one table of metrics by step.

Formats (detected from the text, never from the file name):

- TRL ``trainer_state.json``: a JSON object whose ``log_history`` is a list of dicts, each with a ``step``.
- JSON lines of the same dicts (one ``{"step": n, "loss": ..., "reward": ...}`` per line), or a JSON list.
- verl's file logger (``verl.utils.tracking.FileLogger``): JSON lines ``{"step": n, "data": {...}}``.
- CSV with a step column (``step``, ``global_step``, ``_step``, ``Step`` or ``train/global_step``).

Only safe parsers read the text (``json``, ``pandas.read_csv`` with the C engine and every cell as a string);
nothing is evaluated, unpickled or imported from it. Bad input raises ``ValueError`` with a message that can be
shown to the reader as plain text (it never quotes the file), or gives ``RunLog.warnings`` for what was
skipped: non-finite or absurdly large values, non-numeric values, steps that are not whole numbers, repeated
steps with different values, more metrics than :data:`MAX_METRICS`.

Known metric names of TRL 1.16 and verl 0.9 map onto the explorer's names (``grpo_core.training``'s
``TRAIN_METRIC_NAMES`` plus :data:`EXTRA_NAMES`) through one table, :data:`KNOWN_METRICS`; unknown metrics
are kept under their own names. Nothing here imports Streamlit.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from dataclasses import dataclass, field

import numpy as np

#: Largest log accepted, in bytes (stated on the page).
MAX_BYTES = 20 * 1024 * 1024
#: Most steps (rows after merging repeated steps) and most lines or entries read.
MAX_ROWS = 100_000
#: Most metrics (columns) kept; the rest are skipped with a warning.
MAX_METRICS = 500
#: Longest metric name kept (longer names are cut, with a warning).
MAX_NAME = 120
#: A value beyond this magnitude is no training metric (it is skipped with a warning): it keeps every sum and
#: mean the findings take finite.
MAX_ABS_VALUE = 1e18
#: Largest step number accepted.
MAX_STEP = 10**12
#: Step columns a CSV may have, first match wins (case-insensitive).
STEP_COLUMNS = ("step", "global_step", "train/global_step", "training/global_step", "_step", "iteration")

#: Explorer names beyond grpo_core.training.TRAIN_METRIC_NAMES that trainers log.
EXTRA_NAMES = ("truncated_fraction", "grad_norm", "learning_rate", "policy_loss")

_NUMBER = re.compile(r"\s*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d{1,4})?\s*")
_CONTROL = re.compile(r"[\x00-\x1f\x7f\u202a-\u202e\u2066-\u2069]")


@dataclass(frozen=True)
class KnownMetric:
    """One row of the mapping table: a trainer's metric and the explorer's name for it.

    Attributes:
        trainer: ``"TRL"`` or ``"verl"``.
        source: the name in the trainer's log.
        name: the explorer's name (a column of :attr:`RunLog.metrics`).
        meaning: what the trainer computes, in plain words (where it differs from the explorer, it says so).
    """

    trainer: str
    source: str
    name: str
    meaning: str


def _k(trainer: str, source: str, name: str, meaning: str) -> KnownMetric:
    return KnownMetric(trainer, source, name, meaning)


#: The one mapping table. Where several sources map to one name, the first present in a log wins.
KNOWN_METRICS: tuple[KnownMetric, ...] = (
    _k("TRL", "reward", "reward", "Mean total reward of the step's completions."),
    _k("TRL", "reward_std", "reward_std", "Std of the step's rewards over the whole batch (not per group)."),
    _k("TRL", "frac_reward_zero_std", "frac_reward_zero_std",
       "Fraction of groups whose completions all got the same reward (their advantages are 0)."),
    _k("TRL", "kl", "kl", "Mean k3 estimate of KL(policy || reference) per token; logged only when beta > 0."),
    _k("TRL", "entropy", "entropy", "Mean per-token entropy of the policy (nats)."),
    _k("TRL", "clip_ratio/low_mean", "clip_ratio/low_mean",
       "Fraction of tokens with ratio < 1 − ε and a negative advantage."),
    _k("TRL", "clip_ratio/high_mean", "clip_ratio/high_mean",
       "Fraction of tokens with ratio > 1 + ε_high and a positive advantage."),
    _k("TRL", "clip_ratio/region_mean", "clip_ratio/region_mean", "Fraction of tokens clipped on either side."),
    _k("TRL", "completions/mean_length", "completion_length", "Mean completion length in tokens."),
    _k("TRL", "completions/clipped_ratio", "truncated_fraction",
       "Fraction of completions cut at max_completion_length (no EOS)."),
    _k("TRL", "loss", "loss", "The training loss (policy term + β·KL), averaged over the logging window."),
    _k("TRL", "policy_loss", "policy_loss", "The policy term of the loss alone."),
    _k("TRL", "grad_norm", "grad_norm", "Gradient norm before clipping."),
    _k("TRL", "learning_rate", "learning_rate", "Learning rate at the step."),
    _k("verl", "critic/score/mean", "reward", "Mean sequence score from the reward function (before any KL penalty)."),
    _k("verl", "critic/advantages/mean", "advantage_mean", "Mean advantage over response tokens."),
    _k("verl", "actor/pg_clipfrac", "clip_ratio/region_mean",
       "Fraction of tokens where the clip was active (either side)."),
    _k("verl", "actor/kl_loss", "kl", "Mean KL estimate to the reference in the loss (kl_loss_type); use_kl_loss=True."),
    _k("verl", "actor/reward_kl_penalty", "kl", "Mean KL to the reference subtracted from the reward "
       "(use_kl_in_reward=True)."),
    _k("verl", "actor/entropy", "entropy", "Mean per-token entropy of the policy (nats)."),
    _k("verl", "response_length/mean", "completion_length", "Mean response length in tokens."),
    _k("verl", "response_length/clip_ratio", "truncated_fraction",
       "Fraction of responses that reached the maximum response length."),
    _k("verl", "actor/pg_loss", "loss", "The policy-gradient loss (without the KL and entropy terms)."),
    _k("verl", "actor/grad_norm", "grad_norm", "Gradient norm of the actor."),
    _k("verl", "actor/lr", "learning_rate", "Actor learning rate."),
)
#: Metrics the table does not map, with what they are: kept under their own names, never mistaken for one.
NOT_THE_SAME = {
    "actor/ppo_kl": "KL between the sampling (old) policy and the updated one, −mean log ratio: not the KL to "
                    "the reference.",
    "actor/pg_clipfrac_lower": "Fraction of tokens capped by verl's dual clip (ratio > clip_ratio_c on a "
                               "negative advantage): not TRL's clip_ratio/low_mean.",
    "critic/rewards/mean": "Mean token-level reward after verl's KL-in-reward penalty (equals the score without it).",
}
_BY_SOURCE = {k.source: k for k in KNOWN_METRICS}


def _lookup(source: str) -> KnownMetric | None:
    return _BY_SOURCE.get(source) or _BY_SOURCE.get(_strip_prefix(source))


@dataclass
class RunLog:
    """A training log as one table.

    Attributes:
        kind: the format found: ``"TRL trainer_state.json"``, ``"TRL JSON lines"``, ``"verl JSON lines"``,
            ``"CSV"``.
        steps: ``(S,)`` int64, ascending and unique.
        metrics: ``{name: (S,) float64}``, NaN where the metric was not logged at that step; explorer names
            for known metrics, the log's own name otherwise, in the order first seen.
        sources: ``{name: name in the log}`` for every metric.
        warnings: plain sentences about what was skipped or merged (never quoting the file).
    """

    kind: str
    steps: np.ndarray
    metrics: dict[str, np.ndarray]
    sources: dict[str, str]
    warnings: list[str] = field(default_factory=list)

    @property
    def known(self) -> list[str]:
        """Metrics the mapping table names, in the table's order of explorer names."""
        return [n for n in self.metrics if (entry := _lookup(self.sources[n])) is not None and entry.name == n]

    @property
    def unknown(self) -> list[str]:
        """Metrics kept under their own names."""
        known = set(self.known)
        return [n for n in self.metrics if n not in known]

    def series(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """``(steps, values)`` of ``name`` where it is logged (finite values only)."""
        values = self.metrics[name]
        keep = np.isfinite(values)
        return self.steps[keep], values[keep]

    def mapping_rows(self) -> list[dict[str, str]]:
        """The mapping table for this log: one row per metric, what it is called here and what it means."""
        rows = []
        for name, source in self.sources.items():
            entry = _lookup(source)
            if entry is not None and entry.name != name:
                meaning = f"Also maps to {entry.name}, which another metric of this log already fills: kept as is."
                entry = None
            else:
                meaning = entry.meaning if entry else NOT_THE_SAME.get(source, "Not in the mapping table: kept as is.")
            rows.append({"in the log": source, "explorer name": name if entry else "", "meaning": meaning,
                         "logged at": f"{int(np.isfinite(self.metrics[name]).sum())} steps"})
        return rows


def mapping_table() -> list[dict[str, str]]:
    """The whole mapping table (every known metric of both trainers), for the page."""
    return [{"trainer": k.trainer, "in the log": k.source, "explorer name": k.name, "meaning": k.meaning}
            for k in KNOWN_METRICS] + [{"trainer": "verl", "in the log": s, "explorer name": "", "meaning": m}
                                       for s, m in NOT_THE_SAME.items()]


def smooth(values: np.ndarray, window: int) -> np.ndarray:
    """Trailing mean of ``values (S,)`` over the last ``window`` steps, ignoring NaN; NaN stays NaN (a step
    where the metric was not logged stays a gap). ``window = 1`` returns the values."""
    values = np.asarray(values, dtype=np.float64)
    if window <= 1 or values.size == 0:
        return values.copy()
    finite = np.isfinite(values)
    sums = np.concatenate([[0.0], np.cumsum(np.where(finite, values, 0.0))])
    counts = np.concatenate([[0], np.cumsum(finite)])
    end = np.arange(1, values.size + 1)
    start = np.maximum(end - window, 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = (sums[end] - sums[start]) / (counts[end] - counts[start])
    return np.where(finite, out, np.nan)


# --------------------------------------------------------------------------------------------- parsing


def parse_log(data: bytes | str) -> RunLog:
    """Parse a training log (see the module docstring for the formats).

    Args:
        data: the file's bytes (UTF-8, optionally with a BOM) or its text.

    Raises:
        ValueError: too large, not text, no format recognised, no step with a number in it.
    """
    text = _text(data)
    stripped = text.lstrip()
    if not stripped:
        raise ValueError("The file is empty.")
    warnings: list[str] = []
    if stripped[0] in "{[":
        kind, entries = _json_entries(stripped, warnings)
    elif stripped[0] == "<":
        raise ValueError("The file looks like HTML or XML, not a JSON, JSON lines or CSV log.")
    else:
        kind, entries = "CSV", _csv_entries(text, warnings)
    return _table(kind, entries, warnings)


def _text(data: bytes | str) -> str:
    if isinstance(data, str):
        if len(data) > MAX_BYTES:  # characters, a lower bound on the bytes
            raise ValueError(f"The log is larger than {MAX_BYTES // 2**20} MB, the limit here.")
        text = data
    elif isinstance(data, (bytes, bytearray, memoryview)):
        if len(data) > MAX_BYTES:
            raise ValueError(f"The log is larger than {MAX_BYTES // 2**20} MB, the limit here.")
        try:
            text = bytes(data).decode("utf-8-sig")
        except UnicodeDecodeError:
            raise ValueError("The file is not UTF-8 text (a JSON, JSON lines or CSV log is).") from None
    else:
        raise ValueError("A log must be bytes or text.")
    if "\x00" in text:
        raise ValueError("The file holds binary data (NUL bytes), not a text log.")
    return text


def _loads(text: str):
    """``json.loads`` that maps NaN/Infinity to NaN and turns every parser failure into ValueError."""
    try:
        return json.loads(text, parse_constant=lambda _: math.nan)
    except RecursionError:
        raise ValueError("nested too deeply") from None
    except (ValueError, TypeError) as err:  # JSONDecodeError is a ValueError; so is a 5000-digit integer
        raise ValueError(str(err).split(":")[0]) from None


def _json_entries(text: str, warnings: list[str]) -> tuple[str, list[dict]]:
    """``(kind, [{"step": ..., metric: value, ...}])`` from a JSON document or JSON lines."""
    try:
        document = _loads(text)
    except ValueError:
        document = None
    if isinstance(document, dict) and "log_history" in document:
        history = document["log_history"]
        if not isinstance(history, list):
            raise ValueError("The file's log_history is not a list of entries.")
        return "TRL trainer_state.json", _checked_entries(history, warnings)
    if isinstance(document, list):
        return _kind(document), _checked_entries(document, warnings)
    if isinstance(document, dict):
        return _kind([document]), _checked_entries([document], warnings)
    if document is not None:
        raise ValueError("The file is JSON but holds neither a log_history nor log entries.")
    entries, bad, first_bad = [], 0, None
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        if len(entries) + bad >= MAX_ROWS:
            raise ValueError(f"The log has more than {MAX_ROWS:,} lines, the limit here.")
        try:
            entries.append(_loads(line))
        except ValueError:
            bad += 1
            first_bad = first_bad or number
    if not entries:
        raise ValueError("The file is neither JSON nor JSON lines (no line could be read as JSON).")
    if bad:
        warnings.append(f"{bad} line(s) could not be read as JSON and were skipped (the first is line {first_bad}).")
    return _kind(entries), _checked_entries(entries, warnings)


def _kind(entries: list) -> str:
    verl = sum(1 for e in entries if isinstance(e, dict) and isinstance(e.get("data"), dict))
    return "verl JSON lines" if verl and verl >= len(entries) / 2 else "TRL JSON lines"


def _checked_entries(entries: list, warnings: list[str]) -> list[dict]:
    """Flatten verl's ``{"step", "data"}`` entries; drop what is not a dict."""
    if len(entries) > MAX_ROWS:
        raise ValueError(f"The log has more than {MAX_ROWS:,} entries, the limit here.")
    out, skipped = [], 0
    for entry in entries:
        if not isinstance(entry, dict):
            skipped += 1
            continue
        if isinstance(entry.get("data"), dict):
            out.append({"step": entry.get("step"), **{k: v for k, v in entry["data"].items() if k != "step"}})
        else:
            out.append(entry)
    if skipped:
        warnings.append(f"{skipped} entr(ies) were not objects of metrics and were skipped.")
    return out


def _csv_entries(text: str, warnings: list[str]) -> list[dict]:
    import pandas as pd

    try:
        sample = text[:4096]
        delimiter = "\t" if sample.count("\t") > sample.count(",") else ","
        frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, engine="c", sep=delimiter,
                            nrows=MAX_ROWS + 1, quoting=csv.QUOTE_MINIMAL, on_bad_lines="skip")
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError, OverflowError, csv.Error):
        raise ValueError("The file is not JSON, JSON lines or a CSV that can be read.") from None
    if len(frame) > MAX_ROWS:
        raise ValueError(f"The log has more than {MAX_ROWS:,} rows, the limit here.")
    columns = [str(c) for c in frame.columns]
    lowered = {c.strip().lower(): c for c in columns}
    step = next((lowered[s] for s in STEP_COLUMNS if s in lowered), None)
    if step is None:
        raise ValueError("The CSV has no step column (step, global_step, _step or train/global_step).")
    frame.columns = columns
    records = frame.to_dict("records")
    for record in records:
        record["step"] = record.pop(step)
    return records


# ------------------------------------------------------------------------------------------ one table


def _clean_name(raw) -> str:
    name = _CONTROL.sub("", str(raw)).strip()
    return name


def _strip_prefix(name: str) -> str:
    """W&B and Trackio prefix TRL's metrics with ``train/``: the table maps the name without it."""
    return name[6:] if name.startswith("train/") else name


def _number(value) -> float | None:
    """A finite float, NaN for a non-finite or too large number, None for a value that is not a number."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return float(value) if abs(value) <= MAX_ABS_VALUE else math.nan
    if isinstance(value, float):
        return value if math.isfinite(value) and abs(value) <= MAX_ABS_VALUE else math.nan
    if isinstance(value, str):
        text = value.strip()
        if text == "":
            return None
        if text.lower() in ("nan", "-nan", "inf", "-inf", "+inf", "infinity", "-infinity"):
            return math.nan
        if _NUMBER.fullmatch(text):
            number = float(text)
            return number if math.isfinite(number) and abs(number) <= MAX_ABS_VALUE else math.nan
    return None


def _step(value) -> int | None:
    number = _number(value)
    if number is None or not math.isfinite(number) or number < 0 or number != int(number) or number > MAX_STEP:
        return None
    return int(number)


def _table(kind: str, entries: list[dict], warnings: list[str]) -> RunLog:
    rows: dict[int, dict[str, float]] = {}
    names: dict[str, str] = {}  # raw name -> column name
    sources: dict[str, str] = {}  # column name -> raw name
    taken: set[str] = set()
    no_step = nonfinite = nonnumeric = conflicts = cut = too_many = 0
    for entry in entries:
        step = _step(entry.get("step"))
        if step is None:
            no_step += 1
            continue
        row = rows.setdefault(step, {})
        for raw, value in entry.items():
            if raw == "step":
                continue
            column = names.get(raw)
            if column is None:
                if isinstance(value, (dict, list)):
                    nonnumeric += 1
                    continue
                if len(names) >= MAX_METRICS:
                    too_many += 1
                    continue
                clean = _clean_name(raw)
                if len(clean) > MAX_NAME:
                    clean, cut = clean[: MAX_NAME - 1] + "…", cut + 1
                known = _lookup(clean)
                # a second source of one explorer name keeps its own name (and a clash gets a mark)
                column = known.name if known and known.name not in taken else clean
                while column in taken or not column:
                    column = (column or "metric") + "'"
                names[raw] = column
                taken.add(column)
                sources[column] = clean
            number = _number(value)
            if number is None:
                nonnumeric += 1
                continue
            if math.isnan(number):
                nonfinite += 1
                continue
            if column in row and row[column] != number:
                conflicts += 1
            row[column] = number
    if no_step:
        warnings.append(f"{no_step} entr(ies) had no whole, non-negative step number and were skipped.")
    if nonfinite:
        warnings.append(f"{nonfinite} value(s) were NaN, infinite or beyond ±{MAX_ABS_VALUE:g} and were skipped.")
    if nonnumeric:
        warnings.append(f"{nonnumeric} value(s) were not numbers (text, lists or true/false) and were skipped.")
    if conflicts:
        warnings.append(f"{conflicts} value(s) were logged twice for the same step with different numbers: the "
                        "last one is kept.")
    if cut:
        warnings.append(f"{cut} metric name(s) longer than {MAX_NAME} characters were cut.")
    if too_many:
        warnings.append(f"The log has more than {MAX_METRICS} metrics; the first {MAX_METRICS} are kept.")
    if len(rows) > MAX_ROWS:
        raise ValueError(f"The log has more than {MAX_ROWS:,} steps, the limit here.")
    used = [c for c in sources if any(c in r for r in rows.values())]
    if not rows or not used:
        raise ValueError("No step of the log holds a number: nothing to show.")
    steps = np.array(sorted(rows), dtype=np.int64)
    metrics = {c: np.array([rows[s].get(c, math.nan) for s in steps], dtype=np.float64) for c in used}
    gaps = np.diff(steps)
    if gaps.size and len(set(gaps.tolist())) > 1:
        warnings.append(f"Steps are not evenly spaced (gaps from {int(gaps.min())} to {int(gaps.max())} steps): "
                        "lines are drawn straight across the missing steps.")
    return RunLog(kind, steps, metrics, {c: sources[c] for c in used}, warnings)
