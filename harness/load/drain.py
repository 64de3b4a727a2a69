"""The end of a run, as decisions: how far the books may be closed, when the events in
flight have stopped coming, and whether the run ended as planned.

The plugin (runtime.py) gathers the facts from Locust and the run context, and acts on the
answers. No Locust or gevent here: tested in the tests' own process
(tests/harness/test_drain.py).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

#: How often a worker ships its records to the master.
SHIP_EVERY_S = 1.0
#: The drain ends once no event has arrived for this long (or the event timeout passed).
QUIET_S = 1.0


def books_horizon(now_ms: float, live_last_heard_ms: Iterable[float],
                  awaited_since_ms: Iterable[float | None]) -> float:
    """How far (wall ms) the books may be closed.

    Workers ship every second: one more second of slack. Never past what a live worker has
    reported: a worker gone silent holds the books until it is heard from or declared lost,
    so that what it did not ship is set apart as not judged, never called missing or leaked
    (`Reconciler.process_lost`). Nor past the send of a change whose answer is still awaited
    in any process: its events may be in, and a receipt judged before the change is recorded
    would be called a leak, and the change's expectations missing (a server that answers
    late)."""
    horizon = now_ms - 2000.0 * SHIP_EVERY_S
    heard = list(live_last_heard_ms)
    if heard:
        horizon = min(horizon, min(heard) - 1000.0 * SHIP_EVERY_S)
    return min([horizon] + [ms for ms in awaited_since_ms if ms is not None])


def wait_quiet(last_event_mono: Callable[[], float], limit_s: float, sleep: Callable[[float], None],
               clock: Callable[[], float] = time.monotonic) -> bool:
    """Wait until no event has arrived for QUIET_S, at most `limit_s`; True if it went quiet.

    `last_event_mono` answers when the last event arrived (the clock's time line); `sleep`
    yields to the users still receiving (gevent's, in a run)."""
    deadline = clock() + limit_s
    while clock() - last_event_mono() < QUIET_S:
        if clock() >= deadline:
            return False
        sleep(0.1)
    return True


def drain_deadline_s(event_timeout_s: float, rejoin_grace_max_s: float) -> float:
    """How long the master waits for its workers to say they drained: each waits up to an
    event timeout for quiet, then for its dropped users to rejoin; five seconds of slack."""
    return event_timeout_s + 5.0 + rejoin_grace_max_s


def why_incomplete(*, lost_workers: Iterable[dict[str, Any]], not_judged: int, interrupted: bool,
                   ran_to_the_end: bool) -> str | None:
    """None when the run drained and ended as planned; otherwise why it did not (the report's
    `incomplete`). `lost_workers` are the WorkerBook's `lost` entries."""
    lost = list(lost_workers)
    if lost:
        names = "; ".join(f"{w['node']} (process {w['process']}, last heard "
                          f"{time.strftime('%H:%M:%S', time.gmtime(w['last_heard_ms'] / 1000))} UTC)"
                          for w in lost)
        return (f"worker(s) lost mid-run: {names}; their users were not judged from then on "
                f"({not_judged} expectations and receipts not judged)")
    unjudged = (f"; {not_judged} expectations and receipts after the workers' last records "
                "were not judged" if not_judged else "")
    if interrupted and ran_to_the_end:
        return "interrupted while draining the events in flight (Ctrl-C)" + unjudged
    if not ran_to_the_end:
        return ("interrupted before the planned end (Ctrl-C, a signal, or the web UI's stop)"
                + unjudged)
    return None


__all__ = ["QUIET_S", "SHIP_EVERY_S", "books_horizon", "drain_deadline_s", "wait_quiet",
           "why_incomplete"]
