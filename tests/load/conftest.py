from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from tests.support.load_runs import ServerPool


#: Modules whose runs hold no latency bound and need no quiet machine: they run with the rest,
#: several modules at a time (each was tried beside two CPU hogs). Their tests judged on
#: latency are marked `alone` one by one (test_load_runs.py: the 250 ms delay's shift).
SHARE_THE_MACHINE = frozenset({"test_catch_up.py", "test_load_runs.py", "test_no_false_pass.py",
                               "test_nothing_lost.py", "test_outage.py", "test_slow_server.py",
                               "test_team_load.py", "test_thresholds_e2e.py", "test_tls.py",
                               "test_resolver.py", "test_upgrade.py", "test_open_files.py"})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every other load run is `alone` (`make test` runs them one module at a time, after the
    rest): latency figures to a few milliseconds, and reconnect times, need the machine. Three faults first seen
    beside another module's runs are explained and mended: a storm's unrecovered event (the
    catch-up's second cause), a shared server's leaks (changes whose answers the run's stop
    cut off: `unanswered`), and both workers of a `--workers 2` run silent for 4 to 13 s at
    its start (Locust rebuilt its argument parser per option of the spawn message:
    harness/load/runtime.py)."""
    here = Path(__file__).parent
    for item in items:
        path = Path(str(item.fspath))
        if here in path.parents and path.name not in SHARE_THE_MACHINE:
            item.add_marker(pytest.mark.alone)


@pytest.fixture(scope="module")
def servers() -> Iterator[ServerPool]:
    """Reference servers in subprocesses, one per fault set, started on first use."""
    pool = ServerPool()
    try:
        yield pool
    finally:
        pool.close()
