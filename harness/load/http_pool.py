"""One HTTP connection pool per Locust process, shared by its users (Locust's documented
`FastHttpUser.client_pool` seam).

A pool per user, Locust's default, keeps each user's last connection open once its call is
answered. A held user calls rarely (a customer checks out, then waits for its order's
events), so the server closes that idle connection (Node.js after 5 s), and the socket then
sits in CLOSE_WAIT until the user calls again: measured, 180 such sockets in a 3,000-user
hold after 40 s, one more for every user that has called once. At 19,000 users the
process ran out of open files (the limit here is 20,000), users could not connect, and the
harness's own files could not be opened. Shared, a process holds as many HTTP connections
as it had requests in flight at once, however many users it runs, and reuses warm ones: no
TCP (or TLS) handshake per user at the ramp either. Cookies stay per user (each user's
session keeps its own jar).
"""

from __future__ import annotations

from typing import Any

import gevent.ssl
from geventhttpclient.client import HTTPClientPool
from locust.contrib.fasthttp import insecure_ssl_context_factory

from .open_files import HTTP_CONNECTIONS_MAX

#: Connections are opened as requests need them and reused once answered, so a process
#: holds as many as it ever had requests in flight at once: 21 in a 60-user run whose users
#: all registered within 3 s (the server hashing passwords), against 60 or more, one a
#: user, before. Past this many in flight at once, a request waits for a connection and the
#: wait counts in its time (and in the latency of the events it causes): 1,024 is 5 s
#: answers at 200 requests a second. Not unbounded: geventhttpclient retries a request
#: that met a closed connection once per connection the pool may hold, plus one.
CONNECTIONS = HTTP_CONNECTIONS_MAX
#: Locust's FastHttpUser defaults.
TIMEOUT_S = 60.0

_POOLS: dict[bool, HTTPClientPool] = {}


def shared(verify_tls: bool) -> Any:
    """The process's pool, verifying the target's certificate or not (`--insecure`)."""
    pool = _POOLS.get(verify_tls)
    if pool is None:
        pool = _POOLS[verify_tls] = HTTPClientPool(
            concurrency=CONNECTIONS, insecure=not verify_tls,
            ssl_context_factory=(gevent.ssl.create_default_context if verify_tls
                                 else insecure_ssl_context_factory),
            connection_timeout=TIMEOUT_S, network_timeout=TIMEOUT_S)
    return pool
