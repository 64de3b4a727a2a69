"""No process outlives the test session, whatever ends it.

Every process the tests start, however they start it (`Child`, `run_load`, a bare
`subprocess.Popen`, and what those start in turn: Locust's master and workers, the witness,
node peers, a nested pytest), inherits the session's environment. At the start of the session
a mark of its own is added to `REALTIME_HARNESS_TEST_MARKS` in that environment; a process is
the session's if `/proc/<pid>/environ` carries the mark, even after its parent died and it was
handed to init. So:

* at the end of the session (tests passed or failed, a fixture raised, Ctrl-C: pytest runs its
  session finish and unconfigure for all of these) every marked process still running is
  killed, and the terminal summary names each one: a test or fixture left it behind;
* when pytest itself is killed (SIGKILL, the OOM killer) a watchdog does the same: a small
  process in a session of its own, started first, that reads a pipe from pytest and sweeps
  when the pipe closes, which the kernel does when pytest dies however it dies.

A process that clears its environment escapes the mark; none of ours do (the harness passes
`os.environ` on to Locust and the witness). The mark is per session, so concurrent sessions
on the same machine (other engineers, a nested pytest in a test) never kill each other's
processes; a nested session adds its mark to the outer one's.

Loaded by tests/conftest.py (its hooks are imported there). `.ci/run` marks its own steps the
same way and sweeps at its end with `python3 tests/support/reaper.py --sweep MARK`.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from typing import Iterable

try:
    import pytest
except ImportError:  # run as a script (the watchdog, .ci/run's sweep) by a Python without pytest
    pytest = None  # type: ignore[assignment]

MARKS_VAR = "REALTIME_HARNESS_TEST_MARKS"

#: This session's mark, its watchdog, and what the final sweep found.
_mark: str | None = None
_watchdog: subprocess.Popen[bytes] | None = None
_reaped: list[str] = []


def marks_of(pid: int) -> set[str]:
    """The marks in a process's environment as it started (empty if it is gone or not ours)."""
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            environ = f.read()
    except OSError:
        return set()
    prefix = MARKS_VAR.encode() + b"="
    for entry in environ.split(b"\0"):
        if entry.startswith(prefix):
            return set(entry[len(prefix):].decode(errors="replace").split())
    return set()


def marked(mark: str, exclude: Iterable[int] = ()) -> dict[int, str]:
    """pid -> command line of every process whose environment carries `mark`."""
    skip = {os.getpid(), *exclude}
    found = {}
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) in skip:
            continue
        pid = int(name)
        if mark in marks_of(pid):
            found[pid] = command_line(pid)
    return found


def command_line(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return "?"


def reap(mark: str, exclude: Iterable[int] = (), patience_s: float = 10.0) -> list[str]:
    """SIGKILL every process carrying `mark` until none is left (a dying parent may still be
    starting children); returns what was killed, as `pid command line`."""
    exclude = set(exclude)
    killed: dict[int, str] = {}
    deadline = time.monotonic() + patience_s
    while True:
        found = {pid: cmd for pid, cmd in marked(mark, exclude).items() if not _is_zombie(pid)}
        if not found or time.monotonic() > deadline:
            break
        for pid, cmd in found.items():
            killed.setdefault(pid, cmd)
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        time.sleep(0.05)
    return [f"{pid} {cmd}" for pid, cmd in killed.items()]


def _is_zombie(pid: int) -> bool:
    """Dead and waiting for its parent to reap it (nothing to kill: it runs no more)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0] == b"Z"
    except (OSError, IndexError):
        return True


# --- the session ---------------------------------------------------------------------------------

def install() -> str:
    """Mark this process's environment (so all its descendants carry the mark) and start the
    watchdog. Idempotent."""
    global _mark, _watchdog
    if _mark is not None:
        return _mark
    _mark = f"s{os.getpid()}-{os.urandom(4).hex()}"
    others = os.environ.get(MARKS_VAR, "").split()
    # The watchdog carries the outer sessions' marks (an outer sweep may end it), not ours.
    watchdog_env = dict(os.environ)
    if others:
        watchdog_env[MARKS_VAR] = " ".join(others)
    os.environ[MARKS_VAR] = " ".join([*others, _mark])
    try:
        _watchdog = subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), "--watch", _mark, str(os.getpid())],
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            env=watchdog_env, start_new_session=True, close_fds=True)
    except OSError as exc:  # the sweep at the end still runs
        print(f"tests: no process watchdog ({exc}); a killed pytest may leave processes behind",
              file=sys.stderr)
    return _mark


def finish() -> list[str]:
    """Kill every process of this session still running (except pytest itself)."""
    if _mark is None:
        return []
    found = reap(_mark)
    _reaped.extend(found)
    return found


def uninstall() -> None:
    """The last sweep, then let the watchdog go (it sweeps once more, then exits)."""
    global _watchdog
    finish()
    if _watchdog is not None:
        try:
            assert _watchdog.stdin is not None
            _watchdog.stdin.close()
            _watchdog.wait(15)
        except (OSError, subprocess.TimeoutExpired):
            _watchdog.kill()
        _watchdog = None


# --- pytest hooks (imported by tests/conftest.py) ---------------------------------------------------

if pytest is not None:

    def pytest_configure(config: pytest.Config) -> None:
        install()

    @pytest.hookimpl(trylast=True)  # after the fixtures' teardown (pytest's own sessionfinish)
    def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
        finish()

    def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
        if _reaped:
            terminalreporter.section("processes left behind by the tests (killed)", sep="=", red=True)
            for line in _reaped:
                terminalreporter.write_line(line)

    def pytest_unconfigure(config: pytest.Config) -> None:
        uninstall()


# --- the watchdog -----------------------------------------------------------------------------------

def _watch(mark: str, pytest_pid: int) -> None:
    """Wait for the end of input (pytest closed the pipe, or died), then sweep."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a Ctrl-C is for pytest, which sweeps itself
    try:
        while sys.stdin.buffer.read(65536):
            pass
    except OSError:
        pass
    reap(mark, exclude={pytest_pid})


if __name__ == "__main__":
    if sys.argv[1:2] == ["--watch"]:
        _watch(sys.argv[2], int(sys.argv[3]))
    elif sys.argv[1:2] == ["--sweep"]:  # .ci/run, at its end: whatever its steps left running
        for line in reap(sys.argv[2]):
            print(f"killed, left running: {line}", file=sys.stderr)
    else:
        sys.exit("usage: reaper.py --watch MARK PYTEST_PID | --sweep MARK")
