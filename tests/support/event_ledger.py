"""Who must receive what during an order's lifecycle, written out by hand from the contract.

The tables below are the contract's prose (sections 6 and 8) applied to each step of a
DELIVERY and a PICKUP lifecycle, spelled out row by row. They deliberately do not call
`harness.contract.emissions_for`: the tests compare the server against these, so a bug in
the shared routing code cannot hide behind itself.

Also here: a cast of users with connected sockets, a lifecycle runner that records when each
change was triggered, and checks that return lists of problems (empty = fine).
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from harness.api import Session
from harness.contract import OrderType, event_problem
from harness.realtime import RealtimeClient, Received

from .actors import World

# Audiences, by their part in the order.
OWNERS = "store-owners"
CUSTOMER = "customer"
DRIVER = "driver"

NEW_ORDER = "newOrder"
STATUS_UPDATED = "orderStatusUpdated"
CUSTOMER_UPDATE = "customer_order_update"
DELIVERY_UPDATE = "delivery_update"

#: (event, orderId, version, delivery_update kind or None)
Key = tuple[str, str, int, "str | None"]
Route = tuple[str, "str | None"]  # (event, kind)


@dataclass(frozen=True)
class Step:
    version: int
    action: str  # checkout | patch | assign | location
    status: str  # the order's status after the change
    previous: str | None  # previousStatus the status events must carry
    routes: dict[Route, frozenset[str]]
    location: tuple[float, float] | None = None


def _r(*audiences: str) -> frozenset[str]:
    return frozenset(audiences)


# Section 6: newOrder -> store-owners.
_CREATED = {(NEW_ORDER, None): _r(OWNERS)}
# Section 6: a status change -> orderStatusUpdated to store-owners + the customer, and
# customer_order_update to the customer. Section 8: the driver room gets orderStatusUpdated
# only from driver_assigned on; before that there is no driver.
_STATUS_NO_DRIVER = {(STATUS_UPDATED, None): _r(OWNERS, CUSTOMER),
                     (CUSTOMER_UPDATE, None): _r(CUSTOMER)}
# ... and once a driver is assigned, on a delivery order, driver_assigned / picked_up /
# in_transit / delivered also produce delivery_update (kind status) to all three.
_STATUS_WITH_DRIVER = {(STATUS_UPDATED, None): _r(OWNERS, CUSTOMER, DRIVER),
                       (CUSTOMER_UPDATE, None): _r(CUSTOMER),
                       (DELIVERY_UPDATE, "status"): _r(CUSTOMER, OWNERS, DRIVER)}
# A location report: delivery_update (kind location) to all three, nothing else.
_LOCATION = {(DELIVERY_UPDATE, "location"): _r(CUSTOMER, OWNERS, DRIVER)}

DELIVERY_STEPS: tuple[Step, ...] = (
    Step(1, "checkout", "pending", None, _CREATED),
    Step(2, "patch", "processing", "pending", _STATUS_NO_DRIVER),
    Step(3, "patch", "ready_for_delivery", "processing", _STATUS_NO_DRIVER),
    Step(4, "assign", "driver_assigned", "ready_for_delivery", _STATUS_WITH_DRIVER),
    Step(5, "patch", "picked_up", "driver_assigned", _STATUS_WITH_DRIVER),
    Step(6, "patch", "in_transit", "picked_up", _STATUS_WITH_DRIVER),
    Step(7, "location", "in_transit", None, _LOCATION, (52.5105, 13.3901)),
    Step(8, "location", "in_transit", None, _LOCATION, (52.5152, 13.3987)),
    Step(9, "patch", "delivered", "in_transit", _STATUS_WITH_DRIVER),
)

# A pickup order never has a driver and never produces delivery_update.
PICKUP_STEPS: tuple[Step, ...] = (
    Step(1, "checkout", "pending", None, _CREATED),
    Step(2, "patch", "processing", "pending", _STATUS_NO_DRIVER),
    Step(3, "patch", "ready_for_pickup", "processing", _STATUS_NO_DRIVER),
    Step(4, "patch", "delivered", "ready_for_pickup", _STATUS_NO_DRIVER),
)

STEPS = {OrderType.DELIVERY: DELIVERY_STEPS, OrderType.PICKUP: PICKUP_STEPS}
#: Status moves a driver makes (all others in the tables are the store owner's).
_DRIVER_MOVES = {(OrderType.DELIVERY, "picked_up"), (OrderType.DELIVERY, "in_transit"),
                 (OrderType.DELIVERY, "delivered")}


def expected_keys(steps: Iterable[Step], order_id: str, audience: str | None) -> Counter[Key]:
    """Everything a socket of `audience` must receive for this order, each once."""
    out: Counter[Key] = Counter()
    if audience is None:
        return out
    for step in steps:
        for (event, kind), audiences in step.routes.items():
            if audience in audiences:
                out[(event, order_id, step.version, kind)] += 1
    return out


def key_of(r: Received) -> Key:
    p = r.payload if isinstance(r.payload, dict) else {}
    kind = p.get("kind") if r.event == DELIVERY_UPDATE else None
    return (r.event, p.get("orderId"), p.get("version"), kind)


def for_orders(client: RealtimeClient, order_ids: Iterable[str]) -> list[Received]:
    ids = set(order_ids)
    return [r for r in client.received if isinstance(r.payload, dict) and r.payload.get("orderId") in ids]


def now_ms() -> int:
    return time.time_ns() // 1_000_000


# --- the cast ------------------------------------------------------------------------------

@dataclass
class Cast:
    customer: Session
    other_customer: Session
    owners: list[Session]
    driver: Session
    other_driver: Session
    sockets: dict[str, RealtimeClient] = field(default_factory=dict)
    #: socket name -> audience it belongs to for the cast's orders (None: no part in them)
    audience: dict[str, str | None] = field(default_factory=dict)

    @property
    def owner(self) -> Session:
        return self.owners[0]

    def expected(self, steps: Iterable[Step], order_id: str) -> dict[str, Counter[Key]]:
        steps = tuple(steps)
        return {name: expected_keys(steps, order_id, aud) for name, aud in self.audience.items()}


async def make_cast(world: World, *, owners: int = 2) -> Cast:
    """Users first, then every socket connected before any order exists."""
    people = await asyncio.gather(world.customer(), world.customer(), world.driver(), world.driver(),
                                  *[world.store_owner() for _ in range(owners)])
    customer, other_customer, driver, other_driver, *owner_list = people
    cast = Cast(customer, other_customer, list(owner_list), driver, other_driver)
    named: list[tuple[str, Session, str | None]] = [
        ("customer", customer, CUSTOMER), ("other_customer", other_customer, None),
        *[(f"owner{i + 1}", o, OWNERS) for i, o in enumerate(owner_list)],
        ("driver", driver, DRIVER), ("other_driver", other_driver, None),
    ]
    clients = await asyncio.gather(*[world.socket(s.token) for _, s, _ in named])
    for (name, _, aud), client in zip(named, clients):
        cast.sockets[name] = client
        cast.audience[name] = aud
    return cast


# --- running a lifecycle -------------------------------------------------------------------

@dataclass
class Run:
    order_type: OrderType
    steps: tuple[Step, ...]
    order: dict[str, Any] = field(default_factory=dict)  # the checkout response's order
    last: dict[str, Any] = field(default_factory=dict)  # the last HTTP answer's order
    #: version -> (time.monotonic(), epoch ms) just before the request that caused it
    triggered: dict[int, tuple[float, int]] = field(default_factory=dict)

    @property
    def order_id(self) -> str:
        return self.order["id"]


Expect = Callable[[str], dict[str, Counter[Key]]]


async def perform(world: World, cast: Cast, run: Run, step: Step) -> None:
    """Make the request that causes `step` (recording when it was sent)."""
    run.triggered[step.version] = (time.monotonic(), now_ms())
    api = world.api
    if step.action == "checkout":
        run.order = run.last = await world.order(cast.customer, run.order_type)
    elif step.action == "assign":
        run.last = await api.assign_driver(cast.owner.token, run.order_id, cast.driver.user_id)
    elif step.action == "patch":
        who = cast.driver if (run.order_type, step.status) in _DRIVER_MOVES else cast.owner
        run.last = await api.set_status(who.token, run.order_id, step.status)
    elif step.action == "location":
        assert step.location is not None
        lat, lng = step.location
        ack = await cast.sockets["driver"].call("driver_location",
                                                {"orderId": run.order_id, "lat": lat, "lng": lng})
        assert ack == {"ok": True}, f"location report refused: {ack!r}"
    else:  # pragma: no cover
        raise AssertionError(step.action)


async def settle(cast: Cast, order_id: str, wanted: dict[str, Counter[Key]],
                 versions: set[int] | None = None, timeout: float = 5.0) -> bool:
    """Wait until every socket holds (at least) what `wanted` gives it, for `versions`;
    False if that did not happen within `timeout`."""
    async def one(name: str, client: RealtimeClient) -> bool:
        need = Counter({k: n for k, n in wanted.get(name, Counter()).items()
                        if versions is None or k[2] in versions})
        if not need:
            return True

        def done(received: list[Received]) -> bool:
            got = Counter(key_of(r) for r in received if key_of(r)[1] == order_id)
            return all(got[k] >= n for k, n in need.items())
        return await client.wait_for(done, timeout=timeout)
    return all(await asyncio.gather(*[one(n, c) for n, c in cast.sockets.items()]))


async def run_lifecycle(world: World, cast: Cast, order_type: OrderType, expect: Expect, *,
                        back_to_back: Iterable[int] = (), timeout: float = 5.0) -> Run:
    """Walk the order through its table; after each step wait for that step's events.

    `expect(order_id)` says what each socket should receive (the tests bend it per fault);
    the versions in `back_to_back` are not waited for: the next request follows at once.
    """
    run = Run(order_type, STEPS[order_type])
    skip = set(back_to_back)
    wanted: dict[str, Counter[Key]] = {}
    pending: set[int] = set()
    for step in run.steps:
        await perform(world, cast, run, step)
        if step.action == "checkout":
            wanted = expect(run.order_id)
        pending.add(step.version)
        if step.version in skip:
            continue
        if not await settle(cast, run.order_id, wanted, pending, timeout):
            timeout = min(timeout, 0.5)  # already wrong: finish quickly, the checks will say why
        pending.clear()
    return run


# --- checks --------------------------------------------------------------------------------

def check_payloads(cast: Cast, run: Run, *, legacy: set[tuple[str, int]] = frozenset(),
                   clock_slack_ms: int = 1_000) -> list[str]:
    """Per received event of the run's order: valid, right values for its step."""
    problems: list[str] = []
    by_version = {s.version: s for s in run.steps}
    now = now_ms()
    for name, client in cast.sockets.items():
        for r in for_orders(client, [run.order_id]):
            p = r.payload
            where = f"{name}: {r.event} v{p.get('version')}"
            found = event_problem(r.event, p)
            if (r.event, p.get("version")) in legacy:
                if found is None or "legacy status" not in found:
                    problems.append(f"{where}: expected a legacy-status problem, got {found!r}")
            elif found is not None:
                problems.append(f"{where}: invalid payload: {found}")
            step = by_version.get(p.get("version"))
            if step is None:
                problems.append(f"{where}: no such version in the lifecycle")
                continue
            if p.get("customerId") != cast.customer.user_id:
                problems.append(f"{where}: customerId {p.get('customerId')!r}")
            if (r.event, p.get("version")) not in legacy:
                if p.get("status") != step.status:
                    problems.append(f"{where}: status {p.get('status')!r}, want {step.status!r}")
                if r.event in (STATUS_UPDATED, CUSTOMER_UPDATE) and p.get("previousStatus") != step.previous:
                    problems.append(f"{where}: previousStatus {p.get('previousStatus')!r}, "
                                    f"want {step.previous!r}")
            # emittedAt: an int, taken after the request that caused the change and by now
            # (same host: the server's clock is ours, but allow `clock_slack_ms`).
            emitted = p.get("emittedAt")
            sent = run.triggered.get(step.version, (0.0, now))[1]
            if type(emitted) is not int or not sent - clock_slack_ms <= emitted <= now + clock_slack_ms:
                problems.append(f"{where}: emittedAt {emitted!r} not an int between the request "
                                f"({sent}) and now ({now}), +-{clock_slack_ms} ms")
            if r.event == DELIVERY_UPDATE:
                if p.get("driverId") != cast.driver.user_id:
                    problems.append(f"{where}: driverId {p.get('driverId')!r}")
                if p.get("kind") == "location":
                    lat, lng = step.location or (None, None)
                    if p.get("location") != {"lat": lat, "lng": lng}:
                        problems.append(f"{where}: location {p.get('location')!r}, want {lat}, {lng}")
                    eta = p.get("eta")
                    if not (isinstance(eta, (int, float)) and eta >= 0):
                        problems.append(f"{where}: eta {eta!r} (the address has coordinates)")
            if r.event == NEW_ORDER and p.get("order") != run.order:
                problems.append(f"{where}: order {p.get('order')!r} != checkout's {run.order!r}")
    return problems


def check_event_ids(cast: Cast, order_ids: Iterable[str], *, copies: Callable[[Key], int] = lambda k: 1
                    ) -> list[str]:
    """One eventId per event: shared by all its recipients, never reused by another event;
    a socket sees each eventId `copies(key)` times (1 unless a fault duplicates)."""
    problems: list[str] = []
    ids_of: dict[Key, set[str]] = {}
    for name, client in cast.sockets.items():
        seen: Counter[str] = Counter()
        key_for_id: dict[str, Key] = {}
        for r in for_orders(client, order_ids):
            eid = r.payload.get("eventId")
            seen[eid] += 1
            key_for_id[eid] = key_of(r)
            ids_of.setdefault(key_of(r), set()).add(eid)
        for eid, n in seen.items():
            if n != copies(key_for_id[eid]):
                problems.append(f"{name}: eventId {eid} ({key_for_id[eid]}) received {n} times")
    owners_of: dict[str, Key] = {}
    for key, ids in ids_of.items():
        if len(ids) != 1:
            problems.append(f"{key}: different eventIds at different recipients: {sorted(ids)}")
        for eid in ids:
            if eid in owners_of and owners_of[eid] != key:
                problems.append(f"eventId {eid} used for {owners_of[eid]} and {key}")
            owners_of[eid] = key
    return problems


def check_version_order(cast: Cast, order_ids: Iterable[str], names: Iterable[str] | None = None
                        ) -> list[str]:
    """At each socket, each order's versions never go down in receipt order."""
    problems = []
    wanted = set(names) if names is not None else set(cast.sockets)
    for name, client in cast.sockets.items():
        if name not in wanted:
            continue
        last: dict[str, int] = {}
        for r in for_orders(client, order_ids):
            oid, v = r.payload["orderId"], r.payload.get("version")
            if isinstance(v, int) and v < last.get(oid, 0):
                problems.append(f"{name}: {r.event} v{v} of {oid} after v{last[oid]}")
            last[oid] = max(last.get(oid, 0), v if isinstance(v, int) else 0)
    return problems


def received_keys(cast: Cast, order_ids: Iterable[str]) -> dict[str, Counter[Key]]:
    ids = list(order_ids)
    return {name: Counter(key_of(r) for r in for_orders(c, ids)) for name, c in cast.sockets.items()}


def diff_keys(got: dict[str, Counter[Key]], want: dict[str, Counter[Key]]) -> list[str]:
    """Readable differences between two per-socket multisets."""
    out = []
    for name in sorted(set(got) | set(want)):
        g, w = got.get(name, Counter()), want.get(name, Counter())
        missing, extra = w - g, g - w
        if missing:
            out.append(f"{name} missing {sorted(missing.items(), key=str)}")
        if extra:
            out.append(f"{name} unexpected {sorted(extra.items(), key=str)}")
    return out
