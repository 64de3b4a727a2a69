"""Routing: every event of whole lifecycles reaches exactly the rooms the routing table
names, once, with a valid payload (sections 6, 8)."""

from __future__ import annotations

from ...contract import (
    LOCATION_REPORT_STATUSES,
    ChangeKind,
    ClientEvent,
    OrderType,
    Role,
    Status,
    Via,
    lifecycle,
)
from ..model import expect
from ..registry import check
from ..scene import Ledger, Party, party, routing_problems, timestamp_forms, wait_complete, wait_until
from ..target import Target


class _Pace:
    """Between changes, wait until some event of the last one has arrived somewhere (so the
    changes reach the server one at a time), not for all of them: a server that drops an
    event must not cost the full timeout at every step. Completeness is judged at the end."""

    def __init__(self, target: Target, parties: list[Party]) -> None:
        self.parties = parties
        self.timeout = target.config.event_timeout_s
        self.short = target.config.quiet_s

    async def after(self, order_id: str, version: int) -> None:
        arrived = await wait_until(lambda: any(
            isinstance(r.payload, dict) and r.payload.get("version") == version
            for p in self.parties for r in p.got(order_id)), self.timeout)
        if not arrived:  # nothing of that change came: do not wait as long again
            self.timeout = self.short


async def _lifecycle(target: Target, order_type: OrderType) -> str:
    owner = await party(target, Role.STORE_OWNER, "owner")
    customer = await party(target, Role.CUSTOMER, f"{order_type.value}-customer")
    parties = [owner, customer]
    driver: Party | None = None
    if order_type is OrderType.DELIVERY:
        driver = await party(target, Role.DRIVER, "driver")
        parties.append(driver)
    order = await target.new_order(customer.session, order_type)
    ledger = Ledger.of(order)
    pace = _Pace(target, parties)
    await pace.after(order["id"], order["version"])
    assigned: str | None = None
    for step in lifecycle(order_type):
        if step.via is Via.ASSIGN_DRIVER:
            assert driver is not None
            order = await target.api.assign_driver(owner.session.token, order["id"],
                                                   driver.session.user_id)
            assigned = driver.session.user_id
        else:
            actor = driver if driver is not None and assigned \
                and step.target in LOCATION_REPORT_STATUSES | {Status.DELIVERED} else owner
            order = await target.api.set_status(actor.session.token, order["id"], step.target.value)
        ledger.add(ChangeKind.STATUS, order["status"], order["version"], assigned)
        await pace.after(order["id"], order["version"])
        if driver is not None and assigned and Status(order["status"]) in LOCATION_REPORT_STATUSES:
            ack = await driver.client.call(ClientEvent.DRIVER_LOCATION.value,
                                           {"orderId": order["id"], "lat": 52.5, "lng": 13.4})
            expect(isinstance(ack, dict) and ack.get("ok") is True,
                   f"the assigned driver's location report on a {order['status']} order was refused",
                   got=ack)
            version = order["version"] + 1  # a location report is a change (section 6)
            order = dict(order, version=version)
            ledger.add(ChangeKind.LOCATION, order["status"], version, assigned)
            await pace.after(order["id"], version)
    await wait_complete(target, ledger, parties)
    await target.quiet()
    problems, evidence = routing_problems(ledger, parties)
    expect(not problems, f"{len(problems)} routing problem(s): {problems[0] if problems else ''}",
           sent=[f"{c.kind.value} -> {c.status} v{v}" for c, v in ledger.changes],
           expected="each event once at each socket in its rooms, nothing elsewhere",
           got={"problems": problems[:20], "sockets": evidence})
    total = sum(sum(ledger.expected_at(p).values()) for p in parties)
    return (f"{len(ledger.changes)} changes, {total} deliveries to {len(parties)} sockets, "
            f"each once, in the right rooms, valid (timestamps as "
            f"{timestamp_forms(parties, ledger.order_id)})")


@check("routing.delivery_lifecycle", "6",
       "a delivery order's whole lifecycle (with location reports): each event reaches exactly "
       "its rooms, once, valid")
async def delivery_lifecycle(target: Target) -> str:
    return await _lifecycle(target, OrderType.DELIVERY)


@check("routing.pickup_lifecycle", "6",
       "a pickup order's whole lifecycle: each event reaches exactly its rooms, once, valid")
async def pickup_lifecycle(target: Target) -> str:
    return await _lifecycle(target, OrderType.PICKUP)

