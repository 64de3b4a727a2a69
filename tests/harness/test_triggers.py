"""Trigger-to-delivery pairing (harness/load/triggers.py), without Locust: an event may come
before or after the answer that names its change, and both orders give the same figure."""

from __future__ import annotations

import pytest

from harness.load.triggers import TriggerMatch


def test_an_event_after_its_change_is_known_is_measured_at_once() -> None:
    match = TriggerMatch()
    assert match.caused(("o1", 1), 10.0) == []
    assert match.arrived(("o1", 1), "newOrder", 10.25) == pytest.approx(250.0)
    assert match.arrived(("o1", 1), "customer_order_update", 10.5) == pytest.approx(500.0)


def test_events_that_beat_the_answer_are_measured_when_the_change_is_known() -> None:
    """The server pushed the events before its HTTP answer reached the user."""
    match = TriggerMatch()
    assert match.arrived(("o1", 1), "newOrder", 10.02) is None
    assert match.arrived(("o1", 1), "customer_order_update", 10.03) is None
    got = match.caused(("o1", 1), 10.0)
    assert [e for e, _ in got] == ["newOrder", "customer_order_update"]
    assert [ms for _, ms in got] == pytest.approx([20.0, 30.0])
    assert match.caused(("o1", 1), 10.0) == []  # measured once


def test_another_process_s_change_is_never_measured_here() -> None:
    match = TriggerMatch()
    assert match.arrived(("o9", 3), "orderStatusUpdated", 5.0) is None
    assert match.caused(("o1", 1), 4.0) == []


def test_memory_is_bounded_to_the_most_recent() -> None:
    match = TriggerMatch(limit=2)
    for n in range(3):
        match.caused(("o", n), float(n))
    assert match.arrived(("o", 0), "newOrder", 9.0) is None  # forgotten: the oldest
    assert match.arrived(("o", 2), "newOrder", 3.0) == pytest.approx(1000.0)
    for n in range(3):
        match.arrived(("early", n), "newOrder", 1.0)
    assert match.caused(("early", 0), 0.5) == []  # forgotten too
    assert match.caused(("early", 2), 0.5) == [("newOrder", pytest.approx(500.0))]
