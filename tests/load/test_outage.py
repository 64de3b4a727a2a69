"""The target killed mid-run: restarted on the same address (an outage, and the run goes on)
or gone for good (the run ends with the outage ongoing).

Like every load test, nothing here imports Locust, gevent or `harness.load`: the servers and
the load runs are child processes. Both endings run at once, each against a server of its
own; after the kill a run mostly waits (users back off, the drain waits for those who cannot
come back), so the module runs with the rest, not alone: its bounds are seconds (tried
beside two CPU hogs: the outage 4.6 s long, inside 2.5 to 15).
"""

from __future__ import annotations

import json
import subprocess
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest

from tests.support.child_processes import concurrently, free_port, kill_tree, popen
from tests.support.load_runs import (
    QUICK_PINGS,
    LoadRun,
    Server,
    ended_well,
    fault_totals,
    load_argv,
    start_server,
    table,
)

USERS = 30


def _wait_for(path: Path, text: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and text in path.read_text(errors="replace"):
            return
        time.sleep(0.1)
    raise AssertionError(f"{text!r} never appeared in {path}")


def _iso(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


@dataclass
class Outage:
    run: LoadRun
    killed_at: float


def _target_killed_and_restarted(tmp_path: Path) -> Outage:
    port = free_port()
    server = start_server(extra=QUICK_PINGS, port=port)
    url = server.url
    argv = load_argv(url, tmp_path / "run", scenario="lifecycle", users=USERS, duration="14",
                     extra=["--spawn-rate", str(USERS)])
    out, err = tmp_path / "stdout.txt", tmp_path / "stderr.txt"
    with out.open("w") as o, err.open("w") as e:
        load = popen(argv, stdin=subprocess.DEVNULL, stdout=o, stderr=e, text=True)
    restarted: Server | None = None
    try:
        _wait_for(err, "All users spawned", 30)
        time.sleep(3.0)  # orders under way
        killed_at = time.time()
        server.child.proc.kill()
        server.child.close()
        time.sleep(3.0)
        restarted = start_server(extra=QUICK_PINGS, port=port)  # the same address, an empty store
        assert restarted.url == url
        code = load.wait(90)
    finally:
        kill_tree(load)
        if restarted is not None:
            restarted.child.close()
        server.child.close()
    stdout, stderr = out.read_text(errors="replace"), err.read_text(errors="replace")
    return Outage(LoadRun(argv, code, stdout, stderr, tmp_path / "run", 0.0), killed_at)


def _target_gone_for_good(tmp_path: Path) -> Outage:
    server = start_server(extra=QUICK_PINGS)
    argv = load_argv(server.url, tmp_path / "run", scenario="lifecycle", users=USERS, duration="8",
                     extra=["--spawn-rate", str(USERS)])
    out, err = tmp_path / "stdout.txt", tmp_path / "stderr.txt"
    with out.open("w") as o, err.open("w") as e:
        load = popen(argv, stdin=subprocess.DEVNULL, stdout=o, stderr=e, text=True)
    try:
        _wait_for(err, "All users spawned", 30)
        time.sleep(2.0)
        killed_at = time.time()
        server.child.proc.kill()
        server.child.close()
        code = load.wait(90)  # the drain waits a bounded time for users who cannot come back
    finally:
        kill_tree(load)
        server.child.close()
    run = LoadRun(argv, code, out.read_text(errors="replace"), err.read_text(errors="replace"),
                  tmp_path / "run", 0.0)
    return Outage(run, killed_at)


@pytest.fixture(scope="module")
def outages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Outage]:
    """Both endings at once, each with its own server: after the kill a run mostly waits
    (users back off, the drain waits for those who cannot come back)."""
    return concurrently({
        "restarted": lambda: _target_killed_and_restarted(tmp_path_factory.mktemp("restarted")),
        "gone": lambda: _target_gone_for_good(tmp_path_factory.mktemp("gone")),
    })


def test_target_killed_and_restarted_mid_run_is_an_outage_and_the_run_goes_on(
        outages: dict[str, Outage]) -> None:
    run, killed_at = outages["restarted"].run, outages["restarted"].killed_at
    stdout, stderr = run.stdout, run.stderr
    # Exit code as usual: 0, or 1 for failures the restarted target really answered (it lost its
    # in-memory orders and drivers: 404/422). Never a crash, never a connection error counted.
    report = ended_well(run, codes=(0, 1))
    errors = stdout[stdout.rfind("Error report"):] if "Error report" in stdout else ""
    errors += stderr[stderr.rfind("Error report"):] if "Error report" in stderr else ""
    for mark in ("HTTP 0", "onnection refused", "ConnectionRefused", "reset by peer", "RemoteDisconnected"):
        assert mark not in errors, f"an unanswered request was counted as a failure:\n{errors}"
    outages_ = report["outages"]
    assert len(outages_) == 1, outages_
    outage = outages_[0]
    assert outage["ended_at"] is not None and not outage["ongoing_at_end"], outage
    assert abs(_iso(outage["started_at"]) - killed_at) < 1.5, (outage, killed_at)
    assert 2.5 <= outage["duration_s"] <= 15.0, outage
    rec = report["reconnection"]
    why = json.dumps(rec, indent=1)
    assert rec["cut_plan"] is None and rec["cuts"] == 0, why  # no cut plan on lifecycle
    assert rec["unplanned_drops"] >= USERS and rec["count"] >= USERS, why  # everyone dropped, came back
    assert rec["consistent"] >= USERS and rec["away_at_end"] == 0, why  # ... and caught up after
    assert rec["connect_errors"].get("refused", 0) > 0, why  # reconnects refused while down
    assert report["run"]["duration_s"] >= 14, report["run"]
    faults = fault_totals(report)
    # A change whose events left the server just before the kill, with its HTTP answer lost,
    # can show as a leak; nothing can be missing (every socket dropped at the kill).
    assert {k: v for k, v in faults.items() if k != "leaked"} == {
        "missing": 0, "duplicate": 0, "out_of_order": 0, "invalid": 0}, table(report)


def test_target_gone_for_good_ends_the_run_with_an_ongoing_outage(
        outages: dict[str, Outage]) -> None:
    run = outages["gone"].run
    report = ended_well(run, codes=(0, 1))
    assert len(report["outages"]) == 1 and report["outages"][0]["ongoing_at_end"], report["outages"]
    assert report["outages"][0]["ended_at"] is None, report["outages"]
    rec = report["reconnection"]
    assert rec["away_at_end"] >= USERS and rec["count"] == 0, rec  # nobody could come back
    assert rec["connect_errors"].get("refused", 0) > 0, rec
