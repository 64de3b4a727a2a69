"""Our contract (shared/CONTRACT.md) rendered as a contract file: the default file.

Rendered from the tables of this package, never written by hand, so that the file a team
copies and the server it describes cannot drift apart; `docs/contract.toml` is this text
(`harness contract export`), and `default()` loads it through `teamfile`, as any team's.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import tomli_w

from . import schemas as s
from .endpoints import BY_OPERATION, Operation
from .model import (
    DEFAULT_STORE_ID,
    DELIVERY_UPDATE_STATUSES,
    SOCKETIO_PATH,
    STORE_OWNERS_ROOM,
    TERMINAL_STATUSES,
    ClientEvent,
    DeliveryKind,
    Event,
    OrderType,
    PaymentMethod,
    Role,
    Status,
    customer_room,
    driver_room,
)
from .routing import ROUTES, STATUS_EVENTS, ChangeKind
from .teamfile import FORMAT, TeamContract, loads
from .transitions import TRANSITIONS, Actor, Via

HEADER = """\
# The realtime-harness reference contract (shared/CONTRACT.md) as a contract file.
# Generated from harness/contract by `harness contract export`: do not edit. To describe
# your own server, copy this file (or examples/team-orders.toml) and change what differs;
# README, "Testing your own backend", walks through every table.
"""

_ROLE_OF_ACTOR = {Actor.STORE_OWNER: Role.STORE_OWNER, Actor.ORDER_CUSTOMER: Role.CUSTOMER,
                  Actor.ASSIGNED_DRIVER: Role.DRIVER}
_ACTION_OF_VIA = {Via.PATCH_STATUS: "update_status", Via.ASSIGN_DRIVER: "assign_driver"}


def _property(schema: s.Schema, name: str) -> str:
    """A body or payload key, checked against its schema (a rename there fails here)."""
    assert name in schema["properties"], (name, sorted(schema["properties"]))
    return name


def _action(operation: Operation, answer: dict[str, str], body: dict[str, Any] | None = None) -> dict[str, Any]:
    ep = BY_OPERATION[operation]
    # The endpoint table names its path parameters as the file does (`{order_id}`).
    out: dict[str, Any] = {"method": ep.method, "path": ep.path, "status": ep.success_status}
    if body is not None:
        out["body"] = body
    out["answer"] = answer
    return out


def _checkout_body(schema: s.Schema, payment: dict[str, str]) -> dict[str, Any]:
    def p(name: str) -> str:
        return _property(schema, name)

    return {p("items"): "{items}", p("orderType"): "{order_type}", p("deliveryAddress"): "{address}",
            p("storeId"): "{store_id}", p("payment"): payment}


def document() -> dict[str, Any]:
    """The file's content, as data."""
    auth_out, order_out = s.AUTH_OUT, s.ORDER_OUT
    token = _property(auth_out, "token")
    user_id = f"{_property(auth_out, 'user')}.{_property(s.USER, 'id')}"
    order = _property(order_out, "order")
    card = {"method": PaymentMethod.CARD.value, "card": "{card}"}
    saved = {"method": PaymentMethod.SAVED.value, "paymentMethodId": "{payment_method_id}"}

    def p(name: str) -> str:
        return _property(s.ORDER, name)

    payload = s.EVENT_PAYLOADS[Event.ORDER_STATUS_UPDATED]

    def e(name: str) -> str:
        return _property(payload, name)

    fields = {"order_id": e("orderId"), "status": e("status"), "customer_id": e("customerId"),
              "event_id": e("eventId"), "version": e("version"), "emitted_at": e("emittedAt")}
    on_status = {ChangeKind.STATUS.value}
    produced = {Event.NEW_ORDER: {ChangeKind.CREATED.value},
                **{event: on_status for event in STATUS_EVENTS},
                Event.DELIVERY_UPDATE: on_status | {ChangeKind.LOCATION.value}}
    events: dict[str, Any] = {}
    for event, audiences in ROUTES.items():
        rule: dict[str, Any] = {"name": event.value, "rooms": [a.name.lower() for a in audiences],
                                "on": sorted(produced[event]), "fields": fields}
        if event is Event.NEW_ORDER:
            rule["fields"] = {**fields, "order": _property(s.EVENT_PAYLOADS[event], "order")}
        if event is Event.DELIVERY_UPDATE:
            update = s.EVENT_PAYLOADS[Event.DELIVERY_UPDATE]
            rule["statuses"] = [st.value for st in Status if st in DELIVERY_UPDATE_STATUSES]
            rule["order_types"] = [OrderType.DELIVERY.value]
            rule["fields"] = {**fields, "driver_id": _property(update, "driverId"),
                              "location": _property(update, "location"), "kind": _property(update, "kind")}
            rule["location_kind"] = DeliveryKind.LOCATION.value
        events[event.name.lower()] = rule
    location = s.DRIVER_LOCATION_IN
    return {
        "format": FORMAT,
        "name": "realtime-harness reference contract",
        "socketio_path": SOCKETIO_PATH,
        "auth": {"mode": "register", "http_header": "Authorization", "http_value": "Bearer {token}",
                 "socket": "auth", "socket_key": "token", "socket_value": "{token}",
                 "claims": {"user_id": "sub", "role": "role"},
                 "roles": {r.value: r.value for r in Role}},
        "values": {"store_id": DEFAULT_STORE_ID},
        "actions": {
            "register": _action(Operation.REGISTER, {"token": token, "user_id": user_id},
                                {_property(s.REGISTER_IN, k): "{" + k + "}"
                                 for k in ("name", "email", "password", "role")}),
            "login": _action(Operation.LOGIN, {"token": token, "user_id": user_id},
                             {_property(s.LOGIN_IN, k): "{" + k + "}" for k in ("email", "password")}),
            "checkout": _action(Operation.CHECKOUT, {"order": order}, _checkout_body(s.CHECKOUT_IN, card)),
            "checkout_saved": _action(Operation.CHECKOUT, {"order": order},
                                      _checkout_body(s.CHECKOUT_IN, saved)),
            "guest_checkout": _action(
                Operation.GUEST_CHECKOUT,
                {"order": _property(s.GUEST_CHECKOUT_OUT, "order"),
                 "token": _property(s.GUEST_CHECKOUT_OUT, "token")},
                {_property(s.GUEST_CHECKOUT_IN, "guest"): "{guest}",
                 **_checkout_body(s.GUEST_CHECKOUT_IN, card)}),
            "get_order": _action(Operation.GET_ORDER, {"order": order}),
            "list_orders": _action(Operation.LIST_ORDERS, {"orders": _property(s.ORDER_LIST_OUT, "orders")}),
            "update_status": _action(Operation.UPDATE_STATUS, {"order": order},
                                     {_property(s.STATUS_PATCH_IN, "status"): "{status}"}),
            "assign_driver": _action(Operation.ASSIGN_DRIVER, {"order": order},
                                     {_property(s.ASSIGN_DRIVER_IN, "driverId"): "{driver_id}"}),
            "list_drivers": _action(Operation.LIST_DRIVERS,
                                    {"drivers": _property(s.DRIVERS_OUT, "drivers"), "driver_id": "id"}),
        },
        "order": {"id": p("id"), "status": p("status"), "customer_id": p("customerId"),
                  "driver_id": p("driverId"), "order_type": p("orderType"), "version": p("version"),
                  "items": p("items"), "created_at": p("createdAt"),
                  "types": {t.value: t.value for t in OrderType}},
        "lifecycle": {
            "statuses": [st.value for st in Status],
            "first": Status.PENDING.value,
            "terminal": [st.value for st in Status if st in TERMINAL_STATUSES],
            "cancelled": Status.CANCELLED.value,
            "transitions": [
                {"from": t.source.value, "to": t.target.value,
                 "by": sorted(_ROLE_OF_ACTOR[a].value for a in t.actors),
                 "order_types": sorted(o.value for o in t.order_types),
                 "action": _ACTION_OF_VIA[t.via]}
                for t in TRANSITIONS],
        },
        "rooms": {"store_owners": STORE_OWNERS_ROOM, "customer": customer_room("{id}"),
                  "driver": driver_room("{id}")},
        "events": events,
        "client_events": {"location": {
            "name": ClientEvent.DRIVER_LOCATION.value,
            "body": {_property(location, k): "{" + v + "}"
                     for k, v in (("orderId", "order_id"), ("lat", "lat"), ("lng", "lng"))},
            "ack_ok": _property(s.DRIVER_LOCATION_ACK, "ok")}},
        "errors": {"code": "error.code", "message": "error.message"},
    }


def text() -> str:
    """The default contract file, exactly as `docs/contract.toml` holds it."""
    return HEADER + "\n" + tomli_w.dumps(document())


@cache
def default() -> TeamContract:
    """Our contract, loaded as a contract file (`--contract` when none is given)."""
    return loads(text(), source="the reference contract (docs/contract.toml)")
