"""Contract files (harness/contract/teamfile.py): ours is the default, rendered from the
contract's tables; a team's file is read with errors that name the file and the key."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from harness.contract import (
    BY_OPERATION,
    DELIVERY_UPDATE_STATUSES,
    ROUTES,
    TERMINAL_STATUSES,
    TRANSITIONS,
    ClientEvent,
    Event,
    Operation,
    OrderType,
    Role,
    Status,
    lifecycle,
)
from harness.errors import ContractFileError
from harness.contract.reference_file import default, text
from harness.contract.teamfile import at, fill, load, loads

ROOT = Path(__file__).resolve().parents[2]


def test_the_default_file_says_what_the_contract_tables_say() -> None:
    c = default()
    assert c.statuses == tuple(s.value for s in Status)
    assert c.terminal == {s.value for s in TERMINAL_STATUSES}
    assert [(t.source, t.target, t.action) for t in c.transitions] == [
        (t.source.value, t.target.value, "assign_driver" if t.via.value == "assign_driver"
         else "update_status") for t in TRANSITIONS]
    for kind in OrderType:
        assert [(t.source, t.target) for t in c.lifecycle(kind)] == [
            (t.source.value, t.target.value) for t in lifecycle(kind)]
    assert {e: r.name for e, r in c.events.items()} == {e: e.value for e in Event}
    assert {e: r.rooms for e, r in c.events.items()} == dict(ROUTES)
    assert c.events[Event.DELIVERY_UPDATE].statuses == {s.value for s in DELIVERY_UPDATE_STATUSES}
    for name, operation in (("checkout", Operation.CHECKOUT), ("update_status", Operation.UPDATE_STATUS),
                            ("assign_driver", Operation.ASSIGN_DRIVER), ("register", Operation.REGISTER)):
        ep = BY_OPERATION[operation]
        assert (c.actions[name].method, c.actions[name].path) == (ep.method, ep.path)
    assert c.location is not None and c.location.name == ClientEvent.DRIVER_LOCATION.value
    assert c.auth.roles == {r: r.value for r in Role}


def test_the_published_default_file_is_the_rendered_one_and_loads() -> None:
    path = ROOT / "docs" / "contract.toml"
    assert path.read_text(encoding="utf-8") == text(), "run `make docs` and commit the result"
    assert load(path).events == default().events


def test_templates_fill_values_whole_or_in_text_and_leave_out_what_is_missing() -> None:
    body = {"items": "{items}", "note": "order {order_id} please", "address": "{address}",
            "payment": {"method": "card", "card": "{card}"}}
    filled = fill(body, {"items": [{"q": 1}], "order_id": "o1", "address": None, "card": {"n": "4"}})
    assert filled == {"items": [{"q": 1}], "note": "order o1 please",
                      "payment": {"method": "card", "card": {"n": "4"}}}
    document = {"data": {"order": {"_id": "x"}}, "orders": [{"_id": "a"}]}
    assert at(document, "data.order._id") == "x" and at(document, "orders.0._id") == "a"
    assert at(document, "") is document and at(document, "nope", None) is None
    with pytest.raises(KeyError):
        at(document, "data.order.id")


def _edited(old: str, new: str, count: int = 1) -> str:
    source = text()
    assert source.count(old) >= count, old
    return source.replace(old, new, count)


@pytest.mark.parametrize(("old", "new", "says"), [
    ('format = 1', 'format = 2', "format: must be 1"),
    ('mode = "register"', 'mode = "magic"', "auth.mode: must be one of register, mint"),
    ('socket = "auth"', 'socket = "cookie"', "auth.socket: must be one of auth, query, header"),
    ('[actions.get_order]', '[actions.fetch_order]', "actions.fetch_order: unknown key"),
    ('method = "PATCH"', 'method = "FETCH"', "actions.update_status.method: must be one of"),
    ('path = "/api/checkout"', 'path = "api/checkout"', "actions.checkout.path: must start with /"),
    ('status = "{status}"', 'status = "{state}"', "actions.update_status: uses {state}"),
    ('first = "pending"', 'first = "new"', "lifecycle.first: 'new' is not one of lifecycle.statuses"),
    ('to = "processing"', 'to = "accepted"', "lifecycle.transitions[0].to: 'accepted' is not one"),
    ('customer = "customer_{id}"', 'customer = "customer"', "rooms.customer: must use {id}"),
    ('name = "newOrder"\nrooms = [\n    "store_owners",', 'name = "newOrder"\nrooms = [\n    "owners",',
     "events.new_order.rooms: 'owners' is not a room"),
    ('order_id = "orderId"', 'orderid = "orderId"', "events.new_order.fields.orderid: unknown key"),
])
def test_a_wrong_file_names_the_key_and_the_problem(old: str, new: str, says: str) -> None:
    with pytest.raises(ContractFileError) as caught:
        loads(_edited(old, new), source="team.toml")
    message = str(caught.value)
    assert message.startswith("team.toml: ") and says in message, message


def test_a_missing_action_or_answer_path_is_named() -> None:
    source = re.sub(r"\[actions\.get_order\]\n(.+\n)+?\n(\[actions\.get_order\.answer\]\n.+\n)", "",
                    text())
    with pytest.raises(ContractFileError, match=r"actions\.get_order: missing"):
        loads(source, source="team.toml")
    with pytest.raises(ContractFileError, match=r"actions\.checkout\.answer\.order: missing"):
        loads(_edited('[actions.checkout.answer]\norder = "order"\n', '[actions.checkout.answer]\n'))


def test_an_unreadable_or_invalid_file_says_so(tmp_path: Path) -> None:
    with pytest.raises(ContractFileError, match="cannot read the contract file"):
        load(tmp_path / "absent.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("format = [1", encoding="utf-8")
    with pytest.raises(ContractFileError, match=r"bad\.toml: not valid TOML"):
        load(bad)


def test_a_hooks_module_is_found_beside_the_file_and_must_define_a_hook(tmp_path: Path) -> None:
    from harness.contract import Role
    from harness.target import Target

    (tmp_path / "hooks.py").write_text(
        "def before_request(request):\n"
        "    request['headers']['X-Seen'] = request['action']\n"
        "    request['content'] = b'{}'\n"
        "def mint(claims, secret):\n"
        "    return f\"{claims['sub']}/{claims['role']}/{secret}\"\n", encoding="utf-8")
    contract = tmp_path / "c.toml"
    contract.write_text('hooks = "hooks.py"\n' + text(), encoding="utf-8")
    target = Target.from_file(contract)
    request = target.request("checkout", token="t", items=[], order_type="pickup", address=None,
                             card={})
    assert request.headers == {"Authorization": "Bearer t", "X-Seen": "checkout"}
    assert request.content == b"{}" and request.path == "/api/checkout"
    assert target.mint("s", "u1", Role.DRIVER) == "u1/driver/s"
    # Without hooks: the JSON body, HS256 tokens.
    plain = Target.from_file(None).request("checkout", items=[], order_type="pickup", address=None,
                                           card={})
    assert plain.content is None and plain.headers == {} and plain.body["orderType"] == "pickup"

    (tmp_path / "empty.py").write_text("X = 1\n", encoding="utf-8")
    contract.write_text('hooks = "empty.py"\n' + text(), encoding="utf-8")
    with pytest.raises(ContractFileError, match="defines at least one of before_request, mint"):
        Target.from_file(contract)
    contract.write_text('hooks = "missing.py"\n' + text(), encoding="utf-8")
    with pytest.raises(ContractFileError, match="hooks: 'missing.py': no such Python file"):
        load(contract)
