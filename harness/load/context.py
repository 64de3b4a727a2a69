"""One process's share of a run: its sockets' verdicts, its latency figures, its records.

Every simulated user in a process reports here. What can be judged in the process is
judged here (and shown in Locust's statistics at once); the records the run's books need
(changes caused, first receipts, presence, catch-up reads) are queued for the books, which
live in the master (or in this process when it runs alone).
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..clock import ClockOffset
from ..contract import ChangeKind, Role
from ..errors import ConnectFailure, LedgerFailure
from ..latency import LatencyBook
from ..ledger import (
    CatchUp,
    ChangeRecord,
    CountsByEvent,
    Leak,
    Presence,
    Receipt,
    Reconciler,
    SocketLedger,
    Unanswered,
    change_record,
    process_of,
    socket_id,
)
from ..ledger.reader import EventFacts, OrderFacts
from ..target import Target
from . import arrival
from .disruption import classify_connect_error
from .health import GeneratorHealth
from .in_flight import Awaiting
from .options import LoadOptions
from .outbox import Outbox
from .reconnect_stats import ReconnectionBook
from .triggers import TriggerMatch
from .witness_link import Offer, OfferQuota, WitnessLink
from .workers import WorkerBook

if TYPE_CHECKING:  # (each of these imports this module)
    from gevent import Greenlet

    from .outage import OutageWatch
    from .reconnect import FollowedUser
    from .runtime import ClockKeeper, Pacer
    from .users import StoreOwner

#: Figure names beside the per-event ones (thresholds use them: issue 4).
CONNECT = "connect"
LOCATION_ACK = "driver_location_ack"
EMIT_SUFFIX = ".emit_to_delivery"
FANOUT_SUFFIX = ".fanout"

_MAX_LEAK_SAMPLES = 200


@dataclass(frozen=True)
class Trigger:
    """When a user sent what causes a change: this process's monotonic clock (for latency),
    and wall-clock ms (the ledger's time line)."""

    mono: float
    ms: float


class RunContext:
    def __init__(self, options: LoadOptions, *, fire: Callable[..., None] | None = None,
                 keeps_books: bool = True) -> None:
        self.options = options
        #: The target as its contract file describes it (ours by default).
        self.target = Target.from_file(options.contract)
        self.process = f"{socket.gethostname()}-{os.getpid()}"
        self.counts = CountsByEvent()
        self.book = LatencyBook(ships=not keeps_books)
        self.clock = ClockOffset()
        self.time_sync_supported: bool | None = None
        self.reconciler = Reconciler(timeout_ms=options.event_timeout_s * 1000.0,
                                     settle_ms=options.settle_s * 1000.0,
                                     on_delivery=self._delivered,
                                     on_fanout=self._fanout,
                                     first_status=self.target.contract.first_status) if keeps_books else None
        self.draining = False
        self.last_event_mono = time.monotonic()
        self.leaks: list[Leak] = []
        self.connect_failures: dict[str, int] = {}
        self.connects = 0
        #: Users whose start (token, socket) succeeded, and why the others' failed.
        self.users_started = 0
        self.start_failures: dict[str, int] = {}
        #: Reconnects, cuts, connection trouble and outages (reconnect.py, outage.py).
        self.reconnection = ReconnectionBook()
        #: The clock keeper (runtime.ClockKeeper) and the cut plan's greenlet, where the
        #: plugin runs them (set by the plugin).
        self.clock_keeper: ClockKeeper | None = None
        self.cut_plan_greenlet: Greenlet | None = None
        #: The scenario's name, for the report (set by the plugin).
        self.scenario: str | None = None
        #: Set by the plugin in the process that runs users: decides whether the target is down.
        self.outage_watch: OutageWatch | None = None
        #: Users of this process so far (each one's number: its data's seed and e-mail).
        self._users_made = 0
        #: This process's store owners, in start order: each order is one's to move
        #: (users.StoreOwner._mine).
        self.store_owners_here: list[StoreOwner] = []
        #: Set by the plugin: the open-model pacer, run timing.
        self.pacer: Pacer | None = None
        self.run_time: float | None = None
        self.started_at: float | None = None
        #: When this process began (wall ms): no order of this run is older.
        self.born_ms = time.time() * 1000.0
        self.report_written = False
        #: Set when the planned duration was reached (the run drained and ended as planned).
        self.ran_to_the_end = False
        #: Set when Ctrl-C (SIGINT) arrived: the run is cut short, even mid-drain.
        self.interrupted = False
        #: Ids of this process's users by role: the adversarial users aim at them.
        self.known_users: dict[Role, list[str]] = {role: [] for role in Role}
        #: Room-joining attempts and bad-token connects made by adversarial users.
        self.isolation: dict[str, int] = {"join_attempts": 0, "bad_token_attempts": 0,
                                          "bad_tokens_accepted": 0}
        self.bad_tokens_accepted: list[str] = []
        self.health = GeneratorHealth()
        #: The master's view of its workers (workers.py); empty in a one-process run.
        self.workers = WorkerBook()
        #: The records queued for the books (outbox.py).
        self.outbox = Outbox()
        #: Changes and socket sends whose answers are awaited (in_flight.py).
        self.awaiting = Awaiting(self.process, self.outbox.unanswered.append)
        self._fire = fire
        self._sockets = 0
        #: Users offered to the witness so far, by role (witness_link.py).
        self._offers_quota = OfferQuota()
        #: The witness, in the process that keeps the books (set by the plugin).
        self.witness: WitnessLink | None = None
        #: Trigger-to-delivery of the changes caused here (triggers.py).
        self.triggers = TriggerMatch()

    # --- time --------------------------------------------------------------------------------

    @staticmethod
    def now_ms() -> float:
        """Now, ms on this machine's wall clock: the time line of every ledger record.

        Not corrected by the server offset: that estimate improves during a run, and records
        taken under two estimates could be ordered wrongly (a socket that connected after a
        change would seem to have been there). Processes on one machine share this clock;
        on several machines, keep them NTP-synchronised. The offset serves emit-to-delivery.
        """
        return time.time() * 1000.0

    def trigger(self) -> Trigger:
        return Trigger(time.monotonic(), self.now_ms())

    # --- sockets -------------------------------------------------------------------------------

    def new_socket(self, role: Role | None, user_id: str | None) -> SocketLedger:
        self._sockets += 1
        return SocketLedger(socket_id(self.process, self._sockets), role, user_id, self.counts,
                            reader=self.target.reader)

    def connected(self, ledger: SocketLedger, rooms: tuple[str, ...], since_ms: float) -> None:
        self.connects += 1
        self.outbox.presence.append(Presence(ledger.socket_id, rooms, since_ms))

    def disconnected(self, ledger: SocketLedger, rooms: tuple[str, ...], since_ms: float) -> None:
        self.outbox.presence.append(Presence(ledger.socket_id, rooms, since_ms, self.now_ms()))

    @property
    def product_prefix(self) -> str:
        """Every item this run orders has a product id that starts so: how the run tells its
        own orders from those of another run (or of real users) on a shared server."""
        return f"rh-{self.options.run_id}-sku-"

    def created_by_this_run(self, order: Any) -> bool:
        """Whether this run placed `order` (a document): only those are its users' to move."""
        return self.target.ours(order, self.product_prefix)

    def keep_clock(self, user: FollowedUser) -> None:
        """A user's socket is up: the clock keeper may sync the clock through it."""
        if self.clock_keeper is not None:
            self.clock_keeper.offer(user)

    def register_user(self, role: Role, user_id: str | None) -> None:
        if user_id is not None and len(self.known_users[role]) < 10_000:
            self.known_users[role].append(user_id)

    def next_user_serial(self) -> int:
        """The next user's number in this process (1, 2, ...)."""
        self._users_made += 1
        return self._users_made

    def connect_failed(self, reason: str, ms: float | None = None) -> None:
        """A connect failed: counted for the report and, with its time, as a failure in
        Locust's statistics (`connect`). One that nothing answered (refused, reset, timed out
        below the handshake) is no verdict on the server, as an HTTP request without an
        answer is not (outage.py): counted for the report, and the outage watch told, but
        no failure in Locust's table."""
        self.connect_failures[reason] = self.connect_failures.get(reason, 0) + 1
        if classify_connect_error(reason) == "refused":
            if self.outage_watch is not None:
                self.outage_watch.suspect()
            return
        if ms is not None:
            self._stat("connect", CONNECT, ms, ConnectFailure(reason))

    def user_started(self) -> None:
        self.users_started += 1

    def user_failed_to_start(self, reason: str) -> bool:
        """A user could not start; True the first time this process sees the reason."""
        first = reason not in self.start_failures
        self.start_failures[reason] = self.start_failures.get(reason, 0) + 1
        return first

    def caught_up(self, ledger: SocketLedger, order_id: str, progress: int) -> None:
        """A read of an order after a reconnect, showing it `progress` far (`Reader.progress`)."""
        self.outbox.catchups.append(CatchUp(ledger.socket_id, order_id, progress, self.now_ms()))

    # --- changes and events ----------------------------------------------------------------------

    def caused(self, order: OrderFacts, kind: ChangeKind, trigger: Trigger,
               location: tuple[float, float] | None = None, uncertain: bool = False) -> None:
        """A user of this process caused a change; `order` is the state the server answered."""
        record = change_record(order, kind, trigger_ms=trigger.ms, process=self.process,
                               location=location, uncertain=uncertain, answered_ms=self.now_ms(),
                               reader=self.target.reader)
        self.outbox.changes.append(record)
        for event, ms in self.triggers.caused(record.key, trigger.mono):
            self._record_latency(event, ms)

    def received(self, ledger: SocketLedger, event: str, payload: Any) -> EventFacts | None:
        """Every event any socket of this process receives comes through here; returns what
        its payload says. Its time is its frame's arrival (arrival.py), not this moment: the
        difference is the delay the generator added, which the generator's health watches."""
        handled = arrival.now()
        stamp = arrival.current() or handled
        self.health.received(stamp.source, (handled.mono - stamp.mono) * 1000.0)
        received_mono = stamp.mono
        self.last_event_mono = handled.mono
        received_ms = stamp.wall_ms
        judged = ledger.receive(event, payload, received_ms)
        failure = None
        if judged.leak is not None:
            if len(self.leaks) < _MAX_LEAK_SAMPLES:
                self.leaks.append(judged.leak)
            failure = f"leaked: {judged.leak.reason}"
        elif judged.duplicate:
            failure = "duplicate"
        elif judged.out_of_order:
            failure = "out of order"
        if judged.invalid:
            failure = f"invalid: {judged.invalid}"
        if failure is not None:
            self._stat("event", event, 0.0, LedgerFailure(failure))
        if judged.receipt is None:
            return judged.facts
        self.outbox.receipts.append(judged.receipt)
        emitted = judged.facts.emitted_at if judged.facts is not None else None
        offset = self.clock.offset_ms
        if emitted is not None and self.time_sync_supported and offset is not None:
            self._figure(event + EMIT_SUFFIX, received_ms + offset - emitted, "event:emit")
        ms = self.triggers.arrived(judged.receipt.key, event, received_mono)
        if ms is not None:
            self._record_latency(event, ms)
        return judged.facts

    def _record_latency(self, event: str, ms: float) -> None:
        self._figure(event, ms, "event")

    def _delivered(self, event: str, receiver: str, ms: float, change: ChangeRecord) -> None:
        """The books matched a delivery. One whose change another process caused has no
        trigger in the receiving process: its trigger-to-delivery is taken here, on the
        wall clock that the processes share (same-process ones are measured where received)."""
        if process_of(receiver) != change.process:
            self.book.record(event, ms, (change.trigger_ms + ms) / 1000.0)

    def _fanout(self, event: str, ms: float) -> None:
        self.book.record(event + FANOUT_SUFFIX, ms, time.time())

    def figure(self, name: str, ms: float, request_type: str) -> None:
        """Any other latency figure (connect time, ack round trip)."""
        self._figure(name, ms, request_type)

    def _figure(self, name: str, ms: float, request_type: str) -> None:
        self.book.record(name, ms, time.time())
        self._stat(request_type, name, ms, None)

    def stat(self, request_type: str, name: str, ms: float) -> None:
        """A figure into Locust's statistics only (the latency book has it already)."""
        self._stat(request_type, name, ms, None)

    def _stat(self, request_type: str, name: str, ms: float, exception: Exception | None) -> None:
        if self._fire is not None:
            self._fire(request_type=request_type, name=name, response_time=ms, response_length=0,
                       exception=exception, context={})

    # --- records for the books -------------------------------------------------------------------

    def keep_books(self, records: dict[str, list[Any]]) -> None:
        """Add records (this process's or a worker's) to the run's books."""
        assert self.reconciler is not None
        receipts = [Receipt.from_wire(w) for w in records["receipts"]]
        self.reconciler.add_presence(Presence.from_wire(w) for w in records["presence"])
        self.reconciler.add_changes(ChangeRecord.from_wire(w) for w in records["changes"])
        self.reconciler.add_receipts(receipts)
        self.reconciler.add_catchups(CatchUp.from_wire(w) for w in records["catchups"])
        self.reconciler.add_unanswered(Unanswered.from_wire(w) for w in records["unanswered"])
        if self.witness is not None:
            for wire in records.get("witness", []):
                self.witness.offer(Offer.from_wire(wire))
            for receipt in receipts:
                self.witness.book.user_receipt(receipt.socket, receipt.event, receipt.key,
                                               receipt.received_ms)

    def witness_offer(self, role: Role, ledger: SocketLedger, token: str) -> None:
        """A user's socket connected: offer it as a model for a witness tab (witness_link.py)."""
        if self.options.witness and self._offers_quota.take(role.value):
            self.outbox.offers.append(Offer(role.value, ledger.socket_id, token))

    def worker_lost(self, node_id: str) -> None:
        """A worker stopped answering the master: its users are no longer judged from the
        moment it was last heard from to the moment it was found lost (it may have run,
        silent, until then; see `Reconciler.process_lost`). One never heard from is judged
        from the run's start."""
        now_ms = self.now_ms()
        lost = self.workers.mark_lost(node_id, (self.started_at or now_ms / 1000.0) * 1000.0)
        if lost is not None and self.reconciler is not None:
            process, last_heard_ms = lost
            self.reconciler.process_lost(process or f"node {node_id}", last_heard_ms, now_ms)

    # --- worker to master ------------------------------------------------------------------------

    def worker_report(self) -> dict[str, Any]:
        """What a worker sends every second: new records and latency, and its running totals."""
        return {
            "process": self.process,
            "records": self.outbox.take(),
            "awaited_since_ms": self.awaiting.since_ms(),
            "latency": self.book.take_delta(),
            "counts": self.counts.as_dict(),
            "leaks": [leak.__dict__ for leak in self.leaks],
            "connects": self.connects,
            "connect_failures": dict(self.connect_failures),
            "users_started": self.users_started,
            "start_failures": dict(self.start_failures),
            "time_sync": self.time_sync_supported,
            "offset_ms": self.clock.offset_ms,
            "orders_paced": self.pacer.taken if self.pacer is not None else None,
            "isolation": dict(self.isolation),
            "bad_tokens_accepted": list(self.bad_tokens_accepted[:50]),
            "generator": self.health.summary(self.process),
            "own": self.own_counts(),
            "reconnection": self.reconnection.to_wire(),
        }

    def own_counts(self) -> dict[str, Any]:
        """This process's own totals (report.json `processes`): its sockets' verdicts, the
        changes (by first event) and first receipts it took for the books, its latency samples."""
        return {"process": self.process, "counts": self.counts.as_dict(),
                "changes": dict(self.outbox.taken["changes"]),
                "receipts": dict(self.outbox.taken["receipts"]),
                "latency_counts": self.book.counts()}

    def merge_worker(self, report: dict[str, Any], node_id: str) -> None:
        """Keep a worker's running totals (records and latency are merged as they come)."""
        self.workers.heard(node_id, report, self.now_ms())
