"""The generator watches itself: CPU, event-loop lag and users held, per process.

A load generator that is itself saturated delays what it receives, and its latency
figures then describe the generator, not the server. When CPU stays near 100 % or the
gevent loop lags, the report says the figures are suspect instead of blaming the server.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import gevent

#: Thresholds beyond which a sample counts against the generator.
CPU_LIMIT_PERCENT = 90.0
LAG_LIMIT_MS = 100.0
#: Share of bad samples that makes the run's latency figures suspect.
SUSPECT_SHARE = 0.1
_INTERVAL_S = 1.0
_MAX_SAMPLES = 7200


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

    def watch(self, environment: Any) -> gevent.Greenlet:
        return gevent.spawn(self._run, environment)

    def _run(self, environment: Any) -> None:
        last_cpu, last_wall = time.process_time(), time.monotonic()
        while True:
            before = time.monotonic()
            gevent.sleep(_INTERVAL_S)
            now = time.monotonic()
            # A loop that is busy wakes the sleeper late: the overshoot is the lag.
            self._add(self.lag_ms, max(0.0, (now - before - _INTERVAL_S) * 1000.0))
            cpu = time.process_time()
            self._add(self.cpu_percent, 100.0 * (cpu - last_cpu) / max(now - last_wall, 1e-6))
            last_cpu, last_wall = cpu, now
            runner = environment.runner
            self.users_max = max(self.users_max, getattr(runner, "user_count", 0) or 0)

    @staticmethod
    def _add(values: list[float], value: float) -> None:
        values.append(value)
        if len(values) > _MAX_SAMPLES:
            del values[: len(values) - _MAX_SAMPLES]

    def summary(self, process: str) -> dict[str, Any]:
        n = len(self.cpu_percent)
        hot = sum(1 for c in self.cpu_percent if c >= CPU_LIMIT_PERCENT)
        laggy = sum(1 for lag in self.lag_ms if lag > LAG_LIMIT_MS)
        reasons = []
        if n and hot / n >= SUSPECT_SHARE:
            reasons.append(f"CPU at or above {CPU_LIMIT_PERCENT:.0f}% in {hot} of {n} seconds")
        if n and laggy / n >= SUSPECT_SHARE:
            reasons.append(f"event-loop lag above {LAG_LIMIT_MS:.0f} ms in {laggy} of {n} seconds")
        return {
            "process": process,
            "samples": n,
            "cpu_percent_p50": _pct(self.cpu_percent, 0.5),
            "cpu_percent_max": _pct(self.cpu_percent, 1.0),
            "loop_lag_ms_p99": _pct(self.lag_ms, 0.99),
            "loop_lag_ms_max": _pct(self.lag_ms, 1.0),
            "users_max": self.users_max,
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
