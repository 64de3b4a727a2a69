"""Engine.IO 4 / Socket.IO 5 spoken by hand over a websocket, for the checks that must send
what no library client would (a malformed packet, an oversized message) and see exactly
what the server does about it."""

from __future__ import annotations

import asyncio
import json
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aiohttp

from ..contract import SOCKETIO_PATH

#: Engine.IO packet types (protocol v4) and the Socket.IO ones carried in MESSAGE.
EIO_OPEN, EIO_CLOSE, EIO_PING, EIO_PONG, EIO_MESSAGE = "0", "1", "2", "3", "4"
SIO_CONNECT, SIO_DISCONNECT, SIO_EVENT, SIO_CONNECT_ERROR = "0", "1", "2", "4"


def engineio_url(base_url: str, path: str, transport: str) -> str:
    parts = urlsplit(base_url)
    scheme = parts.scheme
    if transport == "websocket":
        scheme = "wss" if scheme == "https" else "ws"
    return urlunsplit((scheme, parts.netloc, "/" + path.strip("/") + "/",
                       f"EIO=4&transport={transport}", ""))


class RawSocket:
    """One Engine.IO session over a websocket. It answers pings and records every Socket.IO
    packet; `closed` turns true when the server closes the websocket or sends CLOSE."""

    def __init__(self, base_url: str, path: str = SOCKETIO_PATH, *,
                 headers: dict[str, str] | None = None, verify: bool = True) -> None:
        self.url = engineio_url(base_url, path, "websocket")
        self.headers = headers or {}
        self.verify = verify
        self.open_packet: dict[str, Any] | None = None
        self.packets: list[str] = []
        self.closed = False
        self._session: aiohttp.ClientSession | None = None
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._reader: asyncio.Task[None] | None = None
        self._arrived = asyncio.Event()

    async def open(self, timeout: float = 5.0) -> RawSocket:
        self._session = aiohttp.ClientSession()
        self._ws = await asyncio.wait_for(
            self._session.ws_connect(self.url, headers=self.headers, max_msg_size=0,
                                     ssl=bool(self.verify)), timeout)
        first = await self._ws.receive(timeout=timeout)
        if first.type is not aiohttp.WSMsgType.TEXT or not first.data.startswith(EIO_OPEN):
            raise ConnectionError(f"no Engine.IO OPEN packet: {first.type} {str(first.data)[:200]}")
        self.open_packet = json.loads(first.data[1:])
        self._reader = asyncio.create_task(self._read())
        return self

    async def _read(self) -> None:
        assert self._ws is not None
        try:
            async for msg in self._ws:
                if msg.type is not aiohttp.WSMsgType.TEXT:
                    continue
                if msg.data == EIO_PING:
                    await self._ws.send_str(EIO_PONG)
                elif msg.data == EIO_CLOSE:
                    break
                elif msg.data.startswith(EIO_MESSAGE):
                    self.packets.append(msg.data[1:])
                    self._arrived.set()
        finally:
            self.closed = True
            self._arrived.set()

    async def send(self, engineio_packet: str) -> None:
        assert self._ws is not None
        await self._ws.send_str(engineio_packet)

    async def send_packet(self, socketio_packet: str) -> None:
        await self.send(EIO_MESSAGE + socketio_packet)

    async def emit(self, event: str, *args: Any) -> None:
        await self.send_packet(SIO_EVENT + json.dumps([event, *args]))

    def events(self) -> list[str]:
        """The Socket.IO EVENT packets received (`2[...]`)."""
        return [p for p in self.packets if p.startswith(SIO_EVENT)]

    async def connect_namespace(self, auth: Any, namespace: str = "/", timeout: float = 5.0) -> str:
        """Send CONNECT; the answer packet (`0{...}` accepted, `4{...}` refused)."""
        prefix = "" if namespace == "/" else f"{namespace},"
        seen = len(self.packets)
        await self.send_packet(SIO_CONNECT + prefix + ("" if auth is None else json.dumps(auth)))
        if not await self.wait(lambda: len(self.packets) > seen, timeout):
            raise ConnectionError("no answer to CONNECT" + (" (connection closed)" if self.closed else ""))
        return self.packets[seen]

    async def wait(self, condition: Any, timeout: float) -> bool:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not condition():
            if self.closed:
                return bool(condition())
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            self._arrived.clear()
            try:
                await asyncio.wait_for(self._arrived.wait(), remaining)
            except TimeoutError:
                return bool(condition())
        return True

    async def wait_closed(self, timeout: float) -> bool:
        """True when the server ended the session (closed, CLOSE, or Socket.IO DISCONNECT)."""
        return await self.wait(lambda: self.closed or any(p.startswith(SIO_DISCONNECT)
                                                          for p in self.packets), timeout)

    async def close(self) -> None:
        if self._ws is not None:
            await self._ws.close()
        if self._reader is not None:
            self._reader.cancel()
            await asyncio.gather(self._reader, return_exceptions=True)
        if self._session is not None:
            await self._session.close()
