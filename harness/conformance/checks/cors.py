"""CORS: the allow-list of origins, on the API and on the Socket.IO handshake (section 1).

A request or handshake from an origin that is not on the list is refused (an HTTP 4xx
without `Access-Control-Allow-Origin`; the Socket.IO handshake fails), `*` is never
answered, and requests without an `Origin` header (non-browser clients) are allowed.
The foreign origin is made up for the run (`https://<prefix>.evil.example`); the allowed
one comes from --origin.
"""

from __future__ import annotations

import json
from typing import Any

import httpx

from ...contract import BY_OPERATION, Operation, Role
from ...errors import ConnectRefused
from ..model import CheckSkipped, expect
from ..raw import EIO_CLOSE, EIO_OPEN, engineio_url
from ..registry import check
from ..target import Target

ACAO = "Access-Control-Allow-Origin"
#: The authenticated endpoint the API requests go to (every role may list orders).
LIST = BY_OPERATION[Operation.LIST_ORDERS]
#: A change a browser front-end makes: its preflight asks for PATCH and two headers.
UPDATE = BY_OPERATION[Operation.UPDATE_STATUS]
#: The library client's transport. The polling transport's CORS is its handshake GET, which
#: the checks send by hand (a python-socketio polling client is slow to close: ~30 s).
TRANSPORTS = ("websocket",)


def _foreign(target: Target) -> str:
    return f"https://{target.prefix}.evil.example"


def _allowed(target: Target) -> str:
    if not target.config.origin:
        raise CheckSkipped("needs --origin (an origin the target allows)")
    return target.config.origin


class _Exchange:
    """One raw request and its answer, described for evidence."""

    def __init__(self, what: str, response: httpx.Response) -> None:
        self.what = what
        self.response = response
        self.status = response.status_code
        self.acao = response.headers.get(ACAO)

    @property
    def got(self) -> dict[str, Any]:
        interesting = {k: v for k, v in self.response.headers.items()
                       if k.lower().startswith("access-control-")}
        return {"status": self.status, "headers": interesting, "body": self.response.text[:200]}


async def _send(target: Target, what: str, method: str, url: str,
                headers: dict[str, str]) -> _Exchange:
    await target.limiter.acquire()
    async with httpx.AsyncClient(verify=not target.config.insecure, timeout=10) as http:
        return _Exchange(what, await http.request(method, url, headers=headers))


async def _api_get(target: Target, origin: str | None) -> _Exchange:
    user = await target.user(Role.CUSTOMER)
    headers = {"Authorization": f"Bearer {user.token}"}
    if origin is not None:
        headers["Origin"] = origin
    what = f"{LIST.method} {LIST.path} with a valid token, " + (
        f"Origin: {origin}" if origin else "no Origin")
    return await _send(target, what, LIST.method, target.url + LIST.path, headers)


async def _preflight(target: Target, origin: str) -> _Exchange:
    path = UPDATE.url_path(order_id=f"{target.prefix}-preflight")
    headers = {"Origin": origin, "Access-Control-Request-Method": UPDATE.method,
               "Access-Control-Request-Headers": "authorization, content-type"}
    return await _send(target, f"OPTIONS {path} (preflight for {UPDATE.method}), Origin: {origin}",
                       "OPTIONS", target.url + path, headers)


async def _polling_handshake(target: Target, origin: str | None) -> _Exchange:
    url = engineio_url(target.url, target.config.socketio_path, "polling")
    headers = {} if origin is None else {"Origin": origin}
    what = f"GET {url} (polling handshake), " + (f"Origin: {origin}" if origin else "no Origin")
    exchange = await _send(target, what, "GET", url, headers)
    await _close_session(target, url, headers, exchange)
    return exchange


async def _close_session(target: Target, url: str, headers: dict[str, str],
                         exchange: _Exchange) -> None:
    """Send CLOSE on a session the handshake opened (no half-open sessions left behind)."""
    text = exchange.response.text
    if exchange.status != 200 or not text.startswith(EIO_OPEN):
        return
    try:
        sid = json.loads(text[1:].split("\x1e")[0])["sid"]
    except (ValueError, KeyError, TypeError):
        return
    await target.limiter.acquire()
    async with httpx.AsyncClient(verify=not target.config.insecure, timeout=10) as http:
        try:
            await http.post(f"{url}&sid={sid}", content=EIO_CLOSE, headers=headers)
        except httpx.HTTPError:
            pass


async def _socket(target: Target, origin: str | None, transport: str) -> str | None:
    """Connect a library client with a valid token; the refusal, or None when it connected."""
    user = await target.user(Role.CUSTOMER)
    headers = {} if origin is None else {"Origin": origin}
    try:
        client = await target.socket(user.token, transports=[transport], headers=headers)
    except ConnectRefused as exc:
        return exc.message or "refused"
    return None if client.connected else "not connected"


def _listed(header: str | None) -> set[str]:
    return {part.strip().lower() for part in (header or "").split(",") if part.strip()}


@check("cors.foreign_origin_refused", "1",
       "a foreign origin is refused: API request and polling handshake 4xx without "
       "Access-Control-Allow-Origin, no ACAO on its preflight, its websocket handshake fails")
async def foreign_origin_refused(target: Target) -> str:
    origin = _foreign(target)
    # `null` is the origin of sandboxed frames and local files: on no allow-list either.
    for exchange in (await _api_get(target, origin), await _polling_handshake(target, origin),
                     await _api_get(target, "null")):
        expect(400 <= exchange.status < 500 and exchange.acao is None,
               "a request from a foreign origin was not refused", sent=exchange.what,
               expected=f"4xx without {ACAO}", got=exchange.got)
    preflight = await _preflight(target, origin)
    expect(preflight.acao is None, "a preflight from a foreign origin was allowed",
           sent=preflight.what, expected=f"no {ACAO}", got=preflight.got)
    refusals = []
    for transport in TRANSPORTS:
        refusal = await _socket(target, origin, transport)
        expect(refusal is not None, f"a socket with Origin {origin} connected over {transport}",
               sent=f"a Socket.IO connect over {transport} with a valid token, Origin: {origin}",
               expected="the handshake fails", got="connected")
        # Control: the same client without the Origin connects, so the Origin was the cause.
        control = await _socket(target, None, transport)
        expect(control is None, f"control: a socket without Origin was refused over {transport} "
               "too, so the foreign origin's refusal proves nothing",
               sent=f"a Socket.IO connect over {transport} with a valid token, no Origin",
               expected="connected", got=control)
        refusals.append(f"{transport}: {refusal}")
    return (f"Origin {origin}: API and polling handshake 4xx without {ACAO} (API with Origin "
            f"null too), preflight {preflight.status} without it; socket refused "
            f"({'; '.join(refusals)[:160]}), connected without the Origin")


@check("cors.allowed_origin_accepted", "1",
       "the allowed origin is answered with Access-Control-Allow-Origin equal to it "
       "(API, preflight, polling handshake) and its sockets connect")
async def allowed_origin_accepted(target: Target) -> str:
    origin = _allowed(target)
    api = await _api_get(target, origin)
    expect(api.status == 200 and api.acao == origin, "a request from the allowed origin was "
           f"not answered with {ACAO}: {origin}", sent=api.what,
           expected=f"200 with {ACAO}: {origin}", got=api.got)
    preflight = await _preflight(target, origin)
    methods = _listed(preflight.response.headers.get("Access-Control-Allow-Methods"))
    allowed_headers = _listed(preflight.response.headers.get("Access-Control-Allow-Headers"))
    expect(200 <= preflight.status < 300 and preflight.acao == origin
           and (UPDATE.method.lower() in methods or "*" in methods)
           and {"authorization", "content-type"} <= allowed_headers,
           "a preflight from the allowed origin did not allow the request",
           sent=preflight.what, expected=f"2xx, {ACAO}: {origin}, methods with {UPDATE.method}, "
           "headers with authorization and content-type", got=preflight.got)
    polling = await _polling_handshake(target, origin)
    expect(polling.status == 200 and polling.response.text.startswith(EIO_OPEN)
           and polling.acao == origin, "the polling handshake from the allowed origin was not "
           f"opened with {ACAO}: {origin}", sent=polling.what,
           expected=f"200 OPEN packet with {ACAO}: {origin}", got=polling.got)
    for transport in TRANSPORTS:
        refusal = await _socket(target, origin, transport)
        expect(refusal is None, f"a socket from the allowed origin was refused over {transport}",
               sent=f"a Socket.IO connect over {transport} with a valid token, Origin: {origin}",
               expected="connected", got=refusal)
    return (f"Origin {origin}: API 200, preflight {preflight.status}, polling handshake 200, all "
            f"with {ACAO}: {origin}; socket connected over {' and '.join(TRANSPORTS)}")


@check("cors.no_wildcard", "1",
       "no answer (foreign, allowed or no Origin; preflight included) carries "
       "Access-Control-Allow-Origin: *")
async def no_wildcard(target: Target) -> str:
    origins: list[str | None] = [_foreign(target), None]
    if target.config.origin:
        origins.append(target.config.origin)
    exchanges = []
    for origin in origins:
        exchanges.append(await _api_get(target, origin))
        exchanges.append(await _polling_handshake(target, origin))
        exchanges.append(await _preflight(target, origin or _foreign(target)))
    for exchange in exchanges:
        expect((exchange.acao or "").strip() != "*", f"an answer carried {ACAO}: *",
               sent=exchange.what, expected=f"no {ACAO}: *", got=exchange.got)
    note = "" if target.config.origin else " (no --origin: the allowed origin was not tried)"
    return f"{len(exchanges)} answers, none with {ACAO}: *{note}"


@check("cors.no_origin_allowed", "1",
       "requests without an Origin header (non-browser clients) are allowed: API and socket")
async def no_origin_allowed(target: Target) -> str:
    api = await _api_get(target, None)
    expect(api.status == 200, "an API request without Origin was not answered",
           sent=api.what, expected="200", got=api.got)
    polling = await _polling_handshake(target, None)
    expect(polling.status == 200 and polling.response.text.startswith(EIO_OPEN),
           "a polling handshake without Origin did not open a session", sent=polling.what,
           expected="200 with an OPEN packet", got=polling.got)
    for transport in TRANSPORTS:
        refusal = await _socket(target, None, transport)
        expect(refusal is None, f"a socket without Origin was refused over {transport}",
               sent=f"a Socket.IO connect over {transport} with a valid token, no Origin",
               expected="connected", got=refusal)
    return (f"no Origin: API 200, polling handshake opened, socket connected over "
            f"{' and '.join(TRANSPORTS)}")
