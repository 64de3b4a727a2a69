"""Authentication: who may call the API and open a socket, and how the rest are refused
(sections 2, 8).

Every bad token is tried twice: on HTTP (an authenticated endpoint must answer 401 with the
contract's JSON error body) and on Socket.IO with a library client (the handshake must be
refused with a `connect_error` whose message is `unauthorized`, or `token_expired` for an
expired token). Tokens that only the target's key can sign (another HMAC algorithm, a past
or missing `exp`, an unknown role) need --jwt-secret; without it those checks SKIP.
"""

from __future__ import annotations

import base64
import json
import time
import warnings
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import httpx

from ...api import Session
from ...contract import (
    BY_OPERATION,
    JWT_ALGORITHM,
    ClientEvent,
    ConnectError,
    ErrorCode,
    Event,
    Operation,
    Role,
)
from ...errors import ConnectRefused
from ...realtime import RealtimeClient
from ..exchange import Exchange, expect_error
from ..model import expect
from ..raw import EIO_MESSAGE, SIO_CONNECT_ERROR, SIO_DISCONNECT
from ..registry import check
from ..target import Target

#: The authenticated endpoint the HTTP cases call (every role may list orders).
LIST = BY_OPERATION[Operation.LIST_ORDERS]
#: The library client's transport for the socket cases. Authentication is the Socket.IO
#: CONNECT, the same on either transport; a refused python-socketio client over polling
#: takes ~30 s to give up (it waits out a long poll), too slow for one check per token.
TRANSPORTS = ("websocket",)
#: A key that is not the target's: tokens signed with it are forged.
WRONG_KEY = "not-the-secret" * 3


# --- tokens ------------------------------------------------------------------------------------


def _b64(part: dict[str, Any]) -> str:
    raw = json.dumps(part, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unsigned(claims: dict[str, Any], alg: str) -> str:
    """A JWT whose header says `alg` and whose signature is empty."""
    return f"{_b64({'alg': alg, 'typ': 'JWT'})}.{_b64(claims)}."


def _expired(target: Target, session: Session) -> dict[str, Any]:
    """Claims an hour past their `exp` (well beyond any clock leeway)."""
    now = int(time.time())
    return target.claims(session, iat=now - 7200, exp=now - 3600)


async def _signed_user(target: Target, what: str) -> Session:
    """The user whose claims the secret-signed cases bend, after a control: the same claims,
    unbent and signed with --jwt-secret, are accepted. Without it a wrong --jwt-secret would
    make every such case pass for the wrong reason (a bad signature)."""
    target.require_secret(what)
    user = await target.user(Role.CUSTOMER)
    response = await target.api.request(LIST.method, LIST.path,
                                        token=target.sign(target.claims(user)))
    expect(response.status_code == 200, "control: a token signed with --jwt-secret over the "
           "target's own claims was not accepted (is --jwt-secret the target's secret?)",
           sent=f"{LIST.method} {LIST.path} with a {JWT_ALGORITHM} token signed with --jwt-secret",
           expected="200", got=_answer(response))
    return user


# --- HTTP --------------------------------------------------------------------------------------


def _body(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return response.text[:300]


def _answer(response: httpx.Response) -> dict[str, Any]:
    return {"status": response.status_code, "body": _body(response)}


async def _http_refused(target: Target, what: str, token: str | None,
                        headers: dict[str, str] | None = None) -> str:
    """GET the orders list with a bad token: 401 with the JSON error body. The error code."""
    response = await target.api.request(LIST.method, LIST.path, token=token, headers=headers)
    ex = Exchange(LIST.method, LIST.path, f"a client with {what}", None, response.status_code,
                  _body(response))
    error = expect_error(ex, 401, f"{what} was not refused with 401 and the error body on HTTP")
    return str(error["code"])


async def _http_cases(target: Target, cases: Mapping[str, str | None]) -> str:
    codes = [await _http_refused(target, what, token) for what, token in cases.items()]
    return (f"401 ({', '.join(sorted(set(codes)))}) for {len(cases)} token(s): "
            + "; ".join(cases))


# --- Socket.IO ---------------------------------------------------------------------------------


async def _try_connect(target: Target, token: Any, transport: str) -> tuple[str | None, RealtimeClient]:
    """Connect a library client; the `connect_error` message, or None when it connected."""
    client = await target.socket(token, transports=[transport], connect=False)
    await target.limiter.acquire()
    try:
        await client.connect(timeout=target.config.event_timeout_s)
    except ConnectRefused as exc:
        return exc.message, client
    return None, client


async def _socket_refused(target: Target, cases: Mapping[str, str | None],
                          message: ConnectError = ConnectError.UNAUTHORIZED) -> str:
    """Every token is refused with `message`, and the refused clients receive nothing."""
    refused: list[RealtimeClient] = []
    for what, token in cases.items():
        for transport in TRANSPORTS:
            got, client = await _try_connect(target, token, transport)
            sent = f"a Socket.IO connect over {transport} with {what}"
            expect(got is not None, f"{what} was accepted on a socket ({transport})", sent=sent,
                   expected=f"connect_error {message.value!r}", got="connected")
            expect(got == message.value, f"{what} was refused over {transport} with "
                   f"{got!r}, not {message.value!r}", sent=sent,
                   expected=f"connect_error {message.value!r}", got=f"connect_error {got!r}")
            refused.append(client)
    await target.quiet()
    for client in refused:
        expect(not client.received and not client.connected, "a refused client received events",
               expected="nothing", got=[(r.event, r.payload) for r in client.received])
    return (f"connect_error {message.value!r} for {len(cases)} token(s) over "
            f"{'/'.join(TRANSPORTS)}, nothing received after: " + "; ".join(cases))


async def _raw_refused(target: Target, auth: Any) -> str:
    """Send CONNECT with this `auth` payload by hand; the connect_error message."""
    raw = await target.raw()
    answer = await raw.connect_namespace(auth, timeout=target.config.event_timeout_s)
    sent = f"CONNECT with auth {json.dumps(auth)}"
    expect(answer.startswith(SIO_CONNECT_ERROR), f"a CONNECT with auth {json.dumps(auth)} was "
           "not refused", sent=sent, expected=f"connect_error {ConnectError.UNAUTHORIZED.value!r}",
           got=answer[:300])
    try:
        data = json.loads(answer[1:])
    except ValueError:
        data = None
    got = data.get("message") if isinstance(data, dict) else None
    expect(got == ConnectError.UNAUTHORIZED.value, f"a CONNECT with auth {json.dumps(auth)} was "
           f"refused with {got!r}", sent=sent,
           expected=f"connect_error {ConnectError.UNAUTHORIZED.value!r}", got=answer[:300])
    return str(got)


# --- the checks --------------------------------------------------------------------------------


@check("auth.valid_token", "2",
       "control: a registered user's token lists orders over HTTP and connects a socket")
async def valid_token(target: Target) -> str:
    user = await target.user(Role.CUSTOMER)
    response = await target.api.request(LIST.method, LIST.path, token=user.token)
    body = _body(response)
    expect(response.status_code == 200 and isinstance(body, dict)
           and isinstance(body.get("orders"), list),
           "a registered user's token did not list orders",
           sent=f"{LIST.method} {LIST.path} with the token from register",
           expected="200 {orders, ...}", got=_answer(response))
    for transport in TRANSPORTS:
        got, client = await _try_connect(target, user.token, transport)
        expect(got is None and client.connected, f"a registered user's token did not connect "
               f"over {transport}", sent="a Socket.IO connect with the token from register",
               expected="connected", got=f"connect_error {got!r}")
    return f"{LIST.method} {LIST.path} → 200; socket connected over {' and '.join(TRANSPORTS)}"


# missing -----------------------------------------------------------------------------------------

@check("auth.http.missing", "2", "an API request without a bearer token is 401 with a JSON error")
async def http_missing(target: Target) -> str:
    basic = base64.b64encode(b"user:password").decode()
    cases = {"no Authorization header": None,
             "Authorization: Bearer (no token)": "Bearer",
             "Authorization: Basic (another scheme)": f"Basic {basic}"}
    codes = []
    for what, header in cases.items():
        codes.append(await _http_refused(target, what, None,
                                         None if header is None else {"Authorization": header}))
    return f"401 ({', '.join(sorted(set(codes)))}) for: " + "; ".join(cases)


@check("auth.socket.missing", "2",
       "a socket connect without a token is refused with connect_error unauthorized")
async def socket_missing(target: Target) -> str:
    evidence = await _socket_refused(target, {"no auth payload": None})
    for auth in ({}, {"token": None}):
        await _raw_refused(target, auth)
    return evidence + "; by hand: auth {} and {\"token\": null} refused too"


# garbage -----------------------------------------------------------------------------------------

GARBAGE = {"a token that is not a JWT": "not-a-jwt",
           "three segments of junk": "a.b.c",
           "a JWT with an undecodable payload": "eyJhbGciOiJIUzI1NiJ9.!!!.c2ln"}


@check("auth.http.garbage", "2", "an API request with a token that is not a JWT is 401")
async def http_garbage(target: Target) -> str:
    return await _http_cases(target, GARBAGE)


@check("auth.socket.garbage", "2",
       "a socket connect with a token that is not a JWT (or not a string) is refused: unauthorized")
async def socket_garbage(target: Target) -> str:
    evidence = await _socket_refused(target, GARBAGE)
    for token in (12345, ["x"], {"jwt": "x"}):
        await _raw_refused(target, {"token": token})
    return evidence + "; by hand: a number, a list and an object as token refused too"


# forged ------------------------------------------------------------------------------------------

async def _forged(target: Target) -> dict[str, str | None]:
    user = await target.user(Role.CUSTOMER)
    return {f"a {JWT_ALGORITHM} token over a real user's claims signed with a wrong key":
            target.sign(target.claims(user), key=WRONG_KEY)}





# alg none ----------------------------------------------------------------------------------------

async def _alg_none(target: Target) -> dict[str, str | None]:
    user = await target.user(Role.CUSTOMER)
    claims = target.claims(user)
    return {f"an unsigned token with alg {alg!r}": _unsigned(claims, alg)
            for alg in ("none", "None", "NONE")}





# another algorithm -------------------------------------------------------------------------------

async def _other_alg(target: Target) -> dict[str, str | None]:
    user = await _signed_user(target, f"a token signed with the target's key but not with "
                              f"{JWT_ALGORITHM}")
    with warnings.catch_warnings():  # PyJWT warns that the target's key is short for these
        warnings.simplefilter("ignore")
        return {f"a token signed with the target's key using {alg}":
                target.sign(target.claims(user), algorithm=alg) for alg in ("HS384", "HS512")}





# expired -----------------------------------------------------------------------------------------

async def _expired_cases(target: Target) -> dict[str, str | None]:
    user = await _signed_user(target, "an expired token signed with the target's key")
    return {"a correctly signed token whose exp passed an hour ago":
            target.sign(_expired(target, user))}





# no exp ------------------------------------------------------------------------------------------

async def _no_exp(target: Target) -> dict[str, str | None]:
    user = await _signed_user(target, "a token without exp signed with the target's key")
    return {"a correctly signed token without exp": target.sign(target.claims(user, exp=None))}





# unknown role ------------------------------------------------------------------------------------

async def _unknown_role(target: Target) -> dict[str, str | None]:
    user = await _signed_user(target, "a token with an unknown role signed with the target's key")
    return {"a correctly signed token with role 'admin'":
            target.sign(target.claims(user, role="admin")),
            "a correctly signed token without a role":
            target.sign(target.claims(user, role=None)),
            "a correctly signed token whose role is a list":
            target.sign(target.claims(user, role=[Role.STORE_OWNER.value]))}




# the paired checks: each kind of bad token on HTTP and on the socket --------------------------

#: A kind of bad token: how to make the tokens (description -> token), what they are for the
#: descriptions, and the socket's expected refusal.
TokenMaker = Callable[[Target], Awaitable[dict[str, "str | None"]]]
PAIRED: tuple[tuple[str, str, TokenMaker, ConnectError], ...] = (
    ("forged", "a token signed by another key", _forged, ConnectError.UNAUTHORIZED),
    ("alg_none", "an unsigned (alg none) token", _alg_none, ConnectError.UNAUTHORIZED),
    ("other_alg", f"a token signed with the right key but not {JWT_ALGORITHM}", _other_alg,
     ConnectError.UNAUTHORIZED),
    ("expired", "an expired token", _expired_cases, ConnectError.TOKEN_EXPIRED),
    ("no_exp", "a token that has no exp", _no_exp, ConnectError.UNAUTHORIZED),
    ("unknown_role", "a token of an unknown role", _unknown_role, ConnectError.UNAUTHORIZED),
)


def _register_pair(case: str, what: str, make: TokenMaker, refusal: ConnectError) -> None:
    @check(f"auth.http.{case}", "2", f"an API request with {what} is 401")
    async def on_http(target: Target) -> str:
        return await _http_cases(target, await make(target))

    @check(f"auth.socket.{case}", "2", f"a socket connect with {what} is refused: {refusal.value}")
    async def on_socket(target: Target) -> str:
        return await _socket_refused(target, await make(target), refusal)


for _case in PAIRED:
    _register_pair(*_case)



# forged and expired ------------------------------------------------------------------------------

@check("auth.forged_and_expired", "8",
       "a forged token that is also expired is unauthorized, not token_expired "
       "(the signature is checked first)")
async def forged_and_expired(target: Target) -> str:
    user = await target.user(Role.CUSTOMER)
    what = "an expired token signed with a wrong key"
    token = target.sign(_expired(target, user), key=WRONG_KEY)
    code = await _http_refused(target, what, token)
    expect(code != ErrorCode.TOKEN_EXPIRED.value, "a forged, expired token was reported as "
           "expired on HTTP: the expiry was looked at before the signature",
           sent=f"{LIST.method} {LIST.path} with {what}",
           expected=f"401, code not {ErrorCode.TOKEN_EXPIRED.value!r}", got=f"401 code {code!r}")
    await _socket_refused(target, {what: token})
    return (f"socket: connect_error {ConnectError.UNAUTHORIZED.value!r}; HTTP: 401 ({code}), "
            f"for {what}")


# a refused client receives nothing ---------------------------------------------------------------

@check("auth.socket.refused_receives_nothing", "2",
       "a client refused at connect is in no room: it gets neither the events of the user its "
       "forged token names nor an answer to its own events")
async def refused_receives_nothing(target: Target) -> str:
    owner = await target.user(Role.STORE_OWNER)
    customer = await target.user(Role.CUSTOMER)
    control = await target.socket(owner.token)
    raw = await target.raw()
    forged = target.sign(target.claims(owner), key=WRONG_KEY)
    answer = await raw.connect_namespace({"token": forged}, timeout=target.config.event_timeout_s)
    expect(answer.startswith(SIO_CONNECT_ERROR), "a forged store-owner token was not refused",
           sent="CONNECT with a store owner's claims signed with a wrong key",
           expected=f"connect_error {ConnectError.UNAUTHORIZED.value!r}", got=answer[:300])
    # The refused session asks for an answer, then an order is placed: a store owner's
    # socket gets newOrder; the refused one, which named that owner, must get nothing.
    try:
        await raw.send(EIO_MESSAGE + f"21{json.dumps([ClientEvent.TIME_SYNC.value, {}])}")
        asked = "sent a time_sync with an ack id"
    except ConnectionError:  # a server may close a refused session at once: also right
        asked = "closed by the server before its time_sync"
    order = await target.new_order(customer)
    seen = await control.wait_for(
        lambda received: any(r.event == Event.NEW_ORDER.value and isinstance(r.payload, dict)
                             and r.payload.get("orderId") == order["id"] for r in received),
        target.config.event_timeout_s)
    expect(seen, f"control: the store owner's socket got no {Event.NEW_ORDER.value} for the "
           "new order, so the check proves nothing", expected=Event.NEW_ORDER.value,
           got=[r.event for r in control.received])
    await target.quiet()
    extra = [p for p in raw.packets[1:] if not p.startswith(SIO_DISCONNECT)]
    expect(not extra, "a refused client received packets",
           sent="a refused session, then a time_sync with an ack id and a new order",
           expected="nothing (at most a disconnect)", got=[p[:200] for p in extra])
    return (f"refused ({answer[:60]}); {asked}; no ack and no {Event.NEW_ORDER.value} "
            "reached it while the owner's socket got the order")
