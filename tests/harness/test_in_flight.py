"""A send awaiting its answer across a drop or a stop is recorded at once, as uncertain.

Bug (found by a stress loop of the silent-polling cut run, this stop): a driver's location
sent just before a cut had its ack lost; the change was recorded only when the ack timed out
(10 s), later than the ledger waits before calling its events' receipts leaks, and never if
the run ended first: 5 `delivery_update` "leaks".
"""

from __future__ import annotations

import pytest

from harness.ledger import Unanswered
from harness.load.in_flight import Awaiting, InFlight


class Stop(BaseException):
    """What a user's stop raises in its task (gevent's GreenletExit is a BaseException)."""


def test_a_drop_while_awaiting_records_the_change_once_as_uncertain() -> None:
    recorded: list[str] = []
    flight = InFlight()
    with flight.awaiting(lambda: recorded.append("unsure"), sent_ms=0.0, sent_while_away=False) as awaited:
        flight.dropped()
        flight.dropped()             # the client noticing the cut later
        awaited.settle_unsure()      # then the ack's timeout
    assert recorded == ["unsure"] and awaited.settled
    flight.dropped()                 # nothing awaited any more
    assert recorded == ["unsure"]


def test_an_answer_that_came_records_nothing_unsure() -> None:
    recorded: list[str] = []
    flight = InFlight()
    with flight.awaiting(lambda: recorded.append("unsure"), sent_ms=0.0, sent_while_away=False) as awaited:
        pass
    flight.dropped()
    assert recorded == [] and not awaited.settled and flight.current is None


def test_a_send_made_while_away_never_left_the_socket() -> None:
    recorded: list[str] = []
    flight = InFlight()
    with flight.awaiting(lambda: recorded.append("unsure"), sent_ms=0.0, sent_while_away=True):
        flight.dropped()
    assert recorded == []


def test_a_stop_while_awaiting_records_it_and_still_stops() -> None:
    recorded: list[str] = []
    flight = InFlight()
    with pytest.raises(Stop):
        with flight.awaiting(lambda: recorded.append("unsure"), sent_ms=0.0, sent_while_away=False):
            raise Stop
    assert recorded == ["unsure"] and flight.current is None


def test_an_error_is_not_a_stop() -> None:
    recorded: list[str] = []
    flight = InFlight()
    with pytest.raises(ValueError):
        with flight.awaiting(lambda: recorded.append("unsure"), sent_ms=0.0, sent_while_away=False):
            raise ValueError("not an ack problem")
    assert recorded == []


def test_the_registry_holds_a_send_only_while_it_is_awaited() -> None:
    """The run looks at the sends in flight through the registry (`Awaiting.since_ms`,
    `Awaiting.cut_short`), not at every user's InFlight: it must hold each one exactly while
    its answer is awaited, however the wait ends."""
    registry: dict[int, object] = {}
    users = [InFlight(registry), InFlight(registry)]  # type: ignore[arg-type]
    with users[0].awaiting(lambda: None, sent_ms=5.0, sent_while_away=False) as first:
        assert list(registry.values()) == [first]
        with pytest.raises(Stop):
            with users[1].awaiting(lambda: None, sent_ms=7.0, sent_while_away=False) as second:
                assert sorted(a.sent_ms for a in registry.values()) == [5.0, 7.0]  # type: ignore[attr-defined]
                raise Stop
        assert second.settled and list(registry.values()) == [first]
    assert registry == {}


# --- the process's view: changes over HTTP and socket sends together ------------------------------

def test_a_change_answered_or_refused_leaves_nothing_unanswered() -> None:
    unanswered: list[Unanswered] = []
    awaiting = Awaiting("host-1", unanswered.append)
    first = awaiting.change_sent("o1", 10.0)
    second = awaiting.change_sent(None, 12.0)
    assert first != second and awaiting.since_ms() == 10.0
    awaiting.answer_came(first, answered=True)
    assert awaiting.since_ms() == 12.0
    awaiting.answer_came(second, answered=False)  # the user stopped mid-request
    assert unanswered == [Unanswered(None, 12.0, "host-1")] and awaiting.since_ms() is None
    awaiting.answer_came(second, answered=False)  # told twice: recorded once
    assert len(unanswered) == 1


def test_the_oldest_wait_counts_whether_http_or_socket() -> None:
    awaiting = Awaiting("host-1", lambda item: None)
    flight = awaiting.flight()
    number = awaiting.change_sent("o1", 50.0)
    with flight.awaiting(lambda: None, sent_ms=20.0, sent_while_away=False):
        assert awaiting.since_ms() == 20.0
    assert awaiting.since_ms() == 50.0
    awaiting.answer_came(number, answered=True)
    assert awaiting.since_ms() is None


def test_cut_short_makes_every_wait_unanswered_or_unsure_once() -> None:
    """Ctrl-C closes the books before the users stop: what is still awaited then is recorded
    as unanswered (HTTP) or unsure (socket), and the users' own endings later add nothing."""
    unanswered: list[Unanswered] = []
    unsure: list[str] = []
    awaiting = Awaiting("host-1", unanswered.append)
    flight = awaiting.flight()
    number = awaiting.change_sent("o1", 5.0)
    with pytest.raises(Stop):
        with flight.awaiting(lambda: unsure.append("ack"), sent_ms=6.0, sent_while_away=False):
            awaiting.cut_short()
            assert unanswered == [Unanswered("o1", 5.0, "host-1")] and unsure == ["ack"]
            raise Stop  # then the user stops
    awaiting.answer_came(number, answered=False)
    assert len(unanswered) == 1 and unsure == ["ack"] and awaiting.since_ms() is None
