"""The end-of-run summary a person reads, from a `report.json` (no Locust needed)."""

from __future__ import annotations

from typing import Any

from .ledger.records import COUNT_NAMES
from .reporting.thresholds import did_no_work, headline, work_verdicts

_SHORT = {"duplicate": "dup", "out_of_order": "ooo"}
_WIDTH = 9


def summary_text(report: dict[str, Any]) -> str:
    """A readable end-of-run table."""
    run = report["run"]
    lines = [] if run.get("complete", True) else [
        f"INCOMPLETE: {run.get('incomplete_reason')}; these are the figures measured until then"]
    lines += [f"run {run['id']} against {run['target']}: {run['duration_s']:.0f} s, "
             f"{run['orders_created']} orders ({run['achieved_order_rate']}/s"
             + (f", requested {run['requested_order_rate']}/s" if run["requested_order_rate"] else "")
             + ")",
             f"{'event':24} " + " ".join(f"{_SHORT.get(c, c):>{_WIDTH}}" for c in COUNT_NAMES)
             + f" {'p50 ms':>8} {'p99 ms':>8}"]
    for name, e in report["events"].items():
        lat = e.get("trigger_to_delivery") or {}
        p50 = "-" if lat.get("p50_ms") is None else f"{lat['p50_ms']:.1f}"
        p99 = "-" if lat.get("p99_ms") is None else f"{lat['p99_ms']:.1f}"
        lines.append(f"{name:24} " + " ".join(f"{e.get(c, 0):>{_WIDTH}}" for c in COUNT_NAMES)
                     + f" {p50:>8} {p99:>8}")
    conn = report["connections"]
    lines.append(f"connections: {conn['succeeded']} of {conn['attempted']}; "
                 f"connect p99 {report['latency']['connect']['p99_ms']} ms")
    lines += _work_lines(report)
    rec = report.get("reconnection", {})
    if rec.get("count"):
        ttr = (rec.get("time_to_reconnect") or {}).get("p95_ms")
        ttc = (rec.get("time_to_consistent") or {}).get("p95_ms")
        lines.append(f"reconnection: {rec['count']} reconnects (p95 {ttr} ms to reconnect, "
                     f"{ttc} ms to consistent); {rec.get('missed_while_away', 0)} events missed "
                     f"while away, {rec.get('recovered', 0)} recovered by catch-up reads")
    for outage in report.get("outages", []):
        lines.append(f"outage: target unreachable from {outage.get('started_at')} for "
                     f"{outage.get('duration_s')} s")
    iso = report.get("isolation", {})
    if iso.get("join_attempts") or iso.get("bad_token_attempts"):
        lines.append(f"isolation: {iso.get('join_attempts', 0)} room-joining attempts, "
                     f"{iso.get('bad_token_attempts', 0)} bad-token connects "
                     f"({iso.get('bad_tokens_accepted', 0)} accepted), {iso.get('leaked', 0)} events leaked")
    if report["generator"]["latency_suspect"]:
        lines.append("WARNING: " + report["generator"]["note"])
    clock_note = (report.get("clock") or {}).get("note")
    if clock_note:
        lines.append(f"note: {clock_note}")
    lines += backlog_lines(report)
    lines += witness_lines(report.get("witness"))
    return "\n".join(lines)


def backlog_lines(report: dict[str, Any]) -> list[str]:
    """What the generator's own backlog did to the books, when it did anything."""
    lines = []
    recorded_late = report.get("recorded_late_events") or 0
    if recorded_late:
        lines.append(f"NOTE: {recorded_late} events arrived in time but were recorded only after "
                     "their books closed (the generator was behind on its backlog); judged by "
                     "their arrival, they count as delivered")
    late = report.get("late_events") or 0
    if late:
        lines.append(f"NOTE: {late} events arrived after the event timeout: they count as missing")
    return lines


def _top(counts: dict[str, Any], limit: int = 3) -> str:
    ranked = sorted(counts.items(), key=lambda kv: -int(kv[1]))
    return "; ".join(f"{n} {reason}" for reason, n in ranked[:limit]) + (
        f"; {sum(int(n) for _, n in ranked[limit:])} more" if len(ranked) > limit else "")


def _work_lines(report: dict[str, Any]) -> list[str]:
    """Users that could not start, failed API requests (one line per kind, not a traceback
    per user), and, for a run that did no work, the verdict that fails it."""
    lines = []
    starts = report.get("user_starts")
    if isinstance(starts, dict) and starts.get("failed"):
        lines.append(f"users: {starts.get('started', 0)} of {starts.get('attempted', 0)} started; "
                     f"could not start: {_top(starts['failed'])}")
    http = report.get("http")
    if isinstance(http, dict) and http.get("requests"):
        sent, bad = int(http["requests"]), int(http.get("failed") or 0)
        lines.append(f"http: {sent} requests, {bad} failed ({bad / sent:.1%})"
                     + (f": {_top(http['failures'])}" if http.get("failures") else ""))
    verdicts = work_verdicts(report)
    why = headline(verdicts)
    if why is not None:
        word = "NO WORK DONE" if did_no_work(verdicts) else "USERS COULD NOT START"
        lines.append(f"FAIL ({word}): {why}")
    return lines


def _ms(value: Any) -> str:
    return "-" if not isinstance(value, (int, float)) else f"{value:.1f}"


def witness_lines(witness: Any) -> list[str]:
    """The witness's line (and its warning): what the generator added to the users' figures."""
    if not isinstance(witness, dict):
        return []  # a report from before the witness
    if not witness.get("enabled"):
        return [f"witness: not run: {witness.get('reason') or 'disabled'}"]
    lines = []
    if witness.get("reason"):
        lines.append(f"witness: {witness['reason']}")
    added = witness.get("added_delay") or {}
    events = witness.get("events") or {}
    matched = sum(int(e.get("matched") or 0) for e in events.values() if isinstance(e, dict))
    witnessed = sum(int(e.get("witnessed") or 0) for e in events.values() if isinstance(e, dict))
    if added.get("count") or not lines:
        lines.append(f"witness: added delay p50 {_ms(added.get('p50_ms'))} / p99 "
                     f"{_ms(added.get('p99_ms'))} / max {_ms(added.get('max_ms'))} ms over "
                     f"{matched} matched receipts ({witnessed} events witnessed)"
                     + (f"; bound {bound:g} ms at p99"
                        if isinstance(bound := witness.get("bound_ms"), (int, float)) else ""))
    if witness.get("generator_suspect"):
        lines.append(f"WARNING: {witness.get('note')}")
    return lines
