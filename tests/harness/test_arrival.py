"""Arrival stamps (harness/load/arrival.py): a frame's time is when it reached this machine,
not when a busy process got round to reading it. Real loopback TCP sockets, no gevent."""

from __future__ import annotations

import socket
import time

import pytest

from harness.load import arrival

LATE_S = 0.3


@pytest.fixture
def pair():
    server = socket.create_server(("127.0.0.1", 0))
    client = socket.socket()
    for level, name, value in arrival.SOCKET_OPTIONS:
        client.setsockopt(level, name, value)
    client.connect(server.getsockname())
    peer, _ = server.accept()
    server.close()
    yield client, peer
    client.close()
    peer.close()


def _read(client: socket.socket, watch: arrival.ArrivalWatch, n: int) -> tuple[float | None, float | None]:
    """Read exactly n bytes as the websocket does: (kernel stamp s, watch's note s) of the last read."""
    got, kernel, end = 0, None, 0
    while got < n:
        data, anc, _, _ = client.recvmsg(n - got, arrival.ANC_SPACE)
        got += len(data)
        end = watch.consumed(client.fileno(), len(data))
        ns = arrival.kernel_ns(anc)
        kernel = ns / 1e9 if ns is not None else kernel
    return kernel, watch.arrival_of(client.fileno(), end)


def test_a_frame_read_late_keeps_the_time_it_arrived(pair) -> None:
    client, peer = pair
    watch = arrival.ArrivalWatch()
    assert watch.watch(client.fileno())
    time.sleep(0.05)  # the watcher thread is up
    sent = time.time()
    peer.sendall(b"x" * 100)
    time.sleep(LATE_S)  # a busy generator: nobody reads
    kernel, noted = _read(client, watch, 100)
    read_at = time.time()
    assert read_at - sent >= LATE_S
    assert noted is not None and abs(noted - sent) < 0.05, (noted - sent if noted else None)


def test_frames_merged_while_unread_keep_each_its_own_arrival(pair) -> None:
    """The kernel merges segments that wait unread and stamps the merge with the newest
    one's time; the watch tells the first frame's arrival from the last one's."""
    client, peer = pair
    watch = arrival.ArrivalWatch()
    assert watch.watch(client.fileno())
    time.sleep(0.05)
    first = time.time()
    peer.sendall(b"a" * 50)
    time.sleep(0.15)
    second = time.time()
    peer.sendall(b"b" * 50)
    time.sleep(0.15)
    kernel_1, noted_1 = _read(client, watch, 50)
    kernel_2, noted_2 = _read(client, watch, 50)
    assert noted_1 is not None and abs(noted_1 - first) < 0.05, noted_1 - first if noted_1 else None
    assert noted_2 is not None and abs(noted_2 - second) < 0.05, noted_2 - second if noted_2 else None
    # Whatever the kernel did, the stamp a frame gets (the earlier of the two) is no later
    # than its arrival as the watch saw it.
    for kernel, noted in ((kernel_1, noted_1), (kernel_2, noted_2)):
        assert min(x for x in (kernel, noted) if x is not None) <= noted


def test_a_forgotten_socket_has_no_notes(pair) -> None:
    client, peer = pair
    watch = arrival.ArrivalWatch()
    assert watch.watch(client.fileno())
    watch.forget(client.fileno())
    peer.sendall(b"z")
    time.sleep(0.05)
    assert watch.arrival_of(client.fileno(), 1) is None
    assert watch.consumed(client.fileno(), 1) == 1  # unknown sockets count nothing, and do not fail


def test_kernel_stamps_are_read_back_from_recvmsg(pair) -> None:
    client, peer = pair
    time.sleep(0.05)
    sent = time.time()
    peer.sendall(b"hello")
    time.sleep(0.1)
    _, anc, _, _ = client.recvmsg(16, arrival.ANC_SPACE)
    ns = arrival.kernel_ns(anc)
    assert ns is not None and abs(ns / 1e9 - sent) < 0.05
    stamp = arrival.from_kernel(ns)
    assert stamp.source == arrival.KERNEL
    assert abs((time.monotonic() - stamp.mono) - (time.time() - stamp.wall_ms / 1000.0)) < 0.01


def test_a_tls_socket_is_not_stamped() -> None:
    import ssl

    raw = socket.socket()
    wrapped = ssl.create_default_context().wrap_socket(raw, server_hostname="localhost",
                                                       do_handshake_on_connect=False)
    try:
        assert arrival.enable_kernel_stamps(wrapped) is False
        assert arrival.enable_kernel_stamps(None) is False
    finally:
        wrapped.close()


class _PreemptedOnce:
    """A clock pair whose first wall-clock read comes 3 ms late, as when the process is
    descheduled between reading the two clocks (a busy machine). Wall = monotonic + 1000 s."""

    def __init__(self) -> None:
        self.mono = 50.0
        self.late = 0.003

    def monotonic(self) -> float:
        return self.mono

    def time(self) -> float:
        self.mono += self.late   # time passes before the read: the thread was not running
        self.late = 0.0
        return self.mono + 1000.0


def test_a_kernel_stamp_is_placed_right_on_the_monotonic_clock_even_if_preempted(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Bug (a fresh-clone run: a delay=250 server's newOrder delivered 247.0 ms after its
    request): the gap between the clocks was read as monotonic, then wall; descheduled in
    between, the gap came out too large and the arrival that much too early."""
    clock = _PreemptedOnce()
    monkeypatch.setattr(arrival, "time", clock)
    stamp = arrival.from_wall(1049.0)   # arrived at monotonic 49.0
    assert stamp.mono == pytest.approx(49.0, abs=1e-9), stamp


class _DataArrivesWhileTheClockIsRead:
    """A clock whose first read, once armed, is followed at once by more data reaching the
    watched socket, as when the watcher thread is descheduled right after reading the clock
    (a busy machine)."""

    def __init__(self, peer: socket.socket) -> None:
        self.peer = peer
        self.armed = False
        self.more_sent_at: float | None = None

    def monotonic(self) -> float:
        return time.monotonic()

    def time(self) -> float:
        read = time.time()
        if self.armed and self.more_sent_at is None:
            self.more_sent_at = time.time()
            self.peer.sendall(b"m" * 100)
        return read


def test_a_note_never_dates_data_before_it_arrived(pair, monkeypatch: pytest.MonkeyPatch) -> None:
    """Bug (a fresh-clone run: a delay=250 server's newOrder delivered 248.4 ms after its
    request): the watcher read the clock, then how much data waited; data that arrived in
    between was noted at the earlier time, before it arrived."""
    client, peer = pair
    clock = _DataArrivesWhileTheClockIsRead(peer)
    monkeypatch.setattr(arrival, "time", clock)
    watch = arrival.ArrivalWatch()
    assert watch.watch(client.fileno())
    time.sleep(0.05)  # the watcher thread is up
    clock.armed = True
    peer.sendall(b"f" * 100)
    time.sleep(0.2)
    _kernel, noted = _read(client, watch, 200)
    assert clock.more_sent_at is not None, "the watcher never read the clock"
    assert noted is not None and noted >= clock.more_sent_at, (
        f"bytes noted {clock.more_sent_at - noted:.6f} s before they were sent")
