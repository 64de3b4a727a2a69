"""The post-image ("updateLookup") may show later changes: routing must not follow it.

Found by benchmarks/server_throughput.py: drivers received `orderStatusUpdated` for
`processing` and `ready_for_delivery`, because the post-image of those updates, looked up
after the driver was assigned, already carried `driverId`.
"""

from __future__ import annotations

from typing import Any

from harness.contract import Event, Status, driver_room
from reference_server.change_events import ChangeInterpreter


def _insert(order_id: str) -> dict[str, Any]:
    return {
        "_id": {"_data": "01"}, "operationType": "insert", "documentKey": {"_id": order_id},
        "fullDocument": {"_id": order_id, "customerId": "c1", "orderType": "delivery",
                         "status": "pending", "version": 1, "driverId": None, "items": [],
                         "deliveryAddress": None, "statusHistory": []},
    }


def _update(order_id: str, token: str, fields: dict[str, Any], post: dict[str, Any] | None) -> dict[str, Any]:
    change: dict[str, Any] = {
        "_id": {"_data": token}, "operationType": "update", "documentKey": {"_id": order_id},
        "updateDescription": {"updatedFields": fields, "removedFields": [], "truncatedArrays": []},
    }
    if post is not None:
        change["fullDocument"] = post
    return change


LATER = {"_id": "o1", "customerId": "c1", "orderType": "delivery", "status": "driver_assigned",
         "version": 4, "driverId": "d1", "deliveryAddress": None}


def _rooms(outgoing: list[Any], event: Event) -> tuple[str, ...]:
    return next(o.emission.rooms for o in outgoing if o.emission.event is event)


def test_driver_room_not_taken_from_a_later_post_image() -> None:
    interp = ChangeInterpreter()
    interp.interpret(_insert("o1"))
    out = interp.interpret(_update("o1", "02", {"status": "processing", "previousStatus": "pending",
                                                "version": 2}, LATER))
    assert driver_room("d1") not in _rooms(out, Event.ORDER_STATUS_UPDATED)
    out = interp.interpret(_update("o1", "03", {"status": "ready_for_delivery",
                                                "previousStatus": "processing", "version": 3}, LATER))
    assert driver_room("d1") not in _rooms(out, Event.ORDER_STATUS_UPDATED)
    out = interp.interpret(_update("o1", "04", {"status": "driver_assigned", "driverId": "d1",
                                                "previousStatus": "ready_for_delivery", "version": 4},
                                   LATER))
    assert driver_room("d1") in _rooms(out, Event.ORDER_STATUS_UPDATED)


def test_unseen_order_uses_post_image_driver_only_once_a_driver_must_be_assigned() -> None:
    interp = ChangeInterpreter()  # the stream started after the order was created
    out = interp.interpret(_update("o1", "02", {"status": "processing", "previousStatus": "pending",
                                                "version": 2}, LATER))
    assert driver_room("d1") not in _rooms(out, Event.ORDER_STATUS_UPDATED)
    interp = ChangeInterpreter()
    later = {**LATER, "status": Status.IN_TRANSIT.value, "version": 6}
    out = interp.interpret(_update("o1", "05", {"status": "picked_up", "previousStatus": "driver_assigned",
                                                "version": 5}, later))
    assert driver_room("d1") in _rooms(out, Event.ORDER_STATUS_UPDATED)
    assert next(o.payload for o in out).get("status") == Status.PICKED_UP.value
