"""After `harness load`'s Locust run: thresholds into report.json, junit.xml, report.md and
report.html beside it, the failed thresholds on the last lines, and the command's exit code."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from .junit import write_junit
from .markdown import write_markdown
from .thresholds import ThresholdSet, evaluate, failed, headline

EXIT_MET = 0
EXIT_FAILED = 1
REPORT = "report.json"
JUNIT = "junit.xml"
MARKDOWN = "report.md"
KEY = "thresholds"


def finish(report_dir: str | Path, thresholds: ThresholdSet, *,
           out: TextIO | None = None, html: bool = True) -> int:
    """0: every threshold met; 1: one failed, or there is no report.json to judge."""
    out = out or sys.stdout
    folder = Path(report_dir)
    path = folder / REPORT
    try:
        report: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        print(f"harness: FAIL: no usable {path} (the load generator ended without writing it: "
              f"{exc.__class__.__name__}); thresholds not evaluated", file=out, flush=True)
        return EXIT_FAILED
    verdicts = evaluate(thresholds, report)
    report[KEY] = verdicts
    path.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    run = report.get("run") or {}
    write_junit(folder / JUNIT, verdicts, run_id=run.get("id"), duration_s=run.get("duration_s"))
    write_markdown(folder / MARKDOWN, report, verdicts)
    if html:
        _draw(folder, out)
    else:
        print(f"report.html not drawn (--no-html): `harness report {folder}` draws it", file=out,
              flush=True)
    bad = failed(verdicts)
    print(f"thresholds ({thresholds.source}): {len(verdicts) - len(bad)}/{len(verdicts)} met; "
          f"{folder / JUNIT}, {folder / MARKDOWN}", file=out, flush=True)
    if not bad:
        print("harness: PASS: all thresholds met", file=out, flush=True)
        return EXIT_MET
    why = headline(bad)
    if why is not None:  # a run that did no work: say that first, in its own words
        print(f"harness: FAIL: {why}", file=out, flush=True)
    print(f"harness: FAIL: {len(bad)} threshold{'s' if len(bad) != 1 else ''} not met:",
          file=out, flush=True)
    for v in bad:
        print(f"  FAILED {v['message']}", file=out, flush=True)
    return EXIT_FAILED


def _draw(folder: Path, out: TextIO) -> None:
    try:
        started = time.monotonic()
        from .html import write_html  # noqa: PLC0415  (matplotlib: a second of imports, only to draw)

        page = write_html(folder)
        print(f"report: {page} ({page.stat().st_size / 1024:.0f} KiB, drawn in "
              f"{time.monotonic() - started:.1f} s)", file=out, flush=True)
    except Exception as exc:  # noqa: BLE001  (a plot that cannot be drawn must not cost the verdict)
        print(f"harness: report.html not written: {exc.__class__.__name__}: {exc}", file=out,
              flush=True)
