"""Statuses: every checkout path starts `pending`; legacy and unknown values are refused (section 4).
"""

from __future__ import annotations

from typing import Any

from ... import payloads
from ...api import Session
from ...contract import (
    BY_OPERATION,
    FIRST_VERSION,
    LEGACY_STATUSES,
    Event,
    Operation,
    OrderType,
    Role,
    Status,
)
from ..exchange import (
    VALID_STATUSES,
    endpoint,
    expect_answer,
    expect_error,
    expect_unchanged,
    expect_valid_statuses,
    legacy_note,
    send,
)
from ..model import expect
from ..registry import check
from ..target import Target

# --- checkout starts pending ---------------------------------------------------------------------

async def _starts_pending(target: Target, how: str, operation: Operation, body: dict[str, Any],
                          customer: Session | None) -> str:
    owner = await target.user(Role.STORE_OWNER)
    socket = await target.socket(owner.token)
    method, path = endpoint(operation)
    ex = await send(target, method, path, customer, json_body=body,
                    as_whom=None if customer else "a guest (no token)")
    expect_answer(ex, BY_OPERATION[operation].success_status, f"checkout ({how}) failed")
    order = ex.order
    expect(bool(order.get("id")), f"checkout ({how}) answered no order id", sent=ex.sent,
           expected="{order: {id, status, version, ...}}", got=ex.got)
    status = order.get("status")
    expect(status == Status.PENDING.value,
           f"a new order ({how}) starts {status!r}{legacy_note(status)}, not "
           f"{Status.PENDING.value!r}", sent=ex.sent,
           expected={"status": Status.PENDING.value, "version": FIRST_VERSION}, got=ex.got)
    expect(order.get("version") == FIRST_VERSION, f"a new order ({how}) starts at version "
           f"{order.get('version')!r}, not {FIRST_VERSION}", sent=ex.sent,
           expected={"version": FIRST_VERSION}, got=ex.got)

    token = customer.token if customer else ex.answer.get("token")
    expect(isinstance(token, str) and bool(token), "guest checkout answered no token",
           sent=ex.sent, expected="{order, token}", got=ex.got)
    stored = await target.api.order(token, order["id"])
    expect(stored.get("status") == Status.PENDING.value and stored.get("version") == FIRST_VERSION,
           f"the new order ({how}) reads back as {stored.get('status')!r}"
           f"{legacy_note(stored.get('status'))} version {stored.get('version')!r}",
           sent=f"GET the order {order['id']} as its customer",
           expected={"status": Status.PENDING.value, "version": FIRST_VERSION},
           got={"status": stored.get("status"), "version": stored.get("version")})

    name = Event.NEW_ORDER.value
    timeout = target.config.event_timeout_s
    came = await socket.wait_for(lambda _: bool(socket.events(name, order_id=order["id"])), timeout)
    expect(came, f"no {name} event for order {order['id']} reached a store owner within "
           f"{timeout:.0f} s", sent=ex.sent, expected=f"{name} with orderId {order['id']}",
           got=[r.event for r in socket.received])
    payload = socket.events(name, order_id=order["id"])[0].payload
    inner = payload.get("order")
    seen = {"status": payload.get("status"),
            "order.status": inner.get("status") if isinstance(inner, dict) else None}
    expect(seen["status"] == Status.PENDING.value
           and seen["order.status"] in (None, Status.PENDING.value),
           f"the {name} event of a new order ({how}) carries status {seen['status']!r}"
           f"{legacy_note(seen['status'])}", expected={"status": Status.PENDING.value},
           got=payload)
    return (f"{how}: {ex.status} with status {status}, version 1; reads back the same; "
            f"{name} to the store owner carries {seen['status']}")


_STARTS = (f"answers a {Status.PENDING.value} order at version 1, and its "
           f"{Event.NEW_ORDER.value} event says {Status.PENDING.value}")


@check("statuses.checkout_pending.card", "4", f"a checkout paid by card {_STARTS}")
async def checkout_pending_card(target: Target) -> str:
    customer = await target.user(Role.CUSTOMER)
    body = target.checkout_body(OrderType.DELIVERY, payment=payloads.card_payment())
    return await _starts_pending(target, "card payment", Operation.CHECKOUT, body, customer)


@check("statuses.checkout_pending.saved", "4",
       f"a checkout with a saved payment method {_STARTS}")
async def checkout_pending_saved(target: Target) -> str:
    customer = await target.user(Role.CUSTOMER)
    body = target.checkout_body(OrderType.PICKUP, payment=payloads.saved_payment())
    return await _starts_pending(target, "saved payment method", Operation.CHECKOUT, body, customer)


@check("statuses.checkout_pending.guest", "4",
       f"a guest checkout {_STARTS}")
async def checkout_pending_guest(target: Target) -> str:
    body = target.checkout_body(OrderType.DELIVERY, payment=payloads.card_payment())
    body["guest"] = payloads.guest_checkout(name=target.name("guest"),
                                            email=target.email("guest"))["guest"]
    return await _starts_pending(target, "guest checkout", Operation.GUEST_CHECKOUT, body, None)


# --- invalid values ------------------------------------------------------------------------------

async def _refused_everywhere(target: Target, values: list[str], what: str) -> str:
    """PATCH each value onto a pending order (store owner) and filter the list by it: 422."""
    owner = await target.user(Role.STORE_OWNER)
    customer = await target.user(Role.CUSTOMER)
    order = await target.new_order(customer)
    method, path = endpoint(Operation.UPDATE_STATUS, order_id=order["id"])
    for value in values:
        ex = await send(target, method, path, owner, json_body={"status": value})
        summary = f"{what} {value!r} was not refused"
        expect_error(ex, 422, summary)
        expect_valid_statuses(ex, summary)
    await expect_unchanged(target, owner, order, f"PATCHing {what} values")
    list_method, list_path = endpoint(Operation.LIST_ORDERS)
    for value in values:
        ex = await send(target, list_method, list_path, customer, params={"status": value})
        summary = f"the orders list filtered by {what} {value!r} was not refused"
        expect_error(ex, 422, summary)
        expect_valid_statuses(ex, summary)
    return (f"{len(values)} {what} values ({', '.join(values)}): PATCH and GET ?status= each 422 "
            f"naming the {len(VALID_STATUSES)} valid statuses; the order stayed "
            f"{order['status']} v{order['version']}")


@check("statuses.legacy_refused", "4",
       "every legacy status is a 422 naming the valid statuses, in a PATCH and in ?status=, "
       "and changes nothing")
async def legacy_refused(target: Target) -> str:
    return await _refused_everywhere(target, list(LEGACY_STATUSES), "legacy status")


@check("statuses.unknown_refused", "4",
       "a status outside the nine (made up, or in capitals) is a 422 naming the valid statuses")
async def unknown_refused(target: Target) -> str:
    values = [f"{target.prefix}_bogus", Status.PROCESSING.value.upper()]
    return await _refused_everywhere(target, values, "unknown status")
