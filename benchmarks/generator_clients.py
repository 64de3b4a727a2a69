"""Which Socket.IO client holds more users per Locust process: `locust.contrib.socketio` or a plain one.

Not a test: it prints figures. For each variant it starts a fresh reference server (embedded
store) on loopback and a separate headless Locust process (`python -m locust`) whose users each
hold one Socket.IO connection as a customer (HS256 token minted here, unique `sub`, websocket
transport):

- contrib: `locust.contrib.socketio.SocketIOUser` as shipped: a `socketio.Client` subclass, one
  extra `sio.wait` greenlet per user, and a Locust request event (latency 0) per received event;
- plain:   a plain `locust.User` holding a `socketio.Client`, a catch-all handler that counts.

Once every user has tried to connect, this process drives about `--event-rate` events/s into
those customers' rooms for `--hold` seconds: it places pickup orders over HTTP as the customers
(tokens minted for the same subs) and moves them with a minted store_owner token; each move sends
`orderStatusUpdated` and `customer_order_update` to the customer's room. The locustfiles (written
to a temporary directory) count connects, failures, drops and received events and read their
own /proc/self/stat (CPU) and /proc/self/status (VmRSS, VmHWM) at test start, when every user has
tried to connect, at test stop and at quit, into JSON files this script reads.

    .venv/bin/python benchmarks/generator_clients.py                # 2,000 users, 30 s hold
    .venv/bin/python benchmarks/generator_clients.py --users 4000

Server, Locust and the driving client share this machine's cores: figures are relative.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import jwt

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness import payloads  # noqa: E402
from harness.api import HttpError, OrdersApi  # noqa: E402
from harness.contract import (  # noqa: E402
    JWT_ALGORITHM,
    ChangeKind,
    OrderChange,
    OrderType,
    Role,
    customer_room,
    emissions_for,
    lifecycle,
)

SECRET = "generator-clients-benchmark-secret-loopback-only-0123456789"
VARIANTS = ("contrib", "plain")
TITLES = {"contrib": "contrib SocketIOUser", "plain": "plain socketio.Client"}
DRAIN_S = 3.0          # after driving stops, time for the last events to land
SLACK_S = 9            # added to -t beyond spawn time + hold (connect tail, drain)
DRIVERS_IN_FLIGHT = 16

# --------------------------------------------------------------------------- locustfiles

_COMMON = '''
import itertools, json, os, time

import gevent
import jwt
from locust import User, constant, events, task

OUT = os.environ["GC_OUT"]
SECRET = os.environ["GC_SECRET"]
PREFIX = os.environ["GC_PREFIX"]
WAIT_TIMEOUT = float(os.environ["GC_WAIT_TIMEOUT"])
_TICK = os.sysconf("SC_CLK_TCK")
_ids = itertools.count()
C = {"ok": 0, "failed": 0, "received": 0, "disconnected": 0}
ERRORS = []
MARKS = {}
TARGET = [0]


def token(sub):
    now = int(time.time())
    return jwt.encode({"sub": sub, "role": "customer", "name": sub, "iat": now, "exp": now + 3600},
                      SECRET, algorithm="HS256")


def next_sub():
    return f"{PREFIX}{next(_ids)}"


def snapshot():
    fields = open("/proc/self/stat").read().rsplit(")", 1)[1].split()
    status = {}
    for line in open("/proc/self/status"):
        if line.startswith(("VmRSS:", "VmHWM:")):
            status[line.split(":")[0]] = int(line.split()[1])
    return {"t": time.time(), "cpu": (int(fields[11]) + int(fields[12])) / _TICK,
            "rss_kib": status["VmRSS"], "hwm_kib": status["VmHWM"], **C}


def mark(name):
    MARKS[name] = snapshot()
    with open(os.path.join(OUT, name + ".json.tmp"), "w") as f:
        json.dump({"mark": MARKS[name], "target": TARGET[0], "errors": ERRORS}, f)
    os.replace(os.path.join(OUT, name + ".json.tmp"), os.path.join(OUT, name + ".json"))


def on_disconnect(*args):
    C["disconnected"] += 1


@events.init.add_listener
def _init(environment, **kw):
    TARGET[0] = environment.parsed_options.num_users


@events.test_start.add_listener
def _start(environment, **kw):
    mark("start")


@events.request.add_listener
def _request(request_type, name, response_time, response_length, exception=None, **kw):
    if request_type == "WSR":
        C["received"] += 1
    elif request_type == "WS" and name == "connect":
        if exception is None:
            C["ok"] += 1
        else:
            C["failed"] += 1
            if len(ERRORS) < 5:
                ERRORS.append(repr(exception)[:200])
        if C["ok"] + C["failed"] == TARGET[0]:
            mark("ready")


@events.test_stop.add_listener
def _stop(environment, **kw):
    mark("stop")


@events.quitting.add_listener
def _quitting(environment, **kw):
    mark("quit")
    import gc
    import greenlet
    alive = sum(1 for o in gc.get_objects() if isinstance(o, greenlet.greenlet) and not o.dead)
    with open(os.path.join(OUT, "result.json"), "w") as f:
        json.dump({"marks": MARKS, "target": TARGET[0], "errors": ERRORS,
                   "greenlets_at_quit": alive}, f)
'''

_CONTRIB = '''
from locust.contrib.socketio import SocketIOUser


class ContribSocketIOCustomer(SocketIOUser):
    """As shipped: SocketIOClient, one sio.wait greenlet, a request event per received event."""

    options = {"reconnection": False}
    wait_time = constant(3600)

    def on_start(self):
        self.sio.on("disconnect", on_disconnect)
        # SocketIOClient.connect wraps the connect in request.measure("WS", "connect").
        self.sio.connect(self.host, auth={"token": token(next_sub())}, transports=["websocket"],
                         wait_timeout=WAIT_TIMEOUT)

    @task
    def hold(self):
        pass
'''

_PLAIN = '''
import socketio


def on_event(event, *args):
    C["received"] += 1


class PlainSocketIOCustomer(User):
    """A plain User holding a socketio.Client; no extra greenlet, no per-event request event."""

    wait_time = constant(3600)

    def on_start(self):
        self.sio = socketio.Client(reconnection=False)
        self.sio.on("*", on_event)
        self.sio.on("disconnect", on_disconnect)
        with self.environment.events.request.measure("WS", "connect"):
            self.sio.connect(self.host, auth={"token": token(next_sub())},
                             transports=["websocket"], wait_timeout=WAIT_TIMEOUT)

    @task
    def hold(self):
        pass
'''

LOCUSTFILES = {"contrib": _COMMON + _CONTRIB, "plain": _COMMON + _PLAIN}

# --------------------------------------------------------------------------- server


def mint(sub: str, role: Role) -> str:
    now = int(time.time())
    return jwt.encode({"sub": sub, "role": role.value, "name": sub, "iat": now, "exp": now + 3600},
                      SECRET, algorithm=JWT_ALGORITHM)


def start_server(log_path: Path) -> tuple[subprocess.Popen[str], str]:
    log = open(log_path, "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "reference_server", "--port", "0", "--jwt-secret", SECRET,
         "--password-cost", "4", "--ping-timeout", "120", "--log-level", "WARNING"],
        stdout=subprocess.PIPE, stderr=log, text=True, cwd=Path(__file__).resolve().parents[1])
    log.close()
    assert proc.stdout is not None
    line = proc.stdout.readline()
    match = re.search(r"reference server listening on (http://\S+)", line)
    if not match:
        proc.kill()
        proc.wait()
        raise SystemExit(f"server did not start: {line!r}; see {log_path}")
    # Keep draining stdout so the server never blocks on a full pipe.
    threading.Thread(target=lambda: [None for _ in proc.stdout], daemon=True).start()  # type: ignore[union-attr]
    return proc, match.group(1)


def proc_cpu(pid: int) -> float:
    """CPU seconds (user + system) of a running process, from /proc/<pid>/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def stop(proc: subprocess.Popen[Any], timeout: float = 10) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# --------------------------------------------------------------------------- driving events


@dataclass
class Drive:
    seconds: float = 0.0
    moves: int = 0
    orders: int = 0
    expected: int = 0
    http_errors: int = 0
    error_samples: list[str] = field(default_factory=list)


def customer_events(order: dict[str, Any], status: str) -> int:
    """How many events one status change sends to the order's customer room (routing table)."""
    change = OrderChange(ChangeKind.STATUS, order["id"], order["customerId"], OrderType.PICKUP, status)
    room = customer_room(order["customerId"])
    return sum(1 for e in emissions_for(change) if room in e.rooms)


async def drive(url: str, prefix: str, users: int, rate: float, until: float) -> Drive:
    """Place pickup orders as the customers and move them as a store owner until `until`
    (time.time()), pacing the moves so the customer rooms get about `rate` events/s."""
    out = Drive()
    owner = mint(f"{prefix}owner", Role.STORE_OWNER)
    tokens: dict[str, str] = {}
    steps = lifecycle(OrderType.PICKUP)
    # Events one move sends to the customer's room, from the routing table (2 for every step).
    per_move = sum(customer_events({"id": "o", "customerId": "c"}, s.target.value) for s in steps) / len(steps)
    interval = per_move / rate
    next_slot = time.monotonic()

    async def pace() -> None:
        nonlocal next_slot
        now = time.monotonic()
        slot = max(next_slot, now)
        next_slot = slot + interval
        await asyncio.sleep(slot - now)

    def failed(exc: Exception) -> None:
        out.http_errors += 1
        if len(out.error_samples) < 3:
            out.error_samples.append(repr(exc)[:200])

    async def worker(api: OrdersApi) -> None:
        while time.time() < until:
            sub = f"{prefix}{random.randrange(users)}"
            tok = tokens.setdefault(sub, mint(sub, Role.CUSTOMER))
            try:
                order = await api.checkout(tok, payloads.checkout(OrderType.PICKUP))
            except (HttpError, httpx.HTTPError) as exc:
                failed(exc)
                await asyncio.sleep(0.1)
                continue
            out.orders += 1
            for step in steps:
                await pace()
                if time.time() >= until:
                    return
                try:
                    order = await api.set_status(owner, order["id"], step.target.value)
                except (HttpError, httpx.HTTPError) as exc:
                    failed(exc)
                    break
                out.moves += 1
                out.expected += customer_events(order, step.target.value)

    t0 = time.time()
    async with OrdersApi(url, timeout=30) as api:
        await asyncio.gather(*(worker(api) for _ in range(DRIVERS_IN_FLIGHT)))
    out.seconds = time.time() - t0
    return out


# --------------------------------------------------------------------------- one variant


def read_json(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def run_variant(variant: str, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    out = workdir / variant
    out.mkdir()
    locustfile = out / f"{variant}_socketio.py"
    locustfile.write_text(textwrap.dedent(LOCUSTFILES[variant]))
    server, url = start_server(out / "server.log")
    prefix = f"gc-{variant}-{os.getpid()}-"
    run_time = math.ceil(args.users / args.spawn_rate) + args.hold + SLACK_S
    env = dict(os.environ, GC_OUT=str(out), GC_SECRET=SECRET, GC_PREFIX=prefix,
               GC_WAIT_TIMEOUT=str(args.connect_timeout))
    cmd = [sys.executable, "-m", "locust", "-f", str(locustfile), "--headless",
           "-u", str(args.users), "-r", str(args.spawn_rate), "-t", f"{run_time}s",
           "--host", url, "--only-summary", "--loglevel", "WARNING"]
    log = open(out / "locust.log", "w")
    t_launch = time.time()
    # cwd is the temp dir so no locust.conf / pyproject.toml of this repo is picked up.
    locust = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=out)
    log.close()
    drove = Drive()
    hold_cpu = hold_s = 0.0
    try:
        # Wait for every user to have tried to connect (or for Locust to run out of time).
        while True:
            start = read_json(out / "start.json")
            deadline = (start["mark"]["t"] if start else t_launch + 5) + run_time
            ready = read_json(out / "ready.json")
            if ready or locust.poll() is not None or time.time() > deadline - args.hold / 2:
                break
            time.sleep(0.2)
        if locust.poll() is None:
            until = min(time.time() + args.hold, deadline - DRAIN_S - 1)
            cpu0, t0 = proc_cpu(locust.pid), time.time()
            drove = asyncio.run(drive(url, prefix, args.users, args.event_rate, until))
            time.sleep(DRAIN_S)
            if locust.poll() is None:
                hold_cpu, hold_s = proc_cpu(locust.pid) - cpu0, time.time() - t0
        try:
            locust.wait(run_time + 60)
        except subprocess.TimeoutExpired:
            stop(locust)
    finally:
        stop(locust)
        stop(server)
    result = read_json(out / "result.json")
    if result is None:
        tail = (out / "locust.log").read_text()[-3000:]
        raise SystemExit(f"{variant}: Locust wrote no result (exit {locust.returncode}); log tail:\n{tail}")
    result.update(variant=variant, exit_code=locust.returncode, drive=drove, hold_cpu=hold_cpu, hold_s=hold_s,
                  ready_seen=ready is not None, t_launch=t_launch)
    return result


# --------------------------------------------------------------------------- report


def summarise(r: dict[str, Any]) -> dict[str, Any]:
    m = r["marks"]
    start, stop_, quit_ = m["start"], m.get("stop", m["quit"]), m["quit"]
    ready = m.get("ready", stop_)
    d: Drive = r["drive"]
    connected = quit_["ok"]
    received = stop_["received"] - ready["received"]
    return {
        "requested": r["target"],
        "connected": connected,
        "failed": quit_["failed"],
        "never_tried": r["target"] - connected - quit_["failed"],
        "dropped": stop_["disconnected"],
        "connect_s": ready["t"] - start["t"],
        "cpu_total": quit_["cpu"],
        "cpu_connect": ready["cpu"] - start["cpu"],
        "cpu_hold": r["hold_cpu"],
        "hold_s": r["hold_s"],
        "hold_pct": r["hold_cpu"] / max(1e-9, r["hold_s"]) * 100,
        "hwm_mib": quit_["hwm_kib"] / 1024,
        "kib_per_user": (quit_["hwm_kib"] - start["rss_kib"]) / max(1, connected),
        "ms_cpu_per_connect": (ready["cpu"] - start["cpu"]) / max(1, connected) * 1000,
        "events_s": received / d.seconds if d.seconds else 0.0,
        "received": received,
        "expected": d.expected,
        "moves_s": d.moves / d.seconds if d.seconds else 0.0,
        "drive_s": d.seconds,
        "http_errors": d.http_errors,
        "greenlets_per_user": r["greenlets_at_quit"] / max(1, connected),
        "errors": r["errors"],
        "exit_code": r["exit_code"],
    }


ROWS: list[tuple[str, str, str]] = [
    # (label, key, format)
    ("users requested", "requested", "{:d}"),
    ("users connected (connect successes)", "connected", "{:d}"),
    ("users failed to connect", "failed", "{:d}"),
    ("users never finished connecting", "never_tried", "{:d}"),
    ("users dropped before test stop", "dropped", "{:d}"),
    ("time to connect all (s)", "connect_s", "{:.1f}"),
    ("CPU s, whole Locust process", "cpu_total", "{:.1f}"),
    ("CPU s, connecting (start -> all tried)", "cpu_connect", "{:.1f}"),
    ("CPU ms per connect", "ms_cpu_per_connect", "{:.2f}"),
    ("CPU s, holding under events", "cpu_hold", "{:.1f}"),
    ("  hold window: driving + drain (s)", "hold_s", "{:.1f}"),
    ("  % of one core while holding", "hold_pct", "{:.0f}%"),
    ("peak RSS, VmHWM (MiB)", "hwm_mib", "{:.0f}"),
    ("peak RSS above start, per user (KiB)", "kib_per_user", "{:.0f}"),
    ("greenlets alive at quit, per user", "greenlets_per_user", "{:.2f}"),
    ("events received per second", "events_s", "{:.0f}"),
    ("events received / expected", "received", "{}"),
    ("status moves driven per second", "moves_s", "{:.0f}"),
    ("driving HTTP errors", "http_errors", "{:d}"),
    ("Locust exit code", "exit_code", "{}"),
]


def table(s: dict[str, dict[str, Any]]) -> str:
    width = max(len(label) for label, _, _ in ROWS) + 2
    cols = [TITLES[v] for v in VARIANTS]
    lines = [" " * width + "".join(f"{c:>24}" for c in cols),
             "-" * (width + 24 * len(cols))]
    for label, key, fmt in ROWS:
        cells = []
        for v in VARIANTS:
            if key == "received":
                cell = f"{s[v]['received']} / {s[v]['expected']}"
            else:
                cell = fmt.format(s[v][key])
            cells.append(f"{cell:>24}")
        lines.append(f"{label:<{width}}" + "".join(cells))
    return "\n".join(lines)


def verdict(s: dict[str, dict[str, Any]]) -> str:
    a, b = s["contrib"], s["plain"]

    def cmp(x: float, y: float) -> str:
        return f"{(1 - x / y) * 100:.0f}% less" if x <= y else f"{(x / y - 1) * 100:.0f}% more"

    if a["connected"] != b["connected"]:
        win = "contrib" if a["connected"] > b["connected"] else "plain"
        lose = "plain" if win == "contrib" else "contrib"
        why = (f"it held {s[win]['connected']} of {s[win]['requested']} users, "
               f"{TITLES[lose]} {s[lose]['connected']}")
    else:
        # A gevent Locust process runs on one core, so CPU decides; within 5 % (run-to-run
        # noise on a shared 2-core machine) peak memory decides.
        cpu_a, cpu_b, mem_a, mem_b = a["cpu_total"], b["cpu_total"], a["hwm_mib"], b["hwm_mib"]
        cpu_tie = abs(cpu_a - cpu_b) / max(cpu_a, cpu_b, 1e-9) <= 0.05
        if cpu_tie:
            win = "contrib" if mem_a < mem_b else "plain"
        else:
            win = "contrib" if cpu_a < cpu_b else "plain"
        lose = "plain" if win == "contrib" else "contrib"
        w, l_ = s[win], s[lose]
        cpu = (f"CPU within 5% ({w['cpu_total']:.1f} vs {l_['cpu_total']:.1f} s)" if cpu_tie else
               f"{cmp(w['cpu_total'], l_['cpu_total'])} CPU ({w['cpu_total']:.1f} vs {l_['cpu_total']:.1f} s)")
        why = (f"both held {a['connected']}/{a['requested']} users; {TITLES[win]}: {cpu}, "
               f"{cmp(w['hwm_mib'], l_['hwm_mib'])} peak RSS ({w['hwm_mib']:.0f} vs {l_['hwm_mib']:.0f} MiB)")
    return f"verdict: keep {TITLES[win]}: {why}."


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=2000, help="users per Locust process")
    parser.add_argument("--spawn-rate", type=float, default=200, help="users started per second")
    parser.add_argument("--hold", type=int, default=30, help="seconds to hold them under events")
    parser.add_argument("--event-rate", type=float, default=200,
                        help="events per second to drive into the users' rooms")
    parser.add_argument("--connect-timeout", type=float, default=10,
                        help="socketio Client.connect wait_timeout, both variants")
    parser.add_argument("--only", choices=VARIANTS, help="run one variant")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (logs, JSON)")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="generator-clients-"))
    print(f"{args.users} users per Locust process, spawn rate {args.spawn_rate:g}/s, hold {args.hold} s, "
          f"target {args.event_rate:g} events/s into their rooms; one fresh reference server per variant",
          flush=True)
    try:
        results: dict[str, dict[str, Any]] = {}
        for variant in (args.only,) if args.only else VARIANTS:
            print(f"running {TITLES[variant]} ...", flush=True)
            results[variant] = summarise(run_variant(variant, args, workdir))
        if args.only:
            for label, key, fmt in ROWS:
                v = results[args.only]
                cell = f"{v['received']} / {v['expected']}" if key == "received" else fmt.format(v[key])
                print(f"{label:<42}{cell:>16}")
        else:
            print()
            print(table(results))
            print()
            print(verdict(results))
        for variant, s in results.items():
            if s["errors"]:
                print(f"{TITLES[variant]} connect errors (first {len(s['errors'])}): {s['errors']}")
    finally:
        if args.keep:
            print(f"logs and JSON kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
