"""`harness conformance`: run the contract's checks against a target and report.

Exit codes: 0 no check failed; 1 at least one failed; 2 the run could not start (bad
arguments, target unreachable), with the reason on one line.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlparse

from ..contract.teamfile import load
from ..errors import EXIT_CONFIG, ContractFileError, TargetUnreachable, UnknownPattern
from ..runs import new_run_id

if TYPE_CHECKING:
    from ..conformance.model import Outcome
    from ..conformance.target import TargetConfig

EXIT_OK = 0
EXIT_FAILED = 1


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("conformance", help="check that a target follows the contract")
    p.add_argument("--target", help="base URL of the server under test")
    p.add_argument("--jwt-secret", default=None,
                   help="the target's signing secret: adds the token checks that need signing")
    p.add_argument("--origin", default=None, help="an origin the target allows (CORS checks)")
    p.add_argument("--mongo-url", default=None,
                   help="the target's MongoDB, database in the path (bypass-write check)")
    p.add_argument("--contract", default=None, metavar="FILE",
                   help="the target's contract file: the file.* checks hold the target to it; "
                        "the checks of our contract's letter SKIP")
    p.add_argument("--only", default=None, metavar="PATTERN",
                   help="run only checks whose id matches (shell patterns, comma-separated)")
    p.add_argument("--report-dir", default=None,
                   help="where to write the files (default reports/conformance-<run-id>)")
    p.add_argument("--max-rps", type=float, default=50.0,
                   help="requests per second at most, HTTP and socket connects (default 50)")
    p.add_argument("--insecure", action="store_true", help="do not verify TLS certificates")
    p.add_argument("--list", action="store_true", help="list the checks and exit")
    p.set_defaults(func=run)


def _config(args: argparse.Namespace) -> TargetConfig:
    from ..conformance.target import TargetConfig

    if not args.target:
        raise ValueError("--target is required")
    url = urlparse(args.target)
    if url.scheme not in ("http", "https") or not url.netloc:
        raise ValueError(f"--target {args.target!r}: give a URL like http://host:port")
    if args.origin is not None:
        origin = urlparse(args.origin)
        if origin.scheme not in ("http", "https") or not origin.netloc or origin.path not in ("", "/"):
            raise ValueError(f"--origin {args.origin!r}: give an origin like https://app.example.com")
    if args.mongo_url is not None and not args.mongo_url.startswith(("mongodb://", "mongodb+srv://")):
        raise ValueError(f"--mongo-url {args.mongo_url!r}: give a mongodb:// URL")
    if not args.max_rps > 0:
        raise ValueError("--max-rps must be more than zero")
    contract = None
    if args.contract:
        try:
            contract = load(args.contract)
        except ContractFileError as exc:
            raise ValueError(str(exc)) from None
    return TargetConfig(url=args.target, jwt_secret=args.jwt_secret,
                        origin=args.origin.rstrip("/") if args.origin else None,
                        mongo_url=args.mongo_url, max_rps=args.max_rps, insecure=args.insecure,
                        contract=contract)


def _progress(outcome: Outcome) -> None:
    from ..conformance.model import Verdict

    mark = {Verdict.PASS: "ok  ", Verdict.FAIL: "FAIL", Verdict.SKIP: "skip"}[outcome.verdict]
    print(f"  {mark} {outcome.check.id} ({outcome.seconds:.1f} s)", flush=True)


def run(args: argparse.Namespace, rest: list[str]) -> int:
    # The checks import Socket.IO and aiohttp (a third of a second): only a run needs them.
    from ..conformance import report
    from ..conformance.registry import all_checks, select
    from ..conformance.runner import run_checks

    checks = all_checks(by_file=bool(args.contract) or args.list)
    if args.list:
        for c in checks:
            print(f"{c.id:42} {c.section:6} {c.description}")
        return EXIT_OK
    try:
        config = _config(args)
        chosen = select(checks, args.only)
    except (ValueError, UnknownPattern) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    run_id = new_run_id()
    # The run's random suffix marks its users and orders on the target (findable afterwards).
    config = dataclasses.replace(config, prefix=f"conf-{run_id.rsplit('-', 1)[-1]}")
    folder = Path(args.report_dir) if args.report_dir else Path("reports") / f"conformance-{run_id}"
    print(f"harness conformance: {len(chosen)} checks against {config.url} "
          f"(prefix {config.prefix}, at most {config.max_rps:g} requests/s)", flush=True)
    started, t0 = time.time(), time.monotonic()
    try:
        outcomes = asyncio.run(run_checks(config, chosen, on_outcome=_progress))
    except TargetUnreachable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    options = {"jwt_secret": bool(config.jwt_secret), "origin": config.origin,
               "contract": config.contract.source if config.contract else None,
               "mongo_url": bool(config.mongo_url), "only": args.only, "max_rps": config.max_rps}
    doc = report.document(outcomes, target=config.url, prefix=config.prefix, run_id=run_id,
                          started=started, seconds=time.monotonic() - t0, options=options)
    paths = report.write(folder, doc)
    print("\n" + report.table(outcomes), flush=True)
    print("wrote " + ", ".join(str(p) for p in paths), flush=True)
    return EXIT_FAILED if doc["totals"]["FAIL"] else EXIT_OK
