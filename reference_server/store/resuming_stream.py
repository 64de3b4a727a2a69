"""A MongoDB change stream that outlives connection loss without losing a change.

PyMongo's own change stream retries a resumable error once, then gives up. A server that
must push every order change needs more: this wrapper keeps the position to resume after
(PyMongo's `resume_token`: the last change's `_id`, or a newer postBatchResumeToken) and,
on a resumable error, reopens with `resume_after=<position>` after a capped exponential
backoff, logging each attempt. Errors MongoDB calls non-resumable (history lost, fatal,
auth, bad pipeline...) are raised; history loss as `ChangeStreamHistoryLost`.

Resumable, as in PyMongo (`change_stream_shared._resumable`) and the change-streams spec:
ConnectionFailure (network errors, timeouts, no server selectable), CursorNotFound, and an
OperationFailure labelled `ResumableChangeStreamError`; also `RetryableReadError` (reopening
runs an aggregate, which the server labels so while a primary steps down).
"""

from __future__ import annotations

import asyncio
import copy
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from pymongo.errors import ConnectionFailure, CursorNotFound, OperationFailure, PyMongoError

from .base import CHANGE_STREAM_HISTORY_LOST, ChangeStreamHistoryLost

log = logging.getLogger(__name__)

_RESUMABLE_LABELS = ("ResumableChangeStreamError", "RetryableReadError")


def is_resumable(exc: BaseException) -> bool:
    """May a change stream that failed with `exc` be reopened from its resume token?"""
    if isinstance(exc, (ConnectionFailure, CursorNotFound)):
        return True
    if isinstance(exc, OperationFailure):
        if exc.code == CHANGE_STREAM_HISTORY_LOST:
            return False
        return any(exc.has_error_label(label) for label in _RESUMABLE_LABELS)
    return False


class ResumingChangeStream:
    """Async iterator over `collection.watch(...)` that resumes across resumable errors."""

    def __init__(self, collection: Any, pipeline: Sequence[dict[str, Any]], *,
                 resume_after: dict[str, Any] | None = None, full_document: str | None = "updateLookup",
                 before_open: Callable[[], Awaitable[None]] | None = None,
                 backoff_initial: float = 0.5, backoff_max: float = 30.0,
                 sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep) -> None:
        self._collection = collection
        self._pipeline = list(pipeline)
        self._full_document = full_document
        self._before_open = before_open
        self._backoff_initial = backoff_initial
        self._backoff_max = backoff_max
        self._sleep = sleep
        self._position: dict[str, Any] | None = copy.deepcopy(resume_after)
        self._stream: Any = None
        self._opening: asyncio.Task[Any] | None = None
        self._failures = 0
        self._closed = False
        #: How many times the stream was reopened after an error (for metrics and tests).
        self.resumes = 0

    @property
    def resume_token(self) -> dict[str, Any] | None:
        """The position to resume after: last change's `_id` (or PyMongo's newer token)."""
        return copy.deepcopy(self._position)

    @property
    def alive(self) -> bool:
        return not self._closed

    def start_soon(self) -> None:
        """Begin opening now (in a task) if a loop runs, to narrow the window before `ready()`."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        if self._opening is None and self._stream is None and not self._closed:
            self._opening = loop.create_task(self._open(), name="change-stream-open")
            self._opening.add_done_callback(_consume_exception)

    async def ready(self) -> None:
        """Return once the server-side stream exists: changes from then on will be seen."""
        await self._ensure_open()

    def __aiter__(self) -> ResumingChangeStream:
        return self

    async def __anext__(self) -> dict[str, Any]:
        while True:
            if self._closed:
                raise StopAsyncIteration
            try:
                await self._ensure_open()
                change: dict[str, Any] = await self._stream.next()
            except StopAsyncIteration:
                # PyMongo's stream ended (invalidated: collection dropped/renamed, or closed).
                await self.close()
                raise
            except asyncio.CancelledError:
                # PyMongo closes its cursor on cancellation; a later __anext__ reopens from here.
                self._note_position()
                self._stream = None
                raise
            except PyMongoError as exc:
                self._note_position()
                await self._discard_stream()
                if not is_resumable(exc):
                    if isinstance(exc, OperationFailure) and exc.code == CHANGE_STREAM_HISTORY_LOST:
                        raise ChangeStreamHistoryLost(str(exc)) from exc
                    raise
                await self._back_off(exc)
                continue
            self._failures = 0
            self._note_position(change)
            return change

    async def try_next(self) -> dict[str, Any] | None:
        """One getMore at most: the next change, or None if none is there yet (errors propagate)."""
        await self._ensure_open()
        change: dict[str, Any] | None = await self._stream.try_next()
        self._note_position(change)
        return change

    async def close(self) -> None:
        self._closed = True
        if self._opening is not None:
            self._opening.cancel()
            self._opening = None
        await self._discard_stream()

    async def __aenter__(self) -> ResumingChangeStream:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- internals --------------------------------------------------------------------------
    async def _open(self) -> Any:
        if self._before_open is not None:
            await self._before_open()
        stream = await self._collection.watch(pipeline=self._pipeline, full_document=self._full_document,
                                              resume_after=self._position)
        token = getattr(stream, "resume_token", None)
        if token is not None:
            self._position = copy.deepcopy(token)
        return stream

    async def _ensure_open(self) -> None:
        if self._stream is not None:
            return
        if self._opening is None:
            self._stream = await self._open()
            return
        task = self._opening
        try:
            self._stream = await task
        finally:
            if self._opening is task:
                self._opening = None

    def _note_position(self, change: dict[str, Any] | None = None) -> None:
        token = getattr(self._stream, "resume_token", None) if self._stream is not None else None
        if token is None and change is not None:
            token = change.get("_id")
        if token is not None:
            self._position = copy.deepcopy(token)

    async def _discard_stream(self) -> None:
        stream, self._stream = self._stream, None
        if stream is not None:
            try:
                await stream.close()
            except PyMongoError:
                pass

    async def _back_off(self, exc: PyMongoError) -> None:
        delay = min(self._backoff_max, self._backoff_initial * (2 ** self._failures))
        self._failures += 1
        self.resumes += 1
        log.warning("change stream on %s interrupted (%s: %s); resuming after %s in %.2f s (attempt %d)",
                    getattr(self._collection, "full_name", self._collection), type(exc).__name__, exc,
                    _describe(self._position), delay, self._failures)
        await self._sleep(delay)


def _describe(token: dict[str, Any] | None) -> str:
    if token is None:
        return "<start: no token yet>"
    data = str(token.get("_data", token))
    return data if len(data) <= 24 else f"{data[:12]}…{data[-8:]}"


def _consume_exception(task: asyncio.Task[Any]) -> None:
    """The open is awaited later by `_ensure_open`; never warn about an unretrieved error."""
    if not task.cancelled():
        task.exception()
