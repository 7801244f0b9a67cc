"""app/gc_freeze.py: the server's long-lived objects leave the collector's full passes; garbage does not get
frozen. Each case runs in a fresh interpreter: freezing is process-wide and for good."""

import subprocess
import sys
import textwrap

from tests.support import ROOT


def run_fresh(code: str) -> str:
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT / "app", capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_it_freezes_once_per_new_modules_and_collects_garbage_first():
    out = run_fresh("""
        import gc, sys, weakref
        sys.path.insert(0, ".")
        import gc_freeze

        class Node:
            pass

        cycle = Node(); cycle.me = cycle; gone = weakref.ref(cycle); del cycle
        print(gc_freeze.freeze_what_is_loaded(), gone() is None, gc.get_freeze_count() > 0)
        count = gc.get_freeze_count()
        print(gc_freeze.freeze_what_is_loaded(), gc.get_freeze_count() == count)  # no new module: nothing to do
        import json.tool  # a first visit to a page imports its modules
        print(gc_freeze.freeze_what_is_loaded(), gc.get_freeze_count() > count)
    """)
    assert out.splitlines() == ["True True True", "False True", "True True"]


def test_garbage_made_after_the_freeze_is_still_collected():
    out = run_fresh("""
        import gc, sys, weakref
        sys.path.insert(0, ".")
        import gc_freeze

        gc_freeze.freeze_what_is_loaded()
        class Node:
            pass
        cycle = Node(); cycle.me = cycle; gone = weakref.ref(cycle); del cycle
        gc.collect()
        print(gone() is None)
    """)
    assert out == "True"


def test_the_app_freezes_after_its_first_run():
    # The call sits in app/main.py after the page's run; a page run under AppTest goes through it.
    out = run_fresh("""
        import gc, sys
        from streamlit.testing.v1 import AppTest
        at = AppTest.from_file("main.py", default_timeout=60).run()
        assert not at.exception, at.exception
        print(gc.get_freeze_count() > 10_000)
    """)
    assert out == "True"
