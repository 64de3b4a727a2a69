"""Reconnection as a user lives it: what it follows, what it misses, how it catches up.

Every simulated user has a `Follower`. It keeps the orders the user follows, from what the
user caused (HTTP answers) and what its socket received:

* a customer: its open orders;
* a driver: the open orders assigned to it;
* a store owner: every open order it knows of. Its room (`store-owners`) receives every
  order's events, so it follows them all, as its dashboard shows them all; it moves its share.

When the socket drops (a planned cut, or anything else) the follower notes the time; when
python-socketio connects again (a new `connect`, a new sid: there is no `reconnect` event and
no connection state recovery) it records `reconnect.time_to_reconnect` and catches up, as
contract section 6 says: a `GET /api/orders/{id}` for every order it follows, each one a
catch-up read in the ledger (`RunContext.caught_up`) that recovers what was missed up to the
version read. Store owners and drivers first list what appeared while they were away (orders
created, or assigned to the driver) and follow those too, and hand them to their work queue
as the `newOrder` / assignment event would have. When every read is done the user is
consistent: `reconnect.time_to_consistent`, from the drop.

The module is also a small Locust plugin: it starts the cut plan (disruption.py) at
`test_start` in every process that runs users, and gives each such process an `OutageWatch`.
"""

from __future__ import annotations

import logging
import random
import time
from collections import OrderedDict
from typing import TYPE_CHECKING, Any, Protocol

import gevent
from gevent.queue import Queue
from locust import events
from locust.env import Environment
from locust.runners import MasterRunner

from ..contract import Role
from ..errors import CatchUpFailed, TargetUnreachable
from ..ledger.reader import EventFacts, OrderFacts
from . import runtime  # noqa: F401  (first: its `init` listener makes the RunContext used here)
from .disruption import CuttableClient, plan_for, run_plan
from .followed import FollowedOrders
from .outage import OutageWatch
from .reconnect_stats import REQUEST_TYPE, TIME_TO_CONSISTENT, TIME_TO_RECONNECT
from .runtime import context_if_any, listen

if TYPE_CHECKING:
    from ..ledger import SocketLedger
    from .context import RunContext
    from .identity import Identity
    from .recorded_socket import RecordedSocket

log = logging.getLogger("harness")

#: The reason a follower gives for a planned cut (python-socketio's own reasons are
#: 'client disconnect', 'server disconnect' and 'transport error').
CUT = "cut"
CLIENT_DISCONNECT = "client disconnect"
#: Store owners list orders created since this long before they went away (clock skew).
DISCOVERY_MARGIN_MS = 5_000.0
_LIST_LIMIT = 100
_MAX_PAGES = 20




class WorkQueue(Queue):  # type: ignore[misc]  # gevent ships no types: Queue is Any to mypy
    """A user's work queue that takes each order once, however it heard of it (an event,
    or a catch-up after a reconnect)."""

    def __init__(self) -> None:
        super().__init__()
        self._seen: OrderedDict[str, None] = OrderedDict()

    def put(self, item: Any, block: bool = True, timeout: float | None = None) -> None:
        key = item if isinstance(item, str) else getattr(item, "id", None)
        if isinstance(key, str):
            if key in self._seen:
                return
            self._seen[key] = None
            while len(self._seen) > 100_000:
                self._seen.popitem(last=False)
        super().put(item, block, timeout)


class FollowedUser(Protocol):
    """What a Follower needs of its user (`users.OrderAppUser` is one): the run, who it is,
    its socket, its HTTP calls, and what it does with an order a catch-up read showed."""

    ctx: RunContext
    role: Role
    ledger: SocketLedger
    identity: Identity
    socket: RecordedSocket | None

    @property
    def sio(self) -> CuttableClient | None: ...

    def call(self, action: str, /, *, expect: tuple[int, ...] = (), **values: Any) -> dict[str, Any]: ...

    def resume(self, order: OrderFacts, document: Any) -> None: ...

    def order_ended(self, order_id: str) -> None: ...


class Follower:
    """One user's connection as far as reconnection goes (see the module docstring)."""

    def __init__(self, user: FollowedUser) -> None:
        self.user = user
        self.ctx = user.ctx
        self.book = self.ctx.reconnection
        self.role: Role = user.role
        self.target = self.ctx.target
        #: The orders the user follows, and those that ended lately (followed.py).
        self.followed = FollowedOrders(self.target.reader.progress, self.target.terminal)
        self.up = False
        self.ever_connected = False
        self.stopped = False
        self.generation = 0
        self.dropped_mono: float | None = None
        #: The first drop the user has not yet recovered from (monotonic; wall ms).
        self.away_since: float | None = None
        self.away_since_ms: float | None = None
        self._catch_up: gevent.Greenlet | None = None
        self.book.followers.add(self)

    @property
    def away(self) -> bool:
        return self.ever_connected and not self.stopped and (not self.up or self.away_since is not None)

    def ping_settings(self) -> tuple[float, float]:
        eio = getattr(self.user.sio, "eio", None)
        return (float(getattr(eio, "ping_interval", None) or 25.0),
                float(getattr(eio, "ping_timeout", None) or 20.0))

    # --- what the user follows -----------------------------------------------------------------

    def saw(self, facts: EventFacts) -> None:
        """An event the user's socket received, as its payload reads."""
        self.followed.note(facts.order_id, facts.status, facts.version)

    def saw_order(self, order: OrderFacts) -> None:
        """An order as an HTTP answer showed it (a change the user caused)."""
        self.followed.note(order.id, order.status, order.version)

    # --- the connection ------------------------------------------------------------------------

    def connected(self) -> None:
        if self.stopped:
            return
        self.up = True
        if not self.ever_connected:
            self.ever_connected = True
            if self.role is Role.STORE_OWNER:
                self._catch_up = gevent.spawn(self._first_look, self.generation)
            return
        self.book.reconnects += 1
        if self.dropped_mono is not None:
            self.ctx.figure(TIME_TO_RECONNECT, (time.monotonic() - self.dropped_mono) * 1000.0,
                            REQUEST_TYPE)
        self.ctx.keep_clock(self.user)
        self._catch_up = gevent.spawn(self._catch_up_run, self.generation)

    def disconnected(self, reason: Any) -> None:
        if reason == CLIENT_DISCONNECT:  # the user stops (on_stop): no reconnection follows
            self.stopped = True
            self.up = False
            if self._catch_up is not None:
                self._catch_up.kill(block=False)
            return
        if not self.up:
            return  # the client noticing a cut already counted
        self.up = False
        self.generation += 1
        now = time.monotonic()
        self.dropped_mono = now
        if self.away_since is None:
            self.away_since = now
            self.away_since_ms = time.time() * 1000.0
        if reason != CUT:
            self.book.unplanned_drops += 1
            self.book.bump(self.book.drop_reasons, str(reason))
            watch = self.ctx.outage_watch
            if watch is not None:
                watch.suspect()

    def cut(self, kind: str) -> bool:
        """Cut this user's connection now (the cut plan calls this in a greenlet of its own).

        The socket's presence in its rooms ends at the cut (through the user's own disconnect
        handler): what the server sends from now on is missed while away, not missing."""
        sio, socket = self.user.sio, self.user.socket
        if not self.up or not isinstance(sio, CuttableClient) or socket is None:
            return False
        sio.settle_acks()
        if not self.up or sio.eio.state != "connected":
            return False
        self.book.cuts += 1
        self.book.bump(self.book.cuts_by_kind, kind)
        socket.disconnected(CUT)
        sio.cut(kind)
        return True

    # --- connection trouble (disruption.Observer) ---------------------------------------------------

    def connect_error(self, kind: str, message: str) -> None:
        if not self.ever_connected:
            return  # a first connection's failure is counted by the user (connections.failed)
        self.book.bump(self.book.connect_errors, kind)
        if kind == "refused":
            watch = self.ctx.outage_watch
            if watch is not None:
                watch.suspect()

    def upgrade_failed(self, reason: str) -> None:
        self.book.upgrade_failures += 1
        self.book.bump(self.book.upgrade_failure_reasons, reason.split(" -+-+- ")[0][:80])

    def session_unknown(self) -> None:
        self.book.session_id_unknown += 1

    # --- catching up -----------------------------------------------------------------------------------

    def _current(self, generation: int) -> bool:
        return generation == self.generation and self.up and not self.stopped

    def _catch_up_run(self, generation: int) -> None:
        try:
            since = (self.away_since or time.monotonic()) - self.ctx.options.settle_s - 1.0
            ids = self.followed.to_read(since)
            # Every listed order not yet to be read, even one followed by now: the socket is
            # up again, and an order created while away can have its next change heard live
            # while this listing was on its way (its missed `newOrder` still needs the read).
            queued = set(ids)
            for order_id in self._discover(generation):
                if order_id not in queued:
                    queued.add(order_id)
                    ids.append(order_id)
            for order_id in ids:
                if not self._current(generation):
                    return
                self._read(order_id, generation)
        except gevent.GreenletExit:
            raise
        except CatchUpFailed as exc:  # the target refused a read (counted in Locust's failures)
            log.warning("harness: a catch-up after a reconnect failed: %s", exc)
            self._gave_up(generation)
            return
        except Exception:  # a catch-up must never take the user down
            log.exception("harness: catch-up after a reconnect failed")
            self._gave_up(generation)
            return
        if self._current(generation) and self.away_since is not None:
            self.ctx.figure(TIME_TO_CONSISTENT, (time.monotonic() - self.away_since) * 1000.0,
                            REQUEST_TYPE)
            self.book.consistent += 1
            self.away_since = None
            self.away_since_ms = None

    def _first_look(self, generation: int) -> None:
        """A store owner's room gets every order's events, so it follows every open order of
        the run, not only those it hears of from now on: one placed before this first
        connect, quiet since, that changes while the owner is away later, must be read in
        that catch-up (the ledger expects the owner to recover the change). The listing
        shows each order's status and version: no read per order. Pending ones go to the
        work queue, as their `newOrder` (sent before this socket was in its room) would
        have put them."""
        try:
            for order, document in self._list_since(generation, self.ctx.born_ms):
                if self.ctx.created_by_this_run(document):
                    self.followed.note(order.id, order.status, order.version)
                    self.user.resume(order, document)  # as the missed events would have made it act
        except gevent.GreenletExit:
            raise
        except CatchUpFailed as exc:
            log.warning("harness: a store owner's first listing of the orders failed: %s", exc)
        except Exception:  # it must never take the user down
            log.exception("harness: a store owner's first listing of the orders failed")

    def _gave_up(self, generation: int) -> None:
        """Not consistent, and not waited for either: counted as a failed catch-up."""
        self.book.catch_up_failures += 1
        if self._current(generation):
            self.away_since = None
            self.away_since_ms = None

    def _call(self, generation: int, action: str, **kwargs: Any) -> dict[str, Any] | None:
        """An API call that rides out an outage (the user's backoff is in `unreachable`);
        None when the order is gone (404) or the connection dropped again meanwhile.
        Any other refusal is retried twice, then raised (`CatchUpFailed`)."""
        refused = 0
        while self._current(generation):
            try:
                return self.user.call(action, expect=(404,), **kwargs)
            except TargetUnreachable:
                continue
            except Exception as exc:
                status = getattr(exc, "status", None)
                if status == 404:
                    return None
                if status is None:
                    raise
                refused += 1
                if refused > 2:
                    raise CatchUpFailed(f"{action}: HTTP {status}") from exc
                gevent.sleep(0.5 * refused)
        return None

    def _read(self, order_id: str, generation: int) -> None:
        answer = self._call(generation, "get_order", order_id=order_id)
        if answer is None:
            if self._current(generation):
                self.followed.finish(order_id)  # gone (a restarted server without its data)
                self.user.order_ended(order_id)
            return
        document = answer.get("order")
        try:
            order = self.target.reader.order(document)
        except ValueError:
            return
        progress = self.target.reader.progress(order.status, order.version)
        if progress is None:
            return
        self.ctx.caught_up(self.user.ledger, order_id, progress)
        self.followed.note(order_id, order.status, order.version)
        self.user.resume(order, document)  # as the missed events would have made it act

    def _discover(self, generation: int) -> list[str]:
        """Orders that appeared while the user was away (store owners, drivers)."""
        if self.role is Role.STORE_OWNER:
            since = self.away_since_ms or time.time() * 1000.0
            return [order.id for order, _ in self._list_since(generation, since)]
        if self.role is Role.DRIVER:
            assigned = self.target.assigned_status
            query = {"status": assigned, "limit": _LIST_LIMIT} if self.target.reference else None
            answer = self._call(generation, "list_orders", query=query)
            return [order.id for order, _ in self._orders_of(answer)
                    if order.status == assigned and order.driver_id == self.user.identity.user_id]
        return []

    def _orders_of(self, answer: dict[str, Any] | None) -> list[tuple[OrderFacts, Any]]:
        """The orders a listing holds, read by the file (what cannot be read is skipped)."""
        out = []
        for document in (answer or {}).get("orders") or []:
            try:
                out.append((self.target.reader.order(document), document))
            except ValueError:
                continue
        return out

    def _list_since(self, generation: int, since_ms: float) -> list[tuple[OrderFacts, Any]]:
        """The orders listed (newest first) as created since `since_ms` (this machine's
        clock), less the discovery margin for the two clocks' skew. Our contract's listing
        pages; a team's file states no paging: its one answer is the listing."""
        since = since_ms - DISCOVERY_MARGIN_MS
        offset = self.ctx.clock.offset_ms or 0.0
        reader = self.target.reader
        found: list[tuple[OrderFacts, Any]] = []
        for page in range(1, _MAX_PAGES + 1):
            query = {"page": page, "limit": _LIST_LIMIT} if self.target.reference else None
            answer = self._call(generation, "list_orders", query=query)
            listed = self._orders_of(answer)
            older = False
            for order, document in listed:
                created = reader.created_ms(document)
                if created is not None and created - offset < since:
                    older = True
                    continue
                found.append((order, document))
            if older or not self.target.reference or len((answer or {}).get("orders") or []) < _LIST_LIMIT:
                break
        return found


# --- the plugin ------------------------------------------------------------------------------------

@listen(events.init)
def _on_init(environment: Environment, **_: Any) -> None:
    ctx = context_if_any(environment)
    if ctx is None:
        return
    opts = ctx.options
    ctx.reconnection.plan = plan_for(opts.cut_mode, opts.cut_share, opts.cut_every_s)
    if not isinstance(environment.runner, MasterRunner):
        ctx.outage_watch = OutageWatch(ctx, environment.host)


@listen(events.test_start)
def _on_test_start(environment: Environment, **_: Any) -> None:
    ctx = context_if_any(environment)
    if ctx is None or isinstance(environment.runner, MasterRunner):
        return
    plan = ctx.reconnection.plan
    running = ctx.cut_plan_greenlet
    if plan is None or (running is not None and not running.dead):
        return
    rng = random.Random(f"{ctx.options.seed}/cuts/{ctx.process}")
    ctx.cut_plan_greenlet = gevent.spawn(
        run_plan, plan, lambda: list(ctx.reconnection.followers), stop=lambda: ctx.draining,
        rng=rng, spawn=gevent.spawn, sleep=gevent.sleep)
    log.info("harness: cut plan %s", plan.describe())
