"""When an event reached this machine, as opposed to when the load generator got round to it.

A load generator is one busy process: while it spawns users, mints tokens or judges the
previous event, a frame the server sent waits in the kernel's socket buffer. Stamping the
event when its handler runs adds that wait to every latency figure, and the figures then
describe the generator, not the server (issue 8: `newOrder`, which arrives while users are
still spawning, read 40 to 300 times the server's real latency).

So each frame is stamped where it arrives:

* **kernel**: on Linux the kernel stamps every received TCP segment (`SO_TIMESTAMPNS`), and
  `recvmsg` hands the stamp of the data it returns. The websocket transport reads its socket
  through `recvmsg` (`loop_websocket.LoopWebSocket` in a Locust process,
  `disruption._CuttableWebSocket` elsewhere), so a frame's stamp is the moment its last byte
  reached this machine, however late the generator reads it.
* **read**: when the client read the frame (TLS sockets, whose records the kernel cannot
  stamp for the application, and the polling transport): better than the handler's time, but
  it includes the generator's delay in reading.

The stamp travels with the frame to the handler's greenlet (`run_with` / `current`), where
`RunContext.received` takes it; the handler's own time minus the stamp is the delay the
generator added, watched per process (`health.GeneratorHealth.receive_delay`).
"""

from __future__ import annotations

import fcntl
import os
import select
import socket
import ssl
import struct
import sys
import termios
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .unpatched import original

#: Linux's socket option and control-message type (not exported by every Python build).
SO_TIMESTAMPNS: int = getattr(socket, "SO_TIMESTAMPNS", 35)
#: Room for one `struct timespec` control message.
ANC_SPACE = socket.CMSG_SPACE(16)
_TIMESPEC = struct.Struct("@qq")

#: The most arrival notes kept for a socket its client does not read.
MAX_NOTES = 4096
KERNEL = "kernel"
READ = "read"
#: The interpreter's switch interval while a watcher runs, and how much the watcher thread
#: raises its own scheduling priority where it may.
SWITCH_INTERVAL_S = 0.001
WATCH_PRIORITY_BOOST = 10
#: The receive buffer asked for (the kernel caps it at `net.core.rmem_max`): room for a few
#: seconds of a store owner's events while the generator is busy. Memory is taken only for
#: data actually waiting.
RECEIVE_BUFFER_BYTES = 4 << 20
#: Set on every websocket's TCP socket before it connects (websocket-client's `sockopt`):
#: a receive window scaled for the buffer, and arrival stamps from the first segment on.
SOCKET_OPTIONS: tuple[tuple[int, int, int], ...] = (
    (socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER_BYTES),
    (socket.SOL_SOCKET, SO_TIMESTAMPNS, 1),
)


@dataclass(frozen=True, slots=True)
class Arrival:
    """A frame's arrival: wall-clock ms (the ledger's time line), this process's monotonic
    seconds (trigger-to-delivery), and where the stamp came from."""

    wall_ms: float
    mono: float
    source: str


def now() -> Arrival:
    """A `read` stamp: this moment."""
    return Arrival(time.time() * 1000.0, time.monotonic(), READ)


def from_kernel(ns: int) -> Arrival:
    """A kernel stamp (CLOCK_REALTIME ns), placed on the monotonic clock by the current gap
    between the two clocks."""
    return from_wall(ns / 1e9)


def from_wall(wall_s: float) -> Arrival:
    """An arrival noted on the wall clock (seconds), placed on the monotonic clock too."""
    return Arrival(wall_s * 1000.0, wall_s - _wall_minus_mono(), KERNEL)


#: A bracket of the two clock reads this narrow (seconds) was not interrupted.
_TIGHT_S = 20e-6


def _wall_minus_mono() -> float:
    """The gap between the wall and the monotonic clock. The wall read is bracketed by two
    monotonic reads, and the narrowest of a few brackets is kept: a process descheduled
    between two plain reads (a busy machine) got the gap wrong by as long as it waited,
    and placed arrivals that much too early (seen: 3 ms)."""
    best_width, best_gap = float("inf"), 0.0
    for _ in range(3):
        before = time.monotonic()
        wall = time.time()
        after = time.monotonic()
        if after - before < best_width:
            best_width, best_gap = after - before, wall - (before + after) / 2.0
        if best_width <= _TIGHT_S:
            break
    return best_gap


def enable_kernel_stamps(sock: Any) -> bool:
    """Ask the kernel to stamp what `sock` receives; False where it cannot be read back (no
    socket, a TLS socket, a platform without the option)."""
    if sock is None or isinstance(sock, ssl.SSLSocket) or not hasattr(sock, "recvmsg"):
        return False
    try:
        sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    except (OSError, AttributeError):
        return False
    return True


def kernel_ns(ancdata: list[tuple[int, int, bytes]]) -> int | None:
    """The receive stamp in `recvmsg`'s control messages, if the kernel gave one (it does not
    for the first segments after the option is first set in a process)."""
    for level, kind, data in ancdata:
        if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(data) >= _TIMESPEC.size:
            sec, nsec = _TIMESPEC.unpack_from(data)
            if sec > 0:
                return int(sec) * 1_000_000_000 + int(nsec)
    return None


# --- a watcher outside the event loop -------------------------------------------------------------

class ArrivalWatch:
    """Notes when data reaches each watched socket, from a native thread of its own.

    The kernel's stamp alone is not enough: while a busy generator leaves a socket unread,
    the kernel merges newly arrived segments into the one waiting at the tail of the queue,
    and the merged data carries the newest segment's stamp (measured: frames stamped 100 ms
    and more after they arrived). This thread is woken by every arrival (edge-triggered
    epoll on the same sockets, beside gevent's own), whatever the greenlets are doing, and
    writes down how far each socket's byte stream had reached and when (`FIONREAD` plus
    what the client has read so far). A frame ending at byte N arrived no later than the
    first note that reached N. It waits for the interpreter lock like any thread (at most
    the switch interval, 5 ms, behind a busy loop), so the stamp a frame gets is the
    earlier of the two.

    A note can only ever be late, never early: `consumed` is counted after each read (a read
    racing the note makes the note see less data than had arrived), and the clock is read
    after the data waiting is counted.
    """

    def __init__(self) -> None:
        self._epoll: Any = None
        #: Per fd, (stream offset reached, wall time) notes, oldest first. A list, not a
        #: deque: a deque's first block is 0.6 KB a socket, and a socket's notes are few
        #: (read ones are dropped), bounded by MAX_NOTES when the client does not read.
        self._marks: dict[int, list[tuple[int, float]]] = {}
        self._consumed: dict[int, int] = {}
        self._started = False

    def watch(self, fd: int) -> bool:
        try:
            if self._epoll is None:
                self._epoll = original("select", "epoll")()
            self._consumed[fd] = 0
            self._marks[fd] = []
            self._epoll.register(fd, select.EPOLLIN | select.EPOLLET)
        except (OSError, ValueError, AttributeError):
            self.forget(fd)
            return False
        if not self._started:
            self._started = True
            # The watcher waits for the interpreter lock behind a busy loop for up to the
            # switch interval: make that 1 ms instead of 5 (it asks only when bytes arrive).
            sys.setswitchinterval(min(sys.getswitchinterval(), SWITCH_INTERVAL_S))
            original("_thread", "start_new_thread")(self._run, ())
        return True

    def forget(self, fd: int) -> None:
        self._consumed.pop(fd, None)
        self._marks.pop(fd, None)
        try:
            if self._epoll is not None:
                self._epoll.unregister(fd)
        except (OSError, ValueError):
            pass

    def consumed(self, fd: int, n: int) -> int:
        """The client read `n` more bytes; the stream offset it has read up to."""
        total = self._consumed.get(fd, 0) + n
        if fd in self._consumed:
            self._consumed[fd] = total
        return total

    def drop_before(self, fd: int, end: int) -> None:
        """The client will not ask about the stream before byte `end` again: forget its notes
        (a socket whose frames are never asked about, a customer's pings, would otherwise
        keep one note per frame, up to MAX_NOTES)."""
        marks = self._marks.get(fd)
        if marks:
            _drop_before(marks, end)

    def arrival_of(self, fd: int, end: int) -> float | None:
        """When the stream had reached byte `end` (wall seconds), if a note says so."""
        self.drop_before(fd, end)
        marks = self._marks.get(fd)
        return marks[0][1] if marks else None

    def _run(self) -> None:
        _raise_thread_priority()
        inq = bytearray(4)
        while True:
            try:
                ready = self._epoll.poll(1.0)
            except OSError:
                continue
            for fd, _mask in ready:
                consumed = self._consumed.get(fd)
                marks = self._marks.get(fd)
                if consumed is None or marks is None:
                    continue
                try:
                    fcntl.ioctl(fd, termios.FIONREAD, inq)
                except OSError:
                    continue
                # The clock is read after the data is counted: data that arrives in between
                # is then noted late. Read before, it was noted before it arrived (a thread
                # descheduled between the two reads; seen: 1.6 ms early).
                if len(marks) >= MAX_NOTES:
                    del marks[0]
                marks.append((consumed + int.from_bytes(inq, sys.byteorder), time.time()))


def _drop_before(marks: list[tuple[int, float]], end: int) -> None:
    """Drop the notes before stream offset `end`. The watcher only appends meanwhile (or, at
    MAX_NOTES, drops the oldest): at worst a newer note goes too, and a frame's stamp is
    then its kernel stamp, later, never earlier."""
    count = 0
    for offset, _at in marks:
        if offset >= end:
            break
        count += 1
    if count:
        del marks[:count]


def _raise_thread_priority() -> None:
    """Run the watcher thread ahead of the busy ones (Linux nice is per thread; allowed for
    root or with CAP_SYS_NICE, else it runs as is)."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), -WATCH_PRIORITY_BOOST)
    except (OSError, AttributeError):
        pass


#: The process's watcher (one thread, one epoll for every websocket of the process).
WATCH = ArrivalWatch()


def of_frame(stamp_ns: int | None, fd: int | None, stream_end: int) -> Arrival:
    """A frame whose last byte is at `stream_end` of socket `fd`'s stream (`fd` None: the
    socket is not watched): the earlier of its read's kernel stamp and the watch's note,
    or now when neither has one."""
    earliest = stamp_ns / 1e9 if stamp_ns is not None else None
    if fd is not None:
        noted = WATCH.arrival_of(fd, stream_end)
        if noted is not None and (earliest is None or noted < earliest):
            earliest = noted
    return from_wall(earliest) if earliest is not None else now()


# --- handing the stamp to the handler ----------------------------------------------------------

#: Per greenlet in a Locust process (gevent patches `threading.local` before this module
#: loads), per thread elsewhere.
_current = threading.local()


def run_with(arrival: Arrival, handler: Callable[..., Any], *args: Any) -> Any:
    """Run a frame's handler (in the greenlet python-engineio starts for it) with its stamp."""
    _current.arrival = arrival
    try:
        return handler(*args)
    finally:
        _current.arrival = None


def current() -> Arrival | None:
    """The stamp of the frame whose handler is running in this greenlet, if any."""
    return getattr(_current, "arrival", None)
