"""The orders one user follows, and which of them to read again after a drop.

A user follows the orders it placed, moves or is assigned, as events and HTTP answers show
them. After a drop it reads again every open one, and every one that ended shortly before
the drop: the change that ended it may have been learned from an HTTP answer (or from one
event of several) while the socket's copies were lost in the drop.

Pure bookkeeping, no Locust or gevent (the user's `reconnect.Follower` holds one), so it is
tested in the tests' own process (tests/harness/test_followed.py).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable

#: Ended orders remembered (so that a late event does not revive them), newest kept.
FINISHED_KEPT = 50_000


class FollowedOrders:
    """Open orders by id -> (status, progress), and the ids of recently ended ones.

    `progress(status, version)` places a state in the order's life (the version, or the
    status's place in the flow where the target sends none; None: not a state to follow);
    `terminal(status)` says whether it ended. Both come from the target's contract file."""

    def __init__(self, progress: Callable[[str, int | None], int | None],
                 terminal: Callable[[str], bool], *, clock: Callable[[], float] = time.monotonic,
                 finished_kept: int = FINISHED_KEPT) -> None:
        self._progress = progress
        self._terminal = terminal
        self._clock = clock
        self._kept = finished_kept
        self.open: dict[str, tuple[str, int]] = {}
        self._finished: OrderedDict[str, float] = OrderedDict()

    def note(self, order_id: str | None, status: str | None, version: int | None) -> None:
        """A state of the order seen (an event, an answer, a read): kept if it is newer than
        what is known; an order that ended stays ended."""
        if order_id is None or status is None or order_id in self._finished:
            return
        progress = self._progress(status, version)
        if progress is None:
            return
        known = self.open.get(order_id)
        if known is not None and known[1] >= progress:
            return
        if self._terminal(status):
            self.finish(order_id)
        else:
            self.open[order_id] = (status, progress)

    def finish(self, order_id: str) -> None:
        """The order ended (or is gone): no longer open, remembered as ended now."""
        self.open.pop(order_id, None)
        self._finished[order_id] = self._clock()
        self._finished.move_to_end(order_id)
        while len(self._finished) > self._kept:
            self._finished.popitem(last=False)

    def to_read(self, since: float) -> list[str]:
        """What to read again after a drop: every open order, then those that ended at or
        after `since` (the clock's time), newest first."""
        ids = list(self.open)
        for order_id, ended in reversed(self._finished.items()):
            if ended < since:
                break
            ids.append(order_id)
        return ids


__all__ = ["FINISHED_KEPT", "FollowedOrders"]
