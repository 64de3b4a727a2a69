"""The records one process queues for the run's books, shipped in wire form.

A worker ships them to the master once a second; a process that keeps the books itself
takes them at the same pace. Either way `take` hands over everything queued since the last
call exactly once, and counts what it handed over (report.json `processes`: a process's own
changes and first receipts, which the run's totals must add up to).

No Locust or gevent here: tested in the tests' own process (tests/harness/test_outbox.py).
"""

from __future__ import annotations

from typing import Any, Protocol

from ..ledger import CatchUp, ChangeRecord, Presence, Receipt, Unanswered


class Wired(Protocol):
    """A record that travels to the books (a witness offer, say)."""

    def to_wire(self) -> list[Any]: ...


class Outbox:
    """Changes caused, first receipts, presence, catch-up reads, unanswered changes and
    witness offers, queued until `take`. Its lists stay the same objects for its life."""

    def __init__(self) -> None:
        self.changes: list[ChangeRecord] = []
        self.receipts: list[Receipt] = []
        self.presence: list[Presence] = []
        self.catchups: list[CatchUp] = []
        self.unanswered: list[Unanswered] = []
        self.offers: list[Wired] = []
        #: What `take` handed over so far: changes by their first event ("none" for a change
        #: that pushes none), first receipts by event.
        self.taken: dict[str, dict[str, int]] = {"changes": {}, "receipts": {}}

    def take(self) -> dict[str, list[Any]]:
        """Everything queued since the last call, in wire form; the queue is empty after."""
        out = {"changes": [r.to_wire() for r in self.changes],
               "receipts": [r.to_wire() for r in self.receipts],
               "presence": [r.to_wire() for r in self.presence],
               "catchups": [r.to_wire() for r in self.catchups],
               "unanswered": [r.to_wire() for r in self.unanswered],
               "witness": [o.to_wire() for o in self.offers]}
        changes, receipts = self.taken["changes"], self.taken["receipts"]
        for change in self.changes:
            first = change.emissions[0][0] if change.emissions else "none"
            changes[first] = changes.get(first, 0) + 1
        for receipt in self.receipts:
            receipts[receipt.event] = receipts.get(receipt.event, 0) + 1
        # Emptied in place: others queue through these very lists (the run's Awaiting holds
        # `unanswered.append`).
        for queue in (self.changes, self.receipts, self.presence, self.catchups, self.unanswered,
                      self.offers):
            queue.clear()
        return out


__all__ = ["Outbox", "Wired"]
