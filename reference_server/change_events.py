"""Turn MongoDB change-event documents into the contract's events (contract section 6).

Each event is built from the change's own data: the inserted document, or the update's
`updatedFields` (writers store `previousStatus`, and the status at a location report, in the
same update). A `fullDocument` post-image ("updateLookup") shows the order as it is when
looked up, possibly after later changes, so it serves only for fields that never change once
set (`customerId`, `orderType`, `deliveryAddress`; `driverId` only for changes that need a
driver) and only when the stream has not told us those already. Pure and synchronous: no I/O,
so it is tested on recorded change documents without a database.
"""

from __future__ import annotations

import logging
import math
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Final

from harness.contract import (
    DELIVERY_UPDATE_STATUSES,
    STATUS_MESSAGES,
    ChangeKind,
    DeliveryKind,
    Emission,
    Event,
    OrderChange,
    OrderType,
    Status,
    emissions_for,
)

from .orders import public_order

log = logging.getLogger(__name__)

_EVENT_ID_NS = uuid.UUID("6f1c1f52-5d2a-4a8e-9a36-0d8f3a4c2b10")
#: Assumed driver speed for `eta` (km/h): a city average, good enough for a reference server.
_DRIVER_KMH = 30.0


@dataclass(frozen=True)
class Outgoing:
    """One event ready to send, but for `emittedAt`, which is stamped just before the emit."""

    emission: Emission
    order_id: str
    payload: dict[str, Any]


@dataclass(frozen=True)
class _Facts:
    """What the interpreter remembers of an order from the stream itself."""

    customer_id: str
    order_type: OrderType
    status: str
    version: int
    driver_id: str | None = None
    address: dict[str, Any] | None = None


def _unflatten(updated: dict[str, Any]) -> dict[str, Any]:
    """`{"driverLocation.lat": 1}` -> `{"driverLocation": {"lat": 1}}`; array paths dropped."""
    out: dict[str, Any] = {}
    for path, value in updated.items():
        parts = path.split(".")
        if any(p.isdigit() for p in parts[1:]):
            continue
        node = out
        for p in parts[:-1]:
            node = node.setdefault(p, {})
            if not isinstance(node, dict):
                break
        else:
            node[parts[-1]] = value
    return out


def _iso(value: Any) -> str:
    if isinstance(value, datetime):
        utc = value.astimezone(UTC)
        return utc.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def eta_seconds(location: dict[str, Any], address: dict[str, Any] | None) -> float | None:
    """Straight-line distance to the delivery address at a city speed; None without coordinates."""
    if not address or not isinstance(address.get("lat"), (int, float)) \
            or not isinstance(address.get("lng"), (int, float)):
        return None
    lat1, lng1 = math.radians(location["lat"]), math.radians(location["lng"])
    lat2, lng2 = math.radians(address["lat"]), math.radians(address["lng"])
    a = (math.sin((lat2 - lat1) / 2) ** 2
         + math.cos(lat1) * math.cos(lat2) * math.sin((lng2 - lng1) / 2) ** 2)
    km = 2 * 6371.0 * math.asin(math.sqrt(min(1.0, a)))
    return round(km / _DRIVER_KMH * 3600.0, 1)


class ChangeInterpreter:
    """Reads the change stream in order and says which events each change produces."""

    def __init__(self, remembered_orders: int = 200_000) -> None:
        self._facts: OrderedDict[str, _Facts] = OrderedDict()
        self._limit = remembered_orders

    def _remember(self, order_id: str, facts: _Facts) -> None:
        self._facts[order_id] = facts
        self._facts.move_to_end(order_id)
        if len(self._facts) > self._limit:
            self._facts.popitem(last=False)

    def interpret(self, change: dict[str, Any]) -> list[Outgoing]:
        op = change.get("operationType")
        order_id = change.get("documentKey", {}).get("_id")
        if order_id is None:
            return []
        order_id = str(order_id)
        token = str(change.get("_id", {}).get("_data", change.get("_id")))
        if op in ("insert", "replace"):
            return self._from_document(op, order_id, token, change["fullDocument"])
        if op == "update":
            return self._from_update(order_id, token, change)
        if op == "delete":
            self._facts.pop(order_id, None)
        return []

    def _from_document(self, op: str, order_id: str, token: str, doc: dict[str, Any]) -> list[Outgoing]:
        before = self._facts.get(order_id)
        facts = _Facts(customer_id=str(doc["customerId"]), order_type=OrderType(doc["orderType"]),
                       status=doc["status"], version=int(doc.get("version", 1)),
                       driver_id=doc.get("driverId"), address=doc.get("deliveryAddress"))
        self._remember(order_id, facts)
        if op == "insert":
            change = self._order_change(ChangeKind.CREATED, order_id, facts)
            return self._build(change, token, facts, {"order": public_order(doc)})
        if before is not None and before.status != facts.status:
            change = self._order_change(ChangeKind.STATUS, order_id, facts)
            extra = {"previousStatus": doc.get("previousStatus", before.status),
                     "updatedAt": doc.get("updatedAt") or _iso(None)}
            return self._build(change, token, facts, extra)
        return []

    def _from_update(self, order_id: str, token: str, change: dict[str, Any]) -> list[Outgoing]:
        changed = _unflatten(change.get("updateDescription", {}).get("updatedFields", {}))
        post = change.get("fullDocument") or {}
        known = self._facts.get(order_id)
        if known is None:
            if not post:
                log.warning("change to order %s: not seen before and no post-image; skipped", order_id)
                return []
            # Only what never changes may come from the post-image. `driverId` does change
            # (from none to the assigned driver), so it is trusted only for a change that
            # cannot happen without a driver: a location report, or a status at or after
            # `driver_assigned`.
            known = _Facts(customer_id=str(post["customerId"]), order_type=OrderType(post["orderType"]),
                           status=post["status"], version=int(post.get("version", 1)),
                           address=post.get("deliveryAddress"))
            lookup_status_used = True
            status_now = changed.get("status")
            if status_now in DELIVERY_UPDATE_STATUSES or (
                    "status" not in changed and isinstance(changed.get("driverLocation"), dict)):
                known = replace(known, driver_id=post.get("driverId"))
        else:
            lookup_status_used = False
        driver_id = changed.get("driverId") or known.driver_id
        version = changed.get("version")
        if not isinstance(version, int):
            version = known.version + (0 if lookup_status_used else 1)
        previous = known.status
        location = changed.get("driverLocation")

        if "status" in changed:
            status = changed["status"]
            previous = changed.get("previousStatus", previous)
            facts = replace(known, status=status, version=version, driver_id=driver_id)
            self._remember(order_id, facts)
            if status == previous and "previousStatus" not in changed:
                return []
            kind = ChangeKind.STATUS
            extra = {"previousStatus": previous,
                     "updatedAt": changed.get("updatedAt") or _iso(change.get("wallTime"))}
        elif isinstance(location, dict):
            status = location.get("status") or known.status
            facts = replace(known, status=status, version=version, driver_id=driver_id)
            self._remember(order_id, facts)
            full = {**(post.get("driverLocation") or {}), **location}
            if not isinstance(full.get("lat"), (int, float)) or not isinstance(full.get("lng"), (int, float)):
                return []
            point = {"lat": full["lat"], "lng": full["lng"]}
            kind = ChangeKind.LOCATION
            extra = {"location": point, "eta": eta_seconds(point, known.address)}
        else:
            self._remember(order_id, replace(known, version=version, driver_id=driver_id))
            return []
        return self._build(self._order_change(kind, order_id, facts), token, facts, extra)

    @staticmethod
    def _order_change(kind: ChangeKind, order_id: str, facts: _Facts) -> OrderChange:
        return OrderChange(kind=kind, order_id=order_id, customer_id=facts.customer_id,
                           order_type=facts.order_type, status=facts.status, driver_id=facts.driver_id)

    @staticmethod
    def _build(change: OrderChange, token: str, facts: _Facts, extra: dict[str, Any]) -> list[Outgoing]:
        out = []
        for emission in emissions_for(change):
            payload: dict[str, Any] = {
                "eventId": str(uuid.uuid5(_EVENT_ID_NS, f"{token}|{emission.event.value}")),
                "orderId": change.order_id,
                "customerId": change.customer_id,
                "status": change.status,
                "version": facts.version,
            }
            PAYLOAD_FIELDS[emission.event](payload, change, emission, extra)
            out.append(Outgoing(emission, change.order_id, payload))
        return out


def _new_order(payload: dict[str, Any], change: OrderChange, emission: Emission,
               extra: dict[str, Any]) -> None:
    payload["order"] = extra["order"]


def _order_status_updated(payload: dict[str, Any], change: OrderChange, emission: Emission,
                          extra: dict[str, Any]) -> None:
    payload["previousStatus"] = extra["previousStatus"]
    payload["updatedAt"] = extra["updatedAt"]


def _customer_order_update(payload: dict[str, Any], change: OrderChange, emission: Emission,
                           extra: dict[str, Any]) -> None:
    payload["previousStatus"] = extra["previousStatus"]
    try:
        payload["message"] = STATUS_MESSAGES[Status(change.status)]
    except ValueError:
        payload["message"] = f"Your order is {change.status}."


def _delivery_update(payload: dict[str, Any], change: OrderChange, emission: Emission,
                     extra: dict[str, Any]) -> None:
    payload["driverId"] = change.driver_id
    payload["kind"] = (emission.delivery_kind or DeliveryKind.STATUS).value
    if emission.delivery_kind is DeliveryKind.LOCATION:
        payload["location"] = extra["location"]
        payload["eta"] = extra["eta"]


#: Each event's own payload fields, beside the ones every event carries (`_build`). An event
#: the contract adds without an entry here fails at once (KeyError), and a test compares
#: this table with the contract's (tests/server/test_change_events.py).
PAYLOAD_FIELDS: Final[dict[Event, Callable[[dict[str, Any], OrderChange, Emission, dict[str, Any]],
                                           None]]] = {
    Event.NEW_ORDER: _new_order,
    Event.ORDER_STATUS_UPDATED: _order_status_updated,
    Event.CUSTOMER_ORDER_UPDATE: _customer_order_update,
    Event.DELIVERY_UPDATE: _delivery_update,
}
