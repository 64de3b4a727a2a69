"""`harness load`: check the configuration and the target, then run Locust headless.

The target check is a pre-flight: the target must answer, register one throwaway user (a
customer whose name and e-mail carry the run id) and accept one socket connect with the
token the run's users would present (minted with `--tokens mint`). A target that answers but
does not speak the contract (a 404 on registration, a refused socket) is named in one line,
exit 2, before any load, as an unreachable one is.

Locust runs in a child process (importing Locust patches the whole process with gevent,
and this command must stay a plain process that can report and exit cleanly). With
`--workers K` it is a Locust master and K local worker processes, merged exactly.

The witness's bound (`--witness-bound`, the added delay's p99 beyond which the report says
the latency figures are the generator's) comes from the thresholds file when it bounds
`witness.added_delay.p99_ms`, so that the report's warning and the verdict agree.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import secrets
import sys
from pathlib import Path
from urllib.parse import urlparse

import httpx

from ..contract import BY_OPERATION, Operation, Role
from ..errors import (
    EXIT_CONFIG,
    AnswerMismatch,
    ContractFileError,
    LoadConfigError,
    LoadSetupError,
    ThresholdConfigError,
)
from ..load.open_files import OpenFiles, provide
from ..load.options import CONTRACT_ENV
from ..reporting.thresholds import WITNESS_BOUND_KEY, ThresholdSet, load_or_default
from ..runs import new_run_id, run_folder
from ..summary import summary_text
from ..target import Target
from .locust_processes import LocustProcesses

SCENARIOS = ("lifecycle", "reconnect", "isolation", "mixed")
EXIT_INTERRUPTED = 130
_DURATION = re.compile(r"^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")




def parse_duration(text: str) -> int:
    """Locust's forms (`60s`, `2m`, `1h30m`) or bare seconds, to seconds."""
    text = text.strip()
    if text.isdigit():
        seconds = int(text)
    else:
        match = _DURATION.fullmatch(text)
        if not text or match is None:
            raise LoadSetupError(f"--duration {text!r}: use seconds or forms like 60s, 2m, 1h30m")
        h, m, s = (int(g) if g else 0 for g in match.groups())
        seconds = h * 3600 + m * 60 + s
    if seconds <= 0:
        raise LoadSetupError("--duration must be more than zero")
    return seconds


def scenario_file(name: str) -> Path:
    spec = importlib.util.find_spec("scenarios")
    if spec is None or not spec.submodule_search_locations:
        raise LoadSetupError("the scenarios package is not installed with this harness")
    path = Path(next(iter(spec.submodule_search_locations))) / f"{name}.py"
    if not path.is_file():
        raise LoadSetupError(f"--scenario {name}: not available in this version")
    return path


def check_target(url: str, verify: bool, target: Target) -> None:
    """Does the target answer at all (any HTTP answer will do)? Ours at its health route, a
    team's at its base URL."""
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise LoadSetupError(f"--target {url!r}: give a URL like http://host:port")
    path = BY_OPERATION[Operation.HEALTH].path if target.reference else "/"
    try:
        httpx.get(url.rstrip("/") + path, timeout=5.0, verify=verify)
    except httpx.HTTPError as exc:
        raise LoadSetupError(f"target {url} is unreachable: {exc.__class__.__name__}: {exc}") from None


_TRANSPORTS = {"websocket": ["websocket"], "polling": ["polling"], "upgrade": ["polling", "websocket"]}


def _excerpt(response: httpx.Response) -> str:
    text = " ".join(response.text.split())
    return f": {text[:120]}" if text else ""


def load_target(args: argparse.Namespace) -> Target:
    """The target's contract file (`--contract`; ours by default), with what a load needs of
    it; fills in the options the file decides (`--tokens`, `--socketio-path`)."""
    try:
        target = Target.from_file(args.contract)
    except ContractFileError as exc:
        raise LoadSetupError(str(exc)) from None
    if args.contract:
        args.contract = str(Path(args.contract).resolve())
    args.tokens = args.tokens or target.contract.auth.mode
    args.socketio_path = args.socketio_path or target.contract.socketio_path
    if not target.has("register"):
        raise LoadSetupError(f"{target.contract.source}: harness load needs actions.register "
                             "(the run's drivers sign up, whatever --tokens)")
    if args.tokens == "register" and not target.has("login"):
        raise LoadSetupError(f"{target.contract.source}: --tokens register needs actions.login "
                             "(users sign in again when their token nears its end)")
    return target


def check_contract(args: argparse.Namespace, run_id: str, target: Target) -> None:
    """Before any load: does the target speak its contract file? One throwaway user
    registers (every run registers its drivers, whatever `--tokens`), and one socket connects
    with the token the run's users would present. A target that answers but refuses either is
    named in one line (LoadSetupError), as an unreachable one is. The user is a customer whose
    name and e-mail carry the run id and say what it is, so it can be told apart on a shared
    server (and a store owner never takes it for one of the run's drivers)."""
    url = args.target.rstrip("/")
    verify = not args.insecure
    name = f"harness pre-flight check [{run_id}]"
    request = target.request("register", name=name, email=f"rh-{run_id}-preflight@example.test",
                             password=secrets.token_urlsafe(18),
                             role=target.role_name(Role.CUSTOMER))
    what = (f"target {url} does not speak the order-tracking contract" if target.reference
            else f"target {url} does not follow {target.contract.source}")
    try:
        body = request.body_kwargs()
        response = httpx.request(request.method, url + request.path, headers=request.headers,
                                 timeout=10.0, verify=verify, **body)
    except httpx.HTTPError as exc:
        raise LoadSetupError(f"target {url}: {request.method} {request.path} got no answer: "
                             f"{exc.__class__.__name__}: {exc}") from None
    if not target.status_ok("register", response.status_code):
        raise LoadSetupError(f"{what}: {request.method} {request.path} answered HTTP "
                             f"{response.status_code}{_excerpt(response)} (is --target the "
                             "API's base URL?)")
    try:
        parts = target.parts("register", response.json())
        token, user_id = str(parts["token"]), str(parts["user_id"])
    except ValueError:
        raise LoadSetupError(f"{what}: {request.method} {request.path} answered HTTP "
                             f"{response.status_code} without JSON{_excerpt(response)}") from None
    except AnswerMismatch as exc:
        raise LoadSetupError(f"{what}: {exc}{_excerpt(response)}") from None
    if args.tokens == "mint":
        token = target.mint(args.jwt_secret, user_id, Role.CUSTOMER, name)
    _check_socket(args, url, token, verify, target)


def _check_socket(args: argparse.Namespace, url: str, token: str, verify: bool,
                  target: Target) -> None:
    import socketio

    refusal: list[str] = []
    # Like the run's users (harness.load.recorded_socket.client_options): no browser, so no
    # `Origin`, which a server with a CORS allow-list for its web front-end refuses.
    sio = socketio.Client(reconnection=False, logger=False, engineio_logger=False,
                          ssl_verify=verify,
                          websocket_extra_options={"suppress_origin": True})

    def _refused(data: object = None) -> None:
        message = data.get("message") if isinstance(data, dict) else data
        refusal.append(str(message))

    sio.on("connect_error", _refused)

    how = (f"Socket.IO at {args.socketio_path} over {args.transport}, with "
           + ("a token minted with --jwt-secret" if args.tokens == "mint" else "a registered "
              "user's token"))
    try:
        sio.connect(target.socket_url(url, token), auth=target.socket_auth(token),
                    headers=target.socket_headers(token), transports=_TRANSPORTS[args.transport],
                    socketio_path=args.socketio_path, wait_timeout=10)
    except socketio.exceptions.ConnectionError as exc:
        reason = refusal[-1] if refusal else str(exc)
        raise LoadSetupError(f"target {url} refused the socket connect: {reason} ({how})") from None
    finally:
        try:
            sio.disconnect()
        except Exception:  # noqa: BLE001  (the verdict is made; closing is best effort)
            pass


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("load", help="run a load test against a target")
    p.add_argument("--target", required=True, help="base URL of the server under test")
    p.add_argument("--users", type=int, default=100, help="users of all roles (default 100)")
    p.add_argument("--spawn-rate", type=float, default=None, help="users started per second "
                   "(default: all within 10 s)")
    p.add_argument("--duration", default="60s", help="60s, 2m, 1h30m or bare seconds (default 60s)")
    p.add_argument("--scenario", default="mixed", choices=SCENARIOS)
    p.add_argument("--workers", type=int, default=0,
                   help="local Locust worker processes under a master (default 0: one process)")
    p.add_argument("--report-dir", default=None, help="run folder (default reports/<run-id>)")
    p.add_argument("--run-id", default=None, help="id of this run (default: generated)")
    p.add_argument("--seed", type=int, default=None, help="makes the users' data reproducible")
    p.add_argument("--store-owners", type=int, default=5)
    p.add_argument("--drivers", type=int, default=None)
    p.add_argument("--transport", default="websocket", choices=("websocket", "polling", "upgrade"))
    p.add_argument("--contract", default=os.environ.get(CONTRACT_ENV) or None, metavar="FILE",
                   help="the target's contract file: its routes, claims, payloads and statuses "
                        "(default: $HARNESS_CONTRACT, else ours, docs/contract.toml)")
    p.add_argument("--socketio-path", default=None, help="Socket.IO path (default: the contract file's)")
    p.add_argument("--insecure", action="store_true", help="do not verify TLS certificates")
    p.add_argument("--tokens", default=None, choices=("register", "mint"),
                   help="register users, or mint their tokens with --jwt-secret (default: the "
                        "contract file's auth.mode)")
    p.add_argument("--jwt-secret", default=None)
    p.add_argument("--order-rate", type=float, default=None, help="orders/s, open model")
    p.add_argument("--think-time", default="0.5-2", help="seconds between a user's steps, MIN-MAX")
    p.add_argument("--location-rate", type=float, default=1.0)
    p.add_argument("--event-timeout", type=float, default=10.0)
    p.add_argument("--settle", type=float, default=1.0,
                   help="seconds after a change's answer that a socket must still be connected "
                        "to be expected to receive its events (default 1)")
    p.add_argument("--no-time-sync", action="store_true")
    p.add_argument("--no-witness", action="store_true",
                   help="run no witness (passive sockets in a process of their own that show "
                        "the delay the generator adds to its latency figures)")
    p.add_argument("--witness-bound", type=float, default=None, metavar="MS",
                   help="added delay (p99, ms) beyond which the report says the latency figures "
                        f"are the generator's (default: the thresholds' {WITNESS_BOUND_KEY}, "
                        "else 10)")
    p.add_argument("--no-html", action="store_true",
                   help="write no report.html (drawing it takes seconds of CPU; "
                        "`harness report RUN_DIR` draws it later from the run folder)")
    p.add_argument("--cut-mode", default=None, choices=("closed", "silent", "storm"),
                   help="cut users' connections at set times (any scenario; reconnect: closed)")
    p.add_argument("--cut-share", type=float, default=None, help="share of users cut each time")
    p.add_argument("--cut-every", type=float, default=None, help="seconds between cuts")
    p.add_argument("--thresholds", default=None, metavar="FILE",
                   help="TOML [thresholds] upper bounds; exit 1 if one is exceeded "
                   "(default: the harness's default set)")
    p.set_defaults(func=run)


def spawn_rate_of(users: int, given: float | None) -> float:
    """Users started per second: the one given, else all of them within 10 s."""
    return given or max(1.0, users / 10.0)


def ramp_note(users: int, spawn_rate: float, seconds: int) -> str | None:
    """A note when the ramp outlasts the run: Locust stops starting users when the duration
    ends, so a run of `--users 20 --duration 8` at the default 2/s never has 20 users, and
    its report (run.users, connections) counts fewer than asked."""
    ramp = users / spawn_rate
    if ramp <= seconds:
        return None
    started = min(users, int(spawn_rate * seconds) + 1)
    return (f"starting {users} users at {spawn_rate:g}/s takes {ramp:g} s, longer than the "
            f"{seconds} s run: about {started} will start (raise --spawn-rate or --duration)")


def locust_command(args: argparse.Namespace, scenario: Path, run_id: str, report_dir: str,
                   seconds: int, spawn_rate: float) -> tuple[list[str], list[str], list[str]]:
    """(the command up to the locustfile, the master's run options, every process's options)."""
    locust = [sys.executable, "-m", "locust", "-f", str(scenario)]
    run_options = ["--headless", "-u", str(args.users), "-r", str(spawn_rate), "-t", f"{seconds}s",
                   "--only-summary"]
    options = ["--host", args.target, "--run-id", run_id, "--report-dir", report_dir,
               "--store-owners", str(args.store_owners), "--transport", args.transport,
               "--think-time", args.think_time, "--location-rate", str(args.location_rate),
               "--event-timeout", str(args.event_timeout), "--settle", str(args.settle)]
    for flag, value in (("--seed", args.seed), ("--drivers", args.drivers),
                        ("--jwt-secret", args.jwt_secret), ("--order-rate", args.order_rate),
                        ("--cut-mode", args.cut_mode), ("--cut-share", args.cut_share),
                        ("--cut-every", args.cut_every), ("--socketio-path", args.socketio_path),
                        ("--tokens", args.tokens), ("--contract", args.contract)):
        if value is not None:
            options += [flag, str(value)]
    if args.insecure:
        options.append("--insecure")
    if args.no_time_sync:
        options.append("--no-time-sync")
    if getattr(args, "no_witness", False):
        options.append("--no-witness")
    elif getattr(args, "witness_bound", None) is not None:
        options += ["--witness-bound", f"{args.witness_bound:g}"]
    return locust, run_options, options


def witness_bound(given: float | None, thresholds: ThresholdSet) -> float | None:
    """The bound to pass as `--witness-bound`: the one given, or the thresholds' bound on
    `witness.added_delay.p99_ms` (None: neither, Locust's default). Raises LoadSetupError
    when both are given and differ, or the bound is not above 0 (an added delay is never
    recorded below 1 µs, so a bound of 0 can never be met)."""
    from_file = next((t.bound for t in thresholds.thresholds if t.key == WITNESS_BOUND_KEY), None)
    if from_file is not None and not from_file > 0:
        raise LoadSetupError(f"{thresholds.source}: {WITNESS_BOUND_KEY} must be more than 0 ms "
                             "(it is also the witness's bound, --witness-bound)")
    if given is not None and not given > 0:
        raise LoadSetupError("--witness-bound must be a positive number of ms")
    if given is not None and from_file is not None and float(given) != float(from_file):
        raise LoadSetupError(f"--witness-bound {given:g} differs from {WITNESS_BOUND_KEY} = "
                             f"{from_file:g} in {thresholds.source}: give one of them")
    return float(given) if given is not None else (
        float(from_file) if from_file is not None else None)


def _locust_side_problem(options: list[str]) -> str | None:
    """What the Locust processes would refuse in their options (exit 2 here, in one line,
    rather than a run that ends without a report)."""
    from ..load.options import add_arguments, from_parsed

    parser = argparse.ArgumentParser(add_help=False)
    add_arguments(parser)
    try:
        from_parsed(parser.parse_known_args(options)[0])
    except LoadConfigError as exc:
        return str(exc)
    return None


def run(args: argparse.Namespace, rest: list[str]) -> int:
    try:
        seconds = parse_duration(args.duration)
        if args.users < 1:
            raise LoadSetupError("--users must be at least 1")
        if args.spawn_rate is not None and not args.spawn_rate > 0:
            raise LoadSetupError("--spawn-rate must be more than 0 users per second")
        if args.workers < 0:
            raise LoadSetupError("--workers must be 0 or more")
        if args.workers and args.workers > args.store_owners:
            raise LoadSetupError("--workers may not exceed --store-owners (each worker needs one)")
        if args.store_owners + (args.drivers or 1) >= args.users:
            raise LoadSetupError("--users must exceed store owners plus drivers (the rest are customers)")
        open_files_note = provide(OpenFiles.of(args.users, args.workers, args.transport))
        target = load_target(args)
        if args.tokens == "mint" and not args.jwt_secret:
            raise LoadSetupError("--tokens mint needs --jwt-secret")
        thresholds = load_or_default(args.thresholds)
        args.witness_bound = witness_bound(getattr(args, "witness_bound", None), thresholds)
        scenario = scenario_file(args.scenario)
        check_target(args.target, verify=not args.insecure, target=target)
        run_id = args.run_id or new_run_id()
        check_contract(args, run_id, target)
    except (LoadSetupError, ThresholdConfigError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    report_dir = str(run_folder(run_id, args.report_dir))
    # The summary is printed here once the run has ended (also when Locust died before it
    # could print one), so Locust does not print its own.
    env = dict(os.environ, HARNESS_WORKERS=str(max(1, args.workers)), HARNESS_SCENARIO=args.scenario,
               HARNESS_SUMMARY_BY_PARENT="1")
    print(f"harness: run {run_id}: {args.users} users against {args.target} for {seconds} s "
          f"({args.scenario}{f', {args.workers} workers' if args.workers else ''}); "
          f"report in {report_dir}", flush=True)
    spawn_rate = spawn_rate_of(args.users, args.spawn_rate)
    locust, run_options, options = locust_command(args, scenario, run_id, report_dir, seconds,
                                                  spawn_rate)
    problem = _locust_side_problem(options)
    if problem is not None:
        print(f"error: {problem}", file=sys.stderr)
        return EXIT_CONFIG
    for note in (ramp_note(args.users, spawn_rate, seconds), open_files_note):
        if note is not None:
            print(f"harness: note: {note}", file=sys.stderr, flush=True)
    processes = LocustProcesses.start(locust, run_options, options, workers=args.workers, env=env)
    print(f"harness: {processes.describe()}", flush=True)
    interrupted = False
    try:
        processes.wait()
    except KeyboardInterrupt:
        # Ctrl-C: Locust (in our process group, or told here) stops and writes what it has,
        # marked incomplete; then the thresholds are judged on it and the exit code is 130.
        interrupted = True
        print("\nharness: interrupted; writing the report of what was measured", flush=True)
        processes.interrupt()
        processes.close(master_timeout=120)
    finally:
        processes.close(master_timeout=120)
    report = Path(report_dir) / "report.json"
    if report.is_file():
        print("\n" + summary_text(json.loads(report.read_text(encoding="utf-8"))), flush=True)
    # Locust's own exit code (1 on any request failure) is not ours: the thresholds decide.
    from ..reporting.finish import finish as finish_run

    code = finish_run(report_dir, thresholds, html=not getattr(args, "no_html", False))
    return EXIT_INTERRUPTED if interrupted else code
