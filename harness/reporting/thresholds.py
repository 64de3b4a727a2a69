"""`--thresholds FILE`: upper bounds on a run's figures and counts, checked against report.json.

The file is TOML with one `[thresholds]` table. A key names one figure or total; its value
is the upper bound (inclusive). Quoted dotted keys and nested tables are the same thing:

    [thresholds]
    "orderStatusUpdated.p99_ms" = 200          # same as the two lines below
    # [thresholds.orderStatusUpdated]
    # p99_ms = 200

Key forms (`<pct>` is one of p50_ms, p90_ms, p95_ms, p99_ms, p999_ms, max_ms):

- `<event>.<pct>`: the event's trigger_to_delivery; `<event>.emit_to_delivery.<pct>`,
  `<event>.fanout.<pct>`: its other two figures;
- `connect.<pct>`, `driver_location_ack.<pct>`: report.json `latency`;
- `reconnect.time_to_reconnect.<pct>`, `reconnect.time_to_consistent.<pct>`: `reconnection`;
- `leaked`, `missing`, `duplicate`, `out_of_order`, `invalid`: totals over every event type;
- `connect_failure_ratio`: failed / attempted connections;
- `http_failure_ratio`: failed / sent HTTP requests (report.json `http`; an answer the
  contract allows, such as a 409 when another owner moved the order first, is no failure);
- `witness.added_delay.<pct>`: report.json `witness.added_delay`, the delay the load generator
  added to the users' receipts (harness/witness) over every event type;
  `witness.<event>.added_delay.<pct>`: the same for one event type. Not in the default set: a
  busy generator is not the server's fault, so a team opts in. `harness load` passes a bound
  on `witness.added_delay.p99_ms` to Locust as `--witness-bound`, so the report's
  "the figures are the generator's" and this verdict agree. Without a witness (`--no-witness`,
  or none connected) such a bound fails with "no samples", saying why.

A bound on a figure without samples fails ("no samples"), except in the default set (applied
when no file is given), whose latency bounds apply only to figures the run produced: the
defaults must hold for every scenario, and not every scenario produces every event.

An incomplete run (interrupted, a lost worker) adds one failed verdict, `run.complete`: its
figures are not the ones planned, so no set of bounds can pass it.

A run that did no work never passes either, whatever its bounds (a gate that passes when
nothing was exercised is worse than none): `run.did_work` fails when no connection succeeded,
no order was placed or no event was expected, and `run.users_started` when users could not
start (report.json `user_starts`), naming why ("no user could start: 30 of 30 failed to
register: HTTP 404 on POST /api/auth/register"). Each is judged only on a report that has
the figure (an older report without `user_starts` is not judged on it).
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from ..contract import Event
from ..errors import ThresholdConfigError
from ..latency import PERCENTILES
from ..ledger.records import COUNT_NAMES

#: The verdict an incomplete run adds (not a key a thresholds file may name).
RUN_COMPLETE = "run.complete"
#: The verdicts a run that did no work adds (not keys a thresholds file may name).
RUN_DID_WORK = "run.did_work"
RUN_USERS_STARTED = "run.users_started"
#: The percentile names a bound may name (report.json figure names without `count`).
PERCENTILE_NAMES: tuple[str, ...] = tuple(name for name, _ in PERCENTILES) + ("max_ms",)
#: Totals over all event types: the ledger counts that mean something went wrong (the other
#: two, expected and delivered, are volumes and take no bound).
TOTAL_NAMES: tuple[str, ...] = ("leaked", "missing", "duplicate", "out_of_order", "invalid")
assert set(TOTAL_NAMES) < set(COUNT_NAMES), (TOTAL_NAMES, COUNT_NAMES)
#: Per-event figures other than trigger_to_delivery (the default for `<event>.<pct>`).
TRIGGER_TO_DELIVERY = "trigger_to_delivery"
EVENT_FIGURES = ("emit_to_delivery", "fanout")
#: report.json `latency` figures.
LATENCY_FIGURES = ("connect", "driver_location_ack")
#: report.json `reconnection` figures, under the key prefix `reconnect.`.
RECONNECT_PREFIX = "reconnect"
RECONNECT_FIGURES = ("time_to_reconnect", "time_to_consistent")
CONNECT_FAILURE_RATIO = "connect_failure_ratio"
HTTP_FAILURE_RATIO = "http_failure_ratio"
#: report.json `witness`: `witness.added_delay.<pct>`, `witness.<event>.added_delay.<pct>`.
WITNESS = "witness"
WITNESS_FIGURE = "added_delay"
#: The witness key `harness load` passes to Locust as `--witness-bound`.
WITNESS_BOUND_KEY = f"{WITNESS}.{WITNESS_FIGURE}.p99_ms"

TABLE = "thresholds"
DEFAULT_FILE = "default_thresholds.toml"




def valid_forms() -> str:
    events = "|".join(e.value for e in Event)
    pcts = "|".join(PERCENTILE_NAMES)
    return ("valid keys: <event>.<pct>, <event>.emit_to_delivery.<pct>, <event>.fanout.<pct>, "
            + ", ".join(f"{f}.<pct>" for f in LATENCY_FIGURES) + ", "
            + ", ".join(f"{RECONNECT_PREFIX}.{f}.<pct>" for f in RECONNECT_FIGURES) + ", "
            + ", ".join(TOTAL_NAMES) + f", {CONNECT_FAILURE_RATIO}, {HTTP_FAILURE_RATIO}, "
            + f"{WITNESS}.{WITNESS_FIGURE}.<pct>, {WITNESS}.<event>.{WITNESS_FIGURE}.<pct> "
            + f"(event: {events}; pct: {pcts})")


# --- what a key reads ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Target:
    """Where a key's value lives in report.json; `read` gives (value or None, unit)."""

    kind: str  # "figure", "total" or "ratio"
    path: tuple[str, ...]  # figure: path to the figure dict; total: (count name,); ratio: (section,)
    field: str | None = None  # figure: percentile name

    def read(self, report: dict[str, Any]) -> float | int | None:
        if self.kind == "figure":
            node: Any = report
            for part in self.path:
                node = node.get(part) if isinstance(node, dict) else None
            if not isinstance(node, dict) or not node.get("count"):
                return None
            return node.get(self.field)
        if self.kind == "total":
            (name,) = self.path
            return sum(int(entry.get(name, 0)) for entry in report.get("events", {}).values()
                       if isinstance(entry, dict))
        if self.path == ("http",):
            http = report.get("http") or {}
            sent = int(http.get("requests") or 0)
            return None if sent <= 0 else int(http.get("failed") or 0) / sent
        conns = report.get("connections") or {}
        attempted = int(conns.get("attempted") or 0)
        if attempted <= 0:
            return None
        failed = sum(int(n) for n in (conns.get("failed") or {}).values())
        return failed / attempted


def target_of(key: str) -> Target | None:
    """The figure or total a key names, or None for a key that names nothing."""
    if key in TOTAL_NAMES:
        return Target("total", (key,))
    if key == CONNECT_FAILURE_RATIO:
        return Target("ratio", ())
    if key == HTTP_FAILURE_RATIO:
        return Target("ratio", ("http",))
    parts = key.split(".")
    if parts[-1] not in PERCENTILE_NAMES:
        return None
    pct, head = parts[-1], parts[:-1]
    events = {e.value for e in Event}
    if len(head) == 1 and head[0] in events:
        return Target("figure", ("events", head[0], TRIGGER_TO_DELIVERY), pct)
    if len(head) == 2 and head[0] in events and head[1] in EVENT_FIGURES:
        return Target("figure", ("events", head[0], head[1]), pct)
    if len(head) == 1 and head[0] in LATENCY_FIGURES:
        return Target("figure", ("latency", head[0]), pct)
    if len(head) == 2 and head[0] == RECONNECT_PREFIX and head[1] in RECONNECT_FIGURES:
        return Target("figure", ("reconnection", head[1]), pct)
    if head == [WITNESS, WITNESS_FIGURE]:
        return Target("figure", (WITNESS, WITNESS_FIGURE), pct)
    if len(head) == 3 and head[0] == WITNESS and head[1] in events and head[2] == WITNESS_FIGURE:
        return Target("figure", (WITNESS, "events", head[1], WITNESS_FIGURE), pct)
    return None


# --- the file --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Threshold:
    key: str
    bound: float
    target: Target


@dataclass(frozen=True)
class ThresholdSet:
    thresholds: tuple[Threshold, ...]
    source: str
    #: False for the default set: a latency bound on a figure without samples is not applied.
    require_samples: bool = True

    def keys(self) -> list[str]:
        return [t.key for t in self.thresholds]


def _flatten(table: dict[str, Any], prefix: str = "") -> Iterable[tuple[str, Any]]:
    for name, value in table.items():
        key = f"{prefix}.{name}" if prefix else name
        if isinstance(value, dict):
            yield from _flatten(value, key)
        else:
            yield key, value


def parse(data: dict[str, Any], source: str = "thresholds", *,
          require_samples: bool = True) -> ThresholdSet:
    """The bounds in a parsed TOML document (raises ThresholdConfigError)."""
    extra = sorted(k for k in data if k != TABLE)
    if extra:
        raise ThresholdConfigError(f"{source}: unknown top-level key {extra[0]!r}: "
                                   f"put every bound in a [{TABLE}] table")
    table = data.get(TABLE)
    if not isinstance(table, dict):
        raise ThresholdConfigError(f"{source}: no [{TABLE}] table")
    found: dict[str, Threshold] = {}
    for key, value in _flatten(table):
        target = target_of(key)
        if target is None:
            raise ThresholdConfigError(f"{source}: unknown threshold key {key!r}; {valid_forms()}")
        if isinstance(value, bool) or not isinstance(value, (int, float)) \
                or not math.isfinite(value) or value < 0:
            raise ThresholdConfigError(f"{source}: threshold {key!r} = {value!r}: the bound must "
                                       f"be a number of 0 or more; {valid_forms()}")
        if key in found:
            raise ThresholdConfigError(f"{source}: threshold {key!r} is given twice")
        found[key] = Threshold(key, float(value) if isinstance(value, float) else value, target)
    return ThresholdSet(tuple(found.values()), source, require_samples)


def parse_text(text: str, source: str = "thresholds", *, require_samples: bool = True) -> ThresholdSet:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ThresholdConfigError(f"{source}: not valid TOML: {' '.join(str(exc).split())}") from None
    return parse(data, source, require_samples=require_samples)


def load(path: str | Path) -> ThresholdSet:
    """A thresholds file (raises ThresholdConfigError: missing, unreadable, bad TOML, bad key)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ThresholdConfigError(f"--thresholds {path}: cannot read: {exc.__class__.__name__}: "
                                   f"{exc}") from None
    return parse_text(text, str(path))


def default_text() -> str:
    return resources.files(__package__).joinpath(DEFAULT_FILE).read_text(encoding="utf-8")


def defaults() -> ThresholdSet:
    """The set applied when no file is given (latency bounds only on figures with samples)."""
    return parse_text(default_text(), f"default {DEFAULT_FILE}", require_samples=False)


def load_or_default(path: str | Path | None) -> ThresholdSet:
    return defaults() if path is None else load(path)


# --- verdicts --------------------------------------------------------------------------------------

def _fmt(value: float | int, kind: str) -> str:
    if kind == "figure":
        return f"{value:g} ms"
    if kind == "ratio":
        return f"{value:.4g}"
    return f"{value:g}"


def _no_samples(target: Target, report: dict[str, Any]) -> str:
    if target.kind == "ratio" and target.path == ("http",):
        return "no samples (no HTTP requests)"
    if target.kind != "figure":
        return "no samples (no connections)"
    witness = report.get(WITNESS)
    if target.path[0] == WITNESS and isinstance(witness, dict):
        if not witness.get("enabled"):
            return f"no samples, no witness ran: {witness.get('reason') or 'turned off'}"
        if witness.get("reason"):
            return f"no samples, witness: {witness['reason']}"
    elif target.path[0] == WITNESS:
        return "no samples, report.json has no witness section"
    return "no samples"


def evaluate(thresholds: ThresholdSet, report: dict[str, Any]) -> list[dict[str, Any]]:
    """One verdict per threshold: {key, bound, value, passed, message}, in file order."""
    verdicts = []
    for t in thresholds.thresholds:
        value = t.target.read(report)
        if value is None:
            what = _no_samples(t.target, report)
            if thresholds.require_samples:
                passed, message = False, f"{t.key}: {what}; bound {_fmt(t.bound, t.target.kind)}"
            else:
                passed, message = True, f"{t.key}: {what}; default bound not applied"
        else:
            passed = value <= t.bound
            rel = "<=" if passed else ">"
            message = (f"{t.key} = {_fmt(value, t.target.kind)} {rel} "
                       f"{_fmt(t.bound, t.target.kind)}")
        verdicts.append({"key": t.key, "bound": t.bound, "value": value, "passed": passed,
                         "message": message})
    run = report.get("run") or {}
    if run.get("complete") is False:
        verdicts.append({"key": RUN_COMPLETE, "bound": True, "value": False, "passed": False,
                         "message": f"{RUN_COMPLETE}: the run is incomplete: "
                                    f"{run.get('incomplete_reason')}"})
    return verdicts + work_verdicts(report)


# --- a run that did no work -----------------------------------------------------------------------------

def _reasons(counts: dict[str, Any], of: int | None = None, limit: int = 3) -> str:
    """`n [of N] reason` for the commonest reasons, most first: "28 of 30 failed to register:
    HTTP 404 on POST /api/auth/register; 2 of 30 ..."."""
    ranked = sorted(((int(n), str(r)) for r, n in counts.items() if int(n) > 0), key=lambda x: -x[0])
    total = "" if of is None else f" of {of}"
    text = "; ".join(f"{n}{total} {r}" for n, r in ranked[:limit])
    rest = sum(n for n, _ in ranked[limit:])
    return text + (f"; {rest}{total} for other reasons" if rest else "")


def start_problem(report: dict[str, Any]) -> str | None:
    """Why users could not start ("no user could start: 30 of 30 failed to register: HTTP 404
    on POST /api/auth/register"), or None when every user started (or the report does not say)."""
    starts = report.get("user_starts")
    if not isinstance(starts, dict):
        return None
    failures = starts.get("failed") or {}
    n_failed = sum(int(n) for n in failures.values())
    if n_failed <= 0:
        return None
    attempted = int(starts.get("attempted") or n_failed)
    head = ("no user could start" if int(starts.get("started") or 0) == 0
            else f"{n_failed} of {attempted} users could not start")
    return f"{head}: {_reasons(failures, of=attempted)}"


def no_work(report: dict[str, Any]) -> list[str]:
    """What a run that did no work lacked: no connections, no orders, no event expected
    ([] when it did work; a figure the report does not hold is not judged)."""
    lacking = []
    conns = report.get("connections")
    if isinstance(conns, dict) and "succeeded" in conns and not int(conns.get("succeeded") or 0):
        failed = conns.get("failed") or {}
        lacking.append(f"no connections ({conns.get('attempted', 0)} attempted"
                       + (f": {_reasons(failed)}" if failed else "") + ")")
    run = report.get("run") or {}
    if "orders_created" in run and not int(run.get("orders_created") or 0):
        lacking.append("no orders placed")
    events = report.get("events")
    if isinstance(events, dict) and not sum(int(e.get("expected") or 0) for e in events.values()
                                            if isinstance(e, dict)):
        lacking.append("no event expected")
    return lacking


def work_verdicts(report: dict[str, Any]) -> list[dict[str, Any]]:
    """`run.did_work` and `run.users_started`, each only when it fails."""
    out = []
    lacking = no_work(report)
    starts = start_problem(report)
    if lacking:
        message = f"{RUN_DID_WORK}: the run did no work: " + ", ".join(lacking)
        if starts:
            message += f"; {starts}"
        out.append({"key": RUN_DID_WORK, "bound": True, "value": False, "passed": False,
                    "message": message})
    if starts:
        out.append({"key": RUN_USERS_STARTED, "bound": True, "value": False, "passed": False,
                    "message": f"{RUN_USERS_STARTED}: {starts}"})
    return out


def did_no_work(verdicts: Iterable[dict[str, Any]]) -> bool:
    return any(isinstance(v, dict) and v.get("key") == RUN_DID_WORK and not v.get("passed")
               for v in verdicts)


def headline(verdicts: Iterable[dict[str, Any]]) -> str | None:
    """The one line that says why a run that did no work, or whose users could not start,
    failed (for the summary and the banner), or None."""
    by_key = {v.get("key"): v for v in verdicts if isinstance(v, dict) and not v.get("passed")}
    for key in (RUN_USERS_STARTED, RUN_DID_WORK):
        if key in by_key:
            return str(by_key[key]["message"]).split(": ", 1)[1]
    return None


def failed(verdicts: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    return [v for v in verdicts if not v["passed"]]
