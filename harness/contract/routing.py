"""The routing table: which events one change of an order produces, and to which rooms.

The server calls `emissions_for` to emit; the harness's ledger calls the same function to
know who must receive what (and, by difference, who must not). Contract sections 6 and 8.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from .model import (
    DELIVERY_UPDATE_STATUSES,
    STORE_OWNERS_ROOM,
    DeliveryKind,
    Event,
    OrderType,
    customer_room,
    driver_room,
)


class ChangeKind(StrEnum):
    """What happened to the order."""

    CREATED = "created"
    STATUS = "status"
    LOCATION = "location"


class Audience(StrEnum):
    """A room named by its part in the order, before ids are filled in."""

    STORE_OWNERS = "store-owners"
    CUSTOMER = "customer"
    DRIVER = "driver"


#: The routing table of section 6, as data (the docs print it).
ROUTES: Final[dict[Event, tuple[Audience, ...]]] = {
    Event.NEW_ORDER: (Audience.STORE_OWNERS,),
    Event.ORDER_STATUS_UPDATED: (Audience.STORE_OWNERS, Audience.CUSTOMER, Audience.DRIVER),
    Event.CUSTOMER_ORDER_UPDATE: (Audience.CUSTOMER,),
    Event.DELIVERY_UPDATE: (Audience.CUSTOMER, Audience.STORE_OWNERS, Audience.DRIVER),
}

#: Events that a status change produces, whatever the order type (section 6).
STATUS_EVENTS: Final = (Event.ORDER_STATUS_UPDATED, Event.CUSTOMER_ORDER_UPDATE)


@dataclass(frozen=True)
class OrderChange:
    """The facts of one change that routing depends on."""

    kind: ChangeKind
    order_id: str
    customer_id: str
    order_type: OrderType
    status: str
    driver_id: str | None = None


@dataclass(frozen=True)
class Emission:
    """One event going out once, to every room in `rooms` (one `eventId`, section 8)."""

    event: Event
    rooms: tuple[str, ...]
    delivery_kind: DeliveryKind | None = None


def rooms_of(event: Event, change: OrderChange) -> tuple[str, ...]:
    """The rooms `event` goes to for this change; the driver's room only once assigned."""
    rooms: list[str] = []
    for audience in ROUTES[event]:
        if audience is Audience.STORE_OWNERS:
            rooms.append(STORE_OWNERS_ROOM)
        elif audience is Audience.CUSTOMER:
            rooms.append(customer_room(change.customer_id))
        elif change.driver_id:
            rooms.append(driver_room(change.driver_id))
    return tuple(rooms)


def events_of(change: OrderChange) -> list[tuple[Event, DeliveryKind | None]]:
    """The event types one change produces, in the order the server emits them."""
    if change.kind is ChangeKind.CREATED:
        return [(Event.NEW_ORDER, None)]
    if change.kind is ChangeKind.LOCATION:
        return [(Event.DELIVERY_UPDATE, DeliveryKind.LOCATION)]
    produced: list[tuple[Event, DeliveryKind | None]] = [(e, None) for e in STATUS_EVENTS]
    if change.order_type is OrderType.DELIVERY and change.status in DELIVERY_UPDATE_STATUSES:
        produced.append((Event.DELIVERY_UPDATE, DeliveryKind.STATUS))
    return produced


def emissions_for(change: OrderChange) -> list[Emission]:
    """Everything one change sends: event, rooms and `delivery_update.kind`."""
    return [Emission(event, rooms_of(event, change), kind) for event, kind in events_of(change)]
