"""`report.md`: a short summary for a CI step summary or a pull-request comment.

Verdict line first (PASS/FAIL), then the failed thresholds, the counts per event type and
p50/p99 of each event's trigger-to-delivery latency.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable

from ..ledger.records import COUNT_NAMES
from .thresholds import TRIGGER_TO_DELIVERY, failed


def _num(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.1f}"
    return str(value)


def markdown_text(report: dict[str, Any], verdicts: Iterable[dict[str, Any]]) -> str:
    verdicts = list(verdicts)
    bad = failed(verdicts)
    run = report.get("run") or {}
    verdict = "FAIL" if bad else "PASS"
    lines = [f"## {verdict}: {len(verdicts) - len(bad)}/{len(verdicts)} thresholds met", ""]
    if run.get("complete") is False:
        lines += [f"**Incomplete run**: {run.get('incomplete_reason')}. The figures are those "
                  "measured until then.", ""]
    details = [f"run `{run['id']}`" if run.get("id") else None,
               f"scenario {run['scenario']}" if run.get("scenario") else None,
               f"target {run['target']}" if run.get("target") else None,
               f"{run['duration_s']} s" if run.get("duration_s") is not None else None,
               f"{run['orders_created']} orders" if run.get("orders_created") is not None else None]
    details = [d for d in details if d]
    if details:
        lines += [", ".join(details), ""]
    if bad:
        lines.append("### Failed thresholds")
        lines.append("")
        lines += [f"- `{v['key']}`: {v['message']}" for v in bad]
        lines.append("")
    events = report.get("events") or {}
    if events:
        lines.append("### Counts")
        lines.append("")
        lines.append("| event | " + " | ".join(COUNT_NAMES) + " |")
        lines.append("|---|" + "---:|" * len(COUNT_NAMES))
        for event, entry in events.items():
            lines.append(f"| {event} | " + " | ".join(_num(entry.get(n)) for n in COUNT_NAMES) + " |")
        lines.append("")
        lines.append("### Latency (trigger to delivery, ms)")
        lines.append("")
        lines.append("| event | p50 | p99 | samples |")
        lines.append("|---|---:|---:|---:|")
        for event, entry in events.items():
            fig = entry.get(TRIGGER_TO_DELIVERY)
            if isinstance(fig, dict):
                lines.append(f"| {event} | {_num(fig.get('p50_ms'))} | {_num(fig.get('p99_ms'))} "
                             f"| {_num(fig.get('count'))} |")
        lines.append("")
    return "\n".join(lines)


def write_markdown(path: str | Path, report: dict[str, Any],
                   verdicts: Iterable[dict[str, Any]]) -> Path:
    path = Path(path)
    path.write_text(markdown_text(report, verdicts), encoding="utf-8")
    return path
