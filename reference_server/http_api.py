"""The HTTP API handlers (contract section 5), checked in the section-8 order.

Each handler reads in the order the precedence demands: token (401), role (403), body
(400/413), values (422), the order (404), the move (409), the actor (403). Handlers write
to the store and answer; they never emit: the change feed does.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any, cast

from aiohttp import web

from harness.contract import (
    BY_OPERATION,
    DEFAULT_STORE_ID,
    ENDPOINTS,
    MAX_BODY_BYTES,
    PAGE_LIMIT_DEFAULT,
    PAGE_LIMIT_MAX,
    ErrorCode,
    Operation,
    Role,
    Status,
    Via,
    problem,
)

from .errors import ApiError
from .faults import LEGACY_NEW_ORDER_STATUS, Faults
from .orders import (
    check_card,
    decide_move,
    new_id,
    new_order,
    public_order,
    valid_status,
    visible_to,
)
from .repository import EmailTaken, OrderRepository, UserRepository
from .security import Identity, PasswordHasher, TokenRejected, TokenService

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
#: A write that lost a race re-reads and re-decides; this many times at most.
_MOVE_ATTEMPTS = 5


def _json(data: dict[str, Any], status: int = 200) -> web.Response:
    return web.json_response(data, status=status)


class HttpApi:
    def __init__(self, *, tokens: TokenService, passwords: PasswordHasher, users: UserRepository,
                 orders: OrderRepository, faults: Faults) -> None:
        self._tokens = tokens
        self._passwords = passwords
        self._users = users
        self._orders = orders
        self._faults = faults

    def routes(self) -> list[web.RouteDef]:
        handlers: dict[Operation, Handler] = {
            Operation.REGISTER: self.register,
            Operation.LOGIN: self.login,
            Operation.CHECKOUT: self.checkout,
            Operation.GUEST_CHECKOUT: self.guest_checkout,
            Operation.LIST_ORDERS: self.list_orders,
            Operation.GET_ORDER: self.get_order,
            Operation.UPDATE_STATUS: self.update_status,
            Operation.LIST_DRIVERS: self.list_drivers,
            Operation.ASSIGN_DRIVER: self.assign_driver,
            Operation.HEALTH: self.health,
        }
        return [web.route(ep.method, ep.path, handlers[ep.operation], name=ep.operation.value)
                for ep in ENDPOINTS]

    # --- steps shared by handlers, in precedence order ---------------------------------------

    def _identity(self, request: web.Request, operation: Operation) -> Identity:
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise ApiError(ErrorCode.UNAUTHORIZED, "missing bearer token")
        try:
            identity = self._tokens.verify(token.strip())
        except TokenRejected as exc:
            raise ApiError(ErrorCode(exc.reason.value), str(exc)) from None
        roles = BY_OPERATION[operation].roles
        if roles is not None and identity.role not in roles:
            raise ApiError(ErrorCode.FORBIDDEN, f"a {identity.role.value} may not do this")
        return identity

    @staticmethod
    async def _body(request: web.Request, operation: Operation) -> dict[str, Any]:
        if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
            raise ApiError(ErrorCode.PAYLOAD_TOO_LARGE, f"body over {MAX_BODY_BYTES} bytes")
        # read(n) returns what has arrived, at most n bytes: loop until the end of the body
        # (a chunked body comes in pieces) or until it is known to be too large.
        raw = b""
        while len(raw) <= MAX_BODY_BYTES:
            piece = await request.content.read(MAX_BODY_BYTES + 1 - len(raw))
            if not piece:
                break
            raw += piece
        if len(raw) > MAX_BODY_BYTES:
            raise ApiError(ErrorCode.PAYLOAD_TOO_LARGE, f"body over {MAX_BODY_BYTES} bytes")
        try:
            # Strict UTF-8: json.loads(bytes) would also take UTF-16/32 and encoded surrogates.
            # parse_constant: NaN, Infinity and -Infinity are Python's extensions, not JSON.
            body = json.loads(raw.decode("utf-8-sig"), parse_constant=_not_json)  # -sig: a BOM may lead
            # A `\ud800` escape is valid JSON but no text: no store can keep it (BSON is UTF-8).
            json.dumps(body, ensure_ascii=False).encode("utf-8")
        except (ValueError, RecursionError):  # UnicodeError is a ValueError; RecursionError: deep nesting
            raise ApiError(ErrorCode.INVALID_JSON, "the body is not UTF-8 JSON text") from None
        found = problem(BY_OPERATION[operation].request or {}, body)
        if found:
            raise ApiError(ErrorCode.INVALID_BODY, f"invalid body: {found}", {"problem": found})
        return cast(dict[str, Any], body)  # every operation's request schema is an object

    async def _visible_order(self, identity: Identity, order_id: str) -> dict[str, Any]:
        order = await self._orders.get(order_id)
        if order is None or not visible_to(identity, order):
            raise ApiError(ErrorCode.NOT_FOUND, "no such order")
        return order

    # --- auth ---------------------------------------------------------------------------------

    async def register(self, request: web.Request) -> web.Response:
        body = await self._body(request, Operation.REGISTER)
        if await self._users.by_email(body["email"]) is not None:
            raise ApiError(ErrorCode.EMAIL_TAKEN, "that e-mail is already registered")
        password_hash = await self._passwords.hash(body["password"])
        try:
            user = await self._users.create(name=body["name"], email=body["email"],
                                            role=Role(body["role"]), password_hash=password_hash)
        except EmailTaken:
            raise ApiError(ErrorCode.EMAIL_TAKEN, "that e-mail is already registered") from None
        return _json(self._session(user), 201)

    async def login(self, request: web.Request) -> web.Response:
        body = await self._body(request, Operation.LOGIN)
        user = await self._users.by_email(body["email"])
        ok = await self._passwords.verify(body["password"], user["passwordHash"] if user else None)
        if not ok or user is None:
            raise ApiError(ErrorCode.INVALID_CREDENTIALS, "wrong e-mail or password")
        return _json(self._session(user))

    def _session(self, user: dict[str, Any]) -> dict[str, Any]:
        role = Role(user["role"])
        return {
            "token": self._tokens.issue(user["_id"], role, user["name"]),
            "user": {"id": user["_id"], "name": user["name"], "email": user["email"], "role": role.value},
        }

    # --- orders -------------------------------------------------------------------------------

    async def _place(self, customer_id: str, body: dict[str, Any]) -> dict[str, Any]:
        store_id = body.get("storeId", DEFAULT_STORE_ID)
        if store_id != DEFAULT_STORE_ID:
            raise ApiError(ErrorCode.UNKNOWN_STORE, f"unknown store {store_id!r}",
                           {"stores": [DEFAULT_STORE_ID]})
        if body["payment"]["method"] == "card":
            check_card(body["payment"]["card"])
        status = LEGACY_NEW_ORDER_STATUS if self._faults.legacy_status else Status.PENDING.value
        doc = new_order(customer_id=customer_id, store_id=store_id, body=body, status=status)
        await self._orders.insert(doc)
        return public_order(doc)

    async def checkout(self, request: web.Request) -> web.Response:
        identity = self._identity(request, Operation.CHECKOUT)
        body = await self._body(request, Operation.CHECKOUT)
        return _json({"order": await self._place(identity.sub, body)}, 201)

    async def guest_checkout(self, request: web.Request) -> web.Response:
        body = await self._body(request, Operation.GUEST_CHECKOUT)
        guest_id = f"guest-{new_id()}"
        order = await self._place(guest_id, body)
        token = self._tokens.issue(guest_id, Role.CUSTOMER, body["guest"]["name"], guest=True)
        return _json({"order": order, "token": token}, 201)

    async def list_orders(self, request: web.Request) -> web.Response:
        identity = self._identity(request, Operation.LIST_ORDERS)
        page = _int_param(request, "page", 1, 1, 1_000_000)
        limit = _int_param(request, "limit", PAGE_LIMIT_DEFAULT, 1, PAGE_LIMIT_MAX)
        query: dict[str, Any] = {}
        if "status" in request.query:
            query["status"] = valid_status(request.query["status"]).value
        if identity.role is Role.CUSTOMER:
            query["customerId"] = identity.sub
        elif identity.role is Role.DRIVER:
            query["driverId"] = identity.sub
        docs, total = await self._orders.page(query, page, limit)
        return _json({"orders": [public_order(d) for d in docs], "page": page, "limit": limit,
                      "total": total})

    async def get_order(self, request: web.Request) -> web.Response:
        identity = self._identity(request, Operation.GET_ORDER)
        order = await self._visible_order(identity, request.match_info["order_id"])
        return _json({"order": public_order(order)})

    async def update_status(self, request: web.Request) -> web.Response:
        identity = self._identity(request, Operation.UPDATE_STATUS)
        body = await self._body(request, Operation.UPDATE_STATUS)
        target = valid_status(body["status"])
        order_id = request.match_info["order_id"]
        for _ in range(_MOVE_ATTEMPTS):
            order = await self._visible_order(identity, order_id)
            decide_move(identity, order, target, Via.PATCH_STATUS)
            moved = await self._orders.move(order, target, by=identity.role.value)
            if moved is not None:
                return _json({"order": public_order(moved)})
        raise ApiError(ErrorCode.INVALID_TRANSITION, "the order kept changing; try again")

    async def list_drivers(self, request: web.Request) -> web.Response:
        self._identity(request, Operation.LIST_DRIVERS)
        drivers = await self._users.drivers()
        return _json({"drivers": [{"id": d["_id"], "name": d["name"]} for d in drivers]})

    async def assign_driver(self, request: web.Request) -> web.Response:
        identity = self._identity(request, Operation.ASSIGN_DRIVER)
        body = await self._body(request, Operation.ASSIGN_DRIVER)
        driver = await self._users.driver(body["driverId"])
        if driver is None:
            raise ApiError(ErrorCode.UNKNOWN_DRIVER, f"{body['driverId']!r} is not a registered driver")
        order_id = request.match_info["order_id"]
        for _ in range(_MOVE_ATTEMPTS):
            order = await self._visible_order(identity, order_id)
            decide_move(identity, order, Status.DRIVER_ASSIGNED, Via.ASSIGN_DRIVER)
            moved = await self._orders.move(order, Status.DRIVER_ASSIGNED, by=identity.role.value,
                                            extra={"driverId": driver["_id"]})
            if moved is not None:
                return _json({"order": public_order(moved)})
        raise ApiError(ErrorCode.INVALID_TRANSITION, "the order kept changing; try again")

    async def health(self, request: web.Request) -> web.Response:
        return _json({"status": "ok"})


def _not_json(constant: str) -> Any:
    raise ValueError(f"{constant} is not JSON")


def _int_param(request: web.Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query.get(name)
    if raw is None:
        return default
    value = int(raw) if raw.isascii() and raw.isdigit() else low - 1
    if not low <= value <= high:
        raise ApiError(ErrorCode.INVALID_QUERY, f"?{name} must be a whole number {low}..{high}")
    return value
