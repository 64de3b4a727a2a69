"""`harness load` and the open-file limit its Locust processes inherit (harness/load/open_files.py).

Each case runs in a process of its own: limits once lowered cannot be raised again without
privileges, and the test process keeps its own.
"""

from __future__ import annotations

import resource
import subprocess
import sys
from collections.abc import Callable

from harness.load.open_files import HTTP_CONNECTIONS_MAX, RESERVE, OpenFiles
from tests.support.child_processes import child_env

def _limited(soft: int, hard: int) -> Callable[[], None]:
    return lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def _python(code: str, soft: int, hard: int) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          preexec_fn=_limited(soft, hard), env=child_env(), timeout=60)


def test_a_process_needs_a_socket_per_user_and_its_own_reserve() -> None:
    assert OpenFiles.of(1000, 0, "websocket") == OpenFiles(1000, 1000 + RESERVE, 2000 + RESERVE)
    # Workers share the users; long-polling holds two sockets a user.
    assert OpenFiles.of(1000, 4, "polling") == OpenFiles(250, 500 + RESERVE, 750 + RESERVE)
    # HTTP calls in flight are bounded by the shared pool, however many users.
    many = OpenFiles.of(20000, 0, "websocket")
    assert many.most == 20000 + HTTP_CONNECTIONS_MAX + RESERVE


PROVIDE = ("import resource; from harness.load.open_files import OpenFiles, provide; "
           "note = provide(OpenFiles.of({users}, 0, 'websocket')); "
           "print(resource.getrlimit(resource.RLIMIT_NOFILE)[0]); print(note)")


def test_the_soft_limit_is_raised_to_what_the_run_may_need() -> None:
    out = _python(PROVIDE.format(users=300), 100, 800)
    assert out.returncode == 0, out.stderr
    soft, note = out.stdout.split("\n", 1)
    assert int(soft) == 600 + RESERVE and note.strip() == "None"


def test_short_of_the_most_the_limit_is_raised_to_the_hard_one_with_a_note() -> None:
    out = _python(PROVIDE.format(users=300), 100, 600)
    assert out.returncode == 0, out.stderr
    soft, note = out.stdout.split("\n", 1)
    assert int(soft) == 600
    assert f"may need up to {600 + RESERVE} open files" in note and "--workers" in note, note


def test_users_that_cannot_all_hold_a_socket_are_refused_in_one_line_naming_the_workers() -> None:
    # The refusal comes before the target is looked at (nothing listens on port 9).
    argv = [sys.executable, "-m", "harness", "load", "--target", "http://127.0.0.1:9",
            "--users", "500", "--duration", "5"]
    out = subprocess.run(argv, capture_output=True, text=True, preexec_fn=_limited(200, 200),
                         env=child_env(), timeout=60)
    assert out.returncode == 2, (out.stdout, out.stderr)
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    # (200 - 128) users fit in one process: 500 need 7 workers.
    assert "need at least 628 open files" in lines[0] and "--workers 7" in lines[0], lines[0]


def test_every_payload_validator_is_compiled_before_any_event() -> None:
    """Compiled on first use, a validator imports a codec: in a process out of open files the
    event's handler failed (harness/load/spare_files.py preloads them)."""
    from harness.contract import validation

    validation.compile_all()
    compiled = {id(schema) for schema, _ in validation._compiled.values()}
    schemas = [*validation.EVENT_PAYLOADS.values(), *validation.STATED_PAYLOADS.values()]
    assert schemas and all(id(schema) in compiled for schema in schemas)


def test_a_limit_that_cannot_be_raised_is_said_and_the_run_goes_on() -> None:
    code = ("import resource\n"
            "def refuse(*args): raise ValueError('not allowed')\n"
            "resource.setrlimit = refuse\n" + PROVIDE.format(users=300).replace("; ", "\n"))
    out = _python(code, 100, 800)
    assert out.returncode == 0, out.stderr
    soft, note = out.stdout.split("\n", 1)
    assert int(soft) == 100
    assert "could not raise the open-file limit from 100 to 728" in note and "--workers" in note, note
