"""The contract's checks, one module per area, registered in the order they run.

Each module holds the checks of one part of the contract (its docstring names the
sections). A check body takes the `Target`, returns one line of evidence on a pass, raises
`CheckFailed` (via `expect`) with what was sent, expected and got, or `CheckSkipped`.
"""

# Each module registers its checks on import (nothing here is used by name: F401), and the
# order of these imports is the order the checks run in (not sorted: I001).
# ruff: noqa: F401, I001
from . import transport
from . import auth
from . import cors
from . import rooms
from . import routing
from . import ordering
from . import statuses
from . import transitions
from . import http_errors
from . import client_events
from . import bypass
from . import by_file  # (with a contract file only)
