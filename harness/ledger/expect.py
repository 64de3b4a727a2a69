"""From what a user saw after causing a change to the record of what the change must send."""

from __future__ import annotations

from typing import Any

from ..contract import ChangeKind, OrderChange
from .reader import OrderFacts, Reader, reference_reader
from .records import ChangeRecord


def change_record(order: dict[str, Any] | OrderFacts, kind: ChangeKind, *, trigger_ms: float, process: str,
                  location: tuple[float, float] | None = None,
                  uncertain: bool = False, answered_ms: float | None = None,
                  reader: Reader | None = None) -> ChangeRecord:
    """The record of one change, from the order as the server answered it.

    `order` is the order after the change (an HTTP answer, or its facts as read already), or
    as last known for a location report, whose ack carries no version: that one is keyed by
    `location` instead. Read by the target's contract file (`reader`; ours by default).
    """
    reader = reader or reference_reader()
    facts = order if isinstance(order, OrderFacts) else reader.order(order)
    change = OrderChange(kind=kind, order_id=facts.id, customer_id=facts.customer_id,
                         order_type=facts.order_type, status=facts.status, driver_id=facts.driver_id)
    key = reader.change_key(facts, kind, location)
    return ChangeRecord(key, facts.id, reader.emissions(change), trigger_ms, process, uncertain,
                        answered_ms)
