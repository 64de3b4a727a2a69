"""When an event reached this machine, as opposed to when the load generator got round to it.

A load generator is one busy process: while it spawns users, mints tokens or judges the
previous event, a frame the server sent waits in the kernel's socket buffer. Stamping the
event when its handler runs adds that wait to every latency figure, and the figures then
describe the generator, not the server (issue 8: `newOrder`, which arrives while users are
still spawning, read 40 to 300 times the server's real latency).

So each frame is stamped where it arrives:

* **kernel**: on Linux the kernel stamps every received TCP segment (`SO_TIMESTAMPNS`), and
  `recvmsg` hands the stamp of the data it returns. The websocket transport reads its socket
  through `recvmsg` (see `disruption._CuttableWebSocket`), so a frame's stamp is the moment
  its last byte reached this machine, however late the generator reads it.
* **read**: when the client read the frame (TLS sockets, whose records the kernel cannot
  stamp for the application, and the polling transport): better than the handler's time, but
  it includes the generator's delay in reading.

The stamp travels with the frame to the handler's greenlet (`run_with` / `current`), where
`RunContext.received` takes it; the handler's own time minus the stamp is the delay the
generator added, watched per process (`health.GeneratorHealth.receive_delay`).
"""

from __future__ import annotations

import socket
import ssl
import struct
import time
from dataclasses import dataclass
from typing import Any, Callable

from gevent.local import local

#: Linux's socket option and control-message type (not exported by every Python build).
SO_TIMESTAMPNS: int = getattr(socket, "SO_TIMESTAMPNS", 35)
#: Room for one `struct timespec` control message.
ANC_SPACE = socket.CMSG_SPACE(16)
_TIMESPEC = struct.Struct("@qq")

KERNEL = "kernel"
READ = "read"
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
    wall_s = ns / 1e9
    mono = time.monotonic() - (time.time() - wall_s)
    return Arrival(wall_s * 1000.0, mono, KERNEL)


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
                return sec * 1_000_000_000 + nsec
    return None


# --- handing the stamp to the handler ----------------------------------------------------------

_current = local()


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
