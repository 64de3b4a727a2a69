"""The harness against a server that follows the idea of our contract, not its letter:
`tests/js/team_orders.js` (Node.js `http` + socket.io 4.x; its own routes, envelopes, claims,
role names, `_id`, whole-order payloads without event id, version or emission time, a
location event of its own, the token in the query string), described by
`examples/team-orders.toml` (issue 10, item 5).

`harness contract check` passes it clean and names each switched-on fault; the ledger, reading
the same file, judges what its sockets got: nothing wrong when clean, and a duplicate emit as
a duplicate although its events carry no ids. `harness conformance --contract` passes it clean
(every file.* check; the checks of our contract's letter SKIP, never PASS) and fails the
checks that each fault breaks, and only those.
"""

from __future__ import annotations

import asyncio
from typing import Iterator

import pytest

from harness.conformance.model import Verdict
from harness.conformance.registry import all_checks
from harness.conformance.runner import run_checks
from harness.conformance.target import TargetConfig
from harness.contract.teamfile import load, loads
from harness.contract_check import check, judge
from harness.ledger import CountsByEvent
from tests.support.team_server import FILE, TeamServers

HOOKS = FILE.parent / "team_hooks.py"


@pytest.fixture(scope="module")
def team_server() -> Iterator[object]:
    servers = TeamServers()
    try:
        yield servers.start
    finally:
        servers.close()


def _judged(result) -> CountsByEvent:  # type: ignore[no-untyped-def]
    """What the ledger, reading the example file, makes of every event the parties got."""
    total = CountsByEvent()
    for counts in judge(load(FILE), result.received, result.user_ids).values():
        total.add(counts)
    return total


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


async def test_a_hooks_module_signs_what_the_file_cannot_say(
        team_server, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    """A server that refuses unsigned requests: the file alone fails at the first request; the
    file naming the example hooks module (which signs every request) walks clean."""
    url = team_server(SIGNING_KEY="k3y-for-tests")
    monkeypatch.setenv("TEAM_SIGNING_KEY", "k3y-for-tests")
    plain = await check(url, load(FILE), say=lambda _: None)
    assert not plain.ok and "answered 401" in (plain.mismatch or ""), plain.mismatch
    # `hooks` is a top-level key: before the file's first table.
    hooked = f'hooks = "{HOOKS}"\n' + FILE.read_text(encoding="utf-8")
    lines: list[str] = []
    signed = await check(url, loads(hooked, source="team.toml"), say=lines.append)
    assert signed.ok, (signed.mismatch, "\n".join(lines[-20:]))


#: A fault -> the file.* checks it must fail (every other file.* check passes).
FAILS = {
    "": set(),
    "room_leak": {"file.lifecycle.delivery", "file.lifecycle.pickup", "file.isolation.customers"},
    "drop=customer_order_update": {"file.lifecycle.delivery", "file.lifecycle.pickup"},
    "duplicate=orderStatusUpdated": {"file.events.once"},
    "reorder": {"file.ordering.burst"},
}
#: A clean server held to a file whose [errors] is wrong: only that check fails.
WRONG_ERRORS = 'message = "message"', 'message = "error.message"'


async def test_conformance_by_the_file_passes_it_clean_and_fails_each_fault(team_server) -> None:  # type: ignore[no-untyped-def]
    contract = load(FILE)
    wrong = loads(FILE.read_text(encoding="utf-8").replace(*WRONG_ERRORS), source="wrong.toml")
    cases = {faults: (faults, contract, expected) for faults, expected in FAILS.items()}
    cases["wrong errors path"] = ("", wrong, {"file.errors.shape"})
    runs = [run_checks(TargetConfig(url=team_server(faults), contract=file, quiet_s=0.3,
                                    prefix=f"conf-{i}"), all_checks(by_file=True))
            for i, (faults, file, _) in enumerate(cases.values())]
    for (case, (_, _, expected)), outcomes in zip(cases.items(), await asyncio.gather(*runs)):
        by_file = {o.check.id: o for o in outcomes if o.check.by_file}
        assert len(by_file) == 7, sorted(by_file)
        failed = {cid for cid, o in by_file.items() if o.verdict is Verdict.FAIL}
        assert failed == expected, (case, {cid: o.evidence for cid, o in by_file.items()})
        assert all(o.verdict is Verdict.PASS for cid, o in by_file.items() if cid not in failed)
        # What the file cannot drive is SKIP with its reason, never PASS.
        letter = [o for o in outcomes if not o.check.by_file]
        assert letter and all(o.verdict is Verdict.SKIP and "to the letter" in o.evidence
                              for o in letter)
