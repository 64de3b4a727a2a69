"""Nothing lost: an interrupted run, or one whose load generator dies, still leaves a report
of what was measured, marked incomplete (issue 4, part 4)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

from tests.support.load_runs import ServerPool, load_argv


def _start(argv: list[str]) -> subprocess.Popen[str]:
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)


def _stop_group(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def _wait_for_checkpoint(report: Path, proc: subprocess.Popen[str], limit_s: float = 40.0) -> None:
    deadline = time.monotonic() + limit_s
    while not report.is_file():
        assert proc.poll() is None, "the run ended before its first checkpoint"
        assert time.monotonic() < deadline, "no checkpoint report written"
        time.sleep(0.2)


def test_sigint_halfway_writes_an_incomplete_report_and_exits_130(servers: ServerPool,
                                                                  tmp_path: Path) -> None:
    folder = tmp_path / "run"
    proc = _start(load_argv(servers.get().url, folder, duration="40", think_time="0.1-0.4"))
    try:
        _wait_for_checkpoint(folder / "report.json", proc)
        time.sleep(3)
        proc.send_signal(signal.SIGINT)   # Ctrl-C on the harness command itself
        out, _ = proc.communicate(timeout=120)
    finally:
        _stop_group(proc)
    assert proc.returncode == 130, out[-3000:]
    report = json.loads((folder / "report.json").read_text())
    assert report["run"]["complete"] is False
    assert "interrupted" in report["run"]["incomplete_reason"]
    assert report["run"]["duration_s"] < 30
    assert sum(e["delivered"] for e in report["events"].values()) > 0
    for name in ("histograms.json", "report.md", "junit.xml", "report.html"):
        assert (folder / name).is_file(), name
    assert "INCOMPLETE" in out and "Incomplete run" in (folder / "report.md").read_text()


def test_a_killed_load_generator_leaves_its_last_checkpoint(servers: ServerPool,
                                                            tmp_path: Path) -> None:
    folder = tmp_path / "run"
    proc = _start(load_argv(servers.get().url, folder, duration="40", think_time="0.1-0.4"))
    try:
        report_path = folder / "report.json"
        _wait_for_checkpoint(report_path, proc)
        time.sleep(6)   # at least one more checkpoint, with events in it
        os.killpg(proc.pid, signal.SIGKILL)   # the whole run dies at once: no goodbye
        proc.wait(timeout=30)
    finally:
        _stop_group(proc)
    report = json.loads(report_path.read_text())
    assert report["run"]["complete"] is False
    assert "checkpoint" in report["run"]["incomplete_reason"]
    assert sum(e["delivered"] for e in report["events"].values()) > 0
    json.loads((folder / "histograms.json").read_text())

