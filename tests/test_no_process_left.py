"""The test command leaves no process behind, whatever ends it (issue 8, item 7).

Each case runs a pytest of its own on a small generated test file, with this suite's
conftest (`-p tests.conftest`), and ends it one way: tests that fail with servers running
(one started by a fixture that then raises, one by a test that never closes it), Ctrl-C
(SIGINT to pytest alone, as a CI runner's cancel sends it), and SIGKILL to pytest alone (the
OOM killer, a runner's hard timeout). The killed and interrupted sessions hold a reference
server (through the support code) and a `harness load --workers 1` started with a bare
`subprocess.Popen` (so Locust's master and worker, and the witness, are grandchildren).
Every process of the inner session carries a probe variable in its environment; within a few
seconds of the inner pytest's end none may be left.

Found by a fresh-clone CI run: two threads asking a module's server pool for the same server
each started one, the pool kept the second, and the first ran on after the session.
"""

from __future__ import annotations

import os
import signal
import subprocess
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.child_processes import PYTHON, ROOT, child_env, concurrently, kill_tree, popen
from tests.support.reaper import command_line

PROBE_VAR = "REALTIME_HARNESS_LEAK_PROBE"
#: How long the processes of a finished session may take to go (the watchdog's sweep).
SETTLE_S = 15.0

INNER_TESTS = '''
import os
import subprocess
import time

import pytest

from tests.support.child_processes import child_env
from tests.support.load_runs import load_argv, start_server

ORIGIN = "http://leak-probe.example"


@pytest.fixture
def a_fixture_that_raises():
    start_server(extra=["--cors-origins", ORIGIN])
    raise RuntimeError("the fixture fails after it started a server")


def test_with_a_fixture_that_raises(a_fixture_that_raises):
    pass


def test_that_fails_and_never_closes_its_server():
    server = start_server(extra=["--cors-origins", ORIGIN])
    assert server.url == "a failing assertion"


def test_that_waits_under_load(tmp_path):
    server = start_server(extra=["--cors-origins", ORIGIN])
    argv = load_argv(server.url, tmp_path / "run", users=10, duration="120", workers=1, witness=True)
    load = subprocess.Popen(argv, env=child_env(), stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    seen = []
    for line in load.stdout:  # the command names its processes before the run starts
        seen.append(line)
        if "worker pids" in line:
            break
    assert load.poll() is None, "harness load ended before its run:\\n" + "".join(seen)
    time.sleep(3)  # users connecting: the witness starts
    print("READY", flush=True)
    time.sleep(300)
'''


def probed(value: str) -> dict[int, str]:
    """pid -> command line of every process whose environment has PROBE_VAR=value."""
    needle = f"{PROBE_VAR}={value}".encode()
    found = {}
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == os.getpid():
            continue
        try:
            with open(f"/proc/{name}/environ", "rb") as f:
                environ = f.read().split(b"\0")
        except OSError:
            continue
        if needle in environ:
            found[int(name)] = command_line(int(name))
    return found


def settled(value: str, limit_s: float = SETTLE_S) -> dict[int, str]:
    """What is still running after up to `limit_s` (empty as soon as nothing is)."""
    deadline = time.monotonic() + limit_s
    while (left := probed(value)) and time.monotonic() < deadline:
        time.sleep(0.2)
    return left


@dataclass
class Ending:
    returncode: int | None
    output: str
    running_before: dict[int, str]
    left: dict[int, str]

    def why(self) -> str:
        return (f"left running: {self.left}\nrunning before the end: {self.running_before}\n"
                f"exit code {self.returncode}\n--- inner pytest ---\n{self.output[-4000:]}")


def _inner(tmp: Path, how: str) -> Ending:
    """Run the inner session, end it `how`, and see what is left."""
    value = os.urandom(6).hex()
    (tmp / "test_inner.py").write_text(textwrap.dedent(INNER_TESTS))
    (tmp / "pytest.ini").write_text("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    select = "waits_under_load" if how in ("sigint", "sigkill") else "raise or fails"
    argv = [PYTHON, "-m", "pytest", "-p", "no:cacheprovider", "-p", "tests.conftest", "-q", "-s",
            "-c", str(tmp / "pytest.ini"), "--rootdir", str(tmp), "-k", select, str(tmp)]
    # The inner pytest sits in a session of its own (popen): nothing but this test signals it.
    proc = popen(argv, cwd=ROOT, env=child_env(**{PROBE_VAR: value}), stdin=subprocess.DEVNULL,
                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    running: dict[int, str] = {}
    try:
        assert proc.stdout is not None
        if how in ("sigint", "sigkill"):
            for line in proc.stdout:
                lines.append(line)
                if line.startswith("READY"):
                    break
            running = probed(value)
            proc.send_signal(signal.SIGINT if how == "sigint" else signal.SIGKILL)
        lines.append(proc.communicate(timeout=120)[0])
        left = settled(value)
    finally:
        kill_tree(proc)
        for pid in probed(value):  # never leave them to the rest of this suite, pass or fail
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    return Ending(proc.returncode, "".join(lines), running, left)


@pytest.fixture(scope="module")
def endings(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Ending]:
    """The three inner sessions at once: they mostly wait (for servers, the load's start and
    the settling time)."""
    return concurrently({how: (lambda how=how: _inner(tmp_path_factory.mktemp(how), how))
                         for how in ("failures", "sigint", "sigkill")})


def test_failing_tests_and_a_failing_fixture_leave_no_process(endings: dict[str, Ending]) -> None:
    ending = endings["failures"]
    assert ending.returncode == 1, ending.why()  # the inner tests failed; pytest was not killed
    assert "1 failed" in ending.output and "1 error" in ending.output, ending.why()
    assert ending.left == {}, ending.why()


def _under_load(ending: Ending) -> None:
    """The server, `harness load`, Locust's master and worker were running at the end."""
    commands = list(ending.running_before.values())
    assert any("-m reference_server" in c for c in commands), ending.why()
    assert any("harness load" in c for c in commands), ending.why()
    assert sum("-m locust" in c for c in commands) == 2, ending.why()


def test_ctrl_c_leaves_no_process(endings: dict[str, Ending]) -> None:
    ending = endings["sigint"]
    _under_load(ending)
    assert ending.returncode == 2, ending.why()  # pytest's "interrupted"
    assert ending.left == {}, ending.why()


def test_a_killed_pytest_leaves_no_process(endings: dict[str, Ending]) -> None:
    ending = endings["sigkill"]
    _under_load(ending)
    assert ending.returncode == -signal.SIGKILL, ending.why()
    assert ending.left == {}, ending.why()
