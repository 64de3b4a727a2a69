"""One simulated user's socket, written into the run's books: its presence in its rooms
(from each connect to its disconnect), every event it receives, its connect time and its
failed connects.

A user's main socket and the socket a guest opens after checkout are both one of these; what
a user does on top (reconnection bookkeeping, reactions to events) comes in through hooks.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import gevent
import socketio

from ..errors import ConnectRefused
from ..ledger import SocketLedger
from ..ledger.reader import EventFacts
from . import arrival
from .context import CONNECT, RunContext
from .options import transports_for

#: How long stopping a socket may take. python-socketio's `shutdown()` joins the client's
#: read loop or its reconnection task, which a half-open connection can hold for a long
#: time; a user that cannot stop keeps Locust from ending the run at all.
SOCKET_CLOSE_TIMEOUT_S = 3.0
CONNECT_WAIT_S = 10



def client_options(ctx: RunContext) -> dict[str, Any]:
    """Keyword arguments for every python-socketio client of a run.

    * The harness is no browser, so it presents no `Origin` (websocket-client would send the
      target's own, which a server with a CORS allow-list for its web front-end refuses);
      polling sends none.
    * Its websockets take what the server sends into a large receive buffer, stamped by the
      kernel on arrival (arrival.py): when the generator is slow to read, frames still land
      in this machine at once, with their true arrival time, instead of filling a small
      window and holding the server back (which would move the arrival itself).
    * websocket-client checks every text frame's UTF-8 in pure Python (a large share of a
      store owner's CPU, whose socket carries every order); the JSON decoder that follows
      rejects bad text anyway.
    """
    return {"logger": False, "engineio_logger": False, "ssl_verify": ctx.options.verify_tls,
            "websocket_extra_options": {"suppress_origin": True, "skip_utf8_validation": True,
                                        "sockopt": arrival.SOCKET_OPTIONS}}


def close_socket(sio: socketio.Client) -> None:
    """Disconnect, or end the reconnection attempts, within SOCKET_CLOSE_TIMEOUT_S."""
    with gevent.Timeout(SOCKET_CLOSE_TIMEOUT_S, False):
        sio.shutdown()


class RecordedSocket:
    def __init__(self, ctx: RunContext, ledger: SocketLedger, sio: socketio.Client,
                 rooms: Callable[[], tuple[str, ...]], *,
                 on_connect: Callable[[], None] | None = None,
                 on_disconnect: Callable[[Any], None] | None = None,
                 on_event: Callable[[str, EventFacts | None], None] | None = None) -> None:
        self.ctx = ctx
        self.ledger = ledger
        self.sio = sio
        self._rooms = rooms
        self._on_connect = on_connect
        self._on_disconnect = on_disconnect
        self._on_event = on_event
        self._since_ms: float | None = None
        sio.on("connect", self._connected)
        sio.on("disconnect", self.disconnected)
        sio.on("*", self._any)

    def _connected(self) -> None:
        if getattr(self.sio.eio, "state", "connected") != "connected":
            return  # the CONNECT of an attempt the client already gave up: no connection is up
        self._since_ms = self.ctx.now_ms()
        self.ctx.connected(self.ledger, self._rooms(), self._since_ms)
        if self._on_connect is not None:
            self._on_connect()

    def disconnected(self, reason: Any = None) -> None:
        """The socket left its rooms: python-socketio's disconnect, or a cut the harness made
        (which the client notices only later; the books count from the cut)."""
        if self._since_ms is not None:
            self.ctx.disconnected(self.ledger, self._rooms(), self._since_ms)
            self._since_ms = None
        if self._on_disconnect is not None:
            self._on_disconnect(reason)

    def _any(self, event: str, data: Any = None) -> None:
        facts = self.ctx.received(self.ledger, event, data)
        if self._on_event is not None:
            self._on_event(event, facts)

    def connect(self, url: str, auth: Any, headers: dict[str, str] | None = None) -> None:
        """Connect with the run's transport and path; the time it took is a `connect` figure.
        A failure is counted, under the server's own refusal message when it gave one, shows
        as a failure in Locust's statistics, and is raised as ConnectRefused."""
        opts = self.ctx.options
        started = time.monotonic()
        self.sio.refusal = None  # CuttableClient: the server's refusal of this connect, if any
        try:
            self.sio.connect(url, auth=auth, headers=headers or {}, transports=transports_for(opts.transport),
                             socketio_path=opts.socketio_path, wait_timeout=CONNECT_WAIT_S)
        except socketio.exceptions.ConnectionError as exc:
            ms = (time.monotonic() - started) * 1000.0
            self.ctx.book.record(CONNECT, ms, time.time())
            refusal = getattr(self.sio, "refusal", None)
            reason = (f"refused by the server: {refusal}" if refusal
                      else str(exc) or "connection error")
            self.ctx.connect_failed(reason, ms)
            raise ConnectRefused(reason) from exc
        self.ctx.figure(CONNECT, (time.monotonic() - started) * 1000.0, "connect")

    def close(self) -> None:
        close_socket(self.sio)
