"""Where a team's socket takes its token (`auth.socket` of a contract file): the handshake's
auth payload, the query string or a header. A small Socket.IO server on loopback accepts a
connection only when the token comes where it is configured to look."""

from __future__ import annotations

from typing import Any, AsyncIterator
from urllib.parse import parse_qs

import pytest
import socketio
from aiohttp import web

from harness.contract.reference_file import text
from harness.contract.teamfile import loads
from harness.errors import ConnectRefused
from harness.teamclient import TeamClient

TOKEN = "t0k3n with spaces&more"


def _token_at(place: str, environ: dict[str, Any], auth: Any) -> str | None:
    if place == "auth":
        return auth.get("jwt") if isinstance(auth, dict) else None
    if place == "query":
        return (parse_qs(environ.get("QUERY_STRING", "")).get("access_token") or [None])[0]
    return environ.get("HTTP_X_ACCESS_TOKEN")


@pytest.fixture(params=["auth", "query", "header"])
async def peer(request: pytest.FixtureRequest) -> AsyncIterator[tuple[str, str]]:
    place = request.param
    sio = socketio.AsyncServer(async_mode="aiohttp")

    @sio.event
    async def connect(sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        if _token_at(place, environ, auth) != f"Bearer {TOKEN}":
            raise socketio.exceptions.ConnectionRefusedError("no token where it belongs")

    app = web.Application()
    sio.attach(app)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield place, f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


def _contract(place: str, key: str) -> Any:
    return loads(text().replace('socket = "auth"', f'socket = "{place}"')
                 .replace('socket_key = "token"', f'socket_key = "{key}"')
                 .replace('socket_value = "{token}"', 'socket_value = "Bearer {token}"'))


KEYS = {"auth": "jwt", "query": "access_token", "header": "X-Access-Token"}


async def test_the_socket_presents_the_token_where_the_file_says(peer: tuple[str, str]) -> None:
    place, url = peer
    async with TeamClient(url, _contract(place, KEYS[place])) as client:
        sock = client.socket(TOKEN)
        await sock.connect(timeout=5)
        assert sock.connected
        await sock.disconnect()
        # Anywhere else, the server refuses it.
        for other in (p for p in KEYS if p != place):
            async with TeamClient(url, _contract(other, KEYS[other])) as wrong:
                with pytest.raises(ConnectRefused):
                    await wrong.socket(TOKEN).connect(timeout=5)
