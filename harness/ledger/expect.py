"""From what a user saw after causing a change to the record of what the change must send."""

from __future__ import annotations

from typing import Any

from ..contract import ChangeKind, OrderChange, OrderType, emissions_for
from .records import ChangeRecord, location_key, version_key


def change_record(order: dict[str, Any], kind: ChangeKind, *, trigger_ms: float, process: str,
                  location: tuple[float, float] | None = None,
                  uncertain: bool = False, answered_ms: float | None = None) -> ChangeRecord:
    """The record of one change, from the order as the server answered it.

    `order` is the order after the change (an HTTP answer), or as last known for a location
    report, whose ack carries no version: that one is keyed by `location` instead.
    """
    change = OrderChange(kind=kind, order_id=order["id"], customer_id=order["customerId"],
                         order_type=OrderType(order["orderType"]), status=order["status"],
                         driver_id=order.get("driverId"))
    if kind is ChangeKind.LOCATION:
        if location is None:
            raise ValueError("a location change needs the reported location")
        key = location_key(order["id"], *location)
    else:
        key = version_key(order["id"], int(order["version"]))
    emissions = tuple((e.event.value, e.rooms) for e in emissions_for(change))
    return ChangeRecord(key, order["id"], emissions, trigger_ms, process, uncertain, answered_ms)
