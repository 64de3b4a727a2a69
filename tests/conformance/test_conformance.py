"""`harness conformance` against reference servers (issue 5): every check passes on the clean
server; each fault fails the check made for it (and only checks it can touch); the files are
written and valid; exit codes 0 / 1 / 2; the pytest plugin runs the same checks."""

from __future__ import annotations

import json
import subprocess
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import jsonschema
import pytest

from harness.conformance.report import load_schema
from tests.support.child_processes import (HARNESS, LONG_SECRET, PYTHON, ROOT, child_env, free_port,
                                           run_to_exit)
from tests.support.load_runs import Server, start_server

ORIGIN = "http://allowed.example"
#: Checks that cannot pass or fail here: there is no MongoDB to write around the API with.
SKIPPED_HERE = {"bypass.pushed"}


class Servers:
    """One reference server per fault (each allows ORIGIN), started on first use."""

    def __init__(self) -> None:
        self._running: dict[str, Server] = {}

    def url(self, fault: str = "") -> str:
        if fault not in self._running:
            extra = ["--cors-origins", ORIGIN] + (["--fault", fault] if fault else [])
            self._running[fault] = start_server(extra=extra)
        return self._running[fault].url

    def close(self) -> None:
        for server in self._running.values():
            server.child.close()


@pytest.fixture(scope="module")
def servers() -> Iterator[Servers]:
    pool = Servers()
    try:
        yield pool
    finally:
        pool.close()


@dataclass
class Run:
    returncode: int
    stdout: str
    folder: Path


#: name -> (server fault, --only, further arguments): the CLI runs this module looks at.
RUNS: dict[str, tuple[str, str | None, tuple[str, ...]]] = {
    "clean": ("", None, ("--jwt-secret", LONG_SECRET, "--origin", ORIGIN)),
    "no secret, no origin": ("", "auth.*,cors.*", ()),
}


@pytest.fixture(scope="module")
def runs(servers: Servers, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Run]:
    """Every run of this module at once, each against its own server: they wait on the
    network and on quiet windows, not on the CPU, so together they take about as long as
    the slowest."""
    wanted = dict(RUNS)
    for fault, (only, _, _) in FAULTS.items():
        wanted[fault] = (fault, only, ("--jwt-secret", LONG_SECRET))
    with ThreadPoolExecutor(len(wanted)) as pool:
        urls = dict(zip(wanted, pool.map(servers.url, [w[0] for w in wanted.values()])))
    started = {}
    for name, (_, only, extra) in wanted.items():
        folder = tmp_path_factory.mktemp("conformance") / "conf"
        argv = [HARNESS, "conformance", "--target", urls[name], "--report-dir", str(folder),
                *(["--only", only] if only else []), *extra]
        started[name] = (subprocess.Popen(argv, cwd=ROOT, env=child_env(), stdin=subprocess.DEVNULL,
                                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                          text=True), folder)
    done = {}
    for name, (proc, folder) in started.items():
        try:
            out, _ = proc.communicate(timeout=240)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate()
        done[name] = Run(proc.returncode, out, folder)
    return done


def conformance(url: str, folder: Path, *extra: str, timeout: float = 60):
    argv = [HARNESS, "conformance", "--target", url, "--report-dir", str(folder), *extra]
    return run_to_exit(argv, timeout=timeout)


def verdicts(folder: Path) -> dict[str, str]:
    doc = json.loads((folder / "conformance.json").read_text())
    return {c["id"]: c["verdict"] for c in doc["checks"]}


def test_every_check_passes_against_the_reference_server(runs: dict[str, Run]) -> None:
    done = runs["clean"]
    folder = done.folder
    doc = json.loads((folder / "conformance.json").read_text())
    failed = {c["id"]: (c["evidence"], c.get("got")) for c in doc["checks"] if c["verdict"] == "FAIL"}
    assert done.returncode == 0 and not failed, (failed, done.stdout[-3000:])
    skipped = {c["id"] for c in doc["checks"] if c["verdict"] == "SKIP"}
    assert skipped == SKIPPED_HERE, skipped
    assert doc["totals"]["PASS"] >= 40, doc["totals"]  # the contract is checked broadly
    jsonschema.validate(doc, load_schema())
    assert doc["run"]["duration_s"] < 120, doc["run"]
    # The table names every check; the markdown and junit carry the same verdicts.
    for check in doc["checks"]:
        assert check["id"] in done.stdout
        assert check["evidence"] and check["section"] and check["description"]
    md = (folder / "conformance.md").read_text()
    assert md.startswith("## Conformance PASS") and "`bypass.pushed`" in md
    root = ET.parse(folder / "junit.xml").getroot()
    cases = root.findall(".//testcase")
    assert [c.get("name") for c in cases] == [c["id"] for c in doc["checks"]]
    assert [c.get("name") for c in cases if c.find("skipped") is not None] == ["bypass.pushed"]
    assert not [c for c in cases if c.find("failure") is not None]


def test_without_secret_or_origin_the_checks_that_need_them_skip(runs: dict[str, Run]) -> None:
    done = runs["no secret, no origin"]
    folder = done.folder
    assert done.returncode == 0, done.stdout[-3000:]
    doc = json.loads((folder / "conformance.json").read_text())
    skipped = {c["id"]: c["evidence"] for c in doc["checks"] if c["verdict"] == "SKIP"}
    assert skipped and all("--jwt-secret" in why or "--origin" in why for why in skipped.values()), skipped
    assert any("--origin" in why for why in skipped.values()), skipped
    assert {c["id"] for c in doc["checks"] if c["verdict"] == "PASS"}, doc["checks"]


#: fault -> (--only, checks that must fail, further checks it may fail too).
FAULTS = {
    "room_leak": ("rooms.*,isolation.*,routing.*", {"isolation.customers", "isolation.drivers"},
                  {"routing.delivery_lifecycle", "routing.pickup_lifecycle"}),
    "join_idor": ("rooms.*,isolation.*", {"rooms.join.join"}, set()),
    "legacy_status": ("statuses.*,routing.*,ordering.*", {"statuses.checkout_pending.card",
                      "statuses.checkout_pending.saved", "statuses.checkout_pending.guest"},
                      # (and what cannot walk a lifecycle that starts off the table)
                      {"routing.delivery_lifecycle", "routing.pickup_lifecycle", "ordering.burst"}),
    "drop=customer_order_update": ("routing.*,ordering.*", {"routing.delivery_lifecycle",
                                   "routing.pickup_lifecycle"}, set()),
    "duplicate=orderStatusUpdated": ("routing.*,ordering.*", {"ordering.burst"},
                                     {"routing.delivery_lifecycle", "routing.pickup_lifecycle"}),
    "reorder": ("routing.*,ordering.*", {"ordering.burst"}, set()),
}


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_each_fault_fails_the_check_made_for_it(runs: dict[str, Run], fault: str) -> None:
    _, must, may = FAULTS[fault]
    run = runs[fault]
    got = verdicts(run.folder)
    failed = {k for k, v in got.items() if v == "FAIL"}
    assert run.returncode == 1, run.stdout[-3000:]
    assert must <= failed, (fault, got)
    assert failed <= must | may, (fault, got)
    doc = json.loads((run.folder / "conformance.json").read_text())
    for c in doc["checks"]:
        if c["verdict"] == "FAIL":  # evidence: what was found, and what came back
            assert c["evidence"] and c["got"] is not None, c
            assert c["id"] in (run.folder / "conformance.md").read_text()


def test_an_unreachable_target_or_bad_arguments_exit_2(tmp_path: Path) -> None:
    done = conformance(f"http://127.0.0.1:{free_port()}", tmp_path / "c")
    assert done.returncode == 2 and "unreachable" in done.stderr, done.stderr
    assert not (tmp_path / "c").exists()
    for argv in (["--only", "no.such.check"], ["--origin", "not an origin"],
                 ["--mongo-url", "postgres://x"], ["--max-rps", "0"]):
        done = conformance("http://127.0.0.1:9", tmp_path / "c", *argv)
        assert done.returncode == 2 and done.stderr.startswith("error: "), (argv, done.stderr)
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    done = run_to_exit([HARNESS, "conformance", "--target", "ftp://x"])
    assert done.returncode == 2


def test_list_names_every_check_with_its_section() -> None:
    done = run_to_exit([HARNESS, "conformance", "--list"])
    assert done.returncode == 0
    lines = done.stdout.splitlines()
    assert len(lines) >= 40 and any(l.startswith("rooms.join.join ") for l in lines), lines


def test_the_pytest_plugin_runs_the_same_checks(servers: Servers, tmp_path: Path) -> None:
    argv = [PYTHON, "-m", "pytest", "-p", "no:cacheprovider", "-q", "--rootdir", str(tmp_path),
            str(tmp_path)]
    clean = run_to_exit(argv + ["--conformance-target", servers.url(),
                                "--conformance-only", "transport.*,bypass.*"], timeout=120)
    assert clean.returncode == 0, clean.stdout[-3000:]
    assert "6 passed, 1 skipped" in clean.stdout, clean.stdout[-2000:]
    broken = run_to_exit(argv + ["--conformance-target", servers.url("join_idor"),
                                 "--conformance-only", "rooms.join.join,transport.unknown_event"],
                         timeout=120)
    assert broken.returncode == 1, broken.stdout[-3000:]
    assert "conformance::rooms.join.join" in broken.stdout and "1 passed" in broken.stdout
    assert "emitter received" in broken.stdout  # the evidence, not a traceback
    nothing = run_to_exit(argv, timeout=60)  # without --conformance-target: no checks at all
    assert nothing.returncode == 5, nothing.stdout[-2000:]
