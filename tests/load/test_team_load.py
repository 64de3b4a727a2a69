"""`harness load --contract FILE` against a server that follows the idea of our contract, not
its letter (`tests/js/team_orders.js`, described by `examples/team-orders.toml`; issue 10,
item 5): its own routes, envelopes, claims and role names, `_id`, whole-order payloads with no
event id, version or emission time, a location event of its own, the token in the query string.

Clean, a run has no verdict at all; each fault switched on is found as what it is and
nothing else: a room leak, a dropped event, a duplicate emit (without event ids: the same
event, order and status twice) and an out-of-order pair (without versions: by the status's
place in the file's flow). Runs are judged on counts, two at a time, two faults a run where
their verdicts cannot mix.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Iterator

import pytest

from tests.support.child_processes import HARNESS, run_to_exit
from tests.support.load_runs import EVENTS, LoadRun, nonzero_faults, run_load, table
from tests.support.team_server import FILE, TeamServers

STATUS_EVENTS = ("orderStatusUpdated", "customer_order_update", "delivery_update")

#: name -> the server's faults. Two faults share a run where their verdicts cannot mix: a
#: drop and a duplicate of two other events; a leak (judged where it lands: only `leaked`) and
#: a reordered pair (judged at the order's own customer).
RUNS = {
    "clean": "",
    "drop_and_duplicate": "drop=customer_order_update,duplicate=orderStatusUpdated",
    "leak_and_reorder": "room_leak,reorder",
}


@pytest.fixture(scope="module")
def team_runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, dict[str, Any]]]:
    servers = TeamServers()
    try:
        urls = {name: servers.start(faults) for name, faults in RUNS.items()}
        folder = tmp_path_factory.mktemp("team")

        def one(name: str) -> tuple[str, dict[str, Any]]:
            # Quick moves (think time up to 20 ms): the reorder fault needs two changes to one
            # order within its 250 ms hold.
            run = run_load(urls[name], folder / name, users=20, duration="5",
                           think_time="0-0.02",
                           extra=("--contract", str(FILE), "--spawn-rate", "20"))
            return name, _checked(run)

        with ThreadPoolExecutor(2) as pool:
            yield dict(pool.map(one, RUNS))
    finally:
        servers.close()


def _checked(run: LoadRun) -> dict[str, Any]:
    assert run.returncode in (0, 1), (run.returncode, run.stdout[-3000:], run.stderr[-3000:])
    assert "Traceback" not in run.stderr, run.stderr[-3000:]
    report = json.loads((run.folder / "report.json").read_text(encoding="utf-8"))
    assert report["user_starts"]["failed"] == {}, report["user_starts"]
    assert report["http"]["failed"] == 0, report["http"]
    return report


def test_a_clean_team_server_gets_no_verdict(team_runs: dict[str, dict[str, Any]]) -> None:
    report = team_runs["clean"]
    assert nonzero_faults(report) == {}, table(report)
    for event in EVENTS:
        assert report["events"][event]["delivered"] > 0, table(report)
    # Its own location event was sent, acked by its own flag, and its delivery_updates matched.
    assert report["latency"]["driver_location_ack"]["count"] > 0, report["latency"]
    assert report["run"]["contract"] == str(FILE)
    # No emission time in its payloads: emit-to-delivery is not measured, and the report says why.
    assert "not measurable" in report["clock"]["note"], report["clock"]
    assert {report["events"][e]["emit_to_delivery"]["count"] for e in EVENTS} == {0}
    assert report["events"]["orderStatusUpdated"]["trigger_to_delivery"]["count"] > 0


def test_a_room_leak_is_leaked_and_a_reordered_pair_out_of_order(
        team_runs: dict[str, dict[str, Any]]) -> None:
    report = team_runs["leak_and_reorder"]
    faults = nonzero_faults(report)
    allowed = {(e, "leaked") for e in STATUS_EVENTS} | {("customer_order_update", "out_of_order")}
    assert set(faults) <= allowed, table(report)
    assert faults.get(("customer_order_update", "leaked"), 0) > 0, table(report)
    assert faults.get(("customer_order_update", "out_of_order"), 0) > 0, table(report)


def test_a_drop_is_missing_and_a_duplicate_emit_is_a_duplicate(
        team_runs: dict[str, dict[str, Any]]) -> None:
    report = team_runs["drop_and_duplicate"]
    events = report["events"]
    assert nonzero_faults(report) == {
        ("customer_order_update", "missing"): events["customer_order_update"]["expected"],
        ("orderStatusUpdated", "duplicate"): events["orderStatusUpdated"]["delivered"],
    }, table(report)
    assert events["customer_order_update"]["expected"] > 0


def test_a_contract_file_that_cannot_be_used_stops_the_run_in_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(FILE.read_text(encoding="utf-8").replace('[order]\nid = "_id"', '[order]\nidd = "_id"'),
                   encoding="utf-8")
    for contract, words in ((tmp_path / "none.toml", ("none.toml", "No such file")),
                            (bad, ("bad.toml", "order.idd", "unknown key"))):
        result = run_to_exit([HARNESS, "load", "--target", "http://127.0.0.1:9", "--contract",
                              str(contract), "--report-dir", str(tmp_path / "run")], timeout=30)
        assert result.returncode == 2, (result.returncode, result.stderr)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, result.stderr
        for word in words:
            assert word in lines[0], (word, lines[0])
