"""Child processes for tests: read line by line as they run, and always reaped.

`Child` starts a command with piped stdout/stderr, collects every line in a background
thread, and lets a test wait for a line (with a deadline) without ever blocking on a pipe.
Use it as a context manager: on exit a child still running is killed and waited for.

Every process starts in a session (and process group) of its own, through `popen`: killing
it kills what it started too (Locust's workers, the witness), and a Ctrl-C at the terminal
reaches pytest alone, which then stops its children in order. Whatever a test leaves running
anyway is killed at the end of the session, or by the watchdog if pytest itself is killed
(`tests/support/reaper.py`).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence, TypeVar

K = TypeVar("K")
V = TypeVar("V")

ROOT = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
#: The installed console script, beside the interpreter running the tests (.venv/bin/harness).
HARNESS = str(Path(sys.executable).with_name("harness"))
#: 32+ bytes, so the server has no short-secret warning to add to stderr.
LONG_SECRET = "cli-test-secret-0123456789abcdef-0123456789"


def free_port() -> int:
    """A loopback port that nobody listens on (free when asked)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def child_env(**extra: str) -> dict[str, str]:
    """This process's environment without JWT_SECRET, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if k != "JWT_SECRET"}
    env.update(extra)
    return env


_started: list[subprocess.Popen[Any]] = []
_started_lock = threading.Lock()


def popen(argv: Sequence[str], **options: Any) -> subprocess.Popen[Any]:
    """`subprocess.Popen` in a new session (cwd ROOT, `child_env()` unless given), remembered
    so that `concurrently` can stop what its calls started when one of them fails."""
    options.setdefault("cwd", ROOT)
    if options.get("env") is None:
        options["env"] = child_env()
    options.setdefault("start_new_session", True)
    proc = subprocess.Popen(list(argv), **options)
    with _started_lock:
        _started.append(proc)
    return proc


def kill_tree(proc: subprocess.Popen[Any]) -> None:
    """SIGKILL the process and its group (what it started), then reap it."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    if proc.poll() is None:
        proc.kill()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        pass


def concurrently(calls: Mapping[K, Callable[[], V]], workers: int | None = None) -> dict[K, V]:
    """Run `calls` in threads, `workers` at a time; their results by key. When one fails (or
    Ctrl-C), every process started meanwhile through `popen` is killed at once, so that the
    other calls end promptly instead of running on unattended."""
    with _started_lock:
        before = len(_started)
    pool = ThreadPoolExecutor(workers or max(1, len(calls)))
    try:
        futures = {key: pool.submit(call) for key, call in calls.items()}
        results = {key: future.result() for key, future in futures.items()}
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        with _started_lock:
            since = _started[before:]
        for proc in since:
            kill_tree(proc)
        raise
    pool.shutdown(wait=True)
    return results


class Child:
    def __init__(self, argv: Sequence[str], *, env: dict[str, str] | None = None,
                 cwd: Path = ROOT) -> None:
        self.argv = list(argv)
        self.proc = popen(
            self.argv, cwd=cwd, env=env,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True, encoding="utf-8", errors="replace", bufsize=1,
        )
        self._lines: dict[str, list[str]] = {"stdout": [], "stderr": []}
        self._changed = threading.Condition()
        self._readers = [
            threading.Thread(target=self._pump, args=(name, stream), daemon=True)
            for name, stream in (("stdout", self.proc.stdout), ("stderr", self.proc.stderr))
        ]
        for reader in self._readers:
            reader.start()

    def _pump(self, name: str, stream: Any) -> None:
        for line in stream:
            with self._changed:
                self._lines[name].append(line.rstrip("\r\n"))
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    # --- reading --------------------------------------------------------------------------

    def lines(self, stream: str = "stdout") -> list[str]:
        with self._changed:
            return list(self._lines[stream])

    def json_lines(self) -> list[dict[str, Any]]:
        """stdout lines parsed as JSON (the JS peer prints one object a line)."""
        return [json.loads(line) for line in self.lines() if line.strip()]

    def wait_until(self, predicate: Callable[[], bool], timeout: float, what: str) -> None:
        """Wait until `predicate()` holds; fail with everything the child printed if it never does."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while not predicate():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"timed out after {timeout} s waiting for {what}\n"
                                         f"{self.describe()}")
                self._changed.wait(min(remaining, 0.2))

    def wait_line(self, predicate: Callable[[str], bool], timeout: float, what: str,
                  stream: str = "stdout") -> str:
        found: list[str] = []

        def seen() -> bool:
            found[:] = [line for line in self._lines[stream] if predicate(line)]
            return bool(found) or (self.proc.poll() is not None and not self._alive_readers())

        self.wait_until(seen, timeout, what)
        if not found:
            raise AssertionError(f"the child exited ({self.proc.returncode}) before {what}\n"
                                 f"{self.describe()}")
        return found[0]

    def _alive_readers(self) -> bool:
        return any(r.is_alive() for r in self._readers)

    def describe(self) -> str:
        out, err = self._lines["stdout"], self._lines["stderr"]
        return (f"command: {' '.join(self.argv)}\nreturncode: {self.proc.poll()}\n"
                f"--- stdout ---\n" + "\n".join(out[-40:]) +
                "\n--- stderr ---\n" + "\n".join(err[-40:]))

    # --- stopping -------------------------------------------------------------------------

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 5.0) -> int:
        """Send `sig` and wait for the exit; fail if it takes longer than `timeout`."""
        self.proc.send_signal(sig)
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"still running {timeout} s after signal {sig}\n"
                                 f"{self.describe()}") from None
        self._join_readers()
        return code

    def close(self) -> None:
        """Kill the child if it still runs, and reap it (always call this, e.g. in `finally`)."""
        try:
            if self.proc.stdin:
                self.proc.stdin.close()
        except OSError:
            pass
        try:
            kill_tree(self.proc)  # also whatever it started, even if it has exited itself
        finally:
            self._join_readers()

    def _join_readers(self) -> None:
        for reader in self._readers:
            reader.join(5)

    def __enter__(self) -> "Child":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def run_to_exit(argv: Sequence[str], *, env: dict[str, str] | None = None,
                timeout: float = 20.0) -> subprocess.CompletedProcess[str]:
    """Run a command that should end by itself; killed with what it started (and the test
    failed) on timeout; killed too when anything else interrupts the wait (Ctrl-C)."""
    proc = popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                 stderr=subprocess.PIPE, text=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_tree(proc)
        out, err = proc.communicate()
        raise AssertionError(f"{' '.join(argv)} did not exit within {timeout} s; "
                             f"stdout={out!r} stderr={err!r}") from None
    except BaseException:
        kill_tree(proc)
        raise
    return subprocess.CompletedProcess(list(argv), proc.returncode, out, err)
