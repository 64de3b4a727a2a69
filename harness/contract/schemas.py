"""JSON Schemas (draft-07) for every event payload, ack, request and response body.

Payload schemas allow extra properties (the contract says a checker must). Request schemas
are structural: a body that fails one is a 400; value checks that the contract gives other
codes (422 for a status outside the enum, 402 for a bad card) are made after them.
Schemas are built from the enums in `model`, never by spelling a status again.
"""

from __future__ import annotations

from typing import Any, Final

from .model import (
    ITEMS_PER_ORDER,
    QUANTITY_RANGE,
    DeliveryKind,
    Event,
    OrderType,
    PaymentMethod,
    Role,
    Status,
)

Schema = dict[str, Any]

STRING: Final[Schema] = {"type": "string"}
ID: Final[Schema] = {"type": "string", "minLength": 1, "maxLength": 200}
NAME: Final[Schema] = {"type": "string", "minLength": 1, "maxLength": 200}
EMAIL: Final[Schema] = {"type": "string", "maxLength": 254, "pattern": r"^[^@\s]+@[^@\s]+\.[^@\s]+$"}
TIMESTAMP: Final[Schema] = {
    "type": "string",
    "format": "date-time",
    "description": "ISO 8601 date-time, UTC (what JSON.stringify makes of a JavaScript Date).",
}
EPOCH_MS: Final[Schema] = {"type": "integer", "minimum": 0, "description": "ms since the epoch"}
STATUS: Final[Schema] = {"type": "string", "enum": [s.value for s in Status]}
MONEY: Final[Schema] = {"type": "number", "minimum": 0}


def _object(properties: dict[str, Schema], required: list[str] | tuple[str, ...] = (),
            **extra: Any) -> Schema:
    """An object schema; extra properties stay allowed, as the contract asks of checkers."""
    return {"type": "object", "properties": properties, "required": list(required), **extra}


LOCATION: Final = _object(
    {"lat": {"type": "number", "minimum": -90, "maximum": 90},
     "lng": {"type": "number", "minimum": -180, "maximum": 180}},
    ["lat", "lng"],
)
ADDRESS: Final = _object(
    {"street": NAME, "city": NAME, "postalCode": {"type": "string", "minLength": 1, "maxLength": 20},
     "lat": LOCATION["properties"]["lat"], "lng": LOCATION["properties"]["lng"]},
    ["street", "city", "postalCode"],
)
ITEM_IN: Final = _object(
    {"productId": ID, "name": NAME,
     "quantity": {"type": "integer", "minimum": QUANTITY_RANGE[0], "maximum": QUANTITY_RANGE[1]},
     "unitPrice": {"type": "number", "minimum": 0, "maximum": 1_000_000}},
    ["productId", "name", "quantity", "unitPrice"],
)
ITEMS_IN: Final[Schema] = {
    "type": "array", "items": ITEM_IN, "minItems": ITEMS_PER_ORDER[0], "maxItems": ITEMS_PER_ORDER[1],
}
ORDER: Final = _object(
    {
        "id": ID,
        "orderNumber": {"type": ["string", "integer"]},
        "customerId": ID,
        "storeId": ID,
        "orderType": {"type": "string", "enum": [t.value for t in OrderType]},
        "items": {**ITEMS_IN, "items": _object({**ITEM_IN["properties"], "unitPrice": MONEY},
                                               ITEM_IN["required"])},
        "total": MONEY,
        "status": STATUS,
        "driverId": {"type": ["string", "null"]},
        "deliveryAddress": {"oneOf": [ADDRESS, {"type": "null"}]},
        "statusHistory": {"type": "array", "items": _object({"status": STATUS, "at": TIMESTAMP},
                                                            ["status", "at"])},
        "version": {"type": "integer", "minimum": 1},
        "createdAt": TIMESTAMP,
        "updatedAt": TIMESTAMP,
    },
    ["id", "orderNumber", "customerId", "storeId", "orderType", "items", "total", "status",
     "driverId", "deliveryAddress", "statusHistory", "version", "createdAt", "updatedAt"],
)

# --- Events, server to client (section 6) ----------------------------------------------------

_COMMON: Final[dict[str, Schema]] = {
    "eventId": ID,
    "orderId": ID,
    "customerId": ID,
    "status": STATUS,
    "version": {"type": "integer", "minimum": 1},
    "emittedAt": EPOCH_MS,
}


def _event(extra: dict[str, Schema], required: list[str], **more: Any) -> Schema:
    return _object({**_COMMON, **extra}, [*_COMMON, *required], **more)


EVENT_PAYLOADS: Final[dict[Event, Schema]] = {
    Event.NEW_ORDER: _event({"order": ORDER}, ["order"]),
    Event.ORDER_STATUS_UPDATED: _event(
        {"previousStatus": STATUS, "updatedAt": TIMESTAMP}, ["previousStatus", "updatedAt"]),
    Event.CUSTOMER_ORDER_UPDATE: _event(
        {"previousStatus": STATUS, "message": {"type": "string", "minLength": 1}},
        ["previousStatus", "message"]),
    Event.DELIVERY_UPDATE: _event(
        {"driverId": ID, "kind": {"type": "string", "enum": [k.value for k in DeliveryKind]},
         "location": LOCATION, "eta": {"type": ["number", "null"], "minimum": 0}},
        ["driverId", "kind"],
        **{"if": {"properties": {"kind": {"const": DeliveryKind.LOCATION.value}}},
           "then": {"required": ["location", "eta"]}},
    ),
}

# --- Client to server (section 7) ----------------------------------------------------------

DRIVER_LOCATION_IN: Final = _object(
    {"orderId": ID, "lat": {"type": "number"}, "lng": {"type": "number"}},
    ["orderId", "lat", "lng"],
)
DRIVER_LOCATION_ACK: Final = _object(
    {"ok": {"type": "boolean"}, "error": STRING}, ["ok"],
    **{"if": {"properties": {"ok": {"const": False}}}, "then": {"required": ["error"]}},
)
TIME_SYNC_IN: Final = _object({"clientTime": {"type": "number"}})
TIME_SYNC_ACK: Final = _object({"serverTime": EPOCH_MS}, ["serverTime"])

# --- HTTP bodies (section 5) -----------------------------------------------------------------

CARD: Final = _object(
    {"number": {"type": "string", "minLength": 1, "maxLength": 40},
     "expMonth": {"type": "integer", "minimum": 1, "maximum": 12},
     "expYear": {"type": "integer", "minimum": 2000, "maximum": 9999},
     "cvc": {"type": "string", "pattern": r"^[0-9]{3,4}$"}},
    ["number", "expMonth", "expYear", "cvc"],
)
PAYMENT: Final[Schema] = {
    "oneOf": [
        _object({"method": {"const": PaymentMethod.CARD.value}, "card": CARD}, ["method", "card"]),
        _object({"method": {"const": PaymentMethod.SAVED.value}, "paymentMethodId": ID},
                ["method", "paymentMethodId"]),
    ]
}
_ORDER_TYPE: Final[Schema] = {"type": "string", "enum": [t.value for t in OrderType]}
_NEEDS_ADDRESS: Final[Schema] = {
    "if": {"properties": {"orderType": {"const": OrderType.DELIVERY.value}}},
    "then": {"required": ["deliveryAddress"]},
}

REGISTER_IN: Final = _object(
    {"name": NAME, "email": EMAIL, "password": {"type": "string", "minLength": 8, "maxLength": 200},
     "role": {"type": "string", "enum": [r.value for r in Role]}},
    ["name", "email", "password", "role"],
)
LOGIN_IN: Final = _object(
    {"email": {"type": "string", "maxLength": 254}, "password": {"type": "string", "maxLength": 200}},
    ["email", "password"],
)
CHECKOUT_IN: Final = _object(
    {"items": ITEMS_IN, "orderType": _ORDER_TYPE, "deliveryAddress": ADDRESS, "storeId": ID,
     "payment": PAYMENT},
    ["items", "orderType", "payment"], **_NEEDS_ADDRESS,
)
GUEST_CHECKOUT_IN: Final = _object(
    {"guest": _object({"name": NAME, "email": EMAIL,
                       "phone": {"type": "string", "minLength": 3, "maxLength": 40}},
                      ["name", "email", "phone"]),
     "items": ITEMS_IN, "orderType": _ORDER_TYPE, "deliveryAddress": ADDRESS, "storeId": ID,
     "payment": PAYMENT},
    ["guest", "items", "orderType", "payment"], **_NEEDS_ADDRESS,
)
#: Structural only: a string outside the enum is a 422 (section 4), not a 400.
STATUS_PATCH_IN: Final = _object({"status": {"type": "string", "maxLength": 100}}, ["status"])
ASSIGN_DRIVER_IN: Final = _object({"driverId": ID}, ["driverId"])

USER: Final = _object(
    {"id": ID, "name": NAME, "email": STRING, "role": {"type": "string", "enum": [r.value for r in Role]}},
    ["id", "name", "email", "role"],
)
AUTH_OUT: Final = _object({"token": STRING, "user": USER}, ["token", "user"])
ORDER_OUT: Final = _object({"order": ORDER}, ["order"])
GUEST_CHECKOUT_OUT: Final = _object({"order": ORDER, "token": STRING}, ["order", "token"])
ORDER_LIST_OUT: Final = _object(
    {"orders": {"type": "array", "items": ORDER}, "page": {"type": "integer", "minimum": 1},
     "limit": {"type": "integer", "minimum": 1}, "total": {"type": "integer", "minimum": 0}},
    ["orders", "page", "limit", "total"],
)
DRIVERS_OUT: Final = _object(
    {"drivers": {"type": "array", "items": _object({"id": ID, "name": NAME}, ["id", "name"])}},
    ["drivers"],
)
HEALTH_OUT: Final = _object({"status": {"const": "ok"}}, ["status"])
ERROR_OUT: Final = _object(
    # Section 5 and 8 name all three keys; `details` may be null.
    {"error": _object({"code": STRING, "message": STRING, "details": {}},
                      ["code", "message", "details"])},
    ["error"],
)
