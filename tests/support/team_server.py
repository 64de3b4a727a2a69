"""`tests/js/team_orders.js` in child processes: a server that follows the idea of our
contract, not its letter (its contract file is `examples/team-orders.toml`)."""

from __future__ import annotations

import re
import shutil

from tests.support.child_processes import LONG_SECRET, ROOT, Child, child_env

SERVER = ROOT / "tests" / "js" / "team_orders.js"
FILE = ROOT / "examples" / "team-orders.toml"
READY = re.compile(r"^team orders listening on (http://127\.0\.0\.1:\d+)$")


class TeamServers:
    """Started on demand (`start(faults)` -> base URL), all stopped by `close()`."""

    def __init__(self) -> None:
        if shutil.which("node") is None or not (ROOT / "tests/js/node_modules/socket.io").is_dir():
            raise AssertionError("node and tests/js/node_modules are needed (make test runs npm ci)")
        self.children: list[Child] = []

    def start(self, faults: str = "", **env: str) -> str:
        child = Child(["node", str(SERVER), LONG_SECRET], env=child_env(FAULTS=faults, **env))
        self.children.append(child)
        line = child.wait_line(lambda l: "listening on" in l, 20, "the team server's ready line")
        match = READY.match(line)
        assert match, f"ready line {line!r}\n{child.describe()}"
        return match.group(1)

    def close(self) -> None:
        for child in self.children:
            child.close()
