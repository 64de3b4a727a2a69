"""Users, sockets and orders for integration tests, through the public API only."""

from __future__ import annotations

import itertools
import os
from typing import Any

from harness import payloads
from harness.api import OrdersApi, Session
from harness.contract import Actor, OrderType, Role, Status, Via, lifecycle
from harness.realtime import RealtimeClient

_ids = itertools.count()
_run = os.urandom(3).hex()
PASSWORD = "correct horse battery"


class World:
    """Creates what a test needs and closes every socket and client it opened."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.api = OrdersApi(url)
        self._sockets: list[RealtimeClient] = []

    async def __aenter__(self) -> "World":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        for sock in self._sockets:
            if sock.sio.connected:
                await sock.disconnect()
        await self.api.aclose()

    async def user(self, role: Role, name: str | None = None) -> Session:
        n = next(_ids)
        return await self.api.register(name or f"{role.value} {n}", f"{role.value}-{_run}-{n}@example.test",
                                       PASSWORD, role)

    async def customer(self) -> Session:
        return await self.user(Role.CUSTOMER)

    async def store_owner(self) -> Session:
        return await self.user(Role.STORE_OWNER)

    async def driver(self) -> Session:
        return await self.user(Role.DRIVER)

    async def socket(self, token: str | None, **kwargs: Any) -> RealtimeClient:
        client = RealtimeClient(self.url, token, **kwargs)
        self._sockets.append(client)
        return await client.connect()

    async def order(self, customer: Session, order_type: OrderType = OrderType.DELIVERY,
                    **body: Any) -> dict[str, Any]:
        return await self.api.checkout(customer.token, payloads.checkout(order_type, **body))

    async def advance(self, order: dict[str, Any], to: Status, *, owner: Session,
                      driver: Session | None = None) -> dict[str, Any]:
        """Walk an order along its happy path until it reaches `to`."""
        current = order
        for step in lifecycle(OrderType(order["orderType"])):
            if Status(current["status"]) is to:
                break
            if step.source is not Status(current["status"]):
                continue
            if step.via is Via.ASSIGN_DRIVER:
                assert driver is not None
                current = await self.api.assign_driver(owner.token, current["id"], driver.user_id)
            elif Actor.STORE_OWNER in step.actors:
                current = await self.api.set_status(owner.token, current["id"], step.target.value)
            else:
                assert driver is not None
                current = await self.api.set_status(driver.token, current["id"], step.target.value)
        return current
