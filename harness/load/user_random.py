"""A simulated user's own random stream, in 8 bytes of state.

Every user draws its data and pacing from a stream seeded by the run's seed and its own
number, so that `--seed` reproduces a run user by user. Python's `random.Random` carries the
Mersenne Twister's 2.5 KB of state: at 20,000 users a process, 50 MB for streams that each
draw a few numbers a minute. This is SplitMix64 (Steele, Lea and Flood, 2014), which passes
BigCrush, with the few methods the users call.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import TypeVar

_MASK = (1 << 64) - 1
_T = TypeVar("_T")


class UserRandom:
    __slots__ = ("_state",)

    def __init__(self, seed: str) -> None:
        self._state = int.from_bytes(hashlib.blake2b(seed.encode(), digest_size=8).digest(), "big")

    def _next(self) -> int:
        self._state = (self._state + 0x9E3779B97F4A7C15) & _MASK
        z = self._state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
        return z ^ (z >> 31)

    def random(self) -> float:
        """A float in [0, 1), from the top 53 bits."""
        return (self._next() >> 11) * (1.0 / (1 << 53))

    def uniform(self, low: float, high: float) -> float:
        return low + (high - low) * self.random()

    def getrandbits(self, k: int) -> int:
        if not 0 < k <= 64:
            raise ValueError("getrandbits: 1 to 64 bits")
        return self._next() >> (64 - k)

    def randrange(self, n: int) -> int:
        """An int in [0, n), without modulo bias."""
        if n <= 0:
            raise ValueError("randrange: empty range")
        limit = (1 << 64) - (1 << 64) % n
        while True:
            x = self._next()
            if x < limit:
                return x % n

    def randint(self, low: int, high: int) -> int:
        return low + self.randrange(high - low + 1)

    def choice(self, items: Sequence[_T]) -> _T:
        return items[self.randrange(len(items))]
