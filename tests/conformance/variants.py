"""The reference server in process, bent to answer where the contract is silent as another
careful implementation might (or wrongly, to prove a check still fails), for the tests of
what the conformance checks accept.

A variant is the real server with one hook applied before it starts: an innermost HTTP
middleware that rewrites an `ApiError` or a response, a replaced Socket.IO handler, a wrapped
emit, or an Engine.IO setting. The harness is never touched: it talks to the variant on
loopback as to any server.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Awaitable, Callable, Iterator

from aiohttp import web

from harness.conformance import Check, TargetConfig, run_checks
from harness.conformance.model import Outcome
from harness.conformance.registry import all_checks
from reference_server import ReferenceServer
from reference_server.errors import ApiError
from tests.support.server import ServerThread, test_config

Prepare = Callable[[ReferenceServer], None]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class VariantServer(ServerThread):
    """A `ServerThread` whose server gets `prepare(server)` before it starts."""

    def __init__(self, prepare: Prepare, *faults: str) -> None:
        super().__init__(test_config(*faults))
        self.prepare = prepare

    def start(self) -> "VariantServer":
        self._thread.start()
        self.server = ReferenceServer(self.config)
        self.prepare(self.server)
        self.call(self.server.start)
        return self


@contextmanager
def variant(prepare: Prepare, *faults: str) -> Iterator[VariantServer]:
    with VariantServer(prepare, *faults) as running:
        yield running


def on_api_error(rewrite: Callable[[ReferenceServer, web.Request, ApiError],
                                   Awaitable[ApiError | None]]) -> Prepare:
    """A variant whose handlers' errors pass through `rewrite` (None: unchanged)."""

    def prepare(server: ReferenceServer) -> None:
        @web.middleware
        async def bend(request: web.Request, handler: Handler) -> web.StreamResponse:
            try:
                return await handler(request)
            except ApiError as exc:
                raise (await rewrite(server, request, exc)) or exc

        server.app.middlewares.append(bend)  # innermost: it sees the handler's ApiError

    return prepare


def check(check_id: str) -> Check:
    return next(c for c in all_checks() if c.id == check_id)


async def outcome(url: str, check_id: str, **config: Any) -> Outcome:
    """One check's outcome against `url`, run as the CLI runs it (short quiet windows)."""
    config = TargetConfig(**{"url": url, "quiet_s": 0.3, "max_rps": 1000, **config})
    [done] = await run_checks(config, [check(check_id)])
    return done


__all__ = ["VariantServer", "variant", "on_api_error", "check", "outcome", "ApiError"]
