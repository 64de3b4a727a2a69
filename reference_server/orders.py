"""Order rules that need no I/O: prices, cards, visibility, and which move a request makes.

Pure functions, so the HTTP layer stays thin and the rules are tested without a server.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Any

from harness.contract import (
    FIRST_VERSION,
    LEGACY_STATUSES,
    ErrorCode,
    OrderType,
    Role,
    Status,
    Transition,
    Via,
    actor_of,
    allowed_next,
    find_transition,
)

from .errors import ApiError
from .security import Identity

#: Fields of the stored document that the API shows (the contract's order plus two extras).
_PUBLIC_FIELDS = ("orderNumber", "customerId", "storeId", "orderType", "items", "total", "status",
                  "driverId", "deliveryAddress", "statusHistory", "version", "createdAt",
                  "updatedAt", "driverLocation", "payment")


def iso_now() -> str:
    """UTC, millisecond precision, as JavaScript's `Date.toISOString()` writes it."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def new_id() -> str:
    return uuid.uuid4().hex


def cents(value: float) -> float:
    return round(float(value) + 0.0, 2)


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def check_card(card: dict[str, Any], today: date | None = None) -> None:
    """402 for a number that fails Luhn (or is no card number at all) or a past expiry."""
    digits = card["number"].replace(" ", "").replace("-", "")
    # isascii: str.isdigit() is also true of "²" and other digits int() cannot read.
    if not (digits.isascii() and digits.isdigit() and 12 <= len(digits) <= 19 and luhn_ok(digits)):
        raise ApiError(ErrorCode.CARD_INVALID, "the card number is not valid")
    today = today or datetime.now(UTC).date()
    if (card["expYear"], card["expMonth"]) < (today.year, today.month):
        raise ApiError(ErrorCode.CARD_EXPIRED, "the card has expired")


def payment_summary(payment: dict[str, Any]) -> dict[str, Any]:
    """What is kept of a payment: never the card number or CVC."""
    if payment["method"] == "card":
        digits = payment["card"]["number"].replace(" ", "").replace("-", "")
        return {"method": "card", "last4": digits[-4:]}
    return {"method": "saved", "paymentMethodId": payment["paymentMethodId"]}


def new_order(*, customer_id: str, store_id: str, body: dict[str, Any], status: str) -> dict[str, Any]:
    """The document to insert; `total` is computed here, whatever the client sent."""
    items = [
        {"productId": it["productId"], "name": it["name"], "quantity": it["quantity"],
         "unitPrice": cents(it["unitPrice"])}
        for it in body["items"]
    ]
    total = cents(sum(it["quantity"] * it["unitPrice"] for it in items))
    order_id, now = new_id(), iso_now()
    address = body.get("deliveryAddress") if body["orderType"] == OrderType.DELIVERY else None
    return {
        "_id": order_id,
        "orderNumber": f"ORD-{order_id[:8].upper()}",
        "customerId": customer_id,
        "storeId": store_id,
        "orderType": body["orderType"],
        "items": items,
        "total": total,
        "status": status,
        "driverId": None,
        "deliveryAddress": address,
        "statusHistory": [{"status": status, "at": now}],
        "version": FIRST_VERSION,
        "createdAt": now,
        "updatedAt": now,
        "payment": payment_summary(body["payment"]),
    }


def public_order(doc: dict[str, Any]) -> dict[str, Any]:
    view = {"id": doc["_id"]}
    view.update((k, doc[k]) for k in _PUBLIC_FIELDS if k in doc)
    return view


def visible_to(identity: Identity, order: dict[str, Any]) -> bool:
    """Store owners see every order; customers their own; drivers the ones assigned to them."""
    if identity.role is Role.STORE_OWNER:
        return True
    if identity.role is Role.CUSTOMER:
        return order.get("customerId") == identity.sub
    return order.get("driverId") == identity.sub


def valid_status(value: str) -> Status:
    """The status named in a request, or 422 naming the valid ones."""
    try:
        return Status(value)
    except ValueError:
        valid = [s.value for s in Status]
        hint = ""
        if value in LEGACY_STATUSES:
            hint = f" ({value!r} is a legacy status; use " + \
                   " or ".join(s.value for s in LEGACY_STATUSES[value]) + ")"
        raise ApiError(ErrorCode.INVALID_STATUS, f"invalid status {value!r}{hint}",
                       {"validStatuses": valid}) from None


def current_status(order: dict[str, Any]) -> Status:
    """The stored status; a legacy `new` (the `legacy_status` fault) counts as `pending`."""
    raw = order["status"]
    if raw in LEGACY_STATUSES:
        return LEGACY_STATUSES[raw][0]
    return Status(raw)


def decide_move(identity: Identity, order: dict[str, Any], target: Status, via: Via) -> Transition:
    """The transition a request makes, or the 409/403 the contract gives (section 8 order)."""
    source = current_status(order)
    order_type = OrderType(order["orderType"])
    move = find_transition(source, target, order_type)
    if move is None or move.via is not via:
        nexts = allowed_next(source, order_type)
        why = ""
        if move is not None and move.via is Via.ASSIGN_DRIVER:
            why = f"; {target.value} is reached only by assigning a driver"
        raise ApiError(
            ErrorCode.INVALID_TRANSITION,
            f"cannot move an order from {source.value} to {target.value}{why}",
            {"currentStatus": source.value, "allowedNext": [s.value for s in nexts]},
        )
    actor = actor_of(identity.role, is_order_customer=order.get("customerId") == identity.sub,
                     is_assigned_driver=order.get("driverId") == identity.sub)
    if actor is None or actor not in move.actors:
        raise ApiError(ErrorCode.TRANSITION_FORBIDDEN,
                       f"a {identity.role.value} may not move this order to {target.value}",
                       {"currentStatus": source.value, "allowedBy": sorted(a.value for a in move.actors)})
    return move
