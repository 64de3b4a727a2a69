"""The collection object the domain code gets from `EmbeddedStore` (`store.orders`, `store.users`).

It is mongomock-motor's collection, whose mongomock Collection underneath has been given
flat-cost lookups (`fast_lookup`) and, for `orders`, change capture (`change_capture`) —
so every write through it, by the HTTP handlers, a test or a script, is published. The
proxy itself only adds what mongomock-motor lacks of the PyMongo-async API:
`cursor.to_list(length)` honouring `length`, and a `bulk_write` that accepts PyMongo 4.9+
operations (they pass `sort=` to the bulk builder, which mongomock's does not take).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

from .change_feed import ChangeFeed

#: Cursor methods that configure the query and return the cursor (PyMongo's chaining API).
_CHAINING = ("add_option", "allow_disk_use", "batch_size", "collation", "comment", "hint", "limit",
             "max_await_time_ms", "max_scan", "max_time_ms", "max", "min", "remove_option", "skip",
             "sort", "where")


class Cursor:
    """mongomock-motor's cursor with PyMongo's `to_list(length)` semantics."""

    def __init__(self, cursor: Any) -> None:
        self._cursor = cursor

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._cursor, name)
        if name in _CHAINING and callable(attr):
            return self._chain(attr)
        return attr

    def _chain(self, method: Callable[..., Any]) -> Callable[..., Cursor]:
        def chained(*args: Any, **kwargs: Any) -> Cursor:
            method(*args, **kwargs)
            return self

        return chained

    def __aiter__(self) -> Cursor:
        return self

    async def __anext__(self) -> Any:
        return await self._cursor.next()

    next = __anext__

    def clone(self) -> Cursor:
        return Cursor(self._cursor.clone())

    async def to_list(self, length: int | None = None) -> list[Any]:
        """At most `length` documents (all that remain if None), as PyMongo's cursor."""
        if length is None:
            return cast(list[Any], await self._cursor.to_list())
        if length < 1:
            raise ValueError("to_list() length must be greater than 0")
        out: list[Any] = []
        while len(out) < length:
            try:
                out.append(await self._cursor.next())
            except StopAsyncIteration:
                break
        return out


class _BulkBuilderAdapter:
    """mongomock's bulk builder seen through PyMongo 4.9+'s `_add_to_bulk` calls."""

    def __init__(self, bulk: Any) -> None:
        self._bulk = bulk

    def __getattr__(self, name: str) -> Any:
        return getattr(self._bulk, name)

    def add_update(self, *args: Any, sort: Any = None, **kwargs: Any) -> None:
        if sort:
            raise NotImplementedError("UpdateOne(sort=...) is not supported by the embedded store")
        self._bulk.add_update(*args, **kwargs)

    def add_replace(self, *args: Any, sort: Any = None, **kwargs: Any) -> None:
        if sort:
            raise NotImplementedError("ReplaceOne(sort=...) is not supported by the embedded store")
        self._bulk.add_replace(*args, **kwargs)


class _CompatibleOperation:
    def __init__(self, operation: Any) -> None:
        self._operation = operation

    def _add_to_bulk(self, bulk: Any) -> None:
        self._operation._add_to_bulk(_BulkBuilderAdapter(bulk))


class WatchedCollection:
    """Motor-style async collection; writes to a watched one are published to `feed`."""

    def __init__(self, collection: Any, feed: ChangeFeed | None = None) -> None:
        self._collection = collection
        self.feed = feed

    def __getattr__(self, name: str) -> Any:
        return getattr(self._collection, name)

    def __repr__(self) -> str:
        watched = "watched" if self.feed is not None else "unwatched"
        return f"<WatchedCollection {self._collection.full_name} ({watched})>"

    def find(self, *args: Any, **kwargs: Any) -> Cursor:
        return Cursor(self._collection.find(*args, **kwargs))

    async def bulk_write(self, requests: Any, *args: Any, **kwargs: Any) -> Any:
        return await self._collection.bulk_write([_CompatibleOperation(r) for r in requests],
                                                 *args, **kwargs)
