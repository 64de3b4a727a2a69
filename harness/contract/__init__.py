"""The order-tracking contract, machine-readable: the one source for server, harness and docs.

Import from here (`from harness.contract import Event, Status, emissions_for`). This package
imports neither Locust nor gevent, so the server and asyncio code can use it safely.
"""

from .endpoints import BY_OPERATION, ENDPOINTS, Endpoint, Operation
from .errors import HTTP_STATUS, PRECEDENCE, ErrorCode
from .model import (
    API_PREFIX,
    DEFAULT_STORE_ID,
    DELIVERY_UPDATE_STATUSES,
    FIRST_VERSION,
    ITEMS_PER_ORDER,
    JWT_ALGORITHM,
    LAT_RANGE,
    LEGACY_STATUSES,
    LNG_RANGE,
    LOCATION_REPORT_STATUSES,
    MAX_BODY_BYTES,
    MAX_SOCKET_MESSAGE_BYTES,
    PAGE_LIMIT_DEFAULT,
    PAGE_LIMIT_MAX,
    ROOM_JOIN_ATTEMPTS,
    SOCKETIO_NAMESPACE,
    SOCKETIO_PATH,
    STATUS_MESSAGES,
    STORE_OWNERS_ROOM,
    TERMINAL_STATUSES,
    TOKEN_LIFETIME_S,
    ClientEvent,
    ConnectError,
    DeliveryKind,
    Event,
    OrderType,
    PaymentMethod,
    Role,
    Status,
    customer_room,
    driver_room,
    rooms_for,
)
from .routing import ROUTES, ChangeKind, Emission, OrderChange, emissions_for
from .transitions import (
    TRANSITIONS,
    Actor,
    Transition,
    Via,
    actor_of,
    allowed_next,
    find_transition,
    lifecycle,
)
from .validation import event_problem, problem, stated_problem

__all__ = [name for name in dir() if not name.startswith("_")]
