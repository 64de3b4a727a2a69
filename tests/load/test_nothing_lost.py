"""Nothing lost: an interrupted run, or one whose load generator or worker dies, still leaves
a report of what was measured, marked incomplete (issue 4, part 4), and blames the server for
nothing that the interruption caused.

The endings run at once (a module fixture), each with its own run: most of their time is
spent waiting for a checkpoint or for the run's end. Three share one server and must keep
apart books (each sees the others' orders as foreign); two have servers that answer changes
late or not within the run, so that Ctrl-C finds changes made whose answers are awaited.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import pytest

from tests.support.child_processes import concurrently, kill_tree, popen
from tests.support.load_runs import ServerPool, load_argv, nonzero_faults, table


@dataclass
class Ending:
    returncode: int | None
    out: str
    folder: Path
    facts: dict[str, Any] = field(default_factory=dict)

    @property
    def report(self) -> dict[str, Any]:
        return json.loads((self.folder / "report.json").read_text())


def _start(argv: list[str]) -> subprocess.Popen[str]:
    # A session of its own (popen): the run's processes are one group, killed together.
    return popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                 stderr=subprocess.STDOUT, text=True)


def _stop_group(proc: subprocess.Popen[str]) -> None:
    kill_tree(proc)


def _wait_for_checkpoint(report: Path, proc: subprocess.Popen[str], limit_s: float = 40.0) -> None:
    deadline = time.monotonic() + limit_s
    while not report.is_file():
        assert proc.poll() is None, "the run ended before its first checkpoint"
        assert time.monotonic() < deadline, "no checkpoint report written"
        time.sleep(0.2)


def _checkpoint_holds(report: Path, holds: Callable[[dict[str, Any]], bool]) -> bool:
    try:  # the checkpoint replaces the file whole; a read may still meet a missing one
        return holds(json.loads(report.read_text()))
    except (OSError, ValueError, KeyError):
        return False


def _delivered(report: dict[str, Any]) -> bool:
    return sum(e["delivered"] for e in report["events"].values()) > 0


def _wait_for_delivered(report: Path, proc: subprocess.Popen[str], limit_s: float = 40.0,
                        holds: Callable[[dict[str, Any]], bool] = _delivered) -> None:
    """Until a checkpoint holds delivered events (or what `holds` asks for)."""
    deadline = time.monotonic() + limit_s
    while not _checkpoint_holds(report, holds):
        assert proc.poll() is None, "the run ended before a checkpoint held delivered events"
        assert time.monotonic() < deadline, "no checkpoint with delivered events"
        time.sleep(0.2)


def sigint_halfway(url: str, folder: Path) -> Ending:
    proc = _start(load_argv(url, folder, duration="40", think_time="0.1-0.4", html=True))
    try:
        _wait_for_checkpoint(folder / "report.json", proc)
        time.sleep(3)
        proc.send_signal(signal.SIGINT)   # Ctrl-C on the harness command itself
        out, _ = proc.communicate(timeout=120)
    finally:
        _stop_group(proc)
    return Ending(proc.returncode, out, folder)


def generator_killed(url: str, folder: Path) -> Ending:
    proc = _start(load_argv(url, folder, duration="40", think_time="0.1-0.4"))
    try:
        _wait_for_checkpoint(folder / "report.json", proc)
        # Until a checkpoint holds delivered events (a change's books close one event
        # timeout after it; on a busy machine that can take more than one checkpoint).
        _wait_for_delivered(folder / "report.json", proc)
        time.sleep(1)   # mid-way between two checkpoints
        os.killpg(proc.pid, signal.SIGKILL)   # the whole run dies at once: no goodbye
        proc.wait(timeout=30)
    finally:
        _stop_group(proc)
    return Ending(proc.returncode, "", folder)


def worker_killed(url: str, folder: Path) -> Ending:
    proc = _start(load_argv(url, folder, duration="20", users=40, workers=2, think_time="0.1-0.4"))
    seen: list[str] = []
    try:
        assert proc.stdout is not None
        match = None
        for line in proc.stdout:  # the command names its processes before the run starts
            seen.append(line)
            match = re.search(r"worker pids (\d+) (\d+)", line)
            if match:
                break
        assert match, "".join(seen)
        victim = match.group(2)

        def victim_shipped(report: dict[str, Any]) -> bool:
            # On a busy machine a worker may still be starting when the first checkpoint is
            # written; killed before it shipped anything, it would leave nothing to set apart.
            return any(p["process"].endswith(f"-{victim}") and sum(p["receipts"].values()) > 0
                       for p in report["processes"])

        _wait_for_delivered(folder / "report.json", proc, holds=victim_shipped)
        time.sleep(2)
        os.kill(int(victim), signal.SIGKILL)   # one worker dies without a goodbye
        out, _ = proc.communicate(timeout=150)
    finally:
        _stop_group(proc)
    return Ending(proc.returncode, "".join(seen) + out, folder, {"killed_pid": match.group(2)})


#: A server that makes each change and pushes its events at once, and answers 1.5 s later.
SLOW_ANSWER = ("slow_answer=1500",)


#: A server that makes each change and pushes its events at once, and answers none within
#: the run: every change sent is awaited when Ctrl-C comes.
NO_ANSWER = ("slow_answer=30000",)


def _received(report: dict[str, Any]) -> bool:
    return sum(sum(p["receipts"].values()) for p in report["processes"]) > 0


def sigint_with_answers_awaited(url: str, folder: Path, workers: int = 0) -> Ending:
    """Ctrl-C while store owners and drivers await a change's answer (SLOW_ANSWER)."""
    proc = _start(load_argv(url, folder, duration="40", users=16, think_time="0.1-0.4",
                            workers=workers))
    try:
        _wait_for_delivered(folder / "report.json", proc)
        time.sleep(1)
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=120)
    finally:
        _stop_group(proc)
    return Ending(proc.returncode, out, folder)


def sigint_with_no_answer_yet(url: str, folder: Path) -> Ending:
    """Ctrl-C once events have come of changes none of whose answers came (NO_ANSWER). On a
    server that answers late but within the run (SLOW_ANSWER), whether a change is awaited
    at the moment of Ctrl-C is chance: a CI run found one, whose events had not come yet."""
    proc = _start(load_argv(url, folder, duration="40", users=16, think_time="0.1-0.4"))
    try:
        _wait_for_delivered(folder / "report.json", proc, holds=_received)
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=120)
    finally:
        _stop_group(proc)
    return Ending(proc.returncode, out, folder)


#: name -> (the server's faults, the ending). Five runs at once, on three servers.
ENDINGS: dict[str, tuple[tuple[str, ...], Callable[[str, Path], Ending]]] = {
    "sigint": ((), sigint_halfway), "generator killed": ((), generator_killed),
    "worker killed": ((), worker_killed),
    "sigint, answers awaited": (NO_ANSWER, sigint_with_no_answer_yet),
    "sigint, answers awaited, 2 workers": (
        SLOW_ANSWER, lambda url, folder: sigint_with_answers_awaited(url, folder, workers=2))}


@pytest.fixture(scope="module")
def endings(servers: ServerPool, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Ending]:
    urls = {faults: servers.get(*faults).url for faults, _ in ENDINGS.values()}
    return concurrently({name: (lambda run=run, url=urls[faults]:
                                run(url, tmp_path_factory.mktemp("ending") / "run"))
                         for name, (faults, run) in ENDINGS.items()})


def test_sigint_halfway_writes_an_incomplete_report_and_exits_130(endings: dict[str, Ending]) -> None:
    ending = endings["sigint"]
    assert ending.returncode == 130, ending.out[-3000:]
    report = ending.report
    assert report["run"]["complete"] is False
    assert "interrupted" in report["run"]["incomplete_reason"]
    assert report["run"]["duration_s"] < 30
    assert sum(e["delivered"] for e in report["events"].values()) > 0
    for name in ("histograms.json", "report.md", "junit.xml", "report.html"):
        assert (ending.folder / name).is_file(), name
    assert "INCOMPLETE" in ending.out and "Incomplete run" in (ending.folder / "report.md").read_text()
    # Two other runs shared the server meanwhile: their orders are foreign, never leaks.
    assert report["isolation"]["leaked"] == 0, table(report)


def test_changes_whose_answers_ctrl_c_cut_off_are_no_leaks(endings: dict[str, Ending]) -> None:
    """The run stopped users that awaited a change's answer: the server made those changes and
    pushed their events, which reached users not yet stopped. No recorded change claims them;
    they are counted apart (`unanswered`), never called leaked."""
    ending = endings["sigint, answers awaited"]
    assert ending.returncode == 130, ending.out[-3000:]
    report = ending.report
    assert report["isolation"]["leaked"] == 0, (table(report), report["isolation"]["unmatched_samples"])
    unanswered = report["unanswered"]
    assert unanswered["requests"] > 0 and unanswered["events"] > 0, unanswered


def test_with_workers_ctrl_c_sets_apart_what_they_had_not_shipped(endings: dict[str, Ending]) -> None:
    """The master closes the books on what its workers shipped last (once a second): changes
    whose answers came after that, or never, and the receipts they explain, are not judged."""
    ending = endings["sigint, answers awaited, 2 workers"]
    assert ending.returncode == 130, ending.out[-3000:]
    report = ending.report
    assert report["isolation"]["leaked"] == 0, (table(report), report["isolation"]["unmatched_samples"])
    assert report["not_judged"] > 0, report["not_judged"]
    assert "not judged" in report["run"]["incomplete_reason"], report["run"]["incomplete_reason"]


def test_a_killed_load_generator_leaves_its_last_checkpoint(endings: dict[str, Ending]) -> None:
    ending = endings["generator killed"]
    report = ending.report
    assert report["run"]["complete"] is False
    assert "checkpoint" in report["run"]["incomplete_reason"]
    assert sum(e["delivered"] for e in report["events"].values()) > 0
    assert report["isolation"]["leaked"] == 0, table(report)
    json.loads((ending.folder / "histograms.json").read_text())


def test_a_killed_worker_leaves_an_incomplete_report_and_the_run_goes_on(
        endings: dict[str, Ending]) -> None:
    ending = endings["worker killed"]
    out = ending.out
    # The run went on with the other worker to its planned end, then said what went wrong.
    assert ending.returncode == 1, out[-3000:]
    report = ending.report
    run = report["run"]
    assert run["complete"] is False and "lost mid-run" in run["incomplete_reason"], run
    assert run["duration_s"] >= 19, run
    (lost,) = report["lost_workers"]
    assert lost["process"] and lost["process"].endswith(f"-{ending.facts['killed_pid']}"), lost
    survivors = [p for p in report["processes"] if p["process"] != lost["process"]]
    assert len(survivors) == 1 and sum(survivors[0]["receipts"].values()) > 0, report["processes"]
    # What could not be judged around the loss is set apart, never called missing or leaked.
    assert nonzero_faults(report) == {}, table(report)
    assert report["not_judged"] > 0, report["not_judged"]
    assert [t["key"] for t in report["thresholds"] if not t["passed"]] == ["run.complete"]
    assert "run.complete: the run is incomplete" in out
    assert "ended mid-run" in out   # the command noticed it too


#: A user that holds the CPU inside a catch-all `except:`, as python-engineio's event-handler
#: wrapper does around every received event. Python raises KeyboardInterrupt in whatever code
#: runs when SIGINT arrives; landing here, it was swallowed and the run went on to its end.
SWALLOWING_LOCUSTFILE = '''
import time

import gevent
from locust import User, task

from harness.load import runtime  # noqa: F401
from harness.load.users import Customer, Driver, StoreOwner


class Swallower(User):
    fixed_count = 1

    @task
    def hold_the_cpu(self):
        while True:
            try:  # one received event's handler, 20 ms of work
                started = time.perf_counter()
                while time.perf_counter() - started < 0.02:
                    pass
            except:  # noqa: E722
                pass
            gevent.sleep(0)   # where Locust's stop reaches the user (GreenletExit)
'''


def test_ctrl_c_is_honoured_whatever_code_runs_when_it_arrives(
        servers: ServerPool, tmp_path: Path) -> None:
    """Bug (CI, stop 6): SIGINT raised KeyboardInterrupt inside a received event's handler,
    whose catch-all logged and swallowed it: the run went on to its planned end."""
    locustfile = tmp_path / "swallowing.py"
    locustfile.write_text(SWALLOWING_LOCUSTFILE)
    folder = tmp_path / "run"
    proc = _start([sys.executable, "-m", "locust", "-f", str(locustfile), "--headless",
                   "-u", "8", "-r", "8", "-t", "90s", "--only-summary",
                   "--host", servers.get().url, "--run-id", "swallowed", "--report-dir", str(folder),
                   "--store-owners", "1", "--drivers", "1", "--think-time", "0.1-0.4"])
    try:
        _wait_for_checkpoint(folder / "report.json", proc)
        interrupted = time.monotonic()
        proc.send_signal(signal.SIGINT)
        try:
            out, _ = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            pytest.fail("the run ignored SIGINT for 60 s")
        took = time.monotonic() - interrupted
    finally:
        _stop_group(proc)
    run = json.loads((folder / "report.json").read_text())["run"]
    assert run["complete"] is False and "interrupted" in run["incomplete_reason"], out[-3000:]
    assert took < 30 and run["duration_s"] < 45, (took, run["duration_s"])
