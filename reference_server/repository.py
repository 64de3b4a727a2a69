"""Reads and writes of users and orders over the async collection API (any `Store`).

Every order write bumps `version` by exactly one and is conditional on the version it read
(optimistic concurrency), so two racing requests can never both move an order. Writers
store the facts the change feed needs in the same update (`previousStatus`, the status at
a location report): events are built from the change, never from a later lookup.
"""

from __future__ import annotations

from typing import Any

from pymongo import ASCENDING, DESCENDING, ReturnDocument
from pymongo.errors import DuplicateKeyError

from harness.contract import Role, Status

from .orders import iso_now, new_id
from .store import Store

Doc = dict[str, Any]


class EmailTaken(Exception):
    pass


class UserRepository:
    def __init__(self, store: Store) -> None:
        self._users = store.users

    async def setup(self) -> None:
        await self._users.create_index([("email", ASCENDING)], unique=True)
        await self._users.create_index([("role", ASCENDING)])

    async def create(self, *, name: str, email: str, role: Role, password_hash: str) -> Doc:
        doc = {"_id": new_id(), "name": name, "email": email.lower(), "role": role.value,
               "passwordHash": password_hash, "createdAt": iso_now()}
        try:
            await self._users.insert_one(doc)
        except DuplicateKeyError:
            raise EmailTaken(email) from None
        return doc

    async def by_email(self, email: str) -> Doc | None:
        return await self._users.find_one({"email": email.lower()})

    async def driver(self, user_id: str) -> Doc | None:
        return await self._users.find_one({"_id": user_id, "role": Role.DRIVER.value})

    async def drivers(self) -> list[Doc]:
        cursor = self._users.find({"role": Role.DRIVER.value}, {"name": 1})
        return await cursor.to_list(None)


class OrderRepository:
    def __init__(self, store: Store) -> None:
        self._orders = store.orders

    async def setup(self) -> None:
        await self._orders.create_index([("customerId", ASCENDING)])
        await self._orders.create_index([("driverId", ASCENDING)])
        await self._orders.create_index([("status", ASCENDING)])

    async def insert(self, doc: Doc) -> None:
        await self._orders.insert_one(doc)

    async def get(self, order_id: str) -> Doc | None:
        return await self._orders.find_one({"_id": order_id})

    async def page(self, query: Doc, page: int, limit: int) -> tuple[list[Doc], int]:
        total = await self._orders.count_documents(query)
        cursor = (self._orders.find(query)
                  .sort([("createdAt", DESCENDING), ("_id", DESCENDING)])
                  .skip((page - 1) * limit).limit(limit))
        return await cursor.to_list(limit), total

    async def move(self, order: Doc, target: Status, *, by: str, extra: Doc | None = None) -> Doc | None:
        """Set the status if the order is still at the version read; None if it moved since."""
        now = iso_now()
        return await self._orders.find_one_and_update(
            {"_id": order["_id"], "version": order["version"]},
            {"$set": {"status": target.value, "previousStatus": order["status"], "updatedAt": now,
                      **(extra or {})},
             "$inc": {"version": 1},
             "$push": {"statusHistory": {"status": target.value, "at": now, "by": by}}},
            return_document=ReturnDocument.AFTER,
        )

    async def report_location(self, order: Doc, lat: float, lng: float) -> Doc | None:
        """Store the driver's latest location as a change of the order (it bumps `version`).

        The status at the time of the report goes into the same update so that the change
        feed can stamp the event with it without looking the order up again.
        """
        now = iso_now()
        return await self._orders.find_one_and_update(
            {"_id": order["_id"], "version": order["version"]},
            {"$set": {"driverLocation": {"lat": lat, "lng": lng, "at": now, "status": order["status"]},
                      "updatedAt": now},
             "$inc": {"version": 1}},
            return_document=ReturnDocument.AFTER,
        )
