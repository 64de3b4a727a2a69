"""The storage interface the domain code is written against, and the errors it may see.

Two implementations exist (embedded mongomock-motor, real MongoDB); the domain code must
only use what is declared here so that either can be plugged in by `open_store`.
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

    #: Where a new stream should resume to miss nothing: the `_id` of the last change handed
    #: out (before the first change: the stream's start position when known, else None).
    resume_token: dict[str, Any] | None

    async def ready(self) -> None:
        """Return once the stream is open: every change from then on will be seen."""

    def __aiter__(self) -> ChangeStream: ...

    async def __anext__(self) -> dict[str, Any]: ...

    async def close(self) -> None: ...


@runtime_checkable
class Store(Protocol):
    """Two async collections (Motor/PyMongo-async API) and a change feed of `orders`."""

    orders: Any
    users: Any

    def watch_orders(self, resume_after: dict[str, Any] | None = None) -> ChangeStream: ...

    async def ping(self) -> None:
        """Raise if the store is unusable."""

    async def close(self) -> None: ...
