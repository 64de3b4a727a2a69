"""Tokens and passwords: HS256 JWTs with `exp` required, scrypt hashes computed off the loop."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import os
import time
from dataclasses import dataclass
from typing import cast

import jwt

from harness.contract import JWT_ALGORITHM, TOKEN_LIFETIME_S, ConnectError, Role

#: scrypt's N = 2**cost. 17 is OWASP's recommendation (about 350 ms of one core); load tests
#: that register thousands of users pass a cheap cost (see README, "Password cost").
DEFAULT_PASSWORD_COST = 17
PASSWORD_COST_RANGE = (1, 20)
_R, _P, _KEY_LEN = 8, 1, 32


@dataclass(frozen=True)
class Identity:
    """What a verified token says about its bearer."""

    sub: str
    role: Role
    name: str
    guest: bool = False


class TokenRejected(Exception):
    """The token is missing, malformed, forged, expired or names an unknown role."""

    def __init__(self, reason: ConnectError, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


class TokenService:
    def __init__(self, secret: str, lifetime_s: int = TOKEN_LIFETIME_S) -> None:
        self._secret = secret
        self._lifetime_s = lifetime_s

    def issue(self, sub: str, role: Role, name: str, *, guest: bool = False) -> str:
        now = int(time.time())
        claims: dict[str, object] = {"sub": sub, "role": role.value, "name": name, "iat": now,
                                     "exp": now + self._lifetime_s}
        if guest:
            claims["guest"] = True
        return jwt.encode(claims, self._secret, algorithm=JWT_ALGORITHM)

    def verify(self, token: object) -> Identity:
        """The bearer's identity; the signature is checked before `exp` (contract section 8)."""
        if not isinstance(token, str) or not token:
            raise TokenRejected(ConnectError.UNAUTHORIZED, "no token")
        try:
            claims = jwt.decode(
                token, self._secret, algorithms=[JWT_ALGORITHM],
                options={"require": ["exp", "sub", "role"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise TokenRejected(ConnectError.TOKEN_EXPIRED, "token expired") from exc
        except jwt.PyJWTError as exc:
            raise TokenRejected(ConnectError.UNAUTHORIZED, f"invalid token: {exc}") from exc
        sub, role = claims.get("sub"), claims.get("role")
        if not isinstance(sub, str) or not sub or role not in Role.__members__.values():
            raise TokenRejected(ConnectError.UNAUTHORIZED, "invalid claims")
        name = claims.get("name")
        return Identity(sub=sub, role=Role(cast(str, role)),  # one of Role's values: checked above
                        name=name if isinstance(name, str) else "", guest=claims.get("guest") is True)


class PasswordHasher:
    """scrypt in a worker thread, so hashing never blocks the event loop."""

    def __init__(self, cost: int = DEFAULT_PASSWORD_COST) -> None:
        low, high = PASSWORD_COST_RANGE
        if not low <= cost <= high:
            raise ValueError(f"password cost must be {low}..{high}, got {cost}")
        self.cost = cost
        self._dummy: str | None = None

    @staticmethod
    def _derive(password: str, salt: bytes, cost: int) -> bytes:
        n = 2 ** cost
        return hashlib.scrypt(password.encode(), salt=salt, n=n, r=_R, p=_P,
                              maxmem=256 * _R * n + 1024 * 1024, dklen=_KEY_LEN)

    async def hash(self, password: str) -> str:
        salt = os.urandom(16)
        key = await asyncio.to_thread(self._derive, password, salt, self.cost)
        b64 = base64.b64encode
        return f"scrypt${self.cost}${b64(salt).decode()}${b64(key).decode()}"

    async def verify(self, password: str, stored: str | None) -> bool:
        """True when `password` matches; spends the same time when there is no such user."""
        missing = stored is None
        if stored is None:
            if self._dummy is None:
                self._dummy = await self.hash("no such user")
            stored = self._dummy
        try:
            scheme, cost, salt, key = stored.split("$")
            if scheme != "scrypt":
                return False
            derived = await asyncio.to_thread(
                self._derive, password, base64.b64decode(salt), int(cost))
        except (ValueError, TypeError):
            return False
        return hmac.compare_digest(derived, base64.b64decode(key)) and not missing
