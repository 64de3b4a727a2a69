"""Writes that bypass the API are pushed too (section 6): with `--mongo-url`, the check
writes an order straight into the target's `orders` collection, moves it once, and waits
for the events; the document it wrote is deleted at the end. Without it: SKIP."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from ...contract import DEFAULT_STORE_ID, FIRST_VERSION, Event, OrderType, Role, Status
from ..model import CheckSkipped, expect
from ..registry import check
from ..scene import party, wait_until
from ..target import Target

COLLECTION = "orders"


def order_document(target: Target, customer_id: str) -> dict[str, Any]:
    """A new order as the contract shapes it (section 4), marked with the run prefix."""
    now = datetime.now(UTC)
    body = target.checkout_body(OrderType.PICKUP)
    items = body["items"]
    total = round(sum(i["quantity"] * i["unitPrice"] for i in items), 2)
    return {"orderNumber": target.name("bypass"), "customerId": customer_id,
            "storeId": DEFAULT_STORE_ID, "orderType": OrderType.PICKUP.value, "items": items,
            "total": total, "status": Status.PENDING.value, "driverId": None,
            "deliveryAddress": None, "statusHistory": [{"status": Status.PENDING.value, "at": now}],
            "version": FIRST_VERSION, "createdAt": now, "updatedAt": now}


def status_update(status: Status, previous: Status, version: int) -> dict[str, Any]:
    """The update a writer makes: the new status, `previousStatus` in the same update."""
    now = datetime.now(UTC)
    return {"$set": {"status": status.value, "previousStatus": previous.value,
                     "version": version, "updatedAt": now},
            "$push": {"statusHistory": {"status": status.value, "at": now}}}


@check("bypass.pushed", "6",
       "an order written straight into the database, and its status change, are pushed")
async def pushed(target: Target) -> str:
    if not target.config.mongo_url:
        raise CheckSkipped("needs --mongo-url (the target's MongoDB) to write around the API")
    from pymongo import AsyncMongoClient  # noqa: PLC0415  (only this check needs the driver loaded)

    client: Any = AsyncMongoClient(target.config.mongo_url, serverSelectionTimeoutMS=5000)
    try:
        try:
            db = client.get_default_database()
        except Exception:  # noqa: BLE001  (pymongo's error for a URL without a database varies)
            raise CheckSkipped("--mongo-url names no database (mongodb://host/DATABASE)") from None
        owner = await party(target, Role.STORE_OWNER, "owner")
        customer = await party(target, Role.CUSTOMER, "bypass-customer")
        doc = order_document(target, customer.session.user_id)
        inserted = await db[COLLECTION].insert_one(doc)
        try:
            def about(p: Any, event: Event) -> list[Any]:
                return [r.payload for r in p.client.events(event.value)
                        if isinstance(r.payload, dict)
                        and r.payload.get("customerId") == customer.session.user_id]

            await wait_until(lambda: bool(about(owner, Event.NEW_ORDER)), target.config.event_timeout_s)
            expect(bool(about(owner, Event.NEW_ORDER)), "an order inserted into the database "
                   "was not pushed as newOrder", sent={"insert": doc["orderNumber"]},
                   expected="newOrder at store-owners", got=[r.event for r in owner.client.received])
            await db[COLLECTION].update_one({"_id": inserted.inserted_id},
                                            status_update(Status.PROCESSING, Status.PENDING, 2))
            await wait_until(lambda: bool(about(customer, Event.ORDER_STATUS_UPDATED)),
                             target.config.event_timeout_s)
            moved = about(customer, Event.ORDER_STATUS_UPDATED)
            expect(bool(moved) and moved[0].get("status") == Status.PROCESSING.value,
                   "a status change written into the database was not pushed",
                   expected="orderStatusUpdated to processing at the customer", got=moved)
        finally:
            await db[COLLECTION].delete_one({"_id": inserted.inserted_id})
    finally:
        await client.close()
    return "an inserted order and its status change, written around the API, were pushed"
