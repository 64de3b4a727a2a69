"""The README's main command, `harness demo`, end to end: it starts the reference server on the
embedded store, runs a load against it, writes the report, passes the default thresholds and
leaves no server behind."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
import pytest

from tests.support.child_processes import HARNESS, run_to_exit


def test_demo_runs_a_load_against_its_own_server_and_passes(tmp_path: Path) -> None:
    folder = tmp_path / "run"
    done = run_to_exit([HARNESS, "demo", "--users", "30", "--duration", "6s",
                        "--report-dir", str(folder)], timeout=120)
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-3000:]
    assert "PASS" in done.stdout.strip().splitlines()[-1], out[-3000:]
    report = json.loads((folder / "report.json").read_text(encoding="utf-8"))
    assert report["run"]["complete"] is True and report["run"]["orders_created"] > 0, report["run"]
    assert report["events"]["newOrder"]["delivered"] > 0
    assert all(t["passed"] for t in report["thresholds"]), report["thresholds"]
    for name in ("report.md", "junit.xml", "histograms.json", "report.html"):
        assert (folder / name).is_file(), name
    # The server it started is gone: its port answers no more.
    url = re.search(r"server at (http://\S+);", done.stdout)
    assert url, done.stdout[:2000]
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{url.group(1)}/health", timeout=2)
