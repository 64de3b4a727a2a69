"""Storage layer of the reference server: the `Store` interface and its backends, chosen by
the store URL's scheme (`--store`):

* `memory://` (the default): EmbeddedStore, mongomock-motor in this process with its own
  change feed; nothing to install or run.
* `mongodb://` and `mongodb+srv://`: MongoStore, PyMongo's async client on a replica set
  (real change streams).

A new backend provides what `base.py` lists and takes its place in `BACKENDS`.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlsplit

from .base import ChangeStream, ChangeStreamHistoryLost, ChangeStreamsUnsupported, Collection, Cursor, Store
from .embedded import EmbeddedStore
from .mongo import MongoStore

MEMORY_URL = "memory://"

#: Each backend by its URL scheme: (url, database name) -> Store.
BACKENDS: dict[str, Callable[[str, str], Store]] = {
    "memory": lambda url, db_name: EmbeddedStore(db_name),
    "mongodb": MongoStore,
    "mongodb+srv": MongoStore,
}


def backend_of(url: str) -> Callable[[str, str], Store]:
    """The backend for `url`'s scheme; ValueError naming the schemes there are."""
    scheme = urlsplit(url).scheme.lower()
    backend = BACKENDS.get(scheme)
    if backend is None:
        known = ", ".join(f"{name}://" for name in BACKENDS)
        raise ValueError(f"no store for {url!r}: the URL's scheme picks one of {known}")
    return backend


def open_store(url: str | None = None, db_name: str = "orders_app") -> Store:
    """The store at `url` (None: the embedded one)."""
    url = url or MEMORY_URL
    return backend_of(url)(url, db_name)


__all__ = [
    "BACKENDS",
    "MEMORY_URL",
    "ChangeStream",
    "ChangeStreamHistoryLost",
    "ChangeStreamsUnsupported",
    "Collection",
    "Cursor",
    "EmbeddedStore",
    "MongoStore",
    "Store",
    "backend_of",
    "open_store",
]
