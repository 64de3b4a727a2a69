"""The zero-setup default store: mongomock-motor in process, with a change feed of `orders`.

mongomock has no `watch()`; the `orders` collection gets a feed of its own that sees every
write made through `store.orders` (see `change_capture`, `change_feed`), and both collections
get flat-cost `_id` and indexed-field lookups (see `indexed_store`, `fast_lookup`) and
sorted+limited finds that do not sort and copy the whole result (see `top_k`).

Datetimes come back timezone-aware (UTC), as from `MongoStore`, which uses `tz_aware=True`.
Single event loop, no threads: mongomock-motor runs each call synchronously on the loop.
"""

from __future__ import annotations

from typing import Any, cast

import mongomock
from mongomock.collection import Collection as MockCollection
from mongomock.database import Database as MockDatabase
from mongomock_motor import AsyncMongoMockClient, AsyncMongoMockCollection
from pymongo.errors import InvalidOperation

from .change_capture import capture_changes
from .change_feed import DEFAULT_HISTORY, ChangeFeed, EmbeddedChangeStream
from .fast_lookup import enable_fast_lookup
from .indexed_store import IndexedCollectionStore, install_indexed_store
from .top_k import enable_top_k
from .watched import WatchedCollection


class EmbeddedStore:
    """`Store` on mongomock-motor; `watch_orders` streams from an in-process change feed."""

    def __init__(self, db_name: str = "orders_app", *, history_size: int = DEFAULT_HISTORY,
                 tz_aware: bool = True) -> None:
        self.db_name = db_name
        # mongomock's and mongomock-motor's stubs present their classes as PyMongo's and Motor's;
        # the objects are mongomock's own (hence the casts to its classes below).
        self._sync_client: mongomock.MongoClient[dict[str, Any]] = mongomock.MongoClient(tz_aware=tz_aware)
        self.client: AsyncMongoMockClient[dict[str, Any]] = AsyncMongoMockClient(mock_mongo_client=self._sync_client)
        self._db = self.client[db_name]
        self._closed = False
        orders_store = self._prepare("orders")
        self._orders_feed = ChangeFeed(db_name, "orders", orders_store.get_document,
                                       history_size=history_size, tz_aware=tz_aware)
        self.orders = self._open("orders", self._orders_feed)
        self.users = self._open("users", None)

    def _prepare(self, name: str) -> IndexedCollectionStore:
        database = cast(MockDatabase, self._sync_client[self.db_name])  # typed as PyMongo's by the stubs
        return install_indexed_store(database._store, name)

    def _open(self, name: str, feed: ChangeFeed | None) -> WatchedCollection:
        self._prepare(name)
        raw = cast(MockCollection, self._sync_client[self.db_name].get_collection(name))  # as above
        # Wraps `raw` and applies mongomock-motor's patches (what its stubs declare is Motor's constructor).
        collection: Any = AsyncMongoMockCollection(self._db, raw)  # type: ignore[arg-type]  # stubs: Motor's signature
        enable_fast_lookup(raw)
        enable_top_k(raw)
        if feed is not None:
            capture_changes(raw, feed)
        return WatchedCollection(collection, feed)

    def watch_orders(self, resume_after: dict[str, Any] | None = None) -> EmbeddedChangeStream:
        """Every change to `orders` from now on (or after `resume_after`, replayed first).

        Raises ChangeStreamHistoryLost if `resume_after` is older than the kept history.
        """
        return self._orders_feed.watch(resume_after)

    async def ping(self) -> None:
        if self._closed:
            raise InvalidOperation("the embedded store is closed")
        await self._db.command("ping")

    async def close(self) -> None:
        """End every open change stream; the data stays readable until dropped."""
        self._closed = True
        self._orders_feed.close()
