"""Figures you can trust (issue 8): the users' latency matches an independent witness, and a
generator that falls behind is caught, by the witness and by its own health.

* A generator held for 150 ms at a time (a user that hogs the process, as a burst of
  spawning or judging does) must still measure what the server did: arrival stamps, not
  handler times (harness/load/arrival.py). Before the fix its figures carried the hog.
* Over the polling transport the harness has no arrival stamps: the same hog then is in the
  figures, and the witness and the health section must both say so.
* At modest scale (400 users, the mixed scenario, one Locust process), against the reference
  server and against an independent Node.js implementation, the users' emit-to-delivery is
  within 3 ms of the witness's at p50 for every event type, and within 15 ms at p99, the
  witness's figure weighed as the users' is (`paired_emit_to_delivery`: a store-owner event
  counts once per store owner on both sides).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Iterator

import pytest

from tests.support.child_processes import LONG_SECRET, ROOT, Child, child_env
from tests.support.load_runs import APP_ORIGIN, ServerPool, nonzero_faults, run_load, table

#: The issue's accuracy bounds: users' emit-to-delivery against the witness's, same receipts.
P50_WITHIN_MS = 3.0
P99_WITHIN_MS = 15.0
HOG_MS = 150

#: These runs compare two latency figures against a bound of milliseconds: `make test` runs
#: them after the rest of the suite, which it runs two modules at a time (pytest-xdist).
pytestmark = pytest.mark.alone

HOG_LOCUSTFILE = f'''
import random
import time

import gevent
from locust import User, task

from harness.load import runtime  # noqa: F401
from harness.load.users import Customer, Driver, StoreOwner


class Hog(User):
    """Holds the whole process for {HOG_MS} ms at a time, about half of the time (at random
    moments, so that the holds do not keep step with the users' own rhythm)."""
    fixed_count = 1

    @task
    def hold(self):
        started = time.perf_counter()
        while time.perf_counter() - started < {HOG_MS / 1000}:
            pass
        gevent.sleep(random.uniform({HOG_MS / 3000}, {HOG_MS * 5 / 3000}))
'''


def _locust(locustfile: Path, url: str, folder: Path, *extra: str) -> dict[str, Any]:
    argv = [sys.executable, "-m", "locust", "-f", str(locustfile), "--headless", "-u", "40",
            "-r", "20", "-t", "10s", "--only-summary", "--host", url, "--tokens", "mint",
            "--jwt-secret", LONG_SECRET, "--store-owners", "2", "--drivers", "3",
            "--think-time", "0.1-0.4", "--event-timeout", "5", "--report-dir", str(folder), *extra]
    proc = subprocess.run(argv, cwd=ROOT, env=child_env(), stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=120, start_new_session=True)
    path = folder / "report.json"
    assert path.is_file(), f"no report\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return json.loads(path.read_text())


@pytest.fixture(scope="module")
def hogged(servers: ServerPool, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A hogged generator over websocket, then over polling beside a run without a witness."""
    url = servers.get().url
    folder = tmp_path_factory.mktemp("hogged")
    locustfile = folder / "hog.py"
    locustfile.write_text(HOG_LOCUSTFILE)
    # The accuracy run first and alone: the other two would take its cores.
    ws = _locust(locustfile, url, folder / "websocket")
    with ThreadPoolExecutor(2) as pool:
        polling = pool.submit(_locust, locustfile, url, folder / "polling", "--transport", "polling")
        off = pool.submit(run_load, url, folder / "off", users=10, duration="5")
        off_run = off.result()
        return {"websocket": ws, "polling": polling.result(), "off": off_run.report,
                "off_run": off_run}


def _pairs(report: dict[str, Any], min_matched: int = 5) -> dict[str, dict[str, Any]]:
    witness = report["witness"]
    assert witness["enabled"] and witness["reason"] is None, witness
    return {event: e for event, e in witness["events"].items() if e["matched"] >= min_matched}


def _accuracy_problems(report: dict[str, Any]) -> list[str]:
    """Where the users' figure is above the witness's by more than the bounds. Only above:
    a user's stamp is its frame's arrival on this machine, which can be late but never early
    (tests/harness/test_arrival.py), while the witness stamps in its handler, after its own
    client library has parsed the frame; a busy machine makes the witness the later one."""
    problems = []
    for event, e in _pairs(report).items():
        users, server = e["users_emit_to_delivery"], e["paired_emit_to_delivery"]
        for pct, within in (("p50_ms", P50_WITHIN_MS), ("p99_ms", P99_WITHIN_MS)):
            if users[pct] - server[pct] > within:
                problems.append(f"{event} {pct}: users {users[pct]} ms, witness {server[pct]} ms "
                                f"(more than {within} ms above; {e['matched']} matched)")
    return problems


def test_a_hogged_generator_measures_what_the_server_did(hogged) -> None:
    """Bug (issue 8): events were stamped when their handler ran, so whatever held the
    generator (spawning users, at first) was added to every figure: `newOrder` read 40 to
    300 times the server's latency."""
    report = hogged["websocket"]
    pairs = _pairs(report)
    assert {"newOrder", "orderStatusUpdated", "delivery_update"} <= set(pairs), pairs.keys()
    assert not _accuracy_problems(report), _accuracy_problems(report)
    assert report["witness"]["added_delay"]["p99_ms"] <= report["witness"]["bound_ms"], report["witness"]
    assert report["witness"]["generator_suspect"] is False
    health = report["generator"]["processes"][0]
    # The generator saw its own stall: events waited for the hog between arriving and
    # being handled, and the arrival stamps left that wait out of the figures. The largest
    # wait, not the p99: users act (and the server answers with events) when the hog lets
    # go, so few events land inside a hold, and a once-a-second lag probe samples ten holds
    # (the p99 read 26 ms once in three runs).
    assert max(health["receive_delay_ms"]["max_ms"], health["loop_lag_ms_max"]) >= HOG_MS * 0.6, health
    assert health["arrival_stamps"]["kernel"] > 0 and health["arrival_stamps"]["read"] == 0, health
    # Every websocket was read by the event loop (loop_websocket.py), none by a greenlet.
    readers = health["websocket_readers"]
    assert readers["loop"] >= 40 and readers["greenlet"] == 0, readers  # 40 users (_locust)
    # Its lag is reported, and so is what it does not touch: the witness vouches for the
    # emit-to-delivery figures.
    note = report["generator"]["note"] or ""
    assert "arrival stamps" in note and "witness" in note, note


def test_without_arrival_stamps_the_witness_and_the_health_say_the_figures_are_the_generators(
        hogged) -> None:
    report = hogged["polling"]
    witness = report["witness"]
    assert witness["enabled"] and witness["added_delay"]["count"] > 0, witness
    assert witness["added_delay"]["p99_ms"] > witness["bound_ms"], witness["added_delay"]
    assert witness["generator_suspect"] is True and "generator's" in witness["note"], witness
    health = report["generator"]
    assert health["latency_suspect"] is True, health
    assert health["processes"][0]["arrival_stamps"]["read"] > 0, health
    assert health["processes"][0]["websocket_readers"] == {"loop": 0, "greenlet": 0}, "polling only"
    assert "arrival stamps" not in (health["note"] or ""), health  # nothing vouches for them


def test_no_witness_when_asked(hogged) -> None:
    witness = hogged["off"]["witness"]
    assert witness["enabled"] is False and "--no-witness" in witness["reason"], witness
    # That run also asked for no report.html (--no-html): the rest of the folder is there.
    run = hogged["off_run"]
    assert not (run.folder / "report.html").exists()
    assert (run.folder / "report.md").is_file() and "harness report" in run.stdout, run.stdout[-500:]


# --- accuracy at modest scale ------------------------------------------------------------------

PEER = ROOT / "tests" / "js" / "contract_peer.js"


@pytest.fixture(scope="module")
def node_peer() -> Iterator[str]:
    if shutil.which("node") is None or not (ROOT / "tests/js/node_modules/socket.io").is_dir():
        raise AssertionError("node and tests/js/node_modules are needed (make test runs npm ci)")
    with Child(["node", str(PEER), LONG_SECRET, APP_ORIGIN]) as child:
        line = child.wait_line(lambda l: "listening on" in l, 20, "the peer's ready line")
        yield line.rsplit(" ", 1)[-1].strip()


@pytest.mark.parametrize("target", ["reference", "node"])
def test_at_400_users_the_users_match_the_witness(target: str, servers: ServerPool, node_peer: str,
                                                  tmp_path: Path) -> None:
    url = servers.get().url if target == "reference" else node_peer
    run = run_load(url, tmp_path / "run", scenario="mixed", users=400, duration="20",
                   think_time="0.5-1.5", event_timeout=10.0, witness=True,
                   extra=["--tokens", "mint", "--jwt-secret", LONG_SECRET], timeout=150)
    report = run.report
    assert not nonzero_faults(report), f"{table(report)}\n{run.describe()}"
    assert set(_pairs(report, min_matched=20)) >= {"newOrder", "orderStatusUpdated",
                                                   "delivery_update"}, report["witness"]
    # No `added_delay` bound here: a pair's difference also holds the server's spread between
    # two sockets of one room (beside two CPU hogs, the reference server wrote the same
    # `newOrder` to the witness's tab and a store owner up to 27 ms apart, either way round).
    # The quantiles above compare like with like, and are the bounds.
    assert not _accuracy_problems(report), (_accuracy_problems(report), report["generator"])
