"""Python's garbage collector, kept from stopping the load generator for long.

A full collection walks every object the process holds and holds the interpreter lock all
the while: nothing else runs, not even the arrival watcher (arrival.py), so frames that
arrive meanwhile are merged by the kernel and stamped late. CPython runs one whenever the
objects that outlived two younger collections grow by a quarter, which is what a ramp of
users does: measured in a 400-user Locust process, full collections of 60, 103, 103 and
133 ms, and `newOrder` receipts stamped up to 70 ms after the witness's (issue 8).

So a process that runs users keeps its long-lived objects out of the collector's way:

* at the start, one full collection, then `gc.freeze()` (everything alive then is
  permanent: modules, classes, Locust's own state);
* every `YOUNG_EVERY_S`, a collection of the two young generations (a few ms at most), then
  a freeze again: what has lived that long (users, sockets, their books) joins the frozen
  objects, and full collections, with nothing much left to walk, take little;
* now and then, the frozen objects are thawed and collected once in full, so that cyclic
  garbage among them (a reconnect's old client, a stopped user) is not kept for the whole
  run. That one pause is measured like the others, and it is long: it walks every object,
  1.1 s at 19,000 held users (3.4 million objects), every user's handler waiting. So the
  first comes after `FULL_EVERY_S`, and each one sets the wait for the next
  (`next_full_wait`): one that found almost no garbage (a steady hold) doubles it, up to
  `FULL_EVERY_MAX_S`; one that found much (reconnects, users leaving) halves it.

Every collection's pause is timed (`gc.callbacks`) and reported with the generator's health
(`gc_pause_ms`): a long one says when the figures could have been touched.
"""

from __future__ import annotations

import gc
import time
from typing import Any

import gevent

from ..latency import new_histogram, summarize

YOUNG_EVERY_S = 1.0
#: The wait before the first full collection, and the shortest between two.
FULL_EVERY_S = 120.0
#: The longest wait between two full collections.
FULL_EVERY_MAX_S = 32 * 60.0
#: A full collection that found less garbage than this share of the objects it walked
#: doubles the wait before the next; one that found more halves it.
GARBAGE_SHARE = 0.01


def next_full_wait(wait_s: float, garbage: int, walked: int) -> float:
    """The wait before the next full collection, from the last one's."""
    if garbage < GARBAGE_SHARE * max(walked, 1):
        return min(FULL_EVERY_MAX_S, wait_s * 2)
    return max(FULL_EVERY_S, wait_s / 2)


class Collector:
    """Runs the process's collections on the schedule above and times every pause."""

    def __init__(self) -> None:
        #: Every collection's pause (µs histogram), whoever started it.
        self.pauses: Any = new_histogram()
        self.full = 0
        #: Objects frozen, as of the last freeze. `gc.get_freeze_count()` walks every frozen
        #: object (millions, in a process of 10,000 users): asked at every checkpoint report,
        #: it was a twelfth of the generator's CPU while holding users (issue 11).
        self.frozen = 0
        self._started: float | None = None
        self._greenlet: gevent.Greenlet | None = None

    def start(self) -> None:
        if self._greenlet is not None:
            return
        gc.callbacks.append(self._timed)
        gc.collect()
        gc.freeze()
        self.frozen = gc.get_freeze_count()
        self._greenlet = gevent.spawn(self._run)

    def stop(self) -> None:
        if self._timed in gc.callbacks:
            gc.callbacks.remove(self._timed)
        if self._greenlet is not None:
            self._greenlet.kill(block=False)
            self._greenlet = None

    def _run(self) -> None:
        last_full = time.monotonic()
        wait_s = FULL_EVERY_S
        while True:
            gevent.sleep(YOUNG_EVERY_S)
            if time.monotonic() - last_full >= wait_s:
                walked = self.frozen
                garbage = self.collect_all()
                wait_s = next_full_wait(wait_s, garbage, walked)
                last_full = time.monotonic()
            else:
                self.collect_young()

    def collect_young(self) -> None:
        """Collect the young generations; freeze what survives (counted as it goes: only the
        objects since the last freeze are in the generations, so the count costs little)."""
        gc.collect(1)
        self.frozen += len(gc.get_objects(0)) + len(gc.get_objects(1)) + len(gc.get_objects(2))
        gc.freeze()

    def collect_all(self) -> int:
        """Thaw the frozen objects, collect everything once, freeze what survives; the
        garbage found (unreachable objects)."""
        gc.unfreeze()
        garbage = gc.collect()
        self.full += 1
        gc.freeze()
        self.frozen = gc.get_freeze_count()
        return garbage

    def _timed(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        elif self._started is not None:
            pause_us = int((time.perf_counter() - self._started) * 1e6)
            self.pauses.record_value(min(max(1, pause_us), 60_000_000))
            self._started = None

    def summary(self) -> dict[str, Any]:
        pauses = summarize(self.pauses)
        return {"p99_ms": pauses["p99_ms"], "max_ms": pauses["max_ms"], "count": pauses["count"],
                "full_collections": self.full, "frozen": self.frozen}
