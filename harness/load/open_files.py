"""The open files a Locust process of `harness load` needs, and the limit it runs under.

Every held user is a socket, an open file. A process at its limit cannot connect its next
user (`Too many open files`), nor open the harness's own files, /proc, or a module: its
report is then at risk, and Locust's own monitor dies. Locust raises the soft limit to
10,000 at most, which a 12,000-user process outgrows on a machine whose hard limit would
have allowed it. So, before any Locust process starts, this command (whose limits they
inherit):

* refuses, in one line, a run whose users per process could not all hold a socket under the
  hard limit, and says how many workers would do;
* raises the soft limit to what the run may need, up to the hard one;
* says so when the run may need more than that (a user's socket plus an HTTP call in flight,
  each), so that a run whose users then fail with `Too many open files` was warned.
"""

from __future__ import annotations

import math
import resource
from dataclasses import dataclass, field

from ..errors import LoadSetupError

#: Open files a Locust process needs for itself: its modules while importing, the report and
#: its checkpoints, /proc for its health, Locust's own, the witness's pipes.
RESERVE = 128
#: Sockets per held user: a websocket; on long-polling, the held GET and the POSTs beside it.
SOCKETS_PER_USER = {"websocket": 1, "polling": 2, "upgrade": 2}
#: The HTTP connections a process holds at most, shared by its users (http_pool.py, which
#: says why this many). Here, for this module loads neither gevent nor Locust: the command
#: side reads it before any Locust process starts.
HTTP_CONNECTIONS_MAX = 1024


@dataclass(frozen=True)
class OpenFiles:
    """What one Locust process of the run needs: `least` (every user's socket), `most` (and
    an HTTP call in flight for each, up to the shared pool's bound)."""

    users: int
    least: int
    most: int
    #: The run's users, and its transport's sockets per user: what the refusal says fits.
    run_users: int = field(default=0, compare=False)
    sockets_per_user: int = field(default=1, compare=False)

    @classmethod
    def of(cls, users: int, workers: int, transport: str) -> OpenFiles:
        per_process = math.ceil(users / max(1, workers))
        per_user = SOCKETS_PER_USER.get(transport, 2)
        sockets = per_process * per_user
        return cls(per_process, sockets + RESERVE,
                   sockets + min(per_process, HTTP_CONNECTIONS_MAX) + RESERVE, users, per_user)


def provide(needs: OpenFiles) -> str | None:
    """Raise this process's soft limit for what `needs` (its children inherit it). Raises
    LoadSetupError when the hard limit is below `needs.least`; returns a note when it is
    below `needs.most`, else None."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    ceiling = math.inf if hard == resource.RLIM_INFINITY else hard
    if needs.least > ceiling:
        per_user = needs.sockets_per_user
        fits = max(1, (int(ceiling) - RESERVE) // per_user)
        workers = math.ceil(needs.run_users / fits)
        raise LoadSetupError(
            f"{needs.users} users in one Locust process need at least {needs.least} open files "
            f"({'a socket' if per_user == 1 else f'{per_user} sockets'} each, and {RESERVE} for "
            f"the process), and this machine allows {hard} (ulimit -Hn): run them with "
            f"--workers {workers} or more, or raise the limit")
    wanted = needs.most if needs.most <= ceiling else int(ceiling)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
        except (OSError, ValueError) as exc:  # e.g. above the kernel's fs.nr_open
            return (f"could not raise the open-file limit from {soft} to {wanted} ({exc}): "
                    f"if users fail with 'Too many open files', add --workers")
    if needs.most > ceiling:
        return (f"{needs.users} users in one Locust process may need up to {needs.most} open "
                f"files (a socket each, and an HTTP call in flight each) and the limit is "
                f"{hard}: if users fail with 'Too many open files', add --workers")
    return None
