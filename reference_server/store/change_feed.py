"""An in-process change stream for one embedded collection, shaped like MongoDB's.

The feed turns captured writes into MongoDB change-event documents, numbers them, keeps the
last `history_size` of them (the embedded "oplog", for `resume_after`), and hands each one
to every open watcher.

Watcher queues are UNBOUNDED asyncio.Queues: a watcher never misses a change, whatever
its pace; the price is memory if a watcher stops reading without being closed. Watchers
are held weakly, so a stream that is dropped unclosed stops receiving (and costs nothing).
A bounded queue would have to drop changes or stall writers, which MongoDB never does.

`fullDocument` of an update is looked up when the change is handed out (MongoDB's
"updateLookup"), so it may already show later changes, or be None once deleted.
"""

from __future__ import annotations

import asyncio
import copy
import itertools
import secrets
import time
import weakref
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bson import Timestamp
from mongomock import helpers
from pymongo.errors import InvalidOperation

from .base import ChangeStreamHistoryLost
from .update_diff import is_replacement, same_value, update_description

DEFAULT_HISTORY = 10_000

#: mongomock's helper (unannotated there): a copy of the document with its datetimes made UTC-aware.
_tz_aware: Callable[[dict[str, Any]], dict[str, Any]] = helpers.make_datetime_timezone_aware_in_document


@dataclass(frozen=True, slots=True)
class _Change:
    seq: int
    event: dict[str, Any]  # complete but for an update's fullDocument
    lookup_id: Any = None  # set for updates: the `_id` to look up at hand-out


class _ResumeTokens:
    """Opaque, increasing `{"_data": str}` tokens; they name this feed instance."""

    def __init__(self) -> None:
        self._epoch = secrets.token_hex(4).upper()

    def make(self, seq: int) -> dict[str, str]:
        return {"_data": f"82{seq:016X}{self._epoch}"}

    def parse(self, token: Any) -> int:
        data = token.get("_data") if isinstance(token, Mapping) else None
        if not isinstance(data, str) or len(data) != 26 or not data.startswith("82"):
            raise ValueError(f"not a resume token of the embedded store: {token!r}")
        if data[18:] != self._epoch:
            raise ChangeStreamHistoryLost(
                "resume token comes from another embedded store instance (the server restarted?): "
                "its history is gone; resync and open a fresh stream")
        try:
            return int(data[2:18], 16)
        except ValueError:
            raise ValueError(f"not a resume token of the embedded store: {token!r}") from None


class ChangeFeed:
    """Publishes one collection's change events to its watchers; a `ChangeSink`."""

    def __init__(self, db_name: str, coll_name: str, lookup: Callable[[Any], Mapping[str, Any] | None],
                 *, history_size: int = DEFAULT_HISTORY, tz_aware: bool = True) -> None:
        if history_size < 1:
            raise ValueError("history_size must be at least 1")
        self._ns = {"db": db_name, "coll": coll_name}
        self._lookup = lookup
        self._tz_aware = tz_aware
        self._tokens = _ResumeTokens()
        self._seq = 0
        self._history: deque[_Change] = deque(maxlen=history_size)
        self._watchers: weakref.WeakSet[EmbeddedChangeStream] = weakref.WeakSet()
        self._clock = (0, 0)
        self._closed = False

    # -- ChangeSink -------------------------------------------------------------------------
    def inserted(self, doc: Mapping[str, Any]) -> None:
        self._publish("insert", doc["_id"], fullDocument=copy.deepcopy(dict(doc)))

    def modified(self, before: Mapping[str, Any], after: Mapping[str, Any], update: Any) -> None:
        if is_replacement(update):
            if not same_value(before, after):
                self._publish("replace", after["_id"], fullDocument=copy.deepcopy(dict(after)))
            return
        description = update_description(before, after, update)
        if description is not None:
            self._publish("update", after["_id"], updateDescription=description)

    def deleted(self, doc_id: Any) -> None:
        self._publish("delete", doc_id)

    # -- watching ---------------------------------------------------------------------------
    def watch(self, resume_after: Mapping[str, Any] | None = None) -> EmbeddedChangeStream:
        """A stream of every change after now, or after `resume_after` (replayed first)."""
        if self._closed:
            raise InvalidOperation("the embedded store is closed")
        backlog: list[_Change] = []
        if resume_after is None:
            start = self._tokens.make(self._seq)
        else:
            after = self._tokens.parse(resume_after)
            if after > self._seq:
                raise ValueError(f"resume token {resume_after!r} is ahead of this feed")
            oldest = self._history[0].seq if self._history else self._seq + 1
            if after < oldest - 1:
                raise ChangeStreamHistoryLost(
                    f"resume token {resume_after!r} is older than the {self._history.maxlen} changes "
                    "the embedded store keeps; resync and open a fresh stream")
            backlog = list(itertools.islice(self._history, after - oldest + 1, None))
            start = dict(resume_after)
        stream = EmbeddedChangeStream(self, backlog, start)
        self._watchers.add(stream)
        return stream

    def render(self, change: _Change) -> dict[str, Any]:
        """A fresh copy of the event as handed out (the update's post-image looked up now)."""
        event = change.event
        if event["operationType"] == "update":  # MongoDB puts the post-image before `ns`
            head = {k: event[k] for k in ("_id", "operationType", "clusterTime", "wallTime")}
            event = {**head, "fullDocument": self._lookup(change.lookup_id),
                     **{k: v for k, v in event.items() if k not in head}}
        if self._tz_aware:
            return _tz_aware(event)
        return copy.deepcopy(event)

    def token_of(self, change: _Change) -> dict[str, str]:
        return dict(change.event["_id"])

    def forget(self, stream: EmbeddedChangeStream) -> None:
        self._watchers.discard(stream)

    def close(self) -> None:
        """End every open stream; no new watcher may open."""
        self._closed = True
        for stream in list(self._watchers):
            stream._end()
        self._watchers.clear()

    # -- internals --------------------------------------------------------------------------
    def _tick(self) -> tuple[Timestamp, datetime]:
        now = time.time()
        seconds, inc = self._clock
        second = max(int(now), seconds)
        self._clock = (second, inc + 1 if second == seconds else 1)
        wall = datetime.fromtimestamp(now, UTC)
        return Timestamp(*self._clock), wall.replace(microsecond=wall.microsecond // 1000 * 1000)

    def _publish(self, op: str, doc_id: Any, *, fullDocument: dict[str, Any] | None = None,
                 updateDescription: dict[str, Any] | None = None) -> None:
        self._seq += 1
        cluster_time, wall_time = self._tick()
        event: dict[str, Any] = {"_id": self._tokens.make(self._seq), "operationType": op,
                                 "clusterTime": cluster_time, "wallTime": wall_time}
        if fullDocument is not None:
            event["fullDocument"] = fullDocument
        event["ns"] = dict(self._ns)
        event["documentKey"] = {"_id": copy.deepcopy(doc_id)}
        if updateDescription is not None:
            event["updateDescription"] = updateDescription
        change = _Change(self._seq, event, doc_id if op == "update" else None)
        self._history.append(change)
        for stream in list(self._watchers):
            stream._deliver(change)


class EmbeddedChangeStream:
    """One watcher of a ChangeFeed: `async for change in stream`, then `await stream.close()`."""

    def __init__(self, feed: ChangeFeed, backlog: list[_Change], start: dict[str, Any]) -> None:
        self._feed = feed
        self._queue: asyncio.Queue[_Change | None] = asyncio.Queue()
        for change in backlog:
            self._queue.put_nowait(change)
        self._closed = False
        #: Position to resume after: the last handed-out change's `_id` (at first: where it began).
        self.resume_token: dict[str, Any] | None = start

    @property
    def alive(self) -> bool:
        return not self._closed

    @property
    def pending(self) -> int:
        """Changes published to this watcher and not handed out yet."""
        return self._queue.qsize() - (1 if self._closed else 0)

    def __aiter__(self) -> EmbeddedChangeStream:
        return self

    async def __anext__(self) -> dict[str, Any]:
        if self._closed:
            raise StopAsyncIteration
        change = await self._queue.get()
        if change is None or self._closed:
            raise StopAsyncIteration
        return self._hand_out(change)

    async def try_next(self) -> dict[str, Any] | None:
        """The next change if one is waiting, else None (never blocks)."""
        if self._closed:
            return None
        try:
            change = self._queue.get_nowait()
        except asyncio.QueueEmpty:
            return None
        if change is None:
            return None
        return self._hand_out(change)

    async def ready(self) -> None:
        """Always ready: the stream started when `watch_orders()` returned."""

    async def close(self) -> None:
        self._feed.forget(self)
        self._end()

    async def __aenter__(self) -> EmbeddedChangeStream:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def _hand_out(self, change: _Change) -> dict[str, Any]:
        self.resume_token = self._feed.token_of(change)
        return self._feed.render(change)

    def _deliver(self, change: _Change) -> None:
        if not self._closed:
            self._queue.put_nowait(change)

    def _end(self) -> None:
        if not self._closed:
            self._closed = True
            self._queue.put_nowait(None)  # wakes a reader blocked in __anext__
