"""What one socket judges alone, against servers that follow the contract's prose but not our
reference server's choices where the prose is silent."""

from __future__ import annotations

from typing import Any

from harness.contract import DeliveryKind, Event, Role, Status, event_problem, stated_problem
from harness.ledger import CountsByEvent, SocketLedger


def status_update(**over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"eventId": "e1", "orderId": "o1", "customerId": "c1",
                            "status": Status.PROCESSING.value, "previousStatus": Status.PENDING.value,
                            "version": 2, "emittedAt": 1, "updatedAt": "2026-01-01T00:00:00.000Z"}
    body.update(over)
    return body


def location(version: int | None, lat: float = 52.5, lng: float = 13.4, event_id: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"orderId": "o1", "customerId": "c1", "status": Status.IN_TRANSIT.value,
                            "driverId": "d1", "kind": DeliveryKind.LOCATION.value,
                            "location": {"lat": lat, "lng": lng}, "eta": None, "emittedAt": 1}
    if version is not None:
        body["version"] = version
    if event_id is not None:
        body["eventId"] = event_id
    return body


def test_epoch_ms_timestamps_are_no_fault_in_a_load_run() -> None:
    """The reference server sends ISO 8601 (its own choice); the prose says no more than
    `updatedAt`, so the ledger judges as the conformance checks do (issue 8, item 5)."""
    epoch = status_update(updatedAt=1_795_000_000_000)
    assert event_problem(Event.ORDER_STATUS_UPDATED, epoch) is not None  # ours: ISO only
    assert stated_problem(Event.ORDER_STATUS_UPDATED, epoch) is None
    counts = CountsByEvent()
    judged = SocketLedger("s1", Role.CUSTOMER, "c1", counts).receive(
        Event.ORDER_STATUS_UPDATED, epoch, 1.0)
    assert judged.invalid is None and counts[Event.ORDER_STATUS_UPDATED].invalid == 0


def test_what_the_prose_states_still_holds() -> None:
    assert "legacy status 'new'" in stated_problem(Event.ORDER_STATUS_UPDATED, status_update(status="new"))
    assert stated_problem(Event.ORDER_STATUS_UPDATED, status_update(updatedAt="a while ago"))
    assert stated_problem(Event.ORDER_STATUS_UPDATED, status_update(version="2"))


def test_a_driver_reporting_the_same_place_twice_is_two_changes() -> None:
    """Bug (found against the Node.js peer): location reports were keyed by coordinates alone,
    so a parked driver's second report at the same place counted as a duplicate."""
    counts = CountsByEvent()
    sock = SocketLedger("s1", Role.STORE_OWNER, "so1", counts)
    first = sock.receive(Event.DELIVERY_UPDATE, location(7), 1.0)
    second = sock.receive(Event.DELIVERY_UPDATE, location(8), 2.0)
    assert first.receipt is not None and second.receipt is not None
    assert not second.duplicate and counts[Event.DELIVERY_UPDATE].duplicate == 0
    again = sock.receive(Event.DELIVERY_UPDATE, location(8), 3.0)
    assert again.duplicate and counts[Event.DELIVERY_UPDATE].duplicate == 1


def test_without_a_version_the_coordinates_still_tell_a_copy() -> None:
    counts = CountsByEvent()
    sock = SocketLedger("s1", Role.STORE_OWNER, "so1", counts)
    assert sock.receive(Event.DELIVERY_UPDATE, location(None, lat=1.0), 1.0).receipt is not None
    assert sock.receive(Event.DELIVERY_UPDATE, location(None, lat=1.0), 2.0).duplicate
    assert sock.receive(Event.DELIVERY_UPDATE, location(None, lat=2.0), 3.0).receipt is not None
