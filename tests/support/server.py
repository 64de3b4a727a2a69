"""Run the real reference server on loopback in a thread of its own, for tests.

Its own thread and event loop keep it independent of the test's loop (pytest-asyncio gives
each test a new one), and let sync tests (hypothesis) drive it too. `call` runs a
coroutine on the server's loop: that is how tests write straight to its collection.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import replace
from typing import Any, Awaitable, Callable, TypeVar

from reference_server import ReferenceServer, ServerConfig
from reference_server.faults import parse_faults

T = TypeVar("T")
TEST_SECRET = "test-secret-for-loopback-only-0123456789"


def test_config(*faults: str, **overrides: Any) -> ServerConfig:
    base = ServerConfig(jwt_secret=TEST_SECRET, host="127.0.0.1", port=0, password_cost=4,
                        log_level="WARNING", faults=parse_faults(list(faults)))
    return replace(base, **overrides)


class ServerThread:
    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self.loop = asyncio.new_event_loop()
        self.server: ReferenceServer | None = None
        self._thread = threading.Thread(target=self.loop.run_forever, name="reference-server",
                                        daemon=True)

    def start(self) -> "ServerThread":
        self._thread.start()
        self.server = ReferenceServer(self.config)
        self.call(self.server.start)
        return self

    @property
    def url(self) -> str:
        assert self.server is not None
        return self.server.url

    def call(self, fn: Callable[[], Awaitable[T]], timeout: float = 30.0) -> T:
        """Run `fn()` on the server's loop and return its result."""
        async def run() -> T:
            return await fn()
        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(timeout)

    def stop(self) -> None:
        if self.server is not None:
            self.call(self.server.stop)
            self.server = None

        async def cancel_leftovers() -> None:  # e.g. Engine.IO's per-socket ping tasks
            me = asyncio.current_task()
            tasks = [t for t in asyncio.all_tasks() if t is not me]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        self.call(cancel_leftovers)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()

    def __enter__(self) -> "ServerThread":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
