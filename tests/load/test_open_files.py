"""Load runs under a low open-file limit: each held user is a socket, an open file.

- Users share their process's HTTP connections (harness/load/http_pool.py): a pool a user,
  Locust's default, left each user's last connection open beside its socket, and a process
  ran out of open files with fewer users than its limit allowed (19,000 under 20,000: 62
  could not connect).
- A process out of open files still writes its report, with every user that could not
  connect counted and nothing else judged wrongly (harness/load/spare_files.py): before, its
  checkpoint loop died importing a module, event handlers failed compiling a validator, and
  the run left no report at all.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.support.child_processes import concurrently, kill_tree, popen
from tests.support.load_runs import CRASH_MARKS, ServerPool, load_argv, nonzero_faults, table

EMFILE = "Too many open files"


def _run_limited(argv: list[str], *, files: int) -> dict[str, Any]:
    """Run `argv` to its end with at most `files` open files (soft and hard limit)."""
    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (files, files))

    proc = popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                 text=True, preexec_fn=limit)
    try:
        out, err = proc.communicate(timeout=90)
    finally:
        kill_tree(proc)
    return {"returncode": proc.returncode, "stdout": out, "stderr": err}


def _shared_connections(url: str, folder: Path) -> dict[str, Any]:
    """150 registering users under a limit of 300 open files: room for their sockets, the
    process's own files and a few HTTP connections; not for a connection a user too."""
    run = _run_limited([*load_argv(url, folder, users=150, duration="6"), "--spawn-rate", "50"],
                       files=300)
    assert run["returncode"] == 0, f"exit code {run['returncode']}\n{run['stdout'][-3000:]}\n{run['stderr'][-3000:]}"
    return {"report": _report(folder), "stderr": run["stderr"]}


def _report(folder: Path) -> dict[str, Any]:
    return json.loads((folder / "report.json").read_text(encoding="utf-8"))


def _out_of_files(url: str, folder: Path) -> dict[str, Any]:
    """60 users at once under a limit of 100 open files, Locust on its own (`locust -f`, as the
    scenarios are documented to run), which raises no limit and refuses nothing."""
    argv = [sys.executable, "-m", "locust", "-f", "scenarios/lifecycle.py", "--headless",
            "-u", "60", "-r", "60", "-t", "6s", "--host", url, "--report-dir", str(folder),
            "--no-witness", "--think-time", "0.05-0.3", "--event-timeout", "3",
            "--only-summary", "--seed", "1"]
    return {**_run_limited(argv, files=100), "folder": folder}


@pytest.fixture(scope="module")
def runs(servers: ServerPool, tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    url = servers.get().url
    base = tmp_path_factory.mktemp("open_files")
    return concurrently({"shared": lambda: _shared_connections(url, base / "shared"),
                         "out": lambda: _out_of_files(url, base / "out")})


def test_users_share_http_connections_so_every_user_holds_its_socket(runs: dict[str, dict[str, Any]]) -> None:
    report = runs["shared"]["report"]
    assert sum(report["run"]["users"].values()) == 150, report["run"]["users"]
    assert report["user_starts"]["started"] == 150, report["user_starts"]
    assert report["connections"]["failed"] == {}, report["connections"]
    assert nonzero_faults(report) == {}, table(report)


def test_a_process_out_of_open_files_still_reports_what_it_measured(runs: dict[str, dict[str, Any]]) -> None:
    run = runs["out"]
    report_file = run["folder"] / "report.json"
    assert report_file.is_file(), f"no report\n{run['stdout'][-2000:]}\n{run['stderr'][-4000:]}"
    crashes = [line for line in run["stderr"].splitlines() if any(m in line for m in CRASH_MARKS)]
    assert not crashes, f"{crashes[:5]}\n{run['stderr'][-4000:]}"
    report = _report(run["folder"])
    assert report["run"]["complete"], report["run"]
    starts = report["user_starts"]
    failed = sum(n for why, n in starts["failed"].items() if EMFILE in why)
    # Some users held their sockets; the rest could not connect, and are counted as such.
    assert starts["started"] > 0 and failed > 0, starts
    assert starts["started"] + failed == starts["attempted"] == 60, starts
    # What the users that started received is judged as on any run: nothing missing.
    assert nonzero_faults(report) == {}, table(report)
