"""An async Socket.IO client that records every event it receives, with a monotonic time.

It records all events, not only the contract's (a catch-all handler), because an event a
socket should never have seen is exactly what the harness looks for.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import socketio

from .contract import SOCKETIO_PATH
from .errors import ConnectRefused


@dataclass(frozen=True)
class Received:
    event: str
    payload: Any
    at: float  # time.monotonic() on receipt



class RealtimeClient:
    def __init__(self, url: str, token: str | None, *,
                 transports: Sequence[str] = ("websocket",), path: str = SOCKETIO_PATH,
                 headers: dict[str, str] | None = None, reconnection: bool = False,
                 namespace: str | None = None, auth: dict[str, Any] | None = None) -> None:
        """`auth`: the handshake's auth payload, when not the contract's `{"token": token}`
        (a team's contract file may name another key, or put the token elsewhere)."""
        self.url = url
        self.namespace = namespace
        self.token = token
        self.auth = auth
        self.transports = list(transports)
        self.path = path
        self.headers = headers or {}
        self.received: list[Received] = []
        self._changed = asyncio.Event()
        self.sio = socketio.AsyncClient(reconnection=reconnection, logger=False,
                                        engineio_logger=False)
        self._refusal: str | None = None
        self.sio.on("*", self._record, namespace=namespace)
        self.sio.on("connect_error", self._connect_error, namespace=namespace)

    async def _record(self, event: str, data: Any = None) -> None:
        self.received.append(Received(event, data, time.monotonic()))
        self._changed.set()

    async def _connect_error(self, data: Any = None) -> None:
        self._refusal = data.get("message") if isinstance(data, dict) else str(data)

    async def connect(self, timeout: float = 10.0) -> RealtimeClient:
        auth = self.auth if self.auth is not None else (
            {"token": self.token} if self.token is not None else None)
        try:
            await self.sio.connect(self.url, auth=auth, transports=self.transports,
                                   socketio_path=self.path, headers=self.headers,
                                   namespaces=[self.namespace] if self.namespace else None,
                                   wait_timeout=timeout)
        except socketio.exceptions.ConnectionError as exc:
            raise ConnectRefused(self._refusal or str(exc)) from None
        return self

    @property
    def connected(self) -> bool:
        return bool(self.sio.connected)

    async def disconnect(self) -> None:
        await self.sio.disconnect()
        # A refused handshake leaves Engine.IO's HTTP session open (it is reset on disconnect
        # only after a connect); close it, so no "Unclosed client session" is left behind.
        http = getattr(self.sio.eio, "http", None)
        if http is not None and not http.closed and not getattr(self.sio.eio, "external_http", False):
            await http.close()

    async def __aenter__(self) -> RealtimeClient:
        return await self.connect()

    async def __aexit__(self, *exc: Any) -> None:
        await self.disconnect()

    async def call(self, event: str, data: Any = None, timeout: float = 10.0) -> Any:
        """Emit and wait for the server's ack."""
        return await self.sio.call(event, data, timeout=timeout)

    async def emit(self, event: str, data: Any = None) -> None:
        await self.sio.emit(event, data)

    def events(self, name: str | None = None, order_id: str | None = None) -> list[Received]:
        return [r for r in self.received
                if (name is None or r.event == name)
                and (order_id is None or (isinstance(r.payload, dict)
                                          and r.payload.get("orderId") == order_id))]

    async def wait_for(self, predicate: Callable[[list[Received]], bool], timeout: float = 5.0) -> bool:
        """Wait until `predicate(self.received)` holds; False on timeout."""
        deadline = time.monotonic() + timeout
        while not predicate(self.received):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), remaining)
            except TimeoutError:
                return predicate(self.received)
        return True
