"""Latency histograms: known values give known percentiles; merges are exact; nothing is lost."""

from __future__ import annotations

import random

import pytest

from harness.clock import ClockOffset
from harness.latency import PERCENTILES, LatencyBook, decode, new_histogram, percentile_values, summarize


def test_known_delays_give_known_percentiles() -> None:
    book = LatencyBook(interval_s=1.0)
    for ms in range(1, 1001):          # 1..1000 ms, one each
        book.record("newOrder", float(ms), at=100.0)
    s = book.summary("newOrder")
    assert s["count"] == 1000
    assert s["p50_ms"] == pytest.approx(500, rel=0.002)
    assert s["p99_ms"] == pytest.approx(990, rel=0.002)
    assert s["max_ms"] == pytest.approx(1000, rel=0.002)
    assert book.summary("nothing") == {"p50_ms": None, "p90_ms": None, "p95_ms": None,
                                       "p99_ms": None, "p999_ms": None, "max_ms": None, "count": 0}
    assert list(book.summary("nothing")) == list(book.summary("newOrder"))  # same keys, same order
    book.record("connect", 3.0, at=100.0)
    assert book.counts() == {"connect": 1, "newOrder": 1000}


def test_two_processes_merge_exactly() -> None:
    rng = random.Random(7)
    samples = [rng.expovariate(1 / 40.0) + 0.5 for _ in range(5000)]
    whole, master = LatencyBook(2.0), LatencyBook(2.0)
    a, b = LatencyBook(2.0, ships=True), LatencyBook(2.0, ships=True)
    for i, ms in enumerate(samples):
        at = 1000.0 + i * 0.01
        whole.record("x", ms, at)
        (a if i % 2 else b).record("x", ms, at)
    master.add_delta(a.take_delta())
    master.add_delta(b.take_delta())
    assert master.summary("x") == whole.summary("x")
    assert master.over_time("x") == whole.over_time("x")
    # A delta is taken once: a second take is empty.
    assert a.take_delta()["hists"] == []


def test_out_of_range_samples_are_clamped_and_counted() -> None:
    book = LatencyBook()
    book.record("x", 0.0001, at=1.0)     # below 1 µs
    book.record("x", 120_000.0, at=1.0)  # above 60 s
    assert book.clamped == {"x": 2}
    assert book.summary("x")["count"] == 2
    assert book.summary("x")["max_ms"] == pytest.approx(60_000, rel=0.001)


def test_intervals_are_kept_compact_and_complete() -> None:
    book = LatencyBook(interval_s=1.0)
    for second in range(100):
        book.record("x", 10.0 + second, at=float(second))
    fig = book._figures["x"]
    assert len(fig.live) <= 2 and len(fig.closed) >= 98
    over = book.over_time("x")
    assert [start for start, _ in over] == [float(s) for s in range(100)]
    assert over[42][1]["p50_ms"] == pytest.approx(52, rel=0.002)
    encoded = book.encoded()["figures"]["x"]
    assert summarize(decode(encoded["total"]))["count"] == 100
    # A late sample reopens its interval.
    book.record("x", 5.0, at=3.5)
    assert book.over_time("x")[3][1]["count"] == 2


def test_clock_offset_prefers_the_tightest_round_trip() -> None:
    clock = ClockOffset(window_s=60)
    # True offset +500 ms. A slow exchange is asymmetric and would mislead by 40 ms.
    clock.add(sent_wall_ms=1000, server_ms=1580, received_wall_ms=1120, now_mono=1.0)
    clock.add(sent_wall_ms=2000, server_ms=2502, received_wall_ms=2004, now_mono=2.0)
    best = clock.best(now_mono=3.0)
    assert best is not None and best.offset_ms == 500 and best.rtt_ms == 4
    assert clock.add(sent_wall_ms=10, server_ms=0, received_wall_ms=5) is None  # time ran back
    # Old samples age out, so a drifting clock is re-estimated.
    clock.add(sent_wall_ms=90_000, server_ms=90_710, received_wall_ms=90_020, now_mono=100.0)
    assert clock.best(now_mono=100.0).offset_ms == 700


def test_a_book_no_one_ships_keeps_no_deltas_and_a_sample_builds_no_histogram() -> None:
    """A one-process run's book kept every interval's delta (137 KiB each) for the whole run,
    and every sample built a histogram it dropped at once (`setdefault(figure, _Figure())`):
    seen as 1.2 MB/s of growth at 2,000 users (issue 11)."""
    import tracemalloc

    book = LatencyBook(interval_s=1.0)
    book.record("x", 5.0, at=0.0)
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        for i in range(200):
            book.record("x", 5.0 + i, at=0.5)  # the same figure and interval
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 20_000, f"{peak} bytes at peak: a histogram built per sample"
    for second in range(50):
        book.record("x", 5.0, at=float(second))
    assert book._delta == {}
    assert book.take_delta()["hists"] == []


def test_closed_intervals_and_shipped_deltas_are_freed_without_a_full_collection() -> None:
    """The generator freezes what survives young collections (load/collector.py): a histogram
    freed only by the cycle collector (hdrh's histogram and encoder refer to each other) was
    never freed, and every closed interval and every shipped delta leaked 137 KiB."""
    import gc
    import weakref

    book = LatencyBook(interval_s=1.0, ships=True)
    book.record("x", 5.0, at=0.0)
    first_interval = weakref.ref(book._figures["x"].live[0])
    first_delta = weakref.ref(book._delta[("x", 0)])
    gc.disable()
    try:
        book.take_delta()
        for second in range(1, 5):
            book.record("x", 5.0, at=float(second))
        assert first_delta() is None and first_interval() is None
    finally:
        gc.enable()
    assert book.over_time("x")[0][1]["count"] == 1


@pytest.mark.parametrize("seed", range(40))
def test_percentiles_are_hdrhs_own_values(seed: int) -> None:
    """`percentile_values` (numpy) gives exactly what hdrh's own pure-Python scan gives: for
    samples spread from a microsecond to a minute, for a handful, for one, and after a
    histogram was encoded and decoded (a decoded one's counts array may be shorter)."""
    rng = random.Random(seed)
    hist = new_histogram()
    for _ in range(rng.choice((1, 3, 50, 5000))):
        hist.record_value(min(60_000_000, max(1, int(rng.lognormvariate(rng.uniform(2, 14), rng.uniform(0.1, 2))))))
    asked = [0.0, *(pct for _, pct in PERCENTILES), 12.5, 99.99, 100.0]
    for h in (hist, decode(hist.encode())):
        assert percentile_values(h, asked) == h.get_percentile_to_value_dict(asked)


def test_a_figure_summary_is_remade_only_when_samples_came() -> None:
    """Checkpoints ask every figure's summary; one without new samples is not scanned again,
    and one with new samples is (a stale summary would hide the run's latest samples),
    whether they were recorded here or merged from a worker."""
    book = LatencyBook()
    for ms in (1.0, 2.0, 3.0):
        book.record("connect", ms, 0.0)
    first = book.summary("connect")
    first["p50_ms"] = -1.0  # the caller's copy: the book's stays whole
    assert book.summary("connect") == summarize(book.histogram("connect"))
    book.record("connect", 500.0, 1.0)
    again = book.summary("connect")
    assert again["count"] == 4 and again["max_ms"] >= 499, again
    worker = LatencyBook(ships=True)
    worker.record("connect", 900.0, 2.0)
    book.add_delta(worker.take_delta())
    merged = book.summary("connect")
    assert merged["count"] == 5 and merged["max_ms"] >= 899, merged
    assert book.summary("nothing") == summarize(None)
