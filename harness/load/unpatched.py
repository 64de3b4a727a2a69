"""The standard library's own objects, where gevent's monkey-patching (in a Locust process)
replaced them: a native thread, epoll, an `os.close` that closes now.

gevent patches threads into greenlets, hides epoll, and defers `os.close` of anything but a
regular file to its loop's next turn (so that a watcher still on the descriptor cannot see
it reused): right for sockets, wrong for a descriptor that must be free at once.
"""

from __future__ import annotations

import sys
from typing import Any


def original(module: str, name: str) -> Any:
    """`module.name` as the standard library has it; outside a gevent process, the module's
    own (and gevent stays unimported)."""
    monkey = sys.modules.get("gevent.monkey")
    if monkey is not None:
        return monkey.get_original(module, name)
    return getattr(__import__(module), name)
