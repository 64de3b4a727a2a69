"""Transport: Engine.IO handshakes, namespaces, malformed and oversized packets (sections 1, 7)."""

from __future__ import annotations

import json
from typing import Any

import httpx

from ...contract import MAX_SOCKET_MESSAGE_BYTES, ClientEvent, Role
from ...errors import ConnectRefused
from ..model import expect
from ..raw import engineio_url
from ..registry import check
from ..target import Target

#: What every Engine.IO 4 OPEN packet carries. `maxPayload` came later (socket.io 4.5,
#: python-engineio 4.11): a socket.io 4.0 server speaks the protocol without it, so it is
#: reported, never required.
OPEN_FIELDS = ("sid", "upgrades", "pingInterval", "pingTimeout")
OPTIONAL_OPEN_FIELD = "maxPayload"
#: Socket.IO packets that no conforming decoder accepts (sent inside an Engine.IO MESSAGE).
MALFORMED = {"unterminated JSON": "2[\"x\", {", "unknown packet type": "X",
             "event that is not a list": "2\"not a list\"", "event without a name": "2[]"}


async def _alive(target: Target, token: str) -> None:
    """A healthy connection answers `time_sync` (the control beside a broken one)."""
    client = await target.socket(token)
    ack = await client.call(ClientEvent.TIME_SYNC.value, {}, timeout=target.config.event_timeout_s)
    expect(isinstance(ack, dict) and "serverTime" in ack,
           "a healthy connection did not answer time_sync", got=ack)


def _max_payload(opened: dict[str, Any]) -> str:
    value = opened.get(OPTIONAL_OPEN_FIELD)
    return (f"{OPTIONAL_OPEN_FIELD} {value}" if OPTIONAL_OPEN_FIELD in opened
            else f"no {OPTIONAL_OPEN_FIELD} (optional: older Engine.IO 4 servers omit it)")


@check("transport.handshake.polling", "1",
       "an Engine.IO handshake over HTTP long-polling opens a session, and a client connects on it")
async def handshake_polling(target: Target) -> str:
    url = engineio_url(target.url, target.config.socketio_path, "polling")
    await target.limiter.acquire()
    async with httpx.AsyncClient(verify=not target.config.insecure, timeout=10) as http:
        response = await http.get(url)
    body = response.text
    expect(response.status_code == 200 and body.startswith("0"),
           f"GET {url} did not open an Engine.IO session", sent=f"GET {url}",
           expected="200 with an OPEN packet 0{...}", got=f"{response.status_code} {body[:200]}")
    opened = json.loads(body[1:].split("\x1e")[0])
    missing = [f for f in OPEN_FIELDS if f not in opened]
    expect(not missing, f"the OPEN packet lacks {missing}", got=opened)
    user = await target.user(Role.CUSTOMER)
    client = await target.socket(user.token, transports=["polling"])
    expect(client.connected, "a polling-only client did not connect")
    return f"OPEN {', '.join(OPEN_FIELDS)}, {_max_payload(opened)}; a polling-only client connected"


@check("transport.handshake.websocket", "1",
       "an Engine.IO handshake over a websocket opens a session, and a client connects on it")
async def handshake_websocket(target: Target) -> str:
    raw = await target.raw()
    opened = raw.open_packet or {}
    missing = [f for f in OPEN_FIELDS if f not in opened]
    expect(not missing, f"the OPEN packet lacks {missing}", got=opened)
    user = await target.user(Role.CUSTOMER)
    client = await target.socket(user.token, transports=["websocket"])
    expect(client.connected, "a websocket-only client did not connect")
    return f"OPEN over websocket ({_max_payload(opened)}); a websocket-only client connected"


@check("transport.namespace.unknown", "7", "a connect to an unknown namespace is refused")
async def unknown_namespace(target: Target) -> str:
    user = await target.user(Role.CUSTOMER)
    namespace = f"/{target.prefix}-nope"
    try:
        await target.socket(user.token, namespace=namespace)
    except ConnectRefused as exc:
        return f"namespace {namespace} refused: {exc.message}"
    raise AssertionError("unreachable")  # pragma: no cover


@check("transport.malformed_packet", "7",
       "a malformed packet closes that one connection; a healthy connection beside it goes on")
async def malformed_packet(target: Target) -> str:
    user = await target.user(Role.CUSTOMER)
    for what, packet in MALFORMED.items():
        raw = await target.raw()
        answer = await raw.connect_namespace({"token": user.token})
        expect(answer.startswith("0"), "a valid token's CONNECT was not accepted", got=answer)
        await raw.send_packet(packet)
        closed = await raw.wait_closed(target.config.event_timeout_s)
        expect(closed, f"a malformed packet ({what}) did not close the connection",
               sent=packet, expected="the connection closed", got="still open after "
               f"{target.config.event_timeout_s:.0f} s")
        await _alive(target, user.token)
    return f"{len(MALFORMED)} malformed packets each closed their connection; a healthy one went on"


@check("transport.message_too_large", "7",
       f"a message over {MAX_SOCKET_MESSAGE_BYTES:,} bytes closes that connection")
async def message_too_large(target: Target) -> str:
    user = await target.user(Role.CUSTOMER)
    raw = await target.raw()
    answer = await raw.connect_namespace({"token": user.token})
    expect(answer.startswith("0"), "a valid token's CONNECT was not accepted", got=answer)
    size = MAX_SOCKET_MESSAGE_BYTES + 100_000
    how = "after it arrived"
    try:
        await raw.send_packet("2" + json.dumps(["oversized", "x" * size]))
    except ConnectionError:
        # The server may close as soon as the frame's header announces the size, while the
        # rest is still being sent: the very closing this check looks for.
        how = "while it was still being sent"
    closed = await raw.wait_closed(target.config.event_timeout_s)
    expect(closed, "an oversized message did not close the connection",
           sent=f"an event of {size:,} bytes", expected="the connection closed", got="still open "
           f"after {target.config.event_timeout_s:.0f} s")
    await _alive(target, user.token)
    return f"a {size:,}-byte message closed its connection ({how}); a healthy one went on"


@check("transport.unknown_event", "7", "an unknown client event is ignored, never fatal")
async def unknown_event(target: Target) -> str:
    user = await target.user(Role.CUSTOMER)
    client = await target.socket(user.token)
    await client.emit(f"{target.prefix}_no_such_event", {"a": 1})
    ack = await client.call(ClientEvent.TIME_SYNC.value, {}, timeout=target.config.event_timeout_s)
    expect(client.connected and isinstance(ack, dict), "the connection did not survive an "
           "unknown event", got=ack)
    return "unknown event ignored; the connection answered time_sync after it"
