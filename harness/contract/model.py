"""The contract's vocabulary: roles, statuses, events, rooms, limits.

Every name that travels on the wire is spelled here once (shared/CONTRACT.md is the prose
this encodes). The server emits with these names and the harness checks with them, so a
rename here changes both sides at once. This module imports nothing outside the standard
library: the server, the asyncio tests and the Locust workers all import it.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final


class Role(StrEnum):
    """Who a token speaks for (claim `role`)."""

    CUSTOMER = "customer"
    STORE_OWNER = "store_owner"
    DRIVER = "driver"


class Status(StrEnum):
    """The only valid order statuses (contract section 4)."""

    PENDING = "pending"
    PROCESSING = "processing"
    READY_FOR_PICKUP = "ready_for_pickup"
    READY_FOR_DELIVERY = "ready_for_delivery"
    DRIVER_ASSIGNED = "driver_assigned"
    PICKED_UP = "picked_up"
    IN_TRANSIT = "in_transit"
    DELIVERED = "delivered"
    CANCELLED = "cancelled"


#: Legacy values, invalid everywhere, with the statuses that replaced them (for messages and
#: for recognising a server that still emits them).
LEGACY_STATUSES: Final[dict[str, tuple[Status, ...]]] = {
    "new": (Status.PENDING,),
    "accepted": (Status.PROCESSING,),
    "packing": (Status.PROCESSING,),
    "ready": (Status.READY_FOR_PICKUP, Status.READY_FOR_DELIVERY),
    "out_for_delivery": (Status.IN_TRANSIT,),
    "completed": (Status.DELIVERED,),
}

#: Statuses after which nothing more happens to an order.
TERMINAL_STATUSES: Final = frozenset({Status.DELIVERED, Status.CANCELLED})
#: A new order's `version`; every change adds exactly 1.
FIRST_VERSION: Final = 1


class OrderType(StrEnum):
    DELIVERY = "delivery"
    PICKUP = "pickup"


class PaymentMethod(StrEnum):
    CARD = "card"
    SAVED = "saved"


class Event(StrEnum):
    """Server-to-client events (contract section 6)."""

    NEW_ORDER = "newOrder"
    ORDER_STATUS_UPDATED = "orderStatusUpdated"
    CUSTOMER_ORDER_UPDATE = "customer_order_update"
    DELIVERY_UPDATE = "delivery_update"


class ClientEvent(StrEnum):
    """Client-to-server events that the server answers with an ack (contract section 7)."""

    DRIVER_LOCATION = "driver_location"
    TIME_SYNC = "time_sync"


class DeliveryKind(StrEnum):
    """`delivery_update.kind`: a status move or a driver's location report."""

    STATUS = "status"
    LOCATION = "location"


class ConnectError(StrEnum):
    """`connect_error` messages for a refused Socket.IO handshake (contract section 2)."""

    UNAUTHORIZED = "unauthorized"
    TOKEN_EXPIRED = "token_expired"


#: Events a client may emit to try to join a room. None is part of the contract; a
#: conforming server ignores them all (section 3). The harness's adversarial users send them.
ROOM_JOIN_ATTEMPTS: Final = ("join", "joinRoom", "subscribe")

# --- Rooms -----------------------------------------------------------------------------

STORE_OWNERS_ROOM: Final = "store-owners"
_CUSTOMER_ROOM_PREFIX: Final = "customer_"
_DRIVER_ROOM_PREFIX: Final = "driver_"


def customer_room(customer_id: str) -> str:
    return f"{_CUSTOMER_ROOM_PREFIX}{customer_id}"


def driver_room(driver_id: str) -> str:
    return f"{_DRIVER_ROOM_PREFIX}{driver_id}"


def rooms_for(role: Role, user_id: str) -> tuple[str, ...]:
    """The rooms a socket joins on connect, derived from its token alone (section 3)."""
    if role is Role.CUSTOMER:
        return (customer_room(user_id),)
    if role is Role.STORE_OWNER:
        return (STORE_OWNERS_ROOM,)
    return (driver_room(user_id),)


# --- Wire details and limits -------------------------------------------------------------

API_PREFIX: Final = "/api"
SOCKETIO_PATH: Final = "/socket.io/"
SOCKETIO_NAMESPACE: Final = "/"
JWT_ALGORITHM: Final = "HS256"
TOKEN_LIFETIME_S: Final = 3600
MAX_BODY_BYTES: Final = 64 * 1024
MAX_SOCKET_MESSAGE_BYTES: Final = 1_000_000
ITEMS_PER_ORDER: Final = (1, 100)
QUANTITY_RANGE: Final = (1, 100)
PAGE_LIMIT_DEFAULT: Final = 20
PAGE_LIMIT_MAX: Final = 100
LAT_RANGE: Final = (-90.0, 90.0)
LNG_RANGE: Final = (-180.0, 180.0)

#: The one store of a single-store deployment: `storeId` defaults to it (section 5).
DEFAULT_STORE_ID: Final = "store-1"

#: While an order is in one of these, its assigned driver may report locations (section 8).
LOCATION_REPORT_STATUSES: Final = frozenset(
    {Status.DRIVER_ASSIGNED, Status.PICKED_UP, Status.IN_TRANSIT}
)

#: Statuses whose arrival on a delivery order also produces `delivery_update` (section 6).
DELIVERY_UPDATE_STATUSES: Final = frozenset(
    {Status.DRIVER_ASSIGNED, Status.PICKED_UP, Status.IN_TRANSIT, Status.DELIVERED}
)

#: The human-readable `customer_order_update.message` for each status. The contract only
#: requires a string; these are the reference server's words.
STATUS_MESSAGES: Final[dict[Status, str]] = {
    Status.PENDING: "We have received your order.",
    Status.PROCESSING: "The store is preparing your order.",
    Status.READY_FOR_PICKUP: "Your order is ready for pickup.",
    Status.READY_FOR_DELIVERY: "Your order is ready and waiting for a driver.",
    Status.DRIVER_ASSIGNED: "A driver has been assigned to your order.",
    Status.PICKED_UP: "Your driver has picked up your order.",
    Status.IN_TRANSIT: "Your order is on its way.",
    Status.DELIVERED: "Your order has been delivered.",
    Status.CANCELLED: "Your order has been cancelled.",
}
