"""The HTTP API, the rooms and the acked socket events, against the contract (sections 3-8).

Expected answers are computed from the machine-readable contract (the TRANSITIONS table,
section 8's precedence, the error codes), never copied from the server's code.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections import deque
from datetime import date
from typing import Any, Iterator

import httpx
import pytest
import socketio

from harness import payloads
from harness.api import HttpError, Session
from harness.contract import (
    LEGACY_STATUSES,
    MAX_BODY_BYTES,
    PAGE_LIMIT_DEFAULT,
    PAGE_LIMIT_MAX,
    ROOM_JOIN_ATTEMPTS,
    STORE_OWNERS_ROOM,
    TRANSITIONS,
    Actor,
    ClientEvent,
    DeliveryKind,
    ErrorCode,
    Event,
    OrderType,
    Role,
    Status,
    Transition,
    Via,
    customer_room,
    driver_room,
    event_problem,
    problem,
    rooms_for,
)
from harness.contract.schemas import (
    DRIVER_LOCATION_ACK,
    DRIVERS_OUT,
    GUEST_CHECKOUT_OUT,
    ORDER_LIST_OUT,
    ORDER_OUT,
    TIME_SYNC_ACK,
)
from harness.realtime import RealtimeClient
from tests.support.actors import World
from tests.support.probes import assert_error, claims, rooms_of_sid, signed
from tests.support.server import ServerThread
from tests.support.server import test_config as make_config

ORDERS = "/api/orders"
CHECKOUT = "/api/checkout"
ALL_STATUSES = {s.value for s in Status}
QUIET_S = 0.3


@pytest.fixture
async def w(server):
    async with World(server.url) as world:
        yield world


class Raw:
    """Any request at all (raw bytes, chunked bodies), with an optional bearer token."""

    def __init__(self, url: str) -> None:
        self.http = httpx.AsyncClient(base_url=url, timeout=10)

    async def __call__(self, method: str, path: str, *, token: str | None = None,
                      headers: dict[str, str] | None = None, **kwargs: Any) -> httpx.Response:
        hdrs = dict(headers or {})
        if token is not None:
            hdrs["Authorization"] = f"Bearer {token}"
        return await self.http.request(method, path, headers=hdrs, **kwargs)


@pytest.fixture
async def raw(server):
    client = Raw(server.url)
    yield client
    await client.http.aclose()


def unknown_id() -> str:
    return uuid.uuid4().hex


def assert_valid_events(client: RealtimeClient) -> None:
    for e in client.received:
        assert event_problem(e.event, e.payload) is None, (e.event, event_problem(e.event, e.payload))


def for_order(client: RealtimeClient, order_id: str, event: str | None = None) -> list[Any]:
    return client.events(event, order_id)


async def customer_order_count(w: World, customer: Session) -> int:
    return (await w.api.list_orders(customer.token))["total"]


# =================================================================================================
# Rooms (section 3)
# =================================================================================================

async def test_each_role_is_put_in_exactly_its_token_rooms(w, server):
    for session in [await w.customer(), await w.store_owner(), await w.driver()]:
        sock = await w.socket(session.token)
        sid = sock.sio.get_sid("/")
        assert rooms_of_sid(server, sid) - {sid} == set(rooms_for(session.role, session.user_id))


async def test_customer_socket_gets_its_own_order_events_and_no_new_order(w):
    customer, other, owner = await w.customer(), await w.customer(), await w.store_owner()
    mine, theirs = await w.socket(customer.token), await w.socket(other.token)
    order = await w.order(customer, OrderType.PICKUP)
    await w.api.set_status(owner.token, order["id"], Status.PROCESSING.value)
    assert await mine.wait_for(
        lambda r: {e.event for e in r if e.payload.get("orderId") == order["id"]}
        == {Event.ORDER_STATUS_UPDATED, Event.CUSTOMER_ORDER_UPDATE}, timeout=2)
    await asyncio.sleep(QUIET_S)
    assert sorted(e.event for e in mine.received) == sorted(
        [Event.ORDER_STATUS_UPDATED, Event.CUSTOMER_ORDER_UPDATE])
    for e in mine.received:
        assert e.payload["customerId"] == customer.user_id
        assert (e.payload["status"], e.payload["previousStatus"]) == ("processing", "pending")
        assert e.payload["version"] == 2
    assert_valid_events(mine)
    assert theirs.received == []


async def test_store_owner_gets_new_order_with_the_whole_order(w):
    customer, owner = await w.customer(), await w.store_owner()
    sock = await w.socket(owner.token)
    order = await w.order(customer, OrderType.DELIVERY)
    assert await sock.wait_for(lambda r: bool(for_order(sock, order["id"], Event.NEW_ORDER)), 2)
    [got] = for_order(sock, order["id"], Event.NEW_ORDER)
    assert event_problem(Event.NEW_ORDER, got.payload) is None
    assert got.payload["status"] == Status.PENDING and got.payload["version"] == 1
    assert got.payload["order"]["id"] == order["id"]
    assert got.payload["order"]["customerId"] == customer.user_id
    assert got.payload["order"]["total"] == order["total"]


async def test_driver_gets_events_only_from_assignment_on(w):
    customer, owner = await w.customer(), await w.store_owner()
    driver, bystander = await w.driver(), await w.driver()
    d_sock, b_sock = await w.socket(driver.token), await w.socket(bystander.token)
    order = await w.order(customer, OrderType.DELIVERY)
    order = await w.advance(order, Status.READY_FOR_DELIVERY, owner=owner, driver=driver)
    await asyncio.sleep(QUIET_S)
    assert d_sock.received == [] and b_sock.received == []

    await w.api.assign_driver(owner.token, order["id"], driver.user_id)
    assert await d_sock.wait_for(
        lambda r: {(e.event, e.payload.get("kind")) for e in r} >= {
            (Event.ORDER_STATUS_UPDATED, None), (Event.DELIVERY_UPDATE, DeliveryKind.STATUS)}, 2)
    await w.api.set_status(driver.token, order["id"], Status.PICKED_UP.value)
    assert await d_sock.wait_for(
        lambda r: sum(e.payload.get("status") == "picked_up" for e in r) == 2, 2)
    await asyncio.sleep(QUIET_S)
    got = [(e.event, e.payload["status"]) for e in d_sock.received]
    assert sorted(got) == sorted([
        (Event.ORDER_STATUS_UPDATED, "driver_assigned"), (Event.DELIVERY_UPDATE, "driver_assigned"),
        (Event.ORDER_STATUS_UPDATED, "picked_up"), (Event.DELIVERY_UPDATE, "picked_up")])
    for e in d_sock.received:
        assert e.payload["orderId"] == order["id"]
        if e.event == Event.DELIVERY_UPDATE:
            assert e.payload["driverId"] == driver.user_id
    assert_valid_events(d_sock)
    assert b_sock.received == []


def _join_payloads(victim: Session, owner: Session, driver: Session) -> Iterator[Any]:
    for room in (customer_room(victim.user_id), victim.user_id, STORE_OWNERS_ROOM,
                 driver_room(driver.user_id), driver.user_id, customer_room(owner.user_id)):
        yield room
        yield {"room": room}
        yield {"roomId": room, "id": room}
    yield {"customerId": victim.user_id}
    yield {"driverId": driver.user_id}


async def test_no_client_event_joins_a_room(w, server):
    victim, attacker = await w.customer(), await w.customer()
    owner, driver = await w.store_owner(), await w.driver()
    a_sock = await w.socket(attacker.token)
    sid = a_sock.sio.get_sid("/")
    for event in (*ROOM_JOIN_ATTEMPTS, "join_room", "enter"):
        for data in _join_payloads(victim, owner, driver):
            await a_sock.emit(event, data)
    # ... and with an ack callback, in case a server only honours acked joins
    for event in ROOM_JOIN_ATTEMPTS:
        await a_sock.sio.emit(event, STORE_OWNERS_ROOM, callback=lambda *a: None)
    ack = await a_sock.call(ClientEvent.TIME_SYNC.value, {})  # all of the above was handled
    assert "serverTime" in ack
    assert rooms_of_sid(server, sid) - {sid} == {customer_room(attacker.user_id)}

    v_sock = await w.socket(victim.token)  # the control: the victim's events do go out
    order = await w.order(victim, OrderType.DELIVERY)
    await w.advance(order, Status.PICKED_UP, owner=owner, driver=driver)
    assert await v_sock.wait_for(
        lambda r: any(e.payload.get("status") == "picked_up" for e in r), 2)
    await asyncio.sleep(QUIET_S)
    assert a_sock.received == []
    assert rooms_of_sid(server, sid) - {sid} == {customer_room(attacker.user_id)}


# =================================================================================================
# Transitions (sections 4 and 8), every (from, to) pair, every relation to the order
# =================================================================================================

RELATIONS = ("store_owner", "order_customer", "other_customer", "assigned_driver", "other_driver")
_ACTOR_OF = {"store_owner": Actor.STORE_OWNER, "order_customer": Actor.ORDER_CUSTOMER,
             "assigned_driver": Actor.ASSIGNED_DRIVER}


def expected_patch(relation: str, source: Status, target: Status, order_type: OrderType,
                   driver_assigned: bool) -> tuple[int, ErrorCode | None, dict[str, Any] | None]:
    """What PATCH {status: target} must answer, from the TRANSITIONS table and section 8."""
    visible = relation in ("store_owner", "order_customer") or (
        relation == "assigned_driver" and driver_assigned)
    if not visible:
        return 404, ErrorCode.NOT_FOUND, None
    moves = [t for t in TRANSITIONS if t.source is source and order_type in t.order_types]
    move = next((t for t in moves if t.target is target and t.via is Via.PATCH_STATUS), None)
    if move is None:
        return 409, ErrorCode.INVALID_TRANSITION, {
            "currentStatus": source.value, "allowedNext": {t.target.value for t in moves}}
    if _ACTOR_OF.get(relation) not in move.actors:
        return 403, ErrorCode.TRANSITION_FORBIDDEN, None
    return 200, None, None


def reachable(order_type: OrderType) -> dict[Status, list[Transition]]:
    """Every status an order of this type can reach from `pending`, with a shortest path."""
    paths: dict[Status, list[Transition]] = {Status.PENDING: []}
    queue = deque([Status.PENDING])
    while queue:
        here = queue.popleft()
        for t in TRANSITIONS:
            if t.source is here and order_type in t.order_types and t.target not in paths:
                paths[t.target] = [*paths[here], t]
                queue.append(t.target)
    return paths


class Cast:
    def __init__(self, w: World, owner: Session, customer: Session, other_customer: Session,
                 driver: Session, other_driver: Session) -> None:
        self.w = w
        self.by_relation = {"store_owner": owner, "order_customer": customer,
                            "other_customer": other_customer, "assigned_driver": driver,
                            "other_driver": other_driver}

    def actor(self, actor: Actor) -> Session:
        return self.by_relation[{Actor.STORE_OWNER: "store_owner",
                                 Actor.ORDER_CUSTOMER: "order_customer",
                                 Actor.ASSIGNED_DRIVER: "assigned_driver"}[actor]]

    async def build(self, order_type: OrderType, path: list[Transition]) -> dict[str, Any]:
        api = self.w.api
        order = await self.w.order(self.by_relation["order_customer"], order_type)
        for t in path:
            if t.via is Via.ASSIGN_DRIVER:
                order = await api.assign_driver(self.actor(Actor.STORE_OWNER).token, order["id"],
                                                self.by_relation["assigned_driver"].user_id)
            else:
                actor = sorted(t.actors)[0]
                order = await api.set_status(self.actor(actor).token, order["id"], t.target.value)
            assert order["status"] == t.target
        return order


def _moves_at(source: Status, order_type: OrderType, driver_assigned: bool
              ) -> tuple[list[tuple[str, Status]], list[tuple[str, Status, Any]]]:
    """Every (relation, target) at `source`: the allowed ones, and the refused with their answer."""
    allowed: list[tuple[str, Status]] = []
    refused: list[tuple[str, Status, Any]] = []
    for target in Status:
        for relation in RELATIONS:
            exp = expected_patch(relation, source, target, order_type, driver_assigned)
            if exp[0] == 200:
                allowed.append((relation, target))
            else:
                refused.append((relation, target, exp))
    return allowed, refused


async def _patch(w: World, cast: Cast, order: dict[str, Any], relation: str,
                 target: Status) -> httpx.Response:
    return await w.api.request("PATCH", f"{ORDERS}/{order['id']}/status",
                               token=cast.by_relation[relation].token, json={"status": target.value})


async def _check_refused(w: World, cast: Cast, order: dict[str, Any], source: Status,
                         order_type: OrderType, refused: list[tuple[str, Status, Any]]) -> list[str]:
    """Send every refused move at once; the mismatches, and a check that nothing changed."""
    mismatches: list[str] = []
    answers = await asyncio.gather(*(_patch(w, cast, order, rel, tgt) for rel, tgt, _ in refused))
    for (relation, target, (status, code, details)), r in zip(refused, answers):
        label = f"{order_type.value}: {source.value}->{target.value} by {relation}"
        body = r.json() if r.headers.get("content-type", "").startswith("application/json") else {}
        err = body.get("error") or {}
        if r.status_code != status or err.get("code") != code:
            mismatches.append(f"{label}: got {r.status_code} {err.get('code')}, want {status} {code}")
        elif details is not None:
            got = err.get("details") or {}
            nexts = got.get("allowedNext")
            if (got.get("currentStatus") != details["currentStatus"]
                    or not isinstance(nexts, list) or len(nexts) != len(set(nexts))
                    or set(nexts) != details["allowedNext"]):
                mismatches.append(f"{label}: 409 details {got}, want {details}")
    after = await w.api.order(cast.by_relation["store_owner"].token, order["id"])
    if (after["status"], after["version"], after["updatedAt"]) != (
            order["status"], order["version"], order["updatedAt"]):
        mismatches.append(f"{order_type.value}: refused moves changed the order at {source}")
    return mismatches


@pytest.mark.parametrize("order_type", list(OrderType))
async def test_every_transition_answers_as_the_contract_says(w, order_type):
    cast = Cast(w, await w.store_owner(), await w.customer(), await w.customer(),
                await w.driver(), await w.driver())
    paths = reachable(order_type)
    expected_reachable = ({"pending", "processing", "cancelled", "delivered", "ready_for_pickup"}
                          if order_type is OrderType.PICKUP else
                          ALL_STATUSES - {"ready_for_pickup"})
    assert {s.value for s in paths} == expected_reachable  # the table itself, as read here
    mismatches: list[str] = []
    checked = 0
    for source, path in paths.items():
        order = await cast.build(order_type, path)
        assigned = order["driverId"] == cast.by_relation["assigned_driver"].user_id
        allowed, refused = _moves_at(source, order_type, assigned)
        mismatches += await _check_refused(w, cast, order, source, order_type, refused)
        checked += len(refused)

        # each allowed move on an order of its own, built to this state
        for i, (relation, target) in enumerate(allowed):
            subject = order if i == 0 else await cast.build(order_type, path)
            r = await _patch(w, cast, subject, relation, target)
            checked += 1
            label = f"{order_type.value}: {source.value}->{target.value} by {relation}"
            if r.status_code != 200:
                mismatches.append(f"{label}: got {r.status_code} {r.text}, want 200")
                continue
            moved = r.json()["order"]
            assert problem(ORDER_OUT, r.json()) is None, problem(ORDER_OUT, r.json())
            if (moved["status"], moved["version"]) != (target.value, subject["version"] + 1) \
                    or moved["statusHistory"][-1]["status"] != target.value \
                    or len(moved["statusHistory"]) != len(subject["statusHistory"]) + 1:
                mismatches.append(f"{label}: answered {moved['status']} v{moved['version']}")
    assert mismatches == []
    assert checked == len(paths) * len(Status) * len(RELATIONS)


@pytest.mark.parametrize("order_type", list(OrderType))
async def test_statuses_the_api_cannot_reach_allow_no_move(w, server, order_type):
    """The rest of the 9 x 9 grid: a status no API path reaches on this order type (a pickup
    order `in_transit`, say), written straight into the collection as a script might. The
    table has no move out of it for this type, so every move is a 409 (or 404 if unseen)."""
    cast = Cast(w, await w.store_owner(), await w.customer(), await w.customer(),
                await w.driver(), await w.driver())
    unreachable = [s for s in Status if s not in reachable(order_type)]
    assert unreachable  # both types have some
    mismatches: list[str] = []
    for source in unreachable:
        order = await w.order(cast.by_relation["order_customer"], order_type)
        driver_id = cast.by_relation["assigned_driver"].user_id if source in (
            Status.DRIVER_ASSIGNED, Status.PICKED_UP, Status.IN_TRANSIT) else None

        async def write(order_id: str = order["id"], status: Status = source,
                        driver: str | None = driver_id) -> None:
            await server.server.store.orders.update_one(
                {"_id": order_id},
                {"$set": {"status": status.value, "previousStatus": "pending", "driverId": driver},
                 "$inc": {"version": 1}})
        server.call(write)
        order = await w.api.order(cast.by_relation["store_owner"].token, order["id"])
        assert order["status"] == source
        allowed, refused = _moves_at(source, order_type, driver_id is not None)
        assert allowed == []
        mismatches += await _check_refused(w, cast, order, source, order_type, refused)
    assert mismatches == []


async def test_patch_to_driver_assigned_is_409_even_for_the_owner(w):
    customer, owner = await w.customer(), await w.store_owner()
    order = await w.advance(await w.order(customer), Status.READY_FOR_DELIVERY, owner=owner)
    r = await w.api.request("PATCH", f"{ORDERS}/{order['id']}/status", token=owner.token,
                            json={"status": "driver_assigned"})
    err = assert_error(r, 409, ErrorCode.INVALID_TRANSITION)
    assert err["details"]["currentStatus"] == "ready_for_delivery"
    assert set(err["details"]["allowedNext"]) == {"driver_assigned"}
    assert (await w.api.order(owner.token, order["id"]))["version"] == order["version"]


async def test_assign_driver_rules(w):
    customer, owner = await w.customer(), await w.store_owner()
    driver, driver2 = await w.driver(), await w.driver()
    order = await w.advance(await w.order(customer), Status.READY_FOR_DELIVERY, owner=owner)
    path = f"{ORDERS}/{order['id']}/assign-driver"

    for not_a_driver in (customer.user_id, owner.user_id, unknown_id(), "nobody"):
        r = await w.api.request("POST", path, token=owner.token, json={"driverId": not_a_driver})
        assert_error(r, 422, ErrorCode.UNKNOWN_DRIVER)
    for wrong_role in (customer, driver):
        r = await w.api.request("POST", path, token=wrong_role.token, json={"driverId": driver.user_id})
        assert_error(r, 403, ErrorCode.FORBIDDEN)
    unchanged = await w.api.order(owner.token, order["id"])
    assert (unchanged["status"], unchanged["version"], unchanged["driverId"]) == (
        "ready_for_delivery", order["version"], None)

    r = await w.api.request("POST", path, token=owner.token, json={"driverId": driver.user_id})
    assert r.status_code == 200, r.text
    assert problem(ORDER_OUT, r.json()) is None
    assigned = r.json()["order"]
    assert (assigned["status"], assigned["driverId"], assigned["version"]) == (
        "driver_assigned", driver.user_id, order["version"] + 1)

    for again in (driver, driver2):
        r = await w.api.request("POST", path, token=owner.token, json={"driverId": again.user_id})
        err = assert_error(r, 409, ErrorCode.INVALID_TRANSITION)
        assert err["details"]["currentStatus"] == "driver_assigned"
        assert set(err["details"]["allowedNext"]) == {"picked_up"}
    now = await w.api.order(owner.token, order["id"])
    assert (now["driverId"], now["version"]) == (driver.user_id, assigned["version"])
    assert (await w.api.order(driver.token, order["id"]))["id"] == order["id"]
    with pytest.raises(HttpError) as hidden:
        await w.api.order(driver2.token, order["id"])
    assert (hidden.value.status, hidden.value.code) == (404, "not_found")

    # not in `ready_for_delivery`: 409 on a delivery order before it is ready, and on pickups
    early = await w.order(customer, OrderType.DELIVERY)
    pickup = await w.order(customer, OrderType.PICKUP)
    ready_pickup = await w.advance(await w.order(customer, OrderType.PICKUP),
                                   Status.READY_FOR_PICKUP, owner=owner)
    for subject, current in ((early, "pending"), (pickup, "pending"),
                             (ready_pickup, "ready_for_pickup")):
        r = await w.api.request("POST", f"{ORDERS}/{subject['id']}/assign-driver",
                                token=owner.token, json={"driverId": driver.user_id})
        err = assert_error(r, 409, ErrorCode.INVALID_TRANSITION)
        assert err["details"]["currentStatus"] == current
        got = await w.api.order(owner.token, subject["id"])
        assert (got["status"], got["driverId"]) == (current, None)

    # precedence on assign-driver: 422 (unknown driver) before 404 (unknown order)
    r = await w.api.request("POST", f"{ORDERS}/{unknown_id()}/assign-driver", token=owner.token,
                            json={"driverId": "nobody"})
    assert_error(r, 422, ErrorCode.UNKNOWN_DRIVER)
    r = await w.api.request("POST", f"{ORDERS}/{unknown_id()}/assign-driver", token=owner.token,
                            json={"driverId": driver.user_id})
    assert_error(r, 404, ErrorCode.NOT_FOUND)


async def test_racing_moves_have_exactly_one_winner(w):
    customer, owner = await w.customer(), await w.store_owner()
    drivers = [await w.driver() for _ in range(4)]
    o_sock = await w.socket(owner.token)
    ready = await w.advance(await w.order(customer), Status.READY_FOR_DELIVERY, owner=owner)
    answers = await asyncio.gather(*(
        w.api.request("POST", f"{ORDERS}/{ready['id']}/assign-driver", token=owner.token,
                      json={"driverId": d.user_id}) for d in drivers))
    assert sorted(r.status_code for r in answers) == [200, 409, 409, 409]
    [winner] = [r.json()["order"] for r in answers if r.status_code == 200]
    now = await w.api.order(owner.token, ready["id"])
    assert (now["driverId"], now["version"]) == (winner["driverId"], ready["version"] + 1)
    assert len(now["statusHistory"]) == len(ready["statusHistory"]) + 1

    fresh = await w.order(customer, OrderType.PICKUP)
    moves = [(owner, "processing")] * 4 + [(customer, "cancelled")] * 4
    answers = await asyncio.gather(*(
        w.api.request("PATCH", f"{ORDERS}/{fresh['id']}/status", token=who.token,
                      json={"status": target}) for who, target in moves))
    codes = [r.status_code for r in answers]
    assert codes.count(200) == 1, codes
    won = next(target for (who, target), r in zip(moves, answers) if r.status_code == 200)
    for (who, target), r in zip(moves, answers):
        if r.status_code != 200:
            # after `processing` a customer's cancel exists but is not theirs (403); any other
            # loser asks for a move that no longer exists (409)
            want = 403 if (won == "processing" and who is customer) else 409
            assert r.status_code == want, (won, target, r.text)
    now = await w.api.order(owner.token, fresh["id"])
    assert (now["status"], now["version"]) == (won, 2)
    assert [h["status"] for h in now["statusHistory"]] == ["pending", won]
    assert await o_sock.wait_for(
        lambda r: len(for_order(o_sock, fresh["id"], Event.ORDER_STATUS_UPDATED)) >= 1, 2)
    await asyncio.sleep(QUIET_S)
    assert len(for_order(o_sock, fresh["id"], Event.ORDER_STATUS_UPDATED)) == 1
    assert [e.payload["status"] for e in for_order(o_sock, ready["id"], Event.ORDER_STATUS_UPDATED)
            ].count("driver_assigned") == 1


# =================================================================================================
# Legacy statuses (section 4)
# =================================================================================================

async def test_legacy_and_unknown_statuses_in_patch_are_422_listing_the_nine(w):
    customer, owner = await w.customer(), await w.store_owner()
    order = await w.order(customer, OrderType.PICKUP)
    for value in [*LEGACY_STATUSES, "bogus", "", "PENDING", "Pending", " pending"]:
        for who in (owner, customer):
            r = await w.api.request("PATCH", f"{ORDERS}/{order['id']}/status", token=who.token,
                                    json={"status": value})
            err = assert_error(r, 422, ErrorCode.INVALID_STATUS)
            valid = err["details"]["validStatuses"]
            assert isinstance(valid, list) and len(valid) == 9 and set(valid) == ALL_STATUSES
    after = await w.api.order(owner.token, order["id"])
    assert (after["status"], after["version"]) == ("pending", 1)


async def test_status_filter_on_list_rejects_legacy_values_and_filters_valid_ones(w):
    customer, owner = await w.customer(), await w.store_owner()
    first = await w.order(customer, OrderType.PICKUP)
    second = await w.order(customer, OrderType.PICKUP)
    await w.api.set_status(owner.token, second["id"], Status.PROCESSING.value)
    for value in [*LEGACY_STATUSES, "bogus"]:
        r = await w.api.request("GET", ORDERS, token=customer.token, params={"status": value})
        err = assert_error(r, 422, ErrorCode.INVALID_STATUS)
        assert set(err["details"]["validStatuses"]) == ALL_STATUSES
        assert len(err["details"]["validStatuses"]) == 9
    pending = await w.api.list_orders(customer.token, status="pending")
    assert [o["id"] for o in pending["orders"]] == [first["id"]] and pending["total"] == 1
    processing = await w.api.list_orders(customer.token, status="processing")
    assert [o["id"] for o in processing["orders"]] == [second["id"]]
    assert (await w.api.list_orders(customer.token, status="delivered"))["orders"] == []


# =================================================================================================
# Checkout (section 5)
# =================================================================================================

async def test_every_checkout_path_starts_pending(w):
    customer, owner = await w.customer(), await w.store_owner()
    o_sock = await w.socket(owner.token)
    made: list[dict[str, Any]] = []
    for order_type in OrderType:
        for payment in (payloads.card_payment(), payloads.saved_payment()):
            r = await w.api.request("POST", CHECKOUT, token=customer.token,
                                    json=payloads.checkout(order_type, payment=payment))
            assert r.status_code == 201, r.text
            assert problem(ORDER_OUT, r.json()) is None, problem(ORDER_OUT, r.json())
            assert r.json()["order"]["customerId"] == customer.user_id
            made.append(r.json()["order"])
            r = await w.api.request("POST", "/api/guest/checkout", json=payloads.guest_checkout(
                order_type, payment=payment, email=f"g{time.time_ns()}@example.test"))
            assert r.status_code == 201, r.text
            assert problem(GUEST_CHECKOUT_OUT, r.json()) is None, problem(GUEST_CHECKOUT_OUT, r.json())
            made.append(r.json()["order"])
    for order in made:
        assert (order["status"], order["version"], order["driverId"]) == ("pending", 1, None)
        assert [h["status"] for h in order["statusHistory"]] == ["pending"]
        assert order["storeId"] == "store-1"
        assert (order["deliveryAddress"] is None) == (order["orderType"] == "pickup")
    ids = {o["id"] for o in made}
    assert await o_sock.wait_for(
        lambda r: {e.payload["orderId"] for e in r if e.event == Event.NEW_ORDER} >= ids, 3)
    for e in o_sock.received:
        if e.payload["orderId"] in ids:
            assert e.payload["status"] == "pending" and e.payload["order"]["status"] == "pending"
    assert_valid_events(o_sock)


async def test_total_is_computed_by_the_server_and_client_fields_are_ignored(w):
    customer, other = await w.customer(), await w.customer()
    items = [{"productId": "a", "name": "A", "quantity": 3, "unitPrice": 19.99},
             {"productId": "b", "name": "B", "quantity": 1, "unitPrice": 0.1},
             {"productId": "c", "name": "C", "quantity": 7, "unitPrice": 0.3},
             {"productId": "d", "name": "D", "quantity": 10, "unitPrice": 0.104, "total": 99}]
    body = payloads.checkout(OrderType.DELIVERY, items=items, total=0.01, status="delivered",
                             version=42, customerId=other.user_id, driverId="someone",
                             statusHistory=[], id="chosen-id")
    order = await w.api.checkout(customer.token, body)
    assert problem(ORDER_OUT, {"order": order}) is None
    assert (order["status"], order["version"], order["customerId"], order["driverId"]) == (
        "pending", 1, customer.user_id, None)
    assert order["id"] != "chosen-id"
    for item in order["items"]:
        assert item["unitPrice"] == round(item["unitPrice"], 2)
    assert [i["unitPrice"] for i in order["items"][:3]] == [19.99, 0.1, 0.3]
    assert order["total"] == round(order["total"], 2)
    assert order["total"] == round(sum(i["quantity"] * i["unitPrice"] for i in order["items"]), 2)
    assert 63.16 <= order["total"] <= 63.21  # 59.97 + 0.10 + 2.10 + (1.00 or 1.04)
    assert order["total"] != 0.01
    # what a customer reads back is the same total
    assert (await w.api.order(customer.token, order["id"]))["total"] == order["total"]
    simple = await w.api.checkout(customer.token, payloads.checkout(
        OrderType.PICKUP, items=[{"productId": "x", "name": "X", "quantity": 3, "unitPrice": 0.1}],
        total=1000))
    assert simple["total"] == 0.3


async def test_bad_cards_are_402_and_create_nothing(w):
    customer = await w.customer()
    today = date.today()
    bad_luhn = payloads.card_payment(number="4242 4242 4242 4241")
    not_digits = payloads.card_payment(number="not a card number")
    expired = {"method": "card", "card": {**payloads.card(), "expMonth": 12, "expYear": today.year - 1}}
    for payment, code in ((bad_luhn, ErrorCode.CARD_INVALID), (not_digits, ErrorCode.CARD_INVALID),
                          (expired, ErrorCode.CARD_EXPIRED)):
        r = await w.api.request("POST", CHECKOUT, token=customer.token,
                                json=payloads.checkout(OrderType.PICKUP, payment=payment))
        assert_error(r, 402, code)
        g = await w.api.request("POST", "/api/guest/checkout",
                                json=payloads.guest_checkout(OrderType.PICKUP, payment=payment))
        assert_error(g, 402, code)
    assert await customer_order_count(w, customer) == 0
    # a card that expires at the end of this month is still good
    this_month = {"method": "card",
                  "card": {**payloads.card(), "expMonth": today.month, "expYear": today.year}}
    r = await w.api.request("POST", CHECKOUT, token=customer.token,
                            json=payloads.checkout(OrderType.PICKUP, payment=this_month))
    assert r.status_code == 201, r.text
    assert await customer_order_count(w, customer) == 1


async def test_unknown_store_is_422_and_creates_nothing(w):
    customer = await w.customer()
    r = await w.api.request("POST", CHECKOUT, token=customer.token,
                            json=payloads.checkout(OrderType.PICKUP, storeId="store-999"))
    assert_error(r, 422, ErrorCode.UNKNOWN_STORE)
    ok = await w.api.request("POST", CHECKOUT, token=customer.token,
                             json=payloads.checkout(OrderType.PICKUP, storeId="store-1"))
    assert ok.status_code == 201
    assert await customer_order_count(w, customer) == 1


# =================================================================================================
# No existence leak (section 4)
# =================================================================================================

async def test_someone_elses_order_is_the_same_404_as_an_unknown_one(w):
    alice, bob, owner = await w.customer(), await w.customer(), await w.store_owner()
    driver, stranger_driver = await w.driver(), await w.driver()
    bobs = await w.order(bob, OrderType.DELIVERY)
    unassigned = await w.advance(await w.order(bob), Status.READY_FOR_DELIVERY, owner=owner)
    assigned = await w.advance(await w.order(bob), Status.DRIVER_ASSIGNED, owner=owner,
                               driver=driver)

    async def pair(token: str, existing_id: str, method: str, suffix: str,
                   body: Any = None) -> None:
        real = await w.api.request(method, f"{ORDERS}/{existing_id}{suffix}", token=token, json=body)
        fake = await w.api.request(method, f"{ORDERS}/{unknown_id()}{suffix}", token=token, json=body)
        assert_error(real, 404, ErrorCode.NOT_FOUND)
        assert real.content == fake.content, (real.content, fake.content)
        assert real.headers.get("content-type") == fake.headers.get("content-type")

    for order in (bobs, unassigned, assigned):
        await pair(alice.token, order["id"], "GET", "")
        await pair(alice.token, order["id"], "PATCH", "/status", {"status": "cancelled"})
        await pair(alice.token, order["id"], "PATCH", "/status", {"status": "processing"})
        await pair(stranger_driver.token, order["id"], "GET", "")
        await pair(stranger_driver.token, order["id"], "PATCH", "/status", {"status": "picked_up"})
    for order in (bobs, unassigned):
        await pair(driver.token, order["id"], "GET", "")
        await pair(driver.token, order["id"], "PATCH", "/status", {"status": "picked_up"})
    # nothing moved
    for order in (bobs, unassigned, assigned):
        now = await w.api.order(owner.token, order["id"])
        assert now["version"] == order["version"]
    listed = await w.api.list_orders(alice.token)
    assert listed["orders"] == [] and listed["total"] == 0


# =================================================================================================
# Malformed bodies (section 5): 400 / 413 with the JSON error shape, and nothing changes
# =================================================================================================

def _items(n: int) -> list[dict[str, Any]]:
    return [{"productId": f"p{i}", "name": f"P{i}", "quantity": 1, "unitPrice": 1.0}
            for i in range(n)]


def _with_item(**changes: Any) -> dict[str, Any]:
    item = {"productId": "p", "name": "P", "quantity": 1, "unitPrice": 2.5, **changes}
    return payloads.checkout(OrderType.PICKUP, items=[{k: v for k, v in item.items()
                                                       if v is not _MISSING}])


_MISSING = object()


def _without(key: str, order_type: OrderType = OrderType.DELIVERY) -> dict[str, Any]:
    body = payloads.checkout(order_type)
    del body[key]
    return body


BAD_CHECKOUT_BODIES: dict[str, Any] = {
    "items_a_string": payloads.checkout(OrderType.PICKUP, items="three apples"),
    "items_an_object": payloads.checkout(OrderType.PICKUP, items={"productId": "p"}),
    "items_empty": payloads.checkout(OrderType.PICKUP, items=[]),
    "items_101": payloads.checkout(OrderType.PICKUP, items=_items(101)),
    "quantity_0": _with_item(quantity=0),
    "quantity_101": _with_item(quantity=101),
    "quantity_1.5": _with_item(quantity=1.5),
    "quantity_negative": _with_item(quantity=-1),
    "quantity_string": _with_item(quantity="2"),
    "quantity_true": _with_item(quantity=True),
    "quantity_null": _with_item(quantity=None),
    "unit_price_negative": _with_item(unitPrice=-0.01),
    "unit_price_string": _with_item(unitPrice="4.50"),
    "item_without_product_id": _with_item(productId=_MISSING),
    "item_without_unit_price": _with_item(unitPrice=_MISSING),
    "item_not_an_object": payloads.checkout(OrderType.PICKUP, items=["p1"]),
    "missing_items": _without("items"),
    "missing_order_type": _without("orderType"),
    "missing_payment": _without("payment"),
    "delivery_without_address": _without("deliveryAddress"),
    "address_without_city": payloads.checkout(
        OrderType.DELIVERY, deliveryAddress={"street": "s", "postalCode": "1"}),
    "order_type_unknown": payloads.checkout(OrderType.PICKUP, orderType="drone"),
    "order_type_number": payloads.checkout(OrderType.PICKUP, orderType=1),
    "payment_method_cash": payloads.checkout(OrderType.PICKUP, payment={"method": "cash"}),
    "payment_a_string": payloads.checkout(OrderType.PICKUP, payment="card"),
    "card_without_cvc": payloads.checkout(OrderType.PICKUP, payment={
        "method": "card", "card": {k: v for k, v in payloads.card().items() if k != "cvc"}}),
    "card_month_13": payloads.checkout(OrderType.PICKUP, payment={
        "method": "card", "card": {**payloads.card(), "expMonth": 13}}),
    "saved_without_id": payloads.checkout(OrderType.PICKUP, payment={"method": "saved"}),
    "saved_empty_id": payloads.checkout(OrderType.PICKUP, payment={"method": "saved",
                                                                   "paymentMethodId": ""}),
    "body_an_array": [payloads.checkout(OrderType.PICKUP)],
    "body_a_string": "checkout please",
    "body_null": None,
    "body_a_number": 42,
}


_VALID = json.dumps(_with_item(unitPrice=1.25)).encode()

#: Not JSON (RFC 8259): `NaN` and `Infinity` are Python's extensions, not JSON's.
NOT_JSON_BODIES: dict[str, bytes] = {
    "not_json": b"{items: [}",
    "empty": b"",
    "truncated": b'{"items": [',
    "not_utf8": b'{"items": "\xff\xfe"}',
    "form": b"items=1&total=2",
    "trailing_garbage": _VALID + b"}",
    "nan_unit_price": _VALID.replace(b'"unitPrice": 1.25', b'"unitPrice": NaN'),
    "infinity_unit_price": _VALID.replace(b'"unitPrice": 1.25', b'"unitPrice": Infinity'),
    "nan_in_ignored_field": _VALID[:-1] + b', "extra": NaN}',
    "minus_infinity_in_address": json.dumps(payloads.checkout(OrderType.DELIVERY)).encode()
    .replace(b'"lat": 52.52', b'"lat": -Infinity'),
}


async def test_malformed_checkout_bodies_are_400_and_create_nothing(w, raw):
    customer = await w.customer()
    wrong: list[str] = []
    for name, body in BAD_CHECKOUT_BODIES.items():
        r = await raw("POST", CHECKOUT, token=customer.token, content=json.dumps(body).encode(),
                      headers={"Content-Type": "application/json"})
        try:
            assert_error(r, 400, ErrorCode.INVALID_BODY)
        except (AssertionError, ValueError) as exc:
            wrong.append(f"{name}: {exc}")
    for name, content in NOT_JSON_BODIES.items():
        r = await raw("POST", CHECKOUT, token=customer.token, content=content,
                      headers={"Content-Type": "application/json"})
        try:
            assert_error(r, 400, ErrorCode.INVALID_JSON)
        except (AssertionError, ValueError) as exc:
            wrong.append(f"{name}: {exc}")
    # valid JSON, but nested deeper than any parser need go: 400 either way, never a 500
    for name, content in {"deep_array": b"[" * 20_000 + b"]" * 20_000,
                          "deep_in_ignored_field": _VALID[:-1] + b', "x": ' + b"[" * 5000
                          + b"]" * 5000 + b"}"}.items():
        r = await raw("POST", CHECKOUT, token=customer.token, content=content,
                      headers={"Content-Type": "application/json"})
        code = r.json().get("error", {}).get("code") if r.status_code == 400 else None
        try:
            assert_error(r, 400, code if code in ("invalid_json", "invalid_body") else "?")
        except (AssertionError, ValueError) as exc:
            wrong.append(f"{name}: {exc}")
    assert wrong == []
    assert await customer_order_count(w, customer) == 0
    # the limits themselves are fine: 100 items, quantity 100
    ok = await w.api.request("POST", CHECKOUT, token=customer.token,
                             json=payloads.checkout(OrderType.PICKUP, items=_items(100)))
    assert ok.status_code == 201, ok.text
    ok = await w.api.request("POST", CHECKOUT, token=customer.token, json=_with_item(quantity=100))
    assert ok.status_code == 201, ok.text
    assert await customer_order_count(w, customer) == 2


async def test_malformed_patch_and_assign_bodies_are_400_and_change_nothing(w, raw):
    customer, owner, driver = await w.customer(), await w.store_owner(), await w.driver()
    order = await w.advance(await w.order(customer), Status.READY_FOR_DELIVERY, owner=owner)
    for body in ({}, {"status": 5}, {"status": None}, {"status": ["processing"]},
                 {"state": "cancelled"}, [], "cancelled"):
        r = await w.api.request("PATCH", f"{ORDERS}/{order['id']}/status", token=owner.token,
                                json=body)
        assert_error(r, 400, ErrorCode.INVALID_BODY)
    for body in ({}, {"driverId": 5}, {"driverId": ""}, {"driverId": None}, [driver.user_id],
                 {"driver": driver.user_id}):
        r = await w.api.request("POST", f"{ORDERS}/{order['id']}/assign-driver",
                                token=owner.token, json=body)
        assert_error(r, 400, ErrorCode.INVALID_BODY)
    for path in (f"{ORDERS}/{order['id']}/status", f"{ORDERS}/{order['id']}/assign-driver"):
        r = await raw("PATCH" if path.endswith("status") else "POST", path, token=owner.token,
                      content=b"status=cancelled",
                      headers={"Content-Type": "application/x-www-form-urlencoded"})
        assert_error(r, 400, ErrorCode.INVALID_JSON)
    after = await w.api.order(owner.token, order["id"])
    assert (after["status"], after["version"], after["driverId"]) == (
        "ready_for_delivery", order["version"], None)


def _padded_checkout(size: int) -> bytes:
    """A valid checkout body of exactly `size` bytes (an ignored field takes the slack)."""
    body = payloads.checkout(OrderType.PICKUP, padding="")
    raw = json.dumps(body, separators=(",", ":")).encode()
    body["padding"] = "x" * (size - len(raw))
    raw = json.dumps(body, separators=(",", ":")).encode()
    assert len(raw) == size
    return raw


async def _trickle(body: bytes, size: int = 4096) -> Any:
    """A chunked body (no Content-Length) that arrives a piece at a time."""
    for i in range(0, len(body), size):
        yield body[i:i + size]
        await asyncio.sleep(0.002)


async def test_a_chunked_body_is_read_whole(w, raw):
    customer = await w.customer()
    for size in (5_000, 40_000, MAX_BODY_BYTES):
        r = await raw("POST", CHECKOUT, token=customer.token, content=_trickle(_padded_checkout(size)),
                      headers={"Content-Type": "application/json"})
        assert "content-length" not in {k.lower() for k in r.request.headers}
        assert r.status_code == 201, (size, r.text)
    assert await customer_order_count(w, customer) == 3


async def test_body_over_64_kib_is_413_and_creates_nothing(w, raw):
    customer, owner = await w.customer(), await w.store_owner()
    headers = {"Content-Type": "application/json"}
    over = _padded_checkout(MAX_BODY_BYTES + 1)
    r = await raw("POST", CHECKOUT, token=customer.token, content=over, headers=headers)
    assert_error(r, 413, ErrorCode.PAYLOAD_TOO_LARGE)

    r = await raw("POST", CHECKOUT, token=customer.token, content=_trickle(over), headers=headers)
    assert "content-length" not in {k.lower() for k in r.request.headers}
    assert_error(r, 413, ErrorCode.PAYLOAD_TOO_LARGE)
    huge = _padded_checkout(300_000)
    r = await raw("POST", CHECKOUT, token=customer.token, content=huge, headers=headers)
    assert_error(r, 413, ErrorCode.PAYLOAD_TOO_LARGE)
    r = await raw("POST", "/api/guest/checkout", content=huge, headers=headers)
    assert_error(r, 413, ErrorCode.PAYLOAD_TOO_LARGE)
    assert await customer_order_count(w, customer) == 0

    order = await w.order(customer, OrderType.PICKUP)
    big_patch = json.dumps({"status": "cancelled", "padding": "x" * MAX_BODY_BYTES}).encode()
    r = await raw("PATCH", f"{ORDERS}/{order['id']}/status", token=owner.token,
                  content=big_patch, headers=headers)
    assert_error(r, 413, ErrorCode.PAYLOAD_TOO_LARGE)
    assert (await w.api.order(owner.token, order["id"]))["status"] == "pending"

    # exactly 64 KiB is not over the limit
    r = await raw("POST", CHECKOUT, token=customer.token,
                  content=_padded_checkout(MAX_BODY_BYTES), headers=headers)
    assert r.status_code == 201, r.text
    assert await customer_order_count(w, customer) == 2


# =================================================================================================
# Error precedence (section 8)
# =================================================================================================

async def test_error_precedence(w, raw):
    customer, owner, driver = await w.customer(), await w.store_owner(), await w.driver()
    other = await w.customer()
    bad_body = payloads.checkout(OrderType.PICKUP, items=[])
    bad_card_and_body = payloads.checkout(
        OrderType.PICKUP, items=[], payment=payloads.card_payment(number="4242 4242 4242 4241"))
    expired = signed(claims(driver.user_id, "driver", ttl=-30))
    huge = _padded_checkout(MAX_BODY_BYTES + 100)
    theirs = await w.order(other, OrderType.PICKUP)
    mine = await w.order(customer, OrderType.PICKUP)
    unknown = f"{ORDERS}/{unknown_id()}"
    json_headers = {"Content-Type": "application/json"}

    cases: list[tuple[str, str, str, str | None, dict[str, Any]]] = [
        # (label, method, path, token, request kwargs) -> expected below
        ("no token + bad body", "POST", CHECKOUT, None, {"json": bad_body}),
        ("no token + huge body", "POST", CHECKOUT, None, {"content": huge, "headers": json_headers}),
        ("no token + not JSON", "POST", CHECKOUT, None,
         {"content": b"{", "headers": json_headers}),
        ("expired driver + bad body", "POST", CHECKOUT, expired, {"json": bad_body}),
        ("driver + bad body on checkout", "POST", CHECKOUT, driver.token, {"json": bad_body}),
        ("driver + huge body on checkout", "POST", CHECKOUT, driver.token,
         {"content": huge, "headers": json_headers}),
        ("owner + bad body on checkout", "POST", CHECKOUT, owner.token, {"json": bad_body}),
        ("customer + bad body on assign", "POST", f"{unknown}/assign-driver", customer.token,
         {"json": {}}),
        ("customer on drivers", "GET", "/api/drivers", customer.token, {}),
        ("bad body beats bad card", "POST", CHECKOUT, customer.token, {"json": bad_card_and_body}),
        ("customer bad PATCH body, unknown order", "PATCH", f"{unknown}/status", customer.token,
         {"json": {"status": 7}}),
        ("customer non-JSON PATCH, unknown order", "PATCH", f"{unknown}/status", customer.token,
         {"content": b"nope", "headers": json_headers}),
        ("legacy status, unknown order", "PATCH", f"{unknown}/status", customer.token,
         {"json": {"status": "completed"}}),
        ("invalid status, someone else's order", "PATCH", f"{ORDERS}/{theirs['id']}/status",
         customer.token, {"json": {"status": "out_for_delivery"}}),
        ("valid status, unknown order", "PATCH", f"{unknown}/status", customer.token,
         {"json": {"status": "cancelled"}}),
        ("no such move on someone else's order", "PATCH", f"{ORDERS}/{theirs['id']}/status",
         customer.token, {"json": {"status": "delivered"}}),
        ("no such move and not the actor", "PATCH", f"{ORDERS}/{mine['id']}/status",
         customer.token, {"json": {"status": "delivered"}}),
        ("move exists, not the actor", "PATCH", f"{ORDERS}/{mine['id']}/status",
         customer.token, {"json": {"status": "processing"}}),
    ]
    expected = {
        "no token + bad body": (401, ErrorCode.UNAUTHORIZED),
        "no token + huge body": (401, ErrorCode.UNAUTHORIZED),
        "no token + not JSON": (401, ErrorCode.UNAUTHORIZED),
        "expired driver + bad body": (401, ErrorCode.TOKEN_EXPIRED),
        "driver + bad body on checkout": (403, ErrorCode.FORBIDDEN),
        "driver + huge body on checkout": (403, ErrorCode.FORBIDDEN),
        "owner + bad body on checkout": (403, ErrorCode.FORBIDDEN),
        "customer + bad body on assign": (403, ErrorCode.FORBIDDEN),
        "customer on drivers": (403, ErrorCode.FORBIDDEN),
        "bad body beats bad card": (400, ErrorCode.INVALID_BODY),
        "customer bad PATCH body, unknown order": (400, ErrorCode.INVALID_BODY),
        "customer non-JSON PATCH, unknown order": (400, ErrorCode.INVALID_JSON),
        "legacy status, unknown order": (422, ErrorCode.INVALID_STATUS),
        "invalid status, someone else's order": (422, ErrorCode.INVALID_STATUS),
        "valid status, unknown order": (404, ErrorCode.NOT_FOUND),
        "no such move on someone else's order": (404, ErrorCode.NOT_FOUND),
        "no such move and not the actor": (409, ErrorCode.INVALID_TRANSITION),
        "move exists, not the actor": (403, ErrorCode.TRANSITION_FORBIDDEN),
    }
    wrong = []
    for label, method, path, token, kwargs in cases:
        r = await raw(method, path, token=token, **kwargs)
        status, code = expected[label]
        try:
            assert_error(r, status, code)
        except AssertionError as exc:
            wrong.append(f"{label}: {exc}")
    assert wrong == []
    for order in (theirs, mine):
        assert (await w.api.order(owner.token, order["id"]))["version"] == 1
    assert await customer_order_count(w, customer) == 1


# =================================================================================================
# CORS (section 1)
# =================================================================================================

ALLOWED, EVIL = "http://allowed.test", "http://evil.test"


@pytest.fixture(scope="module")
def cors_server() -> Iterator[ServerThread]:
    # Short pings: python-engineio answers a long-poll only when a packet is due, so a
    # polling client's disconnect waits up to ping_interval + ping_timeout (45 s by default).
    config = make_config(cors_origins=(ALLOWED,), ping_interval_s=0.5, ping_timeout_s=0.5)
    with ServerThread(config) as running:
        yield running


async def test_cors_allowed_origin_is_echoed_never_star(cors_server):
    async with World(cors_server.url) as cw:
        customer = await cw.customer()
        for method, path, token in (("GET", "/health", None), ("GET", ORDERS, customer.token),
                                    ("GET", ORDERS, None)):
            r = await cw.api.request(method, path, token=token, headers={"Origin": ALLOWED})
            assert r.status_code == (401 if path == ORDERS and token is None else 200), r.text
            assert r.headers.get("access-control-allow-origin") == ALLOWED
        pre = await cw.api.request("OPTIONS", f"{ORDERS}/x/status", headers={
            "Origin": ALLOWED, "Access-Control-Request-Method": "PATCH",
            "Access-Control-Request-Headers": "authorization, content-type"})
        assert pre.status_code == 204, pre.text
        assert pre.headers.get("access-control-allow-origin") == ALLOWED
        methods = {m.strip().upper() for m in pre.headers.get("access-control-allow-methods", "").split(",")}
        assert {"GET", "POST", "PATCH"} <= methods
        allow_headers = {h.strip().lower()
                         for h in pre.headers.get("access-control-allow-headers", "").split(",")}
        assert {"authorization", "content-type"} <= allow_headers


async def test_cors_foreign_origin_is_refused_without_allow_origin(cors_server):
    async with World(cors_server.url) as cw:
        customer = await cw.customer()
        email = f"evil-{time.time_ns()}@example.test"
        attempts = [
            ("GET", "/health", None, None),
            ("GET", ORDERS, customer.token, None),
            ("POST", "/api/auth/register", None,
             {"name": "E", "email": email, "password": "evil-password", "role": "customer"}),
            ("POST", CHECKOUT, customer.token, payloads.checkout(OrderType.PICKUP)),
        ]
        for method, path, token, body in attempts:
            r = await cw.api.request(method, path, token=token, json=body, headers={"Origin": EVIL})
            # section 1 says "a 4xx"; the machine-readable contract names it: 403
            assert_error(r, 403, ErrorCode.ORIGIN_NOT_ALLOWED)
            assert "access-control-allow-origin" not in r.headers, (path, r.headers)
        pre = await cw.api.request("OPTIONS", ORDERS, headers={
            "Origin": EVIL, "Access-Control-Request-Method": "GET"})
        assert_error(pre, 403, ErrorCode.ORIGIN_NOT_ALLOWED)
        assert "access-control-allow-origin" not in pre.headers
        # the refused requests changed nothing
        login = await cw.api.request("POST", "/api/auth/login",
                                     json={"email": email, "password": "evil-password"})
        assert_error(login, 401, ErrorCode.INVALID_CREDENTIALS)
        assert (await cw.api.list_orders(customer.token))["total"] == 0
        # no Origin header: a non-browser client, allowed
        r = await cw.api.request("GET", ORDERS, token=customer.token)
        assert r.status_code == 200
        assert r.headers.get("access-control-allow-origin") in (None, ALLOWED)
        assert r.headers.get("access-control-allow-origin") != "*"


async def test_cors_errors_keep_the_json_shape_and_the_allow_origin(cors_server):
    async with World(cors_server.url) as cw:
        for headers in ({}, {"Origin": ALLOWED}):
            for method, path, status, code in (
                    ("GET", "/api/no-such-thing", 404, ErrorCode.NOT_FOUND),
                    ("PUT", ORDERS, 405, ErrorCode.METHOD_NOT_ALLOWED),
                    ("DELETE", f"{ORDERS}/abc", 405, ErrorCode.METHOD_NOT_ALLOWED),
                    ("GET", ORDERS, 401, ErrorCode.UNAUTHORIZED)):
                r = await cw.api.request(method, path, headers=headers)
                assert_error(r, status, code)
                assert r.headers.get("access-control-allow-origin") == headers.get("Origin")


async def _sio_connects(url: str, token: str, origin: str | None, transport: str) -> bool:
    client = socketio.AsyncClient(reconnection=False)
    headers = {"Origin": origin} if origin else {}
    try:
        await client.connect(url, auth={"token": token}, headers=headers, transports=[transport],
                             wait_timeout=5)
    except socketio.exceptions.ConnectionError:
        return False
    connected = client.connected
    await client.disconnect()
    return connected


@pytest.mark.parametrize("transport", ["websocket", "polling"])
async def test_cors_socket_handshake_follows_the_allow_list(cors_server, server, transport):
    async with World(cors_server.url) as cw:
        customer = await cw.customer()
        assert await _sio_connects(cors_server.url, customer.token, ALLOWED, transport)
        assert await _sio_connects(cors_server.url, customer.token, None, transport)
        assert not await _sio_connects(cors_server.url, customer.token, EVIL, transport)
        assert not await _sio_connects(cors_server.url, customer.token, "null", transport)
    # `*` is never the default: a server configured with no origins refuses foreign ones too
    async with World(server.url) as dw:
        customer = await dw.customer()
        assert not await _sio_connects(server.url, customer.token, EVIL, transport)
        if transport == "websocket":  # (a polling disconnect is slow on the session server)
            assert await _sio_connects(server.url, customer.token, None, transport)
        r = await dw.api.request("GET", "/health", headers={"Origin": EVIL})
        assert 400 <= r.status_code < 500 and "access-control-allow-origin" not in r.headers


# =================================================================================================
# GET /api/drivers (section 5)
# =================================================================================================

async def test_drivers_list_is_for_store_owners_only(w):
    owner, customer = await w.store_owner(), await w.customer()
    d1, d2 = await w.user(Role.DRIVER, "Dana Driver"), await w.user(Role.DRIVER, "Dev Driver")
    r = await w.api.request("GET", "/api/drivers", token=owner.token)
    assert r.status_code == 200, r.text
    body = r.json()
    assert problem(DRIVERS_OUT, body) is None, problem(DRIVERS_OUT, body)
    by_id = {d["id"]: d for d in body["drivers"]}
    assert len(by_id) == len(body["drivers"])
    assert by_id[d1.user_id]["name"] == "Dana Driver" and by_id[d2.user_id]["name"] == "Dev Driver"
    assert customer.user_id not in by_id and owner.user_id not in by_id
    for d in body["drivers"]:
        assert set(d) == {"id", "name"}, d
    for who in (customer, d1):
        assert_error(await w.api.request("GET", "/api/drivers", token=who.token),
                     403, ErrorCode.FORBIDDEN)
    assert_error(await w.api.request("GET", "/api/drivers"), 401, ErrorCode.UNAUTHORIZED)


# =================================================================================================
# GET /api/orders (sections 5 and 8)
# =================================================================================================

async def test_order_list_visibility_per_role(w):
    alice, bob, owner = await w.customer(), await w.customer(), await w.store_owner()
    driver, idle_driver = await w.driver(), await w.driver()
    a1 = await w.order(alice, OrderType.PICKUP)
    b1 = await w.order(bob, OrderType.DELIVERY)
    b2 = await w.advance(await w.order(bob), Status.DRIVER_ASSIGNED, owner=owner, driver=driver)
    a2 = await w.advance(await w.order(alice), Status.READY_FOR_DELIVERY, owner=owner)

    def ids(listing: dict[str, Any]) -> list[str]:
        assert problem(ORDER_LIST_OUT, listing) is None, problem(ORDER_LIST_OUT, listing)
        return [o["id"] for o in listing["orders"]]

    alice_list = await w.api.list_orders(alice.token)
    assert set(ids(alice_list)) == {a1["id"], a2["id"]} and alice_list["total"] == 2
    bob_list = await w.api.list_orders(bob.token)
    assert set(ids(bob_list)) == {b1["id"], b2["id"]} and bob_list["total"] == 2
    drv = await w.api.list_orders(driver.token)
    assert ids(drv) == [b2["id"]] and drv["total"] == 1
    idle = await w.api.list_orders(idle_driver.token)
    assert ids(idle) == [] and idle["total"] == 0
    every = await w.api.list_orders(owner.token, limit=PAGE_LIMIT_MAX)
    assert {a1["id"], a2["id"], b1["id"], b2["id"]} <= set(ids(every))
    assert every["total"] >= 4


async def test_order_list_is_newest_first_and_paged(w):
    customer = await w.customer()
    made = []
    for _ in range(5):
        made.append((await w.order(customer, OrderType.PICKUP))["id"])
        await asyncio.sleep(0.005)  # distinct creation instants
    newest_first = made[::-1]

    default = await w.api.list_orders(customer.token)
    assert problem(ORDER_LIST_OUT, default) is None
    assert (default["page"], default["limit"], default["total"]) == (1, PAGE_LIMIT_DEFAULT, 5)
    assert PAGE_LIMIT_DEFAULT == 20
    assert [o["id"] for o in default["orders"]] == newest_first
    created = [o["createdAt"] for o in default["orders"]]
    assert created == sorted(created, reverse=True)

    seen: list[str] = []
    for page, expect in ((1, newest_first[0:2]), (2, newest_first[2:4]), (3, newest_first[4:]),
                         (4, [])):
        listing = await w.api.list_orders(customer.token, page=page, limit=2)
        assert problem(ORDER_LIST_OUT, listing) is None
        assert (listing["page"], listing["limit"], listing["total"]) == (page, 2, 5)
        assert [o["id"] for o in listing["orders"]] == expect
        seen += expect
    assert seen == newest_first
    top = await w.api.list_orders(customer.token, limit=100)
    assert (top["limit"], len(top["orders"])) == (100, 5)

    for params in ({"limit": 101}, {"limit": 0}, {"limit": -1}, {"limit": "ten"}, {"page": 0},
                   {"page": -3}, {"page": "first"}, {"limit": 2.5}):
        r = await w.api.request("GET", ORDERS, token=customer.token, params=params)
        assert_error(r, 400, ErrorCode.INVALID_QUERY)


# =================================================================================================
# Client-to-server events (section 7)
# =================================================================================================

async def test_time_sync_answers_the_server_clock(w):
    for session in (await w.customer(), await w.store_owner(), await w.driver()):
        sock = await w.socket(session.token)
        for payload in ({"clientTime": time.time() * 1000}, {}, None):
            before = time.time() * 1000
            ack = await sock.call(ClientEvent.TIME_SYNC.value, payload, timeout=3)
            after = time.time() * 1000
            assert problem(TIME_SYNC_ACK, ack) is None, (ack, problem(TIME_SYNC_ACK, ack))
            assert isinstance(ack["serverTime"], int)
            assert before - 2000 <= ack["serverTime"] <= after + 2000


async def test_unknown_client_events_do_not_break_the_connection(w):
    customer, owner = await w.customer(), await w.store_owner()
    sock = await w.socket(customer.token)
    for event, data in (("no_such_event", {"x": 1}), ("newOrder", {"orderId": "x"}),
                        ("orderStatusUpdated", None), ("", "x"), ("driver_location", "garbage"),
                        ("time_sync", "not an object")):
        await sock.emit(event, data)
    ack = await sock.call(ClientEvent.TIME_SYNC.value, {}, timeout=3)
    assert abs(ack["serverTime"] - time.time() * 1000) <= 2000
    assert sock.sio.connected
    order = await w.order(customer, OrderType.PICKUP)  # events still flow to it
    await w.api.set_status(owner.token, order["id"], "processing")
    assert await sock.wait_for(lambda r: len(for_order(sock, order["id"])) == 2, 2)


async def test_driver_location_from_the_assigned_driver(w):
    customer, owner = await w.customer(), await w.store_owner()
    driver, other_driver = await w.driver(), await w.driver()
    order = await w.advance(await w.order(customer), Status.DRIVER_ASSIGNED, owner=owner, driver=driver)
    socks = {"customer": await w.socket(customer.token), "owner": await w.socket(owner.token),
             "driver": await w.socket(driver.token)}
    bystanders = [await w.socket(other_driver.token), await w.socket((await w.customer()).token)]
    oid = order["id"]

    def locations(sock: RealtimeClient) -> list[Any]:
        return [e for e in for_order(sock, oid, Event.DELIVERY_UPDATE)
                if e.payload.get("kind") == DeliveryKind.LOCATION]

    version = order["version"]
    points = [(52.5, 13.4), (-90, -180), (90, 180)]
    steps = [None, Status.PICKED_UP, Status.IN_TRANSIT]
    for step, (lat, lng) in zip(steps, points):
        if step is not None:
            version = (await w.api.set_status(driver.token, oid, step.value))["version"]
        ack = await socks["driver"].call(ClientEvent.DRIVER_LOCATION.value,
                                         {"orderId": oid, "lat": lat, "lng": lng}, timeout=3)
        assert problem(DRIVER_LOCATION_ACK, ack) is None and ack["ok"] is True, ack
        version += 1
        for name, sock in socks.items():
            assert await sock.wait_for(
                lambda r, s=sock: any(e.payload["version"] == version for e in locations(s)), 2), name
            [latest] = [e for e in locations(sock) if e.payload["version"] == version]
            assert latest.payload["location"] == {"lat": lat, "lng": lng}
            assert latest.payload["driverId"] == driver.user_id
            assert latest.payload["customerId"] == customer.user_id
            assert latest.payload["status"] == (step or Status.DRIVER_ASSIGNED).value
        assert (await w.api.order(owner.token, oid))["version"] == version
    for sock in socks.values():
        assert len(locations(sock)) == 3
        assert_valid_events(sock)
    await asyncio.sleep(QUIET_S)
    for sock in bystanders:
        assert sock.received == []


async def test_refused_driver_locations_ack_false_and_emit_nothing(w):
    customer, owner = await w.customer(), await w.store_owner()
    driver, other_driver = await w.driver(), await w.driver()
    active = await w.advance(await w.order(customer), Status.IN_TRANSIT, owner=owner, driver=driver)
    done = await w.advance(await w.order(customer), Status.DELIVERED, owner=owner, driver=driver)
    unassigned = await w.advance(await w.order(customer), Status.READY_FOR_DELIVERY, owner=owner)
    pickup = await w.advance(await w.order(customer, OrderType.PICKUP), Status.READY_FOR_PICKUP,
                             owner=owner)
    await asyncio.sleep(QUIET_S)  # let the events of the set-up go by
    c_sock, o_sock = await w.socket(customer.token), await w.socket(owner.token)
    d_sock, x_sock = await w.socket(driver.token), await w.socket(other_driver.token)
    cust_sock = await w.socket(customer.token)

    good = {"orderId": active["id"], "lat": 10.0, "lng": 10.0}
    refusals = [
        ("another driver", x_sock, good),
        ("the customer", cust_sock, good),
        ("the store owner", o_sock, good),
        ("a delivered order", d_sock, {**good, "orderId": done["id"]}),
        ("an unassigned order", d_sock, {**good, "orderId": unassigned["id"]}),
        ("a pickup order", d_sock, {**good, "orderId": pickup["id"]}),
        ("an unknown order", d_sock, {**good, "orderId": unknown_id()}),
        ("lat 91", d_sock, {**good, "lat": 91}),
        ("lat -90.0001", d_sock, {**good, "lat": -90.0001}),
        ("lng -181", d_sock, {**good, "lng": -181}),
        ("lng 180.5", d_sock, {**good, "lng": 180.5}),
        ("lat NaN", d_sock, {**good, "lat": float("nan")}),
        ("lng Infinity", d_sock, {**good, "lng": float("inf")}),
        ("string lat", d_sock, {**good, "lat": "52.5"}),
        ("null lng", d_sock, {**good, "lng": None}),
        ("boolean lat", d_sock, {**good, "lat": True}),
        ("missing orderId", d_sock, {"lat": 10.0, "lng": 10.0}),
        ("missing lat", d_sock, {"orderId": active["id"], "lng": 10.0}),
        ("orderId a number", d_sock, {**good, "orderId": 5}),
        ("payload a string", d_sock, "hello"),
        ("no payload", d_sock, None),
    ]
    wrong = []
    for label, sock, data in refusals:
        ack = await sock.call(ClientEvent.DRIVER_LOCATION.value, data, timeout=3)
        if not (isinstance(ack, dict) and ack.get("ok") is False
                and isinstance(ack.get("error"), str) and ack["error"]
                and problem(DRIVER_LOCATION_ACK, ack) is None):
            wrong.append(f"{label}: {ack!r}")
    assert wrong == []
    await asyncio.sleep(QUIET_S)
    for sock in (c_sock, o_sock, d_sock, x_sock, cust_sock):
        assert sock.received == [], [(e.event, e.payload) for e in sock.received]
    for order in (active, done, unassigned, pickup):
        now = await w.api.order(owner.token, order["id"])
        assert now["version"] == order["version"]
    # the control: the same socket's good report does go out
    ack = await d_sock.call(ClientEvent.DRIVER_LOCATION.value, good, timeout=3)
    assert ack == {"ok": True} or ack.get("ok") is True
    assert await c_sock.wait_for(lambda r: any(e.event == Event.DELIVERY_UPDATE for e in r), 2)
