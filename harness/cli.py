"""The `harness` command.

Subcommands live in small functions here; each one's work lives in its own module. `serve`
hands over to the reference server's own entry point (a new process image), so the harness
package never imports `reference_server`.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys

from .commands import compare, conformance, contract, demo, load, report
from .errors import EXIT_CONFIG, ConfigError


def _serve(args: argparse.Namespace, rest: list[str]) -> int:
    if importlib.util.find_spec("reference_server") is None:
        print("error: the reference server is not installed with this harness", file=sys.stderr)
        return EXIT_CONFIG
    argv = [sys.executable, "-m", "reference_server", *rest]
    sys.stdout.flush()
    os.execv(sys.executable, argv)
    return 0  # not reached


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="harness",
        description="Load-test and conformance-check Socket.IO order-tracking backends.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    serve = sub.add_parser(
        "serve", help="run the reference server (all options as `python -m reference_server`)",
        add_help=False)
    serve.set_defaults(func=_serve)
    contract.add_parser(sub)
    load.add_parser(sub)
    demo.add_parser(sub)
    report.add_parser(sub)
    compare.add_parser(sub)
    conformance.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, rest = parser.parse_known_args(argv)
    if rest and args.func is not _serve:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    try:
        code: int = args.func(args, rest)
        return code
    except ConfigError as exc:  # a command's own handling says more; this is the floor
        print(f"harness: {exc}", file=sys.stderr)
        return EXIT_CONFIG


if __name__ == "__main__":
    sys.exit(main())
