"""A conformance run's files: `conformance.json`, `conformance.md`, `junit.xml`, and the
table printed at the end. `conformance.json` is described by `conformance.schema.json`
(shipped beside this module)."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any, cast

from ..reporting.junit import write_junit
from .model import Outcome, Verdict

SCHEMA_VERSION = "1"
JSON_FILE = "conformance.json"
MARKDOWN_FILE = "conformance.md"
JUNIT_FILE = "junit.xml"
SUITE = "harness.conformance"


def load_schema() -> dict[str, Any]:
    text = resources.files(__package__).joinpath("conformance.schema.json").read_text(encoding="utf-8")
    return cast(dict[str, Any], json.loads(text))


def totals(outcomes: Iterable[Outcome]) -> dict[str, int]:
    counts = Counter(o.verdict.value for o in outcomes)
    return {v.value: counts.get(v.value, 0) for v in Verdict}


def document(outcomes: list[Outcome], *, target: str, prefix: str, run_id: str,
             started: float, seconds: float, options: dict[str, Any]) -> dict[str, Any]:
    return {
        "schema_version": SCHEMA_VERSION,
        "run": {"id": run_id, "target": target, "prefix": prefix,
                "started_at": datetime.fromtimestamp(started, UTC)
                .isoformat(timespec="seconds").replace("+00:00", "Z"),
                "duration_s": round(seconds, 3), "options": options},
        "totals": totals(outcomes),
        "checks": [_jsonable(o.to_json()) for o in outcomes],
    }


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=repr))


def _short(value: Any, limit: int = 400) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=repr)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def markdown(doc: dict[str, Any]) -> str:
    t = doc["totals"]
    verdict = "FAIL" if t["FAIL"] else "PASS"
    run = doc["run"]
    lines = [f"## Conformance {verdict}: {t['PASS']} passed, {t['FAIL']} failed, {t['SKIP']} skipped",
             "", f"target {run['target']}, run `{run['id']}` (prefix `{run['prefix']}`), "
             f"{run['duration_s']:.0f} s", "",
             "| check | section | verdict | evidence |", "|---|---|---|---|"]
    for c in doc["checks"]:
        evidence = c["evidence"].replace("|", "\\|").replace("\n", " ")
        lines.append(f"| `{c['id']}` | {c['section']} | {c['verdict']} | {evidence} |")
    failed = [c for c in doc["checks"] if c["verdict"] == "FAIL"]
    if failed:
        lines += ["", "### Evidence of the failures", ""]
        for c in failed:
            lines += [f"**`{c['id']}`**: {c['description']} (contract {c['section']})", "",
                      f"- found: {c['evidence']}"]
            for what in ("sent", "expected", "got"):
                if c.get(what) is not None:
                    lines.append(f"- {what}: `{_short(c[what]).replace('`', '')}`")
            lines.append("")
    return "\n".join(lines) + "\n"


def junit_verdicts(doc: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for c in doc["checks"]:
        details = "\n".join(f"{what}: {_short(c[what], 2000)}"
                            for what in ("sent", "expected", "got") if c.get(what) is not None)
        out.append({"key": c["id"], "passed": c["verdict"] != "FAIL",
                    "skipped": c["verdict"] == "SKIP", "seconds": c["seconds"],
                    "message": f"{c['id']}: {c['evidence']}",
                    "details": f"{c['evidence']}\n{details}".strip()})
    return out


def write(folder: Path, doc: dict[str, Any]) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, text in ((JSON_FILE, json.dumps(doc, indent=2) + "\n"), (MARKDOWN_FILE, markdown(doc))):
        tmp = folder / f".{name}.tmp"
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(folder / name)
        paths.append(folder / name)
    paths.append(write_junit(folder / JUNIT_FILE, junit_verdicts(doc), run_id=doc["run"]["id"],
                             duration_s=doc["run"]["duration_s"], suite_name=SUITE,
                             failure_type="ContractViolation"))
    return paths


def table(outcomes: Iterable[Outcome], width: int = 110) -> str:
    """The end-of-run table: check, verdict, one-line evidence."""
    outcomes = list(outcomes)
    id_w = max([len(o.check.id) for o in outcomes] + [5])
    lines = [f"{'check':{id_w}}  verdict  evidence"]
    for o in outcomes:
        evidence = o.evidence.replace("\n", " ")
        room = max(20, width - id_w - 11)
        if len(evidence) > room:
            evidence = evidence[: room - 1] + "…"
        lines.append(f"{o.check.id:{id_w}}  {o.verdict.value:7}  {evidence}")
    t = totals(outcomes)
    lines.append(f"{t['PASS']} passed, {t['FAIL']} failed, {t['SKIP']} skipped")
    return "\n".join(lines)
