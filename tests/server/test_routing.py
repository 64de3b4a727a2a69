"""Who receives which event, end to end, on the real reference server (contract sections 6, 8).

The expectation comes from the hand-written tables in `tests.support.event_ledger` (the
contract's prose applied step by step), never from `harness.contract.emissions_for`.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import pytest

from harness.api import HttpError
from harness.contract import OrderType, event_problem
from reference_server.orders import iso_now
from tests.support.actors import World
from tests.support.event_ledger import (
    CUSTOMER_UPDATE,
    DELIVERY_STEPS,
    DELIVERY_UPDATE,
    NEW_ORDER,
    PICKUP_STEPS,
    STATUS_UPDATED,
    STEPS,
    check_event_ids,
    check_payloads,
    check_version_order,
    diff_keys,
    for_orders,
    key_of,
    make_cast,
    received_keys,
    run_lifecycle,
    settle,
)

QUIET_S = 0.3


@pytest.mark.parametrize("order_type", [OrderType.DELIVERY, OrderType.PICKUP])
async def test_lifecycle_reaches_exactly_the_routed_sockets(server, order_type: OrderType) -> None:
    async with World(server.url) as w:
        cast = await make_cast(w, owners=2)
        steps = STEPS[order_type]
        run = await run_lifecycle(w, cast, order_type, lambda oid: cast.expected(steps, oid))
        await asyncio.sleep(QUIET_S)
        oid = run.order_id

        want = cast.expected(steps, oid)
        assert diff_keys(received_keys(cast, [oid]), want) == []
        # The bystanders get nothing at all, about this order or any other.
        assert cast.sockets["other_customer"].received == []
        assert cast.sockets["other_driver"].received == []
        assert check_event_ids(cast, [oid]) == []
        assert check_payloads(cast, run) == []
        assert check_version_order(cast, [oid]) == []

        # newOrder carries the checkout answer's order, as it was then.
        assert run.order["status"] == "pending" and run.order["version"] == 1
        new = [r for r in cast.sockets["owner1"].events(NEW_ORDER, oid)]
        assert len(new) == 1 and new[0].payload["order"] == run.order
        assert new[0].payload["order"]["id"] == oid
        # The final HTTP answer agrees with the last event's version.
        assert run.last["version"] == steps[-1].version
        assert run.last["status"] == "delivered"


def test_expectation_tables_follow_the_contract_prose() -> None:
    """Guard the hand-written tables themselves against slips (they are the oracle)."""
    for steps in (DELIVERY_STEPS, PICKUP_STEPS):
        assert [s.version for s in steps] == list(range(1, len(steps) + 1))
        for prev, step in zip(steps, steps[1:]):
            if step.action != "location":
                assert step.previous == prev.status
    # delivery_update only on delivery orders, only from driver_assigned on.
    assert not any(ev == DELIVERY_UPDATE for s in PICKUP_STEPS for ev, _ in s.routes)
    for s in DELIVERY_STEPS:
        has_du = any(ev == DELIVERY_UPDATE for ev, _ in s.routes)
        assert has_du == (s.version >= 4)
        drivers = any("driver" in aud for aud in s.routes.values())
        assert drivers == (s.version >= 4)


async def _advance_to_assigned(w: World, cast: Any) -> dict[str, Any]:
    order = await w.order(cast.customer, OrderType.DELIVERY)
    for status in ("processing", "ready_for_delivery"):
        order = await w.api.set_status(cast.owner.token, order["id"], status)
    return await w.api.assign_driver(cast.owner.token, order["id"], cast.driver.user_id)


async def _retrying_patch(w: World, token: str, order_id: str, status: str) -> dict[str, Any]:
    """A move that may lose races with the location burst: retry while the server says so."""
    for _ in range(20):
        try:
            return await w.api.set_status(token, order_id, status)
        except HttpError as exc:
            if exc.status != 409 or (exc.details or {}).get("currentStatus") == status:
                raise
            await asyncio.sleep(0.005)
    raise AssertionError(f"could not move {order_id} to {status}")


async def test_burst_of_locations_and_moves_keeps_version_order(server) -> None:
    async with World(server.url) as w:
        cast = await make_cast(w, owners=1)
        order = await _advance_to_assigned(w, cast)
        oid = order["id"]
        assert order["version"] == 4
        assert await cast.sockets["driver"].wait_for(
            lambda rs: any(key_of(r)[1:3] == (oid, 4) for r in rs), timeout=5)
        driver_sock = cast.sockets["driver"]

        async def locate(i: int) -> Any:
            return await driver_sock.call("driver_location",
                                          {"orderId": oid, "lat": 52.5 + i / 1000, "lng": 13.4 + i / 1000})

        async def moves() -> list[dict[str, Any]]:
            first = await _retrying_patch(w, cast.driver.token, oid, "picked_up")
            second = await _retrying_patch(w, cast.driver.token, oid, "in_transit")
            return [first, second]

        *acks, moved = await asyncio.gather(*[locate(i) for i in range(20)], moves())
        ok = sum(1 for a in acks if a == {"ok": True})
        assert all(a.get("ok") is True or isinstance(a.get("error"), str) for a in acks), acks
        assert ok >= 10, f"most location reports should get through: {acks}"
        final = await w.api.order(cast.owner.token, oid)
        last_version = final["version"]
        assert last_version == 4 + ok + 2
        status_versions = sorted(m["version"] for m in moved)
        all_versions = list(range(5, last_version + 1))

        want_du = {v: ("status" if v in status_versions else "location") for v in all_versions}
        full = {"customer": {STATUS_UPDATED: status_versions, CUSTOMER_UPDATE: status_versions,
                             DELIVERY_UPDATE: all_versions},
                "owner1": {STATUS_UPDATED: status_versions, DELIVERY_UPDATE: all_versions},
                "driver": {STATUS_UPDATED: status_versions, DELIVERY_UPDATE: all_versions}}

        def complete(name: str):
            def pred(rs: list) -> bool:
                got = [r for r in rs if key_of(r)[1] == oid and key_of(r)[2] >= 5]
                return len(got) >= sum(len(v) for v in full[name].values())
            return pred
        await asyncio.gather(*[cast.sockets[n].wait_for(complete(n), timeout=10) for n in full])
        await asyncio.sleep(QUIET_S)

        for name, per_event in full.items():
            got = [r for r in for_orders(cast.sockets[name], [oid]) if r.payload["version"] >= 5]
            seq = [r.payload["version"] for r in got]
            # Strictly increasing across the socket's whole stream for this order, except that
            # one status change produces several events with the same version, back to back.
            assert seq == sorted(seq), f"{name}: versions out of order: {seq}"
            assert sorted(set(seq)) == all_versions, f"{name}: gaps in {seq}"
            for event, versions in per_event.items():
                mine = [r.payload["version"] for r in got if r.event == event]
                assert mine == versions, f"{name} {event}: {mine} != {versions}"
            assert {r.event for r in got} == set(per_event)
            for r in got:
                assert event_problem(r.event, r.payload) is None
                if r.event == DELIVERY_UPDATE:
                    assert r.payload["kind"] == want_du[r.payload["version"]]
                    if r.payload["kind"] == "location":
                        assert r.payload["status"] in ("driver_assigned", "picked_up", "in_transit")
        assert check_event_ids(cast, [oid]) == []
        assert cast.sockets["other_customer"].received == []
        assert cast.sockets["other_driver"].received == []


def _direct_update(server, order_id: str, version: int, fields: dict[str, Any]) -> Any:
    store = server.server.store
    return server.call(lambda: store.orders.update_one(
        {"_id": order_id, "version": version},
        {"$set": {**fields, "updatedAt": iso_now()}, "$inc": {"version": 1}}))


async def test_direct_collection_writes_are_pushed_like_api_changes(server) -> None:
    async with World(server.url) as w:
        cast = await make_cast(w, owners=1)
        api_order = await w.order(cast.customer, OrderType.DELIVERY)
        raw_order = await w.order(cast.customer, OrderType.DELIVERY)
        ids = [api_order["id"], raw_order["id"]]
        expected = {oid: cast.expected(DELIVERY_STEPS[:4], oid) for oid in ids}
        for oid in ids:
            await settle(cast, oid, expected[oid], {1})

        # One order moves through the API, its twin by writes straight to the collection.
        moves = [("processing", "pending", {}), ("ready_for_delivery", "processing", {}),
                 ("driver_assigned", "ready_for_delivery", {"driverId": cast.driver.user_id})]
        for version, (status, previous, extra) in enumerate(moves, start=1):
            if status == "driver_assigned":
                await w.api.assign_driver(cast.owner.token, api_order["id"], cast.driver.user_id)
            else:
                await w.api.set_status(cast.owner.token, api_order["id"], status)
            result = await asyncio.to_thread(
                _direct_update, server, raw_order["id"], version,
                {"status": status, "previousStatus": previous, **extra})
            assert result.modified_count == 1
            for oid in ids:
                await settle(cast, oid, expected[oid], {version + 1})
        await asyncio.sleep(QUIET_S)

        got = received_keys(cast, ids)
        want = {name: expected[ids[0]][name] + expected[ids[1]][name] for name in cast.sockets}
        assert diff_keys(got, want) == []
        assert cast.sockets["other_customer"].received == []
        assert cast.sockets["other_driver"].received == []
        assert check_event_ids(cast, ids) == []
        assert check_version_order(cast, ids) == []

        # Same events, same fields, same values (but ids and times) as the API's.
        def shape(name: str, oid: str) -> list[tuple]:
            out = []
            for r in for_orders(cast.sockets[name], [oid]):
                p = r.payload
                if r.event == NEW_ORDER:
                    continue
                assert event_problem(r.event, p) is None
                out.append((r.event, p["version"], p["status"], p.get("previousStatus"), p.get("kind"),
                            p.get("driverId"), p["customerId"], tuple(sorted(p))))
            return sorted(out)
        for name in ("customer", "owner1", "driver"):
            assert shape(name, raw_order["id"]) == shape(name, api_order["id"]), name


async def test_direct_insert_produces_new_order(server) -> None:
    async with World(server.url) as w:
        cast = await make_cast(w, owners=1)
        template = await w.order(cast.customer, OrderType.PICKUP)
        now = iso_now()
        doc = {k: v for k, v in template.items() if k != "id"}
        doc.update(_id=f"direct-{template['id']}", orderNumber="ORD-DIRECT", status="pending", version=1,
                   statusHistory=[{"status": "pending", "at": now}], createdAt=now, updatedAt=now)
        await asyncio.to_thread(server.call, lambda: server.server.store.orders.insert_one(dict(doc)))
        oid = doc["_id"]
        owner = cast.sockets["owner1"]
        assert await owner.wait_for(lambda rs: any(key_of(r) == (NEW_ORDER, oid, 1, None) for r in rs), 5)
        await asyncio.sleep(QUIET_S)
        got = received_keys(cast, [oid])
        assert diff_keys(got, cast.expected(PICKUP_STEPS[:1], oid)) == []
        [event] = owner.events(NEW_ORDER, oid)
        assert event_problem(NEW_ORDER, event.payload) is None
        expected_order = {"id": oid, **{k: v for k, v in doc.items() if k != "_id"}}
        assert event.payload["order"] == expected_order
        assert event.payload["customerId"] == cast.customer.user_id
        assert (event.payload["status"], event.payload["version"]) == ("pending", 1)
        assert cast.sockets["customer"].events(order_id=oid) == []
        assert cast.sockets["other_customer"].received == []
        assert cast.sockets["other_driver"].received == []
        assert Counter(r.event for r in cast.sockets["driver"].received) == Counter()
