"""A reconnect waits for a slow server's CONNECT as long as the first connect did.

Bug (found chasing the store-owner catch-up flake): python-socketio's own reconnection calls
`connect` with its default one-second wait. Against a server slower than that, each attempt
was abandoned and torn down, yet the late CONNECT still fired `connect`, several times over,
with no connection up: each opened presence in the ledger that never closed, and started a
catch-up that could call the user consistent while it was in no room.
"""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path

from tests.support.child_processes import Child, free_port

SLOW_SERVER = textwrap.dedent('''
    import asyncio, sys
    import socketio
    from aiohttp import web

    sio = socketio.AsyncServer(async_mode="aiohttp", ping_interval=1, ping_timeout=1)
    app = web.Application()
    sio.attach(app)
    seen = {"n": 0}

    @sio.on("connect")
    async def connect(sid, environ, auth=None):
        seen["n"] += 1
        if seen["n"] >= 2:          # every reconnect: a server that takes its time
            await asyncio.sleep(1.3)

    print("slow server ready", flush=True)
    web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None)
''')

CLIENT = textwrap.dedent('''
    from gevent import monkey; monkey.patch_all()
    import json, sys, gevent
    from harness.load.disruption import CuttableClient

    sio = CuttableClient(reconnection=True, reconnection_delay=0.2, reconnection_delay_max=1)
    connects = []
    sio.on("connect", lambda: connects.append(sio.eio.state))
    sio.connect(f"http://127.0.0.1:{sys.argv[1]}", transports=["websocket"], wait_timeout=10)
    gevent.sleep(0.5)
    sio.cut("closed")
    gevent.sleep(6)
    print(json.dumps({"connects": connects, "connected": sio.connected}), flush=True)
    sio.shutdown()
''')


def test_a_slow_servers_connect_is_waited_for_once(tmp_path: Path) -> None:
    port = free_port()
    (tmp_path / "server.py").write_text(SLOW_SERVER)
    (tmp_path / "client.py").write_text(CLIENT)
    with Child([sys.executable, str(tmp_path / "server.py"), str(port)]) as server:
        server.wait_line(lambda l: "ready" in l, 20, "the slow server's ready line")
        with Child([sys.executable, str(tmp_path / "client.py"), str(port)]) as client:
            line = client.wait_line(lambda l: l.startswith("{"), 30, "the client's verdict")
    verdict = json.loads(line)
    assert verdict["connects"] == ["connected", "connected"], verdict
    assert verdict["connected"] is True, verdict
