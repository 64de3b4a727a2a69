"""`harness report RUN_DIR`: re-render a run folder's readable files from its raw data.

Reads report.json (and histograms.json) and writes report.html; report.md and junit.xml too
when report.json holds threshold verdicts (`thresholds`, written by `harness load`).
Nothing is measured again: the run folder is the whole input.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("report", help="re-render report.html (and report.md, junit.xml) from a run folder")
    p.add_argument("run_dir", metavar="RUN_DIR", help="a run folder holding report.json")
    p.set_defaults(func=run)


def run(args: argparse.Namespace, rest: list[str]) -> int:
    folder = Path(args.run_dir)
    path = folder / "report.json"
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        print(f"error: no usable {path}: {exc}")
        return 2
    from ..reporting.html import write_html
    from ..reporting.schema import validate_report

    for problem in validate_report(report)[:20]:
        print(f"warning: report.json does not match the schema: {problem}")
    written = [write_html(folder)]
    verdicts = report.get("thresholds")
    if isinstance(verdicts, list):
        try:
            from ..reporting.junit import write_junit
            from ..reporting.markdown import write_markdown
        except ImportError:
            pass
        else:
            written.append(write_markdown(folder / "report.md", report, verdicts))
            run_info = report.get("run") or {}
            written.append(write_junit(folder / "junit.xml", verdicts, run_id=run_info.get("id"),
                                       duration_s=run_info.get("duration_s")))
    for p in written:
        print(f"wrote {p}")
    return 0
