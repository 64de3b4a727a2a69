"""The Locust side of the witness (harness/witness): users offer themselves, one process watches.

Every process that runs users offers some of them as models for the witness's tabs, through
the records it ships to the books (`RunContext.witness_offer`): every store owner's socket
(one tab mirrors them all) and the first few customers and drivers. The process that keeps
the books (the master, or the only process) starts the witness process on the first offer,
tells it which tabs to open with which user's token, reads what it timestamps, and pairs it
with the users' receipts in a `WitnessBook`.

`--no-witness` turns it off. A witness that cannot start or connect leaves the run as it
was and says why in the report; it never stops a load.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import gevent

from ..contract import Role
from ..latency import LatencyBook
from ..witness.book import STORE_OWNER_TAB, WitnessBook

log = logging.getLogger("harness")

#: Models a process offers (store owners: all of them, for the mirror set).
OFFER_LIMITS = {Role.CUSTOMER.value: 3, Role.DRIVER.value: 2}
#: Tabs the witness opens at most, by role (the store owner's is one).
TAB_LIMITS = {Role.STORE_OWNER.value: 1, Role.CUSTOMER.value: 4, Role.DRIVER.value: 2}
STOP_WAIT_S = 5.0


@dataclass(frozen=True)
class Offer:
    """A user's socket that a witness tab may mirror, with the token that puts a second
    connection in the same rooms."""

    role: str
    socket_id: str
    token: str

    def to_wire(self) -> list[Any]:
        return [self.role, self.socket_id, self.token]

    @classmethod
    def from_wire(cls, w: list[Any]) -> Offer:
        return cls(str(w[0]), str(w[1]), str(w[2]))


class OfferQuota:
    """What one process offers: every store owner, the first few of the others."""

    def __init__(self) -> None:
        self._offered: dict[str, int] = {}

    def take(self, role: str) -> bool:
        limit = OFFER_LIMITS.get(role)
        n = self._offered.get(role, 0)
        if limit is not None and n >= limit:
            return False
        self._offered[role] = n + 1
        return True


class WitnessLink:
    """The witness process, seen from the process that keeps the books."""

    def __init__(self, target: Callable[[], str | None], *, socketio_path: str, verify_tls: bool,
                 book: LatencyBook, horizon_ms: float,
                 fire: Callable[[str, float], None] | None = None, contract: str | None = None) -> None:
        #: The run's target (Locust's host, which the web UI may set after start).
        self.target = target
        self.socketio_path = socketio_path
        self.verify_tls = verify_tls
        #: The target's contract file (None: ours): where tabs present the token, how events key.
        self.contract = contract
        self.book = WitnessBook(book, horizon_ms=horizon_ms, fire=fire)
        self.proc: subprocess.Popen[str] | None = None
        self.problem: str | None = None
        self._reader: gevent.Greenlet | None = None
        self._tabs_by_role: dict[str, int] = {}

    # --- offers ---------------------------------------------------------------------------------

    def offer(self, offer: Offer) -> None:
        if offer.role == Role.STORE_OWNER.value and STORE_OWNER_TAB in self.book.tabs:
            self.book.mirror(STORE_OWNER_TAB, offer.socket_id)
            return
        if self.book.mirrored(offer.socket_id):
            return
        n = self._tabs_by_role.get(offer.role, 0)
        if n >= TAB_LIMITS.get(offer.role, 0):
            return
        url = self.target()
        if not url or not self._start():
            return
        tab = STORE_OWNER_TAB if offer.role == Role.STORE_OWNER.value else offer.socket_id
        self._tabs_by_role[offer.role] = n + 1
        self.book.open_tab(tab, offer.role)
        self.book.mirror(tab, offer.socket_id)
        self._send({"op": "watch", "tab": tab, "url": url, "token": offer.token,
                    "path": self.socketio_path, "verify_tls": self.verify_tls,
                    "contract": self.contract})

    # --- the process ------------------------------------------------------------------------------

    def _start(self) -> bool:
        if self.proc is not None:
            return self.proc.poll() is None
        if self.problem is not None:
            return False
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "harness.witness"], stdin=subprocess.PIPE,
                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, bufsize=1)
        except OSError as exc:
            self.problem = f"the witness process could not start: {exc}"
            log.warning("harness: %s", self.problem)
            return False
        self._reader = gevent.spawn(self._read)
        log.info("harness: witness process %s started", self.proc.pid)
        return True

    def _send(self, command: dict[str, Any]) -> None:
        assert self.proc is not None and self.proc.stdin is not None
        try:
            self.proc.stdin.write(json.dumps(command) + "\n")
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError, ValueError) as exc:
            self.problem = f"the witness process went away: {exc}"

    def _read(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        for line in self.proc.stdout:
            try:
                fact = json.loads(line)
            except ValueError:
                continue
            if isinstance(fact, dict):
                self.book.fact(fact)
        code = self.proc.poll()
        if code not in (None, 0) and self.problem is None:
            self.problem = f"the witness process ended with exit code {code}"

    def expire(self) -> None:
        self.book.expire(time.time() * 1000.0)

    def stop(self) -> None:
        """Close the tabs (end of input), wait for the last lines, reap the process."""
        proc = self.proc
        if proc is None:
            return
        try:
            if proc.stdin is not None:
                proc.stdin.close()
        except OSError:
            pass
        try:
            proc.wait(STOP_WAIT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(STOP_WAIT_S)
        if self._reader is not None:
            self._reader.join(STOP_WAIT_S)
