"""`harness load --thresholds FILE` end to end: the exit code comes from the thresholds.

Like test_load_runs.py, nothing here imports Locust: servers and runs are child processes.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest

from harness.contract import Event
from tests.support.child_processes import concurrently
from tests.support.load_runs import LoadRun, ServerPool, run_load

DELAY_MS = 300
BOUND = f"{Event.ORDER_STATUS_UPDATED.value}.p99_ms"


@pytest.fixture(scope="module")
def runs(servers: ServerPool, tmp_path_factory: pytest.TempPathFactory) -> dict[str, LoadRun]:
    """The module's three runs at once (two short loads, one refused before it starts): the
    verdicts they are judged on are a 300 ms delay against a 200 ms bound, the defaults'
    generous bounds and an exit code, none of which two runs side by side can move."""
    folder = tmp_path_factory.mktemp("thresholds")
    tight, unknown = folder / "tight.toml", folder / "unknown.toml"
    tight.write_text(f'[thresholds]\n"{BOUND}" = 200\nleaked = 0\n', encoding="utf-8")
    unknown.write_text('[thresholds]\n"latency.p99_ms" = 200\n', encoding="utf-8")
    return concurrently({
        "delayed": lambda: run_load(servers.get(f"delay={DELAY_MS}").url, folder / "delayed",
                                    users=20, duration="6", seed=21,
                                    extra=["--thresholds", str(tight)]),
        "clean": lambda: run_load(servers.get().url, folder / "clean", users=20, duration="6",
                                  seed=22),
        "unknown key": lambda: run_load(servers.get().url, folder / "unknown", users=20,
                                        duration="6", extra=["--thresholds", str(unknown)],
                                        timeout=60),
    })


def test_a_delayed_server_fails_a_tight_latency_bound(runs: dict[str, LoadRun]) -> None:
    run = runs["delayed"]
    assert run.returncode == 1, run.describe()
    last = run.stdout.strip().splitlines()[-3:]
    assert any(BOUND in line for line in last), run.describe()
    verdicts = {v["key"]: v for v in run.report["thresholds"]}
    assert set(verdicts) == {BOUND, "leaked"}
    assert not verdicts[BOUND]["passed"] and verdicts[BOUND]["value"] > 200
    assert verdicts["leaked"]["passed"]
    cases = ET.parse(run.folder / "junit.xml").getroot().findall(".//testcase")
    assert {c.get("name"): c.find("failure") is not None for c in cases} == {BOUND: True,
                                                                              "leaked": False}
    assert (run.folder / "report.md").read_text(encoding="utf-8").startswith("## FAIL")


def test_a_clean_run_meets_the_defaults(runs: dict[str, LoadRun]) -> None:
    run = runs["clean"]
    assert run.returncode == 0, run.describe()
    verdicts = run.report["thresholds"]
    assert verdicts and all(v["passed"] for v in verdicts), json.dumps(verdicts, indent=1)
    assert "PASS" in run.stdout.strip().splitlines()[-1]
    assert (run.folder / "report.md").read_text(encoding="utf-8").startswith("## PASS")


def test_an_unknown_threshold_key_exits_2_before_the_run(runs: dict[str, LoadRun]) -> None:
    run = runs["unknown key"]
    assert run.returncode == 2, run.describe()
    lines = run.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "'latency.p99_ms'" in lines[0], (
        run.describe())
    assert not run.folder.exists()
