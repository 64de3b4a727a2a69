"""report.json's JSON Schema (`report.schema.json`, shipped as package data) and its check.

The schema is draft 2020-12 and describes `harness.load.report.build_report` as it is for
`schema_version` "1". `validate_report` uses `jsonschema` when it is installed (it names
every problem, with its path) and falls back to `fastjsonschema` (a runtime dependency,
which stops at the first problem).
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from typing import Any, cast

SCHEMA_FILE = "report.schema.json"
SCHEMA_VERSION = "1"


@lru_cache(maxsize=1)
def load_schema() -> dict[str, Any]:
    text = resources.files(__package__).joinpath(SCHEMA_FILE).read_text(encoding="utf-8")
    return cast(dict[str, Any], json.loads(text))


def validate_report(report: dict[str, Any]) -> list[str]:
    """Every way `report` departs from the schema, as `path: message` lines ([] if valid)."""
    schema = load_schema()
    try:
        import jsonschema  # noqa: PLC0415  (a test dependency: used when installed)
    except ImportError:
        return _validate_fast(schema, report)
    validator = jsonschema.Draft202012Validator(schema)
    problems = []
    for error in sorted(validator.iter_errors(report), key=lambda e: list(map(str, e.absolute_path))):
        path = "/".join(str(p) for p in error.absolute_path) or "(root)"
        problems.append(f"{path}: {error.message}")
    return problems


def _validate_fast(schema: dict[str, Any], report: dict[str, Any]) -> list[str]:
    import fastjsonschema  # noqa: PLC0415  (compiling the schema is needed only to write a report)

    try:
        fastjsonschema.compile(schema)(report)
    except fastjsonschema.JsonSchemaValueException as exc:
        return [f"{exc.path}: {exc.message}"]
    return []
