"""Rooms and isolation: rooms come from the token alone; no client event joins one; users
never see each other's events (section 3)."""

from __future__ import annotations

from typing import Any

from ...contract import (
    ROOM_JOIN_ATTEMPTS,
    STORE_OWNERS_ROOM,
    ClientEvent,
    OrderType,
    Role,
    Status,
    customer_room,
    driver_room,
)
from ..model import expect
from ..registry import check
from ..scene import Party, party
from ..target import Target


def _about(p: Party, order_ids: set[str]) -> list[str]:
    return [f"{r.event} v{r.payload.get('version')} of {r.payload.get('orderId')}"
            for r in p.client.received
            if isinstance(r.payload, dict) and r.payload.get("orderId") in order_ids]


async def _activity(target: Target, victim: Party, victim_driver: Party, owner: Party) -> set[str]:
    """Another customer's order moves to its driver, who reports a location: events for the
    customer's, the driver's and the store owners' rooms."""
    order = await target.order_at(victim.session, Status.DRIVER_ASSIGNED, owner=owner.session,
                                  driver=victim_driver.session)
    ack = await victim_driver.client.call(ClientEvent.DRIVER_LOCATION.value,
                                          {"orderId": order["id"], "lat": 48.1, "lng": 11.6})
    expect(isinstance(ack, dict) and ack.get("ok") is True,
           "the assigned driver's location report was refused", got=ack)
    await target.quiet()
    return {order["id"]}


def _first(crossed: dict[str, list[str]]) -> str:
    """`<socket> got <event>` for the first crossing, for the one-line evidence."""
    for label, events in crossed.items():
        if events:
            return f"{label} got {events[0]}" + (f" (and {len(events) - 1} more)" if len(events) > 1 else "")
    return ""


def _join_payloads(victim: Party, victim_driver: Party) -> list[Any]:
    rooms = [customer_room(victim.session.user_id), victim.session.user_id,
             driver_room(victim_driver.session.user_id), victim_driver.session.user_id,
             STORE_OWNERS_ROOM]
    return rooms + [{"room": room} for room in rooms]


def _join_check(event: str) -> None:
    @check(f"rooms.join.{event}", "3",
           f"emitting `{event}` with another user's room or id (and store-owners) changes "
           "nothing: the emitter receives none of their events")
    async def body(target: Target) -> str:
        owner = await party(target, Role.STORE_OWNER, "owner")
        victim = await party(target, Role.CUSTOMER, "victim")
        victim_driver = await party(target, Role.DRIVER, "victim-driver")
        attacker = await party(target, Role.CUSTOMER, f"attacker-{event}")
        control = await party(target, Role.CUSTOMER, "control")  # same role, never asks
        payloads = _join_payloads(victim, victim_driver)
        for payload in payloads:
            await attacker.client.emit(event, payload)
        await target.quiet()
        expect(attacker.client.connected, f"the connection dropped after `{event}` attempts")
        orders = await _activity(target, victim, victim_driver, owner)
        gained = _about(attacker, orders)
        leaked_anyway = _about(control, orders)
        extra = [e for e in gained if e not in leaked_anyway]
        expect(not extra, f"after `{event}`, the emitter received {len(extra)} event(s) of "
               f"another user's order: {extra[0] if extra else ''}",
               sent=[[event, p] for p in payloads], expected="no event of those rooms",
               got={"attacker": gained, "control socket (no join)": leaked_anyway})
        return (f"{len(payloads)} `{event}` attempts (room names, raw ids, as string and "
                f"{{room}}) gained nothing")

    body.__name__ = f"join_{event}"


for _event in ROOM_JOIN_ATTEMPTS:
    _join_check(_event)


def _judge_isolation(pair: list[Party], orders: dict[str, str], who: str) -> str:
    """Each of `pair` received events of its own order (`orders`: label -> order id), and
    none of the other's."""
    crossed = {p.label: _about(p, {orders[q.label] for q in pair if q is not p}) for p in pair}
    own = {p.label: len(_about(p, {orders[p.label]})) for p in pair}
    expect(not any(crossed.values()), f"a {who} received another {who}'s events: "
           f"{_first(crossed)}", expected="none", got=crossed)
    expect(all(own.values()), f"a {who} received none of its own order's events "
           "(nothing to prove isolation with)", got=own)
    return f"each {who} got only its own order's events ({' and '.join(map(str, own.values()))})"


@check("isolation.customers", "3",
       "two customers each follow their own order and never see the other's events")
async def customers(target: Target) -> str:
    owner = await party(target, Role.STORE_OWNER, "owner")
    a = await party(target, Role.CUSTOMER, "iso-a")
    b = await party(target, Role.CUSTOMER, "iso-b")
    orders = {}
    for p in (a, b):
        order = await target.new_order(p.session, OrderType.PICKUP)
        await target.move(order, Status.READY_FOR_PICKUP, owner=owner.session)
        orders[p.label] = order["id"]
    await target.quiet()
    return _judge_isolation([a, b], orders, "customer")


@check("isolation.drivers", "3",
       "two drivers each follow their own assigned order and never see the other's events")
async def drivers(target: Target) -> str:
    owner = await party(target, Role.STORE_OWNER, "owner")
    customer = await party(target, Role.CUSTOMER, "iso-driver-customer")
    d1 = await party(target, Role.DRIVER, "iso-d1")
    d2 = await party(target, Role.DRIVER, "iso-d2")
    orders = {}
    for d in (d1, d2):
        order = await target.order_at(customer.session, Status.PICKED_UP, owner=owner.session,
                                      driver=d.session)
        ack = await d.client.call(ClientEvent.DRIVER_LOCATION.value,
                                  {"orderId": order["id"], "lat": 40.4, "lng": -3.7})
        expect(isinstance(ack, dict) and ack.get("ok") is True,
               "the assigned driver's location report was refused", got=ack)
        orders[d.label] = order["id"]
    await target.quiet()
    return _judge_isolation([d1, d2], orders, "driver")
