"""The harness against a server that follows the idea of our contract, not its letter:
`tests/js/team_orders.js` (Node.js `http` + socket.io 4.x; its own routes, envelopes, claims,
role names, `_id`, whole-order payloads without event id, version or emission time, a
location event of its own, the token in the query string), described by
`examples/team-orders.toml` (issue 10, item 5).

`harness contract check` passes it clean and names each switched-on fault; the ledger, reading
the same file, judges what its sockets got: nothing wrong when clean, and a duplicate emit as
a duplicate although its events carry no ids.
"""

from __future__ import annotations

import re
import shutil
from typing import Iterator

import pytest

from harness.contract import Role
from harness.contract.teamfile import load, loads
from harness.contract_check import check
from harness.ledger import CountsByEvent, SocketLedger
from harness.ledger.reader import Reader
from tests.support.child_processes import LONG_SECRET, ROOT, Child, child_env

SERVER = ROOT / "tests" / "js" / "team_orders.js"
FILE = ROOT / "examples" / "team-orders.toml"
READY = re.compile(r"^team orders listening on (http://127\.0\.0\.1:\d+)$")
ROLES = {"customer": Role.CUSTOMER, "store owner": Role.STORE_OWNER, "driver": Role.DRIVER,
         "other customer": Role.CUSTOMER}


@pytest.fixture(scope="module")
def team_server() -> Iterator[object]:
    if shutil.which("node") is None or not (ROOT / "tests/js/node_modules/socket.io").is_dir():
        raise AssertionError("node and tests/js/node_modules are needed (make test runs npm ci)")
    children: list[Child] = []

    def start(faults: str = "") -> str:
        child = Child(["node", str(SERVER), LONG_SECRET], env=child_env(FAULTS=faults))
        children.append(child)
        line = child.wait_line(lambda l: "listening on" in l, 20, "the team server's ready line")
        match = READY.match(line)
        assert match, f"ready line {line!r}\n{child.describe()}"
        return match.group(1)

    try:
        yield start
    finally:
        for child in children:
            child.close()


def _judged(result) -> CountsByEvent:  # type: ignore[no-untyped-def]
    """What the ledger, reading the example file, makes of every event the parties got."""
    reader, counts = Reader(load(FILE)), CountsByEvent()
    for party, received in result.received.items():
        ledger = SocketLedger(party, ROLES[party], result.user_ids[party], counts, reader=reader)
        for r in received:
            ledger.receive(r.event, r.payload, r.at * 1000.0)
    return counts


async def test_the_example_file_describes_the_team_server(team_server) -> None:  # type: ignore[no-untyped-def]
    lines: list[str] = []
    result = await check(team_server(), load(FILE), say=lines.append)
    assert result.ok, (result.mismatch, "\n".join(lines[-30:]))
    assert any("-> PUT /orders/" in line for line in lines)
    total = _judged(result).total()
    assert (total.duplicate, total.out_of_order, total.invalid, total.leaked) == (0, 0, 0, 0), total


@pytest.mark.parametrize(("faults", "names"), [
    ("room_leak", "came to another customer, whose room"),
    ("drop=customer_order_update", "customer_order_update never came to the customer"),
])
async def test_each_fault_is_named(team_server, faults: str, names: str) -> None:  # type: ignore[no-untyped-def]
    result = await check(team_server(faults), load(FILE), timeout_s=2.0, say=lambda _: None)
    assert not result.ok and names in (result.mismatch or ""), result.mismatch


async def test_a_duplicate_emit_without_event_ids_is_a_duplicate(team_server) -> None:  # type: ignore[no-untyped-def]
    result = await check(team_server("duplicate=orderStatusUpdated"), load(FILE), say=lambda _: None)
    assert result.ok, result.mismatch  # the walk sees every event it expects; the ledger judges copies
    counts = _judged(result)
    assert counts["orderStatusUpdated"].duplicate > 0 and counts["newOrder"].duplicate == 0


async def test_a_wrong_path_in_the_example_file_is_named(team_server) -> None:  # type: ignore[no-untyped-def]
    text = FILE.read_text(encoding="utf-8").replace('path = "/orders/{order_id}/driver"',
                                                    'path = "/orders/{order_id}/drivers"')
    result = await check(team_server(), loads(text, source="team.toml"), say=lambda _: None)
    assert not result.ok
    assert "/drivers: answered 404 (the file expects a 2xx): no such route" in (result.mismatch or "")
