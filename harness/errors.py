"""Every error the harness raises on purpose, in one tree (as httpx's `_exceptions.py`).

    HarnessError
    ├── ConfigError            the user's input is wrong: a command exits with EXIT_CONFIG (2)
    │   ├── ContractFileError      a contract file that cannot be used
    │   ├── ThresholdConfigError   a thresholds file that cannot be used
    │   ├── LoadConfigError        a load option that cannot be used (the Locust plugin's)
    │   ├── LoadSetupError         a load that cannot be set up (`harness load`)
    │   └── UnknownPattern         a conformance `--check` pattern that names no check
    ├── TargetError            the target did not answer, or not as its contract says
    │   ├── TargetUnreachable      no answer at all
    │   ├── HttpError              an HTTP answer with a status the caller did not expect
    │   ├── ConnectRefused         a Socket.IO connect the server refused
    │   ├── AnswerMismatch         a 2xx answer without what the contract file says it holds
    │   │   └── FileMismatch           ...as TeamClient reads it (exchange by exchange)
    │   └── CatchUpFailed          a reconnected user's catch-up read got no usable answer
    │   └── ConformanceFailure     a conformance check's failure, as a pytest item reports it
    └── RunFailure             shown in Locust's failures table for what a run judged
        ├── LedgerFailure          an event's verdict that is not `delivered`
        └── ConnectFailure         a connect that failed

`except HarnessError` catches all of them; `except ConfigError` is what a command turns
into its exit code 2. Nothing here imports a third-party library: the Locust-only classes
(a `RescheduleTask` that is also a `TargetUnreachable`) live beside the users, subclassing
these.

Not errors, so not here: the conformance checks' verdict signals (`CheckFailed`,
`CheckSkipped` in `conformance/model.py`), which end a check, not the harness.
"""

from __future__ import annotations

from typing import Any

#: The exit code of every command for a ConfigError (argparse's own for bad arguments).
EXIT_CONFIG = 2


class HarnessError(Exception):
    """The base of every error the harness raises on purpose."""


# --- the user's input -----------------------------------------------------------------------------

class ConfigError(HarnessError, ValueError):
    """The user's input cannot be used (a file, an option); the message says what to change."""


class ContractFileError(ConfigError):
    """A contract file that cannot be used; the message names the file and the key."""


class ThresholdConfigError(ConfigError):
    """A thresholds file (or table) that cannot be used."""


class LoadConfigError(ConfigError):
    """A load option that cannot be used, found by the Locust plugin (any process)."""


class LoadSetupError(ConfigError):
    """A load that cannot be set up, found by `harness load` before Locust starts."""


class UnknownPattern(ConfigError):
    """A `--check` pattern that selects no conformance check."""


# --- the target -----------------------------------------------------------------------------------

class TargetError(HarnessError):
    """The target did not answer, or answered other than its contract says."""


class TargetUnreachable(TargetError):
    """No answer at all: nothing listens at the URL, or the request timed out."""


class HttpError(TargetError):
    """An HTTP answer whose status the caller did not expect.

    `status` and `body` are the answer's; `method`, `path` and `action` (the contract file's
    action) say which request, when known; `code` and `details` come from our contract's
    JSON error body (`{"error": {"code", "details"}}`) when the answer has one."""

    def __init__(self, status: int, body: Any, *, method: str | None = None,
                 path: str | None = None, action: str | None = None) -> None:
        self.status = status
        self.body = body
        self.method = method
        self.path = path
        self.action = action
        error = body.get("error") if isinstance(body, dict) else None
        self.code: str | None = error.get("code") if isinstance(error, dict) else None
        self.details: Any = error.get("details") if isinstance(error, dict) else None
        where = f"{method} {path} -> " if method and path else "HTTP "
        super().__init__(f"{where}{status} {self.code or body!r}")


class ConnectRefused(TargetError):
    """A Socket.IO connect that failed; `message` is why: the server's own refusal (its
    `connect_error` message) when it gave one, else the client's error."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class AnswerMismatch(TargetError):
    """A 2xx answer without what the contract file says it holds (an answer a run cannot use)."""


class FileMismatch(AnswerMismatch):
    """The target answered other than the contract file says (TeamClient's exchanges)."""


class CatchUpFailed(TargetError):
    """A reconnected user's catch-up read got no usable answer."""


class ConformanceFailure(TargetError):
    """A conformance check found the target departing from its contract (the pytest plugin)."""


# --- what a run judged ----------------------------------------------------------------------------

class RunFailure(HarnessError):
    """Shown in Locust's failures table (Locust groups failures by their exception)."""


class LedgerFailure(RunFailure):
    """An event's verdict that is not `delivered` (missing, leaked, duplicate, ...)."""


class ConnectFailure(RunFailure):
    """A connect that failed (the server's refusal, or the client's error)."""


__all__ = [
    "EXIT_CONFIG",
    "AnswerMismatch",
    "CatchUpFailed",
    "ConfigError",
    "ConformanceFailure",
    "ConnectFailure",
    "ConnectRefused",
    "ContractFileError",
    "FileMismatch",
    "HarnessError",
    "HttpError",
    "LedgerFailure",
    "LoadConfigError",
    "LoadSetupError",
    "RunFailure",
    "TargetError",
    "TargetUnreachable",
    "ThresholdConfigError",
    "UnknownPattern",
]
