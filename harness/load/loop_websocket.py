"""A websocket that the event loop reads: no greenlet per socket (issue 11).

python-engineio reads a websocket in a greenlet of its own that blocks in websocket-client's
`recv`: one saved stack, a greenlet, a frame buffer and two locks for every held user, and a
switch into and out of that greenlet for every frame (the server's pings, mostly). Here the
connection's socket, once websocket-client has made the handshake, is read by a libev io
callback in gevent's hub: it reads what has arrived, cuts it into frames and hands each
Engine.IO packet to the client's `_receive_packet`, all without a switch. Writes never
block either: what the socket cannot take at once waits in a buffer for a write callback.

What it keeps of the greenlet reader, exactly:

* **arrival stamps** (arrival.py): every read goes through `recvmsg` with the kernel's
  receive stamp, and the arrival watch is told how far the stream has been read; a frame
  gets the earlier of the stamp of the read that completed it and the watch's note for its
  last byte.
* **the silent cut** (disruption.py): while silent, what is sent vanishes, what arrives is
  read and lost, and the end of the stream is not seen; the connection times out
  `pingInterval + pingTimeout` after the last frame really received, as a real recv would.
* **the end of a connection**: end of stream, a reset, a close frame, or that timeout end
  the reader; its end runs python-engineio's own (`CuttableEngineIO.reader_ended`) in a
  greenlet, where the disconnect handlers may block.

It runs only in a gevent process (Locust's), on a plain TCP socket: a TLS socket's records
are not the socket's bytes, and a client in plain threads has no hub; both keep
python-engineio's greenlet reader (`usable`).

Frames are cut here rather than by a library: websocket-client's parser pulls from a
blocking `recv`, and wsproto's sans-IO connection costs kilobytes a socket and tens of
microseconds a frame; a server's frames are unmasked and need a dozen lines. Outgoing frames
(masked, as a client's must be) are built the same way, with websocket-client's masking
for long payloads.
"""

from __future__ import annotations

import _socket
import logging
import os
import ssl
import time
from typing import Any, Protocol

import gevent
import gevent.event
from websocket import ABNF

from . import arrival

logger = logging.getLogger(__name__)

_READ, _WRITE = 1, 2
#: The most one read takes (a read callback runs again while more is waiting).
READ_BYTES = 256 * 1024
_TEXT, _BINARY, _CONTINUATION = ABNF.OPCODE_TEXT, ABNF.OPCODE_BINARY, ABNF.OPCODE_CONT
_CLOSE, _PING, _PONG = ABNF.OPCODE_CLOSE, ABNF.OPCODE_PING, ABNF.OPCODE_PONG

#: Why a reader ended, in python-engineio's own words (its read loop logs these).
TIMED_OUT = "Server has stopped communicating, aborting"
CLOSED = "WebSocket connection was closed, aborting"


#: Payloads up to this size are masked as one integer (the server's pings' answers, "3");
#: longer ones by websocket-client's `ABNF.mask`.
_SMALL = 64


def client_frame(payload: bytes, opcode: int) -> bytes:
    """One final frame as a client sends it (RFC 6455 5.2): masked with a fresh key from
    the OS. websocket-client's `ABNF.create_frame(...).format()` builds the same bytes
    through an object and its checks: twice the time, for the "3" every held socket
    answers the server's ping with."""
    size = len(payload)
    if size < 126:
        head = bytes((0x80 | opcode, 0x80 | size))
    elif size < 1 << 16:
        head = bytes((0x80 | opcode, 0x80 | 126)) + size.to_bytes(2, "big")
    else:
        head = bytes((0x80 | opcode, 0x80 | 127)) + size.to_bytes(8, "big")
    key = os.urandom(4)
    if size <= _SMALL:
        keys = (key * (size // 4 + 1))[:size]
        masked = (int.from_bytes(payload, "big") ^ int.from_bytes(keys, "big")).to_bytes(size, "big")
    else:
        masked = ABNF.mask(key, payload)
    return head + key + masked


class Owner(Protocol):
    """The Engine.IO client a reader hands its packets to (`disruption.CuttableEngineIO`)."""

    def frame_received(self, message: str | bytes) -> None: ...

    def reader_ended(self, why: str) -> None: ...


def usable(ws: Any) -> bool:
    """Whether a connected websocket-client websocket can be read by the loop: a plain TCP
    socket, in a process whose sockets gevent has patched (an unpatched one is a client in
    plain threads, with no hub to call it)."""
    sock = getattr(ws, "sock", None)
    if sock is None or not hasattr(sock, "detach"):
        return False
    # A TLS socket's bytes are records, not frames: whichever class it is (the standard
    # library's, or gevent's, which is not a subclass of it until `ssl` is patched).
    if isinstance(sock, ssl.SSLSocket) or hasattr(sock, "cipher"):
        return False
    module = type(sock).__module__ or ""
    return module.startswith("gevent.")


class ReaderTask:
    """Stands for the read loop's task: python-engineio joins it on disconnect and in `wait`."""

    __slots__ = ("_done",)

    def __init__(self) -> None:
        self._done = gevent.event.Event()

    def join(self, timeout: float | None = None) -> None:
        self._done.wait(timeout)

    def finish(self) -> None:
        self._done.set()


class LoopWebSocket:
    """One connection's websocket, read and written by the event loop's callbacks.

    Stands where python-engineio keeps its websocket (`Client.ws`): `send`, `send_binary`,
    `close`, `shutdown`, `settimeout`/`gettimeout`, `connected`; and what the cuts use:
    `sock`, `silent`, `last_arrival`.
    """

    __slots__ = (
        "_ended",
        "_fd",
        "_frame_end",
        "_frame_ns",
        "_last_arrival",
        "_message",
        "_message_op",
        "_out",
        "_owner",
        "_read_end",
        "_reader",
        "_rest",
        "_stamp_due",
        "_timeout",
        "_timer",
        "_watched",
        "_writer",
        "connected",
        "last_rx",
        "silent",
        "sock",
        "task",
    )

    def __init__(self, ws: Any, owner: Owner) -> None:
        """Take the connected websocket-client websocket `ws`'s socket over (usable(ws)), and
        let go of everything else of it here."""
        self._timeout: float = ws.gettimeout() or 0.0
        fd = ws.sock.detach()
        ws.sock = None
        ws.connected = False
        # websocket-client's frame buffer holds its websocket's own `_recv`: a cycle that only
        # a full collection frees, which a generator that freezes what survives
        # (collector.py) does not make. Broken here, the websocket goes at once (1.2 KB).
        ws.frame_buffer = None
        # Whoever watched this socket's arrivals until now (the handshake's reader), the
        # loop's reader watches them from here on, counting the stream from this point.
        arrival.WATCH.forget(fd)
        self.sock = _socket.socket(fileno=fd)
        self.sock.setblocking(False)
        self._fd = fd
        self._owner = owner
        self.connected = True
        self.silent = False
        self.last_rx = time.monotonic()
        self._last_arrival: arrival.Arrival | None = None
        self._frame_ns: int | None = None
        self._frame_end = 0
        self._stamp_due = False
        self.task = ReaderTask()
        self._rest = b""
        self._message: list[bytes] | None = None
        self._message_op = _TEXT
        self._out = bytearray()
        self._read_end = 0
        self._ended = False
        self._watched = arrival.WATCH.watch(fd) if arrival.enable_kernel_stamps(self.sock) else False
        loop = gevent.get_hub().loop
        self._reader = loop.io(fd, _READ)
        self._writer = loop.io(fd, _WRITE)
        self._timer: Any = None
        self._reader.start(self._readable)
        self._arm_timer(self._timeout)

    # --- python-engineio's websocket ------------------------------------------------------------

    def settimeout(self, timeout: float | None) -> None:
        self._timeout = timeout or 0.0
        self._arm_timer(self._timeout)

    def gettimeout(self) -> float:
        return self._timeout

    def send(self, payload: str | bytes, opcode: int = _TEXT) -> int:
        """Queue one frame; it leaves at once when the socket takes it. Raises OSError once the
        connection is over (as websocket-client would, for the caller's error handling)."""
        if self.silent:
            return len(payload)
        if self._ended or not self.connected:
            raise BrokenPipeError("the websocket is closed")
        self._write(client_frame(payload.encode() if isinstance(payload, str) else payload, opcode))
        return len(payload)

    def send_binary(self, payload: bytes) -> int:
        return self.send(payload, _BINARY)

    def close(self, *args: Any, **kwargs: Any) -> None:
        """Close the connection (with a close frame unless silent) and end the reader."""
        if not self._ended and not self.silent and self.connected:
            try:
                self._write(client_frame(b"\x03\xe8", _CLOSE))
            except OSError:
                pass
        self._end(CLOSED)

    def shutdown(self) -> None:
        self._end(CLOSED)

    # --- the loop's callbacks ---------------------------------------------------------------------

    def _readable(self) -> None:
        try:
            self._read()
        except Exception as exc:  # the hub would only print it, and the connection would hang
            # A handler that tried to wait (gevent's BlockingSwitchOutError) lands here too:
            # loud, as it is a bug of the harness's (handlers hand waits to greenlets).
            logger.warning("Unexpected error receiving packet: %r, aborting", exc, exc_info=True)
            self._end(f"Unexpected error receiving packet: {exc}")

    def _read(self) -> None:
        try:
            data, ancdata, _flags, _addr = self.sock.recvmsg(READ_BYTES, arrival.ANC_SPACE)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self._lost(f"{CLOSED} ({exc})")
            return
        if not data:
            self._lost(CLOSED)
            return
        if self._watched:
            self._read_end = arrival.WATCH.consumed(self._fd, len(data))
        if self.silent:
            return  # lost in the tunnel
        now_mono = time.monotonic()
        stamp = arrival.kernel_ns(ancdata)
        buf = self._rest + data if self._rest else data
        pos, end = 0, len(buf)
        stream_start = self._read_end - end  # the stream offset of buf[0]
        while end - pos >= 2:
            b0, b1 = buf[pos], buf[pos + 1]
            size, head = b1 & 0x7F, 2
            if size == 126:
                if end - pos < 4:
                    break
                size, head = int.from_bytes(buf[pos + 2:pos + 4], "big"), 4
            elif size == 127:
                if end - pos < 10:
                    break
                size, head = int.from_bytes(buf[pos + 2:pos + 10], "big"), 10
            mask = b""
            if b1 & 0x80:  # a server must not mask; unmask what one did anyway
                if end - pos < head + 4:
                    break
                mask = buf[pos + head:pos + head + 4]
                head += 4
            if end - pos < head + size:
                break
            payload = buf[pos + head:pos + head + size]
            if mask:
                payload = ABNF.mask(mask, payload)
            pos += head + size
            self.last_rx = now_mono
            self._frame_ns, self._frame_end, self._stamp_due = stamp, stream_start + pos, True
            if not self._frame(b0 & 0x80, b0 & 0x0F, payload) or self._ended:
                return
        self._rest = buf[pos:] if pos < end else b""
        if self._stamp_due and self._watched:
            # Nobody asked for this read's stamps (the server's pings): past this callback
            # nobody will, and the watch's notes up to here can go.
            arrival.WATCH.drop_before(self._fd, self._frame_end)

    @property
    def last_arrival(self) -> arrival.Arrival | None:
        """The arrival of the last frame handed over, worked out when asked: only messages'
        handlers ask (the server's pings, most frames, never do), and they ask in the read
        callback itself, so a frame without any stamp is stamped when it was read."""
        if self._stamp_due:
            self._stamp_due = False
            self._last_arrival = arrival.of_frame(
                self._frame_ns, self._fd if self._watched else None, self._frame_end)
        return self._last_arrival

    def _frame(self, fin: int, opcode: int, payload: bytes) -> bool:
        """One frame; False when the connection ended with it."""
        if opcode in (_TEXT, _BINARY) or opcode == _CONTINUATION:
            if opcode != _CONTINUATION:
                self._message_op = opcode
                self._message = None if fin else [payload]
                if not fin:
                    return True
            elif self._message is None:
                self._lost("Unexpected continuation frame, aborting")
                return False
            else:
                self._message.append(payload)
                if not fin:
                    return True
                payload = b"".join(self._message)
                self._message = None
            message: str | bytes = payload.decode("utf-8") if self._message_op == _TEXT else payload
            self._owner.frame_received(message)
            return True
        if opcode == _PING:
            self._write(client_frame(payload, _PONG))
            return True
        if opcode == _CLOSE:
            self._lost(CLOSED)
            return False
        return True  # a pong, or an opcode no server sends: nothing to do

    def _writable(self) -> None:
        try:
            sent = self.sock.send(self._out)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self._out.clear()
            self._writer.stop()  # the connection is over: the reader sees it end
            return
        del self._out[:sent]
        if not self._out:
            self._writer.stop()

    def _write(self, frame: bytes) -> None:
        if self._out:
            self._out += frame  # behind what waits already, in order
            return
        try:
            sent = self.sock.send(frame)
        except (BlockingIOError, InterruptedError):
            sent = 0
        if sent < len(frame):
            self._out += memoryview(frame)[sent:]
            self._writer.start(self._writable)

    # --- time out ---------------------------------------------------------------------------------

    def _arm_timer(self, after: float) -> None:
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        if after > 0 and not self._ended:
            self._timer = gevent.get_hub().loop.timer(after)
            self._timer.start(self._time_check)

    def _time_check(self) -> None:
        """The timeout since the last frame received: end the connection, or look again when
        it will have passed (one timer a socket, set again only when it fires)."""
        left = self.last_rx + self._timeout - time.monotonic()
        if left <= 0:
            self._end(TIMED_OUT)
        else:
            self._arm_timer(left)

    # --- the end --------------------------------------------------------------------------------------

    def _lost(self, why: str) -> None:
        """The stream ended under the reader: inside a silent cut the client cannot know, and
        waits for its timeout; otherwise the connection is over."""
        if self.silent:
            self._reader.stop()
            return
        self._end(why)

    def _end(self, why: str) -> None:
        if self._ended:
            return
        self._ended = True
        self.connected = False
        for watcher in (self._reader, self._writer, self._timer):
            if watcher is not None:
                watcher.stop()
                watcher.close()
        self._timer = None
        if self._watched:
            self._watched = False
            arrival.WATCH.forget(self._fd)
        try:
            self.sock.close()
        except OSError:
            pass
        gevent.spawn(self._ended_in_greenlet, why)

    def _ended_in_greenlet(self, why: str) -> None:
        try:
            self._owner.reader_ended(why)
        finally:
            self.task.finish()

