"""Locust as child processes of `harness load`: one process alone, or a master and K workers.

The workers are separate processes that connect to the master over loopback, not Locust's
`--processes` fork: when a forked worker is killed, Locust's master dies with it
(`ChildProcessError` while reaping), and nothing is reported. A separate worker that dies is
one the master notices by its missed heartbeats; the run goes on with the others and the
report says which worker was lost and from when its users were no longer judged.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field

#: How long workers get to leave by themselves once the master has ended.
WORKER_EXIT_GRACE_S = 10.0
#: How long the master waits for all its workers to connect before it gives up.
EXPECT_WORKERS_MAX_WAIT_S = 60


def free_loopback_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class LocustProcesses:
    """The master (or the only process) and its workers; `close()` leaves none behind."""

    master: subprocess.Popen[bytes]
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)
    _reported: set[int] = field(default_factory=set)

    @classmethod
    def start(cls, locust: list[str], run_options: list[str], harness_options: list[str],
              *, workers: int, env: dict[str, str]) -> LocustProcesses:
        """`locust` is the command up to the locustfile; `run_options` (users, rate, time,
        headless) go to the master only; `harness_options` to every process."""
        if not workers:
            return cls(subprocess.Popen(locust + run_options + harness_options, env=env))
        port = free_loopback_port()
        master = subprocess.Popen(
            locust + run_options + harness_options
            + ["--master", "--master-bind-host", "127.0.0.1", "--master-bind-port", str(port),
               "--expect-workers", str(workers),
               "--expect-workers-max-wait", str(EXPECT_WORKERS_MAX_WAIT_S)], env=env)
        group = cls(master)
        try:
            for _ in range(workers):
                group.workers.append(subprocess.Popen(
                    locust + harness_options
                    + ["--worker", "--master-host", "127.0.0.1", "--master-port", str(port)],
                    env=env))
        except BaseException:
            group.close()
            raise
        return group

    def describe(self) -> str:
        if not self.workers:
            return f"locust pid {self.master.pid}"
        return (f"locust master pid {self.master.pid}, worker pids "
                f"{' '.join(str(w.pid) for w in self.workers)}")

    def wait(self) -> int:
        """Wait for the master to end, saying so when a worker dies before it."""
        while True:
            try:
                return self.master.wait(timeout=0.5)
            except subprocess.TimeoutExpired:
                self._notice_lost_workers()

    def _notice_lost_workers(self) -> None:
        """A worker that ended with an error or a signal. One that ended cleanly was told to
        by the master at the run's end, which the master outlives while it writes the report."""
        for worker in self.workers:
            code = worker.poll()
            if code not in (None, 0) and worker.pid not in self._reported:
                self._reported.add(worker.pid)
                print(f"harness: worker pid {worker.pid} ended mid-run (exit code {code}); the run "
                      "goes on without its users and the report will be marked incomplete",
                      file=sys.stderr, flush=True)

    def interrupt(self) -> None:
        """Ctrl-C: the master stops its workers, then writes what was measured."""
        if self.master.poll() is None:
            self.master.send_signal(signal.SIGINT)

    def close(self, master_timeout: float | None = None) -> None:
        """Wait up to `master_timeout` for the master (None: forever), then make sure that no
        process of the run is left: workers get a grace period, then are killed."""
        try:
            self.master.wait(timeout=master_timeout)
        except (subprocess.TimeoutExpired, KeyboardInterrupt):
            self.master.kill()
            self.master.wait()
        deadline = time.monotonic() + WORKER_EXIT_GRACE_S
        for worker in self.workers:
            try:
                worker.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                worker.terminate()
        for worker in self.workers:
            try:
                worker.wait(timeout=5)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait()


__all__ = ["LocustProcesses", "free_loopback_port"]
