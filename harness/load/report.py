"""The run folder: `report.json` (counts and latency figures) and `histograms.json` (raw).

Names in `report.json` are fixed (issue 3): per event type the ledger counts `expected`,
`delivered`, `missing`, `duplicate`, `out_of_order`, `leaked`, `invalid`, and for each
latency figure `p50_ms`, `p90_ms`, `p95_ms`, `p99_ms`, `p999_ms`, `max_ms`, `count`.
"""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import gevent

from .. import __version__
from ..contract import Event
from ..ledger import CountsByEvent
from ..runs import run_folder
from ..summary import summary_text
from ..witness import report as witness_report
from .context import CONNECT, EMIT_SUFFIX, FANOUT_SUFFIX, LOCATION_ACK, RunContext
from .health import verdict as health_verdict
from .reconnect_stats import sections as reconnect_sections
from .spare_files import SPARES

if TYPE_CHECKING:
    from locust.env import Environment


def _iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def build_report(environment: Environment, ctx: RunContext) -> dict[str, Any]:
    assert ctx.reconciler is not None
    rec = ctx.reconciler
    counts = CountsByEvent()
    counts.add(rec.counts)
    counts.add(ctx.counts)
    leaks = [leak.__dict__ for leak in ctx.leaks]
    connects = ctx.connects
    failures = dict(ctx.connect_failures)
    started_users = ctx.users_started
    start_failures = dict(ctx.start_failures)
    time_sync = ctx.time_sync_supported
    isolation = dict(ctx.isolation)
    accepted = list(ctx.bad_tokens_accepted)
    for worker in ctx.workers.totals.values():
        for name, n in worker.get("isolation", {}).items():
            isolation[name] = isolation.get(name, 0) + n
        accepted += worker.get("bad_tokens_accepted", [])
        counts.add(CountsByEvent.from_dict(worker["counts"]))
        leaks += worker["leaks"]
        connects += worker["connects"]
        for reason, n in worker["connect_failures"].items():
            failures[reason] = failures.get(reason, 0) + n
        started_users += worker.get("users_started", 0)
        for reason, n in worker.get("start_failures", {}).items():
            start_failures[reason] = start_failures.get(reason, 0) + n
        time_sync = time_sync or worker["time_sync"]
    ended = time.time()
    started = ctx.started_at or ended
    duration = max(ended - started, 1e-9)
    orders = rec.changes_by_first_event.get(Event.NEW_ORDER, 0)
    runner = environment.runner
    counted = getattr(runner, "final_user_classes_count", None) or (
        runner.user_classes_count if runner is not None else None)
    users = {name: n for name, n in (counted or {}).items()}
    events: dict[str, Any] = {}
    for event in Event:
        gevent.sleep(0)  # a checkpoint runs beside the users: let their sockets in between
        entry: dict[str, Any] = counts[event.value].as_dict()
        entry["trigger_to_delivery"] = ctx.book.summary(event.value)
        entry["emit_to_delivery"] = ctx.book.summary(event.value + EMIT_SUFFIX)
        entry["fanout"] = ctx.book.summary(event.value + FANOUT_SUFFIX)
        events[event.value] = entry
    for name, c in counts.by_event.items():  # events outside the contract, if any arrived
        if name not in events:
            events[name] = c.as_dict()
    opts = ctx.options
    gevent.sleep(0)
    witness = _witness(ctx)
    return {
        "schema_version": "1",
        "run": {
            "id": opts.run_id,
            "target": environment.host,
            "scenario": ctx.scenario,
            "users": users,
            "seed": opts.seed,
            "harness_version": __version__,
            "started_at": _iso(started),
            "ended_at": _iso(ended),
            "duration_s": round(duration, 3),
            "transport": opts.transport,
            "tokens": opts.tokens,
            "contract": ctx.target.contract.source,
            "requested_order_rate": opts.order_rate,
            "achieved_order_rate": round(orders / duration, 3),
            "orders_created": orders,
            "workers": len(ctx.workers.totals),
            "event_timeout_s": opts.event_timeout_s,
        },
        "events": events,
        "latency": {CONNECT: ctx.book.summary(CONNECT), LOCATION_ACK: ctx.book.summary(LOCATION_ACK)},
        "connections": {"attempted": connects + sum(failures.values()), "succeeded": connects,
                        "failed": failures},
        "user_starts": {"attempted": started_users + sum(start_failures.values()),
                        "started": started_users, "failed": start_failures},
        "http": http_section(environment),
        **reconnect_sections(ctx, rec),
        "isolation": {"leaked": counts.total().leaked, **isolation,
                      "bad_tokens_accepted_kinds": sorted(set(accepted)), "samples": leaks[:200],
                      "unmatched_samples": [list(s) for s in rec.leak_samples]},
        "clock": {"time_sync": bool(time_sync), "offset_ms": ctx.clock.offset_ms,
                  "note": _clock_note(ctx, bool(time_sync))},
        "missing_samples": [list(m) for m in rec.missing_samples],
        "generator": _generator(
            ([ctx.health.summary(ctx.process)] if not ctx.workers.totals else [])
            + [w["generator"] for w in ctx.workers.totals.values() if "generator" in w], witness),
        "processes": ([w["own"] for w in ctx.workers.totals.values() if "own" in w] if ctx.workers.totals
                      else [ctx.own_counts()]),
        "late_events": rec.late,
        "recorded_late_events": rec.recorded_late,
        "foreign_events": rec.foreign,
        "lost_workers": [{"node": w["node"], "process": w["process"],
                          "last_heard_at": _iso(w["last_heard_ms"] / 1000.0)}
                         for w in ctx.workers.lost.values()],
        "not_judged": rec.not_judged,
        "unanswered": {"requests": rec.unanswered_requests, "events": rec.unanswered_events},
        "latency_clamped": ctx.book.clamped,
        "witness": witness,
    }


#: Locust keeps a failure's text as the repr of its CatchResponseError.
_CATCH = re.compile(r"^CatchResponseError\((['\"])(.*)\1\)$")
HTTP_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})


def http_section(environment: Environment) -> dict[str, Any]:
    """The API requests in Locust's statistics (merged from every worker in the master):
    how many were sent, how many failed, and the commonest failures by request and reason."""
    stats = getattr(environment, "stats", None)
    if stats is None:
        return {"requests": 0, "failed": 0, "failures": {}}
    sent = failed = 0
    for (_, method), entry in list(stats.entries.items()):
        if method in HTTP_METHODS:
            sent += entry.num_requests
            failed += entry.num_failures
    failures: dict[str, int] = {}
    for error in list(stats.errors.values()):
        if error.method in HTTP_METHODS:
            text = _CATCH.sub(r"\2", " ".join(str(error.error).split()))
            reason = f"{error.method} {error.name}: {text[:120]}"
            failures[reason] = failures.get(reason, 0) + int(error.occurrences)
    top = dict(sorted(failures.items(), key=lambda kv: -kv[1])[:20])
    return {"requests": sent, "failed": failed, "failures": top}


def _generator(processes: list[dict[str, Any]], witness: dict[str, Any]) -> dict[str, Any]:
    """The health verdict, and what the witness says of it: a generator that lagged delays
    what it sends and how it reacts, but its arrival stamps keep the emit-to-delivery
    figures true, which the witness confirms (or not)."""
    out = health_verdict(processes)
    added = witness.get("added_delay") or {}
    if out["latency_suspect"] and added.get("count") and not witness.get("generator_suspect"):
        out["note"] += (f"; its arrival stamps kept emit-to-delivery true (the witness agrees: "
                        f"added delay p99 {added.get('p99_ms')} ms), while trigger-to-delivery "
                        f"and ack times include its lag")
    return out


def _witness(ctx: RunContext) -> dict[str, Any]:
    if ctx.witness is None:
        return witness_report.disabled("turned off (--no-witness)")
    return witness_report.section(ctx.witness.book, bound_ms=ctx.options.witness_bound_ms,
                                  problem=ctx.witness.problem)


def write_report(environment: Environment, ctx: RunContext, *, incomplete: str | None = None,
                 quiet: bool = False) -> Path:
    """Write the run folder. `incomplete` says why the run did not end as planned (a
    checkpoint, an interruption, a lost worker): the report then holds what was measured up
    to that point and says so."""
    folder = run_folder(ctx.options.run_id, ctx.options.report_dir)
    folder.mkdir(parents=True, exist_ok=True)
    report = build_report(environment, ctx)
    report["run"]["complete"] = incomplete is None
    report["run"]["incomplete_reason"] = incomplete
    files = (("histograms.json", json.dumps(ctx.book.encoded()) + "\n"),
             ("report.json", json.dumps(report, indent=2) + "\n"))
    # Write then rename, so a crash mid-write never leaves a torn report. With the files kept
    # for it (nothing from here to the end yields to the users, who could take them).
    with SPARES.released():
        for name, text in files:
            tmp = folder / f".{name}.tmp"
            tmp.write_text(text, encoding="utf-8")
            tmp.replace(folder / name)
    if not quiet:
        print(summary_text(report), flush=True)
    return folder


def _clock_note(ctx: RunContext, time_sync: bool) -> str | None:
    """Why emit-to-delivery is not in the report, when it is not."""
    if not ctx.target.reader.emits_time:
        return ("emit-to-delivery is not measurable: the target's events carry no emission "
                "time (its contract file places no emitted_at); trigger-to-delivery is measured")
    if not time_sync:
        return "the target has no time_sync: only trigger-to-delivery latency is measured"
    return None
