"""Cutting simulated users' connections: the cut plan, and a Socket.IO client that can be cut.

Two ways a connection goes away, for both Engine.IO transports (websocket, and HTTP
long-polling, alone or upgraded):

* **closed**: the TCP socket is shut under the client (`shutdown(SHUT_RDWR)`: the websocket's
  socket, and every HTTP connection the polling transport has open). The client's read loop
  sees the end of the stream at once, python-engineio reports a transport error, and
  python-socketio's own reconnection starts. A websocket server sees the FIN at once; a
  polling server notices only at its ping timeout (as with a real dropped poll).
* **silent**: a phone in a tunnel. From the cut on nothing the client sends leaves it and
  nothing the server sends reaches it, and no close is sent either way. The server notices
  after its ping interval + ping timeout (no pong), and closes the session. The client
  notices by its own timeout, as python-engineio would: a websocket recv times out
  `pingInterval + pingTimeout` after the last packet received; a long-poll GET fails after
  its request timeout (`max(pingInterval, pingTimeout) + 5 s`). Then it reconnects.

The seams, all in subclasses (no patching of the libraries):

* `CuttableClient` is a `socketio.Client` whose Engine.IO client is a `CuttableEngineIO`.
* `CuttableEngineIO` (a python-engineio `Client`) gives its `requests` session an adapter
  that remembers the connections it makes (`_TrackingAdapter`), so a closed cut can shut
  them; overrides `_send_request` (the only way the polling transport talks to the server)
  to lose requests and answers while silent, and to spot "session ID unknown" answers;
  overrides `_connect_websocket` to count failed upgrades; and passes `class_` to
  `websocket.create_connection` so its websockets are `_CuttableWebSocket`s.
* `_CuttableWebSocket` (a websocket-client `WebSocket`) drops what it sends and receives
  while silent, and times out the way a silent peer makes a real recv time out.
* In a gevent process (Locust's), once a websocket's handshake is made, its socket goes to a
  `loop_websocket.LoopWebSocket`, read by the event loop's callbacks instead of
  python-engineio's read greenlet (`start_background_task`); it keeps the same silent and
  closed behaviours, and hands packets back through `frame_received` and `reader_ended`.

Cuts wait (at most `ACK_SETTLE_S`) for the acknowledgements the client is waiting for, so
that the ledger knows whether a driver's location report took effect: an ack lost in the
cut would leave events that no recorded change explains.
"""

from __future__ import annotations

import functools
import queue
import random
import socket
import sys
import time
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

import engineio
import socketio

from . import arrival

try:  # the websocket transport needs websocket-client; polling needs requests
    import websocket
except ImportError:  # pragma: no cover
    websocket = None  # type: ignore[assignment]  # the module or None: checked where used
try:
    import requests
    from requests.adapters import HTTPAdapter
except ImportError:  # pragma: no cover
    requests = None  # type: ignore[assignment]  # the module or None: checked where used
    HTTPAdapter = object  # type: ignore[assignment,misc]  # a base class that is never used then

CLOSED = "closed"
SILENT = "silent"
STORM = "storm"
CUT_MODES = (CLOSED, SILENT, STORM)

#: How long a reconnect waits for the server's CONNECT, unless the first connect said.
RECONNECT_WAIT_S = 10.0
#: The longest a cut waits for acknowledgements in flight.
ACK_SETTLE_S = 1.0
#: How often a silent wait looks whether the client gave up the connection meanwhile.
_POLL_S = 0.1

#: What servers answer for a request with an unknown Engine.IO session id: the JavaScript
#: engine.io (`{"code":1,"message":"Session ID unknown"}`) and python-engineio
#: (`Invalid session <sid>`). Behind a load balancer without sticky sessions, the usual failure.
SESSION_UNKNOWN_MARKERS = ("session id unknown", "invalid session")
_REFUSED_MARKERS = ("connection refused", "connection error", "max retries exceeded",
                    "failed to establish", "connection reset", "connection aborted",
                    "remote end closed", "timed out", "name or service not known")


# --- the plan ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class CutPlan:
    """Every `every_s` seconds, cut `share` of the connected users (`storm`: all, closed)."""

    mode: str = CLOSED
    share: float = 0.2
    every_s: float = 5.0

    @property
    def cut_kind(self) -> str:
        return SILENT if self.mode == SILENT else CLOSED

    def describe(self) -> dict[str, Any]:
        return {"mode": self.mode, "share": 1.0 if self.mode == STORM else self.share,
                "every_s": self.every_s}


_default_plan: CutPlan | None = None


def set_default_plan(plan: CutPlan | None) -> None:
    """The plan a scenario runs when no `--cut-*` option is given (scenarios/reconnect.py)."""
    global _default_plan
    _default_plan = plan


def plan_for(mode: str | None, share: float | None, every_s: float | None) -> CutPlan | None:
    """The run's plan: the options, filled in from the scenario's default or the defaults."""
    if mode is None and share is None and every_s is None:
        return _default_plan
    base = _default_plan or CutPlan()
    return CutPlan(mode=mode or base.mode, share=share if share is not None else base.share,
                   every_s=every_s if every_s is not None else base.every_s)


class Cuttable(Protocol):
    """What the scheduler cuts: one user's connection (`harness.load.reconnect.Follower`)."""

    @property
    def up(self) -> bool: ...

    def cut(self, kind: str) -> bool: ...


def choose(plan: CutPlan, connected: list[Any], rng: random.Random) -> list[Any]:
    """The users to cut this time, out of those connected."""
    if not connected:
        return []
    if plan.mode == STORM:
        return list(connected)
    count = min(len(connected), max(1, round(plan.share * len(connected))))
    return rng.sample(connected, count)


def run_plan(plan: CutPlan, candidates: Callable[[], Iterable[Cuttable]], *,
             stop: Callable[[], bool], rng: random.Random,
             spawn: Callable[..., Any], sleep: Callable[[float], Any]) -> None:
    """The cut loop (a greenlet under Locust): each user's cut runs in its own greenlet, so a
    storm hits every connection within the same few milliseconds."""
    while True:
        sleep(plan.every_s)
        if stop():
            return
        for target in choose(plan, [c for c in candidates() if c.up], rng):
            spawn(target.cut, plan.cut_kind)


# --- classification ----------------------------------------------------------------------------------

def is_session_unknown(text: str | None) -> bool:
    low = (text or "").lower()
    return any(marker in low for marker in SESSION_UNKNOWN_MARKERS)


def classify_connect_error(message: Any) -> str:
    """A short kind for a failed (re)connection: `session_id_unknown`, `refused` (no answer at
    all: the target is down or unreachable), `http_<status>`, `rejected` (the Socket.IO
    handshake was refused: a bad token) or `other`."""
    text = str(message or "")
    low = text.lower()
    if is_session_unknown(low):
        return "session_id_unknown"
    if "unexpected status code" in low:
        for word in low.split():
            if word.isdigit():
                return f"http_{word}"
    if any(marker in low for marker in _REFUSED_MARKERS):
        return "refused"
    if "namespaces failed to connect" in low or "unauthorized" in low or "token" in low:
        return "rejected"
    return "other"


class Observer(Protocol):
    """Who hears of a client's connection trouble (the user's `Follower`)."""

    def connect_error(self, kind: str, message: str) -> None: ...

    def upgrade_failed(self, reason: str) -> None: ...

    def session_unknown(self) -> None: ...


class _NoObserver:
    def connect_error(self, kind: str, message: str) -> None:
        pass

    def upgrade_failed(self, reason: str) -> None:
        pass

    def session_unknown(self) -> None:
        pass


# --- the seams -----------------------------------------------------------------------------------------

class _TrackingAdapter(HTTPAdapter):
    """A requests adapter that remembers every urllib3 connection it opens (weakly)."""

    def __init__(self, connections: weakref.WeakSet[Any]) -> None:
        self._tracked = connections
        super().__init__()

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        manager = self.poolmanager
        new_pool = manager._new_pool
        tracked = self._tracked

        def tracking_pool(scheme: str, host: str, port: int, request_context: Any = None) -> Any:
            pool = new_pool(scheme, host, port, request_context)
            new_conn = pool._new_conn

            def tracking_conn() -> Any:
                conn = new_conn()
                tracked.add(conn)
                return conn

            pool._new_conn = tracking_conn  # type: ignore[method-assign]  # tracks urllib3's sockets
            return pool

        manager._new_pool = tracking_pool  # type: ignore[method-assign]  # tracks urllib3's pools


def _shut(sock: Any) -> bool:
    if sock is None:
        return False
    try:
        sock.shutdown(socket.SHUT_RDWR)
        return True
    except OSError:
        return False


if websocket is not None:
    class _CuttableWebSocket(websocket.WebSocket):
        """A websocket that can go silent: sends vanish, receipts are lost, and `recv` times
        out when the socket's timeout has passed since the last frame really received."""

        def __init__(self, *args: Any, owner: CuttableEngineIO | None = None, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.owner = owner
            self.silent = False
            self.last_rx = time.monotonic()
            #: The arrival of the last frame `recv` returned (arrival.py).
            self.last_arrival: arrival.Arrival | None = None
            self._stamping = False
            self._frame_ns: int | None = None
            #: Watched by arrival.WATCH: the socket's fd, and the stream offset read so far.
            self._watched = False
            self._fd = -1
            self._read_end = 0

        def _unwatch(self) -> None:
            if self._watched:
                self._watched = False
                arrival.WATCH.forget(self._fd)

        def connect(self, url: str, **options: Any) -> None:
            try:
                super().connect(url, **options)  # type: ignore[no-untyped-call]  # websocket-client's is unannotated
            except websocket.WebSocketBadStatusException as exc:
                if self.owner is not None:
                    self.owner._handshake_refused(str(exc))
                raise
            except OSError as exc:  # python-engineio says only "Connection error": keep why
                if self.owner is not None:
                    self.owner.os_error = f"{type(exc).__name__}: {exc}"
                raise
            self._stamping = arrival.enable_kernel_stamps(self.sock)
            if self._stamping and self.sock is not None:
                self._fd = self.sock.fileno()
                self._watched = arrival.WATCH.watch(self._fd)

        def _recv(self, bufsize: int) -> bytes:
            """websocket-client's socket read, through `recvmsg` to keep the kernel's receive
            stamp of the data (see arrival.py); the frame's stamp is its last read's."""
            sock = self.sock
            if not self._stamping or sock is None:
                return super()._recv(bufsize)  # type: ignore[no-untyped-call,no-any-return]  # unannotated
            try:
                data, ancdata, _flags, _addr = sock.recvmsg(bufsize, arrival.ANC_SPACE)
            except TimeoutError as exc:
                raise websocket.WebSocketTimeoutException(str(exc) or "timed out") from exc
            if not data:
                self._unwatch()
                sock.close()
                self.sock = None
                self.connected = False
                raise websocket.WebSocketConnectionClosedException("Connection to remote host was lost.")
            stamp = arrival.kernel_ns(ancdata)
            if stamp is not None:
                self._frame_ns = stamp
            if self._watched:
                self._read_end = arrival.WATCH.consumed(self._fd, len(data))
            return data

        def recv(self) -> Any:
            while not self.silent:
                self._frame_ns = None
                try:
                    data = super().recv()
                except Exception:
                    if not self.silent:
                        raise
                    break  # the connection ended inside the tunnel: the client cannot know
                if not self.silent:
                    self.last_rx = time.monotonic()
                    self.last_arrival = arrival.of_frame(
                        self._frame_ns, self._fd if self._watched else None, self._read_end)
                    return data
                # it arrived after the cut: lost in the tunnel
            timeout = self.gettimeout() or 0.0
            deadline = self.last_rx + timeout
            while time.monotonic() < deadline:
                if self.owner is not None and self.owner.state != "connected":
                    raise websocket.WebSocketConnectionClosedException("closed by the client")
                time.sleep(min(_POLL_S, max(0.0, deadline - time.monotonic())))
            raise websocket.WebSocketTimeoutException("no traffic (silent cut)")

        def send(self, payload: Any, opcode: int = websocket.ABNF.OPCODE_TEXT) -> int:
            if self.silent:
                return len(payload) if payload is not None else 0
            return super().send(payload, opcode)

        def close(self, *args: Any, **kwargs: Any) -> None:
            self._unwatch()
            if self.silent:  # nothing reaches the server from the tunnel: just let go
                self.shutdown()
                return
            super().close(*args, **kwargs)

        def shutdown(self) -> None:
            self._unwatch()
            super().shutdown()  # type: ignore[no-untyped-call]  # websocket-client's is unannotated
else:  # pragma: no cover
    _CuttableWebSocket = None  # type: ignore[misc]  # no websocket-client: polling only


#: python-engineio's client gives up a long-polling connection whose answer batches more than
#: `Payload.max_decode_packets` (16) packets ("Unexpected packet from server, aborting"): a
#: store owner's poll during a burst of orders does. Browsers' engine.io-client has no such
#: limit, so the harness's clients take what a conforming server sends. (The attribute is
#: process-wide; a Locust process runs no Engine.IO server.)
POLL_PACKETS_MAX = 100_000
#: Socket.IO packet types whose handlers run in the read loop: EVENT and ACK.
_INLINE_PACKETS = ("2", "3")


class _InlineWrites:
    """Stands for the write loop of a connection that writes inline: python-engineio's read
    loop runs while its write loop task is set, and joins it when it ends."""

    def join(self, timeout: float | None = None) -> None:
        return None


_INLINE_WRITES = _InlineWrites()


class _PendingPackets:
    """python-engineio's send queue for a connection that writes inline: it only holds what
    is sent before the websocket is set (Socket.IO's CONNECT), and nothing ever waits on it.
    A `queue.Queue` is a lock and three conditions (4 KB a held user, with its deque); this
    is a list (a deque's first block alone is 0.6 KB, for the one or two packets it ever
    holds). A connection that polls swaps in a real queue (`CuttableEngineIO.connect`)."""

    __slots__ = ("_items",)

    def __init__(self) -> None:
        self._items: list[Any] = []

    def put(self, item: Any, block: bool = True, timeout: float | None = None) -> None:
        self._items.append(item)

    def get_nowait(self) -> Any:
        if not self._items:
            raise queue.Empty
        return self._items.pop(0)

    def get(self, block: bool = True, timeout: float | None = None) -> Any:
        if block:  # only the write loop blocks, and it runs only where a real queue was set
            raise RuntimeError("a websocket-only connection's send queue is never waited on")
        return self.get_nowait()

    def task_done(self) -> None:
        return None

    def drain(self) -> list[Any]:
        items = list(self._items)
        self._items.clear()
        return items


#: Engine.IO packets the loop's reader hands over in the callback (loop_websocket.py):
#: Socket.IO's messages (whose handlers that may wait get a greenlet in `_receive_packet`),
#: and the heartbeat.
_LOOP_PACKETS = (engineio.packet.MESSAGE, engineio.packet.PING, engineio.packet.PONG,
                 engineio.packet.NOOP)


#: The server's heartbeat (Engine.IO 4: the server pings, the client answers), and the
#: answer, encoded once (python-engineio caches a packet's encoding).
_PING = engineio.packet.Packet(engineio.packet.PING).encode()
_PONG = engineio.packet.Packet(engineio.packet.PONG)

LOOP_READER, GREENLET_READER = "loop", "greenlet"
#: How this process's websocket connections were read (the generator's health reports it):
#: by the event loop, or by python-engineio's greenlet (TLS, or outside a gevent process).
WEBSOCKET_READERS: dict[str, int] = {LOOP_READER: 0, GREENLET_READER: 0}


def _loop_reads(ws: Any) -> bool:
    """Whether the event loop reads this websocket (loop_websocket.py): in a gevent process,
    on a plain TCP socket. Elsewhere python-engineio's read loop does, in a thread."""
    if websocket is None or "gevent" not in sys.modules:
        return False
    from .loop_websocket import usable  # noqa: PLC0415  (gevent: only in a gevent process)

    return usable(ws)


def _greenlet_spawn() -> Callable[..., Any] | None:
    """gevent's spawn, in a process whose threads gevent has patched (Locust's): a patched
    `threading.Thread.start` waits for the thread to start, which the loop's reader, running
    in the event loop itself, may not do; a greenlet is also the lighter task."""
    monkey = sys.modules.get("gevent.monkey")
    if monkey is None or not monkey.is_module_patched("threading"):
        return None
    spawn: Callable[..., Any] = sys.modules["gevent"].spawn
    return spawn


class CuttableEngineIO(engineio.Client):  # type: ignore[misc]  # python-engineio ships no types
    """python-engineio's client, with the seams the cuts and the error counts need."""

    # python-engineio's own attributes that this class sets (declared for mypy only).
    http_factory: Callable[[], Any] | None
    write_loop_task: Any
    queue: Any
    ws: Any  # websocket-client's WebSocket (_CuttableWebSocket), or a LoopWebSocket

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if engineio.payload.Payload.max_decode_packets < POLL_PACKETS_MAX:
            engineio.payload.Payload.max_decode_packets = POLL_PACKETS_MAX
        self.observer: Observer = _NoObserver()
        #: The polling transport's HTTP connections (weakly), for a closed cut to shut; made
        #: with the first requests session (a WeakSet is 1.5 KB: a held user's 3 %).
        self._connections: weakref.WeakSet[Any] | None = None
        self._generation = 0
        self._silent = False
        self._closed = False
        self._handshake_error: str | None = None
        #: The OS error under the last failed websocket connect (too many open files, ...).
        self.os_error: str | None = None
        self._batch_arrival: arrival.Arrival | None = None
        self._inline_writes = False
        # A requests session (pools, adapters, a cookie jar: kilobytes) only for connections
        # that poll: `connect` sets the factory when the transports include polling.
        self._own_http = self.http is None and self.http_factory is None and requests is not None
        if _CuttableWebSocket is not None:
            self.websocket_extra_options.setdefault(
                "class_", functools.partial(_CuttableWebSocket, owner=self))

    def create_queue(self, *args: Any, **kwargs: Any) -> Any:
        return _PendingPackets()

    def _new_session(self) -> Any:
        session = requests.Session()
        if self._connections is None:
            self._connections = weakref.WeakSet()
        adapter = _TrackingAdapter(self._connections)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        return session

    # --- cutting ------------------------------------------------------------------------------

    def cut(self, kind: str) -> bool:
        """Cut the current connection, `closed` or `silent`; False when there is none."""
        if self.state != "connected":
            return False
        if kind == SILENT:
            self._silent = True
            if self.current_transport == "websocket" and self.ws is not None:
                self.ws.silent = True
            return True
        self._closed = True  # no later request of this connection may reach the server
        shut = False
        if self.current_transport == "websocket" and self.ws is not None:
            shut = _shut(getattr(self.ws, "sock", None)) or shut
        for conn in list(self._connections or ()):
            shut = _shut(getattr(conn, "sock", None)) or shut
        return shut

    def _silenced(self, generation: int) -> bool:
        return self._silent and generation == self._generation

    def _shut(self, generation: int) -> bool:
        return self._closed and generation == self._generation

    def _lost(self, started: float, timeout: float | None) -> str:
        """A request (or its answer) lost in the tunnel: fail as requests would, at the timeout."""
        deadline = started + (timeout if timeout is not None else self.request_timeout)
        while time.monotonic() < deadline and self.state == "connected":
            time.sleep(min(_POLL_S, max(0.0, deadline - time.monotonic())))
        return "Read timed out (silent cut)"

    # --- overridden seams -----------------------------------------------------------------------

    def connect(self, url: str, headers: Any = None, transports: Any = None,
                engineio_path: str = "engine.io") -> Any:
        self._generation += 1
        self._silent = False
        self._closed = False
        self._handshake_error = None
        self.os_error = None
        self._inline_writes = transports == ["websocket"]
        if self.write_loop_task is _INLINE_WRITES:
            self.write_loop_task = None
        if self._own_http and self.http_factory is None and transports != ["websocket"]:
            self.http_factory = self._new_session
        if not self._inline_writes and isinstance(self.queue, _PendingPackets):
            pending, self.queue = self.queue.drain(), queue.Queue()
            for pkt in pending:
                self.queue.put(pkt)
        try:
            return super().connect(url, headers=headers, transports=transports,
                                   engineio_path=engineio_path)
        except engineio.exceptions.ConnectionError as exc:
            message = " ".join(str(a) for a in exc.args if a is not None) or "connection error"
            if self._handshake_error:
                message = f"{message}: {self._handshake_error}"
            self.observer.connect_error(classify_connect_error(message), message[:300])
            raise

    def start_background_task(self, target: Any, *args: Any, **kwargs: Any) -> Any:
        """No write loop on a websocket-only connection: `_send_packet` writes in the caller.
        The loop is a greenlet per user that waits on a queue: its saved stack and the queue
        were a fifth of a held user's memory (issue 11)."""
        function = getattr(target, "__func__", None)
        if function is engineio.Client._read_loop_websocket:
            by_loop = _loop_reads(self.ws)
            WEBSOCKET_READERS[LOOP_READER if by_loop else GREENLET_READER] += 1
            if by_loop:
                return self._read_in_loop()
        if self._inline_writes and function is engineio.Client._write_loop:
            self.write_loop_task = _INLINE_WRITES
            # What was sent before the socket was set (Socket.IO's CONNECT, from the connect
            # event) waits in the queue: it goes first, in order.
            while True:
                try:
                    pkt = self.queue.get_nowait()
                except self.queue_empty:
                    break
                self.queue.task_done()
                if pkt is not None:
                    self._write(pkt)
            return _INLINE_WRITES
        spawn = _greenlet_spawn()
        if spawn is not None:
            return spawn(target, *args, **kwargs)
        return super().start_background_task(target, *args, **kwargs)

    # --- the websocket read by the event loop (loop_websocket.py) -----------------------------

    def _read_in_loop(self) -> Any:
        """Hand the connected websocket's socket to a `LoopWebSocket`: no read greenlet."""
        from .loop_websocket import LoopWebSocket  # noqa: PLC0415  (gevent: only in a gevent process)

        self.ws = LoopWebSocket(self.ws, self)
        return self.ws.task

    def frame_received(self, message: str | bytes) -> None:
        """One websocket message, from the loop's reader: the packet is handled at once when
        its handling never waits (messages, pings); any other (the server's CLOSE, which runs
        the disconnect handlers) in a greenlet of its own."""
        if message == _PING:  # most frames a held socket gets: answered without a packet object
            self._send_packet(_PONG)
            return
        pkt = engineio.packet.Packet(encoded_packet=message)
        if pkt.packet_type in _LOOP_PACKETS:
            self._receive_packet(pkt)
        else:
            self.start_background_task(self._receive_packet, pkt)

    def reader_ended(self, why: str) -> None:
        """The loop's reader ended (in a greenlet): what python-engineio's read loop does as it
        exits. A connection the client did not close itself is lost: `disconnect` with a
        transport error, and python-socketio reconnects."""
        if self.state != "connected":
            return  # the client disconnected: `disconnect` did the rest
        self.logger.warning(why)
        self.queue.put(None)
        if self.write_loop_task is not None:
            self.write_loop_task.join()
        if self.state == "connected":
            self._trigger_event("disconnect", self.reason.TRANSPORT_ERROR, run_async=False)
            try:
                engineio.base_client.connected_clients.remove(self)
            except ValueError:
                pass
            self._reset()

    def _send_packet(self, pkt: Any) -> None:
        if self.write_loop_task is not _INLINE_WRITES:
            super()._send_packet(pkt)  # queued: for the write loop, or until the socket is set
            return
        if self.state == "connected":
            self._write(pkt)

    def _reset(self) -> None:
        super()._reset()
        if self.write_loop_task is _INLINE_WRITES:
            self.write_loop_task = None

    def _write(self, pkt: Any) -> None:
        try:
            encoded = pkt.encode()
            if pkt.binary:
                self.ws.send_binary(encoded)
            else:
                self.ws.send(encoded)
        except (websocket.WebSocketConnectionClosedException, BrokenPipeError, OSError):
            # As the write loop did: the connection is over; the read loop notices and ends it.
            self.logger.warning("WebSocket connection was closed, aborting")
            try:
                self.ws.close()
            except Exception:  # noqa: BLE001  (closing what already broke)
                pass

    def _send_request(self, method: str, url: str, headers: Any = None, body: Any = None,
                      timeout: float | None = None) -> Any:
        generation = self._generation
        started = time.monotonic()
        if self._shut(generation):
            return "Connection aborted (closed cut)"
        if self._silenced(generation):
            return self._lost(started, timeout)
        answer = super()._send_request(method, url, headers=headers, body=body, timeout=timeout)
        if method == "GET":
            self._batch_arrival = arrival.now()  # a long-poll's answer: its packets arrived now
        if self._shut(generation):
            return "Connection aborted (closed cut)"
        if self._silenced(generation):
            return self._lost(started, timeout)
        if answer is not None and not isinstance(answer, str) and answer.status_code == 400:
            try:
                text = answer.text
            except Exception:  # noqa: BLE001  # pragma: no cover  (an answer without readable text)
                text = ""
            if is_session_unknown(text):
                self.observer.session_unknown()
        return answer

    def _receive_packet(self, pkt: Any) -> None:
        """A message's handler runs with the arrival of the frame or poll answer that brought
        it (arrival.py).

        python-engineio starts a thread (under gevent, a greenlet) for every message, so that
        a handler that waits cannot stall the connection. The harness's event and ack
        handlers never wait (they record, and hand work to the user's own greenlet), so
        Socket.IO events and acks run here in the read loop, in order, without a greenlet
        each: that spawn was a large share of a busy store owner's cost per event. Connects,
        disconnects and errors still get a greenlet of their own."""
        handler = self.handlers.get("message")
        if pkt.packet_type != engineio.packet.MESSAGE or handler is None:
            super()._receive_packet(pkt)
            return
        stamp = None
        if self.current_transport == "websocket" and self.ws is not None:
            stamp = getattr(self.ws, "last_arrival", None)
        elif self.current_transport == "polling":
            stamp = self._batch_arrival
        stamp = stamp or arrival.now()
        if isinstance(pkt.data, str) and pkt.data[:1] in _INLINE_PACKETS:
            try:
                arrival.run_with(stamp, handler, pkt.data)
            except Exception:  # as a handler's own greenlet would: reported, the socket lives
                self.logger.exception("event handler failed")
            return
        self.start_background_task(arrival.run_with, stamp, handler, pkt.data)

    def _handshake_refused(self, text: str) -> None:
        self._handshake_error = text[:300]
        if is_session_unknown(text):
            self.observer.session_unknown()

    def _connect_websocket(self, url: str, headers: Any, engineio_path: str) -> bool:
        upgrade = bool(self.sid)
        self._handshake_error = None
        ok: bool = super()._connect_websocket(url, headers, engineio_path)
        if upgrade and not ok:
            self.observer.upgrade_failed(self._handshake_error or "websocket upgrade failed")
        return ok


class CuttableClient(socketio.Client):  # type: ignore[misc]  # python-socketio ships no types
    """python-socketio's sync client over a `CuttableEngineIO`.

    `observer` hears of failed (re)connections, failed upgrades and "session ID unknown"
    answers; `cut(kind)` cuts the current connection.
    """

    eio: CuttableEngineIO  # (python-socketio's attribute; `_engineio_client_class` makes it one)

    def __init__(self, *args: Any, observer: Observer | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.eio.observer = observer or _NoObserver()
        self._wait_timeout = RECONNECT_WAIT_S

    def connect(self, url: str, *args: Any, wait_timeout: float | None = None, **kwargs: Any) -> None:
        """python-socketio's own reconnection calls `connect` with its default one-second wait
        for the server's CONNECT: a server slower than that (a busy one, or one that loads the
        user first) had each attempt abandoned and torn down, while the late CONNECT still
        fired `connect`, again and again, with no connection up. Reconnects wait as long as
        the first connect did."""
        if wait_timeout is None:
            wait_timeout = self._wait_timeout
        else:
            self._wait_timeout = wait_timeout
        try:
            super().connect(url, *args, wait_timeout=wait_timeout, **kwargs)
        except socketio.exceptions.ConnectionError as exc:
            why = getattr(self.eio, "os_error", None)
            if why and why not in str(exc):
                raise socketio.exceptions.ConnectionError(f"{exc}: {why}") from exc
            raise

    def _engineio_client_class(self) -> type:
        return CuttableEngineIO

    def acks_pending(self) -> bool:
        return any(self.callbacks.values()) if isinstance(self.callbacks, dict) else False

    def settle_acks(self, limit_s: float = ACK_SETTLE_S) -> None:
        """Wait until no acknowledgement is awaited (at most `limit_s`)."""
        deadline = time.monotonic() + limit_s
        while self.acks_pending() and time.monotonic() < deadline:
            time.sleep(0.01)

    def cut(self, kind: str) -> bool:
        return self.eio.cut(kind)

    def call_stamped(self, event: str, data: Any = None,
                     timeout: float = 60) -> tuple[Any, arrival.Arrival]:
        """`call`, and when the answer arrived (arrival.py): an ack's round trip, or a clock
        sample, is then not lengthened by the generator's delay in handling it."""
        answered = self.eio.create_event()
        got: list[tuple[Any, arrival.Arrival]] = []

        def on_ack(*args: Any) -> None:
            got.append((args[0] if len(args) == 1 else (args or None), arrival.current() or arrival.now()))
            answered.set()

        self.emit(event, data=data, callback=on_ack)
        if not answered.wait(timeout=timeout):
            raise socketio.exceptions.TimeoutError()
        return got[0]

    #: The server's last refusal of a connect (its `connect_error` message), for the report.
    refusal: str | None = None

    def _handle_error(self, namespace: Any, data: Any) -> None:
        message = data.get("message") if isinstance(data, dict) else data
        self.refusal = str(message if message is not None else "refused")[:300]
        self.eio.observer.connect_error("rejected", self.refusal)
        super()._handle_error(namespace, data)
