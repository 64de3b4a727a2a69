"""ChangeInterpreter on MongoDB 7 change-event documents (contract section 6).

The documents are the recorded ones in tests/fixtures/change_stream_recorded.json (one
delivery order: insert, processing, ready_for_delivery and driver_assigned read together so
both post-images show the later state, then a location report), and variations of them.
Expected values are written from the contract, not from `emissions_for`.
"""

from __future__ import annotations

import asyncio
import copy
import math
from pathlib import Path
from typing import Any

import pytest
from bson import json_util
from pymongo.errors import ConnectionFailure

from harness.contract import event_problem
from reference_server.change_events import ChangeInterpreter, Outgoing
from reference_server.store.mongo import MongoStore

RECORDED = Path(__file__).resolve().parents[1] / "fixtures" / "change_stream_recorded.json"

ORDER_ID = "3f9c2e71a4b84d0f9e6a1c5b7d2e8f40"
CUSTOMER_ID = "b81d4c0e6f2a4e9db7c3a1f5e8d20964"
DRIVER_ID = "5e0a7b3c9d1f4a6e8b2c4d6f8a0b1c3e"
OWNERS = "store-owners"
CUSTOMER_ROOM = f"customer_{CUSTOMER_ID}"
DRIVER_ROOM = f"driver_{DRIVER_ID}"


@pytest.fixture(scope="module")
def recorded() -> list[dict[str, Any]]:
    return json_util.loads(RECORDED.read_text())["changes"]


@pytest.fixture
def changes(recorded) -> list[dict[str, Any]]:
    return copy.deepcopy(recorded)


def view(out: list[Outgoing]) -> list[tuple]:
    """(event, kind, rooms as a set, status, version) per outgoing event, in emit order."""
    return [(o.emission.event.value, o.emission.delivery_kind and o.emission.delivery_kind.value,
             frozenset(o.emission.rooms), o.payload["status"], o.payload["version"]) for o in out]


def stamped(out: list[Outgoing]) -> list[Outgoing]:
    """Payloads as they go on the wire (emittedAt is added by the broadcaster), all valid."""
    for o in out:
        wire = {**o.payload, "emittedAt": 1_764_120_000_000}
        assert event_problem(o.emission.event.value, wire) is None, (o.emission.event, wire)
        assert o.payload["orderId"] == ORDER_ID and o.order_id == ORDER_ID
    return out


def update(base: dict[str, Any], token: str, fields: dict[str, Any],
           post: dict[str, Any] | None = None) -> dict[str, Any]:
    """A change document like `base` (an update) with other updatedFields and post-image."""
    change = copy.deepcopy(base)
    change["_id"] = {"_data": token}
    change["updateDescription"] = {"updatedFields": fields, "removedFields": [], "truncatedArrays": []}
    if post is not None:
        change["fullDocument"] = post
    return change


STATUS_TWO = lambda status, v: [  # noqa: E731 - a table row
    ("orderStatusUpdated", None, frozenset({OWNERS, CUSTOMER_ROOM}), status, v),
    ("customer_order_update", None, frozenset({CUSTOMER_ROOM}), status, v)]
STATUS_THREE = lambda status, v: [  # noqa: E731
    ("orderStatusUpdated", None, frozenset({OWNERS, CUSTOMER_ROOM, DRIVER_ROOM}), status, v),
    ("customer_order_update", None, frozenset({CUSTOMER_ROOM}), status, v),
    ("delivery_update", "status", frozenset({OWNERS, CUSTOMER_ROOM, DRIVER_ROOM}), status, v)]


def test_recording_is_what_the_tests_assume(recorded) -> None:
    ops = [c["operationType"] for c in recorded]
    assert ops == ["insert", "update", "update", "update", "update"]
    # The two changes read together: both post-images show the later state.
    for c in recorded[2:4]:
        assert (c["fullDocument"]["status"], c["fullDocument"]["version"]) == ("driver_assigned", 4)
    assert recorded[2]["updateDescription"]["updatedFields"]["status"] == "ready_for_delivery"


def test_insert_gives_new_order_to_store_owners_with_the_order(changes) -> None:
    out = stamped(ChangeInterpreter().interpret(changes[0]))
    assert view(out) == [("newOrder", None, frozenset({OWNERS}), "pending", 1)]
    payload = out[0].payload
    doc = changes[0]["fullDocument"]
    assert payload["customerId"] == CUSTOMER_ID
    order = payload["order"]
    assert order["id"] == ORDER_ID and "_id" not in order
    for key in ("orderNumber", "customerId", "storeId", "orderType", "items", "total", "status",
                "driverId", "deliveryAddress", "statusHistory", "version", "createdAt", "updatedAt"):
        assert order[key] == doc[key], key
    assert isinstance(payload["eventId"], str) and payload["eventId"]


def test_status_update_gives_the_status_events_from_updated_fields(changes) -> None:
    ci = ChangeInterpreter()
    ci.interpret(changes[0])
    out = stamped(ci.interpret(changes[1]))
    assert view(out) == STATUS_TWO("processing", 2)
    for o in out:
        assert o.payload["previousStatus"] == "pending"
        assert o.payload["customerId"] == CUSTOMER_ID
    assert out[0].payload["updatedAt"] == "2025-11-26T01:20:42.530Z"
    assert out[1].payload["message"]
    assert len({o.payload["eventId"] for o in out}) == 2


def test_recorded_pair_read_late_takes_nothing_from_the_post_image(changes) -> None:
    """changes[2] (ready_for_delivery v3) has a post-image already at driver_assigned v4 with
    a driverId: its events must say ready_for_delivery/3 and must not reach the driver, whose
    room starts with driver_assigned (sections 6 and 8)."""
    ci = ChangeInterpreter()
    for c in changes[:2]:
        ci.interpret(c)
    first = stamped(ci.interpret(changes[2]))
    second = stamped(ci.interpret(changes[3]))
    assert view(first) == STATUS_TWO("ready_for_delivery", 3)
    assert [o.payload["previousStatus"] for o in first] == ["processing", "processing"]
    assert first[0].payload["updatedAt"] == "2025-11-26T01:30:00.010Z"
    assert view(second) == STATUS_THREE("driver_assigned", 4)
    assert second[2].payload["driverId"] == DRIVER_ID
    assert [o.payload["previousStatus"] for o in second[:2]] == ["ready_for_delivery"] * 2


def _to_in_transit(changes: list[dict[str, Any]]) -> tuple[dict, dict]:
    """picked_up v5 then in_transit v6, both post-images showing in_transit v6."""
    post = copy.deepcopy(changes[3]["fullDocument"])
    post.update(status="in_transit", version=6, previousStatus="picked_up",
                updatedAt="2025-11-26T01:40:00.090Z")
    picked = update(changes[3], "82-picked-up", {
        "status": "picked_up", "previousStatus": "driver_assigned", "version": 5,
        "updatedAt": "2025-11-26T01:40:00.010Z",
        "statusHistory.4": {"status": "picked_up", "at": "2025-11-26T01:40:00.010Z", "by": "driver"}}, post)
    transit = update(changes[3], "82-in-transit", {
        "status": "in_transit", "previousStatus": "picked_up", "version": 6,
        "updatedAt": "2025-11-26T01:40:00.090Z",
        "statusHistory.5": {"status": "in_transit", "at": "2025-11-26T01:40:00.090Z", "by": "driver"}},
        copy.deepcopy(post))
    return picked, transit


def test_two_quick_updates_use_their_own_status_and_version(changes) -> None:
    ci = ChangeInterpreter()
    for c in changes[:4]:
        ci.interpret(c)
    picked, transit = _to_in_transit(changes)
    first = stamped(ci.interpret(picked))
    second = stamped(ci.interpret(transit))
    assert view(first) == STATUS_THREE("picked_up", 5)
    assert view(second) == STATUS_THREE("in_transit", 6)
    assert [o.payload.get("previousStatus") for o in first[:2]] == ["driver_assigned"] * 2
    assert [o.payload.get("previousStatus") for o in second[:2]] == ["picked_up"] * 2
    assert first[0].payload["updatedAt"] == "2025-11-26T01:40:00.010Z"


def _eta(lat: float, lng: float, to_lat: float, to_lng: float, kmh: float = 30.0) -> float:
    r = 6371.0
    p1, p2 = math.radians(lat), math.radians(to_lat)
    dp, dl = p2 - p1, math.radians(to_lng - lng)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * r * math.asin(math.sqrt(a)) / kmh * 3600


def test_location_report_gives_delivery_update_with_eta(changes) -> None:
    ci = ChangeInterpreter()
    for c in changes[:4]:
        ci.interpret(c)
    out = stamped(ci.interpret(changes[4]))
    assert view(out) == [("delivery_update", "location", frozenset({OWNERS, CUSTOMER_ROOM, DRIVER_ROOM}),
                          "driver_assigned", 5)]
    p = out[0].payload
    assert p["kind"] == "location" and p["driverId"] == DRIVER_ID
    assert p["location"] == {"lat": 48.8701, "lng": 2.3262}
    assert p["eta"] == pytest.approx(_eta(48.8701, 2.3262, 48.8686, 2.3314), abs=0.5)
    assert 0 < p["eta"] < 600


def test_dotted_location_paths_are_a_location_report(changes) -> None:
    ci = ChangeInterpreter()
    for c in changes[:5]:
        ci.interpret(c)
    post = copy.deepcopy(changes[4]["fullDocument"])
    post["driverLocation"].update(lat=48.8695, lng=2.3290)
    post["version"] = 6
    dotted = update(changes[4], "82-dotted", {
        "driverLocation.lat": 48.8695, "driverLocation.lng": 2.3290,
        "driverLocation.at": "2025-11-26T01:31:30.000Z", "version": 6,
        "updatedAt": "2025-11-26T01:31:30.000Z"}, post)
    out = stamped(ci.interpret(dotted))
    assert view(out) == [("delivery_update", "location", frozenset({OWNERS, CUSTOMER_ROOM, DRIVER_ROOM}),
                          "driver_assigned", 6)]
    assert out[0].payload["location"] == {"lat": 48.8695, "lng": 2.3290}
    assert out[0].payload["eta"] == pytest.approx(_eta(48.8695, 2.3290, 48.8686, 2.3314), abs=0.5)


def test_status_write_without_previous_status_uses_the_status_the_stream_last_showed(changes) -> None:
    """A script that sets only `status` (and bumps `version`): previousStatus is what the
    stream itself last said, never the post-image's."""
    ci = ChangeInterpreter()
    ci.interpret(changes[0])
    post = copy.deepcopy(changes[1]["fullDocument"])
    post.update(status="cancelled", previousStatus="processing", version=3)  # read late
    bare = update(changes[1], "82-bare", {"status": "processing", "version": 2}, post)
    out = stamped(ci.interpret(bare))
    assert view(out) == STATUS_TWO("processing", 2)
    assert [o.payload["previousStatus"] for o in out] == ["pending", "pending"]


def test_update_of_unrelated_fields_gives_nothing(changes) -> None:
    ci = ChangeInterpreter()
    for c in changes[:2]:
        ci.interpret(c)
    noise = update(changes[1], "82-noise", {"payment.last4": "1111", "notes": "ring twice"})
    assert ci.interpret(noise) == []
    # ... and does not disturb what comes next.
    out = stamped(ci.interpret(changes[2]))
    assert view(out) == STATUS_TWO("ready_for_delivery", 3)


def test_unseen_order_takes_only_unchanging_fields_from_the_post_image(changes) -> None:
    # An update of an order the interpreter has never seen (e.g. it started later).
    out = stamped(ChangeInterpreter().interpret(changes[1]))
    assert view(out) == STATUS_TWO("processing", 2)
    assert all(o.payload["customerId"] == CUSTOMER_ID for o in out)

    # The post-image shows a later state (driver_assigned v4, with a driver); the events are
    # still ready_for_delivery v3, routed as that status is (no driver yet).
    out = stamped(ChangeInterpreter().interpret(changes[2]))
    assert view(out) == STATUS_TWO("ready_for_delivery", 3)
    assert [o.payload["previousStatus"] for o in out] == ["processing"] * 2

    # orderType comes from the post-image too: a pickup order never gets delivery_update.
    pickup = copy.deepcopy(changes[3])
    pickup["fullDocument"].update(orderType="pickup", driverId=None, deliveryAddress=None)
    pickup["updateDescription"]["updatedFields"] = {
        "status": "delivered", "previousStatus": "ready_for_pickup", "version": 4,
        "updatedAt": "2025-11-26T01:50:00.000Z"}
    out = stamped(ChangeInterpreter().interpret(pickup))
    assert view(out) == STATUS_TWO("delivered", 4)


def test_unseen_order_without_post_image_is_skipped(changes) -> None:
    change = changes[1]
    change["fullDocument"] = None  # deleted before the lookup
    assert ChangeInterpreter().interpret(change) == []


def test_delete_gives_nothing(changes) -> None:
    ci = ChangeInterpreter()
    ci.interpret(changes[0])
    delete = {"_id": {"_data": "82-delete"}, "operationType": "delete",
              "clusterTime": changes[1]["clusterTime"], "wallTime": changes[1]["wallTime"],
              "ns": changes[0]["ns"], "documentKey": {"_id": ORDER_ID}}
    assert ci.interpret(delete) == []


def test_event_ids_are_unique_and_stable_for_a_replayed_change(changes) -> None:
    """A change read again (a resumed stream replays it) keeps its eventIds (section 6)."""
    def all_ids(ci: ChangeInterpreter) -> list[str]:
        return [o.payload["eventId"] for c in changes for o in ci.interpret(c)]
    first, again = all_ids(ChangeInterpreter()), all_ids(ChangeInterpreter())
    assert len(first) == 1 + 2 + 2 + 3 + 1
    assert len(set(first)) == len(first)
    assert first == again


# --- MongoStore's stream, on a fake collection serving the recorded documents ------------------

class _FakeStream:
    """What `await collection.watch(...)` returns in PyMongo's async API."""

    def __init__(self, docs: list[dict[str, Any]], fail_after: int | None) -> None:
        self._docs = docs
        self._fail_after = fail_after
        self._given = 0
        self.resume_token: dict[str, Any] | None = None

    async def next(self) -> dict[str, Any]:
        if self._fail_after is not None and self._given == self._fail_after:
            raise ConnectionFailure("primary stepped down (fake)")
        if not self._docs:
            await asyncio.Event().wait()  # a live stream: blocks until a change comes
        doc = self._docs.pop(0)
        self._given += 1
        self.resume_token = doc["_id"]
        return copy.deepcopy(doc)

    async def try_next(self) -> dict[str, Any] | None:
        return await self.next() if self._docs else None

    async def close(self) -> None:
        pass


class _FakeCollection:
    full_name = "orders_app.orders"

    def __init__(self, docs: list[dict[str, Any]], fail_after: int | None = None) -> None:
        self._docs = docs
        self._fail_after = fail_after
        self.watch_calls: list[dict[str, Any]] = []

    async def watch(self, pipeline: Any = None, full_document: Any = None,
                    resume_after: Any = None) -> _FakeStream:
        self.watch_calls.append({"pipeline": pipeline, "full_document": full_document,
                                 "resume_after": resume_after})
        start = 0
        if resume_after is not None:
            start = next(i for i, d in enumerate(self._docs) if d["_id"] == resume_after) + 1
        fail, self._fail_after = self._fail_after, None  # fail once
        return _FakeStream(list(self._docs[start:]), fail)


class _FakeDb:
    def __init__(self, orders: _FakeCollection) -> None:
        self._orders = orders

    def __getitem__(self, name: str) -> Any:
        return self._orders if name == "orders" else object()

    async def command(self, name: str) -> dict[str, Any]:
        return {"ok": 1, "setName": "rs0"} if name == "hello" else {"ok": 1}


class _FakeClient:
    def __init__(self, orders: _FakeCollection) -> None:
        self._db = _FakeDb(orders)

    def __getitem__(self, name: str) -> _FakeDb:
        return self._db

    async def close(self) -> None:
        pass


async def test_mongo_store_stream_resumed_midway_gives_each_event_once(recorded) -> None:
    orders = _FakeCollection(copy.deepcopy(recorded), fail_after=3)
    store = MongoStore("mongodb://fake/?replicaSet=rs0", client=_FakeClient(orders),
                       backoff_initial=0.0, backoff_max=0.0)
    stream = store.watch_orders()
    ci = ChangeInterpreter()
    out: list[Outgoing] = []
    for _ in recorded:
        out += ci.interpret(await asyncio.wait_for(anext(stream), 2))
    await store.close()

    # Inserts and updates (replace too), never deletes; post-images looked up.
    first = orders.watch_calls[0]
    assert first["full_document"] == "updateLookup" and first["resume_after"] is None
    [stage] = first["pipeline"]
    assert set(stage["$match"]["operationType"]["$in"]) == {"insert", "update", "replace"}
    # One reopen, after the third change, from its token.
    assert [c["resume_after"] for c in orders.watch_calls[1:]] == [recorded[2]["_id"]]
    assert [(e, v) for e, _, _, _, v in view(out)] == [
        ("newOrder", 1), ("orderStatusUpdated", 2), ("customer_order_update", 2),
        ("orderStatusUpdated", 3), ("customer_order_update", 3),
        ("orderStatusUpdated", 4), ("customer_order_update", 4), ("delivery_update", 4),
        ("delivery_update", 5)]
    assert len({o.payload["eventId"] for o in out}) == len(out)
    stamped(out)


def test_every_table_of_events_lists_the_same_events() -> None:
    """Issue 12: an event is named once (the contract's `Event`) and every table keyed by it
    lists them all: who receives it (`ROUTES`), its payload schema (`EVENT_PAYLOADS`), the
    default contract file's rules, the changes that produce it, and the server's own payload
    fields (`PAYLOAD_FIELDS`). The server used to send any event it did not know as a
    `delivery_update`, in the last `else` of its payload builder."""
    from harness.contract import ROUTES, ChangeKind, Event, OrderChange, OrderType, Status
    from harness.contract.reference_file import default
    from harness.contract.routing import events_of
    from harness.contract.schemas import EVENT_PAYLOADS
    from reference_server.change_events import PAYLOAD_FIELDS

    events = set(Event)
    assert set(ROUTES) == events and set(EVENT_PAYLOADS) == events and set(PAYLOAD_FIELDS) == events
    assert {rule.name for rule in default().events.values()} == {e.value for e in events}
    produced = {event for kind in ChangeKind for status in Status for order_type in OrderType
                for event, _ in events_of(OrderChange(kind=kind, order_id="o", customer_id="c",
                                                      order_type=order_type, status=status.value,
                                                      driver_id="d"))}
    assert produced == events
