"""Cuts under a microscope: `python tests/load/disruption_probe.py` (run by test_reconnect.py).

Runs a python-socketio server (aiohttp, pings every 1 s, 1 s timeout) in a thread, and
`harness.load.disruption.CuttableClient`s in plain threads (no Locust, no gevent): one per
transport and cut mode, each cut once, and reports on one JSON line what the client and the
server saw (when each noticed, with which reason, whether anything sent after a silent cut
arrived). Then it plays a load balancer without sticky sessions (requests that carry a
session id get `400 {"code":1,"message":"Session ID unknown"}`, as from another server) to
make a websocket upgrade fail and a poll be refused, and connects to a closed port; and
reports what the client's observer counted.
"""

from __future__ import annotations

import asyncio
import json
import socket
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import socketio  # noqa: E402
from aiohttp import web  # noqa: E402

from harness.load.disruption import CuttableClient  # noqa: E402

PING_S = 1.0


class Observer:
    def __init__(self) -> None:
        self.connect_errors: list[str] = []
        self.upgrade_failures: list[str] = []
        self.session_unknowns = 0

    def connect_error(self, kind: str, message: str) -> None:
        self.connect_errors.append(kind)

    def upgrade_failed(self, reason: str) -> None:
        self.upgrade_failures.append(reason)

    def session_unknown(self) -> None:
        self.session_unknowns += 1


class Server:
    def __init__(self) -> None:
        self.sio = socketio.AsyncServer(async_mode="aiohttp", ping_interval=PING_S,
                                        ping_timeout=PING_S)
        self.app = web.Application(middlewares=[self._nonsticky])
        self.sio.attach(self.app)
        self.disconnects: dict[str, tuple[float, str]] = {}
        self.received: list[tuple[str, Any]] = []
        #: None, "websocket" or "polling": which requests with a sid "hit another server".
        self.nonsticky: str | None = None
        self.sio.on("disconnect", self._disconnect)
        self.sio.on("*", self._any)
        self.loop = asyncio.new_event_loop()
        self.port = _free_port()
        self.ready = threading.Event()  # before the thread starts: it sets it
        threading.Thread(target=self._run, daemon=True).start()

    @web.middleware
    async def _nonsticky(self, request: web.Request, handler: Any) -> Any:
        transport = request.query.get("transport")
        if self.nonsticky and "sid" in request.query and transport == self.nonsticky:
            return web.json_response({"code": 1, "message": "Session ID unknown"}, status=400)
        return await handler(request)

    async def _disconnect(self, sid: str, reason: Any = None) -> None:
        self.disconnects[sid] = (time.monotonic(), str(reason))

    async def _any(self, event: str, sid: str, data: Any = None) -> None:
        self.received.append((sid, data))

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        runner = web.AppRunner(self.app)
        self.loop.run_until_complete(runner.setup())
        self.loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", self.port).start())
        self.ready.set()
        self.loop.run_forever()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _client(observer: Observer) -> tuple[CuttableClient, dict[str, Any]]:
    seen: dict[str, Any] = {"connects": [], "disconnects": []}
    client = CuttableClient(reconnection=True, reconnection_delay=0.2, reconnection_delay_max=0.5,
                            randomization_factor=0.0, observer=observer, logger=False,
                            engineio_logger=False)
    client.on("connect", lambda: seen["connects"].append((time.monotonic(), client.get_sid())))
    client.on("disconnect", lambda reason=None: seen["disconnects"].append((time.monotonic(), str(reason))))
    return client, seen


def cut_case(server: Server, transport: str, kind: str, out: list[dict[str, Any]]) -> None:
    try:
        _cut_case(server, transport, kind, out)
    except Exception:  # reported as the case's result, so the test shows why
        out.append({"case": f"{transport}/{kind}", "error": traceback.format_exc()})


def _cut_case(server: Server, transport: str, kind: str, out: list[dict[str, Any]]) -> None:
    observer = Observer()
    client, seen = _client(observer)
    client.connect(server.url, transports=[transport], wait_timeout=5)
    time.sleep(1.5)  # a few pings go by
    first_sid = client.get_sid()
    cut_at = time.monotonic()
    client.cut(kind)
    try:
        client.emit("after_cut", {"sid": first_sid})  # must never reach the server
    except socketio.exceptions.BadNamespaceError:
        pass  # the client already knew it was cut (a closed polling cut): nothing was sent
    deadline = cut_at + 15.0
    while time.monotonic() < deadline and (len(seen["connects"]) < 2
                                           or first_sid not in server.disconnects):
        time.sleep(0.05)
    time.sleep(0.3)
    gone = server.disconnects.get(first_sid)
    client_gone = seen["disconnects"][0] if seen["disconnects"] else None
    out.append({
        "case": f"{transport}/{kind}",
        "client_noticed_s": round(client_gone[0] - cut_at, 3) if client_gone else None,
        "client_reason": client_gone[1] if client_gone else None,
        "reconnected_s": round(seen["connects"][1][0] - cut_at, 3) if len(seen["connects"]) > 1 else None,
        "new_sid": len(seen["connects"]) > 1 and seen["connects"][1][1] != first_sid,
        "server_noticed_s": round(gone[0] - cut_at, 3) if gone else None,
        "server_reason": gone[1] if gone else None,
        "server_got_after_cut": any(d == {"sid": first_sid} for _, d in server.received),
    })
    client.shutdown()


def nonsticky_case(server: Server, transport: str, transports: list[str]) -> dict[str, Any]:
    observer = Observer()
    client, _ = _client(observer)
    server.nonsticky = transport
    connected = True
    try:
        client.connect(server.url, transports=transports, wait_timeout=3)
    except socketio.exceptions.ConnectionError:
        connected = False
    time.sleep(0.5)
    result = {"case": f"nonsticky/{transport}", "connected": connected,
              "transport": client.transport() if connected else None,
              "upgrade_failures": len(observer.upgrade_failures),
              "upgrade_failure_reasons": observer.upgrade_failures,
              "session_unknown": observer.session_unknowns}
    client.shutdown()
    server.nonsticky = None
    return result


def refused_case() -> dict[str, Any]:
    observer = Observer()
    client, _ = _client(observer)
    for transport in ("websocket", "polling"):
        try:
            client.connect(f"http://127.0.0.1:{_free_port()}", transports=[transport], wait_timeout=2)
        except socketio.exceptions.ConnectionError:
            pass
    return {"case": "refused", "connect_errors": observer.connect_errors}


def main() -> int:
    server = Server()
    if not server.ready.wait(10):
        print("probe server did not start within 10 s", file=sys.stderr)
        return 1
    results: list[dict[str, Any]] = []
    threads = [threading.Thread(target=cut_case, args=(server, t, k, results))
               for t in ("websocket", "polling") for k in ("closed", "silent")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    results.append(nonsticky_case(server, "websocket", ["polling", "websocket"]))
    results.append(nonsticky_case(server, "polling", ["polling"]))
    results.append(refused_case())
    for result in results:
        print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
