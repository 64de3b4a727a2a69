"""What a user sent on its socket and still awaits an answer for (a `driver_location` ack).

A drop (a cut, an outage) or the user's stop can come between the send and the answer. The
server may have stored the change and pushed its events, and no answer will ever come. Such
a change is recorded at once as uncertain (its events, if any arrive, are no leaks, and none
is missing) instead of after the ack's timeout: that timeout is longer than the ledger waits
before it calls a receipt no change claims a leak, and a run that ends meanwhile never
records it at all.

No Locust or gevent here: a user's stop reaches the block as a BaseException (GreenletExit).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass


@dataclass
class Awaited:
    """One send awaiting its answer. `record_unsure` records its change as uncertain."""

    record_unsure: Callable[[], None]
    #: When it was sent (wall ms): the books hold judging receipts from then on until the
    #: answer comes (`RunContext.awaited_since_ms`).
    sent_ms: float
    #: Sent while the user was already away: nothing left the socket, nothing to record.
    sent_while_away: bool
    settled: bool = False

    def settle_unsure(self) -> None:
        """The answer will not come: record the change as uncertain, once."""
        if not self.settled and not self.sent_while_away:
            self.settled = True
            self.record_unsure()


class InFlight:
    """The user's send in flight, if any (a user awaits one answer at a time).

    `registry` (the run's, shared by every user of a process) holds each user's send while
    it is awaited, so that the run looks at the few sends in flight, not at every user."""

    def __init__(self, registry: dict[int, Awaited] | None = None) -> None:
        self.current: Awaited | None = None
        self._registry = registry if registry is not None else {}

    @contextmanager
    def awaiting(self, record_unsure: Callable[[], None], *, sent_ms: float,
                 sent_while_away: bool) -> Iterator[Awaited]:
        awaited = Awaited(record_unsure, sent_ms, sent_while_away)
        self.current = self._registry[id(self)] = awaited
        try:
            yield awaited
        except BaseException as exc:
            if not isinstance(exc, Exception):  # the user stops with the answer awaited
                awaited.settle_unsure()
            raise
        finally:
            self.current = None
            self._registry.pop(id(self), None)

    def dropped(self) -> None:
        """The connection dropped (or was cut): an answer awaited on it will not come."""
        if self.current is not None:
            self.current.settle_unsure()


__all__ = ["Awaited", "InFlight"]
