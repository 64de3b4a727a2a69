"""Simulated customers, store owners and drivers, as Locust users.

Each holds a real Socket.IO connection (python-socketio's client; under Locust, its threads
are greenlets) and an HTTP session (Locust's FastHttpSession, so requests show in Locust's
statistics; its connections come from the process's one pool, http_pool.py). Every
received event goes through the process's `RunContext`, which judges it and measures it.
Users react to events as the real apps do: store owners move orders they hear of through
`newOrder`, drivers deliver what they hear is assigned to them.
"""

from __future__ import annotations

import logging
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlencode

import gevent
import socketio
from faker import Faker
from gevent.event import Event as GEvent
from gevent.queue import Empty, Queue
from locust import FastHttpUser, task
from locust.env import Environment
from locust.exception import StopTest, StopUser
from locust.user.task import LOCUST_STATE_RUNNING

from .. import payloads
from ..contract import ChangeKind, Event, OrderType, Role
from ..contract.teamfile import TransitionRule, at, fill
from ..errors import AnswerMismatch, ConnectRefused, HttpError, TargetUnreachable
from ..ledger.reader import EventFacts, OrderFacts
from . import http_pool
from .context import LOCATION_ACK, RunContext, Trigger
from .disruption import CuttableClient
from .identity import Identity
from .outage import unreachable
from .reconnect import Follower, WorkQueue
from .recorded_socket import RecordedSocket, client_options
from .runtime import context_of, counted_by_options, process_share
from .share import owner_of
from .user_random import UserRandom

_DRIVER_CACHE_S = 20.0
_FAKER: list[Faker] = []
#: How long an idle store owner or driver waits for work before its task starts over. The
#: wait ends as soon as work comes; a short one only wakes every idle user for nothing (at
#: 1 s, 500 idle drivers of a 10,000-user run: 500 wakes a second).
IDLE_WAIT_S = 30.0

log = logging.getLogger("harness")


def _faker() -> Faker:
    if not _FAKER:
        _FAKER.append(Faker())
    return _FAKER[0]



_START_STEPS = {"register": "failed to register", "login": "failed to log in"}


def why_not_started(exc: BaseException) -> str:
    """One line, the same for every user that failed the same way (the report counts users
    by it): "failed to register: HTTP 404 on POST /api/auth/register"."""
    if isinstance(exc, HttpError):
        step = (_START_STEPS.get(exc.action, f"failed at {exc.action}")
                if exc.action is not None else "an API call failed")
        where = f" on {exc.method} {exc.path}" if exc.method and exc.path else ""
        return f"{step}: HTTP {exc.status}{where}"
    if isinstance(exc, (ConnectRefused, socketio.exceptions.ConnectionError)):
        return f"socket connect failed: {str(exc)[:200]}"
    if isinstance(exc, TargetUnreachable):
        return "the target did not answer"
    return f"{exc.__class__.__name__}: {' '.join(str(exc).split())[:200]}"


class OrderAppUser(FastHttpUser):
    """A user of the ordering app: an identity, an HTTP session and one socket."""

    abstract = True
    role: Role = Role.CUSTOMER
    #: Whether the witness may open a second tab of this user (not of adversaries).
    witnessed = True

    def __init__(self, environment: Environment) -> None:
        self.ctx: RunContext = context_of(environment)
        opts = self.ctx.options
        # Read by FastHttpUser.__init__, which builds the HTTP session: set first (set after
        # it, `--insecure` or not, the session never verified the target's certificate).
        self.insecure = not opts.verify_tls
        self.client_pool = http_pool.shared(opts.verify_tls)
        super().__init__(environment)
        self.serial = self.ctx.next_user_serial()
        self.rng = UserRandom(f"{opts.seed}/{self.ctx.process}/{self.serial}")
        self.identity = self._identity(self.role)
        self.socket: RecordedSocket | None = None
        self.ledger = self.ctx.new_socket(self.role, None)
        #: What the user follows, and its reconnects and catch-ups (reconnect.py).
        self.follower = Follower(self)
        #: A send on the socket awaiting its ack (in_flight.py); the run settles it as unsure
        #: if its books close first (Ctrl-C).
        self.in_flight = self.ctx.awaiting.flight()

    @property
    def target_url(self) -> str:
        """The target's base URL: Locust's host, which the harness always sets (`--host`)."""
        assert self.host is not None, "harness load passes Locust --host"
        return self.host

    @property
    def fake(self) -> Faker:
        """The process's one Faker, seeded from this user's own random stream for each value:
        data stays reproducible per user (`--seed`), without a Faker per user (building one
        loads every provider: milliseconds of CPU at every spawn, and memory per user)."""
        shared = _faker()
        shared.seed_instance(self.rng.getrandbits(32))
        return shared

    # --- identity and HTTP -------------------------------------------------------------------

    def _identity(self, role: Role) -> Identity:
        opts = self.ctx.options
        name = f"{self.fake.name()} [{opts.run_id}]"
        email = f"rh-{opts.run_id}-{role.value}-{self.ctx.process}-{self.serial}@example.test".lower()
        ident = Identity(role, name, email, password=self.fake.password(length=16))
        ident.renew = self._mint if opts.tokens == "mint" and role is not Role.DRIVER else self._login
        return ident

    def _mint(self, ident: Identity) -> None:
        assert self.ctx.options.jwt_secret is not None
        sub = ident.user_id or f"rh-{self.ctx.options.run_id}-{self.ctx.process}-{self.serial}"
        ident.accept(self.ctx.target.mint(self.ctx.options.jwt_secret, sub, ident.role, ident.name), sub)

    def _login(self, ident: Identity) -> None:
        if ident.user_id is None:
            answer = self.call("register", auth=False, name=ident.name, email=ident.email,
                               password=ident.password, role=self.ctx.target.role_name(ident.role))
        else:
            answer = self.call("login", auth=False, email=ident.email, password=ident.password)
        ident.accept(str(answer["token"]), str(answer["user_id"]))

    def call(self, action: str, /, *, auth: bool = True, expect: tuple[int, ...] = (),
             stat: str | None = None, query: dict[str, Any] | None = None,
             **values: Any) -> dict[str, Any]:
        """One action of the contract file, with these values; its answer's parts (the
        file's `answer` paths). Raises HttpError for an answer whose status is not the
        file's (or in `expect`), AnswerMismatch for one without a part the file names, and
        TargetUnreachable (after a backoff; not a failure) when no answer came at all."""
        target = self.ctx.target
        request = target.request(action, token=self.identity.current_token() if auth else None,
                                 **values)
        url = request.path + (f"?{urlencode(query)}" if query else "")
        body = request.body_kwargs("data")
        with self.client.request(request.method, url, headers=request.headers,
                                 name=stat or action, catch_response=True, **body) as resp:
            status = resp.status_code or 0
            if status == 0:
                raise unreachable(self, resp.error)
            try:
                body = resp.json()
            except Exception:  # noqa: BLE001  (any answer that is not JSON is kept as text)
                body = resp.text
            if target.status_ok(action, status):
                try:
                    parts = target.parts(action, body)
                except AnswerMismatch as exc:
                    resp.failure(str(exc))
                    raise
                resp.success()
                return parts
            if status in expect:
                resp.success()
            else:
                resp.failure(f"HTTP {status}: {str(body)[:200]}")
            raise HttpError(status, body, action=action, method=request.method, path=request.path)

    # --- the socket -----------------------------------------------------------------------------

    def run(self) -> None:  # type: ignore[misc]  # Locust marks `run` final; see why below
        """Locust's `run`, with the start judged here: a user that cannot start (its token, its
        socket) is counted by why (report.json `user_starts`), the first of each kind logged
        in one line, without a traceback per user; then it idles until the run stops it (a
        user that ended would be started again by a worker, and counted again)."""
        self._state = LOCUST_STATE_RUNNING
        try:
            self.on_start()
        except (StopUser, StopTest):
            raise
        except Exception as exc:  # noqa: BLE001  (a user that cannot start is counted by why, whatever it is)
            reason = why_not_started(exc)
            if self.ctx.user_failed_to_start(reason):
                log.error("harness: a %s could not start: %s (every user that fails so is "
                          "counted in the report, not logged)", self.role.value, reason)
            try:
                self.on_stop()
            except Exception:  # noqa: BLE001  (closing what half-started; the cause is counted)
                pass
            while True:
                gevent.sleep(3600)
        self.ctx.user_started()
        self.on_start = lambda: None  # type: ignore[method-assign]  # done: Locust's run calls it
        super().run()  # type: ignore[no-untyped-call]  # Locust's run is unannotated

    def on_start(self) -> None:
        self.identity.current_token()
        self.ledger.user_id = self.identity.user_id
        self.ctx.register_user(self.role, self.identity.user_id)
        self.connect()
        if self.witnessed:
            self.ctx.witness_offer(self.role, self.ledger, self.identity.current_token())

    def on_stop(self) -> None:
        self._dropped("client disconnect")
        if self.socket is not None:
            self.socket.close()

    @property
    def sio(self) -> CuttableClient | None:
        return self.socket.sio if self.socket is not None else None

    def connect(self) -> None:
        sio = CuttableClient(reconnection=True, reconnection_delay=0.5, reconnection_delay_max=5,
                             observer=self.follower, **client_options(self.ctx))
        self.socket = RecordedSocket(self.ctx, self.ledger, sio, self._rooms,
                                     on_connect=self.follower.connected,
                                     on_disconnect=self._dropped,
                                     on_event=self._on_event)
        target, token = self.ctx.target, self.identity.current_token()
        # A token in the auth payload is asked for at every (re)connect, so a renewed one is
        # presented; one in the query string or a header is the first connect's.
        self.socket.connect(target.socket_url(self.target_url, token),
                            auth=lambda: target.socket_auth(self.identity.current_token()),
                            headers=target.socket_headers(token))
        self.ctx.keep_clock(self)

    def _dropped(self, reason: Any = None) -> None:
        """The connection dropped, was cut, or the user stops: an ack awaited on it is lost."""
        self.follower.disconnected(reason)
        self.in_flight.dropped()

    def _rooms(self) -> tuple[str, ...]:
        assert self.identity.user_id is not None
        return self.ctx.target.rooms(self.role, self.identity.user_id)

    def _on_event(self, event: str, facts: EventFacts | None) -> None:
        if facts is not None and facts.kind is not None:
            self.follower.saw(facts)
            self.on_event(facts)

    def on_event(self, facts: EventFacts) -> None:
        """React to an event, as its payload reads by the contract file (runs in its own
        greenlet: keep it short)."""

    def resume(self, order: OrderFacts, document: Any) -> None:
        """Act on an order a catch-up read showed (reconnect.py), as the events missed while
        away would have made this user act."""

    def order_ended(self, order_id: str) -> None:
        """An order this user follows ended (an event, or a catch-up read that found it gone)."""

    def think(self) -> None:
        low, high = self.ctx.options.think_s
        gevent.sleep(self.rng.uniform(low, high))

    def change(self, action: str, kind: ChangeKind, /, *, expect: tuple[int, ...] = (),
               stat: str | None = None, **values: Any) -> tuple[OrderFacts, dict[str, Any]]:
        """Cause a change through the API and tell the ledger what it must send; the order
        as the answer shows it, and the answer's parts."""
        trigger: Trigger = self.ctx.trigger()
        with self._unless_answered(values.get("order_id"), trigger):
            answer = self.call(action, expect=expect, stat=stat, **values)
            order = self.read_order(action, answer["order"])
            self.ctx.caused(order, kind, trigger)
        self.follower.saw_order(order)
        return order, answer

    def read_order(self, action: str, document: Any) -> OrderFacts:
        """An order document of an answer, read by the contract file."""
        try:
            return self.ctx.target.reader.order(document)
        except ValueError as exc:
            raise AnswerMismatch(f"{action}: {exc}") from None

    @contextmanager
    def _unless_answered(self, order_id: str | None, trigger: Trigger) -> Iterator[None]:
        """Tell the ledger of a change sent whose answer never came: the books closed or the
        user was stopped mid-request (Ctrl-C, the run's end), no answer came
        (TargetUnreachable), or it could not be read. The server may have made the change and
        pushed its events. A refusal (HttpError) is an answer: nothing changed."""
        number = self.ctx.awaiting.change_sent(order_id, trigger.ms)
        answered = False
        try:
            yield
            answered = True
        except HttpError:
            answered = True
            raise
        finally:
            self.ctx.awaiting.answer_came(number, answered=answered)

    def wait(self) -> None:
        """Idle while the run drains, so no user causes a change then."""
        gevent.sleep(0.2)


class Customer(OrderAppUser):
    """Checks out (card, saved method or as a guest) and follows each order to its end."""

    role = Role.CUSTOMER
    weight = 10
    guest_share = 0.1
    follow_timeout_s = 120.0

    def __init__(self, environment: Environment) -> None:
        super().__init__(environment)
        self._done: dict[str, GEvent] = {}

    def on_event(self, facts: EventFacts) -> None:
        if facts.order_id is not None and self.ctx.target.terminal(facts.status):
            self.order_ended(facts.order_id)

    def resume(self, order: OrderFacts, document: Any) -> None:
        if self.ctx.target.terminal(order.status):
            self.order_ended(order.id)

    def order_ended(self, order_id: str) -> None:
        """An order the customer follows reached its end (an event, or a catch-up read)."""
        done = self._done.get(order_id)
        if done is not None:
            done.set()

    def _values(self) -> dict[str, Any]:
        """The checkout's values, for the file's body template (a pickup has no address)."""
        target = self.ctx.target
        order_type = OrderType.DELIVERY if self.rng.random() < 0.7 else OrderType.PICKUP
        items = [{"productId": f"{self.ctx.product_prefix}{self.rng.randrange(1000)}",
                  "name": self.fake.word().title(),
                  "quantity": self.rng.randint(1, 4), "unitPrice": round(self.rng.uniform(1, 40), 2)}
                 for _ in range(self.rng.randint(1, 4))]
        values: dict[str, Any] = {"items": items, "order_type": target.order_type(order_type),
                                  "card": payloads.card(), "address": None,
                                  "payment_method_id": f"pm_{self.ctx.options.run_id}"}
        if order_type is OrderType.DELIVERY:
            values["address"] = {"street": self.fake.street_address(), "city": self.fake.city(),
                                 "postalCode": self.fake.postcode()[:20],
                                 "lat": round(52.4 + self.rng.random() * 0.2, 6),
                                 "lng": round(13.3 + self.rng.random() * 0.2, 6)}
        return values

    @task
    def place_and_follow(self) -> None:
        if self.ctx.draining:
            return self.wait()
        if self.ctx.pacer is not None:
            self.ctx.pacer.wait_turn()
            if self.ctx.draining:
                return
        target = self.ctx.target
        if target.has("guest_checkout") and self.rng.random() < self.guest_share:
            return self._guest_order()
        # Card or a saved method, half each (where the file states both).
        action = ("checkout_saved" if target.has("checkout_saved") and self.rng.random() >= 0.5
                  else "checkout")
        order, _ = self.change(action, ChangeKind.CREATED, **self._values())
        if self.ctx.pacer is not None:
            return  # open model: the next checkout is due on schedule, not when this one ends
        self._follow(order.id)
        self.think()

    def _follow(self, order_id: str) -> None:
        done = self._done.setdefault(order_id, GEvent())
        deadline = time.monotonic() + self.follow_timeout_s
        while not done.wait(0.5) and time.monotonic() < deadline and not self.ctx.draining:
            pass
        self._done.pop(order_id, None)

    def _guest_order(self) -> None:
        """A guest checks out, gets a token with the order, and follows it on a socket of its own."""
        values = self._values()
        values["guest"] = {"name": f"{self.fake.name()} [{self.ctx.options.run_id}]",
                           "email": f"rh-{self.ctx.options.run_id}-guest-{self.rng.getrandbits(40):x}@example.test",
                           "phone": self.fake.phone_number()[:40] or "+1 555 0100"}
        trigger = self.ctx.trigger()
        with self._unless_answered(None, trigger):
            answer = self.call("guest_checkout", auth=False, **values)
            order = self.read_order("guest_checkout", answer["order"])
            self.ctx.caused(order, ChangeKind.CREATED, trigger)
        guest = GuestSocket(self, str(answer["token"]), order.customer_id)
        try:
            try:
                guest.open()
            except ConnectRefused:
                # Counted with the failed connects (an outage, a server that refuses): the
                # guest's socket was never in its room, so nothing was expected of it.
                return
            if self.ctx.pacer is None:
                self._done[order.id] = guest.done
                self._follow(order.id)
        finally:
            if self.ctx.pacer is None:
                # Not at once: a guest socket never reconnects nor catches up, so it stays while
                # the rest of the last change's events (after the terminal one it stopped on)
                # and, during the drain, changes in flight may still reach it.
                opts = self.ctx.options
                gevent.spawn_later(opts.event_timeout_s if self.ctx.draining else opts.settle_s,
                                   guest.close)
            else:
                gevent.spawn_later(self.follow_timeout_s, guest.close)


class GuestSocket:
    """The socket a guest opens with the token its checkout returned (no reconnects, no
    catch-up: it follows one order to its end)."""

    def __init__(self, owner: Customer, token: str, customer_id: str) -> None:
        self.ctx = owner.ctx
        self.owner = owner
        self.token = token
        self.done = GEvent()
        rooms = self.ctx.target.rooms(Role.CUSTOMER, customer_id)
        sio = CuttableClient(reconnection=True, **client_options(self.ctx))
        self.socket = RecordedSocket(self.ctx, self.ctx.new_socket(Role.CUSTOMER, customer_id),
                                     sio, lambda: rooms, on_event=self._event)

    def _event(self, event: str, facts: EventFacts | None) -> None:
        if facts is not None and self.ctx.target.terminal(facts.status):
            self.done.set()

    def open(self) -> None:
        target = self.ctx.target
        self.socket.connect(target.socket_url(self.owner.target_url, self.token),
                            auth=target.socket_auth(self.token),
                            headers=target.socket_headers(self.token))

    def close(self) -> None:
        self.socket.close()


@counted_by_options(Role.STORE_OWNER)
class StoreOwner(OrderAppUser):
    """Hears of every order through `newOrder`; moves its share of them as far as a store
    owner moves orders in the file's lifecycle, and assigns delivery orders to one of the
    run's drivers."""

    role = Role.STORE_OWNER
    fixed_count = 5

    def __init__(self, environment: Environment) -> None:
        super().__init__(environment)
        self.work: Queue[OrderFacts | str] = WorkQueue()
        self._drivers: list[str] = []
        self._drivers_at = 0.0
        self.ctx.store_owners_here.append(self)

    def on_stop(self) -> None:
        if self in self.ctx.store_owners_here:
            self.ctx.store_owners_here.remove(self)
        super().on_stop()

    def _mine(self, order_id: str) -> bool:
        """One owner acts on each order: its process by hash, then an owner within it."""
        processes, index = process_share(self.environment)
        local = self.ctx.store_owners_here
        owner = owner_of(order_id, processes, index, len(local))
        return owner is not None and local[owner] is self

    def resume(self, order: OrderFacts, document: Any) -> None:
        # Catch-up lists every order placed while away: another run's are not ours to move.
        if order.status == self.ctx.target.contract.first_status:
            self.take(order, document)

    def take(self, order: OrderFacts | str, document: Any = None) -> None:
        """An order this owner heard of (an event, or a catch-up read): its to move if this
        run placed it (on a shared server, another run's, or a real customer's, are not ours
        to move: moving them would corrupt both runs' books) and it is this owner's share."""
        order_id = order if isinstance(order, str) else order.id
        if (document is None or self.ctx.created_by_this_run(document)) and self._mine(order_id):
            self.work.put(order)

    def on_event(self, facts: EventFacts) -> None:
        if facts.kind is Event.NEW_ORDER and facts.order_id is not None:
            if facts.order is None:
                # The payload does not carry the order: the first move reads it (and drops
                # it when it is not this run's).
                if self._mine(facts.order_id):
                    self.work.put(facts.order_id)
                return
            try:
                order = self.ctx.target.reader.order(facts.order)
            except ValueError:
                return  # counted invalid by the socket's ledger if the file places it
            self.take(order, facts.order)

    @task
    def move_orders(self) -> None:
        try:
            item = self.work.get(timeout=IDLE_WAIT_S)
        except Empty:
            return
        order = item if isinstance(item, OrderFacts) else self._read(item)
        if order is None:
            return
        for step in self.ctx.target.moves(order, Role.STORE_OWNER):
            self.think()
            if self.ctx.draining:
                return
            if step.action == "assign_driver":
                driver = self._pick_driver()
                if driver is None:
                    return
                moved = self._move(step, order_id=order.id, driver_id=driver)
            else:
                moved = self._move(step, order_id=order.id, status=step.target)
            if moved is None:
                return
            order = moved

    def _read(self, order_id: str) -> OrderFacts | None:
        """An order heard of by id only (its event does not carry it): one read. Not this
        run's (the file locates its items), or gone: None."""
        try:
            answer = self.call("get_order", expect=(404,), order_id=order_id)
        except HttpError:
            return None
        document = answer["order"]
        if not self.ctx.created_by_this_run(document):
            return None
        return self.read_order("get_order", document)

    def _move(self, step: TransitionRule, **values: Any) -> OrderFacts | None:
        try:
            order, _ = self.change(step.action, ChangeKind.STATUS, expect=(409,),
                                   stat=f"status:{step.target}", **values)
        except HttpError:
            return None  # another process's owner moved it first (409): not a failure
        return order

    def _pick_driver(self) -> str | None:
        if not self.ctx.target.has("list_drivers"):
            return None
        if time.monotonic() - self._drivers_at > _DRIVER_CACHE_S or not self._drivers:
            drivers = self.call("list_drivers")["drivers"]
            tag = f"[{self.ctx.options.run_id}]"
            ours = [d for d in drivers or [] if isinstance(d, dict)
                    and any(isinstance(v, str) and tag in v for v in d.values())]
            self._drivers = self.ctx.target.listed_ids("list_drivers", ours)
            self._drivers_at = time.monotonic()
        return self.rng.choice(self._drivers) if self._drivers else None


@counted_by_options(Role.DRIVER)
class Driver(OrderAppUser):
    """Picks up what is assigned to it, reports its location on the way, and delivers."""

    role = Role.DRIVER
    fixed_count = 1

    def __init__(self, environment: Environment) -> None:
        super().__init__(environment)
        self.work: Queue[OrderFacts | str] = WorkQueue()

    def resume(self, order: OrderFacts, document: Any) -> None:
        if order.status == self.ctx.target.assigned_status and order.driver_id == self.identity.user_id:
            self.work.put(order)

    def on_event(self, facts: EventFacts) -> None:
        target = self.ctx.target
        if (facts.order_id is None or facts.status is None or facts.status != target.assigned_status
                or facts.location_report
                or (facts.driver_id is not None and facts.driver_id != self.identity.user_id)):
            return
        if facts.customer_id is None:
            self.work.put(facts.order_id)  # read before the first move
            return
        self.work.put(OrderFacts(facts.order_id, facts.customer_id, OrderType.DELIVERY,
                                 facts.status, self.identity.user_id, facts.version))

    @task
    def deliver(self) -> None:
        try:
            item = self.work.get(timeout=IDLE_WAIT_S)
        except Empty:
            return
        order: OrderFacts | None = item if isinstance(item, OrderFacts) else self._read(item)
        if order is None:
            return
        seq = [0]
        for step in self.ctx.target.moves(order, Role.DRIVER):
            self._travel(order, seq)
            if self.ctx.draining:
                return
            try:
                order, _ = self.change("update_status", ChangeKind.STATUS, stat=f"status:{step.target}",
                                       order_id=order.id, status=step.target)
            except HttpError:
                return

    def _read(self, order_id: str) -> OrderFacts | None:
        try:
            answer = self.call("get_order", expect=(404,), order_id=order_id)
        except HttpError:
            return None
        return self.read_order("get_order", answer["order"])

    def _travel(self, order: OrderFacts, seq: list[int]) -> None:
        """Think time on the road, reporting the location at the set rate (where the file
        states the report)."""
        low, high = self.ctx.options.think_s
        leg = self.rng.uniform(low, high)
        period = 1.0 / self.ctx.options.location_rate_hz
        end = time.monotonic() + leg
        reports = self.ctx.target.contract.location is not None
        while time.monotonic() < end and not self.ctx.draining:
            gevent.sleep(min(period, max(0.0, end - time.monotonic())))
            if self.ctx.draining:  # the drain began during the sleep: cause no more changes
                return
            if reports and not self.ctx.target.terminal(order.status):
                self._report_location(order, seq)

    def _report_location(self, order: OrderFacts, seq: list[int]) -> None:
        seq[0] += 1
        lat = round(52.5 + seq[0] * 1e-4, 6)
        lng = round(13.4 + (zlib.crc32(order.id.encode()) % 1000) * 1e-5, 6)
        report = self.ctx.target.contract.location
        assert self.sio is not None and report is not None
        trigger = self.ctx.trigger()
        generation, away_at_start = self.follower.generation, self.follower.away

        def unsure() -> None:
            # Sent on a live connection that dropped (or a user that stopped) before the ack:
            # the server may have stored it, so its events, if any arrive, are no leaks.
            self.ctx.caused(order, ChangeKind.LOCATION, trigger, location=(lat, lng), uncertain=True)

        with self.in_flight.awaiting(unsure, sent_ms=trigger.ms,
                                     sent_while_away=away_at_start) as awaited:
            try:
                ack, answered = self.sio.call_stamped(
                    report.name, fill(report.body, {"order_id": order.id, "lat": lat, "lng": lng}),
                    timeout=10)
            except socketio.exceptions.TimeoutError:
                # An ack lost because the connection dropped meanwhile (a cut of ours, or an
                # outage) says nothing of the server's round trip; one that never came on a
                # live connection does. Either way the server may have stored the report.
                if (self.follower.generation == generation and not away_at_start
                        and not self.follower.away):
                    self.ctx.figure(LOCATION_ACK, 10_000.0, "ack")
                awaited.settle_unsure()
                return
            except socketio.exceptions.BadNamespaceError:
                return  # the socket is down (cut, or reconnecting): nothing was sent
        if awaited.settled:
            return  # a drop already recorded it (uncertain); the late ack changes nothing
        self.ctx.figure(LOCATION_ACK, (answered.mono - trigger.mono) * 1000.0, "ack")
        if report.ack_ok is None or at(ack, report.ack_ok, None) is True:
            self.ctx.caused(order, ChangeKind.LOCATION, trigger, location=(lat, lng))
