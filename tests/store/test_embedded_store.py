"""EmbeddedStore: MongoDB-shaped change events, watchers, resume, and flat-cost lookups."""

from __future__ import annotations

import asyncio
import math
from datetime import datetime, timezone
from typing import Any

import pytest
from bson import Timestamp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mongomock_motor import AsyncMongoMockClient
from pymongo import ASCENDING, DeleteOne, InsertOne, ReplaceOne, ReturnDocument, UpdateOne
from pymongo.errors import BulkWriteError, DuplicateKeyError, InvalidOperation

import reference_server.store.fast_lookup as fast_lookup
from reference_server.store import ChangeStream, ChangeStreamHistoryLost, EmbeddedStore, Store, open_store
from reference_server.store.update_diff import same_value, update_description

Doc = dict[str, Any]


@pytest.fixture
async def store():
    s = EmbeddedStore()
    await s.orders.create_index([("customerId", ASCENDING)])
    await s.orders.create_index([("driverId", ASCENDING)])
    yield s
    await s.close()


async def take(stream: Any, n: int, timeout: float = 1.0) -> list[Doc]:
    return [await asyncio.wait_for(anext(stream), timeout) for _ in range(n)]


async def drain(stream: Any) -> list[Doc]:
    out = []
    while (change := await stream.try_next()) is not None:
        out.append(change)
    return out


def order(_id: str = "o1", **fields: Any) -> Doc:
    doc = {"_id": _id, "customerId": "c1", "status": "pending", "driverId": None,
           "statusHistory": [{"status": "pending", "at": "2025-01-01T00:00:00.000Z"}], "version": 1,
           "driverLocation": {"lat": 48.0, "lng": 2.0}}
    doc.update(fields)
    return doc


def updated(change: Doc) -> Doc:
    assert change["operationType"] == "update"
    return change["updateDescription"]["updatedFields"]


# -- factory and protocol -------------------------------------------------------------------
async def test_open_store_without_url_is_embedded_and_usable():
    s = open_store(None)
    assert isinstance(s, EmbeddedStore) and isinstance(s, Store)
    stream = s.watch_orders()
    assert isinstance(stream, ChangeStream)
    await s.ping()
    await s.close()
    with pytest.raises(InvalidOperation):
        await s.ping()
    with pytest.raises(InvalidOperation):
        s.watch_orders()


# -- change-event documents -------------------------------------------------------------------
async def test_insert_event_has_mongodb_shape(store):
    stream = store.watch_orders()
    await store.orders.insert_one(order())
    (change,) = await take(stream, 1)
    assert list(change) == ["_id", "operationType", "clusterTime", "wallTime", "fullDocument", "ns",
                            "documentKey"]
    assert isinstance(change["_id"]["_data"], str) and list(change["_id"]) == ["_data"]
    assert change["operationType"] == "insert"
    assert isinstance(change["clusterTime"], Timestamp)
    assert isinstance(change["wallTime"], datetime) and change["wallTime"].utcoffset().total_seconds() == 0
    assert abs((datetime.now(timezone.utc) - change["wallTime"]).total_seconds()) < 5
    assert change["ns"] == {"db": "orders_app", "coll": "orders"}
    assert change["documentKey"] == {"_id": "o1"}
    assert change["fullDocument"] == order()
    assert stream.resume_token == change["_id"]


async def test_update_event_top_level_inc_push(store):
    await store.orders.insert_one(order())
    stream = store.watch_orders()
    entry = {"status": "processing", "at": "2025-01-01T00:01:00.000Z", "by": "owner"}
    await store.orders.update_one({"_id": "o1"}, {
        "$set": {"status": "processing", "previousStatus": "pending", "updatedAt": "t1"},
        "$inc": {"version": 1},
        "$push": {"statusHistory": entry}})
    (change,) = await take(stream, 1)
    assert list(change) == ["_id", "operationType", "clusterTime", "wallTime", "fullDocument", "ns",
                            "documentKey", "updateDescription"]
    assert change["updateDescription"] == {
        "updatedFields": {"status": "processing", "statusHistory.1": entry, "version": 2,
                          "previousStatus": "pending", "updatedAt": "t1"},
        "removedFields": [], "truncatedArrays": []}
    assert change["documentKey"] == {"_id": "o1"}
    assert change["fullDocument"]["version"] == 2


async def test_push_each_gives_one_path_per_element(store):
    await store.orders.insert_one(order())
    stream = store.watch_orders()
    await store.orders.update_one({"_id": "o1"}, {"$push": {"statusHistory": {"$each": [{"s": 1}, {"s": 2}]}}})
    (change,) = await take(stream, 1)
    assert updated(change) == {"statusHistory.1": {"s": 1}, "statusHistory.2": {"s": 2}}


async def test_sub_document_changes_give_dotted_paths(store):
    await store.orders.insert_one(order())
    stream = store.watch_orders()
    await store.orders.update_one({"_id": "o1"}, {"$set": {"driverLocation.lat": 48.5}})
    await store.orders.update_one({"_id": "o1"}, {"$inc": {"driverLocation.lng": 1}})
    await store.orders.update_one({"_id": "o1"}, {"$set": {"statusHistory.0.note": "x"}})
    first, second, third = await take(stream, 3)
    assert updated(first) == {"driverLocation.lat": 48.5}
    assert updated(second) == {"driverLocation.lng": 3.0}
    assert updated(third) == {"statusHistory.0.note": "x"}


async def test_set_of_a_whole_sub_document_is_reported_whole(store):
    """MongoDB logs the operator's own path: `$set: {driverLocation: {...}}` is not split."""
    await store.orders.insert_one(order())
    stream = store.watch_orders()
    location = {"lat": 48.1, "lng": 2.0, "status": "pending"}
    await store.orders.update_one({"_id": "o1"}, {"$set": {"driverLocation": location}})
    (change,) = await take(stream, 1)
    assert updated(change) == {"driverLocation": location}


async def test_unchanged_values_are_not_reported(store):
    await store.orders.insert_one(order())
    stream = store.watch_orders()
    await store.orders.update_one({"_id": "o1"}, {"$set": {"status": "pending", "customerId": "c1",
                                                           "driverLocation.lat": 48.0, "note": "n"}})
    (change,) = await take(stream, 1)
    assert updated(change) == {"note": "n"}


async def test_no_op_updates_emit_nothing(store):
    await store.orders.insert_many([order("o1"), order("o2")])
    stream = store.watch_orders()
    await store.orders.update_one({"_id": "o1"}, {"$set": {"status": "pending"}})
    await store.orders.update_many({}, {"$set": {"customerId": "c1"}})
    await store.orders.update_one({"_id": "missing"}, {"$set": {"status": "x"}})
    await store.orders.replace_one({"_id": "o2"}, {k: v for k, v in order("o2").items() if k != "_id"})
    await store.orders.find_one_and_update({"_id": "o1"}, {"$set": {"version": 1}})
    assert await drain(stream) == []
    await store.orders.update_many({}, {"$set": {"status": "processing"}})
    assert [c["documentKey"]["_id"] for c in await drain(stream)] == ["o1", "o2"]


async def test_unset_gives_removed_fields(store):
    await store.orders.insert_one(order(note="n"))
    stream = store.watch_orders()
    await store.orders.update_one({"_id": "o1"}, {"$unset": {"note": "", "driverLocation.lng": ""},
                                                  "$set": {"status": "processing"}})
    (change,) = await take(stream, 1)
    assert change["updateDescription"] == {"updatedFields": {"status": "processing"},
                                           "removedFields": ["driverLocation.lng", "note"],
                                           "truncatedArrays": []}


async def test_replace_and_delete_events(store):
    await store.orders.insert_one(order())
    stream = store.watch_orders()
    await store.orders.replace_one({"_id": "o1"}, {"customerId": "c2", "status": "cancelled"})
    await store.orders.delete_one({"_id": "o1"})
    replace, delete = await take(stream, 2)
    assert replace["operationType"] == "replace"
    assert list(replace) == ["_id", "operationType", "clusterTime", "wallTime", "fullDocument", "ns",
                             "documentKey"]
    assert replace["fullDocument"] == {"_id": "o1", "customerId": "c2", "status": "cancelled"}
    assert delete["operationType"] == "delete"
    assert list(delete) == ["_id", "operationType", "clusterTime", "wallTime", "ns", "documentKey"]
    assert delete["documentKey"] == {"_id": "o1"}


async def test_update_post_image_is_looked_up_when_handed_out(store):
    await store.orders.insert_one(order())
    stream = store.watch_orders()
    await store.orders.update_one({"_id": "o1"}, {"$set": {"status": "processing"}, "$inc": {"version": 1}})
    await store.orders.update_one({"_id": "o1"}, {"$set": {"status": "ready_for_delivery"}, "$inc": {"version": 1}})
    first, second = await take(stream, 2)
    assert updated(first) == {"status": "processing", "version": 2}
    assert first["fullDocument"]["status"] == second["fullDocument"]["status"] == "ready_for_delivery"
    assert first["fullDocument"]["version"] == 3
    await store.orders.update_one({"_id": "o1"}, {"$set": {"status": "cancelled"}})
    await store.orders.delete_one({"_id": "o1"})
    gone, _delete = await take(stream, 2)
    assert gone["fullDocument"] is None


async def test_events_are_copies(store):
    stream = store.watch_orders()
    other = store.watch_orders()
    await store.orders.insert_one(order())
    (change,) = await take(stream, 1)
    change["fullDocument"]["status"] = "mutated"
    (again,) = await take(other, 1)
    assert again["fullDocument"]["status"] == "pending"
    assert (await store.orders.find_one({"_id": "o1"}))["status"] == "pending"


async def test_pipeline_update_is_an_update_event(store):
    await store.orders.insert_one(order())
    stream = store.watch_orders()
    await store.orders.update_one({"_id": "o1"}, [{"$set": {"status": "processing"}}])
    (change,) = await take(stream, 1)
    assert updated(change) == {"status": "processing"}


# -- every write path publishes, rolled-back writes do not ------------------------------------
async def test_direct_writes_of_every_kind_are_published(store):
    stream = store.watch_orders()
    orders = store.orders
    await orders.insert_one(order("a"))
    await orders.insert_many([order("b"), order("c")])
    await orders.update_many({"_id": {"$in": ["a", "b"]}}, {"$set": {"status": "processing"}})
    await orders.find_one_and_update({"_id": "c"}, {"$inc": {"version": 1}}, return_document=ReturnDocument.AFTER)
    await orders.find_one_and_replace({"_id": "c"}, {"customerId": "c9"})
    await orders.update_one({"_id": "d"}, {"$set": {"status": "pending"}}, upsert=True)
    await orders.find_one_and_delete({"_id": "d"})
    await orders.bulk_write([InsertOne(order("e")), UpdateOne({"_id": "e"}, {"$set": {"status": "x"}}),
                             ReplaceOne({"_id": "e"}, {"k": 1}), DeleteOne({"_id": "e"})])
    await orders.delete_many({"_id": {"$in": ["a", "b"]}})
    got = [(c["operationType"], c["documentKey"]["_id"]) for c in await drain(stream)]
    assert got == [("insert", "a"), ("insert", "b"), ("insert", "c"), ("update", "a"), ("update", "b"),
                   ("update", "c"), ("replace", "c"), ("insert", "d"), ("delete", "d"),
                   ("insert", "e"), ("update", "e"), ("replace", "e"), ("delete", "e"),
                   ("delete", "a"), ("delete", "b")]


async def test_rejected_writes_emit_nothing(store):
    await store.orders.create_index([("orderNumber", ASCENDING)], unique=True)
    await store.orders.insert_many([order("a", orderNumber="N1"), order("b", orderNumber="N2")])
    stream = store.watch_orders()
    with pytest.raises(DuplicateKeyError):
        await store.orders.insert_one(order("a"))
    with pytest.raises(DuplicateKeyError):
        await store.orders.insert_one(order("z", orderNumber="N1"))
    with pytest.raises(DuplicateKeyError):
        await store.orders.update_one({"_id": "b"}, {"$set": {"orderNumber": "N1", "status": "x"}})
    assert await drain(stream) == []
    assert (await store.orders.find_one({"_id": "b"}))["orderNumber"] == "N2"
    assert await store.orders.find_one({"orderNumber": "N1"}) is not None
    with pytest.raises(BulkWriteError):
        await store.orders.insert_many([order("c", orderNumber="N3"), order("d", orderNumber="N1"),
                                        order("e", orderNumber="N4")])
    assert [c["documentKey"]["_id"] for c in await drain(stream)] == ["c"]


# -- watchers ---------------------------------------------------------------------------------
async def test_two_watchers_get_everything_in_order(store):
    first, second = store.watch_orders(), store.watch_orders()
    for i in range(30):
        await store.orders.insert_one(order(f"o{i}"))
        await store.orders.update_one({"_id": f"o{i}"}, {"$inc": {"version": 1}})
        if i % 3 == 0:
            await store.orders.delete_one({"_id": f"o{i}"})
    one, two = await drain(first), await drain(second)
    assert len(one) == 70
    assert [c["_id"] for c in one] == [c["_id"] for c in two]
    assert [c["_id"]["_data"] for c in one] == sorted(c["_id"]["_data"] for c in one)
    assert [c["clusterTime"] for c in one] == sorted(c["clusterTime"] for c in one)
    assert len({c["_id"]["_data"] for c in one}) == 70


async def test_watcher_only_sees_changes_after_it_started(store):
    await store.orders.insert_one(order("before"))
    stream = store.watch_orders()
    await store.orders.insert_one(order("after"))
    assert [c["documentKey"]["_id"] for c in await drain(stream)] == ["after"]


async def test_blocked_reader_wakes_up_and_close_ends_iteration(store):
    stream = store.watch_orders()
    reader = asyncio.create_task(anext(stream))
    await asyncio.sleep(0)
    await store.orders.insert_one(order())
    assert (await asyncio.wait_for(reader, 1))["operationType"] == "insert"
    waiting = asyncio.create_task(anext(stream))
    await asyncio.sleep(0)
    await stream.close()
    with pytest.raises(StopAsyncIteration):
        await asyncio.wait_for(waiting, 1)
    await store.orders.insert_one(order("later"))
    assert await stream.try_next() is None


async def test_store_close_ends_every_stream(store):
    streams = [store.watch_orders() for _ in range(3)]
    await store.close()
    for stream in streams:
        with pytest.raises(StopAsyncIteration):
            await asyncio.wait_for(anext(stream), 1)


async def test_slow_watcher_misses_nothing(store):
    slow = store.watch_orders()
    await store.orders.insert_many([order(f"o{i}") for i in range(2_000)])
    assert slow.pending == 2_000
    got = await take(slow, 2_000)
    assert [c["documentKey"]["_id"] for c in got] == [f"o{i}" for i in range(2_000)]


# -- resume -----------------------------------------------------------------------------------
async def test_resume_after_replays_exactly_the_later_changes(store):
    stream = store.watch_orders()
    for i in range(6):
        await store.orders.insert_one(order(f"o{i}"))
    changes = await take(stream, 6)
    resumed = store.watch_orders(resume_after=changes[2]["_id"])
    assert resumed.resume_token == changes[2]["_id"]
    replayed = await drain(resumed)
    assert [c["_id"] for c in replayed] == [c["_id"] for c in changes[3:]]
    await store.orders.insert_one(order("o6"))
    (live,) = await take(resumed, 1)
    assert live["documentKey"] == {"_id": "o6"}
    at_end = store.watch_orders(resume_after=live["_id"])
    assert await drain(at_end) == []


async def test_initial_resume_token_is_the_start_position(store):
    await store.orders.insert_one(order("early"))
    stream = store.watch_orders()
    start = stream.resume_token
    assert start is not None
    await store.orders.insert_one(order("o1"))
    await stream.close()
    reopened = store.watch_orders(resume_after=start)
    assert [c["documentKey"]["_id"] for c in await drain(reopened)] == ["o1"]


async def test_history_lost_and_bad_tokens():
    s = EmbeddedStore(history_size=5)
    stream = s.watch_orders()
    for i in range(10):
        await s.orders.insert_one(order(f"o{i}"))
    changes = await take(stream, 10)
    with pytest.raises(ChangeStreamHistoryLost) as lost:
        s.watch_orders(resume_after=changes[3]["_id"])
    assert lost.value.code == 286
    oldest_ok = s.watch_orders(resume_after=changes[4]["_id"])
    assert [c["_id"] for c in await drain(oldest_ok)] == [c["_id"] for c in changes[5:]]
    with pytest.raises(ChangeStreamHistoryLost):
        EmbeddedStore().watch_orders(resume_after=changes[9]["_id"])
    with pytest.raises(ValueError):
        s.watch_orders(resume_after={"_data": "garbage"})
    await s.close()


# -- lookups ----------------------------------------------------------------------------------
async def test_to_list_honours_length(store):
    await store.orders.insert_many([order(f"o{i}") for i in range(5)])
    cursor = store.orders.find({"customerId": "c1"}).sort("_id", -1).skip(1)
    assert [d["_id"] for d in await cursor.to_list(2)] == ["o3", "o2"]
    assert [d["_id"] for d in await cursor.to_list(None)] == ["o1", "o0"]
    assert [d["_id"] async for d in store.orders.find({}).limit(2)] == ["o0", "o1"]
    with pytest.raises(ValueError):
        await store.orders.find({}).to_list(0)


async def test_datetimes_come_back_timezone_aware(store):
    when = datetime(2025, 1, 2, 3, 4, 5, 678000, tzinfo=timezone.utc)
    await store.orders.insert_one(order(createdAt=when))
    doc = await store.orders.find_one({"_id": "o1"})
    assert doc["createdAt"] == when and doc["createdAt"].utcoffset().total_seconds() == 0


async def test_unique_index_raises_duplicate_key_error(store):
    users = store.users
    await users.create_index([("email", ASCENDING)], unique=True)
    await users.create_index([("role", ASCENDING)])
    await users.insert_one({"_id": "u1", "email": "a@x.io", "role": "driver"})
    await users.insert_one({"_id": "u2", "email": "b@x.io", "role": "driver"})
    with pytest.raises(DuplicateKeyError) as dup:
        await users.insert_one({"_id": "u3", "email": "a@x.io", "role": "customer"})
    assert dup.value.code == 11000
    with pytest.raises(DuplicateKeyError):
        await users.update_one({"_id": "u2"}, {"$set": {"email": "a@x.io"}})
    assert (await users.find_one({"email": "b@x.io"}))["_id"] == "u2"
    assert await users.find_one({"_id": "u3"}) is None
    assert [u["_id"] for u in await users.find({"role": "driver"}).to_list(None)] == ["u1", "u2"]
    await users.update_one({"_id": "u2"}, {"$set": {"email": "c@x.io"}})
    await users.insert_one({"_id": "u4", "email": "b@x.io", "role": "customer"})
    assert await users.count_documents({"email": {"$in": ["a@x.io", "b@x.io", "c@x.io"]}}) == 3


@pytest.fixture
def filter_calls(monkeypatch):
    """Counts the documents the fast path runs mongomock's filter on."""
    calls = []
    original = fast_lookup.filter_applies

    def counting(filter, doc):
        calls.append(doc.get("_id"))
        return original(filter, doc)

    monkeypatch.setattr(fast_lookup, "filter_applies", counting)
    return calls


async def test_id_and_indexed_lookups_touch_only_candidates(store, filter_calls):
    await store.orders.insert_many([order(f"o{i}", customerId=f"c{i % 100}") for i in range(1_000)])
    filter_calls.clear()
    assert (await store.orders.find_one({"_id": "o500"}))["_id"] == "o500"
    assert filter_calls == ["o500"]
    filter_calls.clear()
    found = await store.orders.find({"customerId": "c7"}).to_list(None)
    assert [d["_id"] for d in found] == [f"o{i}" for i in range(7, 1_000, 100)]
    assert sorted(filter_calls) == sorted(d["_id"] for d in found)
    filter_calls.clear()
    await store.orders.update_one({"_id": "o7", "version": 1}, {"$set": {"customerId": "c8"}, "$inc": {"version": 1}})
    assert await store.orders.count_documents({"customerId": "c8"}) == 11
    assert await store.orders.count_documents({"customerId": "c7"}) == 9
    assert len(filter_calls) <= 1 + 11 + 9


async def test_index_declared_after_the_data_is_used(store, filter_calls):
    await store.orders.insert_many([order(f"o{i}", storeId=f"s{i % 10}") for i in range(200)])
    await store.orders.create_index([("storeId", ASCENDING), ("createdAt", ASCENDING)])
    filter_calls.clear()
    assert await store.orders.count_documents({"storeId": "s3"}) == 20
    assert len(filter_calls) == 20


def test_same_value_is_type_strict():
    assert same_value({"a": [1, {"b": "x"}]}, {"a": [1, {"b": "x"}]})
    assert not same_value(1, 1.0) and not same_value(1, True) and not same_value([1], (1,))
    assert same_value(math.nan, math.nan)
    assert update_description({"_id": 1, "a": 1}, {"_id": 1, "a": 1}, {"$set": {"a": 1}}) is None
    assert update_description({"a": [1, 2, 3]}, {"a": [1]}, {"$pop": {"a": 1}})["updatedFields"] == {"a": [1]}


# -- indexed lookups agree with plain mongomock (property test) -------------------------------
_IDS = [f"id{i}" for i in range(6)]
_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-2, 2), st.sampled_from([0.0, 1.0, 2.5, math.nan]),
                     st.sampled_from(["x", "y", "z"]))
_VALUES = st.one_of(_SCALARS, st.lists(_SCALARS, max_size=3), st.fixed_dictionaries({"k": _SCALARS}))
_FIELDS = ["c", "d", "e"]


@st.composite
def _documents(draw: Any) -> Doc:
    doc: Doc = {"_id": draw(st.sampled_from(_IDS))}
    for field in _FIELDS:
        if draw(st.booleans()):
            doc[field] = draw(_VALUES)
    return doc


_EQUALITY = st.one_of(_SCALARS, _SCALARS.map(lambda v: {"$eq": v}),
                      st.lists(_SCALARS, max_size=3).map(lambda vs: {"$in": vs}), _VALUES)


@st.composite
def _filters(draw: Any) -> Doc:
    kind = draw(st.sampled_from(["id", "field", "both", "and", "id_in", "other"]))
    field = draw(st.sampled_from(_FIELDS))
    if kind == "id":
        return {"_id": draw(st.sampled_from(_IDS + ["nope"]))}
    if kind == "id_in":
        return {"_id": {"$in": draw(st.lists(st.sampled_from(_IDS), max_size=3))}}
    if kind == "field":
        return {field: draw(_EQUALITY)}
    if kind == "both":
        return {"c": draw(_EQUALITY), "d": draw(_EQUALITY)}
    if kind == "and":
        return {"$and": [{field: draw(_EQUALITY)}, {"e": {"$exists": draw(st.booleans())}}]}
    return {field: {"$exists": True}}


_UPDATES = st.one_of(
    st.builds(lambda f, v: {"$set": {f: v}}, st.sampled_from(_FIELDS), _VALUES),
    st.builds(lambda f: {"$unset": {f: ""}}, st.sampled_from(_FIELDS)),
    st.builds(lambda f, v: {"$push": {f: v}}, st.sampled_from(_FIELDS), _SCALARS),
)
_OPS = st.one_of(
    st.tuples(st.just("insert"), _documents()),
    st.tuples(st.just("update_one"), _filters(), _UPDATES),
    st.tuples(st.just("update_many"), _filters(), _UPDATES),
    st.tuples(st.just("replace"), _filters(), _documents().map(lambda d: {k: v for k, v in d.items() if k != "_id"})),
    st.tuples(st.just("delete_one"), _filters()),
    st.tuples(st.just("delete_many"), _filters()),
    st.tuples(st.just("index"), st.sampled_from(_FIELDS)),
)


async def _apply(collection: Any, op: tuple[Any, ...]) -> Any:
    name, *args = op
    try:
        if name == "insert":
            await collection.insert_one(dict(args[0]))
        elif name == "update_one":
            await collection.update_one(*args)
        elif name == "update_many":
            await collection.update_many(*args)
        elif name == "replace":
            await collection.replace_one(*args)
        elif name == "delete_one":
            await collection.delete_one(*args)
        elif name == "delete_many":
            await collection.delete_many(*args)
        elif name == "index":
            await collection.create_index([(args[0], ASCENDING)])
    except Exception as exc:  # both sides must fail alike
        return type(exc).__name__
    return None


async def _read(collection: Any, filter: Doc) -> Any:
    try:
        return (await collection.find(filter).to_list(None), await collection.count_documents(filter),
                await collection.find_one(filter))
    except Exception as exc:
        return type(exc).__name__


def _comparable(value: Any) -> Any:
    """NaN != NaN: compare results by their repr."""
    return repr(value)


async def _probes(plain: Any) -> list[Doc]:
    """Queries for every value (and array element) stored now: the ones a stale index fails."""
    probes: list[Doc] = [{"_id": "nope"}]
    for doc in await plain.find({}).to_list(None):
        probes.append({"_id": doc["_id"]})
        for field in _FIELDS:
            value = doc.get(field)
            for v in (value if isinstance(value, list) else [value]):
                probes += [{field: v}, {field: {"$in": [v, "x"]}}]
    return probes


# 60 examples: the shared test step is CPU-bound on 2 cores (300 took 45 s of it); hypothesis
# keeps its failing examples in .hypothesis/, so a found bug is replayed first next time.
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=st.lists(_OPS, max_size=25), queries=st.lists(_filters(), min_size=1, max_size=12),
       index_first=st.booleans())
async def test_indexed_lookups_match_plain_mongomock(ops, queries, index_first):
    plain = AsyncMongoMockClient(tz_aware=True)["db"]["orders"]
    embedded = EmbeddedStore()
    mine = embedded.orders
    if index_first:
        for field in ("c", "d"):
            await mine.create_index([(field, ASCENDING)])
            await plain.create_index([(field, ASCENDING)])
    for op in ops:
        assert await _apply(mine, op) == await _apply(plain, op), op
        for query in queries[:3] + await _probes(plain):
            assert _comparable(await _read(mine, query)) == _comparable(await _read(plain, query)), (op, query)
    for query in queries:
        assert _comparable(await _read(mine, query)) == _comparable(await _read(plain, query)), query
    assert _comparable(await mine.find({}).to_list(None)) == _comparable(await plain.find({}).to_list(None))
    await embedded.close()


# -- sorted, limited finds agree with plain mongomock (property test) -------------------------
_SORT_VALUES = st.one_of(st.sampled_from(["2025-01-01T00:00:00.000Z", "2025-01-02T00:00:00.000Z", "b", "a"]),
                         st.integers(-2, 2), st.sampled_from([0.5, 1.0]))


@st.composite
def _sortable_documents(draw: Any) -> list[Doc]:
    uniform = draw(st.booleans())  # mostly plain strings/numbers (the heap's native path) or mixed
    docs = []
    for i in range(draw(st.integers(0, 30))):
        doc: Doc = {"_id": f"o{i:02d}", "g": draw(st.sampled_from(["p", "q"]))}
        if uniform:
            doc["s"] = draw(st.sampled_from(["2025-01-01", "2025-01-02", "2025-01-03"]))
            doc["n"] = draw(st.integers(0, 3))
        else:
            for field in ("s", "n"):
                if draw(st.integers(0, 5)):
                    doc[field] = draw(st.one_of(_SORT_VALUES, st.none(), st.lists(_SORT_VALUES, max_size=2)))
        docs.append(doc)
    return docs


_SORT_SPECS = st.lists(st.tuples(st.sampled_from(["s", "n", "_id", "g", "x.y"]), st.sampled_from([1, -1])),
                       min_size=1, max_size=3, unique_by=lambda kv: kv[0])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(docs=_sortable_documents(), sort=_SORT_SPECS, skip=st.integers(0, 5), limit=st.integers(-3, 8),
       filter=st.sampled_from([{}, {"g": "p"}, {"n": {"$gte": 1}}]))
async def test_sorted_limited_finds_match_plain_mongomock(docs, sort, skip, limit, filter):
    plain = AsyncMongoMockClient(tz_aware=True)["db"]["orders"]
    embedded = EmbeddedStore()
    mine = embedded.orders
    if docs:
        await plain.insert_many([dict(d) for d in docs])
        await mine.insert_many([dict(d) for d in docs])
    expected = await plain.find(filter, {"g": 0}).sort(sort).skip(skip).limit(limit).to_list(None)
    got = await mine.find(filter, {"g": 0}).sort(sort).skip(skip).limit(limit).to_list(None)
    assert got == expected
    cursor = mine.find(filter).sort(sort).skip(skip).limit(limit)
    assert [d["_id"] async for d in cursor] == [d["_id"] for d in expected]
    await embedded.close()


async def test_page_of_a_large_collection_is_cheap(store, monkeypatch):
    """The domain's listing query copies only the page, whatever the collection size."""
    import mongomock.collection

    await store.orders.insert_many([order(f"o{i:05d}", createdAt=f"2025-01-01T00:00:{i % 60:02d}.000Z")
                                    for i in range(3_000)])
    copies = []
    original = mongomock.collection.Collection._copy_only_fields

    def counting(self, doc, fields, container):
        copies.append(doc["_id"])
        return original(self, doc, fields, container)

    monkeypatch.setattr(mongomock.collection.Collection, "_copy_only_fields", counting)
    page = await (store.orders.find({}).sort([("createdAt", -1), ("_id", -1)]).skip(20).limit(20)
                  .to_list(20))
    assert [d["_id"] for d in page] == [f"o{2999 - 60 * k:05d}" for k in range(20, 40)]
    assert len(copies) == 20
