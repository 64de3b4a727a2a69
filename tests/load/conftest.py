from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from tests.support.load_runs import ServerPool


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every load run is `alone` (`make test` runs them one module at a time, after the rest):
    beside another module's runs under pytest-xdist, the two workers of a `--workers 2` run
    both went silent for 4 to 13 s and were called lost, a storm left one event unrecovered,
    and a shared server's run counted 4 leaks. Not yet explained; until it is, load runs do
    not share the machine with other modules' runs."""
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.alone)


@pytest.fixture(scope="module")
def servers() -> Iterator[ServerPool]:
    """Reference servers in subprocesses, one per fault set, started on first use."""
    pool = ServerPool()
    try:
        yield pool
    finally:
        pool.close()
