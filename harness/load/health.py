"""The generator watches itself: CPU, event-loop lag, receive delay and users held, per process.

A load generator that is itself saturated delays what it receives, and its latency
figures then describe the generator, not the server. When CPU stays near 100 % or the
gevent loop lags, the report says the figures are suspect instead of blaming the server.

CPU averaged over a second misses short bursts: a process at 30 % CPU on average can hold
every socket for 200 ms while it spawns users, exactly when the first orders' events arrive
(issue 8). So the lag probe wakes ten times a second (a hold of 150 ms, every other 150 ms,
reads as lag in a quarter of its probes; probed once a second, in none of ten seconds one
run in six). The **receive delay** sees them: for every event, the time from its
frame's arrival (arrival.py) to its handler running. Where frames carry the kernel's
stamp, the latency figures already leave that delay out, and a long one only delays the
users' reactions; where they do not (TLS, polling), it is inside every figure, and the
figures are suspect when it is long.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import gevent

from ..latency import new_histogram, summarize
from .arrival import KERNEL
from .collector import Collector
from .disruption import WEBSOCKET_READERS

if TYPE_CHECKING:
    from locust.env import Environment

#: Thresholds beyond which a sample counts against the generator.
CPU_LIMIT_PERCENT = 90.0
LAG_LIMIT_MS = 100.0
#: A receive delay (arrival to handler) at p99 beyond this is the generator's burst.
RECEIVE_DELAY_LIMIT_MS = 50.0
#: Share of bad samples that makes the run's latency figures suspect.
SUSPECT_SHARE = 0.1
#: Seconds in a row at the CPU limit that make them suspect too, however long the run: a
#: ramp that saturates the generator for a few seconds of a long run touches the figures
#: of every change caused then (a request sent seconds after its trigger), though it is a
#: small share of all seconds.
SATURATED_STREAK_S = 3
_INTERVAL_S = 1.0
#: The lag probe's period (CPU is sampled every `_INTERVAL_S`).
_LAG_INTERVAL_S = 0.1
_PROBES_PER_SAMPLE = round(_INTERVAL_S / _LAG_INTERVAL_S)
_MAX_SAMPLES = 7200
_MAX_PROBES = _MAX_SAMPLES * _PROBES_PER_SAMPLE


def _longest_streak(flags: list[bool]) -> tuple[int, int]:
    """The longest run of True: its length, and the 1-based index of its last element."""
    best, best_end, run = 0, 0, 0
    for i, flag in enumerate(flags, 1):
        run = run + 1 if flag else 0
        if run > best:
            best, best_end = run, i
    return best, best_end


def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1)


@dataclass
class GeneratorHealth:
    cpu_percent: list[float] = field(default_factory=list)
    lag_ms: list[float] = field(default_factory=list)
    users_max: int = 0
    #: Arrival to handler, per event received (µs histogram).
    receive_delay: Any = field(default_factory=new_histogram)
    #: Events whose arrival the kernel stamped, and the others (stamped when read).
    stamped: dict[str, int] = field(default_factory=lambda: {"kernel": 0, "read": 0})
    #: The garbage collector's schedule and pauses (collector.py).
    collector: Collector = field(default_factory=Collector)
    #: Sampling until the run has drained (`stop_watching`).
    watching: bool = True

    def received(self, source: str, delay_ms: float) -> None:
        """One event's receive delay, and how its arrival was stamped."""
        self.receive_delay.record_value(min(max(1, int(delay_ms * 1000.0)), 60_000_000))
        self.stamped["kernel" if source == KERNEL else "read"] += 1

    def watch(self, environment: Environment) -> gevent.Greenlet:
        self.collector.start()
        return gevent.spawn(self._run, environment)

    def stop_watching(self) -> None:
        """The run has measured all it will (drained): stopping 19,000 users then held the
        CPU at 100 % for four seconds, and flagged a run whose figures it never touched."""
        self.watching = False

    def _run(self, environment: Environment) -> None:
        last_cpu, last_wall = time.process_time(), time.monotonic()
        probes = 0
        while self.watching:
            before = time.monotonic()
            gevent.sleep(_LAG_INTERVAL_S)
            if not self.watching:
                return
            now = time.monotonic()
            # A loop that is busy wakes the sleeper late: the overshoot is the lag.
            self._add(self.lag_ms, max(0.0, (now - before - _LAG_INTERVAL_S) * 1000.0), _MAX_PROBES)
            probes += 1
            if probes % _PROBES_PER_SAMPLE:
                continue
            cpu = time.process_time()
            self._add(self.cpu_percent, 100.0 * (cpu - last_cpu) / max(now - last_wall, 1e-6))
            last_cpu, last_wall = cpu, now
            runner = environment.runner
            self.users_max = max(self.users_max, getattr(runner, "user_count", 0) or 0)

    @staticmethod
    def _add(values: list[float], value: float, most: int = _MAX_SAMPLES) -> None:
        values.append(value)
        if len(values) > most:
            del values[: len(values) - most]

    def summary(self, process: str) -> dict[str, Any]:
        n = len(self.cpu_percent)
        hot = sum(1 for c in self.cpu_percent if c >= CPU_LIMIT_PERCENT)
        probes = len(self.lag_ms)
        laggy = sum(1 for lag in self.lag_ms if lag > LAG_LIMIT_MS)
        reasons = []
        if n and hot / n >= SUSPECT_SHARE:
            reasons.append(f"CPU at or above {CPU_LIMIT_PERCENT:.0f}% in {hot} of {n} seconds")
        else:
            streak, ends = _longest_streak([c >= CPU_LIMIT_PERCENT for c in self.cpu_percent])
            if streak >= SATURATED_STREAK_S:
                reasons.append(f"CPU at or above {CPU_LIMIT_PERCENT:.0f}% for {streak} seconds in "
                               f"a row (seconds {ends - streak + 1} to {ends} of {n})")
        if probes and laggy / probes >= SUSPECT_SHARE:
            reasons.append(f"event-loop lag above {LAG_LIMIT_MS:.0f} ms in {laggy} of {probes} "
                           f"probes (one every {_LAG_INTERVAL_S:g} s)")
        delay = summarize(self.receive_delay)
        unstamped = self.stamped["read"]
        delay_p99 = delay["p99_ms"]
        if isinstance(delay_p99, float) and delay_p99 > RECEIVE_DELAY_LIMIT_MS and unstamped:
            share = unstamped / max(1, unstamped + self.stamped["kernel"])
            if share >= SUSPECT_SHARE:
                reasons.append(f"events waited up to {delay_p99:.0f} ms (p99) to be handled, and "
                               f"{share:.0%} of them had no kernel arrival stamp")
        return {
            "process": process,
            "samples": n,
            "cpu_percent_p50": _pct(self.cpu_percent, 0.5),
            "cpu_percent_max": _pct(self.cpu_percent, 1.0),
            "loop_lag_ms_p99": _pct(self.lag_ms, 0.99),
            "loop_lag_ms_max": _pct(self.lag_ms, 1.0),
            "users_max": self.users_max,
            "receive_delay_ms": {k: delay[k] for k in ("p50_ms", "p99_ms", "max_ms", "count")},
            "arrival_stamps": dict(self.stamped),
            "websocket_readers": dict(WEBSOCKET_READERS),
            "gc_pause_ms": self.collector.summary(),
            "suspect": bool(reasons),
            "reasons": reasons,
        }


def verdict(processes: list[dict[str, Any]]) -> dict[str, Any]:
    """The report's `generator` section: every process, and whether latency is to be trusted."""
    suspect = [p for p in processes if p["suspect"]]
    note = None
    if suspect:
        note = ("the load generator was saturated (" + "; ".join(
            f"{p['process']}: {', '.join(p['reasons'])}" for p in suspect)
            + "): latency figures are suspect; use more --workers or fewer users per process")
    return {"processes": processes, "latency_suspect": bool(suspect), "note": note}
