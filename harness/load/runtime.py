"""The Locust plugin: wires the harness into Locust's events, in one process or many.

Importing this module (every scenario file does) registers listeners on Locust's event
hooks: the harness's options on Locust's parser, a `RunContext` per process at `init`,
records shipped from workers to the master every second, the drain at the end (users stop
causing changes, the run waits for events in flight), and the report when Locust quits.
"""

from __future__ import annotations

import functools
import logging
import math
import os
import signal
import sys
import time
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import gevent
import locust.argument_parser
import locust.runners
from locust import User, events
from locust.env import Environment
from locust.event import EventHook
from locust.runners import STATE_MISSING, MasterRunner, Runner, WorkerRunner

from ..contract import Event, Role
from ..errors import LoadConfigError
from . import resolver, spare_files
from .context import RunContext
from .drain import SHIP_EVERY_S, books_horizon, drain_deadline_s, wait_quiet, why_incomplete
from .options import add_arguments, from_parsed
from .reconnect_stats import REJOIN_GRACE_MAX_S
from .witness_link import WitnessLink

if TYPE_CHECKING:
    from .reconnect import FollowedUser  # (reconnect.py imports this module)

U = TypeVar("U", bound=type)
F = TypeVar("F", bound=Callable[..., Any])


def listen(hook: EventHook) -> Callable[[F], F]:
    """`@hook.add_listener`, typed: Locust's own decorator is unannotated, which would leave
    every listener untyped for mypy."""
    def register(handler: F) -> F:
        hook.add_listener(handler)  # type: ignore[no-untyped-call]  # Locust's hooks are unannotated
        return handler
    return register


def runner_of(environment: Environment) -> Runner:
    """The environment's runner: every hook of the plugin runs once Locust has made it."""
    runner = environment.runner
    assert runner is not None, "Locust calls the plugin's hooks once its runner exists"
    return runner

log = logging.getLogger("harness")

RECORDS_MSG = "harness_records"
DRAIN_MSG = "harness_drain"
DRAINED_MSG = "harness_drained"
PROGRESS_EVERY_S = 5.0
#: A running process writes its report as a checkpoint with its progress line, but never
#: more often than this many times its own duration: summarising every book costs CPU in
#: proportion to the run (a seventh of a 4,000-user hold's CPU, at every 5 s: issue 11).
#: The first one is not counted (it loads and compiles what the report needs, once), and
#: none waits longer than CHECKPOINT_EVERY_MAX_S. (A hundredth was tried: on a busy
#: machine a small run's checkpoints came 20 s and more apart, and a run killed meanwhile
#: lost that much: test_nothing_lost.py failed on a fresh clone.)
CHECKPOINT_COST_SHARE = 1 / 40
CHECKPOINT_EVERY_MAX_S = 30.0
#: How long users get to stop once the run has drained, before the run ends without them.
STOP_GRACE_S = 30.0
_CLOCK_EVERY_S = 10.0
#: Heartbeats a worker may miss (one a second) before the master calls it missing: the run
#: is then incomplete and the worker's users unjudged from then on. Locust's 3 is short for a
#: busy 2-core machine, where a worker's loop can be held for seconds; a killed worker is
#: still found within the drain's wait.
HEARTBEAT_LIVENESS = 8
locust.runners.HEARTBEAT_LIVENESS = max(locust.runners.HEARTBEAT_LIVENESS, HEARTBEAT_LIVENESS)

#: Locust's defaults, built once. A worker handling its spawn message builds and parses
#: Locust's whole argument parser once per option the master sent (`default_args_dict()`
#: inside a comprehension, Locust 2.47), without yielding: about 90 parsers, 0.4 s on an idle
#: core, and 9 to 13 s beside other runs on a busy 2-core machine, long enough that the
#: master called both workers of a run lost at its start. The defaults do not change
#: within a process; each caller gets its own copy.
_LOCUST_DEFAULTS = functools.cache(locust.argument_parser.default_args_dict)
locust.argument_parser.default_args_dict = lambda: dict(_LOCUST_DEFAULTS())


#: Each Locust environment's run context (one per process), kept beside the environment
#: rather than set on it: Locust's `Environment` declares its own attributes.
_CONTEXTS: weakref.WeakKeyDictionary[Environment, RunContext] = weakref.WeakKeyDictionary()


def context_of(environment: Environment) -> RunContext:
    ctx = _CONTEXTS.get(environment)
    if ctx is None:
        raise RuntimeError("the harness plugin is not loaded (import harness.load.runtime)")
    return ctx


def context_if_any(environment: Environment) -> RunContext | None:
    """The run context, or None where the plugin made none (a run it refused)."""
    return _CONTEXTS.get(environment)


def process_share(environment: Environment) -> tuple[int, int]:
    """(processes that share the orders, this one's index) for store owners' division of work."""
    runner = environment.runner
    if isinstance(runner, WorkerRunner):
        count = int(os.environ.get("HARNESS_WORKERS", "1") or 1)
        return max(1, count), runner.worker_index % max(1, count)
    return 1, 0


class Pacer:
    """Open model: a checkout every 1/rate seconds, whatever the server's speed."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self._next = time.monotonic()
        self.started = self._next
        self.taken = 0

    def wait_turn(self) -> None:
        self._next += 1.0 / self.rate
        self.taken += 1
        delay = self._next - time.monotonic()
        if delay > 0:
            gevent.sleep(delay)


class ClockKeeper:
    """Keeps the process's clock offset fresh through one connected user's socket."""

    def __init__(self, ctx: RunContext) -> None:
        self.ctx = ctx
        self.user: FollowedUser | None = None
        self.greenlet: gevent.Greenlet | None = None

    def offer(self, user: FollowedUser) -> None:
        if not self.ctx.options.time_sync or not self.ctx.target.reference:
            # `time_sync` is our contract's; a team's file states none.
            self.ctx.time_sync_supported = False
            return
        if self.greenlet is None or self.greenlet.dead:
            self.user = user
            self.greenlet = gevent.spawn(self._run)

    def _run(self) -> None:
        from ..contract import ClientEvent  # noqa: PLC0415 (kept local: gevent-free imports)

        samples = 0
        while True:
            sio = self.user.sio if self.user is not None else None
            if sio is None or not sio.connected:
                return
            sent = time.time() * 1000.0
            try:
                ack, answered = sio.call_stamped(ClientEvent.TIME_SYNC.value, {"clientTime": sent},
                                                 timeout=5)
            except Exception:  # noqa: BLE001  (a server without time_sync: the clock goes unsynced)
                if self.ctx.time_sync_supported is None:
                    self.ctx.time_sync_supported = False
                    log.warning("the target does not answer time_sync: emit-to-delivery "
                                "latency is not measured, trigger-to-delivery is")
                return
            received = answered.wall_ms
            if isinstance(ack, dict) and isinstance(ack.get("serverTime"), (int, float)):
                self.ctx.clock.add(sent, float(ack["serverTime"]), received)
                self.ctx.time_sync_supported = True
            samples += 1
            gevent.sleep(0.2 if samples < 5 else _CLOCK_EVERY_S)


@listen(events.init_command_line_parser)
def _add_options(parser: Any, **_: Any) -> None:
    add_arguments(parser)


@listen(events.init)
def _on_init(environment: Environment, **_: Any) -> None:
    parsed = environment.parsed_options
    if parsed is None:  # used as a library without a command line
        return
    try:
        options = from_parsed(parsed)
    except LoadConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    runner = runner_of(environment)
    is_worker = isinstance(runner, WorkerRunner)
    resolver.install()  # the target's name looked up once, not per connection
    # What a run loads late, loaded now; and files kept for its report, should the users
    # take every other one (spare_files.py).
    spare_files.preload()
    spare_files.SPARES.take()
    ctx = RunContext(options, fire=environment.events.request.fire, keeps_books=not is_worker)
    _CONTEXTS[environment] = ctx
    # The report's `run.scenario`: `harness load` passes it; else the locustfile's name.
    ctx.scenario = (os.environ.get("HARNESS_SCENARIO")
                    or Path(str(getattr(parsed, "locustfile", "") or "")).stem or None)
    if options.order_rate:
        share = int(os.environ.get("HARNESS_WORKERS", "1") or 1) if is_worker else 1
        ctx.pacer = Pacer(options.order_rate / max(1, share))
    ctx.clock_keeper = ClockKeeper(ctx)
    _size_user_classes(environment, options, parsed)
    ctx.run_time = getattr(parsed, "run_time", None)
    if not is_worker and ctx.run_time:
        # The harness ends the run itself, so that it can drain first (see `_drain`).
        parsed.run_time = None
    if isinstance(runner, MasterRunner):
        runner.register_message(RECORDS_MSG, lambda environment, msg, **kw: _merge(ctx, msg))
        runner.register_message(DRAINED_MSG, lambda environment, msg, **kw: ctx.workers.drained.add(msg.node_id))
    elif is_worker:
        runner.register_message(DRAIN_MSG, lambda environment, msg, **kw: gevent.spawn(_drain_worker, environment))
        gevent.spawn(_ship_forever, environment)
    if not is_worker:
        if options.witness:
            _start_witness(environment, ctx)
        gevent.spawn(_settle_forever, environment)
    if not isinstance(runner, MasterRunner):  # the master holds no users: nothing to watch
        ctx.health.watch(environment)
    _take_ctrl_c(ctx, is_worker)


def _start_witness(environment: Environment, ctx: RunContext) -> None:
    """The witness's link, in the process that keeps the books: its process starts when the
    first user offers itself (witness_link.py), against the run's target."""
    opts = ctx.options

    def fire(name: str, ms: float) -> None:
        ctx.stat("witness", name, ms)

    ctx.witness = WitnessLink(
        lambda: environment.host, socketio_path=opts.socketio_path, verify_tls=opts.verify_tls,
        book=ctx.book, horizon_ms=(2 * opts.event_timeout_s + 30.0) * 1000.0, fire=fire,
        contract=opts.contract)


def _take_ctrl_c(ctx: RunContext, is_worker: bool) -> None:
    """Make Ctrl-C deterministic. By default Python raises KeyboardInterrupt in whatever code
    runs when SIGINT arrives, and most of a busy process's time is spent in received events'
    handlers, which python-engineio wraps in a catch-all `except:` that logs and swallows it:
    the run then went on to its planned end. gevent's handler runs in a greenlet of its own
    at the next switch instead, and hands Locust the KeyboardInterrupt it handles (stop,
    quitting, the report) in its main greenlet, where nothing swallows it."""
    main = gevent.getcurrent()  # init runs in Locust's main greenlet
    if is_worker and os.environ.get("HARNESS_SUMMARY_BY_PARENT"):
        # Under `harness load` a terminal's Ctrl-C reaches every process of the group: the
        # workers leave stopping to the master, which stops them once their records are in.
        gevent.signal_handler(signal.SIGINT, lambda: log.info("harness: Ctrl-C; the master stops this worker"))
        return

    def interrupt() -> None:
        if ctx.interrupted:
            log.info("harness: already stopping; writing the report")
            return
        ctx.interrupted = True
        main.throw(KeyboardInterrupt)

    gevent.signal_handler(signal.SIGINT, interrupt)


#: The user classes whose count an option sets, by role: they register themselves
#: (`counted_by_options`), so this plugin imports none of them.
_COUNTED: dict[Role, list[type[User]]] = {}


def counted_by_options(role: Role) -> Callable[[U], U]:
    """Class decorator: the class's `fixed_count` comes from the run's options for `role`
    (`--store-owners`; `--drivers`, by default 5 % of the users)."""
    def register(cls: U) -> U:
        _COUNTED.setdefault(role, []).append(cls)
        return cls
    return register


def _size_user_classes(environment: Environment, options: Any, parsed: Any) -> None:
    users = int(getattr(parsed, "num_users", 0) or 0)
    counts = {Role.STORE_OWNER: options.store_owners,
              Role.DRIVER: options.drivers or max(1, math.ceil(users * 0.05))}
    for role, classes in _COUNTED.items():
        for cls in classes:
            cls.fixed_count = counts[role]


def _merge(ctx: RunContext, msg: Any) -> None:
    ctx.keep_books(msg.data["records"])
    ctx.book.add_delta(msg.data["latency"])
    ctx.merge_worker(msg.data, msg.node_id)


def _notice_lost_workers(environment: Environment, ctx: RunContext) -> None:
    """Locust marks a worker missing after HEARTBEAT_LIVENESS missed heartbeats (and forgets
    it a minute later): the harness keeps it, to judge around its loss and to report it."""
    runner = environment.runner
    if not isinstance(runner, MasterRunner):
        return
    for client in runner.clients.all:
        if client.state == STATE_MISSING and client.id not in ctx.workers.lost:
            ctx.worker_lost(client.id)
            log.error("harness: worker %s was lost mid-run; the run goes on without its users "
                      "and its report will be marked incomplete", client.id)


def _ship(environment: Environment) -> None:
    ctx = context_of(environment)
    runner_of(environment).send_message(RECORDS_MSG, ctx.worker_report())


def _ship_forever(environment: Environment) -> None:
    while True:
        gevent.sleep(SHIP_EVERY_S)
        _ship(environment)


def _settle_forever(environment: Environment) -> None:
    ctx = context_of(environment)
    last_progress = next_checkpoint = time.monotonic()
    checkpoints = 0
    while True:
        gevent.sleep(SHIP_EVERY_S)
        if isinstance(environment.runner, MasterRunner):
            _notice_lost_workers(environment, ctx)
        else:
            ctx.keep_books(ctx.outbox.take())
        assert ctx.reconciler is not None
        ctx.reconciler.settle(books_horizon(
            ctx.now_ms(), (ms for _, ms in ctx.workers.live_nodes()),
            [ctx.awaiting.since_ms(), *ctx.workers.awaited_since_ms()]))
        if ctx.witness is not None:
            ctx.witness.expire()
        if ctx.started_at is not None and time.monotonic() - last_progress >= PROGRESS_EVERY_S:
            last_progress = time.monotonic()
            print(progress_line(environment, ctx), flush=True)
            if not ctx.report_written and not ctx.draining and last_progress >= next_checkpoint:
                # A checkpoint: if this process dies, the run folder still holds what was
                # measured up to here, marked incomplete.
                from .report import write_report  # noqa: PLC0415  (report imports this plugin)

                started = time.monotonic()
                write_report(environment, ctx, incomplete="the run ended before its last "
                             "report (checkpoint)", quiet=True)
                took = (time.monotonic() - started) if checkpoints else 0.0
                checkpoints += 1
                next_checkpoint = started + min(CHECKPOINT_EVERY_MAX_S, took / CHECKPOINT_COST_SHARE)


def progress_line(environment: Environment, ctx: RunContext) -> str:
    """One line a person can follow a long run by: what happened so far, and what went wrong."""
    from ..ledger import CountsByEvent  # noqa: PLC0415  (ledger is loaded by then; kept out of the plugin's import)

    assert ctx.reconciler is not None
    counts = CountsByEvent()
    counts.add(ctx.reconciler.counts)
    counts.add(ctx.counts)
    for worker in ctx.workers.totals.values():
        counts.add(CountsByEvent.from_dict(worker["counts"]))
    total = counts.total()
    rec = ctx.reconciler
    elapsed = time.time() - (ctx.started_at or time.time())
    users = getattr(environment.runner, "user_count", 0)
    bad = ", ".join(f"{n} {name}" for name, n in (
        ("missing", total.missing), ("leaked", total.leaked), ("duplicate", total.duplicate),
        ("out of order", total.out_of_order), ("invalid", total.invalid)))
    return (f"harness: {elapsed:5.0f} s  {users} users  "
            f"{rec.changes_by_first_event.get(Event.NEW_ORDER, 0)} orders  "
            f"{rec.receipts_seen} events received; so far {bad}")


def _wait_quiet(ctx: RunContext, limit_s: float) -> None:
    wait_quiet(lambda: ctx.last_event_mono, limit_s, gevent.sleep)
    # Users whose connection dropped near the end: let them reconnect and catch up first.
    ctx.reconnection.wait_rejoined(gevent.sleep)


def _drain_worker(environment: Environment) -> None:
    ctx = context_of(environment)
    ctx.draining = True
    _wait_quiet(ctx, ctx.options.event_timeout_s)
    ctx.health.stop_watching()
    _ship(environment)
    runner_of(environment).send_message(DRAINED_MSG, None)


def drain_and_quit(environment: Environment) -> None:
    """Stop causing changes, wait for events in flight, close the books, quit Locust."""
    ctx = context_of(environment)
    runner = runner_of(environment)
    ctx.draining = True
    ctx.ran_to_the_end = True
    log.info("harness: duration reached; draining events in flight")
    if isinstance(runner, MasterRunner):
        _notice_lost_workers(environment, ctx)
        expected = {c.id for c in runner.clients.all if c.id not in ctx.workers.lost}
        runner.send_message(DRAIN_MSG, None)
        deadline = time.monotonic() + drain_deadline_s(ctx.options.event_timeout_s, REJOIN_GRACE_MAX_S)
        while time.monotonic() < deadline and not expected <= ctx.workers.drained:
            gevent.sleep(0.1)
    else:
        _wait_quiet(ctx, ctx.options.event_timeout_s)
    # Drained: what comes now (stopping every user) is no part of what was measured.
    ctx.health.stop_watching()
    # A user that cannot be stopped would keep Locust from ever quitting; the report must
    # still be written and the run must end.
    gevent.spawn_later(STOP_GRACE_S, _force_end, environment)
    runner.quit()


def _why_incomplete(environment: Environment, ctx: RunContext) -> str | None:
    """None when the run drained and ended as planned; otherwise why it did not."""
    _notice_lost_workers(environment, ctx)
    return why_incomplete(lost_workers=ctx.workers.lost.values(),
                          not_judged=ctx.reconciler.not_judged if ctx.reconciler is not None else 0,
                          interrupted=ctx.interrupted, ran_to_the_end=ctx.ran_to_the_end)


def _force_end(environment: Environment) -> None:
    ctx = context_of(environment)
    if ctx.report_written:
        return
    log.error("harness: users did not stop within %.0f s of the end; writing the report and "
              "ending the run", STOP_GRACE_S)
    _on_quitting(environment)
    sys.stdout.flush()
    os._exit(1)


@listen(events.test_start)
def _on_test_start(environment: Environment, **_: Any) -> None:
    ctx = context_if_any(environment)
    if ctx is None or isinstance(environment.runner, WorkerRunner):
        return
    ctx.started_at = time.time()
    if ctx.run_time:
        gevent.spawn_later(ctx.run_time, drain_and_quit, environment)


@listen(events.quitting)
def _on_quitting(environment: Environment, **_: Any) -> None:
    ctx = context_if_any(environment)
    if ctx is None or isinstance(environment.runner, WorkerRunner):
        return
    from .report import write_report  # noqa: PLC0415  (report imports this plugin)

    if ctx.report_written:
        return
    ctx.report_written = True
    assert ctx.reconciler is not None
    if not isinstance(environment.runner, MasterRunner):
        ctx.awaiting.cut_short()
        ctx.keep_books(ctx.outbox.take())
    else:
        # A worker that did not drain (Ctrl-C, or the drain timed out) was cut short: the
        # books close on what it shipped last. What it had not shipped yet (receipts, changes
        # still awaiting their answers) is set apart as not judged, as for a lost worker,
        # never called missing or leaked.
        for process, last_heard_ms in ctx.workers.not_drained():
            ctx.reconciler.process_lost(process, last_heard_ms)
    ctx.reconciler.finish()
    if ctx.witness is not None:
        ctx.witness.stop()
    started = time.monotonic()
    folder = write_report(environment, ctx, incomplete=_why_incomplete(environment, ctx),
                          quiet=bool(os.environ.get("HARNESS_SUMMARY_BY_PARENT")))
    print(f"harness: report written to {folder} in {time.monotonic() - started:.2f} s", flush=True)
