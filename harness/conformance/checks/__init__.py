"""The contract's checks, one module per area, registered in the order they run.

Each module holds the checks of one part of the contract (its docstring names the
sections). A check body takes the `Target`, returns one line of evidence on a pass, raises
`CheckFailed` (via `expect`) with what was sent, expected and got, or `CheckSkipped`.
"""

from . import transport  # noqa: F401  (the order here is the order checks run in)
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
