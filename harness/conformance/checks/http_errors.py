"""HTTP errors: 400, 413, 402, 403, 401 with the contract's error shape, which of several
errors wins, and unknown fields ignored (sections 2, 5, 8).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any, cast

from ... import payloads
from ...api import Session
from ...contract import (
    LEGACY_STATUSES,
    MAX_BODY_BYTES,
    Operation,
    OrderType,
    PaymentMethod,
    Role,
    Status,
)
from ..exchange import Exchange, endpoint, expect_answer, expect_error, expect_unchanged, send
from ..model import expect
from ..registry import check
from ..target import Target
from .transitions import unknown_id

#: A body that is not JSON, as a client with a bug sends it.
NOT_JSON = b'{"items": [{"productId": "p1",'
#: Over the limit, padded by an unknown field (ignored, so only the size is wrong).
OVERSIZE = MAX_BODY_BYTES + 4096
#: A bearer token that is no JWT at all.
BAD_TOKEN = "not-a-jwt"
#: The precedence case section 8 does not place (an unknown driver: 422 or 404).
UNPLACED = "a driverId that is no driver, an unknown order"


async def _total(target: Target, customer: Session) -> int:
    return int((await target.api.list_orders(customer.token))["total"])


async def _nothing_created(target: Target, customer: Session, before: int, what: str) -> None:
    after = await _total(target, customer)
    expect(after == before, f"{what} created orders: the customer's order list went from "
           f"{before} to {after}", expected=before, got=after)


def _without(body: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k != key}


def _with_item(body: dict[str, Any], **item: Any) -> dict[str, Any]:
    out = cast(dict[str, Any], json.loads(json.dumps(body)))  # a deep copy
    out["items"][0].update(item)
    return out


async def _chunks(data: bytes, size: int = 8192) -> AsyncIterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i:i + size]


@check("http.error.400", "5",
       "a body that is not JSON, has the wrong types or misses a field is a 400 with the error "
       "shape, and creates or changes nothing")
async def error_400(target: Target) -> str:
    customer = await target.user(Role.CUSTOMER)
    owner = await target.user(Role.STORE_OWNER)
    order = await target.new_order(customer)
    before = await _total(target, customer)
    good = target.checkout_body(OrderType.DELIVERY)
    checkout_method, checkout_path = endpoint(Operation.CHECKOUT)
    raw: dict[str, bytes] = {"a body that is not JSON": NOT_JSON, "an empty body": b""}
    bodies: dict[str, Any] = {
        "a JSON array, not an object": [good],
        "items that is a string": {**good, "items": "two apples"},
        "a quantity that is a string": _with_item(good, quantity="2"),
        "a quantity that is no whole number": _with_item(good, quantity=1.5),
        "a payment that is a string": {**good, "payment": PaymentMethod.CARD.value},
        "no items": _without(good, "items"),
        "no payment": _without(good, "payment"),
        "a delivery order without deliveryAddress": _without(good, "deliveryAddress"),
    }
    seen = 0
    for what, content in raw.items():
        ex = await send(target, checkout_method, checkout_path, customer, content=content,
                        shown=repr(content))
        expect_error(ex, 400, f"checkout with {what} was not a 400")
        seen += 1
    for what, body in bodies.items():
        ex = await send(target, checkout_method, checkout_path, customer, json_body=body)
        expect_error(ex, 400, f"checkout with {what} was not a 400")
        seen += 1
    await _nothing_created(target, customer, before, "refused checkouts")

    patch_method, patch_path = endpoint(Operation.UPDATE_STATUS, order_id=order["id"])
    patches: dict[str, Any] = {"no status": {}, "a status that is a number": {"status": 7},
                               "a status that is a list": {"status": [Status.PROCESSING.value]}}
    ex = await send(target, patch_method, patch_path, owner, content=NOT_JSON, shown=repr(NOT_JSON))
    expect_error(ex, 400, "a status PATCH with a body that is not JSON was not a 400")
    for what, body in patches.items():
        ex = await send(target, patch_method, patch_path, owner, json_body=body)
        expect_error(ex, 400, f"a status PATCH with {what} was not a 400")
    seen += 1 + len(patches)
    await expect_unchanged(target, owner, order, "refused status PATCHes")
    return (f"{seen} malformed bodies (checkout: {len(raw) + len(bodies)}, status PATCH: "
            f"{1 + len(patches)}) each 400 with the error shape; no order created or changed")


@check("http.error.413", "5",
       f"a body over {MAX_BODY_BYTES // 1024} KiB (sized, or chunked) is a 413 or 400 with the "
       f"error shape, and creates or changes nothing")
async def error_413(target: Target) -> str:
    customer = await target.user(Role.CUSTOMER)
    owner = await target.user(Role.STORE_OWNER)
    order = await target.new_order(customer)
    before = await _total(target, customer)
    pad = "x" * OVERSIZE
    checkout = json.dumps(target.checkout_body(OrderType.DELIVERY, note=pad)).encode()
    # Valid but for its size: a server that only looked at the fields would move the order.
    patch = json.dumps({"status": Status.PROCESSING.value, "note": pad}).encode()
    method, path = endpoint(Operation.CHECKOUT)
    patch_method, patch_path = endpoint(Operation.UPDATE_STATUS, order_id=order["id"])
    cases = (
        (method, path, customer, checkout, len(checkout), "a checkout"),
        (method, path, customer, _chunks(checkout), len(checkout), "a chunked checkout"),
        (patch_method, patch_path, owner, patch, len(patch), "a status PATCH"),
    )
    seen = []
    for method_, path_, user, content, size, what in cases:
        ex = await send(target, method_, path_, user, content=content,
                        shown=f"<{what} of {size:,} bytes, valid but for an unknown padding field>")
        expect_error(ex, (400, 413), f"{what} of {size:,} bytes was not refused")
        seen.append(f"{what} {ex.status}")
    await _nothing_created(target, customer, before, "oversized checkouts")
    await expect_unchanged(target, owner, order, "an oversized status PATCH")
    return f"bodies over {MAX_BODY_BYTES:,} bytes: {', '.join(seen)}; nothing created or changed"


@check("http.error.402", "5",
       "a card that fails the Luhn check, or has expired, is a 402 with the error shape, and "
       "creates nothing")
async def error_402(target: Target) -> str:
    customer = await target.user(Role.CUSTOMER)
    before = await _total(target, customer)
    cards = {"a card number that fails the Luhn check":
             payloads.card_payment(number="4242 4242 4242 4241"),
             "an expired card": payloads.card_payment(years_ahead=-1)}
    method, path = endpoint(Operation.CHECKOUT)
    for what, payment in cards.items():
        ex = await send(target, method, path, customer,
                        json_body=target.checkout_body(OrderType.DELIVERY, payment=payment))
        expect_error(ex, 402, f"a checkout with {what} was not a 402")
    guest = target.checkout_body(OrderType.PICKUP, payment=cards["an expired card"])
    guest["guest"] = payloads.guest_checkout(name=target.name("guest"),
                                             email=target.email("guest"))["guest"]
    guest_method, guest_path = endpoint(Operation.GUEST_CHECKOUT)
    ex = await send(target, guest_method, guest_path, None, json_body=guest,
                    as_whom="a guest (no token)")
    expect_error(ex, 402, "a guest checkout with an expired card was not a 402")
    await _nothing_created(target, customer, before, "refused card payments")
    return ("checkout with a Luhn-invalid card, with an expired card, and a guest checkout with "
            "an expired card: each 402 with the error shape; nothing created")


@check("http.error.403", "2, 5",
       "a valid token whose role may not use an endpoint is a 403 with the error shape")
async def error_403(target: Target) -> str:
    customer = await target.user(Role.CUSTOMER)
    owner = await target.user(Role.STORE_OWNER)
    driver = await target.user(Role.DRIVER)
    order = await target.new_order(customer)
    drivers_method, drivers_path = endpoint(Operation.LIST_DRIVERS)
    assign_method, assign_path = endpoint(Operation.ASSIGN_DRIVER, order_id=order["id"])
    checkout_method, checkout_path = endpoint(Operation.CHECKOUT)
    body = target.checkout_body(OrderType.PICKUP)
    cases: list[tuple[str, Session, str, str, Any]] = [
        ("GET the drivers list", customer, drivers_method, drivers_path, None),
        ("GET the drivers list", driver, drivers_method, drivers_path, None),
        ("assign a driver to their own order", customer, assign_method, assign_path,
         {"driverId": driver.user_id}),
        ("check out", owner, checkout_method, checkout_path, body),
        ("check out", driver, checkout_method, checkout_path, body),
    ]
    seen = []
    for what, user, method, path, json_body in cases:
        ex = await send(target, method, path, user,
                        **({} if json_body is None else {"json_body": json_body}))
        expect_error(ex, 403, f"a {user.role.value} could {what}")
        seen.append(f"{user.role.value} {what}")
    await expect_unchanged(target, customer, order, "a customer's assign-driver")
    return f"{len(seen)} requests by a role that may not, each 403: {'; '.join(seen)}"


@check("http.error.401", "2, 5",
       "a request without a token, or with one that is no JWT, is a 401 with the error shape")
async def error_401(target: Target) -> str:
    nobody = unknown_id()
    body = target.checkout_body(OrderType.DELIVERY)
    cases = [
        (*endpoint(Operation.CHECKOUT), body),
        (*endpoint(Operation.LIST_ORDERS), None),
        (*endpoint(Operation.GET_ORDER, order_id=nobody), None),
        (*endpoint(Operation.UPDATE_STATUS, order_id=nobody), {"status": Status.PROCESSING.value}),
        (*endpoint(Operation.LIST_DRIVERS), None),
    ]
    seen = 0
    for method, path, json_body in cases:
        for token, whom in ((None, "nobody (no token)"), (BAD_TOKEN, f"the token {BAD_TOKEN!r}")):
            body_if_any: dict[str, Any] = {} if json_body is None else {"json_body": json_body}
            ex = await send(target, method, path, None, token=token, as_whom=whom, **body_if_any)
            expect_error(ex, 401, "a request without a valid token was not a 401")
            seen += 1
    return (f"{seen} requests ({len(cases)} endpoints, no token and a token that is no JWT): "
            f"each 401 with the error shape")


@check("http.precedence", "8",
       "when several things are wrong, the error that wins is the first in section 8's order "
       "(401, 403, 400/413, 422, 404, 409, 403)")
async def precedence(target: Target) -> str:
    customer = await target.user(Role.CUSTOMER)
    other = await target.user(Role.CUSTOMER, "b")
    owner = await target.user(Role.STORE_OWNER)
    driver = await target.user(Role.DRIVER)
    other_driver = await target.user(Role.DRIVER, "b")
    order = await target.new_order(customer, OrderType.DELIVERY)
    nobody = unknown_id()
    legacy = next(iter(LEGACY_STATUSES))
    oversized_legacy = json.dumps({"status": legacy, "note": "x" * OVERSIZE}).encode()
    checkout = endpoint(Operation.CHECKOUT)
    patch_unknown = endpoint(Operation.UPDATE_STATUS, order_id=nobody)
    patch_order = endpoint(Operation.UPDATE_STATUS, order_id=order["id"])
    assign_unknown = endpoint(Operation.ASSIGN_DRIVER, order_id=nobody)
    # (what is wrong, expected statuses, request, as whom, how to send)
    cases: list[tuple[str, tuple[int, ...], tuple[str, str], Session | None, dict[str, Any]]] = [
        ("a token that is no JWT, a body that is not JSON", (401,), checkout, None,
         {"token": BAD_TOKEN, "as_whom": f"the token {BAD_TOKEN!r}", "content": NOT_JSON}),
        ("no token, a legacy status, an unknown order", (401,), patch_unknown, None,
         {"json_body": {"status": legacy}}),
        ("a store owner checking out, a body that is not JSON", (403,), checkout, owner,
         {"content": NOT_JSON}),
        ("a customer assigning a driver, a body that is not JSON, an unknown order", (403,),
         assign_unknown, customer, {"content": NOT_JSON}),
        ("a body that is not JSON, an unknown order", (400,), patch_unknown, customer,
         {"content": NOT_JSON}),
        ("an oversized body with a legacy status", (400, 413), patch_order, owner,
         {"content": oversized_legacy, "shown": f"<{len(oversized_legacy):,} bytes: "
                                                f"status {legacy!r} and padding>"}),
        ("a legacy status, an unknown order", (422,), patch_unknown, owner,
         {"json_body": {"status": legacy}}),
        ("a legacy status, another customer's order", (422,), patch_order, other,
         {"json_body": {"status": legacy}}),
        # Section 8 places 422 for a status value only: an unknown driver may be judged
        # before the order (422, the reference server) or after it (404). Either is right.
        (UNPLACED, (404, 422), assign_unknown, owner,
         {"json_body": {"driverId": f"{target.prefix}-no-such-driver"}}),
        ("an unknown order, a valid status", (404,), patch_unknown, owner,
         {"json_body": {"status": Status.PROCESSING.value}}),
        ("an unknown order, a registered driver", (404,), assign_unknown, owner,
         {"json_body": {"driverId": driver.user_id}}),
        ("another customer's order, a move that does not exist", (404,), patch_order, other,
         {"json_body": {"status": Status.DELIVERED.value}}),
        ("an order not assigned to this driver, a driver's move", (404,), patch_order,
         other_driver, {"json_body": {"status": Status.PICKED_UP.value}}),
        ("the order's customer, a move that does not exist", (409,), patch_order, customer,
         {"json_body": {"status": Status.READY_FOR_DELIVERY.value}}),
        ("the order's customer, a move only the store owner may make", (403,), patch_order,
         customer, {"json_body": {"status": Status.PROCESSING.value}}),
    ]
    seen = []
    chose = ""
    for what, statuses, (method, path), user, how in cases:
        ex: Exchange = await send(target, method, path, user, **how)
        expect_error(ex, statuses, f"with {what}, the wrong error won")
        seen.append(f"{ex.status} <- {what}")
        if what == UNPLACED:
            chose = (f"an unknown driver on an unknown order is {ex.status} (the contract "
                     f"allows 404 or 422: this server checks the "
                     f"{'order' if ex.status == 404 else 'driver'} first); ")
    await expect_unchanged(target, customer, order, "requests with several errors")
    return (f"{chose}{len(seen)} cases, each answered by the error that comes first: "
            f"{'; '.join(seen)}")


@check("http.unknown_fields_ignored", "5, 8",
       "unknown fields in a body are ignored, and a client-sent total is not trusted")
async def unknown_fields_ignored(target: Target) -> str:
    customer = await target.user(Role.CUSTOMER)
    owner = await target.user(Role.STORE_OWNER)
    body = target.checkout_body(OrderType.DELIVERY, total=0.01,
                                **{f"{target.prefix}_extra": {"nested": [1, 2]}})
    body["items"][0]["lineTotal"] = 0
    expected_total = round(sum(it["quantity"] * it["unitPrice"] for it in body["items"]), 2)
    method, path = endpoint(Operation.CHECKOUT)
    ex = await send(target, method, path, customer, json_body=body)
    expect_answer(ex, 201, "a checkout with unknown fields and a client-sent total was refused")
    total = ex.order.get("total")
    expect(isinstance(total, (int, float)) and abs(total - expected_total) < 0.005,
           f"the order's total is {total!r}: the server did not compute it from the items "
           f"(client sent {body['total']})", sent=ex.sent, expected=expected_total, got=ex.got)
    patch_method, patch_path = endpoint(Operation.UPDATE_STATUS, order_id=ex.order["id"])
    patched = await send(target, patch_method, patch_path, owner,
                         json_body={"status": Status.PROCESSING.value, "reason": target.prefix})
    expect_answer(patched, 200, "a status PATCH with an unknown field was refused")
    expect(patched.order.get("status") == Status.PROCESSING.value,
           f"a status PATCH with an unknown field answered status {patched.order.get('status')!r}",
           sent=patched.sent, expected=Status.PROCESSING.value, got=patched.got)
    return (f"checkout with unknown fields and total {body['total']}: {ex.status}, total "
            f"{total} computed from the items; a status PATCH with an unknown field: "
            f"{patched.status}")
