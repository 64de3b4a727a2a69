"""Issue 9 A: a load run that did no work never passes, and says why in a line a person reads.

The target is a "foreign backend": an order service whose routes or auth differ from the
contract (test scaffolding, not the product). It is this very module run as a child process
(`python -m tests.load.test_no_false_pass MODE`: aiohttp and python-socketio on loopback,
nothing of the harness), in one of these modes:

- `foreign`: `POST /api/auth/register` answers 404 (its routes differ) and every socket
  connect is refused with `Authentication error`;
- `sockets-refused`: registration works, every socket connect is refused;
- `register-once`: the first registration works (the pre-flight's), later ones answer 404;
- `sockets-once`: registration works, the first socket connect (the pre-flight's) is
  accepted, later ones are refused.

The last two get past the pre-flight, so the run itself must fail with its own verdict.
"""

from __future__ import annotations

import json
import re
import socket
import sys
import time
from pathlib import Path
from typing import Any, Iterator

import pytest

REFUSAL = "Authentication error"
MODES = ("foreign", "sockets-refused", "register-once", "sockets-once")


# --- the foreign backend (runs in its own process) ------------------------------------------------------

def serve(mode: str) -> None:
    import jwt
    import socketio
    from aiohttp import web

    counts = {"register": 0, "connect": 0}
    sio = socketio.AsyncServer(async_mode="aiohttp", cors_allowed_origins="*", logger=False,
                               engineio_logger=False)

    @sio.event
    async def connect(sid: str, environ: Any, auth: Any = None) -> None:
        counts["connect"] += 1
        if mode in ("foreign", "sockets-refused") or (mode == "sockets-once" and counts["connect"] > 1):
            raise socketio.exceptions.ConnectionRefusedError(REFUSAL)

    async def health(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def register(request: web.Request) -> web.Response:
        counts["register"] += 1
        if mode == "foreign" or (mode == "register-once" and counts["register"] > 1):
            return web.json_response({"error": "no such route"}, status=404)
        body = await request.json()
        user_id = f"u{counts['register']}"
        now = int(time.time())
        token = jwt.encode({"sub": user_id, "role": body.get("role"), "iat": now,
                            "exp": now + 3600}, "foreign-secret", algorithm="HS256")
        return web.json_response({"token": token, "user": {"id": user_id, "name": body.get("name"),
                                                           "email": body.get("email"),
                                                           "role": body.get("role")}},
                                 status=201)

    app = web.Application()
    app.router.add_get("/health", health)
    if mode != "foreign":
        app.router.add_post("/api/auth/register", register)
    sio.attach(app, socketio_path="socket.io")
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    print(f"foreign backend listening on http://127.0.0.1:{sock.getsockname()[1]}", flush=True)
    web.run_app(app, sock=sock, print=None, handle_signals=True)


if __name__ == "__main__":
    serve(sys.argv[1])
    sys.exit(0)


# --- the tests ------------------------------------------------------------------------------------------

from tests.support.child_processes import HARNESS, LONG_SECRET, PYTHON, Child, run_to_exit  # noqa: E402



@pytest.fixture
def backend(request: pytest.FixtureRequest) -> Iterator[str]:
    mode = request.param
    with Child([PYTHON, "-m", "tests.load.test_no_false_pass", mode]) as child:
        line = child.wait_line(lambda l: "listening on" in l, 30, "the foreign backend's ready line")
        yield line.rsplit(" ", 1)[1]


def _load(target: str, folder: Path, *extra: str, users: int = 12,
          duration: str = "3") -> Any:
    argv = [HARNESS, "load", "--target", target, "--scenario", "lifecycle", "--users", str(users),
            "--spawn-rate", str(users), "--duration", duration, "--think-time", "0.05-0.2",
            "--event-timeout", "2", "--no-witness", "--report-dir", str(folder), *extra]
    return run_to_exit(argv, timeout=120)


def _one_line_exit_2(result: Any, *words: str) -> str:
    assert result.returncode == 2, (result.returncode, result.stdout[-2000:], result.stderr[-2000:])
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for word in words:
        assert word in lines[0], (word, lines[0])
    assert "Traceback" not in result.stderr + result.stdout
    assert "harness: run " not in result.stdout, "the load started"
    return lines[0]


@pytest.mark.parametrize("backend", ["foreign"], indirect=True)
def test_a_target_whose_registration_answers_404_is_refused_before_the_load(
        backend: str, tmp_path: Path) -> None:
    line = _one_line_exit_2(_load(backend, tmp_path / "run"), "does not speak", "HTTP 404",
                            "POST /api/auth/register")
    assert not (tmp_path / "run" / "report.json").exists()
    # --tokens mint registers no customers, but drivers are registered all the same.
    _one_line_exit_2(_load(backend, tmp_path / "mint", "--tokens", "mint", "--jwt-secret",
                           LONG_SECRET), "HTTP 404", "POST /api/auth/register")
    print(line)


@pytest.mark.parametrize("backend", ["sockets-refused"], indirect=True)
def test_a_target_that_refuses_the_socket_is_refused_before_the_load(backend: str,
                                                                     tmp_path: Path) -> None:
    for extra in ((), ("--tokens", "mint", "--jwt-secret", LONG_SECRET)):
        line = _one_line_exit_2(_load(backend, tmp_path / "run", *extra),
                                "refused the socket connect", REFUSAL)
        print(line)


def _report(folder: Path) -> dict[str, Any]:
    return json.loads((folder / "report.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("backend", ["register-once"], indirect=True)
def test_a_run_where_no_user_could_start_fails_with_its_own_verdict(backend: str,
                                                                    tmp_path: Path) -> None:
    folder = tmp_path / "run"
    result = _load(backend, folder)
    out = result.stdout
    assert result.returncode == 1, (result.returncode, out[-3000:], result.stderr[-3000:])
    assert "PASS" not in out
    why = "no user could start: 12 of 12 failed to register: HTTP 404 on POST /api/auth/register"
    assert f"harness: FAIL: {why}" in out, out[-3000:]
    assert f"FAIL (NO WORK DONE): {why}" in out, out[-3000:]
    # One line per kind of failure, not a traceback per user.
    assert "Traceback" not in out + result.stderr, (out + result.stderr)[-3000:]
    logged = [l for l in (out + result.stderr).splitlines() if "could not start" in l
              and "harness: a " in l]
    assert len(logged) <= 3, logged  # at most one per role and kind
    report = _report(folder)
    assert report["user_starts"] == {"attempted": 12, "started": 0, "failed": {
        "failed to register: HTTP 404 on POST /api/auth/register": 12}}
    assert report["http"]["requests"] == report["http"]["failed"] == 12
    failed = {v["key"]: v for v in report["thresholds"] if not v["passed"]}
    assert {"run.did_work", "run.users_started", "http_failure_ratio"} <= set(failed), failed
    assert "no connections" in failed["run.did_work"]["message"]
    assert "no orders placed" in failed["run.did_work"]["message"]
    assert "no event expected" in failed["run.did_work"]["message"]
    html = (folder / "report.html").read_text(encoding="utf-8")
    banner = html[html.index('id="verdict"'):][:3000]
    assert "FAIL (no work done)" in banner and why in banner, banner
    assert why in (folder / "report.md").read_text(encoding="utf-8")


_LOCUST_ROW = re.compile(r"^\s*connect\s+connect\s+(\d+)\s+(\d+)\(", re.M)


@pytest.mark.parametrize("backend", ["sockets-once"], indirect=True)
def test_refused_connects_carry_the_servers_reason_and_are_locust_failures(
        backend: str, tmp_path: Path) -> None:
    folder = tmp_path / "run"
    result = _load(backend, folder, "--tokens", "mint", "--jwt-secret", LONG_SECRET)
    out = result.stdout
    assert result.returncode == 1, (result.returncode, out[-3000:], result.stderr[-3000:])
    report = _report(folder)
    reason = f"refused by the server: {REFUSAL}"
    assert report["connections"]["succeeded"] == 0
    assert report["connections"]["failed"] == {reason: 12}, report["connections"]
    assert report["user_starts"]["failed"] == {f"socket connect failed: {reason}": 12}
    assert "One or more namespaces failed to connect" not in out + json.dumps(report)
    row = _LOCUST_ROW.search(out + result.stderr)  # Locust's own table
    assert row is not None, (out + result.stderr)[-3000:]
    assert int(row.group(1)) == int(row.group(2)) == 12, row.group(0)
    assert f"harness: FAIL: no user could start: 12 of 12 socket connect failed: {reason}" in out
    ratio = next(v for v in report["thresholds"] if v["key"] == "connect_failure_ratio")
    assert ratio["value"] == 1 and not ratio["passed"]
