"""Nothing lost: an interrupted run, or one whose load generator dies, still leaves a report
of what was measured, marked incomplete (issue 4, part 4)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

from tests.support.load_runs import ServerPool, load_argv, nonzero_faults, table


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



def test_a_killed_worker_leaves_an_incomplete_report_and_the_run_goes_on(servers: ServerPool,
                                                                        tmp_path: Path) -> None:
    folder = tmp_path / "run"
    proc = _start(load_argv(servers.get().url, folder, duration="20", users=40, workers=2,
                            think_time="0.1-0.4"))
    try:
        assert proc.stdout is not None
        seen: list[str] = []
        for line in proc.stdout:  # the command names its processes before the run starts
            seen.append(line)
            match = re.search(r"worker pids (\d+) (\d+)", line)
            if match:
                break
        assert match, "".join(seen)
        _wait_for_checkpoint(folder / "report.json", proc)
        time.sleep(3)
        os.kill(int(match.group(2)), signal.SIGKILL)   # one worker dies without a goodbye
        out, _ = proc.communicate(timeout=150)
    finally:
        _stop_group(proc)
    out = "".join(seen) + out
    # The run went on with the other worker to its planned end, then said what went wrong.
    assert proc.returncode == 1, out[-3000:]
    report = json.loads((folder / "report.json").read_text())
    run = report["run"]
    assert run["complete"] is False and "lost mid-run" in run["incomplete_reason"], run
    assert run["duration_s"] >= 19, run
    (lost,) = report["lost_workers"]
    assert lost["process"] and lost["process"].endswith(f"-{match.group(2)}"), lost
    survivors = [p for p in report["processes"] if p["process"] != lost["process"]]
    assert len(survivors) == 1 and sum(survivors[0]["receipts"].values()) > 0, report["processes"]
    # What could not be judged around the loss is set apart, never called missing or leaked.
    assert nonzero_faults(report) == {}, table(report)
    assert report["not_judged"] > 0, report["not_judged"]
    assert [t["key"] for t in report["thresholds"] if not t["passed"]] == ["run.complete"]
    assert "run.complete: the run is incomplete" in out
    assert "ended mid-run" in out   # the command noticed it too
