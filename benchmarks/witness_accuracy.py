"""Whether the load generator's latency figures are the server's, at scale: users against the
witness (issue 8).

Not a test: it prints figures. For each target it starts a server on loopback (the reference
server on the embedded store, or the Node.js peer `tests/js/contract_peer.js`), runs
`harness load` against it in one Locust process (the lifecycle scenario, an open model of
`--order-rate` checkouts per second, minted tokens), and prints, per event type, the users'
emit-to-delivery beside the witness's for the same events, the delay the generator added,
and the generator's own health. The issue's bounds: users within 3 ms of the witness at p50
and 15 ms at p99 (the witness's figure weighed as the users', `paired_emit_to_delivery`).
Beside each run, an independent store-owner listener in Node.js (`tests/js/listen.js`, the
real socket.io-client, another process and another client library) records each event's
emit-to-handler time on the same clock, as a cross-check of the witness itself.

    .venv/bin/python benchmarks/witness_accuracy.py --users 2000 --order-rate 10
    .venv/bin/python benchmarks/witness_accuracy.py --users 10000 --targets reference --duration 60

The generator, the witness and the server share this machine's cores.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from harness.contract import Role
from harness.load.identity import mint

ROOT = Path(__file__).resolve().parents[1]
SECRET = "benchmark-secret-for-loopback-only-0123456789"
ORIGIN = "http://app.example"
P50_WITHIN_MS, P99_WITHIN_MS = 3.0, 15.0
_READY = re.compile(r"listening on (http://\S+)")


def start(target: str) -> tuple[subprocess.Popen[str], str]:
    if target == "reference":
        argv = [sys.executable, "-m", "reference_server", "--port", "0", "--jwt-secret", SECRET,
                "--password-cost", "4", "--log-level", "WARNING", "--cors-origins", ORIGIN]
    elif target == "node":
        if shutil.which("node") is None:
            raise SystemExit("node is needed for --targets node")
        argv = ["node", str(ROOT / "tests/js/contract_peer.js"), SECRET, ORIGIN]
    else:
        raise SystemExit(f"unknown target {target!r}")
    proc = subprocess.Popen(argv, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        match = _READY.search(line)
        if match:
            return proc, match.group(1)
        if not line:
            break
    proc.kill()
    raise SystemExit(f"the {target} server did not start")


def stop(proc: subprocess.Popen[str]) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


class Listener:
    """An independent store-owner listener in Node.js (`tests/js/listen.js`, the real
    socket.io-client): it records when each event reached its handler (same machine clock as
    `emittedAt`), and does nothing else. Its lines are read as they come (a thread): Node
    writes to a pipe synchronously, and a full pipe would stall the listener itself."""

    def __init__(self, url: str) -> None:
        token = mint(SECRET, "benchmark-listener", Role.STORE_OWNER, "Benchmark listener")
        self.proc = subprocess.Popen(["node", str(ROOT / "tests/js/listen.js"), url, token],
                                     cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    @staticmethod
    def start(url: str) -> "Listener | None":
        if shutil.which("node") is None or not (ROOT / "tests/js/node_modules/socket.io-client").is_dir():
            return None
        return Listener(url)

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line)

    def stop(self) -> dict[str, list[float]]:
        """Emit-to-handler per event type, ms."""
        assert self.proc.stdin is not None
        self.proc.stdin.close()  # the listener stops when its stdin closes
        self.proc.wait(timeout=30)
        self._reader.join(timeout=30)
        lags: dict[str, list[float]] = {}
        for line in self.lines:
            try:
                fact = json.loads(line)
            except ValueError:
                continue
            payload = fact.get("payload") if fact.get("type") == "event" else None
            emitted = payload.get("emittedAt") if isinstance(payload, dict) else None
            if isinstance(emitted, (int, float)) and isinstance(fact.get("at"), (int, float)):
                lags.setdefault(fact["event"], []).append(fact["at"] - emitted)
        return lags


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2)


def run(target: str, args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    server, url = start(target)
    listener = Listener.start(url)
    try:
        argv = [str(Path(sys.executable).with_name("harness")), "load", "--target", url,
                "--scenario", "lifecycle", "--users", str(args.users), "--spawn-rate",
                str(args.spawn_rate), "--duration", args.duration, "--order-rate", str(args.order_rate),
                "--tokens", "mint", "--jwt-secret", SECRET, "--store-owners", "10",
                "--think-time", "0.3-1", "--report-dir", str(folder)]
        started = time.monotonic()
        done = subprocess.run(argv, cwd=ROOT, stdin=subprocess.DEVNULL, capture_output=True, text=True)
        took = time.monotonic() - started
    finally:
        node = listener.stop() if listener is not None else {}
        stop(server)
    path = folder / "report.json"
    if not path.is_file():
        raise SystemExit(f"no report from the {target} run:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    report: dict[str, Any] = json.loads(path.read_text())
    report["_took_s"] = took
    report["_node_listener"] = node
    return report


def show(target: str, report: dict[str, Any], args: argparse.Namespace) -> bool:
    witness = report["witness"]
    run_ = report["run"]
    print(f"\n== {target}: {args.users} users, lifecycle, {args.order_rate} orders/s requested "
          f"({run_['achieved_order_rate']}/s achieved), {run_['duration_s']:.0f} s, "
          f"{report['connections']['succeeded']}/{report['connections']['attempted']} connections")
    print(f"{'event':22} {'matched':>8} {'users p50':>10} {'witness p50':>12} {'users p99':>10} "
          f"{'witness p99':>12} {'added p50':>10} {'added p99':>10} {'added max':>10}  verdict")
    ok = True
    for event, e in witness["events"].items():
        # The witness's figure with the users' weights (a store-owner event once per owner).
        users, server, added = e["users_emit_to_delivery"], e["paired_emit_to_delivery"], e["added_delay"]
        if not users.get("count") or not server.get("count"):
            print(f"{event:22} {e['matched']:>8}  (no pairs with emit times)")
            continue
        within = (users["p50_ms"] - server["p50_ms"] <= P50_WITHIN_MS
                  and users["p99_ms"] - server["p99_ms"] <= P99_WITHIN_MS)
        ok &= within
        print(f"{event:22} {e['matched']:>8} {users['p50_ms']:>10} {server['p50_ms']:>12} "
              f"{users['p99_ms']:>10} {server['p99_ms']:>12} {added['p50_ms']:>10} "
              f"{added['p99_ms']:>10} {added['max_ms']:>10}  {'within' if within else 'OUTSIDE'}")
    faults = {name: sum(e.get(name, 0) for e in report["events"].values())
              for name in ("missing", "duplicate", "out_of_order", "leaked", "invalid")}
    print(f"added delay over all events: {witness['added_delay']}; "
          f"generator's figures: {'SUSPECT: ' + witness['note'] if witness['generator_suspect'] else 'trusted'}")
    for p in report["generator"]["processes"]:
        print(f"generator {p['process']}: CPU p50 {p['cpu_percent_p50']} % max {p['cpu_percent_max']} %, "
              f"loop lag p99 {p['loop_lag_ms_p99']} ms, receive delay p50 "
              f"{p['receive_delay_ms']['p50_ms']} / p99 {p['receive_delay_ms']['p99_ms']} ms, "
              f"stamps {p['arrival_stamps']}, users {p['users_max']}, suspect {p['suspect']} {p['reasons']}")
    print(f"ledger faults: {faults}; the run took {report['_took_s']:.0f} s")
    node = report.get("_node_listener") or {}
    for event, lags in sorted(node.items()):
        own = report["events"].get(event, {}).get("emit_to_delivery") or {}
        print(f"independent Node.js listener (socket.io-client, one store owner) {event}: "
              f"p50 {_pct(lags, 0.5)} / p99 {_pct(lags, 0.99)} ms over {len(lags)} events; "
              f"the run's users, every event: p50 {own.get('p50_ms')} / p99 {own.get('p99_ms')} ms")
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=2000)
    parser.add_argument("--order-rate", type=float, default=10.0)
    parser.add_argument("--spawn-rate", type=float, default=200.0)
    parser.add_argument("--duration", default="60s")
    parser.add_argument("--targets", default="reference,node", help="reference, node, or both")
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory(prefix="witness-accuracy-") as tmp:
        for target in args.targets.split(","):
            report = run(target.strip(), args, Path(tmp) / target.strip())
            results.append(show(target.strip(), report, args))
    print("\nall within the bounds" if all(results) else "\nsome figures are OUTSIDE the bounds")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
