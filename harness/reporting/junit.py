"""`junit.xml`: one test case per threshold, a `<failure>` for each that failed.

CI systems (GitHub Actions test reporters, GitLab, Jenkins) show these as test results.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any, Iterable

SUITE = "harness.thresholds"


def junit_tree(verdicts: Iterable[dict[str, Any]], *, run_id: str | None = None,
               duration_s: float | None = None) -> ET.ElementTree:
    verdicts = list(verdicts)
    failures = sum(1 for v in verdicts if not v["passed"])
    attrs = {"name": SUITE, "tests": str(len(verdicts)), "failures": str(failures),
             "errors": "0", "skipped": "0"}
    if duration_s is not None:
        attrs["time"] = f"{float(duration_s):.3f}"
    suites = ET.Element("testsuites", {k: attrs[k] for k in ("name", "tests", "failures", "errors")})
    suite = ET.SubElement(suites, "testsuite", attrs)
    if run_id:
        props = ET.SubElement(suite, "properties")
        ET.SubElement(props, "property", {"name": "run_id", "value": str(run_id)})
    for v in verdicts:
        case = ET.SubElement(suite, "testcase", {"classname": SUITE, "name": v["key"]})
        if not v["passed"]:
            failure = ET.SubElement(case, "failure", {"message": v["message"],
                                                      "type": "ThresholdExceeded"})
            failure.text = v["message"]
        else:
            out = ET.SubElement(case, "system-out")
            out.text = v["message"]
    ET.indent(suites)
    return ET.ElementTree(suites)


def write_junit(path: str | Path, verdicts: Iterable[dict[str, Any]], **kwargs: Any) -> Path:
    path = Path(path)
    junit_tree(verdicts, **kwargs).write(path, encoding="utf-8", xml_declaration=True)
    return path
