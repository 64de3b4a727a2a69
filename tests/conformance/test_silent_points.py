"""Where CONTRACT.md is silent, a conformance check accepts every reasonable answer and says
which came; where it speaks, a wrong answer still fails (issue 8).

Each test runs real checks against the real reference server on loopback: as it is, bent to
answer the other reasonable way (`variants.py`: another implementation's choice), and bent to
answer wrongly. Nothing of the harness is replaced.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
import types
from typing import Any, Iterator

import engineio.async_server
import engineio.packet
import pytest
import socketio
from aiohttp import web

from harness.conformance import Verdict
from harness.contract import TRANSITIONS, Actor, ErrorCode, OrderType, Status, Via
from reference_server import ReferenceServer
from tests.conformance.variants import ApiError, on_api_error, outcome, variant
from tests.support.tcp_pipe import pipe

ASSIGN = "/assign-driver"


# --- http.precedence: an unknown driver on an unknown order --------------------------------------

def _unknown_driver_on_unknown_order(answer: ErrorCode):
    """assign-driver that looks the order up before the driver: an unknown order answers
    `answer` where the reference server says 422 for the driver."""

    async def rewrite(server: ReferenceServer, request: web.Request, exc: ApiError) -> ApiError | None:
        if exc.code is ErrorCode.UNKNOWN_DRIVER and request.path.endswith(ASSIGN):
            if await server.orders.get(request.match_info["order_id"]) is None:
                return ApiError(answer, "no such order (looked up before the driver)")
        return None

    return on_api_error(rewrite)


async def test_precedence_takes_404_or_422_for_an_unknown_driver_on_an_unknown_order(server) -> None:
    reference = await outcome(server.url, "http.precedence")
    assert reference.verdict is Verdict.PASS, reference
    assert reference.evidence.startswith("an unknown driver on an unknown order is 422"), reference
    with variant(_unknown_driver_on_unknown_order(ErrorCode.NOT_FOUND)) as order_first:
        other = await outcome(order_first.url, "http.precedence")
    assert other.verdict is Verdict.PASS, other
    assert other.evidence.startswith("an unknown driver on an unknown order is 404"), other
    with variant(_unknown_driver_on_unknown_order(ErrorCode.INVALID_TRANSITION)) as wrong:
        failed = await outcome(wrong.url, "http.precedence")
    assert failed.verdict is Verdict.FAIL and "answered 409, not 404 or 422" in failed.evidence, failed


# --- allowedNext: its scope -----------------------------------------------------------------------

def _allowed_next(narrow: bool):
    """409s whose allowedNext lists only the store owner's moves by this request (`narrow`),
    or every status there is (wrong: most are no move from the current one)."""

    async def rewrite(server: ReferenceServer, request: web.Request, exc: ApiError) -> ApiError | None:
        if exc.code is not ErrorCode.INVALID_TRANSITION or not isinstance(exc.details, dict):
            return None
        if not narrow:
            return ApiError(exc.code, exc.message, {**exc.details,
                                                    "allowedNext": [s.value for s in Status]})
        order = await server.orders.get(request.match_info["order_id"])
        assert order is not None
        via = Via.ASSIGN_DRIVER if request.path.endswith(ASSIGN) else Via.PATCH_STATUS
        current, order_type = Status(exc.details["currentStatus"]), OrderType(order["orderType"])
        nexts = [t.target.value for t in TRANSITIONS if t.source is current and t.via is via
                 and order_type in t.order_types and Actor.STORE_OWNER in t.actors]
        return ApiError(exc.code, exc.message, {**exc.details, "allowedNext": nexts})

    return on_api_error(rewrite)


async def test_allowed_next_may_list_every_move_or_only_this_users_by_this_request(server) -> None:
    for check_id in ("transitions.refused.409", "transitions.assign_driver"):
        reference = await outcome(server.url, check_id)
        assert reference.verdict is Verdict.PASS, reference
        assert "every move from the current status" in reference.evidence, reference
    with variant(_allowed_next(narrow=True)) as narrow:
        for check_id in ("transitions.refused.409", "transitions.assign_driver"):
            other = await outcome(narrow.url, check_id)
            assert other.verdict is Verdict.PASS, other
            assert "the moves this user may make with this request" in other.evidence, other
    with variant(_allowed_next(narrow=False)) as wrong:
        failed = await outcome(wrong.url, "transitions.refused.409")
    assert failed.verdict is Verdict.FAIL and "allowedNext" in failed.evidence, failed


# --- time_sync: milliseconds, whole or not --------------------------------------------------------

def _time_sync(answer: Any):
    def prepare(server: ReferenceServer) -> None:
        async def time_sync(sid: str, *args: Any) -> dict[str, Any]:
            return {"serverTime": answer() if callable(answer) else answer}

        server.sio.on("time_sync", time_sync)  # replaces the reference handler

    return prepare


async def test_time_sync_takes_fractional_milliseconds_and_refuses_seconds(server) -> None:
    reference = await outcome(server.url, "client.time_sync")
    assert reference.verdict is Verdict.PASS and "(whole ms)" in reference.evidence, reference
    with variant(_time_sync(lambda: time.time() * 1000)) as fractional:
        other = await outcome(fractional.url, "client.time_sync")
        alive = await outcome(fractional.url, "transport.unknown_event")
    assert other.verdict is Verdict.PASS and "(fractional ms)" in other.evidence, other
    assert alive.verdict is Verdict.PASS, alive
    for wrong_answer in (lambda: time.time(), "now"):  # seconds; not a number
        with variant(_time_sync(wrong_answer)) as wrong:
            failed = await outcome(wrong.url, "client.time_sync")
        assert failed.verdict is Verdict.FAIL, failed


# --- event payloads: timestamps, statusHistory, location ------------------------------------------

def _ms(value: Any) -> Any:
    if isinstance(value, str):
        from datetime import datetime
        return int(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() * 1000)
    return value


def _payloads(bend):
    """Every emitted payload passes through `bend` (a copy) before it goes out."""

    def prepare(server: ReferenceServer) -> None:
        emit = server.sio.emit

        async def bent(event: str, data: Any = None, **kwargs: Any) -> None:
            if isinstance(data, dict):
                data = bend(json.loads(json.dumps(data)))
            await emit(event, data, **kwargs)

        server.sio.emit = bent  # type: ignore[method-assign]

    return prepare


def _as_another_server_writes(payload: dict[str, Any]) -> dict[str, Any]:
    """Epoch-ms timestamps, `{status, changedAt}` history entries, a location with more in it."""
    if "updatedAt" in payload:
        payload["updatedAt"] = _ms(payload["updatedAt"])
    order = payload.get("order")
    if isinstance(order, dict):
        order["createdAt"], order["updatedAt"] = _ms(order["createdAt"]), _ms(order["updatedAt"])
        order["statusHistory"] = [{"status": h["status"], "changedAt": _ms(h["at"])}
                                  for h in order["statusHistory"]]
    if isinstance(payload.get("location"), dict):
        payload["location"].update(accuracy=12.5, recordedAt=payload["emittedAt"])
    return payload


def _bad_timestamp(payload: dict[str, Any]) -> dict[str, Any]:
    if "updatedAt" in payload:
        payload["updatedAt"] = "a while ago"
    return payload


def _moved_location(payload: dict[str, Any]) -> dict[str, Any]:
    if isinstance(payload.get("location"), dict):
        payload["location"]["lat"] += 1
    return payload


async def test_events_may_carry_epoch_ms_other_history_entries_and_richer_locations(server) -> None:
    reference = await outcome(server.url, "routing.delivery_lifecycle")
    assert reference.verdict is Verdict.PASS, reference
    assert "timestamps as ISO 8601 strings" in reference.evidence, reference
    with variant(_payloads(_as_another_server_writes)) as other_server:
        other = await outcome(other_server.url, "routing.delivery_lifecycle")
        located = await outcome(other_server.url, "client.driver_location.assigned_only")
    assert other.verdict is Verdict.PASS and "epoch milliseconds" in other.evidence, other
    assert located.verdict is Verdict.PASS, located
    with variant(_payloads(_bad_timestamp)) as wrong:
        failed = await outcome(wrong.url, "routing.delivery_lifecycle")
    assert failed.verdict is Verdict.FAIL and "updatedAt" in failed.evidence, failed
    with variant(_payloads(_moved_location)) as wrong:
        failed = await outcome(wrong.url, "client.driver_location.assigned_only")
    assert failed.verdict is Verdict.FAIL and "not the one reported" in failed.evidence, failed


# --- the Engine.IO OPEN packet: maxPayload is optional --------------------------------------------

@pytest.fixture
def open_without(monkeypatch: pytest.MonkeyPatch) -> Iterator[set[str]]:
    """The servers' OPEN packets lack the fields put in the yielded set (python-engineio's
    server builds OPEN in `engineio.async_server`; its clients never do)."""
    dropped: set[str] = set()

    class Packet(engineio.packet.Packet):
        def __init__(self, packet_type: int = engineio.packet.NOOP, data: Any = None,
                     encoded_packet: Any = None) -> None:
            if packet_type == engineio.packet.OPEN and isinstance(data, dict):
                data = {k: v for k, v in data.items() if k not in dropped}
            super().__init__(packet_type, data, encoded_packet)

    shim = types.SimpleNamespace(**{k: v for k, v in vars(engineio.packet).items()
                                    if not k.startswith("__")})
    shim.Packet = Packet
    monkeypatch.setattr(engineio.async_server, "packet", shim)
    yield dropped


async def test_the_open_packet_needs_no_max_payload_but_its_other_fields(server, open_without) -> None:
    checks = ("transport.handshake.websocket", "transport.handshake.polling")
    for check_id in checks:
        reference = await outcome(server.url, check_id)
        assert reference.verdict is Verdict.PASS and "maxPayload 1000000" in reference.evidence
    open_without.add("maxPayload")  # socket.io 4.0-4.4, python-engineio before 4.11
    for check_id in checks:
        other = await outcome(server.url, check_id)
        assert other.verdict is Verdict.PASS and "no maxPayload" in other.evidence, other
    open_without.add("pingInterval")
    for check_id in checks:
        failed = await outcome(server.url, check_id)
        assert failed.verdict is Verdict.FAIL and "pingInterval" in failed.evidence, failed


# --- a refused session: the server may close it at once ------------------------------------------

def _refused_sessions(close: bool = False, answer: bool = False):
    """Refused Socket.IO sessions closed right after their connect_error (`close`), or
    answered anyway when they ask for an ack (`answer`: wrong)."""

    def prepare(server: ReferenceServer) -> None:
        sio = server.sio
        send_packet, handle = sio._send_packet, sio._handle_eio_message

        async def send_then_close(eio_sid: str, pkt: Any) -> None:
            await send_packet(eio_sid, pkt)
            if close and pkt.packet_type == socketio.packet.CONNECT_ERROR:
                await sio.eio.disconnect(eio_sid)

        async def answer_anyway(eio_sid: str, data: Any) -> None:
            if (answer and isinstance(data, str) and data.startswith("21")
                    and sio.manager.sid_from_eio_sid(eio_sid, "/") is None):
                await sio.eio.send(eio_sid, '31[{"serverTime": 1}]')
                return
            await handle(eio_sid, data)

        sio._send_packet = send_then_close  # type: ignore[method-assign]
        sio.eio.on("message", answer_anyway)

    return prepare


async def test_a_refused_session_may_be_closed_at_once_but_never_answered(server) -> None:
    check_id = "auth.socket.refused_receives_nothing"
    reference = await outcome(server.url, check_id)
    assert reference.verdict is Verdict.PASS and "sent a time_sync" in reference.evidence, reference
    with variant(_refused_sessions(close=True)) as closing:
        other = await outcome(closing.url, check_id)
    assert other.verdict is Verdict.PASS, other
    with variant(_refused_sessions(answer=True)) as wrong:
        failed = await outcome(wrong.url, check_id)
    assert failed.verdict is Verdict.FAIL and "received packets" in failed.evidence, failed


# --- transport.message_too_large: closed while still being sent ----------------------------------

#: A front that closes a connection (RST, the rest unread) once a client has sent this much.
ABRUPT_LIMIT = 32 * 1024


async def _abrupt_front(upstream_port: int) -> asyncio.Server:
    """A TCP front for the reference server that closes a connection at once when its client
    sends a message too large (as a server with small buffers does under load), while the
    client is still sending it. Its small segment size keeps the client's kernel from taking
    the whole message at once, so the client is mid-send when the connection goes."""

    async def handle(client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        up_r, up_w = await asyncio.open_connection("127.0.0.1", upstream_port)
        await asyncio.gather(pipe(client_r, up_w, abort_after=ABRUPT_LIMIT, abort=[client_w, up_w]),
                             pipe(up_r, client_w))

    listener = socket.socket()
    listener.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, 1024)
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    return await asyncio.start_server(handle, sock=listener)


async def test_a_connection_closed_while_the_oversized_message_is_sent_is_closed(server) -> None:
    front = await _abrupt_front(server.server.port)
    try:
        port = front.sockets[0].getsockname()[1]
        closed = await outcome(f"http://127.0.0.1:{port}", "transport.message_too_large")
    finally:
        front.close()
    assert closed.verdict is Verdict.PASS, closed
    assert "while it was still being sent" in closed.evidence, closed


def _never_closes(server: ReferenceServer) -> None:
    """Engine.IO takes 10 MB messages, and malformed packets are logged and dropped
    (python-socketio's own way): this server closes no connection."""
    server.sio.eio.max_http_buffer_size = 10_000_000
    server.sio.eio.on("message", types.MethodType(socketio.AsyncServer._handle_eio_message,
                                                  server.sio))


async def test_a_server_that_does_not_close_fails_the_transport_checks() -> None:
    with variant(_never_closes) as lenient:
        for check_id in ("transport.message_too_large", "transport.malformed_packet"):
            failed = await outcome(lenient.url, check_id, event_timeout_s=2.0)
            assert failed.verdict is Verdict.FAIL, failed
            assert "did not close the connection" in failed.evidence, failed
