"""The end of a run's decisions (harness/load/drain.py), without Locust: how far the books
may be closed, when the drain stops waiting, and what the report says of an incomplete run.
The load runs check the same through whole runs (tests/load/test_nothing_lost.py)."""

from __future__ import annotations

import pytest

from harness.load.drain import QUIET_S, books_horizon, drain_deadline_s, wait_quiet, why_incomplete


def test_the_horizon_leaves_two_shipping_intervals_alone() -> None:
    assert books_horizon(10_000.0, [], [None]) == 8_000.0


def test_a_silent_worker_holds_the_books_at_what_it_last_shipped() -> None:
    assert books_horizon(10_000.0, [9_500.0, 4_000.0], []) == 3_000.0
    assert books_horizon(10_000.0, [9_900.0], []) == 8_000.0  # heard just now: no hold


def test_a_change_still_awaiting_its_answer_anywhere_holds_the_books_at_its_send() -> None:
    """Its events may be in already: judged before the change is recorded, they would be
    called leaks (a server that answers late)."""
    assert books_horizon(10_000.0, [9_900.0], [None, 5_000.0, 7_000.0]) == 5_000.0
    assert books_horizon(10_000.0, [], [9_000.0]) == 8_000.0  # sent after the horizon


class FakeClock:
    """A monotonic clock that moves only when the drain sleeps."""

    def __init__(self) -> None:
        self.now = 100.0
        self.slept = 0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept += 1
        self.now += seconds


def test_the_drain_waits_for_a_quiet_second() -> None:
    clock = FakeClock()
    last = [clock.now]  # an event just came
    assert wait_quiet(lambda: last[0], 5.0, clock.sleep, clock)
    assert clock.now - last[0] == pytest.approx(QUIET_S, abs=0.11)


def test_events_that_keep_coming_stop_the_wait_at_its_limit() -> None:
    clock = FakeClock()
    assert not wait_quiet(lambda: clock.now, 3.0, clock.sleep, clock)
    assert clock.now - 100.0 == pytest.approx(3.0, abs=0.11)


def test_a_run_already_quiet_does_not_wait() -> None:
    clock = FakeClock()
    assert wait_quiet(lambda: 0.0, 3.0, clock.sleep, clock) and clock.slept == 0


def test_the_master_waits_for_workers_longer_than_any_worker_waits() -> None:
    assert drain_deadline_s(3.0, 60.0) > 3.0 + 60.0


def test_a_run_that_ended_as_planned_is_complete() -> None:
    assert why_incomplete(lost_workers=[], not_judged=0, interrupted=False, ran_to_the_end=True) is None


def test_why_a_run_is_incomplete_names_its_cause_and_what_was_not_judged() -> None:
    lost = [{"node": "w1", "process": "h-7", "last_heard_ms": 0.0}]
    text = why_incomplete(lost_workers=lost, not_judged=4, interrupted=False, ran_to_the_end=True)
    assert text is not None and "w1 (process h-7, last heard 00:00:00 UTC)" in text and "4 " in text
    text = why_incomplete(lost_workers=[], not_judged=3, interrupted=True, ran_to_the_end=True)
    assert text == ("interrupted while draining the events in flight (Ctrl-C); 3 expectations and "
                    "receipts after the workers' last records were not judged")
    text = why_incomplete(lost_workers=[], not_judged=0, interrupted=True, ran_to_the_end=False)
    assert text is not None and text.startswith("interrupted before the planned end")
