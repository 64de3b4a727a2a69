"""Every check, in the order they run, registered by the `@check` decorator.

The check modules (`harness.conformance.checks.*`) register on import; `all_checks()`
imports them. `select()` keeps the checks whose id matches `--only` (shell patterns,
comma-separated: `auth.*,rooms.join.*`).
"""

from __future__ import annotations

from collections.abc import Callable
from fnmatch import fnmatchcase

from ..errors import UnknownPattern
from .model import Check, CheckBody

_CHECKS: dict[str, Check] = {}


def check(id: str, section: str, description: str, *,
          by_file: bool = False) -> Callable[[CheckBody], CheckBody]:
    """Register a check body under a stable id (a duplicate id is a programming error)."""

    def register(body: CheckBody) -> CheckBody:
        if id in _CHECKS:
            raise ValueError(f"conformance check {id!r} registered twice")
        _CHECKS[id] = Check(id, section, description, body, by_file)
        return body

    return register


def all_checks(*, by_file: bool = False) -> list[Check]:
    """Every check of a run: against our contract, the letter-of-the-contract ones; with a
    contract file (`by_file`), every one (the runner skips those the file cannot drive)."""
    from . import checks  # noqa: F401, PLC0415  (registers every check; they import this module)

    return [c for c in _CHECKS.values() if by_file or not c.by_file]




def select(checks: list[Check], only: str | None) -> list[Check]:
    if not only:
        return checks
    patterns = [p.strip() for p in only.split(",") if p.strip()]
    chosen = [c for c in checks if any(fnmatchcase(c.id, p) for p in patterns)]
    if not chosen:
        raise UnknownPattern(f"--only {only!r} matches no check (see `harness conformance --list`)")
    return chosen
