"""Run by tests/test_tmp_folders.py in a pytest process of its own (a fresh base folder):
the first folders of the session are made from several threads at once, as the load tests'
fixtures do (here all at the same moment, to make the race they met likely)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

THREADS = 16


def test_folders_made_from_threads_at_once(tmp_path_factory: pytest.TempPathFactory) -> None:
    start = threading.Barrier(THREADS)

    def make(i: int) -> Path:
        start.wait()
        return tmp_path_factory.mktemp(f"run{i}")

    with ThreadPoolExecutor(THREADS) as pool:
        folders = list(pool.map(make, range(THREADS)))
    assert len(set(folders)) == THREADS and all(f.is_dir() for f in folders)
