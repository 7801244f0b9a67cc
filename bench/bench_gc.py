"""A full garbage collection in a process that has run the app, before and after ``app/gc_freeze.py``'s freeze.

    .venv/bin/python bench/bench_gc.py [--repeats 7]

Opens every page twice under AppTest, sessions kept (what a server holds after its first visitors: Streamlit,
torch, plotly, pandas, pyarrow, the app's modules and caches), then times ``gc.collect()`` (a full,
generation-2 pass: the kind the collector sets off on its own as objects pile up) ``--repeats`` times; calls
``gc_freeze.freeze_what_is_loaded()`` as app/main.py does after a run, opens every page once more, and times it
again. Both in one process,
one after the other; prints the medians, their ratio and the objects each pass walks. The collector holds the
GIL: on a server, a pass is a pause of every session.
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.chdir(ROOT)  # AppTest reads .streamlit/config.toml from the working directory
from bench.quiet import silence_bare_mode_warning  # noqa: E402

silence_bare_mode_warning()
from tests import page_catalog as pc  # noqa: E402


def full_collections(repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        gc.collect()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args(argv)

    sys.path.insert(0, str(ROOT / "app"))
    import gc_freeze

    # The page runs would freeze on their own (app/main.py calls it): the first measure is of the heap unfrozen.
    freeze = gc_freeze.freeze_what_is_loaded
    gc_freeze.freeze_what_is_loaded = lambda: False
    visitors = []  # open sessions stay alive, as a class's do

    def visit_every_page() -> None:
        for page in pc.pages():
            at = pc.open_page(page)
            if at.exception:
                raise RuntimeError(f"{page.url_path}: {[e.value for e in at.exception]}")
            visitors.append(at)

    visit_every_page()  # the first visitors: imports, caches
    visit_every_page()
    tracked = len(gc.get_objects())
    before = full_collections(args.repeats)
    gc_freeze.freeze_what_is_loaded = freeze
    freeze()
    visit_every_page()  # after the freeze: what later visitors add is walked, the rest is not
    walked = len(gc.get_objects())
    after = full_collections(args.repeats)
    print(f"A full gc.collect(), median of {args.repeats}, after every page ran under AppTest (2 sessions each), then "
          "after the freeze and one more session each:")
    print(f"  unfrozen: {before * 1000:7.1f} ms, {tracked:,} objects to walk")
    print(f"  frozen:   {after * 1000:7.1f} ms, {walked:,} objects to walk ({gc.get_freeze_count():,} frozen)")
    print(f"  frozen / unfrozen: {after / before:.3f}x")


if __name__ == "__main__":
    main()
