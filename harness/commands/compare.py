"""`harness compare BASELINE CURRENT [--max-regression PCT]`: a regression table, and exit 1
when a latency percentile rose by more than PCT or a correctness count rose from zero."""

from __future__ import annotations

import argparse
import sys

from ..errors import EXIT_CONFIG
from ..reporting.compare import compare, load_report, table


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("compare", help="compare two runs and flag regressions")
    p.add_argument("baseline", help="run folder or report.json")
    p.add_argument("current", help="run folder or report.json")
    p.add_argument("--max-regression", type=float, default=20.0,
                   help="allowed rise of a latency percentile, in percent (default 20)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace, rest: list[str]) -> int:
    if args.max_regression < 0:
        print("error: --max-regression must be 0 or more", file=sys.stderr)
        return EXIT_CONFIG
    try:
        baseline, current = load_report(args.baseline), load_report(args.current)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    rows = compare(baseline, current, args.max_regression)
    print(table(rows))
    regressions = [r for r in rows if r.regression]
    if regressions:
        print(f"harness: {len(regressions)} regression{'s' if len(regressions) != 1 else ''}: "
              + "; ".join(f"{r.figure} {r.why}" for r in regressions))
        return 1
    print("harness: no regression")
    return 0
