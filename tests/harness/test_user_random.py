"""A user's random stream: reproducible from its seed, in range, and unbiased enough for data."""

from __future__ import annotations

import sys
from collections import Counter

import pytest

from harness.load.user_random import UserRandom


def test_the_same_seed_gives_the_same_stream_and_another_seed_another() -> None:
    a, b, c = UserRandom("7/p/1"), UserRandom("7/p/1"), UserRandom("7/p/2")
    first = [a.getrandbits(64) for _ in range(5)]
    assert first == [b.getrandbits(64) for _ in range(5)]
    assert first != [c.getrandbits(64) for _ in range(5)]


def test_draws_stay_in_their_ranges_and_spread_evenly() -> None:
    r = UserRandom("seed")
    floats = [r.random() for _ in range(20_000)]
    assert 0.0 <= min(floats) and max(floats) < 1.0 and abs(sum(floats) / len(floats) - 0.5) < 0.01
    counts = Counter(r.randrange(5) for _ in range(50_000))
    assert set(counts) == set(range(5)) and max(counts.values()) - min(counts.values()) < 700
    assert {r.randint(1, 4) for _ in range(500)} == {1, 2, 3, 4}
    assert all(0.5 <= r.uniform(0.5, 2.0) < 2.0 for _ in range(500))
    assert all(0 <= r.getrandbits(32) < 2 ** 32 for _ in range(500))
    assert r.choice("xyz") in "xyz"
    with pytest.raises(ValueError):
        r.randrange(0)


def test_a_stream_is_a_few_bytes_not_a_mersenne_twister() -> None:
    import random

    assert sys.getsizeof(UserRandom("s")) < 100 < 2000 < sys.getsizeof(random.Random(1))
