"""Transitions: the whole table of status moves, by role (sections 4, 5, 8).

Every allowed move by each actor allowed to make it; every move the table lacks (409, naming
the current status and the allowed next ones); moves that exist but not for this user (403);
orders a user may not see (404, the same as an unknown id: no existence leak); and
`assign-driver`, the only way an order gets a driver.
"""

from __future__ import annotations

import secrets
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from ...api import Session
from ...contract import (
    TRANSITIONS,
    Actor,
    Operation,
    OrderType,
    Role,
    Status,
    Transition,
    Via,
    find_transition,
    lifecycle,
)
from ..exchange import (
    Exchange,
    endpoint,
    expect_answer,
    expect_error,
    expect_transition_details,
    expect_unchanged,
    legacy_note,
    readings_seen,
    send,
)
from ..model import expect
from ..registry import check
from ..target import Target


@dataclass(frozen=True)
class Cast:
    """The users these checks need: the order's customer and driver, and two outsiders."""

    owner: Session
    customer: Session
    driver: Session
    other_customer: Session
    other_driver: Session

    def actor(self, actor: Actor) -> Session:
        return {Actor.STORE_OWNER: self.owner, Actor.ORDER_CUSTOMER: self.customer,
                Actor.ASSIGNED_DRIVER: self.driver}[actor]


async def cast(target: Target, *, outsiders: bool = False) -> Cast:
    owner = await target.user(Role.STORE_OWNER)
    customer = await target.user(Role.CUSTOMER)
    driver = await target.user(Role.DRIVER)
    other_customer = await target.user(Role.CUSTOMER, "b") if outsiders else customer
    other_driver = await target.user(Role.DRIVER, "b") if outsiders else driver
    return Cast(owner, customer, driver, other_customer, other_driver)


def unknown_id() -> str:
    """An id no order has: 24 hex digits, so it is well formed even as a MongoDB ObjectId."""
    return secrets.token_hex(12)


async def patch_status(target: Target, order_id: str, user: Session, status: str) -> Exchange:
    method, path = endpoint(Operation.UPDATE_STATUS, order_id=order_id)
    return await send(target, method, path, user, json_body={"status": status})


async def assign(target: Target, order_id: str, user: Session, driver_id: str) -> Exchange:
    method, path = endpoint(Operation.ASSIGN_DRIVER, order_id=order_id)
    return await send(target, method, path, user, json_body={"driverId": driver_id})


async def make(target: Target, order: dict[str, Any], move: Transition, user: Session,
               driver: Session) -> Exchange:
    """Make `move` on `order` as `user`, by the request the table names for it."""
    if move.via is Via.ASSIGN_DRIVER:
        return await assign(target, order["id"], user, driver.user_id)
    return await patch_status(target, order["id"], user, move.target.value)


async def fresh_order(target: Target, c: Cast,
                      order_type: OrderType = OrderType.DELIVERY) -> dict[str, Any]:
    """A new order of the cast's customer; it must start `pending` for the table to be walked."""
    order = await target.new_order(c.customer, order_type)
    status = order.get("status")
    expect(status == Status.PENDING.value,
           f"a new order starts {status!r}{legacy_note(status)}, not {Status.PENDING.value!r}: "
           f"the transitions cannot be walked (see statuses.checkout_pending.*)",
           sent="POST a valid checkout", expected={"status": Status.PENDING.value},
           got={"id": order.get("id"), "status": status})
    return order


async def order_at(target: Target, c: Cast, status: Status,
                   order_type: OrderType = OrderType.DELIVERY) -> dict[str, Any]:
    """A new order walked along its happy path (or cancelled) to `status`."""
    return await target.move(await fresh_order(target, c, order_type), status, owner=c.owner,
                             driver=c.driver)


def _walk(order_type: OrderType) -> list[Status]:
    """The statuses an order of this type passes through on its happy path, in order."""
    return [Status.PENDING] + [step.target for step in lifecycle(order_type)]


# --- allowed ---------------------------------------------------------------------------------------

@check("transitions.allowed", "4",
       "every allowed move, by each actor allowed to make it, answers 200 with the new status "
       "and version + 1")
async def allowed(target: Target) -> str:
    c = await cast(target)
    #: Orders that earlier moves left at a status, to be moved on (fewer new orders).
    at: dict[tuple[OrderType, Status], list[dict[str, Any]]] = defaultdict(list)
    moves = 0
    for move in TRANSITIONS:
        for order_type in sorted(move.order_types):
            for actor in sorted(move.actors):
                waiting = at[(order_type, move.source)]
                order = (waiting.pop() if waiting
                         else await order_at(target, c, move.source, order_type))
                user = c.actor(actor)
                ex = await make(target, order, move, user, c.driver)
                summary = (f"the {actor.value} could not move a {order_type.value} order from "
                           f"{move.source.value} to {move.target.value}")
                expect_answer(ex, 200, summary)
                moved = ex.order
                want = {"status": move.target.value, "version": order["version"] + 1}
                if move.via is Via.ASSIGN_DRIVER:
                    want["driverId"] = c.driver.user_id
                seen = {k: moved.get(k) for k in want}
                expect(seen == want, f"{summary} as the contract says: the answer has {seen}",
                       sent=ex.sent, expected=want, got=ex.got)
                at[(order_type, move.target)].append(moved)
                moves += 1
    return (f"{moves} moves ({len(TRANSITIONS)} transitions, each on its order types, by each "
            f"allowed actor): every one 200 with the new status and version + 1")


# --- refused: no such move -------------------------------------------------------------------------

async def _refuse_all_from(target: Target, c: Cast, order: dict[str, Any],
                           readings: list[frozenset[str]]) -> int:
    """PATCH the order (store owner) to every status the table has no PATCH move to: 409.
    Adds to `readings` how the server's allowedNext read."""
    order_type = OrderType(order["orderType"])
    source = Status(order["status"])
    tried = 0
    for status in Status:
        move = find_transition(source, status, order_type)
        if move is not None and move.via is Via.PATCH_STATUS:
            continue
        ex = await patch_status(target, order["id"], c.owner, status.value)
        summary = (f"the store owner's move of a {order_type.value} order from {source.value} "
                   f"to {status.value} (no such PATCH move) was not refused")
        expect_error(ex, 409, summary)
        readings.append(expect_transition_details(ex, source, order_type, summary))
        tried += 1
    await expect_unchanged(target, c.owner, order, f"refused moves from {source.value}")
    return tried


@check("transitions.refused.409", "4, 8",
       "from every status of both order types, every move the table lacks is a 409 naming "
       "currentStatus and allowedNext, and changes nothing")
async def refused_409(target: Target) -> str:
    c = await cast(target)
    tried = sources = 0
    readings: list[frozenset[str]] = []
    for order_type in sorted(OrderType):
        order = await fresh_order(target, c, order_type)
        for status in _walk(order_type):
            order = await target.move(order, status, owner=c.owner, driver=c.driver)
            tried += await _refuse_all_from(target, c, order, readings)
            sources += 1
        order = await order_at(target, c, Status.CANCELLED, order_type)
        tried += await _refuse_all_from(target, c, order, readings)
        sources += 1
    return (f"{tried} missing moves from {sources} (order type, status) pairs: each 409 with "
            f"currentStatus and allowedNext as the table says (allowedNext lists "
            f"{readings_seen(readings)}); no order changed")


# --- refused: not this user's move -----------------------------------------------------------------

@check("transitions.refused.403", "4, 8",
       "a move that exists, made by someone who may see the order but not make it, is a 403 "
       "and changes nothing")
async def refused_403(target: Target) -> str:
    c = await cast(target)
    tried: list[str] = []
    for order_type in sorted(OrderType):
        order = await fresh_order(target, c, order_type)
        for status in _walk(order_type):
            if order["status"] != status.value:
                before = order["version"]
                order = await target.move(order, status, owner=c.owner, driver=c.driver)
                expect(order["version"] == before + 1, f"a refused move changed order "
                       f"{order['id']}: the next move took it from version {before} to "
                       f"{order['version']}", expected=before + 1, got=order["version"])
            # Who sees the order: the store owner, its customer, its driver once assigned.
            parties = [Actor.STORE_OWNER, Actor.ORDER_CUSTOMER]
            if order.get("driverId") == c.driver.user_id:
                parties.append(Actor.ASSIGNED_DRIVER)
            for move in TRANSITIONS:
                if (move.source is not status or order_type not in move.order_types
                        or move.via is not Via.PATCH_STATUS):
                    continue
                for actor in parties:
                    if actor in move.actors:
                        continue
                    ex = await patch_status(target, order["id"], c.actor(actor), move.target.value)
                    expect_error(ex, 403, f"the {actor.value}'s move of a {order_type.value} "
                                 f"order from {status.value} to {move.target.value} (a move "
                                 f"only {', '.join(sorted(a.value for a in move.actors))} may "
                                 f"make) was not refused")
                    tried.append(f"{actor.value} {status.value}->{move.target.value}")
        await expect_unchanged(target, c.owner, order, "refused moves")
    return f"{len(tried)} moves by the wrong party, each 403: {'; '.join(tried)}"


# --- not found -------------------------------------------------------------------------------------

def _same_as_unknown(ex: Exchange, unknown: Exchange, summary: str) -> None:
    expect_error(ex, 404, summary)
    expect(ex.status == unknown.status and ex.error.get("code") == unknown.error.get("code"),
           f"{summary}: the answer differs from the one for an unknown id (an existence leak)",
           sent=ex.sent, expected=unknown.got, got=ex.got)


@check("transitions.not_found", "4",
       "an unknown order is a 404; another customer's order, or one not assigned to this driver, "
       "is the same 404 as an unknown id, for GET and PATCH")
async def not_found(target: Target) -> str:
    c = await cast(target, outsiders=True)
    mine = await fresh_order(target, c)
    assigned = await order_at(target, c, Status.DRIVER_ASSIGNED)
    nobody = unknown_id()
    get_method = endpoint(Operation.GET_ORDER, order_id=nobody)[0]

    async def get(user: Session, order_id: str) -> Exchange:
        return await send(target, get_method, endpoint(Operation.GET_ORDER, order_id=order_id)[1],
                          user)

    seen = 0
    # The store owner sees every order: an unknown one is plainly 404.
    for ex in (await get(c.owner, nobody),
               await patch_status(target, nobody, c.owner, Status.PROCESSING.value),
               await assign(target, nobody, c.owner, c.driver.user_id)):
        expect_error(ex, 404, "an unknown order was not a 404")
        seen += 1
    # Another customer, and a driver the order is not assigned to: as if it did not exist.
    outsiders = (
        (c.other_customer, Status.CANCELLED, [mine]),
        (c.other_driver, Status.PICKED_UP, [mine, assigned]),
    )
    for user, status, orders in outsiders:
        unknown_get = await get(user, nobody)
        expect_error(unknown_get, 404, f"an unknown order was not a 404 for a {user.role.value}")
        unknown_patch = await patch_status(target, nobody, user, status.value)
        expect_error(unknown_patch, 404, f"an unknown order was not a 404 for a {user.role.value}")
        for order in orders:
            _same_as_unknown(await get(user, order["id"]), unknown_get,
                             f"a {user.role.value} could read an order not theirs")
            _same_as_unknown(await patch_status(target, order["id"], user, status.value),
                             unknown_patch, f"a {user.role.value} PATCHing an order not theirs "
                             f"was not the unknown-id 404")
            seen += 2
        seen += 2
    await expect_unchanged(target, c.customer, mine, "outsiders' requests")
    await expect_unchanged(target, c.driver, assigned, "outsiders' requests")
    return (f"{seen} requests: unknown ids 404; another customer's order and an unassigned "
            f"driver's view answered like an unknown id ({unknown_get.status} "
            f"{unknown_get.error.get('code')}); the orders unchanged")


# --- assign-driver ---------------------------------------------------------------------------------

@check("transitions.assign_driver", "5, 8",
       f"{Status.DRIVER_ASSIGNED.value} is reached only by assign-driver, on a "
       f"{Status.READY_FOR_DELIVERY.value} order, to a registered driver, by a store owner, once")
async def assign_driver(target: Target) -> str:
    c = await cast(target, outsiders=True)
    seen: list[str] = []
    readings: list[frozenset[str]] = []
    assign_path = endpoint(Operation.ASSIGN_DRIVER, order_id="{id}")[1].split("{id}")[-1]

    def refused(ex: Exchange, status: int, summary: str, current: Status | None = None,
                order_type: OrderType = OrderType.DELIVERY) -> None:
        expect_error(ex, status, summary)
        if current is not None:
            via = Via.ASSIGN_DRIVER if ex.path.endswith(assign_path) else Via.PATCH_STATUS
            readings.append(expect_transition_details(ex, current, order_type, summary, via=via))
        seen.append(f"{ex.status}")

    order = await fresh_order(target, c)
    for status in (Status.PENDING, Status.PROCESSING):
        order = await target.move(order, status, owner=c.owner)
        refused(await assign(target, order["id"], c.owner, c.driver.user_id), 409,
                f"assign-driver on a {status.value} order was not refused", status)
    order = await target.move(order, Status.READY_FOR_DELIVERY, owner=c.owner)
    ready = Status.READY_FOR_DELIVERY
    refused(await patch_status(target, order["id"], c.owner, Status.DRIVER_ASSIGNED.value), 409,
            f"a PATCH to {Status.DRIVER_ASSIGNED.value} was not refused", ready)
    refused(await assign(target, order["id"], c.owner, f"{target.prefix}-no-such-driver"), 422,
            "assign-driver with an unknown driverId was not refused")
    refused(await assign(target, order["id"], c.owner, c.customer.user_id), 422,
            "assign-driver with the id of a user who is no driver was not refused")
    for user in (c.customer, c.driver):
        refused(await assign(target, order["id"], user, c.driver.user_id), 403,
                f"a {user.role.value} calling assign-driver was not refused")
    await expect_unchanged(target, c.owner, order, "refused assign-driver calls")

    ex = await assign(target, order["id"], c.owner, c.driver.user_id)
    expect_answer(ex, 200, "a store owner could not assign a driver to a ready order")
    want = {"status": Status.DRIVER_ASSIGNED.value, "driverId": c.driver.user_id,
            "version": order["version"] + 1}
    got = {k: ex.order.get(k) for k in want}
    expect(got == want, f"assign-driver answered {got}", sent=ex.sent, expected=want, got=ex.got)
    assigned = ex.order
    for driver in (c.other_driver, c.driver):
        refused(await assign(target, order["id"], c.owner, driver.user_id), 409,
                "a second assign-driver on an assigned order was not refused",
                Status.DRIVER_ASSIGNED)
    now = await expect_unchanged(target, c.owner, assigned, "a second assign-driver")
    expect(now.get("driverId") == c.driver.user_id, "a second assign-driver changed the driver",
           expected=c.driver.user_id, got=now.get("driverId"))

    pickup = await order_at(target, c, Status.READY_FOR_PICKUP, OrderType.PICKUP)
    refused(await assign(target, pickup["id"], c.owner, c.driver.user_id), 409,
            "assign-driver on a ready pickup order was not refused", Status.READY_FOR_PICKUP,
            OrderType.PICKUP)
    return (f"{len(seen)} refused as the contract says ({', '.join(seen)}): assign on "
            f"{Status.PENDING.value}, {Status.PROCESSING.value} and "
            f"{Status.READY_FOR_PICKUP.value}, a PATCH to {Status.DRIVER_ASSIGNED.value} and a "
            f"second assign 409; an unknown or non-driver driverId 422; customer and driver 403; "
            f"the one good assign 200 (allowedNext lists {readings_seen(readings)})")
