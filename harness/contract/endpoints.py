"""The HTTP API as data: one row per endpoint (contract section 5).

The server binds its handlers by `operation`, the harness's client builds its URLs from
`path`, and the OpenAPI document is generated from these rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Final

from . import schemas as s
from .errors import ErrorCode
from .model import API_PREFIX, Role


class Operation(StrEnum):
    REGISTER = "register"
    LOGIN = "login"
    CHECKOUT = "checkout"
    GUEST_CHECKOUT = "guestCheckout"
    LIST_ORDERS = "listOrders"
    GET_ORDER = "getOrder"
    UPDATE_STATUS = "updateOrderStatus"
    LIST_DRIVERS = "listDrivers"
    ASSIGN_DRIVER = "assignDriver"
    HEALTH = "health"


E = ErrorCode
_AUTH_ERRORS: Final = (E.UNAUTHORIZED, E.TOKEN_EXPIRED)
_BODY_ERRORS: Final = (E.INVALID_JSON, E.INVALID_BODY, E.PAYLOAD_TOO_LARGE)


@dataclass(frozen=True)
class Endpoint:
    operation: Operation
    method: str
    path: str
    summary: str
    #: Roles allowed at all; None means no token is needed.
    roles: frozenset[Role] | None
    request: s.Schema | None
    success_status: int
    response: s.Schema
    errors: tuple[ErrorCode, ...] = field(default=())

    def url_path(self, **params: str) -> str:
        return self.path.format(**params)

    @property
    def changes_order(self) -> bool:
        """A request that creates or moves an order, so that events follow (contract section 6)."""
        return self.method != "GET" and self.response in (s.ORDER_OUT, s.GUEST_CHECKOUT_OUT)


_ALL_ROLES: Final = frozenset(Role)
_OWNER: Final = frozenset({Role.STORE_OWNER})

ENDPOINTS: Final[tuple[Endpoint, ...]] = (
    Endpoint(Operation.REGISTER, "POST", f"{API_PREFIX}/auth/register", "Create an account",
             None, s.REGISTER_IN, 201, s.AUTH_OUT, (*_BODY_ERRORS, E.EMAIL_TAKEN)),
    Endpoint(Operation.LOGIN, "POST", f"{API_PREFIX}/auth/login", "Sign in",
             None, s.LOGIN_IN, 200, s.AUTH_OUT, (*_BODY_ERRORS, E.INVALID_CREDENTIALS)),
    Endpoint(Operation.CHECKOUT, "POST", f"{API_PREFIX}/checkout", "Place an order",
             frozenset({Role.CUSTOMER}), s.CHECKOUT_IN, 201, s.ORDER_OUT,
             (*_AUTH_ERRORS, E.FORBIDDEN, *_BODY_ERRORS, E.UNKNOWN_STORE, E.CARD_INVALID,
              E.CARD_EXPIRED)),
    Endpoint(Operation.GUEST_CHECKOUT, "POST", f"{API_PREFIX}/guest/checkout",
             "Place an order without an account", None, s.GUEST_CHECKOUT_IN, 201,
             s.GUEST_CHECKOUT_OUT, (*_BODY_ERRORS, E.UNKNOWN_STORE, E.CARD_INVALID, E.CARD_EXPIRED)),
    Endpoint(Operation.LIST_ORDERS, "GET", f"{API_PREFIX}/orders",
             "Orders this user may see, newest first", _ALL_ROLES, None, 200, s.ORDER_LIST_OUT,
             (*_AUTH_ERRORS, E.INVALID_QUERY, E.INVALID_STATUS)),
    Endpoint(Operation.GET_ORDER, "GET", f"{API_PREFIX}/orders/{{order_id}}", "One order",
             _ALL_ROLES, None, 200, s.ORDER_OUT, (*_AUTH_ERRORS, E.NOT_FOUND)),
    Endpoint(Operation.UPDATE_STATUS, "PATCH", f"{API_PREFIX}/orders/{{order_id}}/status",
             "Move an order to another status", _ALL_ROLES, s.STATUS_PATCH_IN, 200, s.ORDER_OUT,
             (*_AUTH_ERRORS, *_BODY_ERRORS, E.INVALID_STATUS, E.NOT_FOUND, E.INVALID_TRANSITION,
              E.TRANSITION_FORBIDDEN)),
    Endpoint(Operation.LIST_DRIVERS, "GET", f"{API_PREFIX}/drivers", "Registered drivers",
             _OWNER, None, 200, s.DRIVERS_OUT, (*_AUTH_ERRORS, E.FORBIDDEN)),
    Endpoint(Operation.ASSIGN_DRIVER, "POST", f"{API_PREFIX}/orders/{{order_id}}/assign-driver",
             "Give a ready delivery order to a driver", _OWNER, s.ASSIGN_DRIVER_IN, 200,
             s.ORDER_OUT, (*_AUTH_ERRORS, E.FORBIDDEN, *_BODY_ERRORS, E.UNKNOWN_DRIVER,
                           E.NOT_FOUND, E.INVALID_TRANSITION)),
    Endpoint(Operation.HEALTH, "GET", "/health", "Liveness", None, None, 200, s.HEALTH_OUT),
)
del E

BY_OPERATION: Final[dict[Operation, Endpoint]] = {e.operation: e for e in ENDPOINTS}
