"""Trigger-to-delivery in one process: each change's trigger paired with its events' arrivals.

A user's request and the events it causes race: an event can arrive before the HTTP answer
that tells which change (key) it belongs to. So either side may come first; the pairing
waits for the other. Both sides are this process's monotonic clock. Bounded: a run keeps
the most recent `limit` triggers and early arrivals (a change whose events never come must
not hold memory for the run).

No Locust or gevent here: tested in the tests' own process (tests/harness/test_triggers.py).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable

#: How many triggers, and how many keys with early arrivals, a process keeps.
LIMIT = 50_000


class TriggerMatch:
    """Pairs `caused` (a change's key and trigger time) with `arrived` (an event of that key
    and its arrival time); each returns the trigger-to-delivery milliseconds it completes."""

    def __init__(self, limit: int = LIMIT) -> None:
        self._limit = limit
        self._triggers: OrderedDict[Hashable, float] = OrderedDict()
        self._early: OrderedDict[Hashable, list[tuple[str, float]]] = OrderedDict()

    def caused(self, key: Hashable, trigger_mono: float) -> list[tuple[str, float]]:
        """A change of this process is known by its key now: (event, ms) for every event of
        it that arrived before."""
        self._triggers[key] = trigger_mono
        while len(self._triggers) > self._limit:
            self._triggers.popitem(last=False)
        return [(event, (arrived - trigger_mono) * 1000.0)
                for event, arrived in self._early.pop(key, [])]

    def arrived(self, key: Hashable, event: str, received_mono: float) -> float | None:
        """An event of `key` arrived: its trigger-to-delivery ms, or None until its change is
        known (`caused`), or ever if another process caused it."""
        trigger = self._triggers.get(key)
        if trigger is not None:
            return (received_mono - trigger) * 1000.0
        self._early.setdefault(key, []).append((event, received_mono))
        while len(self._early) > self._limit:
            self._early.popitem(last=False)
        return None


__all__ = ["LIMIT", "TriggerMatch"]
