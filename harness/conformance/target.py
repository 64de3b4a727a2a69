"""The server under test, as the checks see it: its API, its sockets, its users and orders.

Safe on a shared staging server: every user this run registers has the run prefix in its
name and e-mail, every order carries it in its items and address, nothing else is touched,
and requests (HTTP and socket connects) are held to `max_rps`. Users are registered once
and reused by the checks (registration is deliberately slow on a real server: scrypt or
bcrypt); each check's sockets are closed when it ends.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import jwt
from aiolimiter import AsyncLimiter

from .. import payloads
from ..api import OrdersApi, Session
from ..contract import (
    JWT_ALGORITHM,
    SOCKETIO_PATH,
    TOKEN_LIFETIME_S,
    Actor,
    OrderType,
    Role,
    Status,
    Via,
    lifecycle,
)
from ..contract.teamfile import TeamContract
from ..errors import FileMismatch
from ..realtime import RealtimeClient
from .file_walk import FileWalk
from .model import CheckFailed, CheckSkipped
from .raw import RawSocket

#: How long a check watches for events that must not come.
QUIET_S = 1.0
#: How long a check waits for an event that must come.
EVENT_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class TargetConfig:
    url: str
    jwt_secret: str | None = None
    #: An origin the target allows (for the CORS checks that need one).
    origin: str | None = None
    #: The target's MongoDB, database in the path (for the bypass-write check).
    mongo_url: str | None = None
    max_rps: float = 50.0
    insecure: bool = False
    socketio_path: str = SOCKETIO_PATH
    quiet_s: float = QUIET_S
    event_timeout_s: float = EVENT_TIMEOUT_S
    #: Marks everything this run creates on the target.
    prefix: str = field(default_factory=lambda: f"conf-{secrets.token_hex(3)}")
    #: The target's contract file (`--contract`): the file.* checks run, the others SKIP.
    contract: TeamContract | None = None


class Target:
    """Open with `async with Target(config) as target:`."""

    def __init__(self, config: TargetConfig) -> None:
        self.config = config
        self.url = config.url.rstrip("/")
        self.prefix = config.prefix
        self.limiter = AsyncLimiter(config.max_rps, 1.0)
        self.api = OrdersApi(self.url, verify=not config.insecure,
                             before_request=self.limiter.acquire)
        self._users: dict[tuple[Role, str], Session] = {}
        self._user_lock = asyncio.Lock()
        self._sockets: list[RealtimeClient] = []
        self._raw: list[RawSocket] = []
        self._serial = 0
        self._file_walk: FileWalk | None = None
        self._file_walk_failed: str | None = None

    async def __aenter__(self) -> Target:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()

    async def close(self) -> None:
        await self.close_sockets()
        await self.api.aclose()
        if self._file_walk is not None:
            await self._file_walk.close()

    async def file_walk(self) -> FileWalk:
        """The walk the file.* checks share, made on first use (its parties stay connected
        until the run ends). When the parties cannot even sign up or connect as the file says,
        every file.* check fails with that mismatch."""
        assert self.config.contract is not None, "file.* checks run with a contract file"
        if self._file_walk_failed is not None:
            raise CheckFailed(self._file_walk_failed)
        if self._file_walk is None:
            try:
                self._file_walk = await FileWalk.start(
                    self.url, self.config.contract, timeout_s=self.config.event_timeout_s,
                    jwt_secret=self.config.jwt_secret, verify=not self.config.insecure)
            except FileMismatch as exc:
                self._file_walk_failed = f"the parties could not start as the file says: {exc}"
                raise CheckFailed(self._file_walk_failed) from None
        return self._file_walk

    # --- naming -----------------------------------------------------------------------------------

    def name(self, label: str) -> str:
        """A name (or e-mail local part) that says which run made it."""
        self._serial += 1
        return f"{self.prefix}-{label}-{self._serial}"

    def email(self, label: str) -> str:
        return f"{self.name(label)}@conformance.example.com"

    # --- users -----------------------------------------------------------------------------------

    async def user(self, role: Role, label: str = "a") -> Session:
        """The run's user with this role and label, registered on first use."""
        async with self._user_lock:
            key = (role, label)
            if key not in self._users:
                self._users[key] = await self.register(role, label)
            return self._users[key]

    async def register(self, role: Role, label: str = "x") -> Session:
        """A new user (a fresh identity, for the checks that need one)."""
        return await self.api.register(self.name(f"{role.value}-{label}"), self.email(label),
                                       secrets.token_urlsafe(12), role)

    # --- tokens ----------------------------------------------------------------------------------

    @property
    def can_sign(self) -> bool:
        return bool(self.config.jwt_secret)

    def require_secret(self, what: str) -> str:
        if not self.config.jwt_secret:
            raise CheckSkipped(f"{what} needs --jwt-secret (the target's signing secret)")
        return self.config.jwt_secret

    def sign(self, claims: dict[str, Any], *, algorithm: str = JWT_ALGORITHM,
             key: str | None = None) -> str:
        """A token over `claims`, signed with `key` (default: the target's secret)."""
        secret = key if key is not None else self.require_secret("a token signed by the target's key")
        return jwt.encode(claims, secret, algorithm=algorithm)

    def claims(self, session: Session, **over: Any) -> dict[str, Any]:
        """Claims like the target's own for this user, with `over` applied (None removes)."""
        now = int(time.time())
        base: dict[str, Any] = {"sub": session.user_id, "role": session.role.value,
                                "name": session.name, "iat": now, "exp": now + TOKEN_LIFETIME_S}
        for k, v in over.items():
            if v is None:
                base.pop(k, None)
            else:
                base[k] = v
        return base

    # --- sockets ---------------------------------------------------------------------------------

    async def socket(self, token: str | None, *, transports: Sequence[str] = ("websocket",),
                     headers: dict[str, str] | None = None, namespace: str | None = None,
                     connect: bool = True) -> RealtimeClient:
        """A recording Socket.IO client, connected unless `connect=False`; closed when the
        check ends."""
        client = RealtimeClient(self.url, token, transports=transports,
                                path=self.config.socketio_path, headers=headers,
                                namespace=namespace)
        self._sockets.append(client)
        if connect:
            await self.limiter.acquire()
            await client.connect(timeout=self.config.event_timeout_s)
        return client

    async def raw(self, headers: dict[str, str] | None = None) -> RawSocket:
        """A hand-spoken Engine.IO websocket session, open; closed when the check ends."""
        await self.limiter.acquire()
        raw = RawSocket(self.url, self.config.socketio_path, headers=headers,
                        verify=not self.config.insecure)
        self._raw.append(raw)
        return await raw.open(timeout=self.config.event_timeout_s)

    async def close_sockets(self) -> None:
        raws, self._raw = self._raw, []
        for raw in raws:
            try:
                await asyncio.wait_for(raw.close(), 5.0)
            except Exception:  # noqa: BLE001  (closing what a check may have broken on purpose)
                pass
        sockets, self._sockets = self._sockets, []
        for client in sockets:
            try:
                await asyncio.wait_for(client.disconnect(), 5.0)
            except Exception:  # noqa: BLE001  (a socket the check broke on purpose may not close cleanly)
                pass

    async def quiet(self) -> None:
        """Let events that must not come have their chance to arrive."""
        await asyncio.sleep(self.config.quiet_s)

    # --- orders ----------------------------------------------------------------------------------

    def checkout_body(self, order_type: OrderType = OrderType.DELIVERY, **extra: Any) -> dict[str, Any]:
        body = payloads.checkout(order_type, **extra)
        for item in body["items"]:
            item["name"] = f"{self.prefix} {item['name']}"
        if "deliveryAddress" in body:
            body["deliveryAddress"]["street"] = f"{self.prefix} {body['deliveryAddress']['street']}"
        return body

    async def new_order(self, customer: Session,
                        order_type: OrderType = OrderType.DELIVERY) -> dict[str, Any]:
        return await self.api.checkout(customer.token, self.checkout_body(order_type))

    async def move(self, order: dict[str, Any], to: Status, *, owner: Session,
                   driver: Session | None = None) -> dict[str, Any]:
        """Walk `order` along its type's happy path until it is `to` (cancelled: from where it
        is, by the store owner)."""
        order_type = OrderType(order["orderType"])
        if to is Status.CANCELLED:
            return await self.api.set_status(owner.token, order["id"], to.value)
        for step in lifecycle(order_type):
            if order["status"] == to.value:
                break
            if order["status"] != step.source.value:
                continue
            if step.via is Via.ASSIGN_DRIVER:
                if driver is None:
                    raise ValueError(f"moving to {to} needs a driver")
                order = await self.api.assign_driver(owner.token, order["id"], driver.user_id)
            else:
                actor = owner if Actor.STORE_OWNER in step.actors else driver
                if actor is None:
                    raise ValueError(f"moving to {to} needs a driver")
                order = await self.api.set_status(actor.token, order["id"], step.target.value)
        if order["status"] != to.value:
            raise CheckFailed(f"order {order['id']} is {order['status']!r}, off the contract's "
                              f"{order_type.value} lifecycle: it cannot be walked to {to.value} "
                              "(see statuses.checkout_pending.*)", got=order)
        return order

    async def order_at(self, customer: Session, to: Status, *, owner: Session,
                       driver: Session | None = None,
                       order_type: OrderType = OrderType.DELIVERY) -> dict[str, Any]:
        return await self.move(await self.new_order(customer, order_type), to, owner=owner,
                               driver=driver)
