"""Adversarial users: they try to get into other users' rooms, and to connect with bad tokens.

A conforming server ignores every room-joining event (contract section 3) and refuses every
bad token (section 2), so anything these users receive beyond their own (they place no
orders: nothing is theirs) is a leak, caught by their socket's ledger and reported with the
room it must have come through.
"""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import gevent
import socketio
from locust import task

from ..contract import ROOM_JOIN_ATTEMPTS, Role
from ..contract.routing import Audience
from ..contract.teamfile import TeamContract
from .options import transports_for
from .recorded_socket import client_options, close_socket
from .users import OrderAppUser

#: Wrong on purpose: never the target's secret.
_FORGED_SECRET = "not-the-servers-secret-0123456789abcdef"


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def bad_tokens(contract: TeamContract, secret: str | None) -> list[tuple[str, str | None]]:
    """(name, token) pairs a server must refuse, with the claims its contract file states;
    with the secret, the ones that need signing."""
    now = int(time.time())
    claims = contract.claims("intruder", Role.STORE_OWNER, "x", lifetime_s=600)
    role_claim = contract.auth.claim_role
    tokens: list[tuple[str, str | None]] = [
        ("missing", None),
        ("garbage", "not-a-jwt"),
        ("forged signature", contract.mint(_FORGED_SECRET, "intruder", Role.STORE_OWNER, "x")),
        ("alg none", f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(claims)}."),
    ]
    if secret:
        import jwt  # noqa: PLC0415  (only bad tokens signed with a guessed secret need it)

        tokens += [
            ("expired", jwt.encode({**claims, "exp": now - 60}, secret, algorithm="HS256")),
            ("missing exp", jwt.encode({k: v for k, v in claims.items() if k != "exp"}, secret,
                                       algorithm="HS256")),
            ("unknown role", jwt.encode({**claims, role_claim: "admin"}, secret, algorithm="HS256")),
        ]
    return tokens


class _Adversary(OrderAppUser):
    abstract = True
    weight = 1
    witnessed = False
    #: How long a socket that connected with a bad token is kept listening.
    listen_s = 3.0

    def _identity(self, role: Role) -> Any:
        ident = super()._identity(role)
        # Still carries the run id, but not as "[<run id>]": store owners assign orders only
        # to drivers named that way, and an adversary must never be given one.
        ident.name = ident.name.replace(f"[{self.ctx.options.run_id}]",
                                        f"[{self.ctx.options.run_id}/adversary]")
        return ident

    def _targets(self) -> list[str]:
        """Rooms and raw ids of other users of this process, and the store owners' room."""
        known = self.ctx.known_users
        others = [u for role in Role for u in known[role] if u != self.identity.user_id]
        picks = [others[self.rng.randrange(len(others))] for _ in range(min(3, len(others)))]
        contract = self.ctx.target.contract
        rooms = [contract.room(Audience.STORE_OWNERS)]
        for uid in picks:
            rooms += [contract.room(Audience.CUSTOMER, uid), contract.room(Audience.DRIVER, uid), uid]
        return rooms

    @task(5)
    def try_to_join(self) -> None:
        """Every joining event, in both shapes, for one of the targets at a time (over a run
        every target is tried; all at once was thousands of emits a second, a load on the
        generator that delayed the very events it measures)."""
        if self.sio is None or not self.sio.connected:
            return self.think()
        targets = self._targets()
        for room in (targets[self.rng.randrange(len(targets))],):
            for event in ROOM_JOIN_ATTEMPTS:
                for payload in (room, {"room": room}):
                    try:
                        self.sio.emit(event, payload)
                    except socketio.exceptions.SocketIOError:
                        return
                    self.ctx.isolation["join_attempts"] += 1
        self.think()

    @task(1)
    def try_bad_tokens(self) -> None:
        """One kind of bad token at a time (each is a whole Socket.IO handshake: all of them
        at once, from every adversary, held the generator for long stretches)."""
        kinds = bad_tokens(self.ctx.target.contract, self.ctx.options.jwt_secret)
        name, token = kinds[self.rng.randrange(len(kinds))]
        self._bad_connect(name, token)
        self.think()

    def _bad_connect(self, name: str, token: str | None) -> None:
        self.ctx.isolation["bad_token_attempts"] += 1
        ledger = self.ctx.new_socket(None, None)  # this socket must receive nothing at all
        sio = socketio.Client(reconnection=False, **client_options(self.ctx))
        sio.on("*", lambda event, data=None: self.ctx.received(ledger, event, data))
        opts, target, host = self.ctx.options, self.ctx.target, self.target_url
        try:
            sio.connect(target.socket_url(host, token) if token is not None else host,
                        auth=target.socket_auth(token) if token is not None else None,
                        headers=target.socket_headers(token) if token is not None else {},
                        transports=transports_for(opts.transport),
                        socketio_path=opts.socketio_path, wait_timeout=5)
        except socketio.exceptions.ConnectionError:
            return  # refused, as it must be
        self.ctx.isolation["bad_tokens_accepted"] += 1
        self.ctx.bad_tokens_accepted.append(name)
        gevent.sleep(self.listen_s)
        close_socket(sio)


class AdversarialCustomer(_Adversary):
    role = Role.CUSTOMER


class AdversarialDriver(_Adversary):
    role = Role.DRIVER
