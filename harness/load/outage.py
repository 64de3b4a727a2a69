"""When the target goes away: users back off, the run notes the outage and keeps going.

An HTTP request that gets no answer at all (connection refused or reset: Locust's
FastHttpSession reports status 0) is not a verdict on the target's behaviour, and not a
Locust failure: `unreachable()` counts it, makes the user wait (exponential backoff, 0.5 s
to 5 s), and returns `OutageBackoff`, a `RescheduleTask` (Locust ends the task quietly and
the user carries on with the next one). No change was caused, so the ledger expects nothing.

Sockets reconnect by themselves (python-socketio: unlimited attempts, 0.5 s to 5 s backoff).

`OutageWatch` decides whether the target is down: on a suspicion (a request with no answer, a
socket dropped without a planned cut, a reconnect refused) it probes `GET /health` every half
second; if the probe gets no answer (or a 502/503/504), an outage is open, dated from the first
suspicion; the first answer closes it. Outages go to the report (`outages`), merged across
worker processes.
"""

from __future__ import annotations

import random
import ssl
import time
import urllib.error
import urllib.request
from typing import Any

import gevent
from locust.exception import RescheduleTask

from ..contract import BY_OPERATION, Operation
from ..errors import TargetUnreachable

PROBE_EVERY_S = 0.5
PROBE_TIMEOUT_S = 2.0
BACKOFF_MIN_S = 0.5
BACKOFF_MAX_S = 5.0
#: A user whose last unanswered request is older than this starts its backoff afresh.
_STREAK_RESET_S = 10.0


class OutageBackoff(TargetUnreachable, RescheduleTask):
    """A request got no answer: the task ends here, without a failure, after the user's
    backoff; the user carries on (Locust's RescheduleTask, in the harness's error tree)."""


def unreachable(user: Any, error: Any) -> OutageBackoff:
    """Count an unanswered request, wait the user's backoff, and return the exception to raise."""
    ctx = user.ctx
    book = ctx.reconnection
    book.unreachable_requests += 1
    watch = ctx.outage_watch
    if watch is not None:
        watch.suspect(unanswered=True)
    now = time.monotonic()
    streak, last = getattr(user, "_unreachable_streak", (0, 0.0))
    if now - last > _STREAK_RESET_S:
        streak = 0
    delay = min(BACKOFF_MAX_S, BACKOFF_MIN_S * (2 ** streak)) * random.uniform(0.8, 1.2)
    user._unreachable_streak = (streak + 1, now)
    gevent.sleep(delay)
    return OutageBackoff(f"no answer from the target: {str(error)[:200]}")


class OutageWatch:
    def __init__(self, ctx: Any, host: str | None) -> None:
        self.book = ctx.reconnection
        self.url = (host or "").rstrip("/") + BY_OPERATION[Operation.HEALTH].path
        self.verify = ctx.options.verify_tls
        self.suspect_since: float | None = None
        #: The open outage (a dict in `book.outages`), if any.
        self.current: dict[str, Any] | None = None
        self._probe: gevent.Greenlet | None = None
        #: Unanswered requests since the first suspicion (they belong to the outage, if any).
        self._unanswered = 0

    def suspect(self, unanswered: bool = False) -> None:
        """Something suggests the target is down: check, unless already checking."""
        if not self.url.startswith("http"):
            return
        if self.suspect_since is None:
            self.suspect_since = time.time() * 1000.0
        if unanswered:
            if self.current is not None:
                self.current["unreachable_requests"] += 1
            else:
                self._unanswered += 1
        if self._probe is None or self._probe.dead:
            self._probe = gevent.spawn(self._watch)

    def _watch(self) -> None:
        while True:
            if self.answers():
                if self.current is not None:
                    self.current["end_ms"] = time.time() * 1000.0
                    self.current = None
                self.suspect_since = None
                self._unanswered = 0
                return
            if self.current is None:
                start = self.suspect_since or time.time() * 1000.0
                self.current = {"start_ms": start, "end_ms": None,
                                "unreachable_requests": self._unanswered}
                self._unanswered = 0
                self.book.outages.append(self.current)
            gevent.sleep(PROBE_EVERY_S)

    def answers(self) -> bool:
        """Whether the target answers `GET /health` (any status but 502/503/504)."""
        handlers: list[Any] = [urllib.request.ProxyHandler({})]  # the target itself, no proxy
        if self.url.startswith("https") and not self.verify:
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            handlers.append(urllib.request.HTTPSHandler(context=context))
        try:
            with urllib.request.build_opener(*handlers).open(self.url, timeout=PROBE_TIMEOUT_S):
                return True
        except urllib.error.HTTPError as exc:
            return exc.code not in (502, 503, 504)
        except Exception:  # noqa: BLE001  (any other failure of the probe: not up)
            return False
