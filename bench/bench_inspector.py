"""The token inspector's redraw against a trivial page (issue 10), and the memory a live run keeps for it.

    .venv/bin/python bench/bench_inspector.py [--repeats 30] [--quick]

Redraw: one AppTest session draws ``app/token_inspector.draw`` for a real trainer step of the "times" task
with two groups of G = 32 completions of 6 tokens (one group shown: 32 rows × 6 cells, each with its hover
text and sentence). Its "Colour tokens by" control is flipped between two quantities (the inspector keeps the
group's hovers and sentences), and its group between 1 and 2 with the kept grids forgotten first (the group's
numbers read, its hovers and sentences computed, as for a group seen for the first time; the update's token
table, computed once per update for all its groups, is kept), rerunning each time. A
trivial page (one slider and one small Plotly chart, as in issue 11) is flipped the same way in the same
rounds, interleaved, so the ratio of the medians holds on a noisy shared machine. AppTest's own overhead
is in both figures. Target: ≤ 2×.

Memory: a live run keeps, for its last step only, each update's inputs (``grpo_core.inspector.UpdateInputs``:
log-probs new/old/ref, mask, entropy, rewards, truncation flags), and a session that inspects it one update's
``TokenTable``; the bench sums their tensors' bytes for the live page's default run and for the largest one its
controls allow (B = 128, G = 32, μ = 8).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "app"))
from bench.quiet import silence_bare_mode_warning  # noqa: E402

silence_bare_mode_warning()
import torch  # noqa: E402

torch.set_num_threads(1)  # as app/main.py sets for the server's script threads
from streamlit.testing.v1 import AppTest  # noqa: E402

from grpo_core.inspector import token_table  # noqa: E402
from grpo_core.training import TrainConfig, Trainer  # noqa: E402

TRIVIAL = """
import streamlit as st
x = st.selectbox("x", ["a", "b"], key="x")
st.plotly_chart({"data": [{"type": "scatter", "y": [1, 3, 2] if x == "a" else [2, 1, 3]}],
                 "layout": {"height": 240}}, key="c")
"""


def _inspector_script():
    import streamlit as st

    import token_inspector
    from grpo_core.training import TrainConfig, Trainer

    if "step" not in st.session_state:
        st.session_state.step = Trainer(TrainConfig(task="times", prompts_per_step=2, group_size=32, seed=0)).step()
    token_inspector.draw(st.session_state.step)


def kept_bytes(config: TrainConfig) -> tuple[int, int]:
    """Bytes of the tensors a step keeps for the inspector (every update's inputs), and of the one
    ``TokenTable`` an inspecting session keeps besides (the shown update's)."""
    step = Trainer(config).step()
    total = 0
    for update in step._updates:
        for value in vars(update).values():
            if isinstance(value, torch.Tensor):
                total += value.element_size() * value.nelement()
    table = token_table(step.inspect(0), step.entropy(0))
    return total, sum(t.element_size() * t.nelement() for t in (table.values, table.advantages, table.finite))


def flip(at: AppTest, key: str, values: tuple, i: int, forget: str | None = None) -> float:
    """Set ``key`` to the ``i``-th of two values and rerun; ``forget``: a session-state entry dropped first."""
    if forget:
        at.session_state[forget] = None
    widget = at.number_input(key=key) if isinstance(values[0], int) else at.selectbox(key=key)
    widget.set_value(values[i % 2])
    start = time.perf_counter()
    at.run()
    elapsed = time.perf_counter() - start
    assert not at.exception, [e.value for e in at.exception]
    return elapsed


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--quick", action="store_true", help="5 repeats (the test suite's smoke run)")
    args = parser.parse_args(argv)
    repeats = 5 if args.quick else args.repeats

    inspector = AppTest.from_function(_inspector_script, default_timeout=120)
    inspector.run()
    trivial = AppTest.from_string(TRIVIAL, default_timeout=60)
    trivial.run()
    rows = len(inspector.selectbox(key="ti_token").options)
    times = {"colour": [], "group": [], "trivial": []}
    for i in range(repeats + 1):  # the first round warms all up and is dropped
        measured = {"colour": flip(inspector, "ti_colour", ("grad", "ratio"), i),
                    "trivial": flip(trivial, "x", ("b", "a"), i),
                    "group": flip(inspector, "ti_group", (2, 1), i, forget="inspector_memo")}
        if i:
            for name, seconds in measured.items():
                times[name].append(seconds)
    median_ms = {name: statistics.median(values) * 1e3 for name, values in times.items()}
    print(f"token inspector, 1 group of 32 completions x 6 tokens ({rows} tokens), {repeats} interleaved rounds; "
          f"trivial page median {median_ms['trivial']:.1f} ms")
    for name, what in (("colour", "colour changed (the grid redrawn, hovers and sentences kept)"),
                       ("group", "another group, seen for the first time (its hovers and sentences computed)")):
        print(f"  {what}: median {median_ms[name]:.1f} ms, ratio {median_ms[name] / median_ms['trivial']:.2f}x "
              f"(target <= 2x)")
    default = TrainConfig(task="times")
    largest = TrainConfig(task="times", prompts_per_step=128, group_size=32, num_iterations=8)
    for name, config in (("default live run", default), ("largest live run (B 128, G 32, mu 8)", largest)):
        inputs, table = kept_bytes(config)
        print(f"kept for the inspector, {name}: {inputs / 2**20:.2f} MiB per session (the step's update inputs), "
              f"+ {table / 2**20:.2f} MiB while inspecting (one update's token table)")


if __name__ == "__main__":
    main()
