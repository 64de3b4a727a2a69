"""report.json's `witness` section, and the sentence that says whose latency the figures are.

The section (schema: `harness/reporting/report.schema.json`, `witness`):

* `enabled`, `reason` (why there is no witness, or what went wrong with it), `tabs`;
* `bound_ms`: the added delay's p99 above which the users' figures are the generator's;
* `added_delay` (every event type) and `min_added_ms` (negative: users' frames are stamped
  by the kernel before the witness's handler runs);
* per event type: `witnessed`, `matched`, `added_delay`, the witness's own
  `emit_to_delivery` (the server's latency) and, beside it, the users'
  `users_emit_to_delivery` for the same events (the ones the witness received too), and the
  witness's `paired_emit_to_delivery` with the users' weights (once per paired receipt): the
  figure to set the users' against;
* `generator_suspect` and `note`: set when the added delay's p99 is over the bound.
"""

from __future__ import annotations

from typing import Any

from .book import ADDED_DELAY, EMIT_TO_DELIVERY, PAIRED_EMIT_TO_DELIVERY, USERS_EMIT_TO_DELIVERY, WitnessBook


def disabled(reason: str) -> dict[str, Any]:
    return {"enabled": False, "reason": reason, "tabs": [], "bound_ms": None,
            "added_delay": None, "min_added_ms": None, "time_sync": None, "offset_ms": None,
            "priority_raised": None,
            "events": {}, "generator_suspect": False, "note": None}


def section(book: WitnessBook, *, bound_ms: float,
            problem: str | None) -> dict[str, Any]:
    """The section, from the witness's books."""
    per_event: dict[str, Any] = {}
    for event, counts in sorted(book.counts.items()):
        per_event[event] = {"witnessed": counts.witnessed, "matched": counts.matched,
                            "added_delay": book.figure(event, ADDED_DELAY),
                            "emit_to_delivery": book.figure(event, EMIT_TO_DELIVERY),
                            "users_emit_to_delivery": book.figure(event, USERS_EMIT_TO_DELIVERY),
                            "paired_emit_to_delivery": book.figure(event, PAIRED_EMIT_TO_DELIVERY)}
    added = book.added_delay()
    p99 = added.get("p99_ms")
    suspect = isinstance(p99, (int, float)) and p99 > bound_ms
    reason = problem
    if reason is None and not book.tabs:
        reason = "no user offered itself to the witness (no user connected)"
    elif reason is None and not any(t.connected for t in book.tabs.values()):
        errors = sorted({t.error for t in book.tabs.values() if t.error})
        reason = "no witness tab connected" + (f": {errors[0]}" if errors else "")
    return {
        "enabled": True,
        "reason": reason,
        "tabs": [{"tab": tab, "role": t.role, "mirrors": len(t.mirrors), "connected": t.connected,
                  "received": t.received, "error": t.error} for tab, t in book.tabs.items()],
        "bound_ms": bound_ms,
        "added_delay": added,
        "min_added_ms": None if book.min_added_ms is None else round(book.min_added_ms, 3),
        "time_sync": book.time_sync,
        "offset_ms": book.offset_ms,
        "priority_raised": book.priority_raised,
        "events": per_event,
        "generator_suspect": suspect,
        "note": note(per_event, float(p99), bound_ms) if suspect and p99 is not None else None,
    }


def note(per_event: dict[str, Any], p99: float, bound_ms: float) -> str:
    """What the banner and the summary say when the generator added too much."""
    server = "; ".join(
        f"{event} p50 {e['emit_to_delivery']['p50_ms']} / p99 {e['emit_to_delivery']['p99_ms']} ms"
        for event, e in per_event.items() if (e.get("emit_to_delivery") or {}).get("count"))
    return (f"the latency figures are the load generator's: it added {p99:g} ms at p99 "
            f"(bound {bound_ms:g} ms) to what the server delivered; the witness's figures are "
            f"the server's" + (f" ({server})" if server else ""))
