"""The people around one order, each with a live socket, and what each must receive.

A check builds a scene (the order's customer, a store owner, a driver, bystanders), causes
changes, and writes down each change as the contract's `OrderChange`; `expected_at()` says,
from the routing table alone, which (event, version) each party must receive, and
`routing_problems()` compares that with what arrived.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..api import Session
from ..contract import (
    ChangeKind,
    OrderChange,
    OrderType,
    Role,
    Status,
    emissions_for,
    rooms_for,
)
from ..contract.validation import STATED_PAYLOADS, stated_problem
from ..realtime import RealtimeClient, Received
from .target import Target


def timestamp_forms(parties: list[Party], order_id: str) -> str:
    """How the events' timestamps came (`updatedAt`, `order.createdAt`), for the evidence."""
    forms: set[str] = set()
    for p in parties:
        for r in p.got(order_id):
            payload = r.payload if isinstance(r.payload, dict) else {}
            order = payload.get("order")
            inner = order if isinstance(order, dict) else {}
            for value in (payload.get("updatedAt"), inner.get("createdAt")):
                if isinstance(value, str):
                    forms.add("ISO 8601 strings")
                elif isinstance(value, (int, float)) and not isinstance(value, bool):
                    forms.add("epoch milliseconds")
    return " and ".join(sorted(forms)) or "none carried"


@dataclass
class Party:
    """A user with a live socket, in the rooms its token puts it in."""

    label: str
    session: Session
    client: RealtimeClient

    @property
    def rooms(self) -> tuple[str, ...]:
        return rooms_for(self.session.role, self.session.user_id)

    def got(self, order_id: str) -> list[Received]:
        """This order's events at this socket, in arrival order."""
        return self.client.events(order_id=order_id)


async def party(target: Target, role: Role, label: str) -> Party:
    session = await target.user(role, label)
    return Party(label, session, await target.socket(session.token))


@dataclass
class DeliveryScene:
    """A delivery order at some status, with its store owner, customer and driver listening."""

    owner: Party
    customer: Party
    driver: Party
    order: dict[str, Any]

    @property
    def parties(self) -> list[Party]:
        return [self.owner, self.customer, self.driver]


async def delivery_scene(target: Target, label: str, status: Status) -> DeliveryScene:
    """The parties (`<label>-customer`, `<label>-driver`, the store owner) connected first,
    then their order walked to `status`."""
    owner = await party(target, Role.STORE_OWNER, "owner")
    customer = await party(target, Role.CUSTOMER, f"{label}-customer")
    driver = await party(target, Role.DRIVER, f"{label}-driver")
    order = await target.order_at(customer.session, status, owner=owner.session,
                                  driver=driver.session)
    return DeliveryScene(owner, customer, driver, order)


@dataclass
class Ledger:
    """The changes a check caused to one order, as the contract describes them."""

    order_id: str
    customer_id: str
    order_type: OrderType
    changes: list[tuple[OrderChange, int]] = field(default_factory=list)  # (change, version)

    @classmethod
    def of(cls, order: dict[str, Any]) -> Ledger:
        ledger = cls(order["id"], order["customerId"], OrderType(order["orderType"]))
        ledger.add(ChangeKind.CREATED, order["status"], order["version"], None)
        return ledger

    def add(self, kind: ChangeKind, status: str, version: int, driver_id: str | None) -> None:
        change = OrderChange(kind, self.order_id, self.customer_id, self.order_type, status,
                             driver_id)
        self.changes.append((change, version))

    def expected_at(self, party: Party) -> Counter[tuple[str, int | None]]:
        """(event, version) -> how many times this party must receive it (once)."""
        want: Counter[tuple[str, int | None]] = Counter()
        for change, version in self.changes:
            for emission in emissions_for(change):
                if set(emission.rooms) & set(party.rooms):
                    want[(emission.event.value, version)] = 1
        return want


def received(party: Party, order_id: str) -> Counter[tuple[str, int | None]]:
    """(event, version) -> how many times this party received it (None: no version given)."""
    return Counter((r.event, r.payload.get("version") if isinstance(r.payload, dict) else None)
                   for r in party.got(order_id))


def complete(ledger: Ledger, parties: list[Party]) -> bool:
    """Every party has at least what it must receive (for waiting; extras judged later)."""
    return all(not (ledger.expected_at(p) - received(p, ledger.order_id)) for p in parties)


async def wait_until(condition: Callable[[], bool], timeout: float, poll_s: float = 0.02) -> bool:
    """Wait until `condition()` holds (events may land at any of several sockets)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() >= deadline:
            return False
        await asyncio.sleep(poll_s)
    return True


async def wait_complete(target: Target, ledger: Ledger, parties: list[Party]) -> bool:
    """Wait until every expected event has arrived, or the event timeout has passed."""
    return await wait_until(lambda: complete(ledger, parties), target.config.event_timeout_s)


def payload_problems(party: Party, order_id: str, ledger: Ledger | None = None) -> list[str]:
    """Events that do not match their schema, or whose status disagrees with the change."""
    statuses = {v: c.status for c, v in ledger.changes} if ledger else {}
    problems = []
    for r in party.got(order_id):
        found = stated_problem(r.event, r.payload)
        if found:
            problems.append(f"{party.label} got {r.event} with {found}")
            continue
        version = r.payload.get("version")
        if version in statuses and r.payload.get("status") != statuses[version]:
            problems.append(f"{party.label} got {r.event} v{version} with status "
                            f"{r.payload.get('status')!r}, the change made it {statuses[version]!r}")
    return problems


def routing_problems(ledger: Ledger, parties: list[Party]) -> tuple[list[str], dict[str, Any]]:
    """Missing, extra or doubled events per party, and bad payloads; and the evidence."""
    problems: list[str] = []
    evidence: dict[str, Any] = {}
    for p in parties:
        want = ledger.expected_at(p)
        got = received(p, ledger.order_id)
        missing = sorted(want - got)
        extra = sorted(got - want)
        for event, version in missing:
            problems.append(f"{p.label} ({', '.join(p.rooms)}) did not receive {event} v{version}")
        for event, version in extra:
            times = got[(event, version)]
            what = (f"{times} times" if (event, version) in want
                    else "though its rooms are not the event's")
            problems.append(f"{p.label} ({', '.join(p.rooms)}) received {event} v{version} {what}")
        problems += payload_problems(p, ledger.order_id, ledger)
        evidence[p.label] = {"rooms": list(p.rooms),
                             "expected": [f"{e} v{v}" for e, v in sorted(want)],
                             "got": [f"{r.event} v{r.payload.get('version') if isinstance(r.payload, dict) else '?'}"
                                     for r in p.got(ledger.order_id)]}
    return problems, evidence


def arrival_problems(p: Party, order_id: str) -> list[str]:
    """Section 6: one order's events arrive in `version` order, and none twice."""
    problems = []
    last = None
    seen: set[tuple[str, Any]] = set()
    ids: set[Any] = set()
    for r in p.got(order_id):
        payload = r.payload if isinstance(r.payload, dict) else {}
        version, event_id = payload.get("version"), payload.get("eventId")
        if (r.event, version) in seen or (event_id is not None and event_id in ids):
            problems.append(f"{p.label} received {r.event} v{version} twice")
        seen.add((r.event, version))
        ids.add(event_id)
        if isinstance(version, int) and last is not None and version < last:
            problems.append(f"{p.label} received v{version} after v{last} ({r.event})")
        if isinstance(version, int):
            last = version if last is None else max(last, version)
    return problems


__all__ = [
    "STATED_PAYLOADS",
    "DeliveryScene",
    "Ledger",
    "Party",
    "arrival_problems",
    "complete",
    "delivery_scene",
    "party",
    "payload_problems",
    "received",
    "routing_problems",
    "stated_problem",
    "timestamp_forms",
    "wait_complete",
    "wait_until",
]
