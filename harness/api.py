"""A typed async client for the contract's HTTP API, for any server that follows it.

URLs come from the contract's endpoint table. Non-2xx answers raise `HttpError` carrying
the status and the contract's error body, so callers can assert on `code`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, cast

import httpx

from .contract import BY_OPERATION, Operation, Role
from .errors import HttpError

Json = dict[str, Any]


def _field(answer: Json, key: str) -> Json:
    """An answer's object field (`order`): the contract says it is an object."""
    return cast(Json, answer[key])


@dataclass(frozen=True)
class Session:
    """A signed-in user: the token, and who the server says it is."""

    token: str
    user_id: str
    role: Role
    name: str
    email: str


def _session(body: Json) -> Session:
    user = body["user"]
    return Session(token=body["token"], user_id=str(user["id"]), role=Role(user["role"]),
                   name=user["name"], email=user["email"])


class OrdersApi:
    """`async with OrdersApi(base_url) as api:`; one connection pool per instance."""

    def __init__(self, base_url: str, *, verify: bool = True, timeout: float = 10.0,
                 headers: dict[str, str] | None = None,
                 before_request: Callable[[], Awaitable[None]] | None = None) -> None:
        """`before_request` is awaited before every request (a rate limiter, say)."""
        self.base_url = base_url.rstrip("/")
        hooks: dict[str, list[Any]] = {}
        if before_request is not None:
            async def pace(request: httpx.Request) -> None:
                await before_request()
            hooks["request"] = [pace]
        self._http = httpx.AsyncClient(base_url=self.base_url, verify=verify, timeout=timeout,
                                       headers=headers, event_hooks=hooks)

    async def __aenter__(self) -> OrdersApi:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def request(self, method: str, path: str, *, token: str | None = None,
                      json: Any = None, params: dict[str, Any] | None = None,
                      headers: dict[str, str] | None = None,
                      content: bytes | AsyncIterator[bytes] | None = None) -> httpx.Response:
        """The raw exchange, for checks that look at statuses and headers themselves
        (`content`: raw bytes or chunks instead of a JSON body)."""
        hdrs = dict(headers or {})
        if token is not None:
            hdrs["Authorization"] = f"Bearer {token}"
        return await self._http.request(method, path, json=json, params=params, headers=hdrs,
                                        content=content)

    async def call(self, operation: Operation, *, token: str | None = None, json: Any = None,
                   params: dict[str, Any] | None = None, **path_params: str) -> Json:
        endpoint = BY_OPERATION[operation]
        path = endpoint.url_path(**path_params)
        response = await self.request(endpoint.method, path, token=token, json=json, params=params)
        try:
            body = response.json()
        except ValueError:
            body = response.text
        if response.status_code // 100 != 2:
            raise HttpError(response.status_code, body, method=endpoint.method, path=path)
        return cast(Json, body)  # a 2xx answer's body is a JSON object (the contract's)

    async def health(self) -> Json:
        return await self.call(Operation.HEALTH)

    async def register(self, name: str, email: str, password: str, role: Role) -> Session:
        body = {"name": name, "email": email, "password": password, "role": role.value}
        return _session(await self.call(Operation.REGISTER, json=body))

    async def login(self, email: str, password: str) -> Session:
        return _session(await self.call(Operation.LOGIN, json={"email": email, "password": password}))

    async def checkout(self, token: str, body: Json) -> Json:
        return _field(await self.call(Operation.CHECKOUT, token=token, json=body), "order")

    async def guest_checkout(self, body: Json) -> tuple[Json, str]:
        answer = await self.call(Operation.GUEST_CHECKOUT, json=body)
        return answer["order"], answer["token"]

    async def list_orders(self, token: str, **params: Any) -> Json:
        return await self.call(Operation.LIST_ORDERS, token=token, params=params or None)

    async def order(self, token: str, order_id: str) -> Json:
        return _field(await self.call(Operation.GET_ORDER, token=token, order_id=order_id), "order")

    async def set_status(self, token: str, order_id: str, status: str) -> Json:
        return _field(await self.call(Operation.UPDATE_STATUS, token=token, order_id=order_id,
                                      json={"status": status}), "order")

    async def drivers(self, token: str) -> list[Json]:
        return cast(list[Json], (await self.call(Operation.LIST_DRIVERS, token=token))["drivers"])

    async def assign_driver(self, token: str, order_id: str, driver_id: str) -> Json:
        return _field(await self.call(Operation.ASSIGN_DRIVER, token=token, order_id=order_id,
                                      json={"driverId": driver_id}), "order")
