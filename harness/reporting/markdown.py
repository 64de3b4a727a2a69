"""`report.md`: a short summary for a CI step summary or a pull-request comment.

Verdict line first (PASS/FAIL), then the failed thresholds, the counts per event type,
p50/p99 of each event's trigger-to-delivery latency, and the witness: per event type the
users' emit-to-delivery beside the witness's, and the delay the generator added. When the
witness says the latency figures are the generator's, its note follows the verdict line.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ..ledger.records import COUNT_NAMES
from ..summary import backlog_lines
from .thresholds import TRIGGER_TO_DELIVERY, did_no_work, failed, headline


def _num(value: Any) -> str:
    if value is None:
        return "–"  # noqa: RUF001  (an en dash: no value)
    if isinstance(value, float):
        return f"{value:.1f}"
    return str(value)


def markdown_text(report: dict[str, Any], verdicts: Iterable[dict[str, Any]]) -> str:
    verdicts = list(verdicts)
    bad = failed(verdicts)
    run = report.get("run") or {}
    verdict = "FAIL" if bad else "PASS"
    lines = [f"## {verdict}: {len(verdicts) - len(bad)}/{len(verdicts)} thresholds met", ""]
    why = headline(bad)
    if why is not None:
        lines += [f"**{'No work done' if did_no_work(bad) else 'Users could not start'}**: "
                  f"{why}.", ""]
    if run.get("complete") is False:
        lines += [f"**Incomplete run**: {run.get('incomplete_reason')}. The figures are those "
                  "measured until then.", ""]
    witness = report.get("witness")
    if isinstance(witness, dict) and witness.get("generator_suspect"):
        lines += [f"**Warning**: {witness.get('note')}.", ""]
    details = [f"run `{run['id']}`" if run.get("id") else None,
               f"scenario {run['scenario']}" if run.get("scenario") else None,
               f"target {run['target']}" if run.get("target") else None,
               f"{run['duration_s']} s" if run.get("duration_s") is not None else None,
               f"{run['orders_created']} orders" if run.get("orders_created") is not None else None,
               f"contract {run['contract']}" if run.get("contract") else None]
    shown = [d for d in details if d]
    if shown:
        lines += [", ".join(shown), ""]
    clock_note = (report.get("clock") or {}).get("note")
    if clock_note:
        lines += [f"Note: {clock_note}.", ""]
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
        lines += [f"{line}.\n" for line in backlog_lines(report)]
        unanswered = report.get("unanswered") or {}
        if unanswered.get("requests"):
            lines += [f"{unanswered['requests']} changes were sent whose answer never came; "
                      f"{_num(unanswered.get('events'))} events only they could explain were "
                      "not judged.", ""]
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
    lines += witness_markdown(witness)
    return "\n".join(lines)


def witness_markdown(witness: Any) -> list[str]:
    """The witness's section: [] for a report from before the witness."""
    if not isinstance(witness, dict):
        return []
    lines = ["### Witness", ""]
    if not witness.get("enabled"):
        return lines + [f"No witness ran: {witness.get('reason') or 'disabled'}.", ""]
    if witness.get("reason"):
        lines += [f"Witness: {witness['reason']}.", ""]
    added = witness.get("added_delay") or {}
    bound = witness.get("bound_ms")
    lines += [f"Delay the generator added to users' receipts (user minus witness), every event "
              f"type: p50 {_num(added.get('p50_ms'))}, p99 {_num(added.get('p99_ms'))}, max "
              f"{_num(added.get('max_ms'))} ms over {_num(added.get('count'))} matched receipts"
              + (f" (bound {bound:g} ms at p99)" if isinstance(bound, (int, float)) else "")
              + ". The witness's emit-to-delivery is the server's latency.", ""]
    events = witness.get("events") or {}
    if events:
        lines.append("| event | users p50 | users p99 | witness p50 | witness p99 | added p50 "
                     "| added p99 | added max | witnessed | matched |")
        lines.append("|---|" + "---:|" * 9)
        for event, entry in events.items():
            users = entry.get("users_emit_to_delivery") or {}
            own = entry.get("paired_emit_to_delivery") or entry.get("emit_to_delivery") or {}
            add = entry.get("added_delay") or {}
            cells = [users.get("p50_ms"), users.get("p99_ms"), own.get("p50_ms"), own.get("p99_ms"),
                     add.get("p50_ms"), add.get("p99_ms"), add.get("max_ms"),
                     entry.get("witnessed"), entry.get("matched")]
            lines.append(f"| {event} | " + " | ".join(_num(c) for c in cells) + " |")
        lines += ["", "Users and witness columns are emit-to-delivery in ms over the same receipts "
                  "(a store-owner event once per store owner on both sides); added delay in ms.", ""]
    return lines


def write_markdown(path: str | Path, report: dict[str, Any],
                   verdicts: Iterable[dict[str, Any]]) -> Path:
    path = Path(path)
    path.write_text(markdown_text(report, verdicts), encoding="utf-8")
    return path
