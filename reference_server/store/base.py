"""The storage interface the domain code is written against, and the errors it may see.

Two implementations exist (embedded mongomock-motor, real MongoDB); the domain code must
only use what is declared here so that either can be plugged in by `open_store`.

What a new backend must provide (`Store`):

* `orders` and `users`: two `Collection`s, the six calls of PyMongo's async collection the
  repositories make (`insert_one`, `find_one`, `find` with `sort`/`skip`/`limit`/`to_list`,
  `count_documents`, `find_one_and_update` with `$set`, `$inc` and `$push`, `create_index`),
  with MongoDB's semantics: `find_one_and_update` is atomic on one document, and answers
  the document after the update with `return_document=ReturnDocument.AFTER`.
* `watch_orders(resume_after)`: a `ChangeStream` of MongoDB change-event documents for every
  insert and update of `orders` (`operationType`, `documentKey`, `fullDocument` on inserts,
  `updateDescription.updatedFields` on updates, `_id` the resume token), in commit order,
  resumable from any token it handed out, or raising `ChangeStreamHistoryLost`.
* `ping()` (raise if unusable, `ChangeStreamsUnsupported` if it cannot stream changes) and
  `close()`.

Then register it by URL scheme in `store/__init__.py` (`BACKENDS`).
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from pymongo.errors import OperationFailure

#: MongoDB's error code for "the oplog no longer holds the resume point".
CHANGE_STREAM_HISTORY_LOST = 286


class ChangeStreamHistoryLost(OperationFailure):
    """The resume token points before the retained history: changes after it are gone.

    Raised by both stores (the real one converts MongoDB's code 286 into it), so callers
    can catch one type. Recovery: resync from the collection, then open a fresh stream.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message, code=CHANGE_STREAM_HISTORY_LOST)


class ChangeStreamsUnsupported(RuntimeError):
    """The MongoDB deployment cannot serve change streams (a standalone server)."""


@runtime_checkable
class ChangeStream(Protocol):
    """Async iterator of MongoDB change-event documents, plus the token to resume after."""

    @property
    def resume_token(self) -> dict[str, Any] | None:
        """Where a new stream should resume to miss nothing: the `_id` of the last change handed
        out (before the first change: the stream's start position when known, else None)."""

    async def ready(self) -> None:
        """Return once the stream is open: every change from then on will be seen."""

    def __aiter__(self) -> ChangeStream: ...

    async def __anext__(self) -> dict[str, Any]: ...

    async def close(self) -> None: ...


class Cursor(Protocol):
    """What `Collection.find` answers: chained `sort`, `skip` and `limit`, then `to_list`."""

    def sort(self, keys: list[tuple[str, int]], /) -> Cursor: ...

    def skip(self, count: int, /) -> Cursor: ...

    def limit(self, count: int, /) -> Cursor: ...

    async def to_list(self, length: int | None, /) -> list[dict[str, Any]]: ...


class Collection(Protocol):
    """The calls of PyMongo's async collection the repositories make, and no others."""

    async def insert_one(self, document: dict[str, Any], /) -> Any: ...

    async def find_one(self, query: dict[str, Any], /) -> dict[str, Any] | None: ...

    def find(self, query: dict[str, Any], projection: dict[str, Any] | None = None, /) -> Cursor: ...

    async def count_documents(self, query: dict[str, Any], /) -> int: ...

    async def find_one_and_update(self, query: dict[str, Any], update: dict[str, Any], /, *,
                                  return_document: bool = ...) -> dict[str, Any] | None: ...

    async def create_index(self, keys: list[tuple[str, int]], /, *, unique: bool = ...) -> str: ...


@runtime_checkable
class Store(Protocol):
    """Two async collections and a change feed of `orders` (what a backend provides: above)."""

    @property
    def orders(self) -> Collection: ...

    @property
    def users(self) -> Collection: ...

    def watch_orders(self, resume_after: dict[str, Any] | None = None) -> ChangeStream: ...

    async def ping(self) -> None:
        """Raise if the store is unusable."""

    async def close(self) -> None: ...
