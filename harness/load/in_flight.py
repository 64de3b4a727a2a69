"""What a process's users sent and still await an answer for: changes sent over HTTP
(`Awaiting.change_sent`) and sends on a socket (a `driver_location` ack, `InFlight`).

Until such an answer comes, the server may have made the change and pushed its events: the
books judge no receipt sent after the oldest of them (`Awaiting.since_ms`). An HTTP change
whose answer never came is `Unanswered`: its events, if any arrive, are no leaks.

For a send on a socket, a drop (a cut, an outage) or the user's stop can come between the send and the answer. The
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

from ..ledger import Unanswered


@dataclass
class Awaited:
    """One send awaiting its answer. `record_unsure` records its change as uncertain."""

    record_unsure: Callable[[], None]
    #: When it was sent (wall ms): the books hold judging receipts from then on until the
    #: answer comes (`Awaiting.since_ms`).
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


class Awaiting:
    """Every answer a process's users await, HTTP and socket alike: the run looks at the few
    in flight here, never at every user.

    `unanswered` receives each HTTP change whose answer will not come (for the books)."""

    def __init__(self, process: str, unanswered: Callable[[Unanswered], None]) -> None:
        self._process = process
        self._unanswered = unanswered
        self._changes: dict[int, Unanswered] = {}
        self._changes_sent = 0
        self._sends: dict[int, Awaited] = {}

    def change_sent(self, order_id: str | None, sent_ms: float) -> int:
        """A user sent a change over HTTP; `answer_came` with the number returned ends the
        wait."""
        self._changes_sent += 1
        self._changes[self._changes_sent] = Unanswered(order_id, sent_ms, self._process)
        return self._changes_sent

    def answer_came(self, number: int, *, answered: bool) -> None:
        """The wait for change `number` ended: with its answer, or without (the user stopped
        mid-request, nothing answered, the answer could not be read)."""
        item = self._changes.pop(number, None)
        if item is not None and not answered:
            self._unanswered(item)

    def flight(self) -> InFlight:
        """A new user's socket sends, registered here while each one awaits its ack."""
        return InFlight(self._sends)

    def since_ms(self) -> float | None:
        """When the oldest change or send still awaiting its answer was sent (wall ms), if any."""
        sent = [item.sent_ms for item in self._changes.values()]
        sent += [awaited.sent_ms for awaited in self._sends.values()]
        return min(sent, default=None)

    def cut_short(self) -> None:
        """The books close now (Ctrl-C closes them before the users stop): every change still
        awaiting its answer is unanswered, and every socket send awaiting its ack unsure."""
        for awaited in list(self._sends.values()):
            awaited.settle_unsure()
        for item in self._changes.values():
            self._unanswered(item)
        self._changes.clear()


__all__ = ["Awaited", "Awaiting", "InFlight"]
