"""`python -m reference_server`: run the reference server until SIGINT or SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
import warnings
from typing import NoReturn

from jwt.warnings import InsecureKeyLengthWarning

from .app import ReferenceServer
from .config import DEV_JWT_SECRET, ConfigError, ServerConfig, build_parser, config_from_args

EXIT_CONFIG = 2


class _OneLineParser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_CONFIG, f"error: {message} (see --help)\n")


async def serve(config: ServerConfig) -> None:
    server = ReferenceServer(config)
    try:
        await server.start()
    except OSError as exc:
        await server.stop()
        raise ConfigError(f"cannot listen on {config.host}:{config.port}: {exc.strerror or exc}") from None
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    print(f"reference server listening on {server.url}", flush=True)
    try:
        await stop.wait()
    finally:
        logging.getLogger("reference_server").info("shutting down")
        await server.stop()


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    parser.__class__ = _OneLineParser
    try:
        config = config_from_args(parser.parse_args(argv))
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    logging.basicConfig(level=config.log_level,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if len(config.jwt_secret.encode()) < 32:
        # Said once here rather than by PyJWT on every token.
        logging.getLogger("reference_server").warning(
            "the JWT secret is shorter than 32 bytes (RFC 7518, section 3.2 asks for 32+)")
        warnings.filterwarnings("ignore", category=InsecureKeyLengthWarning)
    if config.dev and config.jwt_secret == DEV_JWT_SECRET:
        print(f"--dev: using the development JWT secret {DEV_JWT_SECRET!r}", flush=True)
    try:
        asyncio.run(serve(config))
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    return 0


if __name__ == "__main__":
    sys.exit(main())
