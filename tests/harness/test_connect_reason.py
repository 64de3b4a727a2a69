"""A connect that fails below the handshake says why: the OS error, not python-engineio's bare
"Connection error" (found at 20,000 users, where 1,118 connects failed with only that)."""

from __future__ import annotations

import sys
import textwrap

from tests.support.child_processes import free_port, run_to_exit

SCRIPT = textwrap.dedent('''
    import sys
    from gevent import monkey; monkey.patch_all()
    import socketio
    from harness.load.disruption import CuttableClient
    sio = CuttableClient(reconnection=False)
    try:
        sio.connect(sys.argv[1], transports=["websocket"], wait_timeout=2)
    except socketio.exceptions.ConnectionError as exc:
        print("REASON", exc)
''')


def test_a_refused_tcp_connect_names_the_os_error() -> None:
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    result = run_to_exit([sys.executable, "-c", SCRIPT, url], timeout=60)
    reasons = [line for line in result.stdout.splitlines() if line.startswith("REASON ")]
    assert reasons, result.stdout + result.stderr
    assert "Connection error" in reasons[0] and "Connection refused" in reasons[0], reasons[0]
