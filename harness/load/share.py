"""Which store owner moves an order: one in the whole run, the same one however it heard of it.

Every store owner hears every `newOrder`; each order must still be moved once. The orders
are divided by a hash of their id, first among the Locust processes, then among the store
owners of a process in the order they started. No Locust or gevent here (tests in
tests/harness/test_share.py).
"""

from __future__ import annotations

import zlib


def owner_of(order_id: str, processes: int, process_index: int, owners: int) -> int | None:
    """The index (among this process's store owners, in start order) of the one that moves
    `order_id`; None when the order is another process's, or this process has no owner."""
    h = zlib.crc32(order_id.encode())
    if owners <= 0 or h % max(1, processes) != process_index:
        return None
    return (h // max(1, processes)) % owners


__all__ = ["owner_of"]
