"""This process's clock offset to the server's, from `time_sync` acks (contract section 7).

NTP's idea in one line: for a request sent at client time t0, answered with server time s,
received at t1, the offset is s - (t0 + t1) / 2, wrong by at most half the round trip. The
sample with the smallest round trip is the best; samples age out so that a drifting clock
is re-estimated during long runs.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass


@dataclass(frozen=True)
class OffsetSample:
    offset_ms: float
    rtt_ms: float
    taken_at: float  # monotonic seconds


class ClockOffset:
    """Server time minus local wall time, in ms; None until the first sample."""

    def __init__(self, window_s: float = 60.0, keep: int = 64) -> None:
        self.window_s = window_s
        self._samples: deque[OffsetSample] = deque(maxlen=keep)

    def add(self, sent_wall_ms: float, server_ms: float, received_wall_ms: float,
            now_mono: float | None = None) -> OffsetSample | None:
        """Record one exchange; an answer that came back before it was asked is ignored."""
        rtt = received_wall_ms - sent_wall_ms
        if rtt < 0:
            return None
        sample = OffsetSample(server_ms - (sent_wall_ms + received_wall_ms) / 2.0, rtt,
                              time.monotonic() if now_mono is None else now_mono)
        self._samples.append(sample)
        return sample

    def best(self, now_mono: float | None = None) -> OffsetSample | None:
        """The smallest-round-trip sample of the last `window_s` (or the newest, if all are old)."""
        if not self._samples:
            return None
        now = time.monotonic() if now_mono is None else now_mono
        recent = [s for s in self._samples if now - s.taken_at <= self.window_s]
        return min(recent or [self._samples[-1]], key=lambda s: s.rtt_ms)

    @property
    def offset_ms(self) -> float | None:
        best = self.best()
        return best.offset_ms if best else None

    def server_ms(self, wall_s: float | None = None) -> float | None:
        """A local wall time (seconds, default now) on the server's clock, in ms."""
        best = self.best()
        if best is None:
            return None
        return (time.time() if wall_s is None else wall_s) * 1000.0 + best.offset_ms
