"""The records a process queues for the books are handed over once each, and counted.

The run's totals (report.json `processes`) are checked against these counts in the load
runs; here, without Locust, that `take` neither loses nor repeats a record and that a
change is counted by its first event.
"""

from __future__ import annotations

from harness.ledger import (CatchUp, ChangeRecord, Presence, Receipt, Unanswered,
                            version_key)
from harness.ledger.records import Key
from harness.load.in_flight import Awaiting
from harness.load.outbox import Outbox


class Offer:
    def to_wire(self) -> list[str]:
        return ["store_owner", "p/1", "token"]


def _change(order: str, events: tuple[str, ...]) -> ChangeRecord:
    emissions = tuple((event, ("store-owners",)) for event in events)
    return ChangeRecord(version_key(order, 1), order, emissions, 100.0, "p")


def _receipt(event: str, key: Key) -> Receipt:
    return Receipt("p/1", event, key, 120.0)


def test_take_hands_over_each_record_once_in_wire_form() -> None:
    box = Outbox()
    box.changes.append(_change("o1", ("newOrder", "customer_order_update")))
    box.receipts.append(_receipt("newOrder", version_key("o1", 1)))
    box.presence.append(Presence("p/1", ("store-owners",), 90.0))
    box.catchups.append(CatchUp("p/1", "o1", 1, 130.0))
    box.unanswered.append(Unanswered("o2", 110.0, "p"))
    box.offers.append(Offer())
    first = box.take()
    assert {name: len(wires) for name, wires in first.items()} == {
        "changes": 1, "receipts": 1, "presence": 1, "catchups": 1, "unanswered": 1, "witness": 1}
    assert ChangeRecord.from_wire(first["changes"][0]).order_id == "o1"
    assert Presence.from_wire(first["presence"][0]) == Presence("p/1", ("store-owners",), 90.0)
    assert first["witness"] == [["store_owner", "p/1", "token"]]
    assert all(wires == [] for wires in box.take().values())  # nothing twice


def test_what_was_taken_is_counted_by_first_event_and_by_receipt() -> None:
    box = Outbox()
    box.changes += [_change("o1", ("newOrder", "customer_order_update")), _change("o2", ())]
    box.receipts += [_receipt("newOrder", version_key("o1", 1)),
                     _receipt("newOrder", version_key("o1", 1))]
    box.take()
    box.changes.append(_change("o3", ("newOrder",)))
    box.receipts.append(_receipt("customer_order_update", version_key("o1", 1)))
    assert box.taken == {"changes": {"newOrder": 1, "none": 1}, "receipts": {"newOrder": 2}}
    box.take()
    assert box.taken == {"changes": {"newOrder": 2, "none": 1},
                         "receipts": {"newOrder": 2, "customer_order_update": 1}}


def test_what_is_queued_after_a_take_is_handed_over_next_time() -> None:
    """Bug (found by tests/load/test_slow_server.py while splitting this out of the run
    context): the run's Awaiting queues unanswered changes through the box's list, which
    `take` used to replace with a new one; every change unanswered after the first take was
    lost, and its events called leaks."""
    box = Outbox()
    awaiting = Awaiting("p", box.unanswered.append)
    box.take()
    awaiting.answer_came(awaiting.change_sent("o1", 10.0), answered=False)
    box.receipts.append(_receipt("newOrder", version_key("o1", 1)))
    taken = box.take()
    assert taken["unanswered"] == [Unanswered("o1", 10.0, "p").to_wire()]
    assert len(taken["receipts"]) == 1
