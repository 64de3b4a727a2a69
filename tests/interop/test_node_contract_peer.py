"""The harness against a whole-contract server we did not write in Python:
`tests/js/contract_peer.js`, a Node.js `http` + `socket.io` 4.x backend written from
CONTRACT.md alone (auth, CORS, rooms, orders, transitions, errors, the change feed's events).

Every conformance check passes on it (bar the one that needs --mongo-url), and a lifecycle
load run against it closes its books with nothing missing, doubled, out of order, leaked or
invalid: the harness's verdicts and numbers are not an artefact of our own server. The peer
is started twice, and the conformance run and the load run go at the same time, each against
its own peer, so the file takes about 40 s.
"""

from __future__ import annotations

import json
import re
import shutil
import signal
import subprocess
from dataclasses import dataclass
from typing import Any, Iterator

import pytest

from tests.support.child_processes import HARNESS, LONG_SECRET, ROOT, Child, kill_tree, popen
from tests.support.load_runs import (EVENTS, VERDICTS, LoadRun, ended_well, nonzero_faults, run_load,
                                     table)

PEER = ROOT / "tests" / "js" / "contract_peer.js"
ORIGIN = "http://app.example"
READY = re.compile(r"^node contract peer listening on (http://127\.0\.0\.1:\d+)$")
#: The only check that may not PASS: it writes around the API, into the target's MongoDB.
NEEDS_MONGO = {"bypass.pushed"}


def _needs_node() -> None:
    if shutil.which("node") is None or not (ROOT / "tests/js/node_modules/socket.io").is_dir():
        raise AssertionError("node and tests/js/node_modules are needed (make test runs npm ci)")


def _start_peer() -> tuple[Child, str]:
    child = Child(["node", str(PEER), LONG_SECRET, ORIGIN])
    try:
        line = child.wait_line(lambda l: "listening on" in l, 20, "the peer's ready line")
        match = READY.match(line)
        assert match, f"ready line {line!r} does not match {READY.pattern}\n{child.describe()}"
        return child, match.group(1)
    except BaseException:
        child.close()
        raise


@dataclass
class Runs:
    conformance_code: int
    #: conformance.json
    conformance: dict[str, Any]
    load: LoadRun


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runs]:
    """`harness conformance` (a child) and `harness load`, at once, each against a peer of its
    own: the load's store owners hear of every order on their server, and the harness's books
    key a location report by its coordinates, so the conformance run's repeated positions
    would be judged on them."""
    _needs_node()
    peers: list[Child] = []
    urls: list[str] = []
    conformance: subprocess.Popen[bytes] | None = None
    try:
        for _ in range(2):
            peer, url = _start_peer()
            peers.append(peer)
            urls.append(url)
        conformance_url, load_url = urls
        folder = tmp_path_factory.mktemp("conformance") / "conf"
        conformance = popen(
            [HARNESS, "conformance", "--target", conformance_url, "--jwt-secret", LONG_SECRET,
             "--origin", ORIGIN, "--report-dir", str(folder)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        # The harness's own defaults (think time 0.5-2 s, event timeout 10 s), seeded.
        load = run_load(load_url, tmp_path_factory.mktemp("load") / "run", scenario="lifecycle",
                        users=60, duration="20s", think_time="0.5-2", event_timeout=10.0,
                        seed=7, timeout=75.0,
                        extra=["--tokens", "mint", "--jwt-secret", LONG_SECRET])
        code = conformance.wait(timeout=60)
        doc = json.loads((folder / "conformance.json").read_text(encoding="utf-8"))
        for peer in peers:
            assert peer.proc.poll() is None, f"a peer died\n{peer.describe()}"
        yield Runs(code, doc, load)
    finally:
        if conformance is not None:
            kill_tree(conformance)
        for peer in peers:
            peer.close()


def test_every_conformance_check_passes_against_the_node_contract_peer(runs: Runs) -> None:
    checks = runs.conformance["checks"]
    found = {c["id"]: c["verdict"] for c in checks}
    failed = {c["id"]: c["evidence"] for c in checks if c["verdict"] not in ("PASS", "SKIP")}
    assert not failed, failed
    assert {k for k, v in found.items() if v == "SKIP"} == NEEDS_MONGO, found
    assert runs.conformance_code == 0, found
    # Every area of the contract was checked (59 checks when this was written).
    areas = {cid.split(".", 1)[0] for cid in found}
    assert {"transport", "auth", "cors", "rooms", "isolation", "routing", "ordering", "statuses",
            "transitions", "http", "client"} <= areas, sorted(areas)
    assert len(found) >= 59, sorted(found)


def test_a_lifecycle_load_against_the_node_contract_peer_closes_its_books_clean(runs: Runs) -> None:
    run = runs.load
    report = ended_well(run)
    assert report["run"]["complete"] is True, (report["run"], run.describe())
    assert report["run"]["scenario"] == "lifecycle" and report["run"]["tokens"] == "mint"
    assert report["run"]["orders_created"] > 0, report["run"]
    assert nonzero_faults(report) == {}, table(report)
    for event in EVENTS:
        entry = report["events"][event]
        assert set(VERDICTS) <= set(entry), f"{event}: {sorted(entry)}"
        assert entry["delivered"] > 0, f"{event} was never delivered\n{table(report)}"
        assert entry["expected"] == entry["delivered"], f"{event}\n{table(report)}"
        # The peer stamps emittedAt and answers time_sync: both latency figures are measured.
        for figure in ("trigger_to_delivery", "emit_to_delivery"):
            assert entry[figure]["count"] == entry["delivered"], (event, figure, entry[figure])
    assert report["clock"]["time_sync"] is True, report["clock"]


def test_the_peer_stops_cleanly_on_sigterm_sigint_and_when_its_stdin_closes() -> None:
    _needs_node()
    for how in ("SIGTERM", "SIGINT", "stdin"):
        child, _ = _start_peer()
        with child:
            if how == "stdin":
                assert child.proc.stdin is not None
                child.proc.stdin.close()
                code = child.proc.wait(5)
            else:
                code = child.stop(getattr(signal, how))
            assert code == 0, f"{how}: exit code {code}\n{child.describe()}"
            assert not child.lines("stderr"), f"{how}:\n{child.describe()}"


def test_the_peer_refuses_to_start_without_its_secret_and_origin() -> None:
    _needs_node()
    done = subprocess.run(["node", str(PEER)], cwd=ROOT, capture_output=True, text=True,
                          timeout=20, stdin=subprocess.DEVNULL)
    assert done.returncode == 2 and "usage" in done.stderr, done
