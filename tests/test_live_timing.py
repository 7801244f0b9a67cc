"""app/live_timing.py: the refresh interval of the live-training page follows the server's work."""

from __future__ import annotations

import statistics

import pytest
from hypothesis import given
from hypothesis import strategies as st

import live_timing as lt


def test_no_history_is_the_fastest_refresh():
    assert lt.wanted_interval([]) == lt.REFRESH_SECONDS == 0.2


def test_light_work_keeps_the_fastest_refresh():
    assert lt.wanted_interval([0.09] * lt.WINDOW) == lt.REFRESH_SECONDS


def test_sustained_slow_work_stretches_the_interval_with_headroom():
    assert lt.wanted_interval([0.3] * lt.WINDOW) == pytest.approx(0.3 * lt.HEADROOM)


def test_one_slow_refresh_does_not_stretch_it():
    assert lt.wanted_interval([0.09, 0.09, 0.9, 0.09, 0.09]) == lt.REFRESH_SECONDS


def test_only_the_last_window_counts():
    old_slow = [1.0] * 10
    assert lt.wanted_interval(old_slow + [0.09] * lt.WINDOW) == lt.REFRESH_SECONDS


def test_the_interval_is_capped():
    assert lt.wanted_interval([60.0] * lt.WINDOW) == lt.MAX_REFRESH_SECONDS


def test_retime_when_close_to_starving():
    assert lt.should_retime(0.2, lt.wanted_interval([0.3] * lt.WINDOW))


def test_a_stretched_interval_comes_back_once_the_load_is_gone():
    # the rule this replaced re-timed down only below half the interval, which the 0.25 s floor never
    # reached from 0.33 s: a page slowed once stayed slow
    stretched = lt.wanted_interval([0.25] * lt.WINDOW)
    assert stretched == pytest.approx(0.325)
    assert lt.should_retime(stretched, lt.wanted_interval([0.09] * lt.WINDOW))


def test_small_changes_do_not_retime():
    assert not lt.should_retime(0.25, 0.22)
    assert not lt.should_retime(0.25, 0.3)


def test_remember_keeps_the_last_window():
    recent: list[float] = []
    for i in range(12):
        recent = lt.remember(recent, float(i))
    assert recent == [7.0, 8.0, 9.0, 10.0, 11.0]


@given(st.lists(st.floats(0.0, 1e6), max_size=20))
def test_wanted_interval_is_bounded_and_stable(work):
    wanted = lt.wanted_interval(work)
    assert lt.REFRESH_SECONDS <= wanted <= lt.MAX_REFRESH_SECONDS
    assert not lt.should_retime(wanted, wanted)


def test_a_lone_run_keeps_its_own_interval():
    assert lt.wanted_interval([0.09] * lt.WINDOW, active=1) == lt.REFRESH_SECONDS
    assert lt.wanted_interval([0.3] * lt.WINDOW, active=1) == pytest.approx(0.3 * lt.HEADROOM)


def test_runs_playing_together_share_the_servers_time():
    # 20 runs whose refreshes take 40 ms each: together at most LIVE_SHARE of a core, so each waits for the others
    wanted = lt.wanted_interval([0.04] * lt.WINDOW, active=20)
    assert wanted == pytest.approx(20 * 0.04 / lt.LIVE_SHARE)
    assert 20 * 0.04 / wanted <= lt.LIVE_SHARE + 1e-9
    assert lt.should_retime(lt.REFRESH_SECONDS, wanted)  # a run timed when it was alone stretches
    assert lt.wanted_interval([0.04] * lt.WINDOW, active=100) == lt.MAX_REFRESH_SECONDS


def test_before_any_refresh_the_interval_counts_the_other_runs():
    assert lt.wanted_interval([], active=1) == lt.REFRESH_SECONDS
    assert lt.wanted_interval([], active=10) == pytest.approx(10 * lt.TYPICAL_TICK_SECONDS / lt.LIVE_SHARE)


def test_active_runs_counts_sessions_seen_within_the_window():
    runs = lt.ActiveRuns(window=2.5)
    assert runs.tick("a", now=0.0) == 1
    assert runs.tick("b", now=1.0) == 2
    assert runs.tick("a", now=2.0) == 2  # the same session counts once
    assert runs.tick("c", now=3.4) == 3  # b's last tick (1.0) is 2.4 s old: still in
    assert runs.tick("c", now=4.0) == 2  # b has gone quiet for longer than the window


def test_runs_playing_together_split_the_training_time():
    assert lt.training_budget(0.05, 1) == 0.05
    assert lt.training_budget(0.05, 20) == pytest.approx(0.0025)
    assert lt.training_budget(0.05, 0) == 0.05


def test_a_timer_is_retimed_at_most_once_per_limit():
    # a re-time is a full run of the page: without the limit, 20 runs on two replicas re-timed about once a
    # second each, and their full runs held the run slot that the class's changes waited for
    slower = lt.wanted_interval([0.25] * lt.WINDOW)  # 0.325 s: a refresh dropped now and then
    assert not lt.should_retime(0.2, slower, timed_for=lt.MIN_RETIME_SECONDS / 2)
    assert lt.should_retime(0.2, slower, timed_for=lt.MIN_RETIME_SECONDS)
    assert not lt.should_retime(0.2, 0.22, timed_for=10 * lt.MIN_RETIME_SECONDS)  # and only when far off


def test_a_starving_timer_is_retimed_at_once():
    # a heavy configuration: one step takes 1.7 s, every 0.2 s refresh is dropped; waiting for the limit
    # would only delay the first chart
    assert lt.starves(0.2, [1.7])
    assert lt.should_retime(0.2, lt.wanted_interval([1.7]), timed_for=0.0, starving=lt.starves(0.2, [1.7]))
    # a class arriving stretches the interval (the runs share the server) without cutting refreshes off: that
    # waits for the limit
    crowded = lt.wanted_interval([0.03] * lt.WINDOW, active=20)
    assert not lt.starves(0.2, [0.03] * lt.WINDOW)
    assert not lt.should_retime(0.2, crowded, timed_for=0.5, starving=False)
    assert lt.should_retime(0.2, crowded, timed_for=lt.MIN_RETIME_SECONDS, starving=False)


def test_runs_playing_together_share_by_the_cpu_their_refreshes_use():
    # under a class's load a refresh's wall time is mostly waiting for the others' scripts: 20 runs whose
    # refreshes use 7 ms of CPU each but take 40 ms of wall time ask for 20 x 10 ms of the core, not 20 x 40 ms
    cpu = [0.007] * lt.CPU_WINDOW
    wanted = lt.wanted_interval([0.04] * lt.WINDOW, active=20, recent_cpu=cpu)
    assert wanted == pytest.approx(20 * (0.007 + lt.TICK_OVERHEAD_SECONDS) / lt.LIVE_SHARE)
    assert wanted < lt.wanted_interval([0.04] * lt.WINDOW, active=20)
    # a lone run keeps to its own wall time: its refresh must end before the next one is asked for
    assert lt.wanted_interval([0.3] * lt.WINDOW, active=1, recent_cpu=cpu) == pytest.approx(0.3 * lt.HEADROOM)


def test_refreshes_whose_cpu_alternates_do_not_retime_the_runs():
    # 20 runs whose refreshes use 5 ms and 11 ms of CPU in turn: the median of the last five flips between
    # the two at every refresh (re-timing each run about every MIN_RETIME_SECONDS, as measured); the typical
    # CPU of the last CPU_WINDOW stays within the band that re-times
    pattern = [0.005, 0.011] * 30
    cpu, wanted = [], []
    for seconds in pattern:
        cpu = lt.remember(cpu, seconds, lt.CPU_WINDOW)
        wanted.append(lt.wanted_interval([0.01] * lt.WINDOW, active=20, recent_cpu=cpu))
    settled = wanted[lt.CPU_WINDOW:]
    assert len(cpu) == lt.CPU_WINDOW
    assert not any(lt.should_retime(settled[0], w) for w in settled), (min(settled), max(settled))
    by_median = [20 * (statistics.median(pattern[i - 5:i]) + lt.TICK_OVERHEAD_SECONDS) / lt.LIVE_SHARE
                 for i in range(5, len(pattern))]
    assert any(lt.should_retime(by_median[0], w) for w in by_median)


@given(st.lists(st.floats(0.0005, 0.5), min_size=1, max_size=40))
def test_typical_cpu_lies_within_the_remembered_times(cpu):
    recent = cpu[-lt.CPU_WINDOW:]
    assert min(recent) - 1e-12 <= lt.typical_cpu(cpu) <= max(recent) + 1e-12
