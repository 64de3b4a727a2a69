"""`harness compare` flags an injected regression and passes an unchanged run."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from harness.reporting.compare import compare

HARNESS = [sys.executable, "-m", "harness"]


def _figure(p50: float) -> dict[str, Any]:
    return {"p50_ms": p50, "p90_ms": p50 * 2, "p95_ms": p50 * 3, "p99_ms": p50 * 4,
            "p999_ms": p50 * 5, "max_ms": p50 * 9, "count": 100}


def _report() -> dict[str, Any]:
    counts = {"expected": 100, "delivered": 100, "missing": 0, "duplicate": 0,
              "out_of_order": 0, "leaked": 0, "invalid": 0}
    return {
        "events": {"newOrder": {**counts, "trigger_to_delivery": _figure(10.0),
                                "emit_to_delivery": _figure(5.0), "fanout": _figure(12.0)}},
        "latency": {"connect": _figure(20.0)},
        "reconnection": {"time_to_reconnect": _figure(800.0)},
    }


def _write(folder: Path, report: dict[str, Any]) -> Path:
    folder.mkdir(parents=True)
    (folder / "report.json").write_text(json.dumps(report))
    return folder


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*HARNESS, "compare", *map(str, args)], capture_output=True, text=True,
                          timeout=60)


def test_an_unchanged_run_passes(tmp_path: Path) -> None:
    base = _write(tmp_path / "a", _report())
    out = _run(base, _write(tmp_path / "b", _report()))
    assert out.returncode == 0, out.stdout + out.stderr
    assert "newOrder.trigger_to_delivery.p99_ms" in out.stdout and "no regression" in out.stdout


def test_a_latency_rise_beyond_the_allowance_is_a_regression(tmp_path: Path) -> None:
    worse = _report()
    worse["events"]["newOrder"]["trigger_to_delivery"]["p99_ms"] = 40.0 * 1.25  # +25 %
    base = _write(tmp_path / "a", _report())
    current = _write(tmp_path / "b", worse)
    out = _run(base, current / "report.json")
    assert out.returncode == 1
    assert "newOrder.trigger_to_delivery.p99_ms rose 25.0%" in out.stdout.splitlines()[-1]
    assert _run(base, current, "--max-regression", "30").returncode == 0


def test_a_count_rising_from_zero_is_a_regression_but_a_max_is_not() -> None:
    base, current = _report(), _report()
    current["events"]["newOrder"]["leaked"] = 1
    current["events"]["newOrder"]["trigger_to_delivery"]["max_ms"] = 10_000.0
    flagged = [r.figure for r in compare(base, current, 20.0) if r.regression]
    assert flagged == ["leaked"]
    unchanged = copy.deepcopy(base)
    assert not [r for r in compare(base, unchanged, 0.0) if r.regression]


def test_missing_reports_are_a_configuration_error(tmp_path: Path) -> None:
    out = _run(tmp_path / "nothing", tmp_path / "nothing")
    assert out.returncode == 2 and out.stderr.startswith("error:")
