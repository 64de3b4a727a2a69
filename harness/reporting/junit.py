"""`junit.xml`: one test case per verdict (a threshold, a conformance check), a `<failure>`
for each that failed and `<skipped>` for each that could not run.

CI systems (GitHub Actions test reporters, GitLab, Jenkins) show these as test results.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable
from pathlib import Path
from typing import Any

SUITE = "harness.thresholds"


def junit_tree(verdicts: Iterable[dict[str, Any]], *, run_id: str | None = None,
               duration_s: float | None = None, suite_name: str = SUITE,
               failure_type: str = "ThresholdExceeded") -> ET.ElementTree:
    """`verdicts`: {key, passed, message} each, plus `skipped` (bool) and `seconds` if known."""
    verdicts = list(verdicts)
    skipped = sum(1 for v in verdicts if v.get("skipped"))
    failures = sum(1 for v in verdicts if not v["passed"] and not v.get("skipped"))
    attrs = {"name": suite_name, "tests": str(len(verdicts)), "failures": str(failures),
             "errors": "0", "skipped": str(skipped)}
    if duration_s is not None:
        attrs["time"] = f"{float(duration_s):.3f}"
    suites = ET.Element("testsuites", {k: attrs[k] for k in ("name", "tests", "failures", "errors")})
    suite = ET.SubElement(suites, "testsuite", attrs)
    if run_id:
        props = ET.SubElement(suite, "properties")
        ET.SubElement(props, "property", {"name": "run_id", "value": str(run_id)})
    for v in verdicts:
        case_attrs = {"classname": suite_name, "name": v["key"]}
        if v.get("seconds") is not None:
            case_attrs["time"] = f"{float(v['seconds']):.3f}"
        case = ET.SubElement(suite, "testcase", case_attrs)
        if v.get("skipped"):
            ET.SubElement(case, "skipped", {"message": v["message"]})
        elif not v["passed"]:
            failure = ET.SubElement(case, "failure", {"message": v["message"],
                                                      "type": failure_type})
            failure.text = v.get("details") or v["message"]
        else:
            out = ET.SubElement(case, "system-out")
            out.text = v["message"]
    ET.indent(suites)
    return ET.ElementTree(suites)


def write_junit(path: str | Path, verdicts: Iterable[dict[str, Any]], **kwargs: Any) -> Path:
    path = Path(path)
    junit_tree(verdicts, **kwargs).write(path, encoding="utf-8", xml_declaration=True)
    return path
