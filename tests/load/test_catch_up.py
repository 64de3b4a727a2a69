"""A store owner's catch-up after a reconnect recovers every order it missed a change of.

Bug (issue 8, item 6: the intermittent store-owner catch-up that left out one order): a store
owner follows the orders it learns of (their events, its own HTTP answers), and after a drop it
reads them all, plus the orders listed as created while it was away. An order placed before
the owner's first connect (by more than the discovery margin) that had no event while the
owner was connected was in neither set. When it changed while the owner was away, the ledger
rightly expected the owner to recover that change (its room gets every order's events) and
the catch-up never read it: "missed while away, not recovered", though the catch-up
completed. It needs an order that stays quiet for a while and a cut at the wrong moment,
hence rare; here it is made to happen every time, by a scripted customer and owner.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.support.child_processes import LONG_SECRET, ROOT, child_env
from tests.support.load_runs import ServerPool, nonzero_faults, run_load, table

SCRIPT = '''
import json

import gevent
from gevent.event import Event
from locust import task

from harness.contract import ChangeKind, Status
from harness.load import reconnect, runtime, users  # noqa: F401  (runtime: the harness plugin)

# The order must be older than the owner's first look by more than this margin (5 s by
# default; shortened so the test does not wait for it).
reconnect.DISCOVERY_MARGIN_MS = 300.0

placed, cut, cancelled = Event(), Event(), Event()
seen = {}


class EarlyCustomer(users.Customer):
    """Places one order and, once the owner is cut, cancels it."""
    fixed_count = 1

    def script(self):
        if placed.is_set():
            return self.wait()
        order, _ = self.change("checkout", ChangeKind.CREATED, **self._values())
        seen["order"] = order.id
        placed.set()
        cut.wait(20)
        self.change("update_status", ChangeKind.STATUS, order_id=seen["order"],
                    status=Status.CANCELLED.value)
        cancelled.set()


class LateOwner(users.StoreOwner):
    """Connects a second after the order was placed, hears nothing of it, is cut, and
    catches up after its reconnect."""
    fixed_count = 1

    def on_start(self):
        placed.wait(20)
        gevent.sleep(1.0)
        super().on_start()

    def script(self):
        if "consistent" in seen:
            return self.wait()
        gevent.sleep(0.5)
        # Back after 1.5 s, not at a random moment: the cancel comes while it is away.
        self.sio.reconnection_delay, self.sio.randomization_factor = 1.5, 0.0
        seen["cut"] = self.follower.cut("closed")
        cut.set()
        cancelled.wait(20)
        for _ in range(200):
            gevent.sleep(0.05)
            if self.follower.up and self.follower.away_since is None:
                break
        seen["consistent"] = self.follower.up and self.follower.away_since is None
        print("SCRIPT " + json.dumps(seen), flush=True)


EarlyCustomer.tasks = [EarlyCustomer.script]
LateOwner.tasks = [LateOwner.script]
'''


def _run_script(script: str, url: str, folder: Path, users: int = 2) -> dict[str, Any]:
    """A scripted locustfile run; its report.json, once the script said it ended well."""
    locustfile = folder / "script.py"
    locustfile.write_text(script)
    argv = [sys.executable, "-m", "locust", "-f", str(locustfile), "--headless", "-u", str(users),
            "-r", "10", "-t", "9s", "--only-summary", "--host", url, "--tokens", "mint",
            "--jwt-secret", LONG_SECRET, "--event-timeout", "2", "--no-witness",
            "--report-dir", str(folder / "run")]
    proc = subprocess.run(argv, cwd=ROOT, env=child_env(), stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=90, start_new_session=True)
    out = proc.stdout + proc.stderr
    lines = [l for l in out.splitlines() if "SCRIPT " in l]
    assert lines, f"the script did not finish\n{out[-4000:]}"
    said: dict[str, Any] = json.loads(lines[-1].split("SCRIPT ", 1)[1])
    assert said["cut"] is True and said["consistent"] is True, (said, out[-3000:])
    return json.loads((folder / "run" / "report.json").read_text())


def _recovered_everything(report: dict[str, Any]) -> None:
    away = report["reconnection"]
    assert away["missed_while_away"] >= 1, away
    assert away["recovered"] == away["missed_while_away"], away
    assert away["unrecovered_samples"] == [], away
    assert not nonzero_faults(report), table(report)


def test_an_order_quiet_since_before_the_owner_connected_is_caught_up(
        servers: ServerPool, tmp_path: Path) -> None:
    report = _run_script(SCRIPT, servers.get().url, tmp_path)
    # The cancel reached the owner's room while it was away: its orderStatusUpdated is
    # missed while away (not missing), and the catch-up's read of the order recovers it.
    _recovered_everything(report)


#: Bug (the same flake's second cause, caught with a log of every catch-up: 1 run in 20
#: beside a CPU hog): the catch-up took the orders to read from what the owner followed
#: *before* listing the orders created while it was away, and then skipped listed orders it
#: now followed. An order created while the owner was away, whose next change reached the
#: reconnected owner live during that listing, was in neither: its `newOrder` was never
#: recovered. Scripted: the owner's listing answer is held until that next change arrived.
HEARD_DURING_LISTING_SCRIPT = '''
import json

import gevent
from gevent.event import Event
from locust import task

from harness.contract import ChangeKind, Status
from harness.load import runtime, users  # noqa: F401  (runtime: the harness plugin)

placed, listing, moved = Event(), Event(), Event()
seen = {}


class Shopper(users.Customer):
    fixed_count = 1

    def script(self):
        return self.wait()


class Mover(users.StoreOwner):
    """Moves the order on while the other owner lists the orders."""
    fixed_count = 1

    def script(self):
        if moved.is_set() or not listing.wait(0.2):
            return self.wait()
        self.change("update_status", ChangeKind.STATUS, order_id=seen["order"],
                    status=Status.PROCESSING.value)
        moved.set()


class CutOwner(users.StoreOwner):
    fixed_count = 1

    def call(self, action, /, **kwargs):
        answer = super().call(action, **kwargs)
        if action == "list_orders" and placed.is_set() and not listing.is_set():
            listing.set()   # the catch-up's listing: held until the order's next change is in
            moved.wait(20)
            for _ in range(100):
                if seen["order"] in self.follower.followed.open:
                    break
                gevent.sleep(0.05)
        return answer

    def script(self):
        if "consistent" in seen:
            return self.wait()
        gevent.sleep(1.0)  # the first connect's listing is over
        self.sio.reconnection_delay, self.sio.randomization_factor = 1.0, 0.0
        seen["cut"] = self.follower.cut("closed")
        shopper = next(u for u in self.environment.runner.user_greenlets.greenlets
                       if isinstance(getattr(u, "args", [None])[0], Shopper)).args[0]
        seen["order"] = shopper.change("checkout", ChangeKind.CREATED, **shopper._values())[0].id
        placed.set()
        for _ in range(200):
            gevent.sleep(0.05)
            if moved.is_set() and self.follower.up and self.follower.away_since is None:
                break
        seen["consistent"] = self.follower.up and self.follower.away_since is None
        print("SCRIPT " + json.dumps(seen), flush=True)


Shopper.tasks = [Shopper.script]
Mover.tasks = [Mover.script]
CutOwner.tasks = [CutOwner.script]
'''


def test_an_order_heard_of_during_the_catch_up_listing_is_read(
        servers: ServerPool, tmp_path: Path) -> None:
    _recovered_everything(_run_script(HEARD_DURING_LISTING_SCRIPT, servers.get().url, tmp_path,
                                      users=3))


def test_events_emitted_after_a_socket_left_are_missed_while_away_not_missing(
        servers: ServerPool, tmp_path: Path) -> None:
    """Bug (issue 9, part B: 99 to 149 `newOrder` missing at one store owner, while 800 users
    ramped up): a checkout sent at 31.845 s had its order made, and its newOrder emitted, 2.7 s
    later (the generator was saturated); the owner was cut in between. The books expected the
    owner from the trigger to one second after it, and called the event missing. Here the
    server holds every change 1.5 s before making it, and half the users are cut every second."""
    run = run_load(servers.get("slow_request=1500").url, tmp_path / "run", users=30,
                   duration="8", think_time="0.05-0.3",
                   extra=["--cut-mode", "closed", "--cut-share", "0.5", "--cut-every", "1"])
    report = run.report
    assert run.returncode == 0, run.describe()
    assert not nonzero_faults(report), table(report)
    away = report["reconnection"]
    assert away["missed_while_away"] >= 1 and away["recovered"] == away["missed_while_away"], away
