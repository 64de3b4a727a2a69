"""One name lookup per target host, not one per connection (issue 11).

A load generator connects thousands of times to the same host. gevent resolves every
`getaddrinfo` in a pool of ten native threads, each answer handed back through the
interpreter lock: while a ramp kept the generator busy, 539 of 2,000 users were still
waiting in that pool for "127.0.0.1" fifteen seconds after the last one was spawned, each a
suspended greenlet, and the ramp took that much longer. Real DNS adds a round trip to the
team's resolver per connection, for the same answer.

`CachingResolver` stands in front of gevent's resolver (the hub's documented `resolver`
seam): an answer is kept for `ttl_s`, and while a name is being looked up, every other
caller of the same name waits for that one lookup instead of starting its own. Failures are
not kept: the next caller asks again.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import gevent
import gevent.event

#: How long an answer is used: long enough that a ramp resolves its target once, short
#: enough that a staging host whose address moves (a redeploy behind DNS) is followed.
TTL_S = 30.0


class CachingResolver:
    """gevent's resolver, with `getaddrinfo` answers kept for `ttl_s` and lookups shared."""

    def __init__(self, inner: Any, ttl_s: float = TTL_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._inner = inner
        self._ttl_s = ttl_s
        self._clock = clock
        self._answers: dict[tuple[Any, ...], tuple[float, Any]] = {}
        self._pending: dict[tuple[Any, ...], gevent.event.AsyncResult] = {}
        #: Lookups that reached the wrapped resolver (the rest were answered from here).
        self.lookups = 0

    def getaddrinfo(self, host: Any, port: Any, family: int = 0, type: int = 0,
                    proto: int = 0, flags: int = 0) -> Any:
        key = (host, port, family, type, proto, flags)
        kept = self._answers.get(key)
        if kept is not None and kept[0] > self._clock():
            return kept[1]
        pending = self._pending.get(key)
        if pending is not None:
            return pending.get()  # raises the lookup's error too
        pending = self._pending[key] = gevent.event.AsyncResult()
        try:
            self.lookups += 1
            answer = self._inner.getaddrinfo(host, port, family, type, proto, flags)
        except BaseException as exc:
            pending.set_exception(exc)
            raise
        else:
            self._answers[key] = (self._clock() + self._ttl_s, answer)
            pending.set(answer)
            return answer
        finally:
            del self._pending[key]

    def __getattr__(self, name: str) -> Any:
        """Everything else (gethostbyname, reverse lookups, close) is the wrapped resolver's."""
        return getattr(self._inner, name)


def install(ttl_s: float = TTL_S) -> CachingResolver:
    """Put a `CachingResolver` in front of this thread's hub's resolver (once)."""
    hub = gevent.get_hub()
    current = hub.resolver
    if isinstance(current, CachingResolver):
        return current
    hub.resolver = resolver = CachingResolver(current, ttl_s)
    return resolver
