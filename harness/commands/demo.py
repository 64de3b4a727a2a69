"""`harness demo`: the reference server on the embedded store, a short load against it, a report
(or, with `--conformance`, every conformance check against it).

The server runs as a child process (`python -m reference_server`: the harness never imports
it), on a free loopback port, with a cheap password cost so that registering hundreds of
users takes no time; it is stopped however the load ends.
"""

from __future__ import annotations

import argparse
import re
import signal
import subprocess
import sys
import time

from . import load

DEMO_SECRET = "demo-secret-for-loopback-only-0123456789"
#: The one origin the demo server allows (so the CORS checks have one to try).
DEMO_ORIGIN = "http://localhost:3000"
_READY = re.compile(r"reference server listening on (http://\S+)")


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("demo", help="start the reference server and run a short load against it")
    p.add_argument("--users", type=int, default=300)
    p.add_argument("--duration", default="60s")
    p.add_argument("--scenario", default="mixed", choices=load.SCENARIOS)
    p.add_argument("--workers", type=int, default=0)
    p.add_argument("--report-dir", default=None)
    p.add_argument("--conformance", action="store_true",
                   help="run the conformance checks against the server instead of a load")
    p.set_defaults(func=run)


def start_server() -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "reference_server", "--port", "0", "--jwt-secret", DEMO_SECRET,
         "--password-cost", "4", "--log-level", "WARNING", "--cors-origins", DEMO_ORIGIN],
        stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        match = _READY.search(line)
        if match:
            return proc, match.group(1)
    proc.kill()
    raise SystemExit("error: the reference server did not start")


def run(args: argparse.Namespace, rest: list[str]) -> int:
    print("harness demo: starting the reference server (embedded store)", flush=True)
    server, url = start_server()
    try:
        if args.conformance:
            return _conformance(url, args.report_dir)
        print(f"harness demo: server at {url}; running a {args.duration} {args.scenario} load "
              f"with {args.users} users", flush=True)
        parser = argparse.ArgumentParser()
        sub = parser.add_subparsers()
        load.add_parser(sub)
        argv = ["load", "--target", url, "--users", str(args.users), "--duration", args.duration,
                "--scenario", args.scenario, "--workers", str(args.workers),
                "--jwt-secret", DEMO_SECRET, "--think-time", "0.5-1.5"]
        if args.report_dir:
            argv += ["--report-dir", args.report_dir]
        load_args = parser.parse_args(argv)
        return load.run(load_args, [])
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()


def _conformance(url: str, report_dir: str | None) -> int:
    from . import conformance

    parser = argparse.ArgumentParser()
    conformance.add_parser(parser.add_subparsers())
    argv = ["conformance", "--target", url, "--jwt-secret", DEMO_SECRET, "--origin", DEMO_ORIGIN]
    if report_dir:
        argv += ["--report-dir", report_dir]
    return conformance.run(parser.parse_args(argv), [])
