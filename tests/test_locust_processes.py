"""`harness load`'s Locust processes: which ended workers are news (real child processes)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from harness.commands.locust_processes import LocustProcesses


def _proc(code: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", code])


def test_only_a_worker_that_died_is_reported(capsys: pytest.CaptureFixture[str]) -> None:
    """Bug: every clean `--workers` run printed 'worker ... ended mid-run' for workers the
    master had told to quit at the end, while it wrote its report."""
    master = _proc("import time; time.sleep(30)")
    clean, killed = _proc("pass"), _proc("import os, signal; os.kill(os.getpid(), signal.SIGKILL)")
    group = LocustProcesses(master, [clean, killed])
    try:
        clean.wait(10)
        killed.wait(10)
        group._notice_lost_workers()
        err = capsys.readouterr().err
        assert f"worker pid {killed.pid} ended mid-run" in err, err
        assert f"worker pid {clean.pid}" not in err, err
    finally:
        group.close(master_timeout=0.1)
    assert master.poll() is not None
