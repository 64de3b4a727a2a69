"""The server's command line, run for real: `python -m reference_server` and `harness serve`.

Every server is a child process on loopback with a free port (`--port 0`), killed in a
`finally` (the `Child` context manager) whatever the test does.
"""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import time

import httpx
import jwt
import pytest

from harness.contract import JWT_ALGORITHM, Role
from reference_server.config import DEV_JWT_SECRET
from tests.support.child_processes import (
    HARNESS,
    LONG_SECRET,
    PYTHON,
    Child,
    child_env,
    run_to_exit,
)

READY = re.compile(r"^reference server listening on http://127\.0\.0\.1:(\d+)$")
SERVER = [PYTHON, "-m", "reference_server"]
START_TIMEOUT = 30.0


def _ready_url(child: Child) -> str:
    line = child.wait_line(lambda l: "listening on" in l, START_TIMEOUT, "the ready line")
    match = READY.match(line)
    assert match, f"ready line {line!r} does not match {READY.pattern}"
    port = int(match.group(1))
    assert 0 < port < 65536
    return f"http://127.0.0.1:{port}"


def _health(url: str) -> None:
    response = httpx.get(f"{url}/health", timeout=10)
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def _token(secret: str) -> str:
    now = int(time.time())
    claims = {"sub": "cli-test-user", "role": Role.CUSTOMER.value, "name": "CLI",
              "iat": now, "exp": now + 600}
    return jwt.encode(claims, secret, algorithm=JWT_ALGORITHM)


def _orders_status(url: str, secret: str) -> int:
    return httpx.get(f"{url}/api/orders", timeout=10,
                     headers={"Authorization": f"Bearer {_token(secret)}"}).status_code


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_serves_health_then_exits_zero_on_signal(sig: int) -> None:
    with Child([*SERVER, "--port", "0", "--jwt-secret", "X", "--password-cost", "4"]) as child:
        url = _ready_url(child)
        _health(url)
        started = time.monotonic()
        code = child.stop(sig, timeout=5.0)
        assert code == 0, f"exit code {code} after {sig!r}\n{child.describe()}"
        assert time.monotonic() - started < 5.0
        ready_lines = [l for l in child.lines() if "listening on" in l]
        assert len(ready_lines) == 1, f"expected exactly one ready line, got {ready_lines}"
        assert READY.match(ready_lines[0])


def test_harness_serve_dev_runs_the_server_and_announces_the_dev_secret() -> None:
    with Child([HARNESS, "serve", "--dev", "--port", "0", "--password-cost", "4"]) as child:
        url = _ready_url(child)
        _health(url)
        notices = [l for l in child.lines() if DEV_JWT_SECRET in l]
        assert notices, f"no notice naming the dev secret on stdout\n{child.describe()}"
        # The notice is true: tokens signed with the dev secret are accepted, others not.
        assert _orders_status(url, DEV_JWT_SECRET) == 200
        assert _orders_status(url, LONG_SECRET) == 401
        assert child.stop(signal.SIGTERM) == 0


def test_jwt_secret_from_the_environment_is_used() -> None:
    env = child_env(JWT_SECRET=LONG_SECRET)
    with Child([*SERVER, "--port", "0", "--password-cost", "4"], env=env) as child:
        url = _ready_url(child)
        _health(url)
        assert _orders_status(url, LONG_SECRET) == 200
        assert _orders_status(url, DEV_JWT_SECRET) == 401
        assert not any(DEV_JWT_SECRET in l for l in child.lines() + child.lines("stderr"))
        assert child.stop(signal.SIGTERM) == 0


def test_fault_injection_logs_a_loud_warning() -> None:
    argv = [*SERVER, "--port", "0", "--jwt-secret", LONG_SECRET, "--password-cost", "4",
            "--fault", "room_leak"]
    with Child(argv) as child:
        _ready_url(child)
        line = child.wait_line(lambda l: "FAULT" in l, 10, "a FAULT warning", stream="stderr")
        assert "room_leak" in line, line
        assert re.search(r"\b(WARNING|ERROR|CRITICAL)\b", line), f"not a warning: {line!r}"
        assert child.stop(signal.SIGTERM) == 0


CONFIG_ERRORS = {
    "no-secret": ([], ("secret",)),
    "fault-nonsense": (["--jwt-secret", LONG_SECRET, "--fault", "nonsense"], ("nonsense",)),
    "fault-drop-unknown-event": (["--jwt-secret", LONG_SECRET, "--fault", "drop=notAnEvent"],
                                 ("notAnEvent",)),
    "fault-delay-not-a-number": (["--jwt-secret", LONG_SECRET, "--fault", "delay=abc"],
                                 ("delay",)),
    "cors-star": (["--jwt-secret", LONG_SECRET, "--cors-origins", "*"], ("cors",)),
    "password-cost-99": (["--jwt-secret", LONG_SECRET, "--password-cost", "99"],
                         ("password-cost",)),
}


def _assert_one_line_config_error(result: subprocess.CompletedProcess[str],
                                   words: tuple[str, ...]) -> None:
    assert result.returncode == 2, (f"exit code {result.returncode}, want 2\n"
                                    f"stdout={result.stdout!r}\nstderr={result.stderr!r}")
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, f"want a one-line error on stderr, got {result.stderr!r}"
    assert lines[0].strip(), "empty error line"
    for word in words:
        assert word.lower() in lines[0].lower(), f"{word!r} not named in {lines[0]!r}"
    assert "listening on" not in result.stdout
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("args, words", list(CONFIG_ERRORS.values()), ids=list(CONFIG_ERRORS))
def test_bad_configuration_exits_2_with_one_line(args: list[str], words: tuple[str, ...]) -> None:
    result = run_to_exit([*SERVER, "--port", "0", *args], env=child_env())
    _assert_one_line_config_error(result, words)


def test_a_port_in_use_exits_2_with_one_line() -> None:
    taken = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        result = run_to_exit([*SERVER, "--host", "127.0.0.1", "--port", str(port),
                              "--jwt-secret", LONG_SECRET, "--password-cost", "4"])
        _assert_one_line_config_error(result, (str(port),))
    finally:
        taken.close()
