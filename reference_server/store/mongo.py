"""The real-MongoDB store: PyMongo's native async client (Motor is deprecated upstream).

Change streams need a replica set (or a sharded cluster): a standalone `mongod` refuses
`watch()`. For local work run a one-node replica set and name it in the URL:

    mongod --replSet rs0 --dbpath /tmp/rs0 &&  mongosh --eval 'rs.initiate()'
    mongodb://localhost:27017/?replicaSet=rs0

`ping()` (the server's startup check) fails with `ChangeStreamsUnsupported` on a standalone
server, and so does the first open of `watch_orders()`.

Documents come back with timezone-aware UTC datetimes (`tz_aware=True`), like EmbeddedStore.
"""

from __future__ import annotations

import weakref
from typing import Any

from pymongo import AsyncMongoClient

from .base import ChangeStreamsUnsupported
from .resuming_stream import ResumingChangeStream

#: The order feed's server-side filter: deletes are not streamed (EmbeddedStore does stream them).
ORDERS_PIPELINE: list[dict[str, Any]] = [
    {"$match": {"operationType": {"$in": ["insert", "update", "replace"]}}},
]


class MongoStore:
    """`Store` on a MongoDB replica set; `watch_orders` is a self-resuming change stream."""

    def __init__(self, mongo_url: str, db_name: str = "orders_app", *, client: Any = None,
                 backoff_initial: float = 0.5, backoff_max: float = 30.0) -> None:
        self.client = client if client is not None else AsyncMongoClient(mongo_url, tz_aware=True)
        self.db = self.client[db_name]
        self.orders = self.db["orders"]
        self.users = self.db["users"]
        self._backoff = (backoff_initial, backoff_max)
        self._streams: weakref.WeakSet[ResumingChangeStream] = weakref.WeakSet()
        self._supports_change_streams = False

    def watch_orders(self, resume_after: dict[str, Any] | None = None) -> ResumingChangeStream:
        """Inserts, updates (with the post-image looked up) and replacements of orders.

        The server-side stream opens in a task started here; `await stream.ready()` waits
        for it, after which no change is missed. Without a running loop it opens on first use.
        """
        stream = ResumingChangeStream(
            self.orders, ORDERS_PIPELINE, resume_after=resume_after, full_document="updateLookup",
            before_open=self.check_change_streams,
            backoff_initial=self._backoff[0], backoff_max=self._backoff[1])
        self._streams.add(stream)
        stream.start_soon()
        return stream

    async def ping(self) -> None:
        """Round-trip to the server, and fail clearly if it cannot serve change streams."""
        await self.db.command("ping")
        await self.check_change_streams()

    async def check_change_streams(self) -> None:
        """Raise ChangeStreamsUnsupported unless the deployment is a replica set or mongos."""
        if self._supports_change_streams:
            return
        hello = await self.db.command("hello")
        if not hello.get("setName") and hello.get("msg") != "isdbgrid":
            raise ChangeStreamsUnsupported(
                "MongoDB is a standalone server: change streams (the order feed) need a replica set. "
                "Start mongod with --replSet rs0, run rs.initiate() once, and connect with "
                "mongodb://localhost:27017/?replicaSet=rs0")
        self._supports_change_streams = True

    async def close(self) -> None:
        for stream in list(self._streams):
            await stream.close()
        await self.client.close()
