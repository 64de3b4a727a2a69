"""One process's reconnection counts and outages, and the report sections built from them.

`RunContext.reconnection` is a `ReconnectionBook`. Users' `Follower`s (reconnect.py) count
into it; a worker ships `to_wire()` with its report and the master merges the latest of each.
Names in report.json are fixed by issue 4: `reconnection` (`count`, `time_to_reconnect`,
`time_to_consistent`, `missed_while_away`, `recovered`, ...) and `outages`.
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Iterable
from datetime import UTC
from typing import Any

#: Latency figures (names fixed by issue 4).
TIME_TO_RECONNECT = "reconnect.time_to_reconnect"
TIME_TO_CONSISTENT = "reconnect.time_to_consistent"
#: Locust's request type for them (the statistics table).
REQUEST_TYPE = "reconnect"

#: The drain waits at most this long for users who are away to reconnect and catch up.
REJOIN_GRACE_MAX_S = 60.0

_COUNTERS = ("reconnects", "consistent", "catch_up_failures", "cuts", "unplanned_drops",
             "upgrade_failures", "session_id_unknown", "unreachable_requests")


class ReconnectionBook:
    def __init__(self) -> None:
        self.reconnects = 0
        self.consistent = 0
        self.catch_up_failures = 0
        self.cuts = 0
        self.unplanned_drops = 0
        self.upgrade_failures = 0
        self.session_id_unknown = 0
        self.unreachable_requests = 0
        self.cuts_by_kind: dict[str, int] = {}
        self.upgrade_failure_reasons: dict[str, int] = {}
        #: Drops that no cut caused, by python-socketio's reason.
        self.drop_reasons: dict[str, int] = {}
        #: Failed reconnection attempts by kind (disruption.classify_connect_error).
        self.connect_errors: dict[str, int] = {}
        #: {start_ms, end_ms (None: still down), unreachable_requests}, in order.
        self.outages: list[dict[str, Any]] = []
        #: The run's cut plan (a disruption.CutPlan), or None.
        self.plan: Any = None
        #: Users still away when the drain gave up waiting (None: no drain yet).
        self.away_at_end: int | None = None
        #: This process's users' followers (weak: a stopped user goes away).
        self.followers: weakref.WeakSet[Any] = weakref.WeakSet()

    @staticmethod
    def bump(counter: dict[str, int], key: str) -> None:
        counter[key] = counter.get(key, 0) + 1

    # --- users away ---------------------------------------------------------------------------

    def away_now(self) -> int:
        """Users that lost their connection and are not yet back and caught up."""
        return sum(1 for f in list(self.followers) if f.away)

    def rejoin_grace_s(self) -> float:
        """How long the drain should wait for away users: enough for a silent cut to be
        noticed (the longest of python-engineio's own timeouts) and the reconnect to follow."""
        longest = 0.0
        for f in list(self.followers):
            interval, timeout = f.ping_settings()
            longest = max(longest, interval + timeout, max(interval, timeout) + 5.0)
        return min(REJOIN_GRACE_MAX_S, longest + 10.0)

    def wait_rejoined(self, sleep: Any, limit_s: float | None = None) -> None:
        """The drain: wait for away users to come back and catch up, then note who did not."""
        if self.away_now():
            deadline = time.monotonic() + (self.rejoin_grace_s() if limit_s is None else limit_s)
            while self.away_now() and time.monotonic() < deadline:
                sleep(0.1)
        self.away_at_end = self.away_now()

    # --- across processes ------------------------------------------------------------------------

    def to_wire(self) -> dict[str, Any]:
        out: dict[str, Any] = {name: getattr(self, name) for name in _COUNTERS}
        out.update(cuts_by_kind=dict(self.cuts_by_kind),
                   upgrade_failure_reasons=dict(self.upgrade_failure_reasons),
                   drop_reasons=dict(self.drop_reasons),
                   connect_errors=dict(self.connect_errors),
                   outages=[dict(o) for o in self.outages],
                   away=self.away_at_end if self.away_at_end is not None else self.away_now())
        return out


def _add(into: dict[str, int], more: dict[str, int]) -> None:
    for key, n in more.items():
        into[key] = into.get(key, 0) + n


def merge_outages(lists: Iterable[list[dict[str, Any]]], now_ms: float) -> list[dict[str, Any]]:
    """One list from several processes' outages: overlapping ones are one outage."""
    spans = sorted((dict(o) for outages in lists for o in outages), key=lambda o: o["start_ms"])
    inf = float("inf")
    merged: list[dict[str, Any]] = []
    for o in spans:
        end = o["end_ms"] if o["end_ms"] is not None else inf
        if merged:
            last = merged[-1]
            last_end = last["end_ms"] if last["end_ms"] is not None else inf
            if o["start_ms"] <= last_end:
                top = max(end, last_end)
                last["end_ms"] = None if top == inf else top
                last["unreachable_requests"] += o["unreachable_requests"]
                continue
        merged.append(o)
    return merged


def _iso_ms(ms: float | None) -> str | None:
    if ms is None:
        return None
    from datetime import datetime  # noqa: PLC0415  (only a run with an outage needs it)

    return (datetime.fromtimestamp(ms / 1000.0, UTC).isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"))


def sections(ctx: Any, reconciler: Any) -> dict[str, Any]:
    """report.json's `reconnection` and `outages`, from this process and its workers."""
    book: ReconnectionBook = ctx.reconnection
    parts = [book.to_wire()] + [w["reconnection"] for w in ctx.workers.totals.values()
                                if "reconnection" in w]
    total: dict[str, Any] = {name: sum(p[name] for p in parts) for name in _COUNTERS}
    cuts_by_kind: dict[str, int] = {}
    reasons: dict[str, int] = {}
    drops: dict[str, int] = {}
    errors: dict[str, int] = {}
    for p in parts:
        _add(cuts_by_kind, p["cuts_by_kind"])
        _add(reasons, p["upgrade_failure_reasons"])
        _add(drops, p.get("drop_reasons", {}))
        _add(errors, p["connect_errors"])
    now_ms = time.time() * 1000.0
    outages = []
    for o in merge_outages((p["outages"] for p in parts), now_ms):
        end = o["end_ms"] if o["end_ms"] is not None else now_ms
        outages.append({"started_at": _iso_ms(o["start_ms"]), "ended_at": _iso_ms(o["end_ms"]),
                        "duration_s": round(max(0.0, end - o["start_ms"]) / 1000.0, 3),
                        "ongoing_at_end": o["end_ms"] is None,
                        "unreachable_requests": o["unreachable_requests"]})
    plan = book.plan
    reconnection = {
        "count": total["reconnects"],
        "time_to_reconnect": ctx.book.summary(TIME_TO_RECONNECT),
        "time_to_consistent": ctx.book.summary(TIME_TO_CONSISTENT),
        "missed_while_away": reconciler.away.missed_while_away,
        "recovered": reconciler.away.recovered,
        "upgrade_failures": total["upgrade_failures"],
        "session_id_unknown": total["session_id_unknown"],
        "cut_plan": plan.describe() if plan is not None else None,
        "cuts": total["cuts"],
        "cuts_by_mode": cuts_by_kind,
        "unplanned_drops": total["unplanned_drops"],
        "unplanned_drop_reasons": drops,
        "consistent": total["consistent"],
        "catch_up_failures": total["catch_up_failures"],
        "away_at_end": sum(p["away"] for p in parts),
        "connect_errors": errors,
        "upgrade_failure_reasons": reasons,
        "unreachable_requests": total["unreachable_requests"],
        "unrecovered_samples": [list(x) for x in reconciler.unrecovered_samples()],
    }
    return {"reconnection": reconnection, "outages": outages}
