"""The master's view of its workers (harness/load/workers.py), without Locust: what the books use
to hold judging until a silent worker is heard from or declared lost (issue 12)."""

from __future__ import annotations

from harness.load.workers import WorkerBook


def test_a_report_keeps_the_totals_not_the_records() -> None:
    book = WorkerBook()
    book.heard("node-a", {"process": "h-1", "records": {"changes": [1]}, "latency": b"x", "connects": 3}, 1000.0)
    assert book.totals == {"h-1": {"process": "h-1", "connects": 3}}
    assert book.nodes == {"node-a": ("h-1", 1000.0)}
    book.heard("node-a", {"process": "h-1", "connects": 5}, 2000.0)
    assert book.totals["h-1"]["connects"] == 5 and book.nodes["node-a"] == ("h-1", 2000.0)


def test_a_lost_worker_is_judged_from_when_it_was_last_heard_and_only_once() -> None:
    book = WorkerBook()
    book.heard("node-a", {"process": "h-1"}, 1500.0)
    book.heard("node-b", {"process": "h-2"}, 1700.0)
    assert book.mark_lost("node-a", run_started_ms=1000.0) == ("h-1", 1500.0)
    assert book.mark_lost("node-a", run_started_ms=1000.0) is None
    assert book.live_nodes() == [("h-2", 1700.0)]
    # Never heard from: from the run's start.
    assert book.mark_lost("node-c", run_started_ms=1000.0) == (None, 1000.0)
    assert set(book.lost) == {"node-a", "node-c"}


def test_at_the_end_the_books_close_on_what_each_undrained_worker_shipped_last() -> None:
    """A worker that neither drained nor was lost (Ctrl-C, a drain that timed out) has its
    unshipped records set apart from when it was last heard; a drained one, or a lost one
    (already set apart), is not named again."""
    book = WorkerBook()
    for node, process, ms in (("a", "h-1", 1000.0), ("b", "h-2", 1100.0), ("c", "h-3", 1200.0)):
        book.heard(node, {"process": process}, ms)
    book.drained.add("a")
    book.mark_lost("c", run_started_ms=0.0)
    assert book.not_drained() == [("h-2", 1100.0)]
    book.drained.add("b")
    assert book.not_drained() == []


def test_the_books_wait_for_what_live_workers_still_await() -> None:
    """A worker's report says when its oldest change still awaiting an answer was sent; a lost
    worker's last word no longer holds the books (its records are set apart instead)."""
    book = WorkerBook()
    book.heard("a", {"process": "h-1", "awaited_since_ms": 500.0}, 1000.0)
    book.heard("b", {"process": "h-2", "awaited_since_ms": None}, 1000.0)
    book.heard("c", {"process": "h-3", "awaited_since_ms": 300.0}, 1000.0)
    assert sorted(book.awaited_since_ms()) == [300.0, 500.0]
    book.mark_lost("c", run_started_ms=0.0)
    assert book.awaited_since_ms() == [500.0]
