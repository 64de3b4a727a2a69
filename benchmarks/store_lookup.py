"""Lookup cost vs collection size: plain mongomock-motor against EmbeddedStore.

mongomock answers every query by scanning the whole collection on the event loop; the
EmbeddedStore answers `_id` and indexed-field equalities from its indexes, so its cost
should stay flat from 1k to 20k orders. Each customer owns 10 orders at every size, so
`find({"customerId": c})` returns the same amount of data throughout. The last row is the
domain's write path (`find_one_and_update` by `_id`, the change feed capturing it); the
listing row (whole collection, sorted, one page) stays linear in both, by nature, and is
timed on fewer samples.

    .venv/bin/python benchmarks/store_lookup.py [--sizes 1000 5000 20000] [--samples 200]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import random
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta, timezone
from typing import Any

from mongomock_motor import AsyncMongoMockClient
from pymongo import ASCENDING, DESCENDING, ReturnDocument

from reference_server.store import EmbeddedStore

ORDERS_PER_CUSTOMER = 10
EPOCH = datetime(2025, 1, 1, tzinfo=timezone.utc)


def make_orders(n: int) -> list[dict[str, Any]]:
    rng = random.Random(n)
    customers = [uuid.UUID(int=rng.getrandbits(128)).hex for _ in range(max(1, n // ORDERS_PER_CUSTOMER))]
    orders = []
    for i in range(n):
        order_id = uuid.UUID(int=rng.getrandbits(128)).hex
        created = (EPOCH + timedelta(seconds=i)).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        orders.append({
            "_id": order_id, "orderNumber": f"ORD-{order_id[:8].upper()}",
            "customerId": customers[i % len(customers)], "storeId": "store-1", "orderType": "delivery",
            "items": [{"productId": "p1", "name": "Pizza", "quantity": 2, "unitPrice": 9.5}],
            "total": 19.0, "status": "pending", "driverId": None,
            "deliveryAddress": {"street": "1 Main St", "city": "Paris", "postalCode": "75001"},
            "statusHistory": [{"status": "pending", "at": "2025-01-01T00:00:00.000Z"}],
            "version": 1, "createdAt": created, "updatedAt": created,
        })
    return orders


async def timed(op: Callable[[], Awaitable[Any]], samples: int) -> tuple[float, float]:
    """(mean, p99) in milliseconds."""
    durations = []
    for _ in range(samples):
        start = time.perf_counter()
        await op()
        durations.append((time.perf_counter() - start) * 1000)
    durations.sort()
    p99 = durations[min(len(durations) - 1, int(len(durations) * 0.99))]
    return statistics.fmean(durations), p99


async def measure(label: str, orders: Any, docs: list[dict[str, Any]], samples: int) -> list[str]:
    await orders.create_index([("customerId", ASCENDING)])
    await orders.create_index([("driverId", ASCENDING)])
    await orders.insert_many([dict(d) for d in docs])
    rng = random.Random(0)
    ids = [d["_id"] for d in docs]
    customers = sorted({d["customerId"] for d in docs})

    async def by_id() -> None:
        assert await orders.find_one({"_id": rng.choice(ids)}) is not None

    async def by_customer() -> None:
        found = await orders.find({"customerId": rng.choice(customers)}).to_list(None)
        assert len(found) == ORDERS_PER_CUSTOMER

    async def move() -> None:  # the domain's write path: conditional update, post-image back
        await orders.find_one_and_update(
            {"_id": rng.choice(ids)}, {"$set": {"status": "processing"}, "$inc": {"version": 1},
                                       "$push": {"statusHistory": {"status": "processing", "at": "t"}}},
            return_document=ReturnDocument.AFTER)

    async def admin_page() -> None:  # a store owner's listing: whole collection, sorted, one page
        page = await orders.find({}).sort([("createdAt", DESCENDING), ("_id", DESCENDING)]).skip(20).limit(20)\
            .to_list(20)
        assert len(page) == 20

    rows = []
    for name, op, n in (("find_one({_id})", by_id, samples), ("find({customerId}).to_list", by_customer, samples),
                        ("find_one_and_update({_id})", move, samples),
                        ("find({}).sort.skip(20).limit(20)", admin_page, max(5, samples // 20))):
        gc.collect()  # start each row without the previous rows' garbage
        mean, p99 = await timed(op, n)
        rows.append(f"{label:<16} {len(docs):>7,} {name:<34} {mean:>10.3f} {p99:>10.3f}")
    return rows


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 5_000, 20_000])
    parser.add_argument("--samples", type=int, default=200, help="lookups timed per row")
    args = parser.parse_args()
    print(f"{'store':<16} {'orders':>7} {'operation':<34} {'mean ms':>10} {'p99 ms':>10}")
    for size in args.sizes:
        docs = make_orders(size)
        plain = AsyncMongoMockClient()["bench"]["orders"]
        for row in await measure("mongomock-motor", plain, docs, args.samples):
            print(row, flush=True)
        del plain
        store = EmbeddedStore("bench")
        for row in await measure("EmbeddedStore", store.orders, docs, args.samples):
            print(row, flush=True)
        await store.close()


if __name__ == "__main__":
    asyncio.run(main())
