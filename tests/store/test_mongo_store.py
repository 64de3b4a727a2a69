"""MongoStore without a MongoDB server: resume logic on a fake collection, recorded changes."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import pytest
from bson import Timestamp, json_util
from pymongo import AsyncMongoClient
from pymongo.errors import (
    AutoReconnect,
    ConnectionFailure,
    CursorNotFound,
    NetworkTimeout,
    OperationFailure,
    ServerSelectionTimeoutError,
)

from reference_server.store import (
    ChangeStream,
    ChangeStreamHistoryLost,
    ChangeStreamsUnsupported,
    MongoStore,
    Store,
    open_store,
)
from reference_server.store.mongo import ORDERS_PIPELINE
from reference_server.store.resuming_stream import ResumingChangeStream, is_resumable

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "change_stream_recorded.json"
Doc = dict[str, Any]


def recorded() -> list[Doc]:
    """As a `tz_aware=True` client (both stores) decodes them."""
    options = json_util.JSONOptions(tz_aware=True)
    return json_util.loads(FIXTURE.read_text(), json_options=options)["changes"]


# -- a stand-in for PyMongo's AsyncCollection / AsyncChangeStream --------------------------------
class FakeChangeStream:
    """Hands out `changes`; raises `fail_with` once `fail_after` of them were handed out."""

    def __init__(self, changes: list[Doc], start_token: Doc | None, fail_after: int | None,
                 fail_with: BaseException | None) -> None:
        self._changes = list(changes)
        self._served = 0
        self._fail_after = fail_after
        self._fail_with = fail_with
        self.resume_token = start_token
        self.closed = False

    async def next(self) -> Doc:
        if self.closed:
            raise StopAsyncIteration
        if self._fail_after is not None and self._served >= self._fail_after:
            raise self._fail_with  # type: ignore[misc]
        if self._served >= len(self._changes):
            await asyncio.Event().wait()  # nothing more: block like a tailable cursor
        change = self._changes[self._served]
        self._served += 1
        self.resume_token = change["_id"]
        return change

    async def try_next(self) -> Doc | None:
        if self._served >= len(self._changes):
            return None
        return await self.next()

    async def close(self) -> None:
        self.closed = True


class FakeCollection:
    """`watch()` serves the recorded oplog after `resume_after`, with scripted failures.

    `script[i]` scripts the i-th call to watch(): an exception to raise from watch() itself,
    or `(n, exc)`: the stream fails with `exc` after handing out n changes. Unscripted: no failure.
    """

    full_name = "orders_app.orders"

    def __init__(self, oplog: list[Doc], script: list[Any] | None = None) -> None:
        self.oplog = oplog
        self.script = list(script or [])
        self.calls: list[Doc] = []
        self.streams: list[FakeChangeStream] = []

    async def watch(self, pipeline: Any = None, full_document: str | None = None,
                    resume_after: Doc | None = None, **kwargs: Any) -> FakeChangeStream:
        self.calls.append({"pipeline": pipeline, "full_document": full_document, "resume_after": resume_after,
                           **kwargs})
        step = self.script[len(self.calls) - 1] if len(self.calls) <= len(self.script) else None
        if isinstance(step, BaseException):
            raise step
        fail_after, fail_with = step if step else (None, None)
        start = 0
        if resume_after is not None:
            ids = [c["_id"] for c in self.oplog]
            if resume_after not in ids:
                raise OperationFailure("resume point no longer in the oplog", code=286)
            start = ids.index(resume_after) + 1
        stream = FakeChangeStream(self.oplog[start:], resume_after, fail_after, fail_with)
        self.streams.append(stream)
        return stream


class FakeDatabase:
    def __init__(self, hello: Doc, collections: dict[str, Any]) -> None:
        self.hello = hello
        self.collections = collections
        self.commands: list[str] = []

    async def command(self, name: str) -> Doc:
        self.commands.append(name)
        if name == "ping":
            return {"ok": 1.0}
        if name == "hello":
            return dict(self.hello)
        raise OperationFailure(f"no such command: {name}", code=59)

    def __getitem__(self, name: str) -> Any:
        return self.collections.setdefault(name, FakeCollection([]))


class FakeClient:
    def __init__(self, db: FakeDatabase) -> None:
        self.db = db
        self.closed = False

    def __getitem__(self, name: str) -> FakeDatabase:
        return self.db

    async def close(self) -> None:
        self.closed = True


REPLICA_SET_HELLO = {"isWritablePrimary": True, "setName": "rs0", "ok": 1.0}


class Sleeps(list):
    async def __call__(self, delay: float) -> None:
        self.append(delay)


async def take(stream: Any, n: int) -> list[Doc]:
    return [await asyncio.wait_for(anext(stream), 2) for _ in range(n)]


# -- the recorded changes ----------------------------------------------------------------------
def test_recorded_changes_have_mongodb_7_shape():
    changes = recorded()
    assert [c["operationType"] for c in changes] == ["insert", "update", "update", "update", "update"]
    for change in changes:
        assert isinstance(change["_id"]["_data"], str)
        assert isinstance(change["clusterTime"], Timestamp)
        assert change["wallTime"].tzinfo is not None
        assert change["ns"] == {"db": "orders_app", "coll": "orders"}
        assert change["documentKey"]["_id"] == change["fullDocument"]["_id"]
        head = ["_id", "operationType", "clusterTime", "wallTime", "fullDocument", "ns", "documentKey"]
        assert list(change) == head + (["updateDescription"] if change["operationType"] == "update" else [])
    tokens = [c["_id"]["_data"] for c in changes]
    assert tokens == sorted(tokens) and len(set(tokens)) == len(tokens)
    status = changes[1]["updateDescription"]
    assert set(status["updatedFields"]) == {"status", "previousStatus", "version", "updatedAt", "statusHistory.1"}
    assert status["removedFields"] == [] and status["truncatedArrays"] == []
    quick_a, quick_b = changes[2], changes[3]
    assert quick_a["fullDocument"] == quick_b["fullDocument"]
    assert quick_a["fullDocument"]["status"] == quick_b["updateDescription"]["updatedFields"]["status"]
    assert quick_a["updateDescription"]["updatedFields"]["status"] != quick_a["fullDocument"]["status"]


# -- resumability ------------------------------------------------------------------------------
@pytest.mark.parametrize("exc, resumable", [
    (ConnectionFailure("reset"), True),
    (AutoReconnect("primary stepped down"), True),
    (NetworkTimeout("timed out"), True),
    (ServerSelectionTimeoutError("no primary"), True),
    (CursorNotFound("cursor id 42 not found", code=43), True),
    (OperationFailure("shutdown", code=91, details={"errorLabels": ["ResumableChangeStreamError"]}), True),
    (OperationFailure("not primary", code=10107, details={"errorLabels": ["RetryableReadError"]}), True),
    (OperationFailure("history lost", code=286), False),
    (OperationFailure("history lost", code=286, details={"errorLabels": ["ResumableChangeStreamError"]}), False),
    (OperationFailure("fatal", code=280), False),
    (OperationFailure("unauthorized", code=13), False),
])
def test_is_resumable(exc, resumable):
    assert is_resumable(exc) is resumable


async def test_resumes_after_connection_failure_without_losing_a_change(caplog):
    oplog = recorded()
    collection = FakeCollection(oplog, script=[(2, ConnectionFailure("connection reset by peer"))])
    sleeps = Sleeps()
    stream = ResumingChangeStream(collection, ORDERS_PIPELINE, sleep=sleeps)
    with caplog.at_level(logging.WARNING, logger="reference_server.store.resuming_stream"):
        got = await take(stream, len(oplog))
    assert [c["_id"] for c in got] == [c["_id"] for c in oplog]
    assert len(collection.calls) == 2
    assert collection.calls[0]["resume_after"] is None
    assert collection.calls[1]["resume_after"] == oplog[1]["_id"]
    for call in collection.calls:
        assert call["pipeline"] == [{"$match": {"operationType": {"$in": ["insert", "update", "replace"]}}}]
        assert call["full_document"] == "updateLookup"
    assert collection.streams[0].closed
    assert sleeps == [0.5]
    assert stream.resumes == 1
    (record,) = [r for r in caplog.records if "resuming" in r.getMessage()]
    assert "ConnectionFailure" in record.getMessage()
    assert stream.resume_token == oplog[-1]["_id"]
    await stream.close()
    assert collection.streams[1].closed


async def test_backoff_is_exponential_capped_and_reset_after_success():
    oplog = recorded()
    down = ServerSelectionTimeoutError("no replica set member available")
    collection = FakeCollection(oplog, script=[(1, AutoReconnect("x")), down, down, down, down,
                                               (1, NetworkTimeout("y")), None])
    sleeps = Sleeps()
    stream = ResumingChangeStream(collection, ORDERS_PIPELINE, backoff_initial=0.5, backoff_max=3.0,
                                  sleep=sleeps)
    got = await take(stream, 3)
    assert [c["_id"] for c in got] == [c["_id"] for c in oplog[:3]]
    assert sleeps == [0.5, 1.0, 2.0, 3.0, 3.0, 0.5]
    assert [c["resume_after"] for c in collection.calls] == [None] + [oplog[0]["_id"]] * 5 + [oplog[1]["_id"]]


async def test_resume_after_given_by_the_caller_is_used_and_kept_until_the_first_change():
    oplog = recorded()
    collection = FakeCollection(oplog, script=[ConnectionFailure("down")])
    stream = ResumingChangeStream(collection, ORDERS_PIPELINE, resume_after=oplog[2]["_id"], sleep=Sleeps())
    assert stream.resume_token == oplog[2]["_id"]
    got = await take(stream, 2)
    assert [c["_id"] for c in got] == [c["_id"] for c in oplog[3:]]
    assert [c["resume_after"] for c in collection.calls] == [oplog[2]["_id"]] * 2


async def test_history_lost_is_raised_not_retried():
    oplog = recorded()
    collection = FakeCollection(oplog)
    sleeps = Sleeps()
    stream = ResumingChangeStream(collection, ORDERS_PIPELINE, resume_after={"_data": "82FFFF"}, sleep=sleeps)
    with pytest.raises(ChangeStreamHistoryLost) as lost:
        await anext(stream)
    assert lost.value.code == 286
    assert sleeps == [] and len(collection.calls) == 1


async def test_labelled_server_error_resumes_and_other_errors_raise():
    oplog = recorded()
    resumable = OperationFailure("interrupted", code=11602,
                                 details={"errorLabels": ["ResumableChangeStreamError"]})
    collection = FakeCollection(oplog, script=[(1, resumable), (1, OperationFailure("not authorized", code=13))])
    sleeps = Sleeps()
    stream = ResumingChangeStream(collection, ORDERS_PIPELINE, sleep=sleeps)
    assert [c["_id"] for c in await take(stream, 2)] == [c["_id"] for c in oplog[:2]]
    with pytest.raises(OperationFailure) as failure:
        await anext(stream)
    assert failure.value.code == 13
    assert sleeps == [0.5]


async def test_ready_opens_the_stream_before_iteration():
    collection = FakeCollection(recorded())
    stream = ResumingChangeStream(collection, ORDERS_PIPELINE)
    stream.start_soon()
    await stream.ready()
    assert len(collection.calls) == 1
    await anext(stream)
    assert len(collection.calls) == 1
    await stream.close()
    with pytest.raises(StopAsyncIteration):
        await anext(stream)


# -- MongoStore --------------------------------------------------------------------------------
def make_store(hello: Doc, oplog: list[Doc] | None = None, script: list[Any] | None = None) -> MongoStore:
    orders = FakeCollection(oplog or [], script)
    db = FakeDatabase(hello, {"orders": orders})
    return MongoStore("mongodb://unused", client=FakeClient(db), backoff_initial=0.01)


async def test_ping_accepts_replica_sets_and_mongos():
    for hello in (REPLICA_SET_HELLO, {"msg": "isdbgrid", "ok": 1.0}):
        store = make_store(hello)
        await store.ping()
        assert store.db.commands == ["ping", "hello"]


async def test_standalone_server_is_refused_clearly():
    store = make_store({"isWritablePrimary": True, "ok": 1.0}, recorded())
    with pytest.raises(ChangeStreamsUnsupported, match="replicaSet=rs0"):
        await store.ping()
    stream = store.watch_orders()
    with pytest.raises(ChangeStreamsUnsupported):
        await anext(stream)
    assert store.orders.calls == []
    await store.close()


async def test_watch_orders_streams_and_resumes():
    oplog = recorded()
    store = make_store(REPLICA_SET_HELLO, oplog, script=[(3, AutoReconnect("failover"))])
    stream = store.watch_orders()
    assert isinstance(stream, ChangeStream)
    got = await take(stream, 5)
    assert [c["_id"] for c in got] == [c["_id"] for c in oplog]
    assert [c["resume_after"] for c in store.orders.calls] == [None, oplog[2]["_id"]]
    assert store.orders.calls[0]["pipeline"] == ORDERS_PIPELINE
    reopened = store.watch_orders(resume_after=got[3]["_id"])
    assert [c["_id"] for c in await take(reopened, 1)] == [oplog[4]["_id"]]
    await store.close()
    assert store.client.closed
    assert all(s.closed for s in store.orders.streams)


async def test_open_store_with_url_builds_a_pymongo_async_store():
    store = open_store("mongodb://localhost:27017/?replicaSet=rs0", "orders_test")
    assert isinstance(store, MongoStore) and isinstance(store, Store)
    assert isinstance(store.client, AsyncMongoClient)
    assert store.orders.full_name == "orders_test.orders"
    assert store.users.full_name == "orders_test.users"
    assert store.client.codec_options.tz_aware
    await store.close()
