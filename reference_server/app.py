"""Assemble the server: store, change feed, Socket.IO and HTTP on one aiohttp application.

`ReferenceServer` is what `__main__` runs and what tests start in-process on loopback.
"""

from __future__ import annotations

import json
import logging
import socket
from typing import Any

from aiohttp import web

from harness.contract import MAX_SOCKET_MESSAGE_BYTES, SOCKETIO_PATH

from .broadcast import Broadcaster
from .config import ServerConfig
from .feed import ChangeFeedConsumer
from .http_api import HttpApi
from .middleware import cors_middleware, error_middleware, slow_change_middleware
from .repository import OrderRepository, UserRepository
from .security import PasswordHasher, TokenService
from .sockets import SocketHandlers
from .store import Store, open_store
from .strict_socketio import StrictAsyncServer

log = logging.getLogger("reference_server")


def _packet_int(digits: str) -> int | float:
    return int(digits) if len(digits) <= 100 else float(digits)


class _PacketJson:
    """JSON for Socket.IO packets. python-engineio's default drops a whole packet holding an
    integer of over 100 digits (no ack, no close: contract section 7 allows neither); read
    such integers as floats, as a JavaScript server does. python-socketio installs this for
    the whole process (a class attribute); only such integers decode differently."""

    dumps = staticmethod(json.dumps)

    @staticmethod
    def loads(text: str | bytes, **kwargs: Any) -> Any:
        return json.loads(text, parse_int=_packet_int, **kwargs)


class ReferenceServer:
    """One server process: `await start()`, then `url`; `await stop()` releases everything."""

    def __init__(self, config: ServerConfig, store: Store | None = None) -> None:
        self.config = config
        self.store: Store = store or open_store(config.store_url)
        self.sio = StrictAsyncServer(
            async_mode="aiohttp",
            # None: same origin only (engine.io's default); an empty list would disable the check.
            cors_allowed_origins=list(config.cors_origins) or None,
            max_http_buffer_size=MAX_SOCKET_MESSAGE_BYTES,
            ping_interval=config.ping_interval_s,
            ping_timeout=config.ping_timeout_s,
            logger=False,
            engineio_logger=False,
            json=_PacketJson,
        )
        tokens = TokenService(config.jwt_secret)
        self.orders = OrderRepository(self.store)
        self.users = UserRepository(self.store)
        self.sockets = SocketHandlers(self.sio, tokens=tokens, orders=self.orders, faults=config.faults)
        self.feed = ChangeFeedConsumer(self.store, Broadcaster(self.sio, config.faults))
        api = HttpApi(tokens=tokens, passwords=PasswordHasher(config.password_cost),
                      users=self.users, orders=self.orders, faults=config.faults)
        # The body limit of the API (64 KiB) is enforced by the handlers; this one bounds
        # Engine.IO's polling POSTs, which may carry a 1,000,000-byte message.
        middlewares = [cors_middleware(config.cors_origins), error_middleware]
        if config.faults.slow_request_ms or config.faults.slow_answer_ms:
            middlewares.append(slow_change_middleware(config.faults))
        self.app = web.Application(
            # CORS outermost: its headers go on every answer, the JSON error shape included.
            middlewares=middlewares,
            client_max_size=MAX_SOCKET_MESSAGE_BYTES + 64 * 1024,
        )
        self.app.add_routes(api.routes())
        self.sio.attach(self.app, socketio_path=SOCKETIO_PATH.strip("/"))
        self._runner: web.AppRunner | None = None
        self.host = config.host
        self.port = config.port

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    async def start(self) -> None:
        if self.config.faults.any:
            log.warning("FAULT INJECTION ON: %s. This server breaks the contract on purpose.",
                        ", ".join(self.config.faults.describe()))
        await self.store.ping()
        await self.users.setup()
        await self.orders.setup()
        await self.feed.start()
        self._runner = web.AppRunner(self.app, handle_signals=False, access_log=None,
                                     shutdown_timeout=1.0)
        await self._runner.setup()
        sock = _bind(self.config.host, self.config.port)
        site = web.SockSite(self._runner, sock)
        await site.start()
        self.port = sock.getsockname()[1]

    async def stop(self) -> None:
        await self.feed.stop()
        if self._runner is not None:
            await self.sio.shutdown()  # disconnects every client, ends Engine.IO's tasks
            await self._runner.cleanup()
            self._runner = None
        await self.store.close()

    async def __aenter__(self) -> ReferenceServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.stop()


def _bind(host: str, port: int) -> socket.socket:
    """Bind first, so a port in use is one clear OSError before anything is served."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.listen(1024)
    sock.setblocking(False)
    return sock
