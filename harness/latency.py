"""Latency figures in HDR histograms: microseconds, mergeable across processes, per interval.

A figure is a name (`newOrder`, `newOrder.emit_to_delivery`, `connect`, ...). Each has one
histogram for the whole run and one per time interval (for plots over time). Workers ship
what they recorded since their last report (`take_delta`), the master adds it
(`add_delta`): hdrhistogram's encoding adds up exactly, so percentiles of the merged run are
the percentiles of all samples, not an average of averages.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from dataclasses import dataclass, field
from itertools import accumulate
from typing import Any

from hdrh.histogram import HdrHistogram

#: 1 µs to 60 s at 3 significant digits: every latency this tool can see.
LOWEST_US, HIGHEST_US, DIGITS = 1, 60_000_000, 3
PERCENTILES = (("p50_ms", 50.0), ("p90_ms", 90.0), ("p95_ms", 95.0), ("p99_ms", 99.0),
               ("p999_ms", 99.9))


def new_histogram() -> HdrHistogram:
    return HdrHistogram(LOWEST_US, HIGHEST_US, DIGITS)


def release(hist: HdrHistogram) -> None:
    """Let a histogram no longer used be freed at once. hdrh's histogram and its encoder refer
    to each other: left alone, the pair waits for a full collection, which a generator that
    freezes what survives (`load/collector.py`) never makes: every closed interval leaked
    its 137 KiB (issue 11)."""
    hist.encoder = None


def decode(encoded: str | bytes) -> HdrHistogram:
    hist = new_histogram()
    hist.decode_and_add(encoded if isinstance(encoded, bytes) else encoded.encode())
    return hist


def summarize(hist: HdrHistogram | None) -> dict[str, float | int | None]:
    """The report's figure: `p50_ms` ... `p999_ms`, `max_ms`, `count` (None without samples)."""
    count = hist.get_total_count() if hist is not None else 0
    out: dict[str, float | int | None] = {}
    if hist is None or not count:
        out.update({name: None for name, _ in PERCENTILES}, max_ms=None, count=0)
        return out
    values = percentile_values(hist, [pct for _, pct in PERCENTILES])
    for name, pct in PERCENTILES:
        out[name] = round(values[pct] / 1000.0, 3)
    out["max_ms"] = round(hist.get_max_value() / 1000.0, 3)
    out["count"] = count
    return out


def percentile_values(hist: HdrHistogram, percentiles: list[float]) -> dict[float, int]:
    """hdrh's `get_percentile_to_value_dict`, the same values, from one cumulative sum.

    hdrh walks its counts in pure Python, bucket by bucket up to the highest percentile
    asked: 3.3 ms a figure, a tenth of a held generator's CPU in its checkpoints (issue 11).
    Here the running sum is `itertools.accumulate` over the counts' own buffer and each
    percentile a binary search (1.1 ms; numpy did it in 0.35 ms, but is 10 MB more in
    every Locust process)."""
    size = min(hist.counts_len, hist.encoder.payload.counts_len)
    counts = memoryview(hist.counts).cast("B").cast("Q")[:size]  # (ctypes says "<Q": native)
    cumulative = list(accumulate(counts))
    out: dict[float, int] = {}
    for pct in sorted(set(percentiles)):
        if pct > 100:
            break
        index = bisect_left(cumulative, hist.get_target_count_at_percentile(pct))
        if index >= size:
            break  # more asked than counted (hdrh leaves it out too)
        value = hist.get_value_from_index(index)
        out[pct] = (hist.get_highest_equivalent_value(value) if pct
                    else hist.get_lowest_equivalent_value(value))
    return out


@dataclass
class _Figure:
    total: HdrHistogram = field(default_factory=new_histogram)
    #: Intervals still receiving samples; older ones are kept encoded (a live histogram is
    #: 137 KiB, an encoded one a few hundred bytes), so long runs stay small.
    live: dict[int, HdrHistogram] = field(default_factory=dict)
    closed: dict[int, bytes] = field(default_factory=dict)
    #: The total's summary and the sample count it was made at: every checkpoint asks for
    #: every figure's, and most figures (registration, connects) stop growing after the ramp.
    summarized: tuple[int, dict[str, float | int | None]] | None = None

    def interval(self, slot: int) -> HdrHistogram:
        hist = self.live.get(slot)
        if hist is None:
            hist = self.live[slot] = new_histogram()
            if slot in self.closed:
                hist.decode_and_add(self.closed.pop(slot))
            for old in [s for s in self.live if s < slot - 1]:
                closing = self.live.pop(old)
                self.closed[old] = closing.encode()
                release(closing)
        return hist

    def encoded_intervals(self) -> dict[str, str]:
        """Every interval encoded, in time order: closed ones as kept (a checkpoint every few
        seconds must not decode and re-encode the whole run each time)."""
        out = {slot: enc.decode() for slot, enc in self.closed.items()}
        out.update((slot, hist.encode().decode()) for slot, hist in self.live.items())
        return {str(slot): out[slot] for slot in sorted(out)}

    def intervals(self) -> list[tuple[int, HdrHistogram]]:
        merged = {slot: decode(enc) for slot, enc in self.closed.items()}
        merged.update(self.live)
        return sorted(merged.items())


class LatencyBook:
    """Histograms per figure; `interval_s` sets the time resolution of the per-interval ones.
    `ships`: a worker's book, whose samples since the last `take_delta` go to the master; a
    book that no one takes deltas from keeps none (they would pile up, a histogram of 137 KiB
    per figure and interval, for the whole run)."""

    def __init__(self, interval_s: float = 5.0, *, ships: bool = False) -> None:
        if interval_s <= 0:
            raise ValueError("interval_s must be positive")
        self.interval_s = interval_s
        self.ships = ships
        self._figures: dict[str, _Figure] = {}
        self._delta: dict[tuple[str, int], HdrHistogram] = {}
        #: Samples outside 1 µs..60 s, by figure: recorded at the bound and counted here,
        #: never dropped silently.
        self.clamped: dict[str, int] = {}

    def figures(self) -> list[str]:
        return sorted(self._figures)

    def counts(self) -> dict[str, int]:
        """Figure -> how many samples it holds, for every figure."""
        return {name: int(self._figures[name].total.get_total_count()) for name in self.figures()}

    def record(self, figure: str, ms: float, at: float) -> None:
        """One sample of `ms` milliseconds, observed at wall time `at` (seconds)."""
        if math.isnan(ms):
            return
        us = round(ms * 1000.0)
        if us < LOWEST_US or us > HIGHEST_US:
            self.clamped[figure] = self.clamped.get(figure, 0) + 1
            us = min(max(us, LOWEST_US), HIGHEST_US)
        slot = int(at // self.interval_s)
        fig = self._figure(figure)
        fig.total.record_value(us)
        fig.interval(slot).record_value(us)
        if not self.ships:
            return
        delta = self._delta.get((figure, slot))
        if delta is None:
            delta = self._delta[(figure, slot)] = new_histogram()
        delta.record_value(us)

    def _figure(self, figure: str) -> _Figure:
        # Not `setdefault(figure, _Figure())`: that builds (and drops) a histogram per sample.
        fig = self._figures.get(figure)
        if fig is None:
            fig = self._figures[figure] = _Figure()
        return fig

    def summary(self, figure: str) -> dict[str, float | int | None]:
        fig = self._figures.get(figure)
        if fig is None:
            return summarize(None)
        count = fig.total.get_total_count()
        if fig.summarized is None or fig.summarized[0] != count:
            fig.summarized = (count, summarize(fig.total))
        return dict(fig.summarized[1])

    def histogram(self, figure: str) -> HdrHistogram | None:
        fig = self._figures.get(figure)
        return fig.total if fig else None

    def over_time(self, figure: str) -> list[tuple[float, dict[str, float | int | None]]]:
        """(interval start, summary) for every interval with samples, in time order."""
        fig = self._figures.get(figure)
        if fig is None:
            return []
        return [(slot * self.interval_s, summarize(h)) for slot, h in fig.intervals()]

    # --- across processes ---------------------------------------------------------------------

    def take_delta(self) -> dict[str, Any]:
        """What was recorded since the last call, encoded, for a worker's report to the master."""
        out = {
            "interval_s": self.interval_s,
            "hists": [[figure, slot, hist.encode().decode()] for (figure, slot), hist in self._delta.items()],
            "clamped": dict(self.clamped),
        }
        for hist in self._delta.values():
            release(hist)
        self._delta.clear()
        self.clamped = {}
        return out

    def add_delta(self, delta: dict[str, Any]) -> None:
        """Merge another process's `take_delta` (exact: histogram counts add up)."""
        if delta.get("interval_s") != self.interval_s:
            raise ValueError("latency deltas with different interval lengths cannot be merged")
        for figure, slot, encoded in delta["hists"]:
            fig = self._figure(figure)
            fig.total.decode_and_add(encoded.encode())
            fig.interval(slot).decode_and_add(encoded.encode())
        for figure, n in delta.get("clamped", {}).items():
            self.clamped[figure] = self.clamped.get(figure, 0) + n

    def encoded(self) -> dict[str, Any]:
        """Every figure's whole-run and per-interval histograms, encoded (histograms.json)."""
        return {
            "interval_s": self.interval_s,
            "lowest_us": LOWEST_US,
            "highest_us": HIGHEST_US,
            "significant_digits": DIGITS,
            "figures": {
                name: {"total": fig.total.encode().decode(), "intervals": fig.encoded_intervals()}
                for name, fig in sorted(self._figures.items())
            },
        }
