"""`harness contract check`: a target walked through by its contract file, stopping at the first
place where the two disagree, named so that a team can fix its file (issue 10, item 4).

Against the reference server: our file matches it; files with one deliberate mistake each
are told apart by what the check names."""

from __future__ import annotations

import subprocess

import pytest

from harness.contract.reference_file import text
from harness.contract.teamfile import loads
from harness.contract_check import check
from tests.support.child_processes import HARNESS, child_env
from tests.support.server import TEST_SECRET, ServerThread


def _edited(old: str, new: str) -> str:
    source = text()
    assert old in source, old
    return source.replace(old, new, 1)


async def test_the_reference_server_follows_the_default_file(server: ServerThread) -> None:
    lines: list[str] = []
    result = await check(server.url, loads(text()), say=lines.append)
    assert result.ok, (result.mismatch, "\n".join(lines[-30:]))
    # Both orders went all the way, every party heard its events, the driver reported a location.
    assert " in_transit -> delivered by the driver" in lines
    assert " ready_for_pickup -> delivered by the store owner" in lines
    assert any(line.startswith("  the driver got delivery_update") for line in lines)
    assert result.requests >= 15 and result.events >= 40, result


@pytest.mark.parametrize(("old", "new", "names"), [
    # A wrong route: the server answers 404.
    ('path = "/api/orders/{order_id}/status"', 'path = "/api/orders/{order_id}/state"',
     "/state: answered 404 (the file says 200)"),
    # The answer keeps the order elsewhere than the file says.
    ('[actions.checkout.answer]\norder = "order"', '[actions.checkout.answer]\norder = "data.order"',
     "the answer has no 'data.order' (actions.checkout.answer.order)"),
    # An order field at a wrong path.
    ('[order]\nid = "id"', '[order]\nid = "_id"', "an order has no '_id' (order.id)"),
    # An event's order id at a wrong path: the check cannot tell it is this order's.
    ('order_id = "orderId"', 'order_id = "order_id"',
     "newOrder never came to the store owner (room 'store-owners') within 3 s, or came without "
     "this order's id at 'order_id'"),
    # The file sends newOrder to the customer too: it never comes there.
    ('name = "newOrder"\nrooms = [\n    "store_owners",\n]',
     'name = "newOrder"\nrooms = [\n    "store_owners",\n    "customer",\n]',
     "newOrder never came to the customer (room 'customer_{id}')"),
    # The file forgets the customer's room for status events: they come there anyway.
    ('name = "customer_order_update"\nrooms = [\n    "customer",\n]',
     'name = "customer_order_update"\nrooms = [\n    "store_owners",\n]',
     "customer_order_update came to the customer, whose room the file does not name for it"),
    # The socket takes its token elsewhere.
    ('socket_key = "token"', 'socket_key = "jwt"', "the customer's socket was refused"),
])
async def test_a_mistake_in_the_file_is_named(server: ServerThread, old: str, new: str,
                                              names: str) -> None:
    result = await check(server.url, loads(_edited(old, new)), timeout_s=3.0, say=lambda _: None)
    assert not result.ok and result.mismatch is not None
    assert names in result.mismatch, result.mismatch


def test_the_command_prints_the_walk_and_exits_by_its_verdict(server: ServerThread, tmp_path) -> None:
    ok = subprocess.run([HARNESS, "contract", "check", "--target", server.url], env=child_env(),
                        capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0, ok.stdout[-3000:] + ok.stderr[-3000:]
    assert "-> PATCH /api/orders/" in ok.stdout and ok.stdout.rstrip().splitlines()[-1].startswith("OK:")
    wrong = tmp_path / "team.toml"
    wrong.write_text(_edited('path = "/api/checkout"', 'path = "/api/orders/checkout"'), encoding="utf-8")
    bad = subprocess.run([HARNESS, "contract", "check", "--target", server.url, "--contract", str(wrong),
                          "--timeout", "3"], env=child_env(), capture_output=True, text=True, timeout=120)
    assert bad.returncode == 1, bad.stdout[-3000:] + bad.stderr[-3000:]
    assert "MISMATCH: POST /api/orders/checkout: answered" in bad.stdout, bad.stdout[-2000:]
    broken = tmp_path / "broken.toml"
    broken.write_text("format = 1\n", encoding="utf-8")
    config = subprocess.run([HARNESS, "contract", "check", "--target", server.url, "--contract",
                             str(broken)], env=child_env(), capture_output=True, text=True, timeout=60)
    assert config.returncode == 2 and "broken.toml: auth: missing" in config.stderr, config.stderr


async def test_minted_tokens_walk_the_orders_too(server: ServerThread) -> None:
    """`auth.mode = "mint"`: the check signs its own tokens with the target's secret; the driver
    is one the target lists (a minted id would be no driver it can assign)."""
    from harness.api import OrdersApi
    from harness.contract import Role

    async with OrdersApi(server.url) as api:
        await api.register("Listed driver", "listed-driver-mint@example.test", "password-123", Role.DRIVER)
    lines: list[str] = []
    result = await check(server.url, loads(_edited('mode = "register"', 'mode = "mint"')),
                         jwt_secret=TEST_SECRET,
                         say=lines.append)
    assert result.ok, (result.mismatch, "\n".join(lines[-20:]))
    assert any(line.startswith("  minted a token for the driver") for line in lines)
    without = await check(server.url, loads(_edited('mode = "register"', 'mode = "mint"')),
                          say=lambda _: None)
    assert without.mismatch is not None and "--jwt-secret" in without.mismatch
