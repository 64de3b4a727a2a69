"""Transport rules of contract section 7 that python-socketio does not enforce by itself."""

from __future__ import annotations

import asyncio
import json

import pytest

from harness.contract import ClientEvent
from harness.realtime import RealtimeClient
from tests.support.actors import World
from tests.support.probes import RawSocket


@pytest.fixture
async def w(server):
    async with World(server.url) as world:
        yield world


async def _wait_closed(raw: RawSocket, limit_s: float = 3.0) -> bool:
    deadline = asyncio.get_running_loop().time() + limit_s
    while not raw.closed and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.05)
    return raw.closed


@pytest.mark.parametrize("packet", ["2[unterminated", "X", '2"not a list"', "2[1,2]", "2[]"])
async def test_a_malformed_packet_closes_that_connection_only(w, server, packet):
    customer = await w.customer()
    bystander = RealtimeClient(server.url, customer.token)
    await bystander.connect(timeout=5)
    raw = await RawSocket(server.url).open()
    try:
        answer = await raw.connect_namespace({"token": customer.token})
        assert answer.startswith("0"), answer
        await raw.send_packet(packet)
        assert await _wait_closed(raw), f"the connection stayed open after {packet!r}"
        ack = await bystander.call(ClientEvent.TIME_SYNC.value, {})
        assert isinstance(ack["serverTime"], int)  # the other connection goes on
    finally:
        await raw.close()
        await bystander.disconnect()


async def test_an_unknown_event_is_ignored_and_the_connection_stays(w, server):
    customer = await w.customer()
    raw = await RawSocket(server.url).open()
    try:
        await raw.connect_namespace({"token": customer.token})
        await raw.send_packet("2" + json.dumps(["no_such_event", {"a": 1}]))
        await asyncio.sleep(0.5)
        assert not raw.closed
    finally:
        await raw.close()


async def test_a_polling_client_that_leaves_is_let_go_at_once(w, server):
    """The pending long-poll GET is answered when the client says goodbye (Engine.IO CLOSE):
    otherwise the client's disconnect waits for the poll to time out (ping interval +
    timeout, 45 s by default)."""
    customer = await w.customer()
    client = RealtimeClient(server.url, customer.token, transports=["polling"])
    await client.connect(timeout=5)
    await asyncio.sleep(0.3)  # the client's long-poll GET is now pending at the server
    started = asyncio.get_running_loop().time()
    await asyncio.wait_for(client.disconnect(), 20)
    assert asyncio.get_running_loop().time() - started < 2.0
