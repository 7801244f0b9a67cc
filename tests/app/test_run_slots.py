"""app/run_slots.py: one script run computes at a time in a server process, a nested run reuses its slot."""

from __future__ import annotations

import sys
import threading
import time

import pytest

from tests import page_catalog as pc

sys.path.insert(0, str(pc.APP_DIR))
import run_slots  # noqa: E402


def test_a_second_run_waits_until_the_first_leaves_its_slot():
    order: list[str] = []
    inside, release = threading.Event(), threading.Event()

    def first():
        with run_slots.run_slot():
            order.append("first in")
            inside.set()
            release.wait(5)
            order.append("first out")

    def second():
        inside.wait(5)
        with run_slots.run_slot():
            order.append("second in")

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    inside.wait(5)
    time.sleep(0.2)  # the second thread has had time to enter, if the slot let it
    assert order == ["first in"]
    release.set()
    for t in threads:
        t.join(5)
    assert order == ["first in", "first out", "second in"]


def test_a_nested_run_reuses_its_threads_slot_and_an_exception_frees_it():
    @run_slots.one_at_a_time
    def section():
        with run_slots.run_slot():  # a page's section drawn in its full run: no deadlock
            raise RuntimeError("a rerun or stop unwinds the run")

    done = threading.Event()

    def page():
        with run_slots.run_slot():
            try:
                section()
            except RuntimeError:
                pass
        done.set()

    thread = threading.Thread(target=page)
    thread.start()
    assert done.wait(5), "a nested slot deadlocked"
    got = threading.Event()
    def other_run():
        with run_slots.run_slot():
            got.set()

    other = threading.Thread(target=other_run)
    other.start()
    assert got.wait(5), "the slot was not freed after the exception"
    other.join(5)


@pytest.mark.parametrize("text, slots", [(None, 1), ("", 1), (" 2 ", 2), ("0", 0), ("64", 64)])
def test_the_run_slots_setting_reads_a_whole_number(text, slots):
    assert run_slots.slots_setting(text) == slots


@pytest.mark.parametrize("text", ["two", "1.5", "-1", "65", "1e3"])
def test_a_run_slots_setting_that_is_not_a_whole_number_in_range_names_the_setting(text):
    with pytest.raises(ValueError, match=r"GRPO_RUN_SLOTS must be a whole number from 0 \(no gate\) to 64"):
        run_slots.slots_setting(text)
