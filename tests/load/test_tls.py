"""A load run over TLS, as against a staging server behind https: the reference server behind
a TLS-terminating proxy with a throwaway CA's certificate (trustme), `--insecure`.

TLS sockets are not the event loop's to read (harness/load/loop_websocket.py reads frames
from a plain TCP socket's bytes): python-engineio's greenlet reads them, and their events
carry the stamp of their reading (the kernel cannot stamp records for the application).
"""

from __future__ import annotations

import asyncio
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme

from tests.support.load_runs import EVENTS, ServerPool, ended_well, nonzero_faults, run_load, table
from tests.support.tcp_pipe import pipe

USERS = 20


class TlsProxy:
    """Terminates TLS on a free loopback port and pipes each connection to `upstream`, in an
    asyncio loop of its own thread; `close()` stops it and every connection."""

    def __init__(self, context: ssl.SSLContext, upstream: tuple[str, int]) -> None:
        self.context = context
        self.upstream = upstream
        self.loop = asyncio.new_event_loop()
        self.port = 0
        self.connections = 0
        self._server: asyncio.Server | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> TlsProxy:
        self._thread.start()
        assert self._ready.wait(10), "the TLS proxy did not start"
        return self

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self._server = self.loop.run_until_complete(
            asyncio.start_server(self._handle, "127.0.0.1", 0, ssl=self.context))
        self.port = self._server.sockets[0].getsockname()[1]
        self._ready.set()
        self.loop.run_forever()

    async def _handle(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            server_r, server_w = await asyncio.open_connection(*self.upstream)
        except OSError:
            client_w.close()
            return

        await asyncio.gather(pipe(client_r, server_w), pipe(server_r, client_w))

    def close(self) -> None:
        async def stop() -> None:
            if self._server is not None:
                self._server.close()
            for task in asyncio.all_tasks():
                if task is not asyncio.current_task():
                    task.cancel()

        if self.loop.is_running():
            asyncio.run_coroutine_threadsafe(stop(), self.loop).result(10)
            self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)


@pytest.fixture(scope="module")
def tls_run(servers: ServerPool, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    server = servers.get()
    host, port = server.url.removeprefix("http://").split(":")
    ca = trustme.CA()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    proxy = TlsProxy(context, (host, int(port))).start()
    try:
        folder: Path = tmp_path_factory.mktemp("tls") / "run"
        # Every user started at once: at the default rate (all within 10 s) an 8 s run
        # never has all 20, and on a busy machine fewer than 20 had connected.
        run = run_load(f"https://127.0.0.1:{proxy.port}", folder, users=USERS, duration="8",
                       extra=["--insecure", "--spawn-rate", str(USERS)])
        yield {"run": run, "proxied": proxy.connections}
    finally:
        proxy.close()


def test_a_run_over_tls_passes_with_every_socket_read_by_its_greenlet(tls_run: dict[str, Any]) -> None:
    report = ended_well(tls_run["run"])
    assert tls_run["proxied"] >= USERS, "the run went through the TLS proxy"
    assert sum(report["run"]["users"].values()) == USERS, report["run"]["users"]
    connections = report["connections"]
    assert connections["succeeded"] == connections["attempted"] >= USERS, connections
    assert nonzero_faults(report) == {}, table(report)
    for event in EVENTS:
        assert report["events"][event]["delivered"] > 0, f"{event}\n{table(report)}"
    health = report["generator"]["processes"][0]
    readers = health["websocket_readers"]
    assert readers["loop"] == 0 and readers["greenlet"] == connections["succeeded"], readers
    # The kernel cannot stamp TLS records for the application: every event's stamp is its
    # reading's, and the report says so.
    assert health["arrival_stamps"]["kernel"] == 0 and health["arrival_stamps"]["read"] > 0, health
