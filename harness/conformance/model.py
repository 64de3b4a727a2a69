"""What a conformance check is, and what it finds.

A check has a stable id (`area.what`, kept across versions so CI history lines up), one line
that says what it proves, and the contract section it comes from. Running it gives one
`Outcome`: PASS, FAIL with evidence (what was sent, what was expected, what came back), or
SKIP with the reason it could not run on this target. Never PASS for what was not checked.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .target import Target


class Verdict(StrEnum):
    PASS = "PASS"
    FAIL = "FAIL"
    SKIP = "SKIP"


class CheckFailed(AssertionError):
    """Raised inside a check: the target departs from the contract, with the evidence."""

    def __init__(self, summary: str, *, sent: Any = None, expected: Any = None,
                 got: Any = None) -> None:
        super().__init__(summary)
        self.summary = summary
        self.sent, self.expected, self.got = sent, expected, got


class CheckSkipped(Exception):
    """Raised inside a check: it cannot run on this target (the reason says why)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


#: A check's body: it returns the one-line evidence of a pass, or raises.
CheckBody = Callable[["Target"], Awaitable[str]]


@dataclass(frozen=True)
class Check:
    id: str
    section: str
    description: str
    body: CheckBody = field(repr=False, compare=False)
    #: Speaks the target through its contract file (`--contract`): the file.* checks. The
    #: others speak shared/CONTRACT.md to the letter, and run only against our contract.
    by_file: bool = False


@dataclass
class Outcome:
    check: Check
    verdict: Verdict
    #: One line: what was seen (PASS), what went wrong (FAIL) or why it did not run (SKIP).
    evidence: str
    sent: Any = None
    expected: Any = None
    got: Any = None
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {"id": self.check.id, "section": self.check.section,
                "description": self.check.description, "verdict": self.verdict.value,
                "evidence": self.evidence, "sent": self.sent, "expected": self.expected,
                "got": self.got, "seconds": round(self.seconds, 3)}


def expect(condition: bool, summary: str, *, sent: Any = None, expected: Any = None,
           got: Any = None) -> None:
    """`assert` for checks: a CheckFailed with evidence when `condition` is false."""
    if not condition:
        raise CheckFailed(summary, sent=sent, expected=expected, got=got)
