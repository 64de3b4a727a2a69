"""Compare two runs: every latency figure and correctness count, side by side.

A regression is a latency percentile that rose by more than the allowed share, or a
correctness count (missing, leaked, ...) that rose from zero. `max_ms` and `count` are shown
but never gate: a maximum is one sample, and a count is load, not quality.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from ..latency import PERCENTILES
from ..ledger.records import COUNT_NAMES

_GATED = tuple(name for name, _ in PERCENTILES)
_SHOWN = (*_GATED, "max_ms")
#: Counts that are faults when above zero (the others, expected and delivered, are volume).
_FAULT_COUNTS = COUNT_NAMES[COUNT_NAMES.index("missing"):]


@dataclass(frozen=True)
class Row:
    figure: str
    baseline: float | None
    current: float | None
    change_pct: float | None
    regression: bool
    why: str = ""


def load_report(path: str | Path) -> dict[str, Any]:
    """A run folder or a report.json."""
    p = Path(path)
    if p.is_dir():
        p = p / "report.json"
    try:
        return cast(dict[str, Any], json.loads(p.read_text(encoding="utf-8")))
    except OSError as exc:
        raise ValueError(f"{path}: no report ({exc.strerror or exc})") from None
    except ValueError as exc:
        raise ValueError(f"{path}: report.json is not JSON ({exc})") from None


def _figures(report: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for event, entry in sorted((report.get("events") or {}).items()):
        for kind in ("trigger_to_delivery", "emit_to_delivery", "fanout"):
            if isinstance(entry.get(kind), dict):
                yield f"{event}.{kind}", entry[kind]
    for name, fig in sorted((report.get("latency") or {}).items()):
        if isinstance(fig, dict):
            yield name, fig
    rec = report.get("reconnection") or {}
    for name in ("time_to_reconnect", "time_to_consistent"):
        if isinstance(rec.get(name), dict):
            yield f"reconnect.{name}", rec[name]


def _counts(report: dict[str, Any]) -> dict[str, int]:
    totals = {name: 0 for name in _FAULT_COUNTS}
    for entry in (report.get("events") or {}).values():
        for name in _FAULT_COUNTS:
            totals[name] += int(entry.get(name, 0) or 0)
    return totals


def compare(baseline: dict[str, Any], current: dict[str, Any], max_regression_pct: float) -> list[Row]:
    rows: list[Row] = []
    base_figs = dict(_figures(baseline))
    for figure, cur in _figures(current):
        base = base_figs.get(figure, {})
        for stat in _SHOWN:
            b, c = base.get(stat), cur.get(stat)
            change = None if not b or c is None else (c - b) / b * 100.0
            regressed = stat in _GATED and change is not None and change > max_regression_pct
            why = f"rose {change:.1f}% (> {max_regression_pct:g}%)" if regressed else ""
            if b is not None or c is not None:
                rows.append(Row(f"{figure}.{stat}", b, c, change, regressed, why))
    base_counts, cur_counts = _counts(baseline), _counts(current)
    for name in _FAULT_COUNTS:
        b, c = base_counts[name], cur_counts[name]
        regressed = b == 0 and c > 0
        rows.append(Row(name, b, c, None if not b else (c - b) / b * 100.0, regressed,
                        "rose from zero" if regressed else ""))
    return rows


def table(rows: list[Row]) -> str:
    def fmt(v: float | None) -> str:
        return "-" if v is None else (f"{v:.3f}" if isinstance(v, float) else str(v))

    width = max([len(r.figure) for r in rows] + [6])
    out = [f"{'figure':{width}}  {'baseline':>12}  {'current':>12}  {'change':>9}"]
    for r in rows:
        change = "-" if r.change_pct is None else f"{r.change_pct:+.1f}%"
        mark = f"  REGRESSION: {r.why}" if r.regression else ""
        out.append(f"{r.figure:{width}}  {fmt(r.baseline):>12}  {fmt(r.current):>12}  {change:>9}{mark}")
    return "\n".join(out)
