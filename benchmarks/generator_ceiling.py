"""How many held users one Locust process carries, and what each costs (issue 11).

Not a test: it prints figures. It starts the Node.js contract peer (`tests/js/contract_peer.js`,
socket.io 4.x; run `make test` once for its node_modules) on loopback, then `harness load`
with one Locust process: the lifecycle scenario, minted tokens, one order a second (open
model), users started at `--spawn-rate`, then held for `--hold` seconds, the witness on. It
reads the Locust process's /proc every second (CPU ticks, RSS) and the run's report.json,
and prints:

- users held (connected at the end of the ramp; for Artillery, the sockets it holds at the
  hold's end), and whether the generator was flagged;
- CPU seconds (the whole run, and the hold alone: per held user-minute, per received event);
- RSS at start, when held, and per held user (with and without the process's start);
- events received per second during the hold;
- the event loop's lag (p99) and the witness's added delay (p99).

When `artillery` is on PATH or `npx artillery` answers (`PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm
install --ignore-scripts artillery@2` in a folder, then its `node_modules/.bin` on PATH), the same hold runs with
Artillery 2's socketio engine beside it (every virtual user with the same token: its engine
connects before payload variables are templated), and its CPU and RSS print in a second column.

    .venv/bin/python benchmarks/generator_ceiling.py                  # 2,000 users, 60 s hold
    .venv/bin/python benchmarks/generator_ceiling.py --users 10000 --spawn-rate 200

Server, generator and witness share this machine's cores: the figures are this machine's.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parents[1]
PEER = ROOT / "tests" / "js" / "contract_peer.js"
SECRET = "generator-ceiling-secret-0123456789abcdef"
ORIGIN = "http://localhost:9"
TICK_S = 1.0 / os.sysconf("SC_CLK_TCK")
PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024

#: How long Artillery's users stay past the measured window (they are stopped then).
HOLD_MARGIN_S = 10
#: The measured hold: from this long after the ramp's end (the harness's Locust process
#: starts a few seconds after its command) for `hold - 2` seconds, for both generators.
HELD_AFTER_RAMP_S = 5.0


@dataclass
class Sample:
    at: float
    cpu_s: float
    rss_kb: int
    #: The kernel's share of cpu_s (system time: syscalls, and on loopback the TCP work of
    #: delivering what this process sends).
    sys_s: float = 0.0


@dataclass
class Watch:
    """A process's CPU and RSS, read every second from /proc until it ends."""

    pid_of: Callable[[], int | None]
    samples: list[Sample] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        while not self.stop.wait(1.0):
            pid = self.pid_of()
            if pid is None:
                continue
            try:
                stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                statm = Path(f"/proc/{pid}/statm").read_text().split()
            except OSError:
                continue
            self.samples.append(Sample(time.monotonic(), (int(stat[11]) + int(stat[12])) * TICK_S,
                                       int(statm[1]) * PAGE_KB, int(stat[12]) * TICK_S))

    def at(self, when: float) -> Sample | None:
        before = [s for s in self.samples if s.at <= when]
        return before[-1] if before else (self.samples[0] if self.samples else None)


def _locust_pid(parent: int) -> int | None:
    """The `python -m locust` child of the `harness load` process."""
    for child in Path("/proc").glob("[0-9]*"):
        try:
            stat = (child / "stat").read_text()
            cmd = (child / "cmdline").read_bytes()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == parent and b"locust" in cmd:
            return int(child.name)
    return None


def _sockets_open(pid: int) -> int:
    """How many sockets a process holds open (its connections, and a few of its own)."""
    count = 0
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            count += os.readlink(fd).startswith("socket:")
        except OSError:
            continue
    return count


def start_peer() -> tuple[subprocess.Popen[str], str]:
    if shutil.which("node") is None or not (ROOT / "tests/js/node_modules/socket.io").is_dir():
        sys.exit("needs node and tests/js/node_modules (run `make test` once, or "
                 "`npm ci --prefix tests/js`)")
    peer = subprocess.Popen(["node", str(PEER), SECRET, ORIGIN, "0"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    assert peer.stdout is not None
    line = peer.stdout.readline().strip()
    return peer, line.rsplit(" ", 1)[1]


def harness_hold(url: str, users: int, rate: float, hold: int, folder: Path) -> dict[str, object]:
    ramp = users / rate
    argv = [sys.executable, "-m", "harness", "load", "--target", url, "--users", str(users),
            "--spawn-rate", str(rate), "--duration", str(int(ramp + hold + 1)),
            "--scenario", "lifecycle", "--tokens", "mint", "--jwt-secret", SECRET,
            "--order-rate", "1", "--no-html", "--report-dir", str(folder), "--seed", "11"]
    proc = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    watch = Watch(lambda: _locust_pid(proc.pid))
    threading.Thread(target=watch.run, daemon=True).start()
    started = time.monotonic()
    out, _ = proc.communicate()
    watch.stop.set()
    report = json.loads((folder / "report.json").read_text())
    held_at = started + ramp + HELD_AFTER_RAMP_S  # the ramp, and the Locust process's own start
    held = watch.at(held_at)
    peak_kb = max(s.rss_kb for s in watch.samples)
    peak_at = next(s.at for s in watch.samples if s.rss_kb == peak_kb)
    # What one more user adds: RSS between a quarter and three quarters of the ramp, over the
    # users started meanwhile (the process's modules and fixed state left out).
    quarter, three = watch.at(started + 2.0 + ramp / 4), watch.at(started + 2.0 + ramp * 3 / 4)
    slope_kb = ((three.rss_kb - quarter.rss_kb) / max(users / 2, 1)) if quarter and three else float("nan")
    # The hold's end, before the drain and the report (merging histograms takes memory).
    last = watch.at(held_at + hold - 2.0) or watch.samples[-1]
    gen = report["generator"]["processes"][0]
    witness = (report.get("witness") or {}).get("added_delay") or {}
    events = sum(e["delivered"] + e["duplicate"] for e in report["events"].values())
    hold_s = max(last.at - held.at, 1e-9)
    return {
        "users held": report["connections"]["succeeded"],
        "flagged": report["generator"]["latency_suspect"],
        "cpu s (run)": round(last.cpu_s, 1),
        "cpu s (hold)": round(last.cpu_s - held.cpu_s, 1),
        "cpu s (hold), system": round(last.sys_s - held.sys_s, 1),
        "rss MB (held)": round(held.rss_kb / 1024, 1),
        "rss MB (hold end)": round(last.rss_kb / 1024, 1),
        "rss MB (peak)": round(peak_kb / 1024, 1),
        "rss KB per user (peak / users)": round(peak_kb / max(users, 1), 1),
        "rss KB per user (hold end / users)": round(last.rss_kb / max(users, 1), 1),
        "rss KB per user added (ramp slope)": round(slope_kb, 1),
        "peak, s after the hold": round(peak_at - (held_at + hold), 1),
        "events/s": round(events / max(report["run"]["duration_s"], 1e-9), 1),
        "cpu ms per user-minute (hold)": round((last.cpu_s - held.cpu_s) * 1000 / (users * hold_s / 60), 3),
        # The hold's CPU over the events received during it (at the run's mean rate).
        "cpu ms per event (hold)": round((last.cpu_s - held.cpu_s) * 1000
                                         / max(events / max(report["run"]["duration_s"], 1e-9) * hold_s, 1), 3),
        "loop lag p99 ms": gen.get("loop_lag_ms_p99"),
        "witness added p99 ms": witness.get("p99_ms"),
        "_failed": report["connections"]["failed"],
        "_tail": out[-1500:],
    }


def _artillery() -> list[str] | None:
    """`artillery` on PATH, else `npx --no-install artillery`; None when neither answers."""
    for command in ([shutil.which("artillery")], [shutil.which("npx"), "--no-install", "artillery"]):
        if command[0] is not None and subprocess.run([*command, "--version"], capture_output=True,
                                                     timeout=120).returncode == 0:
            return [c for c in command if c is not None]
    return None


ARTILLERY_SCRIPT = """\
config:
  target: "{url}"
  phases:
    - duration: {ramp}
      arrivalRate: {rate}
      name: ramp
  engines:
    socketio: {{}}
  socketio:
    transports: ["websocket"]
    query: {{}}
    extraHeaders: {{}}
    auth:
      token: "{token}"
scenarios:
  - engine: socketio
    flow:
      - think: {hold}
"""


def artillery_script(url: str, users: int, rate: float, hold: int, token: str) -> str:
    """Artillery's run for the same hold as the harness's. Every virtual user stays through
    the whole measured window: the last one starts at the ramp's end, so each thinks for
    the ramp, the hold and a margin (a think of `hold` alone had the first ones leave while
    the last arrived: the window held half the users and their 10,000 disconnects, and
    Artillery's hold read 14 s of CPU where holding costs it 5)."""
    ramp = int(users / rate)
    return ARTILLERY_SCRIPT.format(url=url, ramp=ramp, rate=int(rate), token=token,
                                   hold=ramp + hold + HOLD_MARGIN_S)


def artillery_hold(url: str, users: int, rate: float, hold: int) -> dict[str, object] | None:
    command = _artillery()
    if command is None:
        return None
    import jwt  # the same token for every virtual user (see the module docstring)

    now = int(time.time())
    token = jwt.encode({"sub": "artillery", "role": "customer", "name": "a", "iat": now,
                        "exp": now + 3600}, SECRET, algorithm="HS256")
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "hold.yml"
        script.write_text(artillery_script(url, users, rate, hold, token))
        proc = subprocess.Popen([*command, "run", str(script)],
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        watch = Watch(lambda: proc.pid)
        threading.Thread(target=watch.run, daemon=True).start()
        started = time.monotonic()
        held_at = started + users / rate + HELD_AFTER_RAMP_S  # the harness's window
        time.sleep(max(0.0, held_at + hold - time.monotonic()))
        sockets = _sockets_open(proc.pid)  # its connections, counted (its summary comes at the end)
        proc.terminate()  # the hold is measured: no need to wait for 10,000 disconnects
        try:
            proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
        watch.stop.set()
    if not watch.samples:
        return None
    held = watch.at(held_at)
    last = watch.at(held_at + hold - 2.0) or watch.samples[-1]
    peak = max(s.rss_kb for s in watch.samples)
    hold_s = max(last.at - held.at, 1e-9) if held else float(hold)
    hold_cpu = last.cpu_s - (held.cpu_s if held else 0.0)
    return {"users held": sockets, "cpu s (run)": round(last.cpu_s, 1),
            "cpu s (hold)": round(hold_cpu, 1),
            "cpu s (hold), system": round(last.sys_s - (held.sys_s if held else 0.0), 1),
            "cpu ms per user-minute (hold)": round(hold_cpu * 1000 / (users * hold_s / 60), 3),
            "rss MB (held)": round(held.rss_kb / 1024, 1) if held else None,
            "rss MB (hold end)": round(last.rss_kb / 1024, 1),
            "rss MB (peak)": round(peak / 1024, 1),
            "rss KB per user (hold end / users)": round(last.rss_kb / max(users, 1), 1),
            "rss KB per user (peak / users)": round(peak / max(users, 1), 1)}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--users", type=int, default=2000)
    p.add_argument("--spawn-rate", type=float, default=200.0)
    p.add_argument("--hold", type=int, default=60, help="seconds held after the ramp")
    args = p.parse_args()
    peer, url = start_peer()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            ours = harness_hold(url, args.users, args.spawn_rate, args.hold, Path(tmp) / "run")
        theirs = artillery_hold(url, args.users, args.spawn_rate, args.hold)
    finally:
        peer.terminate()
        peer.wait(10)
    print(f"\ngenerator ceiling: {args.users} users at {args.spawn_rate:g}/s, held {args.hold} s, "
          f"against the Node.js contract peer\n")
    keys = [k for k in ours if not k.startswith("_")]
    print(f"{'':34} {'harness (1 Locust process)':>28} {'Artillery 2 socketio':>22}")
    for key in keys:
        other = theirs.get(key, "") if theirs else ""
        print(f"{key:34} {str(ours[key]):>28} {str(other):>22}")
    failed = ours["_failed"]
    if failed:
        top = sorted(failed.items(), key=lambda kv: -kv[1])[:3]  # type: ignore[union-attr]
        print("\nconnects that failed: " + "; ".join(f"{n} x {why}" for why, n in top))
    if theirs is None:
        print("\nArtillery: not run (neither `artillery` nor `npx --no-install artillery` answered; "
              "see the docstring)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
