"""The master's view of its Locust workers: each one's running totals, when it was last heard
from, which were lost mid-run and which finished draining. No Locust or gevent here: the
plugin (runtime.py) feeds it from worker messages and heartbeats.
"""

from __future__ import annotations

from typing import Any


class WorkerBook:
    """What the master knows of its workers (report.json `workers`, `processes`, `lost_workers`)."""

    def __init__(self) -> None:
        #: Each worker process's latest running totals (its report, less records and latency).
        self.totals: dict[str, dict[str, Any]] = {}
        #: Each worker node: (its process, when it was last heard from, wall ms).
        self.nodes: dict[str, tuple[str, float]] = {}
        #: Workers lost mid-run, by node: their process and when they were last heard from.
        self.lost: dict[str, dict[str, Any]] = {}
        #: Nodes that said they finished draining.
        self.drained: set[str] = set()

    def heard(self, node_id: str, report: dict[str, Any], now_ms: float) -> None:
        """A worker's report came: keep its running totals (records and latency are merged
        into the books as they come)."""
        self.nodes[node_id] = (report["process"], now_ms)
        self.totals[report["process"]] = {k: v for k, v in report.items() if k not in ("records", "latency")}

    def mark_lost(self, node_id: str, run_started_ms: float) -> tuple[str | None, float] | None:
        """A worker stopped answering: (its process, when it was last heard from), or None if
        it was marked lost before. One never heard from counts from the run's start."""
        if node_id in self.lost:
            return None
        process, last_heard_ms = self.nodes.get(node_id, (None, run_started_ms))
        self.lost[node_id] = {"node": node_id, "process": process, "last_heard_ms": last_heard_ms}
        return process, last_heard_ms

    def live_nodes(self) -> list[tuple[str, float]]:
        """(process, last heard ms) of every worker not lost."""
        return [(process, ms) for node, (process, ms) in self.nodes.items() if node not in self.lost]

    def awaited_since_ms(self) -> list[float]:
        """When each live worker's oldest change still awaiting its answer was sent (wall ms),
        as its last report said; workers awaiting none are left out."""
        live = {process for process, _ in self.live_nodes()}
        return [ms for process, totals in self.totals.items()
                if process in live and (ms := totals.get("awaited_since_ms")) is not None]

    def not_drained(self) -> list[tuple[str, float]]:
        """(process, last heard ms) of every worker neither lost nor drained: at the run's end
        (Ctrl-C, or a drain that timed out) the books close on what each shipped last."""
        return [(process, ms) for node, (process, ms) in self.nodes.items()
                if node not in self.lost and node not in self.drained]


__all__ = ["WorkerBook"]
