"""The loop's websocket reader under a microscope: `python tests/load/loop_websocket_probe.py`
(run by test_loop_websocket.py in a process of its own, as it patches the process with gevent
as Locust does).

Each case connects a `harness.load.loop_websocket.LoopWebSocket` to a TCP peer on loopback
that writes frames byte for byte as a server would (plain `socket`, no websocket library:
the bytes are RFC 6455's, written out here), and prints one JSON line: what the reader
handed over, what the peer read back, when and why the reader ended.
"""

from __future__ import annotations

from gevent import monkey

monkey.patch_all()

import json  # noqa: E402
import os  # noqa: E402
import socket  # noqa: E402
import struct  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import gevent  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from harness.load import arrival  # noqa: E402
from harness.load.loop_websocket import CLOSED, TIMED_OUT, LoopWebSocket, usable  # noqa: E402

TEXT, BINARY, CONT, CLOSE, PING, PONG = 1, 2, 0, 8, 9, 10


def frame(payload: bytes, opcode: int = TEXT, fin: bool = True, mask: bytes | None = None) -> bytes:
    """A frame as RFC 6455 section 5.2 lays it out."""
    head = bytes([(0x80 if fin else 0) | opcode])
    size = len(payload)
    bit = 0x80 if mask else 0
    if size < 126:
        head += bytes([bit | size])
    elif size < 1 << 16:
        head += bytes([bit | 126]) + struct.pack("!H", size)
    else:
        head += bytes([bit | 127]) + struct.pack("!Q", size)
    if mask:
        payload = unmask(mask, payload)
        head += mask
    return head + payload


def unmask(key: bytes, data: bytes) -> bytes:
    """XOR with the 4-byte key, repeated (RFC 6455 section 5.3), as one big integer."""
    if not data:
        return data
    keys = (key * (len(data) // 4 + 1))[:len(data)]
    return (int.from_bytes(data, "big") ^ int.from_bytes(keys, "big")).to_bytes(len(data), "big")


def read_frame(sock: socket.socket) -> tuple[int, bytes]:
    """One frame the client sent (masked, as a client's must be): its opcode and payload."""
    def exactly(n: int) -> bytes:
        got = b""
        while len(got) < n:
            chunk = sock.recv(n - len(got))
            if not chunk:
                raise EOFError(f"end of stream after {len(got)} of {n} bytes")
            got += chunk
        return got

    b0, b1 = exactly(2)
    size = b1 & 0x7F
    if size == 126:
        size = struct.unpack("!H", exactly(2))[0]
    elif size == 127:
        size = struct.unpack("!Q", exactly(8))[0]
    if not b1 & 0x80:
        raise AssertionError("a client frame without a mask")
    key = exactly(4)
    data = exactly(size)
    return b0 & 0x0F, unmask(key, data)


class Handshaken:
    """What websocket-client leaves after its handshake, as far as the reader takes it over."""

    def __init__(self, sock: socket.socket, timeout: float) -> None:
        self.sock = sock
        self.connected = True
        self._timeout = timeout

    def gettimeout(self) -> float:
        return self._timeout


class Owner:
    def __init__(self, ask_stamps: bool = True) -> None:
        self.ask_stamps = ask_stamps
        self.messages: list[Any] = []
        self.stamps: list[dict[str, Any]] = []
        self.ended: list[tuple[str, float]] = []
        self.ws: LoopWebSocket | None = None

    def frame_received(self, message: str | bytes) -> None:
        self.messages.append(message if isinstance(message, str) else {"binary": message.hex()})
        if not self.ask_stamps:
            return
        stamp = self.ws.last_arrival if self.ws is not None else None
        self.stamps.append({"source": stamp.source, "wall_ms": stamp.wall_ms} if stamp else {})

    def reader_ended(self, why: str) -> None:
        self.ended.append((why, time.monotonic()))


def pair(timeout: float = 30.0, owner: Owner | None = None) -> tuple[LoopWebSocket, Owner, socket.socket, Handshaken]:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    client = socket.create_connection(listener.getsockname())
    for level, option, value in arrival.SOCKET_OPTIONS:
        client.setsockopt(level, option, value)
    peer, _ = listener.accept()
    listener.close()
    owner = owner or Owner()
    ws = Handshaken(client, timeout)
    assert usable(ws), "a gevent TCP socket is the loop's to read"
    owner.ws = LoopWebSocket(ws, owner)
    return owner.ws, owner, peer, ws


def wait_for(check: Any, limit_s: float = 5.0) -> bool:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if check():
            return True
        gevent.sleep(0.01)
    return False


def case_frames() -> dict[str, Any]:
    """Every frame shape a server may send, whole, merged and cut into single bytes."""
    ws, owner, peer, stub = pair()
    medium, large = "4" + "m" * 300, "4" + "L" * 70_000
    stream = (frame(b"4hello") + frame(medium.encode()) + frame(large.encode())
              + frame(b"4fra", fin=False) + frame(b"gme", opcode=CONT, fin=False)
              + frame(b"nted", opcode=CONT) + frame(b"\x04\x01\x02", opcode=BINARY)
              + frame("4é masked".encode(), mask=b"\x01\x02\x03\x04") + frame(b"", opcode=PONG)
              + frame(b"4last"))
    before = time.time() * 1000.0
    peer.sendall(stream[:5000])
    for i in range(5000, 5100):  # a stretch byte by byte: headers and payloads cut anywhere
        peer.sendall(stream[i:i + 1])
        gevent.sleep(0.001)
    peer.sendall(stream[5100:])
    wait_for(lambda: len(owner.messages) >= 7)
    after = time.time() * 1000.0
    result = {"messages": [m if not isinstance(m, str) or len(m) < 40 else f"{m[:2]}..{len(m)}"
                           for m in owner.messages],
              "sources": sorted({s.get("source") for s in owner.stamps}),
              "stamps_within": all(before <= s["wall_ms"] <= after for s in owner.stamps),
              "handshake_socket_released": stub.sock is None and not stub.connected,
              "ended": [why for why, _ in owner.ended]}
    ws.close()
    peer.close()
    return result


def case_ping_and_send() -> dict[str, Any]:
    """The transport's ping is answered with its payload; what the client sends arrives."""
    ws, owner, peer, _ = pair()
    peer.sendall(frame(b"xy", opcode=PING))
    first = read_frame(peer)
    ws.send("2probe")
    ws.send_binary(b"\x00\x01")
    second, third = read_frame(peer), read_frame(peer)
    sizes = (0, 1, 63, 64, 65, 125, 126, 300, 65535, 65536, 70000)  # each length encoding and masking path
    for size in sizes:
        ws.send("é" * (size // 2) + "x" * (size % 2))
    echoed = [read_frame(peer) for _ in sizes]
    lengths_ok = all(op == 1 and data.decode() == "é" * (n // 2) + "x" * (n % 2)
                     for (op, data), n in zip(echoed, sizes))
    ws.close()
    fourth = read_frame(peer)
    tail = peer.recv(10)
    wait_for(lambda: owner.ended)
    return {"pong": [first[0], first[1].decode()], "text": [second[0], second[1].decode()],
            "binary": [third[0], third[1].hex()], "close": [fourth[0], fourth[1].hex()],
            "then_end_of_stream": tail == b"", "ended": [why for why, _ in owner.ended],
            "every_length_masked_right": lengths_ok,
            "task_done": _joined(ws)}


def _joined(ws: LoopWebSocket) -> bool:
    started = time.monotonic()
    ws.task.join(2.0)
    return time.monotonic() - started < 2.0


def case_backpressure() -> dict[str, Any]:
    """A peer that does not read: sends never block; everything arrives, in order, once it
    reads again."""
    ws, owner, peer, _ = pair()
    chunk = 256 * 1024
    blocked = False
    with gevent.Timeout(10, False):  # a send that waited for the peer would wait forever
        for i in range(40):  # 10 MB: far beyond both sockets' buffers
            ws.send(f"{i:04d}" + "p" * (chunk - 4))
        blocked = None
    if blocked is not None:
        return {"blocked": True}
    waiting = len(ws._out)
    got = [read_frame(peer)[1][:4].decode() for _ in range(40)]
    ws.close()
    peer.close()
    return {"blocked": False, "waited_in_buffer": waiting, "order": got == [f"{i:04d}" for i in range(40)],
            "ended": [why for why, _ in owner.ended]}


def case_server_close() -> dict[str, Any]:
    """A close frame, and an end of stream: the connection ended, once each."""
    out = {}
    for how in ("close_frame", "end_of_stream", "reset"):
        ws, owner, peer, _ = pair()
        peer.sendall(frame(b"4before"))
        if how == "close_frame":
            peer.sendall(frame(b"\x03\xe8", opcode=CLOSE))
        elif how == "reset":
            peer.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            peer.close()
        else:
            peer.shutdown(socket.SHUT_WR)
        wait_for(lambda owner=owner: owner.ended)
        gevent.sleep(0.1)
        out[how] = {"messages": owner.messages, "ended": [why.split(" (")[0] for why, _ in owner.ended],
                    "task_done": _joined(ws),
                    "send_after_end": _send_fails(ws)}
        peer.close()
    return out


def _send_fails(ws: LoopWebSocket) -> str:
    try:
        ws.send("2late")
    except OSError as exc:
        return type(exc).__name__
    return "sent"


def case_timeout() -> dict[str, Any]:
    """No frame for the timeout: the reader ends; each frame received moves the deadline."""
    ws, owner, peer, _ = pair(timeout=0.6)
    started = time.monotonic()
    gevent.sleep(0.4)
    peer.sendall(frame(b"2"))  # a ping packet, 0.4 s in: the deadline moves to 1.0 s
    wait_for(lambda: owner.ended, 5.0)
    ended = owner.ended[0][1] if owner.ended else None
    peer.close()
    return {"ended": [why for why, _ in owner.ended], "messages": owner.messages,
            "after_start_s": ended - started if ended else None,
            "after_last_frame_s": ended - ws.last_rx if ended else None}


def case_silent() -> dict[str, Any]:
    """A phone in a tunnel: sends vanish, receipts are lost, an end of stream goes unseen;
    the timeout, counted from the last frame really received, ends the connection."""
    ws, owner, peer, _ = pair(timeout=0.8)
    peer.sendall(frame(b"4seen"))
    wait_for(lambda: owner.messages)
    ws.silent = True
    ws.send("2lost")
    peer.sendall(frame(b"4lost"))
    gevent.sleep(0.2)
    peer.shutdown(socket.SHUT_WR)  # the server gives up: the client cannot know
    peer.settimeout(0.3)
    try:
        leaked = peer.recv(100)
    except TimeoutError:
        leaked = b""
    wait_for(lambda: owner.ended, 5.0)
    ended = owner.ended[0][1] if owner.ended else None
    peer.close()
    return {"messages": owner.messages, "peer_read": leaked.hex(),
            "after_last_frame_s": ended - ws.last_rx if ended else None,
            "ended": [why for why, _ in owner.ended]}


def case_fd_released() -> dict[str, Any]:
    """Every way of ending closes the socket: no descriptor is left behind."""
    before = len(os.listdir("/proc/self/fd"))
    for _ in range(50):
        ws, owner, peer, _ = pair()
        ws.close()
        wait_for(lambda owner=owner: owner.ended)
        peer.close()
    gevent.sleep(0.1)
    return {"fds_added": len(os.listdir("/proc/self/fd")) - before}


def case_unasked_stamps() -> dict[str, Any]:
    """Frames whose arrival nobody asks for (pings) leave no notes behind in the arrival
    watch; a frame asked for after them still gets its own stamp."""
    ws, owner, peer, _ = pair(owner=Owner(ask_stamps=False))
    for _ in range(300):
        peer.sendall(frame(b"2"))
        gevent.sleep(0.001)
    wait_for(lambda: len(owner.messages) >= 300)
    gevent.sleep(0.05)
    kept = len(arrival.WATCH._marks.get(ws._fd, ()))
    owner.ask_stamps = True
    before = time.time() * 1000.0
    peer.sendall(frame(b"4asked"))
    wait_for(lambda: len(owner.messages) >= 301)
    stamp = owner.stamps[-1] if owner.stamps else {}
    ws.close()
    peer.close()
    return {"notes_kept": kept,
            "asked_stamp_source": stamp.get("source"),
            "asked_stamp_after_write": stamp.get("wall_ms", 0) >= before}


def case_who_reads() -> dict[str, Any]:
    """Only a plain TCP socket of gevent's goes to the loop: not a TLS one (gevent's, or the
    standard library's), not an unpatched one (a client in plain threads)."""
    import ssl as std_ssl

    import gevent.ssl

    plain = socket.socket()
    tls_gevent = gevent.ssl.SSLContext(std_ssl.PROTOCOL_TLS_CLIENT).wrap_socket(
        socket.socket(), do_handshake_on_connect=False, server_hostname="localhost")
    unpatched = monkey.get_original("socket", "socket")()
    tls_std = std_ssl.SSLContext(std_ssl.PROTOCOL_TLS_CLIENT).wrap_socket(
        monkey.get_original("socket", "socket")(), do_handshake_on_connect=False,
        server_hostname="localhost")
    out = {name: usable(Handshaken(sock, 1.0)) for name, sock in
           (("plain", plain), ("tls_gevent", tls_gevent), ("unpatched", unpatched), ("tls_std", tls_std))}
    for sock in (plain, tls_gevent, unpatched, tls_std):
        sock.close()
    return out


CASES = {"who_reads": case_who_reads, "unasked_stamps": case_unasked_stamps, "frames": case_frames, "ping_and_send": case_ping_and_send,
         "backpressure": case_backpressure, "server_close": case_server_close,
         "timeout": case_timeout, "silent": case_silent, "fd_released": case_fd_released}

def warm_up() -> tuple[LoopWebSocket, socket.socket]:
    """The kernel turns receive stamps on for the whole machine the first time a socket asks
    (net_enable_timestamp), and the first segments after that may arrive unstamped (as
    arrival.kernel_ns says): exchanges first, until one arrives stamped, so that the cases
    see stamped segments. Its socket stays open through the cases: the kernel turns the
    stamps off again once no socket asks for them."""
    ws, owner, peer, _ = pair()
    deadline = time.monotonic() + 10.0
    while time.monotonic() < deadline:
        peer.sendall(frame(b"4warm"))
        count = len(owner.messages) + 1
        wait_for(lambda: len(owner.messages) >= count)
        if owner.stamps and owner.stamps[-1].get("source") == "kernel":
            break
        gevent.sleep(0.05)
    return ws, peer


if __name__ == "__main__":
    kept_open = warm_up()
    results = {}
    for name, case in CASES.items():
        try:
            results[name] = case()
        except Exception as exc:  # noqa: BLE001  (reported in the line, for the test to show)
            results[name] = {"error": f"{type(exc).__name__}: {exc}"}
    print(json.dumps({"expected_reasons": {"closed": CLOSED, "timed_out": TIMED_OUT}, **results}))
