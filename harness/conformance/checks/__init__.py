"""The contract's checks, one module per area, registered in the order they run.

Each module holds the checks of one part of the contract (its docstring names the
sections). A check body takes the `Target`, returns one line of evidence on a pass, raises
`CheckFailed` (via `expect`) with what was sent, expected and got, or `CheckSkipped`.
"""

# ruff: noqa: I001  (the order of these imports is the order the checks run in)
from . import transport  # noqa: F401  (each module registers its checks)
from . import auth  # noqa: F401
from . import cors  # noqa: F401
from . import rooms  # noqa: F401
from . import routing  # noqa: F401
from . import ordering  # noqa: F401
from . import statuses  # noqa: F401
from . import transitions  # noqa: F401
from . import http_errors  # noqa: F401
from . import client_events  # noqa: F401
from . import bypass  # noqa: F401
from . import by_file  # noqa: F401  (with a contract file only)
