from __future__ import annotations

import itertools
import os
from typing import Iterator

import pytest

from tests.support.server import ServerThread, test_config

# No process outlives the session: every process the tests start carries the session's mark
# and is killed at its end, or by a watchdog if pytest itself is killed (tests/support/reaper.py).
from tests.support.reaper import (  # noqa: F401  (pytest hooks)
    pytest_configure,
    pytest_sessionfinish,
    pytest_terminal_summary,
    pytest_unconfigure,
)


@pytest.fixture(scope="session")
def server() -> Iterator[ServerThread]:
    """One clean reference server for the whole session (tests create their own users)."""
    with ServerThread(test_config()) as running:
        yield running


@pytest.fixture
def unique() -> "itertools.count[int]":
    return _counter


_counter = itertools.count(int.from_bytes(os.urandom(3), "big"))
