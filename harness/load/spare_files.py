"""Open files kept aside, so that a Locust process whose users took every other one can still
load what it needs and write its report.

A process at its open-file limit fails every `open()`: its users' next sockets, but also a
module imported on first use and the report's files. Measured, 60 users under a limit of 90:
the checkpoint loop died importing report.py, the final report was never written (no report
at all), and handlers lost events whose payload validator was compiled on first use (which
imports a codec). So the plugin, at start, loads what it would otherwise load late
(`preload`), and holds `SPARE` descriptors of /dev/null that it lets go only while it writes
a report (`SpareFiles.released`): the files are written from the process's own greenlet
without yielding, so no user can take them meanwhile.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Iterator
from contextlib import contextmanager

from ..contract import validation
from .unpatched import original

#: Enough for the report's files, their temporaries and a module or two.
SPARE = 16
#: Modules imported on first use somewhere on a run's path (to break an import cycle, or to
#: keep gevent out of a module's import): loaded at the plugin's start instead.
LATE_MODULES = ("harness.load.report", "harness.load.loop_websocket", "datetime")


def preload() -> None:
    for name in LATE_MODULES:
        importlib.import_module(name)
    validation.compile_all()


class SpareFiles:
    """`SPARE` open descriptors, let go while a report is written."""

    def __init__(self, count: int = SPARE) -> None:
        self.count = count
        self._fds: list[int] = []

    @property
    def held(self) -> int:
        return len(self._fds)

    def take(self) -> None:
        """Hold up to `count` (as many as the limit allows, when the users hold the rest)."""
        while len(self._fds) < self.count:
            try:
                self._fds.append(os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC))
            except OSError:
                return

    @contextmanager
    def released(self) -> Iterator[None]:
        """Let them go for the block (closed now: gevent's `os.close` would close them only
        at its loop's next turn), and take them back after it."""
        close = original("os", "close")
        while self._fds:
            close(self._fds.pop())
        try:
            yield
        finally:
            self.take()


#: The process's spare files.
SPARES = SpareFiles()
