"""Storage layer of the reference server: the `Store` interface and its two implementations.

`open_store(None)` gives the in-process EmbeddedStore (mongomock-motor with its own change
feed); `open_store(url)` gives MongoStore (PyMongo async client, real change streams, which
need a replica set).
"""

from __future__ import annotations

from .base import ChangeStream, ChangeStreamHistoryLost, ChangeStreamsUnsupported, Store
from .embedded import EmbeddedStore
from .mongo import MongoStore


def open_store(mongo_url: str | None, db_name: str = "orders_app") -> Store:
    """EmbeddedStore when no URL is given, else MongoStore on that URL."""
    if mongo_url is None:
        return EmbeddedStore(db_name)
    return MongoStore(mongo_url, db_name)


__all__ = ["ChangeStream", "ChangeStreamHistoryLost", "ChangeStreamsUnsupported", "EmbeddedStore",
           "MongoStore", "Store", "open_store"]
