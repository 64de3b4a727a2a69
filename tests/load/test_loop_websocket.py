"""The websocket the event loop reads (harness/load/loop_websocket.py), frame by frame, in a
gevent process of its own (loop_websocket_probe.py): what it hands over, what it writes,
and every way a connection ends. Load runs (test_reconnect.py, test_witness.py) use it for
every websocket; test_load_runs.py checks that they did."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.support.child_processes import PYTHON, run_to_exit

PROBE = Path(__file__).with_name("loop_websocket_probe.py")


@pytest.fixture(scope="module")
def probe() -> dict[str, Any]:
    done = run_to_exit([PYTHON, str(PROBE)], timeout=120)
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _case(probe: dict[str, Any], name: str) -> dict[str, Any]:
    case: dict[str, Any] = probe[name]
    assert "error" not in case, case["error"]
    return case


def test_every_frame_shape_is_handed_over_whole_and_in_order(probe: dict[str, Any]) -> None:
    case = _case(probe, "frames")
    assert case["messages"] == ["4hello", "4m..301", "4L..70001", "4fragmented",
                                {"binary": "040102"}, "4é masked", "4last"]
    assert case["sources"] == ["kernel"], "each frame carries its arrival stamp"
    assert case["stamps_within"], "no stamp before the peer wrote or after the owner got it"
    assert case["handshake_socket_released"]
    assert case["ended"] == []


def test_pings_are_answered_and_sends_arrive_masked_then_a_close(probe: dict[str, Any]) -> None:
    case = _case(probe, "ping_and_send")
    assert case["pong"] == [10, "xy"]
    assert case["text"] == [1, "2probe"]
    assert case["binary"] == [2, "0001"]
    assert case["every_length_masked_right"], "7-bit, 16-bit and 64-bit lengths, short and long masking"
    assert case["close"] == [8, "03e8"], "a normal closure, 1000"
    assert case["then_end_of_stream"]
    assert case["ended"] == [probe["expected_reasons"]["closed"]]
    assert case["task_done"], "python-engineio's join of the read task returns"


def test_a_peer_that_does_not_read_never_blocks_a_send_and_loses_nothing(probe: dict[str, Any]) -> None:
    case = _case(probe, "backpressure")
    assert not case["blocked"], "a send waited for the peer to read"
    assert case["waited_in_buffer"] > 0, "the peer's buffers took all 10 MB: nothing was tested"
    assert case["order"], "every frame arrived, in order"


def test_a_close_frame_an_end_of_stream_and_a_reset_end_the_connection_once(probe: dict[str, Any]) -> None:
    for how, case in _case(probe, "server_close").items():
        assert case["messages"] == ["4before"], how
        assert case["ended"] == [probe["expected_reasons"]["closed"]], how
        assert case["task_done"], how
        assert case["send_after_end"] == "BrokenPipeError", how


def test_the_timeout_counts_from_the_last_frame_received(probe: dict[str, Any]) -> None:
    case = _case(probe, "timeout")
    assert case["ended"] == [probe["expected_reasons"]["timed_out"]]
    assert case["messages"] == ["2"]
    # 0.6 s timeout, a frame at 0.4 s: ends 0.6 s after that frame (a busy machine may fire
    # the timer late, never early).
    assert case["after_start_s"] >= 1.0, case
    assert 0.6 <= case["after_last_frame_s"] <= 3.0, case


def test_a_silent_connection_loses_both_ways_and_ends_by_its_timeout(probe: dict[str, Any]) -> None:
    case = _case(probe, "silent")
    assert case["messages"] == ["4seen"], "what arrives inside the tunnel is lost"
    assert case["peer_read"] == "", "nothing the client sends leaves the tunnel"
    assert case["ended"] == [probe["expected_reasons"]["timed_out"]], "the end of stream went unseen"
    assert 0.8 <= case["after_last_frame_s"] <= 3.0, case


def test_no_descriptor_is_left_behind(probe: dict[str, Any]) -> None:
    assert _case(probe, "fd_released")["fds_added"] <= 0


def test_frames_nobody_asks_the_arrival_of_leave_no_notes_behind(probe: dict[str, Any]) -> None:
    case = _case(probe, "unasked_stamps")
    assert case["notes_kept"] <= 2, "300 unasked frames left their arrival notes behind"
    assert case["asked_stamp_source"] == "kernel" and case["asked_stamp_after_write"], case


def test_only_plain_tcp_sockets_of_gevents_are_read_by_the_loop(probe: dict[str, Any]) -> None:
    assert _case(probe, "who_reads") == {"plain": True, "tls_gevent": False, "unpatched": False,
                                         "tls_std": False}
