"""Which store owner moves an order (harness/load/share.py): exactly one in the whole run, the
same one whenever asked, and a fair share each (issue 12: tested without a load run)."""

from __future__ import annotations

from collections import Counter

import pytest

from harness.load.share import owner_of

ORDERS = [f"order-{n}" for n in range(3000)]


@pytest.mark.parametrize("processes, owners", [(1, 1), (1, 5), (3, 5), (4, 2)])
def test_every_order_has_exactly_one_owner_in_the_run(processes: int, owners: int) -> None:
    for order_id in ORDERS:
        movers = [(p, owner_of(order_id, processes, p, owners)) for p in range(processes)]
        movers = [(p, o) for p, o in movers if o is not None]
        assert len(movers) == 1, (order_id, movers)
        assert 0 <= movers[0][1] < owners


def test_the_same_order_goes_to_the_same_owner_every_time() -> None:
    assert [owner_of(o, 3, 1, 5) for o in ORDERS] == [owner_of(o, 3, 1, 5) for o in ORDERS]


def test_each_owner_gets_a_fair_share() -> None:
    shares = Counter((p, owner_of(o, 2, p, 3)) for o in ORDERS for p in range(2)
                     if owner_of(o, 2, p, 3) is not None)
    assert len(shares) == 6
    assert all(abs(n - len(ORDERS) / 6) < len(ORDERS) / 6 * 0.15 for n in shares.values()), shares


def test_a_process_without_store_owners_moves_nothing() -> None:
    assert all(owner_of(o, 1, 0, 0) is None for o in ORDERS[:100])
