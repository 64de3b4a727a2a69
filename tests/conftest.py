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


@pytest.fixture(scope="session", autouse=True)
def _base_folder_first(tmp_path_factory: pytest.TempPathFactory) -> None:
    """pytest makes its base temporary folder on first use, unguarded: fixtures that make
    their run folders from several threads at once (the load tests') raced to create it, and
    one failed (FileExistsError; tests/test_tmp_folders.py). Made here, before any test."""
    tmp_path_factory.getbasetemp()


@pytest.fixture(scope="session")
def server() -> Iterator[ServerThread]:
    """One clean reference server for the whole session (tests create their own users)."""
    with ServerThread(test_config()) as running:
        yield running


@pytest.fixture
def unique() -> "itertools.count[int]":
    return _counter


_counter = itertools.count(int.from_bytes(os.urandom(3), "big"))
