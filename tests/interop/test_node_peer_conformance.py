"""The conformance checks against a Node.js server written with the real `socket.io` 4.x
(`tests/js/auth_peer.js`: transport, authentication and CORS, no orders): they hold against
the server most teams run, and they catch the classic Node mistake of not checking `exp`."""

from __future__ import annotations

import json
import shutil
import subprocess
from typing import Any, Iterator

import pytest

from tests.support.child_processes import HARNESS, LONG_SECRET, ROOT, Child, kill_tree, popen

PEER = ROOT / "tests" / "js" / "auth_peer.js"
ORIGIN = "http://app.example"
#: Every check of the three areas the peer implements (the last auth check needs orders).
ONLY = ",".join(["transport.*", "cors.*", "auth.valid_token", "auth.http.*", "auth.forged_and_expired"]
                + [f"auth.socket.{k}" for k in ("missing", "garbage", "forged", "alg_none",
                                                "other_alg", "expired", "no_exp", "unknown_role")])
EXP_CHECKS = {"auth.http.expired", "auth.socket.expired", "auth.http.no_exp", "auth.socket.no_exp"}


@pytest.fixture(scope="module")
def verdicts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, tuple[int, dict[str, str]]]]:
    """Both peers (as written, and ignoring `exp`) checked at once: they wait on the network."""
    if shutil.which("node") is None or not (ROOT / "tests/js/node_modules/socket.io").is_dir():
        raise AssertionError("node and tests/js/node_modules are needed (make test runs npm ci)")
    peers = {name: Child(["node", str(PEER), LONG_SECRET, ORIGIN, *flaw])
             for name, flaw in (("clean", ()), ("ignore-exp", ("ignore-exp",)))}
    runs: dict[str, Any] = {}  # name -> (the conformance process, its report folder)
    try:
        for name, child in peers.items():
            url = child.wait_line(lambda l: "listening on" in l, 20, "the peer's ready line")
            folder = tmp_path_factory.mktemp(name) / "conf"
            argv = [HARNESS, "conformance", "--target", url.rsplit(" ", 1)[-1].strip(),
                    "--jwt-secret", LONG_SECRET, "--origin", ORIGIN, "--only", ONLY,
                    "--report-dir", str(folder)]
            runs[name] = (popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL), folder)
        out = {}
        for name, (proc, folder) in runs.items():
            code = proc.wait(timeout=120)
            doc = json.loads((folder / "conformance.json").read_text())
            out[name] = (code, {c["id"]: c["verdict"] for c in doc["checks"]})
        yield out
    finally:
        for proc, _ in runs.values():
            kill_tree(proc)
        for child in peers.values():
            child.close()


def test_transport_auth_and_cors_checks_pass_against_a_node_socket_io_server(verdicts) -> None:
    code, found = verdicts["clean"]
    assert code == 0 and set(found.values()) == {"PASS"}, found
    assert len(found) >= 27, found


def test_a_node_server_that_ignores_exp_fails_exactly_the_exp_checks(verdicts) -> None:
    code, found = verdicts["ignore-exp"]
    assert code == 1, found
    assert {k for k, v in found.items() if v == "FAIL"} == EXP_CHECKS, found
