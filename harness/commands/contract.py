"""`harness contract export` (the generated documents, the default contract file among them)
and `harness contract check` (a target walked through by its contract file)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from urllib.parse import urlparse

from ..contract.reference_file import default
from ..contract.teamfile import TeamContract, load
from ..errors import EXIT_CONFIG, ContractFileError


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("contract", help="write the contract documents, or check a target by its contract file")
    p.add_argument("action", choices=["export", "check"],
                   help="export: write docs/ (the default contract file included); check: walk a "
                        "delivery and a pickup order through --target by --contract")
    p.add_argument("--out", default="docs", help="export: directory to write to (default docs/)")
    p.add_argument("--target", help="check: base URL of the server")
    p.add_argument("--contract", default=None, metavar="FILE",
                   help="check: the target's contract file (default: ours, docs/contract.toml)")
    p.add_argument("--jwt-secret", default=None, help='check: the target\'s secret, for auth.mode "mint"')
    p.add_argument("--timeout", type=float, default=5.0,
                   help="check: seconds to wait for each answer and event (default 5)")
    p.add_argument("--insecure", action="store_true", help="check: do not verify TLS certificates")
    p.set_defaults(func=run)


def contract_from(path: str | None) -> TeamContract:
    """The contract a command was given (`--contract FILE`), or ours."""
    return default() if path is None else load(path)


def run(args: argparse.Namespace, rest: list[str]) -> int:
    if args.action == "export":
        from ..contract import documents

        for path in documents.export(Path(args.out)):
            print(f"wrote {path}")
        return 0
    return _check(args)


def _check(args: argparse.Namespace) -> int:
    from ..contract_check import check

    url = urlparse(args.target or "")
    if url.scheme not in ("http", "https") or not url.netloc:
        print("error: --target: give the server's base URL, like http://host:port", file=sys.stderr)
        return EXIT_CONFIG
    if args.timeout <= 0:
        print("error: --timeout must be more than 0 seconds", file=sys.stderr)
        return EXIT_CONFIG
    try:
        contract = contract_from(args.contract)
    except ContractFileError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    print(f"checking {args.target} against {contract.source} ({contract.name})", flush=True)
    result = asyncio.run(check(args.target, contract, timeout_s=args.timeout,
                               jwt_secret=args.jwt_secret, verify=not args.insecure,
                               say=lambda line: print(line, flush=True)))
    if result.ok:
        print(f"OK: the target follows the file ({result.requests} requests, {result.events} events)")
        return 0
    print(f"MISMATCH: {result.mismatch}")
    print(f"({result.requests} requests and {result.events} events matched the file before it)")
    return 1
