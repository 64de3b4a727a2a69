"""Fault injection: a server known to be wrong in exactly one way, to prove the harness.

Off by default. Each name changes exactly what it says (README, "Faults"):
`room_leak`, `drop=<event>`, `duplicate=<event>`, `delay=<ms>`, `reorder`, `legacy_status`,
`join_idor`; and two that break no rule, to prove that the harness blames the server for
nothing a slow one does: `slow_request=<ms>` (a request that changes an order, HTTP or a
location report, is held that long before the change is made: its events go out late after
the request), `slow_answer=<ms>` (an order change is made and its events pushed at once, its
HTTP answer or ack comes late). Sign-up and sign-in are never held.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

from harness.contract import LEGACY_STATUSES, Event, Status

FAULT_NAMES = ("room_leak", "drop=<event>", "duplicate=<event>", "delay=<ms>", "reorder",
               "legacy_status", "join_idor", "slow_request=<ms>", "slow_answer=<ms>")

#: What `legacy_status` stores for a new order: the legacy value that `pending` replaced.
LEGACY_NEW_ORDER_STATUS = next(old for old, new in LEGACY_STATUSES.items() if new == (Status.PENDING,))

#: `reorder` holds a status event to a customer room this long, waiting for a later change.
REORDER_WINDOW_S = 0.050


_T = TypeVar("_T")


class FaultError(ValueError):
    """A `--fault` value that names no fault."""


@dataclass(frozen=True)
class Faults:
    room_leak: bool = False
    drop: frozenset[Event] = field(default_factory=frozenset)
    duplicate: frozenset[Event] = field(default_factory=frozenset)
    delay_ms: int = 0
    reorder: bool = False
    legacy_status: bool = False
    join_idor: bool = False
    slow_request_ms: int = 0
    slow_answer_ms: int = 0

    @property
    def any(self) -> bool:
        return self != Faults()

    async def slow_change(self, handle: Callable[[], Awaitable[_T]],
                          made: Callable[[_T], bool]) -> _T:
        """Handle one change request (HTTP or a location report) with the `slow_request` and
        `slow_answer` faults: held before it is handled, and its answer held once `made`
        says the change was stored (its events are out by then)."""
        if self.slow_request_ms:
            await asyncio.sleep(self.slow_request_ms / 1000.0)
        answer = await handle()
        if self.slow_answer_ms and made(answer):
            await asyncio.sleep(self.slow_answer_ms / 1000.0)
        return answer

    def describe(self) -> list[str]:
        parts = [name for name in ("room_leak", "reorder", "legacy_status", "join_idor")
                 if getattr(self, name)]
        parts += [f"drop={e.value}" for e in sorted(self.drop)]
        parts += [f"duplicate={e.value}" for e in sorted(self.duplicate)]
        if self.delay_ms:
            parts.append(f"delay={self.delay_ms}")
        if self.slow_request_ms:
            parts.append(f"slow_request={self.slow_request_ms}")
        if self.slow_answer_ms:
            parts.append(f"slow_answer={self.slow_answer_ms}")
        return parts


def _event(value: str, spec: str) -> Event:
    try:
        return Event(value)
    except ValueError:
        known = ", ".join(e.value for e in Event)
        raise FaultError(f"unknown event in --fault {spec!r} (events: {known})") from None


def parse_faults(specs: list[str]) -> Faults:
    """`--fault` values (repeatable) to one `Faults`; anything unknown is a FaultError."""
    flags: dict[str, bool] = {}
    drop: set[Event] = set()
    duplicate: set[Event] = set()
    ms = {"delay": 0, "slow_request": 0, "slow_answer": 0}
    for spec in specs:
        name, _, value = spec.strip().partition("=")
        if name in ("room_leak", "reorder", "legacy_status", "join_idor") and not value:
            flags[name] = True
        elif name == "drop" and value:
            drop.add(_event(value, spec))
        elif name == "duplicate" and value:
            duplicate.add(_event(value, spec))
        elif name in ms and value:
            try:
                ms[name] = int(value)
            except ValueError:
                raise FaultError(f"--fault {spec!r}: {name} takes whole milliseconds") from None
            if not 0 < ms[name] <= 60_000:
                raise FaultError(f"--fault {spec!r}: {name} must be 1..60000 ms")
        else:
            raise FaultError(f"unknown fault {spec!r} (faults: {', '.join(FAULT_NAMES)})")
    return Faults(drop=frozenset(drop), duplicate=frozenset(duplicate), delay_ms=ms["delay"],
                  slow_request_ms=ms["slow_request"], slow_answer_ms=ms["slow_answer"], **flags)
