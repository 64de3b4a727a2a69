"""The witness's books: its receipts beside the users', paired event by event.

A tab of the witness mirrors some of the run's sockets: the store-owner tab every store
owner's (they all receive the same events), a customer's or driver's tab that user's own.
An event is the same event when its name and ledger key match (`key_of`: the order and its
version, or a location report's coordinates), which is what `eventId` would say on a server
that has it. For each pair, the user's receipt time minus the witness's is the delay the
generator added: a negative one (the user's frame was stamped by the kernel before the
witness's handler ran) counts as none. Both times are wall-clock ms of this machine: the
witness runs where the books are kept, and users on other machines need NTP-synchronised
clocks, as the rest of the books do.

Figures go into the run's `LatencyBook` under `witness.<event>.added_delay` and
`witness.<event>.emit_to_delivery` (the witness's own, corrected by its clock offset), so
they merge, plot and reach Locust's statistics like every other figure.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..latency import LatencyBook

PREFIX = "witness."
ADDED_DELAY = "added_delay"
EMIT_TO_DELIVERY = "emit_to_delivery"
#: The users' emit-to-delivery of the events the witness also received (the same events,
#: so the two figures compare like with like; the run's own figure covers every event).
USERS_EMIT_TO_DELIVERY = "users_emit_to_delivery"
#: The witness's emit-to-delivery once per paired user receipt: the users' figure's weights.
#: A store-owner event reaches every store owner but the witness's tab once, so the
#: witness's own figure counts a slow event once where the users' counts it per owner; set
#: beside the users' p99, only this one says what the generator added.
PAIRED_EMIT_TO_DELIVERY = "paired_emit_to_delivery"
#: The added delay over every event type, recorded as it is paired.
ALL_ADDED_DELAY = f"{PREFIX}{ADDED_DELAY}"
#: The store-owner tab's id: it mirrors every store owner's socket.
STORE_OWNER_TAB = "store_owner"
#: The default bound on the added delay's p99 (thresholds key `witness.added_delay.p99_ms`).
DEFAULT_BOUND_MS = 10.0

_Match = tuple[str, str, tuple[Any, ...]]  # (tab, event, key)


def figure_name(event: str, what: str) -> str:
    return f"{PREFIX}{event}.{what}"


@dataclass
class TabState:
    role: str
    mirrors: set[str] = field(default_factory=set)
    connected: bool = False
    up: bool = False
    error: str | None = None
    received: int = 0


@dataclass
class EventCounts:
    witnessed: int = 0
    matched: int = 0


class WitnessBook:
    """Pairs users' receipts with the witness's; `record` takes (figure, ms, wall s)."""

    def __init__(self, book: LatencyBook, *, horizon_ms: float = 60_000.0,
                 fire: Callable[[str, float], None] | None = None) -> None:
        self.book = book
        self.horizon_ms = horizon_ms
        self._fire = fire
        self.tabs: dict[str, TabState] = {}
        self._tab_of: dict[str, str] = {}
        #: (tab, event, key) -> the witness's receipt time and the event's `emittedAt`.
        self._witnessed: OrderedDict[_Match, tuple[float, float | None]] = OrderedDict()
        #: (tab, event, key) -> users' receipt times not yet paired, oldest first.
        self._waiting: OrderedDict[_Match, list[float]] = OrderedDict()
        self.counts: dict[str, EventCounts] = {}
        self.offset_ms: float | None = None
        #: None until the witness has asked; False when the target has no `time_sync`.
        self.time_sync: bool | None = None
        self.min_added_ms: float | None = None
        #: Whether the witness process runs at a raised priority (None: not heard yet).
        self.priority_raised: bool | None = None

    # --- who mirrors whom ------------------------------------------------------------------------

    def open_tab(self, tab: str, role: str) -> None:
        self.tabs.setdefault(tab, TabState(role))

    def mirror(self, tab: str, socket_id: str) -> None:
        """`socket_id` (a user's socket in the books) is in the same rooms as `tab`."""
        self.open_tab(tab, self.tabs[tab].role if tab in self.tabs else "")
        self.tabs[tab].mirrors.add(socket_id)
        self._tab_of[socket_id] = tab

    def mirrored(self, socket_id: str) -> bool:
        return socket_id in self._tab_of

    # --- what the witness says ---------------------------------------------------------------------

    def fact(self, fact: dict[str, Any]) -> None:
        """One line of the witness process (see process.py)."""
        if "priority_raised" in fact:
            self.priority_raised = bool(fact["priority_raised"])
            return
        if "clock" in fact:
            clock = fact["clock"]
            self.time_sync = isinstance(clock, dict)
            if isinstance(clock, dict):
                self.offset_ms = float(clock["offset_ms"])
            return
        tab = str(fact.get("tab"))
        state = self.tabs.get(tab)
        if state is None:
            return
        if "up" in fact:
            state.up = state.connected = True
        elif "down" in fact:
            state.up = False
        elif "error" in fact:
            state.error = str(fact["error"])
        elif "e" in fact:
            state.received += 1
            key = fact.get("k")
            self.witnessed(tab, str(fact["e"]), tuple(key) if isinstance(key, list) else None,
                           float(fact["t"]), fact.get("em"))

    def witnessed(self, tab: str, event: str, key: tuple[Any, ...] | None, t_ms: float,
                  emitted: Any) -> None:
        counts = self.counts.setdefault(event, EventCounts())
        counts.witnessed += 1
        if isinstance(emitted, (int, float)) and self.offset_ms is not None:
            self._record(figure_name(event, EMIT_TO_DELIVERY), t_ms + self.offset_ms - emitted, t_ms)
        if key is None:
            return
        match = (tab, event, key)
        seen = (t_ms, float(emitted) if isinstance(emitted, (int, float)) else None)
        self._witnessed[match] = seen
        for user_ms in self._waiting.pop(match, []):
            self._pair(event, user_ms, seen)

    # --- what the users say ------------------------------------------------------------------------

    def user_receipt(self, socket_id: str, event: str, key: tuple[Any, ...], t_ms: float) -> None:
        """A user's first receipt of an event (the ledger's `Receipt`)."""
        tab = self._tab_of.get(socket_id)
        if tab is None:
            return
        match = (tab, event, key)
        seen = self._witnessed.get(match)
        if seen is not None:
            self._pair(event, t_ms, seen)
        else:
            self._waiting.setdefault(match, []).append(t_ms)

    def _pair(self, event: str, user_ms: float, seen: tuple[float, float | None]) -> None:
        witness_ms, emitted = seen
        added = user_ms - witness_ms
        self.counts.setdefault(event, EventCounts()).matched += 1
        self.min_added_ms = added if self.min_added_ms is None else min(self.min_added_ms, added)
        self._record(figure_name(event, ADDED_DELAY), max(0.001, added), user_ms)  # 1 µs: none
        self.book.record(ALL_ADDED_DELAY, max(0.001, added), user_ms / 1000.0)
        if emitted is not None and self.offset_ms is not None:
            self._record(figure_name(event, USERS_EMIT_TO_DELIVERY),
                         user_ms + self.offset_ms - emitted, user_ms)
            self._record(figure_name(event, PAIRED_EMIT_TO_DELIVERY),
                         witness_ms + self.offset_ms - emitted, user_ms)

    def _record(self, name: str, ms: float, at_ms: float) -> None:
        self.book.record(name, ms, at_ms / 1000.0)
        if self._fire is not None:
            self._fire(name, ms)

    def expire(self, now_ms: float) -> None:
        """Forget what can no longer be paired (memory stays bounded on long runs)."""
        horizon = now_ms - self.horizon_ms
        while self._witnessed:
            _match, (t, _) = next(iter(self._witnessed.items()))
            if t >= horizon:
                break
            self._witnessed.popitem(last=False)
        while self._waiting:
            _match, times = next(iter(self._waiting.items()))
            if times and times[0] >= horizon:
                break
            self._waiting.popitem(last=False)

    # --- the report --------------------------------------------------------------------------------

    def figure(self, event: str, what: str) -> dict[str, Any]:
        return self.book.summary(figure_name(event, what))

    def added_delay(self) -> dict[str, Any]:
        """The added delay over every event type."""
        return self.book.summary(ALL_ADDED_DELAY)
