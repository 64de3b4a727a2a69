"""The harness's own Locust command-line options, and their checked form.

They are added to Locust's parser (`init_command_line_parser`), so `locust -f scenarios/...`
takes them exactly as `harness load` does, web UI included.
"""

from __future__ import annotations

import argparse
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..contract.reference_file import default
from ..contract.teamfile import TeamContract, load
from ..errors import ContractFileError, LoadConfigError
from ..runs import new_run_id

TRANSPORTS = ("websocket", "polling", "upgrade")
TOKEN_MODES = ("register", "mint")
#: The environment variable that names the contract file, for `locust -f scenarios/...`.
CONTRACT_ENV = "HARNESS_CONTRACT"
#: Connection cuts (harness/load/disruption.py): closed, silent, or storm (everyone, closed).
CUT_MODES = ("closed", "silent", "storm")




@dataclass(frozen=True)
class LoadOptions:
    run_id: str
    seed: int
    store_owners: int = 5
    drivers: int | None = None  # None: a small share of the users
    transport: str = "websocket"
    socketio_path: str = "/socket.io/"
    verify_tls: bool = True
    tokens: str = "register"
    jwt_secret: str | None = None
    order_rate: float | None = None  # orders/s (open model); None: closed model
    think_s: tuple[float, float] = (0.5, 2.0)
    location_rate_hz: float = 1.0
    event_timeout_s: float = 10.0
    settle_s: float = 1.0
    report_dir: str | None = None
    time_sync: bool = True
    #: The cut plan; all None: none (or the scenario's default plan).
    cut_mode: str | None = None
    cut_share: float | None = None
    cut_every_s: float | None = None
    #: Passive witness sockets in a process of their own (harness/witness).
    witness: bool = True
    #: The added delay's p99 beyond which the figures are the generator's (ms).
    witness_bound_ms: float = 10.0
    #: The target's contract file (absolute path); None: ours (docs/contract.toml).
    contract: str | None = None


def add_arguments(parser: Any) -> None:
    """Register the options on Locust's parser (a configargparse parser)."""
    g = parser.add_argument_group("realtime-harness")
    g.add_argument("--run-id", default="", help="id of this run (default: generated)")
    g.add_argument("--seed", type=int, default=None, help="seed for simulated users' data")
    g.add_argument("--store-owners", type=int, default=5, help="store owners (default 5)")
    g.add_argument("--drivers", type=int, default=None, help="drivers (default: ~5%% of users)")
    g.add_argument("--transport", default="websocket", choices=TRANSPORTS,
                   help="websocket, polling, or upgrade (polling then websocket, as browsers)")
    g.add_argument("--contract", default=os.environ.get(CONTRACT_ENV) or None, metavar="FILE",
                   help="the target's contract file (default: $HARNESS_CONTRACT, else ours)")
    g.add_argument("--socketio-path", default=None,
                   help="Socket.IO path (default: the contract file's)")
    g.add_argument("--insecure", action="store_true", help="do not verify TLS certificates")
    g.add_argument("--tokens", default=None, choices=TOKEN_MODES,
                   help="register users through the API, or mint tokens with --jwt-secret "
                        "(default: the contract file's auth.mode)")
    g.add_argument("--jwt-secret", default=None, help="HS256 secret, for --tokens mint")
    g.add_argument("--order-rate", type=float, default=None,
                   help="orders per second, whatever the server's speed (open model)")
    g.add_argument("--think-time", default="0.5-2", help="seconds between a user's steps, MIN-MAX")
    g.add_argument("--location-rate", type=float, default=1.0, help="driver location reports per s")
    g.add_argument("--event-timeout", type=float, default=10.0,
                   help="seconds after which an expected event counts as missing")
    g.add_argument("--settle", type=float, default=1.0,
                   help="seconds after a change's answer that a socket must still be connected "
                        "to be expected to receive its events (default 1)")
    g.add_argument("--report-dir", default=None, help="folder for this run's report")
    g.add_argument("--no-time-sync", action="store_true",
                   help="do not call time_sync (the target lacks it)")
    g.add_argument("--no-witness", action="store_true",
                   help="run no witness (passive sockets in a separate process that show the "
                        "delay the generator adds to its own latency figures)")
    g.add_argument("--witness-bound", type=float, default=10.0,
                   help="ms: when the delay the generator adds (p99, seen by the witness) is "
                        "above this, the report says the latency figures are the generator's")
    g.add_argument("--cut-mode", default=None, choices=CUT_MODES,
                   help="cut users' connections: closed (socket shut), silent (traffic stops, "
                        "no close), storm (everyone at once, closed)")
    g.add_argument("--cut-share", type=float, default=None,
                   help="share of connected users cut each time (default 0.2)")
    g.add_argument("--cut-every", type=float, default=None,
                   help="seconds between cuts (default 5)")


def _think(spec: str) -> tuple[float, float]:
    match = re.fullmatch(r"\s*([0-9.]+)\s*(?:-\s*([0-9.]+))?\s*", spec)
    if not match:
        raise LoadConfigError(f"--think-time {spec!r}: use seconds or MIN-MAX, like 0.5-2")
    low = float(match.group(1))
    high = float(match.group(2)) if match.group(2) else low
    if high < low:
        raise LoadConfigError(f"--think-time {spec!r}: MIN is above MAX")
    return low, high


def from_parsed(parsed: argparse.Namespace) -> LoadOptions:
    """Check the parsed options; raise LoadConfigError with a one-line reason."""
    if parsed.store_owners < 1:
        raise LoadConfigError("--store-owners must be at least 1")
    if parsed.drivers is not None and parsed.drivers < 1:
        raise LoadConfigError("--drivers must be at least 1")
    contract, file = _contract(getattr(parsed, "contract", None))
    tokens = parsed.tokens or file.auth.mode
    if tokens == "mint" and not parsed.jwt_secret:
        raise LoadConfigError("--tokens mint needs --jwt-secret"
                              + ("" if parsed.tokens else f" ({file.source} says auth.mode = \"mint\")"))
    if parsed.order_rate is not None and parsed.order_rate <= 0:
        raise LoadConfigError("--order-rate must be positive")
    if parsed.location_rate <= 0:
        raise LoadConfigError("--location-rate must be positive")
    if parsed.event_timeout <= 0:
        raise LoadConfigError("--event-timeout must be positive")
    if not 0 <= parsed.settle <= parsed.event_timeout:
        raise LoadConfigError("--settle must be from 0 to --event-timeout seconds")
    path = parsed.socketio_path or file.socketio_path
    path = path if path.startswith("/") else "/" + path
    run_id = parsed.run_id or os.environ.get("HARNESS_RUN_ID") or new_run_id()
    if not re.fullmatch(r"[A-Za-z0-9._-]{1,64}", run_id):
        raise LoadConfigError(f"--run-id {run_id!r}: letters, digits, '.', '_' and '-' only")
    seed = parsed.seed if parsed.seed is not None else int.from_bytes(os.urandom(4), "big")
    cut_share = getattr(parsed, "cut_share", None)
    cut_every = getattr(parsed, "cut_every", None)
    if cut_share is not None and not 0 < cut_share <= 1:
        raise LoadConfigError("--cut-share must be more than 0 and at most 1")
    if cut_every is not None and cut_every <= 0:
        raise LoadConfigError("--cut-every must be positive")
    return LoadOptions(
        run_id=run_id, seed=seed, store_owners=parsed.store_owners, drivers=parsed.drivers,
        transport=parsed.transport, socketio_path=path, verify_tls=not parsed.insecure,
        tokens=tokens, jwt_secret=parsed.jwt_secret, order_rate=parsed.order_rate,
        think_s=_think(parsed.think_time), location_rate_hz=parsed.location_rate,
        event_timeout_s=parsed.event_timeout, settle_s=parsed.settle, report_dir=parsed.report_dir,
        time_sync=not parsed.no_time_sync, cut_mode=getattr(parsed, "cut_mode", None),
        cut_share=cut_share, cut_every_s=cut_every,
        witness=not getattr(parsed, "no_witness", False),
        witness_bound_ms=_witness_bound(getattr(parsed, "witness_bound", 10.0)),
        contract=contract,
    )


def _contract(given: str | None) -> tuple[str | None, TeamContract]:
    """The contract file's absolute path (None: ours) and the file, loaded and checked."""
    if not given:
        return None, default()
    path = Path(given).expanduser().resolve()
    if not path.is_file():
        raise LoadConfigError(f"--contract {given}: no such file")
    try:
        return str(path), load(path)
    except ContractFileError as exc:
        raise LoadConfigError(str(exc)) from None


def _witness_bound(value: float) -> float:
    if not value > 0:
        raise LoadConfigError("--witness-bound must be a positive number of ms")
    return float(value)


def transports_for(transport: str) -> list[str]:
    """python-socketio's `transports` for a transport option."""
    return {"websocket": ["websocket"], "polling": ["polling"],
            "upgrade": ["polling", "websocket"]}[transport]
