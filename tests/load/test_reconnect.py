"""Reconnection end to end: connections cut (closed, silent, a storm), and the target killed
and restarted mid-run.

Nothing here imports Locust, gevent or `harness.load` (Locust monkey-patches the process that
imports it): the reference servers are `python -m reference_server` child processes with short
Engine.IO pings (1 s interval, 1 s timeout, so a silent cut is noticed within seconds), the
load runs are `harness load` child processes, and `disruption_probe.py` runs the cuttable
client under a microscope in a child process of its own. The cut-plan runs go two at a
time and the two outage runs together, each against a server of its own: about a minute and
a half on 2 cores.
"""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from tests.support.child_processes import (LONG_SECRET, PYTHON, Child, concurrently, free_port,
                                           kill_tree, popen, run_to_exit)
from tests.support.load_runs import (
    FAULT_VERDICTS,
    FIGURE_NAMES,
    LoadRun,
    load_argv,
    run_load,
    table,
)

READY = re.compile(r"^reference server listening on (http://127\.0\.0\.1:\d+)$")
CRASH_MARKS = ("Traceback", "Uncaught exception", "Unhandled exception")
USERS = 30
PROBE = Path(__file__).with_name("disruption_probe.py")


def _start_server(port: int = 0) -> tuple[Child, str]:
    child = Child([PYTHON, "-m", "reference_server", "--port", str(port), "--jwt-secret",
                   LONG_SECRET, "--password-cost", "4", "--log-level", "WARNING",
                   "--ping-interval", "1", "--ping-timeout", "1"])
    try:
        line = child.wait_line(lambda l: "listening on" in l, 30.0, "the ready line")
        match = READY.match(line)
        assert match, f"unexpected ready line {line!r}\n{child.describe()}"
        return child, match.group(1)
    except BaseException:
        child.close()
        raise


def _checked(run: LoadRun, codes: tuple[int, ...] = (0,)) -> dict[str, Any]:
    assert run.returncode in codes, f"exit code {run.returncode}\n{run.describe()}"
    crashes = [l for l in run.stderr.splitlines() if any(m in l for m in CRASH_MARKS)]
    assert not crashes, f"the run logged crashes: {crashes[:5]}\n{run.describe()}"
    return run.report


def _faults(report: dict[str, Any]) -> dict[str, int]:
    out = {name: 0 for name in FAULT_VERDICTS}
    for entry in report["events"].values():
        for name in FAULT_VERDICTS:
            out[name] += entry[name]
    return out


def _figure(rec: dict[str, Any], name: str, count_of: str = "count") -> dict[str, Any]:
    figure = rec[name]
    assert set(figure) == set(FIGURE_NAMES), figure
    assert figure["count"] == rec[count_of], (name, figure, rec[count_of])
    assert all(figure[k] is not None for k in FIGURE_NAMES), figure
    return figure


def _cut_load(folder: Path, *extra: str, scenario: str = "reconnect",
              duration: str = "10") -> LoadRun:
    """A cut-plan run against a server of its own (so that runs side by side share no
    server's event loop: a silent cut is judged by a 1 s ping timeout)."""
    child, server = _start_server()
    try:
        return run_load(server, folder / "run", scenario=scenario, users=USERS, duration=duration,
                        extra=["--spawn-rate", str(USERS), *extra])
    finally:
        child.close()


def _cut_run(run: LoadRun) -> dict[str, Any]:
    report = _checked(run)
    rec = report["reconnection"]
    why = f"\n{json.dumps(rec, indent=1)}\n{table(report)}"
    # Every cut user came back and caught up; nothing was lost, leaked or doubled.
    assert rec["cuts"] > 0 and rec["count"] >= rec["cuts"], why
    # Every time away ended consistent. A user cut again while still catching up reconnects
    # twice and becomes consistent once (found in CI: 18 reconnects, 17 consistent).
    assert rec["away_at_end"] == 0 and rec["catch_up_failures"] == 0, why
    assert 0 < rec["consistent"] <= rec["count"], why
    ttr = _figure(rec, "time_to_reconnect")
    ttc = _figure(rec, "time_to_consistent", "consistent")
    for k in ("p50_ms", "p90_ms", "max_ms"):
        assert ttc[k] >= ttr[k] * 0.99, (k, ttr, ttc)  # consistent comes after reconnected
    assert _faults(report) == {name: 0 for name in FAULT_VERDICTS}, why
    # Events sent while a socket was away are counted, and every one is recovered by the
    # user's catch-up reads (GET /api/orders/{id} on what it follows).
    assert rec["missed_while_away"] > 0, why
    assert rec["recovered"] == rec["missed_while_away"], why
    assert rec["unrecovered_samples"] == [], why
    assert rec["upgrade_failures"] == 0 and rec["session_id_unknown"] == 0, why
    # A run's figures are Locust statistics too (thresholds read them: issue 4).
    assert "reconnect.time_to_reconnect" in run.stdout + run.stderr
    return rec


# --- the seams, without Locust ---------------------------------------------------------------------

def test_cuts_closed_and_silent_on_both_transports_and_error_kinds() -> None:
    """The cuttable client alone, against a python-socketio server that records what it saw."""
    done = run_to_exit([PYTHON, str(PROBE)], timeout=90)
    assert done.returncode == 0, done.stderr[-3000:]
    cases = {r["case"]: r for r in map(json.loads, done.stdout.splitlines())}
    assert [c for c in cases.values() if "error" in c] == [], done.stdout
    assert len(cases) == 7, done.stdout + done.stderr[-3000:]
    for transport in ("websocket", "polling"):
        closed, silent = cases[f"{transport}/closed"], cases[f"{transport}/silent"]
        for case in (closed, silent):
            assert case["client_reason"] == "transport error" and case["new_sid"], case
            assert not case["server_got_after_cut"], case  # nothing leaves a cut connection
        # closed: the client sees the socket shut at once and reconnects by itself
        assert closed["client_noticed_s"] < 0.5 and closed["reconnected_s"] < 2.0, closed
        # silent: no close in either direction; the server notices by its ping timeout...
        assert silent["server_reason"] == "ping timeout", silent
        assert 0.9 <= silent["server_noticed_s"] <= 3.0, silent
        # ... and the client by its own timeout, never at the cut
        assert silent["client_noticed_s"] >= 0.9, silent
    assert cases["websocket/closed"]["server_reason"] == "transport close"  # the FIN arrived
    assert cases["websocket/closed"]["server_noticed_s"] < 0.5
    assert cases["polling/closed"]["server_reason"] == "ping timeout"  # polling: no socket to see close
    assert cases["polling/silent"]["client_noticed_s"] >= 4.5  # a long-poll GET's own timeout
    upgrade = cases["nonsticky/websocket"]
    assert upgrade["connected"] and upgrade["transport"] == "polling", upgrade  # fell back
    assert upgrade["upgrade_failures"] == 1 and upgrade["session_unknown"] >= 1, upgrade
    poll = cases["nonsticky/polling"]
    assert poll["upgrade_failures"] == 0 and poll["session_unknown"] >= 1, poll
    assert cases["refused"]["connect_errors"] == ["refused", "refused"], cases["refused"]


# --- cut plans under load --------------------------------------------------------------------------

@dataclass
class StormRun:
    run: LoadRun
    stranger: "Stranger"


def _storm(folder: Path) -> StormRun:
    # A stranger orders meanwhile: every store owner's catch-up lists the stranger's orders
    # placed while it was away. Bug (found in CI, stop 6): they moved the pending ones, so the
    # harness touched what it did not create and two runs sharing a server called each
    # other's moves leaks.
    child, server = _start_server()
    try:
        with Stranger(server) as stranger:
            run = run_load(server, folder / "run", scenario="reconnect", users=USERS,
                           duration="10", extra=["--spawn-rate", str(USERS), "--cut-mode", "storm",
                                                 "--cut-every", "4"])
        return StormRun(run, stranger)
    finally:
        child.close()


@pytest.fixture(scope="module")
def cut_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The four cut-plan runs, two at a time, each against a server of its own (they are
    judged on counts and on bounds of seconds, which a neighbour on the other core leaves
    alone; the load runs of test_load_runs.py go in pairs too)."""
    def folder(name: str) -> Path:
        return tmp_path_factory.mktemp(name)

    return concurrently({
        "closed": lambda: _cut_load(folder("closed"), "--cut-every", "3"),
        "silent": lambda: _cut_load(folder("silent"), "--cut-mode", "silent", "--cut-every", "3"),
        "polling": lambda: _cut_load(folder("polling"), "--cut-mode", "silent", "--cut-every", "3",
                                     "--transport", "polling", scenario="lifecycle"),
        "storm": lambda: _storm(folder("storm")),
    }, workers=2)


def test_closed_cuts_reconnect_and_catch_up_without_losses(cut_runs: dict[str, Any]) -> None:
    rec = _cut_run(cut_runs["closed"])
    assert rec["cut_plan"] == {"mode": "closed", "share": 0.2, "every_s": 3.0}, rec  # the scenario's
    assert rec["cuts_by_mode"] == {"closed": rec["cuts"]}, rec
    assert rec["cuts"] >= 2 * round(0.2 * USERS), rec  # cuts at 3 s and 6 s at least
    assert rec["time_to_reconnect"]["p50_ms"] < 1500, rec  # noticed at once; 0-1 s backoff


def test_silent_cuts_are_noticed_by_timeout_and_lose_nothing(cut_runs: dict[str, Any]) -> None:
    rec = _cut_run(cut_runs["silent"])
    assert rec["cuts_by_mode"] == {"silent": rec["cuts"]}, rec
    # The client notices only by its timeout (ping interval + timeout after its last packet).
    assert rec["time_to_reconnect"]["p50_ms"] >= 1000, rec
    assert rec["unplanned_drops"] == 0, rec  # every drop was a cut


def test_silent_cuts_on_polling_as_a_switch_on_another_scenario(cut_runs: dict[str, Any]) -> None:
    rec = _cut_run(cut_runs["polling"])
    assert rec["cut_plan"]["mode"] == "silent", rec
    assert rec["time_to_reconnect"]["p50_ms"] >= 4500, rec  # the long-poll's own timeout
    assert rec["unplanned_drops"] == 0, rec


class Stranger:
    """A customer of no run, placing an order every 0.3 s, who reads them all back at the end."""

    def __init__(self, server: str) -> None:
        self.server = server
        self.placed = 0
        self.statuses: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._place()))

    async def _place(self) -> None:
        from tests.support.actors import World

        async with World(self.server) as world:
            me = await world.customer()
            orders = []
            while not self._stop.is_set():
                orders.append(await world.order(me))
                self.placed += 1
                await asyncio.sleep(0.3)
            self.statuses = [(await world.api.order(me.token, o["id"]))["status"] for o in orders]

    def __enter__(self) -> "Stranger":
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join(timeout=60)


def test_storm_cuts_everyone_and_everyone_comes_back(cut_runs: dict[str, Any]) -> None:
    storm: StormRun = cut_runs["storm"]
    rec, stranger = _cut_run(storm.run), storm.stranger
    assert rec["cut_plan"] == {"mode": "storm", "share": 1.0, "every_s": 4.0}, rec
    assert rec["cuts_by_mode"] == {"closed": rec["cuts"]}, rec  # a storm is closed cuts
    assert rec["cuts"] >= USERS and rec["cuts"] % USERS == 0, rec  # all of them, each time
    assert rec["count"] == rec["cuts"], rec
    assert stranger.placed >= 10 and set(stranger.statuses) == {"pending"}, stranger.statuses


# --- the target goes away ----------------------------------------------------------------------------

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
    server, url = _start_server(port)
    argv = load_argv(url, tmp_path / "run", scenario="lifecycle", users=USERS, duration="14",
                     extra=["--spawn-rate", str(USERS)])
    out, err = tmp_path / "stdout.txt", tmp_path / "stderr.txt"
    with out.open("w") as o, err.open("w") as e:
        load = popen(argv, stdin=subprocess.DEVNULL, stdout=o, stderr=e, text=True)
    restarted: Child | None = None
    try:
        _wait_for(err, "All users spawned", 30)
        time.sleep(3.0)  # orders under way
        killed_at = time.time()
        server.proc.kill()
        server.close()
        time.sleep(3.0)
        restarted, url2 = _start_server(port)  # the same address, an empty store
        assert url2 == url
        code = load.wait(90)
    finally:
        kill_tree(load)
        if restarted is not None:
            restarted.close()
        server.close()
    stdout, stderr = out.read_text(errors="replace"), err.read_text(errors="replace")
    return Outage(LoadRun(argv, code, stdout, stderr, tmp_path / "run", 0.0), killed_at)


def _target_gone_for_good(tmp_path: Path) -> Outage:
    child, url = _start_server()
    argv = load_argv(url, tmp_path / "run", scenario="lifecycle", users=USERS, duration="8",
                     extra=["--spawn-rate", str(USERS)])
    out, err = tmp_path / "stdout.txt", tmp_path / "stderr.txt"
    with out.open("w") as o, err.open("w") as e:
        load = popen(argv, stdin=subprocess.DEVNULL, stdout=o, stderr=e, text=True)
    try:
        _wait_for(err, "All users spawned", 30)
        time.sleep(2.0)
        killed_at = time.time()
        child.proc.kill()
        child.close()
        code = load.wait(90)  # the drain waits a bounded time for users who cannot come back
    finally:
        kill_tree(load)
        child.close()
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
    report = _checked(run, codes=(0, 1))
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
    faults = _faults(report)
    # A change whose events left the server just before the kill, with its HTTP answer lost,
    # can show as a leak; nothing can be missing (every socket dropped at the kill).
    assert {k: v for k, v in faults.items() if k != "leaked"} == {
        "missing": 0, "duplicate": 0, "out_of_order": 0, "invalid": 0}, table(report)


def test_target_gone_for_good_ends_the_run_with_an_ongoing_outage(
        outages: dict[str, Outage]) -> None:
    run = outages["gone"].run
    report = _checked(run, codes=(0, 1))
    assert len(report["outages"]) == 1 and report["outages"][0]["ongoing_at_end"], report["outages"]
    assert report["outages"][0]["ended_at"] is None, report["outages"]
    rec = report["reconnection"]
    assert rec["away_at_end"] >= USERS and rec["count"] == 0, rec  # nobody could come back
    assert rec["connect_errors"].get("refused", 0) > 0, rec
