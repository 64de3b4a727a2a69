"""`harness conformance` against reference servers (issue 5): every check passes on the clean
server; each fault fails the check made for it (and only checks it can touch); the files are
written and valid; exit codes 0 / 1 / 2; the pytest plugin runs the same checks."""

from __future__ import annotations

import json
import subprocess
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import jsonschema
import pytest

from harness.conformance.report import load_schema
from tests.support.child_processes import (HARNESS, LONG_SECRET, PYTHON, ROOT, concurrently,
                                           free_port, kill_tree, popen, run_to_exit)
from tests.support.load_runs import ServerPool

ORIGIN = "http://allowed.example"
#: Checks that cannot pass or fail here: there is no MongoDB to write around the API with.
SKIPPED_HERE = {"bypass.pushed"}


class Servers(ServerPool):
    """One reference server per fault (each allows ORIGIN), started on first use; safe to ask
    from several threads at once (two runs on the clean server used to start two of it, and
    the one forgotten ran on after the session)."""

    def __init__(self) -> None:
        super().__init__(origin=ORIGIN)

    def url(self, fault: str = "") -> str:
        return self.get(*([fault] if fault else [])).url


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
def runs(servers: Servers, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Every run of this module at once, each against its own server: they wait on the
    network and on quiet windows, not on the CPU, so together they take about as long as
    the slowest. The module's short commands (`quick`) run meanwhile, two at a time."""
    wanted = dict(RUNS)
    for fault, (only, _, _) in FAULTS.items():
        wanted[fault] = (fault, only, ("--jwt-secret", LONG_SECRET))
    urls = concurrently({name: (lambda fault=w[0]: servers.url(fault)) for name, w in wanted.items()})
    started = {}
    try:
        for name, (_, only, extra) in wanted.items():
            folder = tmp_path_factory.mktemp("conformance") / "conf"
            argv = [HARNESS, "conformance", "--target", urls[name], "--report-dir", str(folder),
                    *(["--only", only] if only else []), *extra]
            started[name] = (popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, text=True), folder)
        exit2 = tmp_path_factory.mktemp("exit2")
        quick = concurrently(_quick_commands(servers, exit2, tmp_path_factory), workers=2)
        done: dict[str, Any] = {"quick": quick, "exit2": exit2}
        for name, (proc, folder) in started.items():
            try:
                out, _ = proc.communicate(timeout=240)
            except subprocess.TimeoutExpired:
                kill_tree(proc)
                out, _ = proc.communicate()
            done[name] = Run(proc.returncode, out, folder)
        return done
    finally:  # a failure (or Ctrl-C) on the way leaves no run going
        for proc, _ in started.values():
            kill_tree(proc)


#: Arguments `harness conformance` refuses (exit 2, one line), against a target never reached.
BAD_ARGUMENTS = (["--only", "no.such.check"], ["--origin", "not an origin"],
                 ["--mongo-url", "postgres://x"], ["--max-rps", "0"])


def _quick_commands(servers: Servers, exit2: Path, tmp_path_factory: pytest.TempPathFactory
                    ) -> dict[str, Callable[[], subprocess.CompletedProcess[str]]]:
    """name -> a short command of the tests below, run to its end."""
    plugin = tmp_path_factory.mktemp("plugin")
    pytest_argv = [PYTHON, "-m", "pytest", "-p", "no:cacheprovider", "-q", "--rootdir", str(plugin),
                   str(plugin)]
    commands: dict[str, Callable[[], subprocess.CompletedProcess[str]]] = {
        "plugin clean": lambda: run_to_exit(pytest_argv + [
            "--conformance-target", servers.url(), "--conformance-only", "transport.*,bypass.*"],
            timeout=120),
        "plugin broken": lambda: run_to_exit(pytest_argv + [
            "--conformance-target", servers.url("join_idor"),
            "--conformance-only", "rooms.join.join,transport.unknown_event"], timeout=120),
        # our server held to our own contract file: the file.* checks pass it
        "plugin by file": lambda: run_to_exit(pytest_argv + [
            "--conformance-target", servers.url(), "--conformance-contract",
            str(ROOT / "docs" / "contract.toml"), "--conformance-only", "file.*"], timeout=120),
        # without --conformance-target: no checks at all
        "plugin nothing": lambda: run_to_exit(pytest_argv, timeout=60),
        "unreachable": lambda: conformance(f"http://127.0.0.1:{free_port()}", exit2 / "unreachable"),
        "ftp": lambda: run_to_exit([HARNESS, "conformance", "--target", "ftp://x"]),
        "list": lambda: run_to_exit([HARNESS, "conformance", "--list"]),
    }
    for argv in BAD_ARGUMENTS:
        commands[" ".join(argv)] = (lambda argv=argv: conformance("http://127.0.0.1:9",
                                                                  exit2 / "c", *argv))
    return commands


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


def test_an_unreachable_target_or_bad_arguments_exit_2(runs: dict[str, Any]) -> None:
    quick = runs["quick"]
    done = quick["unreachable"]
    assert done.returncode == 2 and "unreachable" in done.stderr, done.stderr
    assert not (runs["exit2"] / "unreachable").exists()
    for argv in BAD_ARGUMENTS:
        done = quick[" ".join(argv)]
        assert done.returncode == 2 and done.stderr.startswith("error: "), (argv, done.stderr)
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    done = quick["ftp"]
    assert done.returncode == 2


def test_list_names_every_check_with_its_section(runs: dict[str, Any]) -> None:
    done = runs["quick"]["list"]
    assert done.returncode == 0
    lines = done.stdout.splitlines()
    assert len(lines) >= 40 and any(l.startswith("rooms.join.join ") for l in lines), lines


def test_the_pytest_plugin_runs_the_same_checks(runs: dict[str, Any]) -> None:
    quick = runs["quick"]
    clean = quick["plugin clean"]
    assert clean.returncode == 0, clean.stdout[-3000:]
    assert "6 passed, 1 skipped" in clean.stdout, clean.stdout[-2000:]
    broken = quick["plugin broken"]
    assert broken.returncode == 1, broken.stdout[-3000:]
    assert "conformance::rooms.join.join" in broken.stdout and "1 passed" in broken.stdout
    assert "emitter received" in broken.stdout  # the evidence, not a traceback
    by_file = quick["plugin by file"]
    assert by_file.returncode == 0, by_file.stdout[-3000:]
    assert "7 passed" in by_file.stdout and "skipped" not in by_file.stdout, by_file.stdout[-2000:]
    nothing = quick["plugin nothing"]
    assert nothing.returncode == 5, nothing.stdout[-2000:]
