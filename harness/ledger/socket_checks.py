"""What one socket can judge alone, the moment an event lands: invalid, duplicate, out of
order, and the leaks that need no knowledge of other users.

A socket here is a user's connection slot: it keeps its memory across reconnects, so an
event delivered once before a drop and again after it is a duplicate.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from ..contract import Event, Role
from ..contract.routing import Audience
from .reader import EventFacts, Reader, reference_reader
from .records import CountsByEvent, Key, Receipt, version_key


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
    #: The highest version seen, or status position where the target sends no versions.
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
    #: What the payload says, read by the file (users react to it without reading it again).
    facts: EventFacts | None = None


def _meant_for(reader: Reader, facts: EventFacts) -> str | None:
    """The room an event must have come through, as far as its payload tells."""
    contract = reader.contract
    if facts.kind is Event.NEW_ORDER:
        return contract.room(Audience.STORE_OWNERS)
    if facts.kind is Event.DELIVERY_UPDATE and facts.driver_id is not None:
        return contract.room(Audience.DRIVER, facts.driver_id)
    if facts.customer_id is not None:
        return contract.room(Audience.CUSTOMER, facts.customer_id)
    return None


class SocketLedger:
    """Local checks for one socket slot; `role` None means the socket must receive nothing.
    Payloads are read by the target's contract file (`reader`; ours by default)."""

    def __init__(self, socket_id: str, role: Role | None, user_id: str | None,
                 counts: CountsByEvent, remembered_orders: int = 5000,
                 reader: Reader | None = None) -> None:
        self.socket_id = socket_id
        self.role = role
        self.user_id = user_id
        self.reader = reader or reference_reader()
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

    def _leak_reason(self, event: str, facts: EventFacts) -> str | None:
        if self.role is None:
            return "this socket must receive no events"
        kind = facts.kind
        if kind is None:
            return f"{event!r} is not an event of the contract"
        if not self.reader.goes_to(kind, self.role):
            return f"{event} is never sent to a {self.role.value}"
        if (self.role is Role.CUSTOMER and self.reader.reads_customer_id(kind)
                and facts.customer_id != self.user_id):
            return "another customer's order"
        if (self.role is Role.DRIVER and kind is Event.DELIVERY_UPDATE
                and self.reader.reads_driver_id(kind) and facts.driver_id != self.user_id):
            return "an order assigned to another driver"
        return None

    def receive(self, event: str, payload: Any, received_ms: float) -> Judgement:
        counts = self._counts[event]
        reader = self.reader
        facts = reader.event(event, payload)
        # Judged by what the contract states (as the conformance checks judge it): the
        # reference server's own choices where it is silent are no fault in another.
        problem = reader.problem(event, payload, facts)
        if problem is not None:
            counts.invalid += 1
        order_id = facts.order_id
        reason = self._leak_reason(event, facts)
        if reason is not None:
            counts.leaked += 1
            leak = Leak(event, order_id, self.socket_id, self.role.value if self.role else "none",
                        _meant_for(reader, facts), reason)
            return Judgement(None, problem, leak=leak, facts=facts)
        key = reader.key(facts)
        if key is None or order_id is None:
            # Nothing to match it by; it is already counted invalid.
            return Judgement(None, problem, facts=facts)
        seen = self._seen(order_id)
        event_id, version = facts.event_id, facts.version
        # The same change twice: the same (event, key). A location report's key is its
        # coordinates (its sender cannot know its version), but a parked driver reports the
        # same place twice as two changes: where the payload has a version, that decides.
        same = (event, key)
        if key[0] == "l" and version is not None:
            same = (event, version_key(order_id, version))
        if (event_id is not None and event_id in seen.event_ids) or same in seen.keys:
            counts.duplicate += 1
            return Judgement(None, problem, duplicate=True, facts=facts)
        if event_id is not None:
            seen.event_ids.add(event_id)
        seen.keys.add(same)
        # Out of order: by version where the target sends one, else by the status's place in
        # the file's flow (a status event after a later one).
        out_of_order = False
        rank = version if version is not None else (
            None if reader.by_version else reader.position(facts.status))
        if rank is not None:
            if rank < seen.max_version:
                counts.out_of_order += 1
                out_of_order = True
            seen.max_version = max(seen.max_version, rank)
        return Judgement(Receipt(self.socket_id, event, key, received_ms), problem,
                         out_of_order=out_of_order, facts=facts)
