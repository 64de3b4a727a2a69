"""The run's books: which socket had to receive which event, and whether it did.

Records come in from every process (changes the run caused, first receipts, presence of
sockets in rooms, catch-up reads); `settle(now_ms)` closes the books of every change older
than the timeout, so memory stays bounded on long runs, and `finish()` closes the rest.

The rule (issue 3): an event is expected at a socket when the socket was in one of the
event's rooms from the moment the change was caused until `settle_ms` after its answer came
(the server emits somewhere in between: on a busy server or generator, seconds after the
request was sent, and a socket that left meanwhile was away, not missing it); it is
delivered when the socket received it, missing when it did not within `timeout_ms`. A
receipt that matches no expectation of its socket is a leak. So for every event type
`expected == delivered + missing`, by construction. A socket that was away when a change
was caused did not have to receive its events: those are counted as missed while away,
and as recovered when a catch-up read after the reconnect covers them (a read that comes
in after the change's books were closed still recovers it: a silent drop can take longer
to notice than the timeout).

A change sent whose answer never came (`Unanswered`: the run stopped its user mid-request,
the connection failed) may have been made: a receipt of that order that no recorded change
claims, and that came in the timeout after the send, is not judged either (counted in
`unanswered_events`), never called leaked.

A process that is lost mid-run (a killed worker) takes its unshipped records with it: from
a little before it was last heard from, its sockets' expectations and the receipts its users'
unshipped changes would explain are not judged (counted in `not_judged`), never called
missing or leaked.
"""

from __future__ import annotations

import heapq
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from ..contract import FIRST_VERSION
from .records import CatchUp, ChangeRecord, CountsByEvent, Key, Presence, Receipt, Unanswered, process_of

#: Called for every delivery: (event, socket, latency from the trigger in ms, the change).
DeliveryHook = Callable[[str, str, float, ChangeRecord], None]
#: Called when every expected recipient of an event had it: (event, fan-out completion, ms).
FanoutHook = Callable[[str, float], None]


@dataclass
class AwayStats:
    missed_while_away: int = 0
    recovered: int = 0


@dataclass
class _Socket:
    rooms: set[str] = field(default_factory=set)
    intervals: list[tuple[float, float | None]] = field(default_factory=list)

    def present(self, start: float, end: float) -> bool:
        """Connected over the whole of [start, end]."""
        return any(since <= start and (until is None or until >= end)
                   for since, until in self.intervals)

    def ever_before(self, t: float) -> bool:
        return any(since <= t for since, _ in self.intervals)


class Reconciler:
    def __init__(self, *, timeout_ms: float = 10_000.0, settle_ms: float = 1_000.0,
                 on_delivery: DeliveryHook | None = None, on_fanout: FanoutHook | None = None,
                 first_status: str | None = None) -> None:
        """`first_status`: a new order's status, for a target whose events carry no version
        (the books key its changes by status: `reader.Reader`)."""
        self.timeout_ms = timeout_ms
        self.first_status = first_status
        self.settle_ms = settle_ms
        self.counts = CountsByEvent()
        self.away = AwayStats()
        #: Receipts that came after their change's books were closed and after the timeout
        #: (they stay missing).
        self.late = 0
        #: Receipts within the timeout that their process recorded only after the books closed
        #: (a generator behind on its backlog): counted missing at the close, then delivered.
        self.recorded_late = 0
        #: Closed books with expectations counted missing: key -> (the change, (socket, event)s).
        self._missing_at: dict[Key, tuple[ChangeRecord, set[tuple[str, str]]]] = {}
        #: Events for orders this run did not create (another user of a shared server).
        self.foreign = 0
        self.leak_samples: list[tuple[str, str, Key]] = []
        self.missing_samples: list[tuple[str, str, Key, float]] = []
        self.receipts_seen = 0
        #: Changes the run caused, by the first event each produces (`newOrder`: orders created).
        self.changes_by_first_event: dict[str, int] = {}
        self._on_delivery = on_delivery
        self._on_fanout = on_fanout
        self._changes: dict[Key, ChangeRecord] = {}
        self._due: list[tuple[float, int, Key]] = []
        self._seq = 0
        self._receipts: dict[Key, list[Receipt]] = defaultdict(list)
        self._receipt_due: list[tuple[float, Key]] = []
        self._sockets: dict[str, _Socket] = defaultdict(_Socket)
        self._rooms: dict[str, set[str]] = defaultdict(set)
        self._catchups: dict[tuple[str, str], list[CatchUp]] = defaultdict(list)
        #: Missed while away and not yet covered by a read: (socket, order) -> [(version or
        #: None for a location report, trigger ms)].
        self._unrecovered: dict[tuple[str, str], list[tuple[int | None, float]]] = {}
        self._unrecovered_count = 0
        self._orders: set[str] = set()
        #: Keys whose books are closed, kept a while to tell late receipts from leaks.
        self._closed: dict[Key, float] = {}
        #: Lost processes: name -> (when last heard from, when found lost) in wall ms.
        self.lost: dict[str, tuple[float, float]] = {}
        #: Expectations and receipts a lost process kept the books from judging.
        self.not_judged = 0
        #: Changes sent whose answer never came, and the receipts only they could explain.
        self.unanswered_requests = 0
        self.unanswered_events = 0
        #: Order (None: an order placed whose id never came back) -> when such changes were sent.
        self._unanswered: dict[str | None, list[float]] = defaultdict(list)

    # --- input ----------------------------------------------------------------------------------

    def add_changes(self, changes: Iterable[ChangeRecord]) -> None:
        for change in changes:
            if change.emissions:
                first = change.emissions[0][0]
                self.changes_by_first_event[first] = self.changes_by_first_event.get(first, 0) + 1
            self._changes[change.key] = change
            self._orders.add(change.order_id)
            self._seq += 1
            heapq.heappush(self._due, (change.trigger_ms, self._seq, change.key))

    def add_receipts(self, receipts: Iterable[Receipt]) -> None:
        for receipt in receipts:
            self.receipts_seen += 1
            if receipt.key in self._closed:
                if not self._recorded_late(receipt):
                    self.late += 1
                continue
            if receipt.key not in self._receipts:
                heapq.heappush(self._receipt_due, (receipt.received_ms, receipt.key))
            self._receipts[receipt.key].append(receipt)

    def add_presence(self, presence: Iterable[Presence]) -> None:
        """A connect (`until_ms` None) or the whole interval once it ended."""
        for p in presence:
            sock = self._sockets[p.socket]
            for room in p.rooms:
                sock.rooms.add(room)
                self._rooms[room].add(p.socket)
            for i, (since, _until) in enumerate(sock.intervals):
                if since == p.since_ms:
                    sock.intervals[i] = (since, p.until_ms)
                    break
            else:
                sock.intervals.append((p.since_ms, p.until_ms))

    def add_catchups(self, catchups: Iterable[CatchUp]) -> None:
        for c in catchups:
            self._catchups[(c.socket, c.order_id)].append(c)
            waiting = self._unrecovered.get((c.socket, c.order_id))
            if waiting:
                left = [(v, t) for v, t in waiting
                        if not (c.at_ms >= t and (v is None or c.version >= v))]
                self.away.recovered += len(waiting) - len(left)
                self._unrecovered_count -= len(waiting) - len(left)
                if left:
                    self._unrecovered[(c.socket, c.order_id)] = left
                else:
                    del self._unrecovered[(c.socket, c.order_id)]

    def add_unanswered(self, items: Iterable[Unanswered]) -> None:
        for item in items:
            self.unanswered_requests += 1
            self._unanswered[item.order_id].append(item.sent_ms)

    def _explained_by_unanswered(self, receipt: Receipt, key: Key) -> bool:
        """An unmatched receipt of an order one of whose changes was sent and never answered,
        arriving after the send and before the change's events must all have landed (an
        order placed without an answer: any new order's first event)."""
        sent = list(self._unanswered.get(key[1], ()))
        if (key[0] == "v" and key[2] == FIRST_VERSION) or (
                key[0] == "s" and key[2] == self.first_status):
            sent += self._unanswered.get(None, ())
        return any(t - self.settle_ms <= receipt.received_ms <= t + 2 * self.timeout_ms
                   for t in sent)

    def process_lost(self, process: str, last_heard_ms: float,
                     lost_at_ms: float | None = None) -> None:
        """A process died; it had shipped everything it recorded up to `last_heard_ms`, and
        was found lost at `lost_at_ms` (it may have run, silent, until then).

        Its sockets may have had receipts it never shipped (for changes up to a timeout
        older than that), and its users may have caused changes nobody recorded, whose
        events other sockets received: neither can be judged."""
        self.lost.setdefault(process, (last_heard_ms, max(last_heard_ms, lost_at_ms or 0.0)))

    def _lost_before(self, socket: str, trigger_ms: float) -> bool:
        """The socket's process was lost, and a receipt for a change caused then could be
        among what it never shipped."""
        lost = self.lost.get(process_of(socket))
        return lost is not None and trigger_ms > lost[0] - self.timeout_ms

    def _explained_by_loss(self, receipt: Receipt) -> bool:
        """An unmatched receipt that a lost process's unrecorded change may have caused: it
        came after that process's last records, before the events of the changes it may
        have caused until it was found lost had all landed."""
        return any(last_heard - self.timeout_ms <= receipt.received_ms
                   <= lost_at + 2 * self.timeout_ms for last_heard, lost_at in self.lost.values())

    # --- closing the books ------------------------------------------------------------------------

    def settle(self, now_ms: float) -> None:
        """Close the books of every change caused more than the timeout before `now_ms`."""
        cutoff = now_ms - self.timeout_ms
        while self._due and self._due[0][0] <= cutoff:
            _, _, key = heapq.heappop(self._due)
            self._close(key, now_ms)
        # Receipts that no change claimed in twice the timeout never will be.
        while self._receipt_due and self._receipt_due[0][0] <= cutoff - self.timeout_ms:
            _, key = heapq.heappop(self._receipt_due)
            if key in self._changes:
                continue
            for receipt in self._receipts.pop(key, []):
                self._unmatched(receipt, key)
        self._forget_closed(now_ms)

    def finish(self) -> None:
        """Close every book (the run has stopped causing changes and waited for events)."""
        while self._due:
            _, _, key = heapq.heappop(self._due)
            self._close(key, None)
        for key, receipts in self._receipts.items():
            for receipt in receipts:
                self._unmatched(receipt, key)
        self._receipts.clear()
        self._receipt_due.clear()

    def _close(self, key: Key, now_ms: float | None) -> None:
        change = self._changes.pop(key, None)
        if change is None:
            return
        receipts = self._receipts.pop(key, [])
        by_socket_event = {(r.socket, r.event): r for r in receipts if not r.leaked}
        used: set[tuple[str, str]] = set()
        for event, rooms in change.emissions:
            recipients = set().union(*(self._rooms.get(room, set()) for room in rooms))
            counts = self.counts[event]
            latest: float | None = None
            complete = True
            for socket in recipients:
                receipt = by_socket_event.get((socket, event))
                if receipt is not None:
                    used.add((socket, event))
                    counts.expected += 1
                    counts.delivered += 1
                    lag = receipt.received_ms - change.trigger_ms
                    latest = lag if latest is None else max(latest, lag)
                    if self._on_delivery:
                        self._on_delivery(event, socket, lag, change)
                    continue
                sock = self._sockets[socket]
                if change.uncertain:
                    complete = False
                elif self._lost_before(socket, change.trigger_ms):
                    complete = False
                    self.not_judged += 1
                elif sock.present(change.trigger_ms, change.settled_from_ms + self.settle_ms):
                    counts.expected += 1
                    counts.missing += 1
                    complete = False
                    self._missing_at.setdefault(key, (change, set()))[1].add((socket, event))
                    if len(self.missing_samples) < 100:
                        self.missing_samples.append((event, socket, key, change.trigger_ms))
                elif sock.ever_before(change.trigger_ms):
                    complete = False
                    self.away.missed_while_away += 1
                    if self._recovered(socket, change):
                        self.away.recovered += 1
                    elif self._unrecovered_count < 200_000:
                        version = change.key[2] if change.key[0] == "v" else None
                        self._unrecovered.setdefault((socket, change.order_id), []).append(
                            (version, change.trigger_ms))
                        self._unrecovered_count += 1
            if complete and latest is not None and self._on_fanout:
                self._on_fanout(event, latest)
        for receipt in receipts:
            if (receipt.socket, receipt.event) not in used and not receipt.leaked:
                self._unmatched(receipt, key)
        self._closed[key] = now_ms if now_ms is not None else float("inf")

    def _recovered(self, socket: str, change: ChangeRecord) -> bool:
        version = change.key[2] if change.key[0] == "v" else None
        for read in self._catchups.get((socket, change.order_id), ()):
            if read.at_ms >= change.trigger_ms and (version is None or read.version >= version):
                return True
        return False

    def unrecovered_samples(self, limit: int = 50) -> list[tuple[str, str, int | None, float]]:
        """(socket, order, version or None, trigger ms) of events missed while away that no
        catch-up read has covered (yet)."""
        out: list[tuple[str, str, int | None, float]] = []
        for (socket, order_id), waiting in self._unrecovered.items():
            for version, trigger_ms in waiting:
                if len(out) >= limit:
                    return out
                out.append((socket, order_id, version, trigger_ms))
        return out

    def _unmatched(self, receipt: Receipt, key: Key) -> None:
        if self._explained_by_loss(receipt):
            self.not_judged += 1
            return
        # Before the foreign test: an order whose checkout was never answered is one the run
        # placed, though no record names it.
        if self._explained_by_unanswered(receipt, key):
            self.unanswered_events += 1
            return
        if key[1] not in self._orders:
            self.foreign += 1
            return
        self.counts[receipt.event].leaked += 1
        if len(self.leak_samples) < 100:
            self.leak_samples.append((receipt.event, receipt.socket, key))

    def _recorded_late(self, receipt: Receipt) -> bool:
        """A receipt for closed books that its socket had in time (its arrival stamp is within
        the timeout), but that its process recorded only after the books closed: a generator
        behind on its backlog. It was counted missing; it is a delivery."""
        closed = self._missing_at.get(receipt.key)
        if closed is None:
            return False
        change, waiting = closed
        slot = (receipt.socket, receipt.event)
        if slot not in waiting or receipt.received_ms - change.trigger_ms > self.timeout_ms:
            return False
        waiting.discard(slot)
        counts = self.counts[receipt.event]
        counts.missing -= 1
        counts.delivered += 1
        self.recorded_late += 1
        self.missing_samples = [m for m in self.missing_samples
                                if (m[0], m[1], m[2]) != (receipt.event, receipt.socket, receipt.key)]
        if self._on_delivery:
            self._on_delivery(receipt.event, receipt.socket,
                              receipt.received_ms - change.trigger_ms, change)
        return True

    def _forget_closed(self, now_ms: float) -> None:
        horizon = now_ms - 2 * self.timeout_ms
        for key in [k for k, t in self._closed.items() if t < horizon]:
            del self._closed[key]
            self._missing_at.pop(key, None)
