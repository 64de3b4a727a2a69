"""Command-line and environment configuration, checked before anything starts."""

from __future__ import annotations

import argparse
import logging
import os
from dataclasses import dataclass, field

from .faults import FAULT_NAMES, FaultError, Faults, parse_faults
from .security import DEFAULT_PASSWORD_COST, PASSWORD_COST_RANGE
from .store import MEMORY_URL, backend_of

#: Printed and used only with --dev when no secret is given. Never for a real deployment.
DEV_JWT_SECRET = "dev-only-secret-never-use-in-production"


class ConfigError(ValueError):
    """Bad configuration: reported on one line, exit code 2."""



@dataclass(frozen=True)
class ServerConfig:
    jwt_secret: str
    host: str = "127.0.0.1"
    port: int = 8000
    cors_origins: tuple[str, ...] = ()
    #: The store, by URL scheme (store/__init__.py): the embedded one by default.
    store_url: str = "memory://"
    faults: Faults = field(default_factory=Faults)
    log_level: str = "INFO"
    password_cost: int = DEFAULT_PASSWORD_COST
    ping_interval_s: float = 25.0
    ping_timeout_s: float = 20.0
    dev: bool = False


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m reference_server",
        description="The reference order-tracking Socket.IO server (shared/CONTRACT.md).",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="port; 0 picks a free one (default 8000)")
    p.add_argument("--jwt-secret", default=None, help="HS256 secret (or env JWT_SECRET)")
    p.add_argument("--cors-origins", default="",
                   help="comma-separated allowed origins; default: same origin only")
    p.add_argument("--store", default=None, metavar="URL",
                   help="the store, by URL scheme: memory:// (default: the embedded store) or "
                        "mongodb:// / mongodb+srv:// (a replica set)")
    p.add_argument("--mongo-url", default=None, metavar="URL",
                   help="a MongoDB replica set URL (the same as --store with a mongodb:// URL)")
    p.add_argument("--fault", action="append", default=[], metavar="NAME",
                   help=f"inject a fault (repeatable): {', '.join(FAULT_NAMES)}")
    p.add_argument("--log-level", default="INFO", help="DEBUG, INFO, WARNING or ERROR")
    p.add_argument("--password-cost", type=int, default=DEFAULT_PASSWORD_COST,
                   help=f"scrypt cost, log2(N), {PASSWORD_COST_RANGE[0]}..{PASSWORD_COST_RANGE[1]} "
                        f"(default {DEFAULT_PASSWORD_COST}; 4 for load tests)")
    p.add_argument("--ping-interval", type=float, default=25.0, help="Engine.IO ping interval, s")
    p.add_argument("--ping-timeout", type=float, default=20.0, help="Engine.IO ping timeout, s")
    p.add_argument("--dev", action="store_true",
                   help="development mode: a fixed, printed JWT secret when none is given")
    return p


def config_from_args(args: argparse.Namespace, environ: dict[str, str] | None = None) -> ServerConfig:
    env = os.environ if environ is None else environ
    secret = args.jwt_secret or env.get("JWT_SECRET") or (DEV_JWT_SECRET if args.dev else None)
    if not secret:
        raise ConfigError("no JWT secret: pass --jwt-secret, set JWT_SECRET, or use --dev")
    if not 0 <= args.port <= 65535:
        raise ConfigError(f"--port must be 0..65535, got {args.port}")
    origins = tuple(o.strip().rstrip("/") for o in args.cors_origins.split(",") if o.strip())
    if "*" in origins:
        raise ConfigError("--cors-origins: '*' is not allowed; list the origins")
    for origin in origins:
        if not origin.startswith(("http://", "https://")):
            raise ConfigError(f"--cors-origins: {origin!r} is not an origin like https://host:port")
    level = args.log_level.upper()
    if not isinstance(logging.getLevelName(level), int):
        raise ConfigError(f"--log-level: unknown level {args.log_level!r}")
    low, high = PASSWORD_COST_RANGE
    if not low <= args.password_cost <= high:
        raise ConfigError(f"--password-cost must be {low}..{high}, got {args.password_cost}")
    if args.ping_interval <= 0 or args.ping_timeout <= 0:
        raise ConfigError("--ping-interval and --ping-timeout must be positive")
    if args.store and args.mongo_url:
        raise ConfigError("give --store or --mongo-url, not both")
    store_url = args.store or args.mongo_url or MEMORY_URL
    try:
        backend_of(store_url)
    except ValueError as exc:
        raise ConfigError(f"--store: {exc}") from None
    try:
        faults = parse_faults(args.fault)
    except FaultError as exc:
        raise ConfigError(str(exc)) from None
    return ServerConfig(
        jwt_secret=secret, host=args.host, port=args.port, cors_origins=origins,
        store_url=store_url, faults=faults, log_level=level,
        password_cost=args.password_cost, ping_interval_s=args.ping_interval,
        ping_timeout_s=args.ping_timeout, dev=args.dev,
    )


def parse_config(argv: list[str] | None = None, environ: dict[str, str] | None = None) -> ServerConfig:
    return config_from_args(build_parser().parse_args(argv), environ)
