"""A slow server that breaks no rule is blamed for nothing: one that answers a change long
after it pushed the change's events (`slow_answer`), later than the ledger waits for events.
"""

from __future__ import annotations

from pathlib import Path

from tests.support.load_runs import ServerPool, nonzero_faults, run_load, table


def test_answers_later_than_the_event_timeout_are_no_missing_and_no_leak(
        servers: ServerPool, tmp_path: Path) -> None:
    """Bug (seen against `slow_answer=30000`: 31 events called missing, all delivered at
    once): a receipt that no recorded change claimed within twice the event timeout was judged
    (a foreign order's, or a leak) before the change's answer came; the change, recorded
    later, then found none of its receipts. Here every answer comes 6 s after the change's
    events, the event timeout is 1 s."""
    run = run_load(servers.get("slow_answer=6000").url, tmp_path / "run", users=20,
                   duration="15", think_time="0.05-0.3", event_timeout=1.0)
    report = run.report
    assert run.returncode == 0, run.describe()
    assert not nonzero_faults(report), table(report)
    delivered = {name: e["delivered"] for name, e in report["events"].items()}
    assert delivered["newOrder"] > 0 and delivered["orderStatusUpdated"] > 0, table(report)
    assert report["foreign_events"] == 0, report["foreign_events"]
