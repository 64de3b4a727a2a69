"""A user's followed orders and what it reads again after a drop (harness/load/followed.py), in
the tests' own process: no Locust, no gevent, no server (issue 12)."""

from __future__ import annotations

from harness.load.followed import FollowedOrders

FLOW = ["pending", "confirmed", "preparing", "delivered", "cancelled"]
TERMINAL = {"delivered", "cancelled"}


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _book(clock: Clock | None = None, kept: int = 50_000) -> FollowedOrders:
    def progress(status: str, version: int | None) -> int | None:
        if version is not None:
            return version
        return FLOW.index(status) if status in FLOW else None

    return FollowedOrders(progress, TERMINAL.__contains__, clock=clock or Clock(), finished_kept=kept)


def test_a_newer_state_replaces_an_older_one_never_the_reverse() -> None:
    book = _book()
    book.note("o1", "confirmed", 2)
    book.note("o1", "pending", 1)          # a late event of an older state
    assert book.open == {"o1": ("confirmed", 2)}
    book.note("o1", "preparing", 3)
    assert book.open == {"o1": ("preparing", 3)}
    book.note("o1", "preparing", 3)        # the same state again (another event of the change)
    assert book.open == {"o1": ("preparing", 3)}


def test_without_versions_the_flow_orders_the_states() -> None:
    book = _book()
    book.note("o1", "preparing", None)
    book.note("o1", "confirmed", None)
    assert book.open == {"o1": ("preparing", 2)}
    book.note("o2", "no-such-status", None)   # not a state the file knows: not followed
    book.note(None, "pending", 1)
    book.note("o3", None, 1)
    assert set(book.open) == {"o1"}


def test_an_ended_order_stays_ended_whatever_arrives_later() -> None:
    book = _book()
    book.note("o1", "preparing", 3)
    book.note("o1", "delivered", 4)
    assert book.open == {}
    book.note("o1", "preparing", 3)        # a stale event after the end
    book.note("o1", "confirmed", 9)        # even one that claims to be newer
    assert book.open == {}


def test_after_a_drop_it_reads_the_open_orders_and_those_that_ended_since() -> None:
    clock = Clock()
    book = _book(clock)
    book.note("old", "pending", 1)
    book.note("old", "delivered", 5)       # ended at 100
    clock.now = 200.0
    book.note("late", "pending", 1)
    book.note("late", "cancelled", 2)      # ended at 200
    clock.now = 210.0
    book.finish("gone")                    # a read found it gone (a restarted server)
    book.note("open", "confirmed", 2)
    assert book.to_read(since=150.0) == ["open", "gone", "late"]
    assert book.to_read(since=205.0) == ["open", "gone"]
    assert book.to_read(since=50.0) == ["open", "gone", "late", "old"]


def test_it_remembers_a_bounded_number_of_ended_orders_the_newest() -> None:
    clock = Clock()
    book = _book(clock, kept=3)
    for n in range(5):
        clock.now = float(n)
        book.finish(f"o{n}")
    assert book.to_read(since=0.0) == ["o4", "o3", "o2"]
    book.note("o0", "pending", 1)          # forgotten as ended: followed again if seen
    assert set(book.open) == {"o0"}

