"""Adversarial helpers for the server tests: hand-made tokens, a raw Engine.IO client,
a look at the server's rooms, and one-line assertions on the contract's error shape.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import httpx
import jwt

from harness.contract import ErrorCode, HTTP_STATUS, problem
from harness.contract.schemas import ERROR_OUT

from .server import TEST_SECRET

OTHER_SECRET = "some-other-secret-that-the-server-does-not-know-0123"


# --- tokens -------------------------------------------------------------------------------------

def claims(sub: str = "user-x", role: str = "customer", *, ttl: int = 3600,
           drop: tuple[str, ...] = (), **extra: Any) -> dict[str, Any]:
    """Token claims as the contract spells them; `drop` leaves claims out, `extra` adds or
    replaces some."""
    now = int(time.time())
    out: dict[str, Any] = {"sub": sub, "role": role, "name": "Someone", "iat": now, "exp": now + ttl}
    out.update(extra)
    return {k: v for k, v in out.items() if k not in drop}


def signed(payload: dict[str, Any], *, secret: str = TEST_SECRET, alg: str = "HS256") -> str:
    return jwt.encode(payload, secret, algorithm=alg)


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def alg_none(payload: dict[str, Any], alg: str = "none") -> str:
    """An unsigned token, made by hand: header {"alg":"none"}, the claims, an empty signature."""
    header = _b64url(json.dumps({"alg": alg, "typ": "JWT"}).encode())
    body = _b64url(json.dumps(payload).encode())
    return f"{header}.{body}."


def hand_signed(payload: dict[str, Any], header_alg: str, secret: str = TEST_SECRET) -> str:
    """Signed with HMAC-SHA256 and the right secret, but the header names `header_alg`
    (the algorithm-confusion attack: RS256 "verified" with the HMAC secret)."""
    header = _b64url(json.dumps({"alg": header_alg, "typ": "JWT"}).encode())
    body = _b64url(json.dumps(payload).encode())
    mac = hmac.new(secret.encode(), f"{header}.{body}".encode(), hashlib.sha256).digest()
    return f"{header}.{body}.{_b64url(mac)}"


def decode(token: str) -> dict[str, Any]:
    return jwt.decode(token, TEST_SECRET, algorithms=["HS256"])


# --- errors -------------------------------------------------------------------------------------

def assert_error(response: httpx.Response, status: int, code: ErrorCode | str) -> dict[str, Any]:
    """The answer is `status` with the contract's JSON error body naming `code`; returns `error`."""
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers.get("content-type", "").startswith("application/json"), response.headers
    body = response.json()
    assert problem(ERROR_OUT, body) is None, (problem(ERROR_OUT, body), body)
    assert body["error"]["code"] == str(code), body
    assert "details" in body["error"], body
    if isinstance(code, ErrorCode):
        assert HTTP_STATUS[code] == status, (code, status)
    return body["error"]


# --- the server's rooms -------------------------------------------------------------------------

def room_members(server: Any, room: str) -> set[str]:
    """The Socket.IO sids in `room` on the in-process server (read on the server's own loop)."""
    async def read() -> set[str]:
        ns = server.server.sio.manager.rooms.get("/", {})
        return set(ns[room]) if room in ns else set()
    return server.call(read)


def rooms_of_sid(server: Any, sid: str) -> set[str]:
    async def read() -> set[str]:
        ns = server.server.sio.manager.rooms.get("/", {})
        return {name for name, members in ns.items() if name is not None and sid in members}
    return server.call(read)


# --- a raw Engine.IO / Socket.IO v5 client --------------------------------------------------------

class RawSocket:
    """Speaks Engine.IO 4 over a websocket by hand, and never hangs up on its own.

    A library client disconnects after a refused handshake; this one stays, answers pings,
    and records every Socket.IO packet that arrives, so a test can prove a refused client
    is sent nothing even while its transport stays open.
    """

    def __init__(self, base_url: str, headers: dict[str, str] | None = None) -> None:
        parts = urlsplit(base_url)
        self.url = f"ws://{parts.netloc}/socket.io/?EIO=4&transport=websocket"
        self.headers = headers or {}
        self.packets: list[str] = []  # Socket.IO packets ("40...", "44...", "42...")
        self._session: aiohttp.ClientSession | None = None
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._reader: asyncio.Task[None] | None = None
        self._arrived = asyncio.Event()
        self.closed = False

    async def open(self) -> "RawSocket":
        self._session = aiohttp.ClientSession()
        self._ws = await self._session.ws_connect(self.url, headers=self.headers)
        first = await self._ws.receive(timeout=5)
        assert first.type is aiohttp.WSMsgType.TEXT and first.data.startswith("0"), first
        self._reader = asyncio.create_task(self._read())
        return self

    async def _read(self) -> None:
        assert self._ws is not None
        async for msg in self._ws:
            if msg.type is not aiohttp.WSMsgType.TEXT:
                continue
            if msg.data == "2":
                await self._ws.send_str("3")
            elif msg.data.startswith("4"):
                self.packets.append(msg.data[1:])
                self._arrived.set()
        self.closed = True
        self._arrived.set()

    async def send_packet(self, packet: str) -> None:
        assert self._ws is not None
        await self._ws.send_str("4" + packet)

    async def connect_namespace(self, auth: Any) -> str:
        """Send CONNECT with `auth`; the answer packet ("40{...}" or "44{...}")."""
        seen = len(self.packets)
        await self.send_packet("0" + ("" if auth is None else json.dumps(auth)))
        deadline = time.monotonic() + 5
        while len(self.packets) == seen:
            self._arrived.clear()
            await asyncio.wait_for(self._arrived.wait(), max(0.01, deadline - time.monotonic()))
            if self.closed and len(self.packets) == seen:
                raise AssertionError("connection closed before the CONNECT answer")
        return self.packets[seen]

    async def emit(self, event: str, *args: Any) -> None:
        await self.send_packet("2" + json.dumps([event, *args]))

    def events(self) -> list[str]:
        return [p for p in self.packets if p.startswith("2")]

    async def close(self) -> None:
        if self._ws is not None:
            await self._ws.close()
        if self._reader is not None:
            self._reader.cancel()
            await asyncio.gather(self._reader, return_exceptions=True)
        if self._session is not None:
            await self._session.close()
