"""A load run whose connections start on HTTP long-polling and upgrade to websocket, as
browsers' clients do (`--transport upgrade`): once upgraded, each websocket is read by the
event loop (harness/load/loop_websocket.py) while python-engineio's write loop, which an
upgraded connection keeps, writes through it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.support.load_runs import EVENTS, ServerPool, ended_well, nonzero_faults, run_load, table

USERS = 20


@pytest.fixture(scope="module")
def upgraded(servers: ServerPool, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder: Path = tmp_path_factory.mktemp("upgrade") / "run"
    # Closed cuts too: a cut upgraded connection ends its reader, whose end stops the write
    # loop (joined), and the client reconnects on polling and upgrades again.
    return ended_well(run_load(servers.get().url, folder, users=USERS, duration="10",
                               extra=["--spawn-rate", str(USERS), "--transport", "upgrade",
                                      "--cut-mode", "closed",
                                      "--cut-every", "3"]))


def test_upgraded_connections_are_read_by_the_loop_and_cuts_lose_nothing(upgraded: dict[str, Any]) -> None:
    report = upgraded
    assert sum(report["run"]["users"].values()) == USERS, report["run"]["users"]
    assert report["connections"]["succeeded"] >= USERS, report["connections"]
    assert nonzero_faults(report) == {}, table(report)
    for event in EVENTS:
        assert report["events"][event]["delivered"] > 0, f"{event}\n{table(report)}"
    rec = report["reconnection"]
    # Every cut user came back and caught up.
    assert rec["cuts"] > 0 and rec["count"] >= rec["cuts"], rec
    assert rec["away_at_end"] == 0 and rec["catch_up_failures"] == 0, rec
    readers = report["generator"]["processes"][0]["websocket_readers"]
    # Every connection, and every reconnection after a cut, upgraded and was read by the loop.
    assert readers["loop"] >= USERS + rec["count"] and readers["greenlet"] == 0, (readers, rec)
