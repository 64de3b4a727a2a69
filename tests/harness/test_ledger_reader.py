"""The ledger read by a contract file (harness/ledger/reader.py), and its honest degrading where
the target's events carry no event id, version or emission time (issue 10, item 3)."""

from __future__ import annotations

from harness.contract import ChangeKind, Event, Role
from harness.contract.reference_file import text
from harness.contract.teamfile import loads
from harness.ledger import CountsByEvent, Reconciler, SocketLedger
from harness.ledger.expect import change_record
from harness.ledger.reader import Reader, reference_reader
from harness.ledger.records import Presence, key_of, location_key, status_key, version_key

#: A team's file: ids at `_id`, the whole order as every event's payload, and no event id,
#: version or emission time anywhere.
TEAM = (text()
        .replace('event_id = "eventId"\n', "").replace('version = "version"\n', "")
        .replace('emitted_at = "emittedAt"\n', "")
        .replace('order_id = "orderId"', 'order_id = "_id"')
        .replace('[order]\nid = "id"', '[order]\nid = "_id"'))


def _team() -> Reader:
    return Reader(loads(TEAM, source="team.toml"))


def _order(status: str, **extra: object) -> dict[str, object]:
    return {"_id": "o1", "customerId": "c1", "orderType": "delivery", "status": status,
            "driverId": None, **extra}


def test_our_contract_keys_by_version_and_a_team_without_versions_by_status() -> None:
    ours, team = reference_reader(), _team()
    assert ours.by_version and not team.by_version
    payload = {"orderId": "o1", "status": "processing", "version": 2, "customerId": "c1"}
    assert key_of(Event.ORDER_STATUS_UPDATED, payload) == version_key("o1", 2)
    facts = team.event(Event.ORDER_STATUS_UPDATED.value, _order("processing"))
    assert (facts.kind, facts.order_id, facts.status) == (Event.ORDER_STATUS_UPDATED, "o1", "processing")
    assert team.key(facts) == status_key("o1", "processing")
    # A change recorded from the HTTP answer has the same key as its events.
    record = change_record(_order("processing"), ChangeKind.STATUS, trigger_ms=1.0, process="p",
                           reader=team)
    assert record.key == status_key("o1", "processing")
    assert [event for event, _ in record.emissions] == [Event.ORDER_STATUS_UPDATED, Event.CUSTOMER_ORDER_UPDATE]
    # A location report is keyed by the coordinates the harness chose.
    located = team.event(Event.DELIVERY_UPDATE.value,
                         {**_order("in_transit"), "kind": "location", "location": {"lat": 1.5, "lng": 2.5}})
    assert team.key(located) == location_key("o1", 1.5, 2.5)


def test_without_event_ids_a_duplicate_is_the_same_event_order_and_status() -> None:
    counts = CountsByEvent()
    sock = SocketLedger("s1", Role.CUSTOMER, "c1", counts, reader=_team())
    name = Event.ORDER_STATUS_UPDATED.value
    first = sock.receive(name, _order("processing"), 1.0)
    again = sock.receive(name, _order("processing"), 2.0)
    later = sock.receive(name, _order("ready_for_delivery"), 3.0)
    assert first.receipt is not None and not first.duplicate and first.invalid is None
    assert again.duplicate and again.receipt is None
    assert later.receipt is not None and not later.duplicate
    assert counts[name].duplicate == 1


def test_without_versions_order_is_judged_by_place_in_the_status_flow() -> None:
    counts = CountsByEvent()
    sock = SocketLedger("s1", Role.CUSTOMER, "c1", counts, reader=_team())
    name = Event.ORDER_STATUS_UPDATED.value
    assert not sock.receive(name, _order("ready_for_delivery"), 1.0).out_of_order
    late = sock.receive(name, _order("processing"), 2.0)
    assert late.out_of_order and counts[name].out_of_order == 1


def test_a_team_payload_is_invalid_only_for_what_its_file_places() -> None:
    counts = CountsByEvent()
    sock = SocketLedger("s1", Role.STORE_OWNER, "so1", counts, reader=_team())
    ok = sock.receive(Event.NEW_ORDER.value, _order("pending", anything="else"), 1.0)
    assert ok.invalid is None  # no schema of ours is held against a team's payload
    missing = sock.receive(Event.NEW_ORDER.value, {"customerId": "c1", "status": "pending"}, 2.0)
    assert missing.invalid == "no order_id at '_id' (events.new_order.fields.order_id)"
    other = sock.receive("order:created", _order("pending"), 3.0)
    assert other.leak is not None and "not an event of the contract" in other.leak.reason


def test_another_customers_order_is_a_leak_by_the_files_customer_path() -> None:
    counts = CountsByEvent()
    sock = SocketLedger("s1", Role.CUSTOMER, "c2", counts, reader=_team())
    judged = sock.receive(Event.CUSTOMER_ORDER_UPDATE.value, _order("processing"), 1.0)
    assert judged.leak is not None and judged.leak.reason == "another customer's order"
    assert judged.leak.meant_for == "customer_c1"


def test_the_books_match_a_team_servers_events_by_status() -> None:
    team = _team()
    rec = Reconciler(timeout_ms=5000)
    owner, customer = "p/1", "p/2"
    rec.add_presence([Presence(owner, ("store-owners",), 0.0, None),
                      Presence(customer, ("customer_c1",), 0.0, None)])
    rec.add_changes([change_record(_order("processing"), ChangeKind.STATUS, trigger_ms=1000.0,
                                   process="p", reader=team)])
    counts = CountsByEvent()
    ledgers = {owner: SocketLedger(owner, Role.STORE_OWNER, "so1", counts, reader=team),
               customer: SocketLedger(customer, Role.CUSTOMER, "c1", counts, reader=team)}
    receipts = [ledgers[owner].receive(Event.ORDER_STATUS_UPDATED.value, _order("processing"), 1010.0),
                ledgers[customer].receive(Event.ORDER_STATUS_UPDATED.value, _order("processing"), 1011.0)]
    rec.add_receipts(j.receipt for j in receipts if j.receipt is not None)
    rec.finish()
    osu, cou = rec.counts[Event.ORDER_STATUS_UPDATED], rec.counts[Event.CUSTOMER_ORDER_UPDATE]
    assert (osu.expected, osu.delivered, osu.missing, osu.leaked) == (2, 2, 0, 0)
    assert (cou.expected, cou.delivered, cou.missing) == (1, 0, 1)  # never received: missing


def test_a_new_orders_event_keyed_by_status_is_explained_by_an_unanswered_checkout() -> None:
    """Without versions a new order's events are keyed (order, first status): an order placed
    whose answer never came explains them as it does the version-1 events of ours."""
    from harness.ledger.records import Receipt, Unanswered

    rec = Reconciler(timeout_ms=5000, first_status="pending")
    rec.add_presence([Presence("p/1", ("store-owners",), 0.0, None)])
    rec.add_unanswered([Unanswered(None, 1000.0, "p")])
    rec.add_receipts([Receipt("p/1", Event.NEW_ORDER.value, status_key("o7", "pending"), 1010.0),
                      Receipt("p/1", Event.ORDER_STATUS_UPDATED.value, status_key("o7", "processing"), 1020.0)])
    rec.finish()
    assert rec.unanswered_events == 1 and rec.foreign == 1
