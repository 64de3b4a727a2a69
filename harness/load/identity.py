"""Who a simulated user is: a name and e-mail that carry the run id, and a token.

`register` goes through `/api/auth/register` (works on any server); `mint` signs tokens with
the target's secret (for a staging server where registering thousands of users is
unwanted). Tokens are renewed before they expire, so a reconnect late in a long run never
presents an old one.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import jwt

from ..contract import TOKEN_LIFETIME_S, Role

#: Renew a token this long before it expires.
RENEW_MARGIN_S = 120


@dataclass
class Identity:
    role: Role
    name: str
    email: str
    password: str
    user_id: str | None = None
    token: str | None = None
    expires_at: float = 0.0
    renew: Callable[[Identity], None] | None = field(default=None, repr=False)

    def current_token(self) -> str:
        """A token good for at least RENEW_MARGIN_S more seconds."""
        if self.token is None or time.time() > self.expires_at - RENEW_MARGIN_S:
            assert self.renew is not None, "identity has no way to get a token"
            self.renew(self)
        assert self.token is not None
        return self.token

    def accept(self, token: str, user_id: str) -> None:
        self.token = token
        self.user_id = user_id
        claims = jwt.decode(token, options={"verify_signature": False})
        self.expires_at = float(claims.get("exp", time.time() + TOKEN_LIFETIME_S))
