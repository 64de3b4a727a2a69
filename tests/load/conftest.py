from __future__ import annotations

from typing import Iterator

import pytest

from tests.support.load_runs import ServerPool


@pytest.fixture(scope="module")
def servers() -> Iterator[ServerPool]:
    """Reference servers in subprocesses, one per fault set, started on first use."""
    pool = ServerPool()
    try:
        yield pool
    finally:
        pool.close()
