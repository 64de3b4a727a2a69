"""The end-of-run summary a person reads, from a `report.json` (no Locust needed)."""

from __future__ import annotations

from typing import Any


def summary_text(report: dict[str, Any]) -> str:
    """A readable end-of-run table."""
    run = report["run"]
    lines = [f"run {run['id']} against {run['target']}: {run['duration_s']:.0f} s, "
             f"{run['orders_created']} orders ({run['achieved_order_rate']}/s"
             + (f", requested {run['requested_order_rate']}/s" if run["requested_order_rate"] else "")
             + ")",
             f"{'event':24} {'expected':>9} {'delivered':>9} {'missing':>7} {'dup':>5} {'ooo':>5} "
             f"{'leaked':>6} {'invalid':>7} {'p50 ms':>8} {'p99 ms':>8}"]
    for name, e in report["events"].items():
        lat = e.get("trigger_to_delivery") or {}
        p50 = "-" if lat.get("p50_ms") is None else f"{lat['p50_ms']:.1f}"
        p99 = "-" if lat.get("p99_ms") is None else f"{lat['p99_ms']:.1f}"
        lines.append(f"{name:24} {e['expected']:>9} {e['delivered']:>9} {e['missing']:>7} "
                     f"{e['duplicate']:>5} {e['out_of_order']:>5} {e['leaked']:>6} {e['invalid']:>7} "
                     f"{p50:>8} {p99:>8}")
    conn = report["connections"]
    lines.append(f"connections: {conn['succeeded']} of {conn['attempted']}; "
                 f"connect p99 {report['latency']['connect']['p99_ms']} ms")
    iso = report.get("isolation", {})
    if iso.get("join_attempts") or iso.get("bad_token_attempts"):
        lines.append(f"isolation: {iso.get('join_attempts', 0)} room-joining attempts, "
                     f"{iso.get('bad_token_attempts', 0)} bad-token connects "
                     f"({iso.get('bad_tokens_accepted', 0)} accepted), {iso.get('leaked', 0)} events leaked")
    if report["generator"]["latency_suspect"]:
        lines.append("WARNING: " + report["generator"]["note"])
    return "\n".join(lines)
