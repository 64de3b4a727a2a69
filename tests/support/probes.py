"""Adversarial helpers for the server tests: hand-made tokens, a raw Engine.IO client,
a look at the server's rooms, and one-line assertions on the contract's error shape.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

import httpx
import jwt

from harness.conformance.raw import RawSocket  # noqa: F401  (re-exported for the server tests)
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


