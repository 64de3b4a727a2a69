"""What one socket can judge alone, the moment an event lands: invalid, duplicate, out of
order, and the leaks that need no knowledge of other users.

A socket here is a user's connection slot: it keeps its memory across reconnects, so an
event delivered once before a drop and again after it is a duplicate.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from ..contract import (
    ROUTES,
    STORE_OWNERS_ROOM,
    Event,
    Role,
    customer_room,
    driver_room,
    stated_problem,
)
from ..contract.routing import Audience
from .records import CountsByEvent, Key, Receipt, key_of, version_key

_AUDIENCE = {Role.CUSTOMER: Audience.CUSTOMER, Role.STORE_OWNER: Audience.STORE_OWNERS,
             Role.DRIVER: Audience.DRIVER}


@dataclass(frozen=True)
class Leak:
    """One event at a socket that must not have had it, for the isolation report."""

    event: str
    order_id: str | None
    socket: str
    recipient_role: str
    #: The room the event must have come through, as far as its payload tells.
    meant_for: str | None
    reason: str


@dataclass
class _OrderSeen:
    max_version: int = 0
    event_ids: set[str] = field(default_factory=set)
    keys: set[tuple[str, Key]] = field(default_factory=set)


@dataclass(frozen=True)
class Judgement:
    """What the socket concluded; `receipt` is set for a first copy that the run must match."""

    receipt: Receipt | None
    invalid: str | None = None
    duplicate: bool = False
    out_of_order: bool = False
    leak: Leak | None = None


def _meant_for(event: str, payload: dict[str, Any]) -> str | None:
    if event == Event.NEW_ORDER:
        return STORE_OWNERS_ROOM
    if event == Event.DELIVERY_UPDATE and isinstance(payload.get("driverId"), str):
        return driver_room(payload["driverId"])
    if isinstance(payload.get("customerId"), str):
        return customer_room(payload["customerId"])
    return None


class SocketLedger:
    """Local checks for one socket slot; `role` None means the socket must receive nothing."""

    def __init__(self, socket_id: str, role: Role | None, user_id: str | None,
                 counts: CountsByEvent, remembered_orders: int = 5000) -> None:
        self.socket_id = socket_id
        self.role = role
        self.user_id = user_id
        self._counts = counts
        self._orders: OrderedDict[str, _OrderSeen] = OrderedDict()
        self._limit = remembered_orders

    def _seen(self, order_id: str) -> _OrderSeen:
        seen = self._orders.get(order_id)
        if seen is None:
            seen = self._orders[order_id] = _OrderSeen()
            if len(self._orders) > self._limit:
                self._orders.popitem(last=False)
        else:
            self._orders.move_to_end(order_id)
        return seen

    def _leak_reason(self, event: str, payload: dict[str, Any]) -> str | None:
        if self.role is None:
            return "this socket must receive no events"
        try:
            audiences = ROUTES[Event(event)]
        except ValueError:
            return f"{event!r} is not an event of the contract"
        if _AUDIENCE[self.role] not in audiences:
            return f"{event} is never sent to a {self.role.value}"
        if self.role is Role.CUSTOMER and payload.get("customerId") != self.user_id:
            return "another customer's order"
        if (self.role is Role.DRIVER and event == Event.DELIVERY_UPDATE
                and payload.get("driverId") != self.user_id):
            return "an order assigned to another driver"
        return None

    def receive(self, event: str, payload: Any, received_ms: float) -> Judgement:
        counts = self._counts[event]
        # Judged by what the contract's prose states (as the conformance checks judge it):
        # the reference server's own choices where it is silent are no fault in another.
        problem = stated_problem(event, payload)
        if problem is not None:
            counts.invalid += 1
        body = payload if isinstance(payload, dict) else {}
        order_id = body.get("orderId") if isinstance(body.get("orderId"), str) else None
        reason = self._leak_reason(event, body)
        if reason is not None:
            counts.leaked += 1
            leak = Leak(event, order_id, self.socket_id, self.role.value if self.role else "none",
                        _meant_for(event, body), reason)
            return Judgement(None, problem, leak=leak)
        key = key_of(event, payload)
        if key is None or order_id is None:
            # Nothing to match it by; it is already counted invalid.
            return Judgement(None, problem)
        seen = self._seen(order_id)
        event_id = body.get("eventId")
        version = body.get("version")
        # The same change twice: the same (event, order, version). A location report's key is
        # its coordinates (its sender cannot know its version), but a parked driver reports the
        # same place twice as two changes: where the payload has a version, that decides.
        same = (event, key)
        if key[0] != "v" and isinstance(version, int) and not isinstance(version, bool):
            same = (event, version_key(order_id, version))
        if (isinstance(event_id, str) and event_id in seen.event_ids) or same in seen.keys:
            counts.duplicate += 1
            return Judgement(None, problem, duplicate=True)
        if isinstance(event_id, str):
            seen.event_ids.add(event_id)
        seen.keys.add(same)
        out_of_order = False
        if isinstance(version, int) and not isinstance(version, bool):
            if version < seen.max_version:
                counts.out_of_order += 1
                out_of_order = True
            seen.max_version = max(seen.max_version, version)
        return Judgement(Receipt(self.socket_id, event, key, received_ms), problem,
                         out_of_order=out_of_order)
