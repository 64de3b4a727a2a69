"""What the ledger writes down, in forms that cross process boundaries (Locust's msgpack).

Every record is a small dataclass with `to_wire()` / `from_wire()` (lists of plain values),
so a worker can ship thousands of them per report. Times are wall-clock milliseconds:
records from several processes are compared on one time line (processes on several
machines need NTP-synchronised clocks).
"""

from __future__ import annotations

from dataclasses import astuple, dataclass, field, fields
from typing import Any, Final, TypeVar

#: How an event is told apart from every other: (orderId, version) for everything but a
#: location report, whose version its sender cannot know; that one is (orderId, lat, lng),
#: made unique by the sender.
Key = tuple[Any, ...]


def socket_id(process: str, number: int) -> str:
    """A socket's name in the books: the process that holds it, then its number there."""
    return f"{process}/{number}"


def process_of(socket: str) -> str:
    """The process that holds a socket (see `socket_id`)."""
    return socket.rsplit("/", 1)[0]


def version_key(order_id: str, version: int) -> Key:
    return ("v", order_id, version)


def status_key(order_id: str, status: str) -> Key:
    """A change's key where the target sends no versions: each status is reached once."""
    return ("s", order_id, status)


def location_key(order_id: str, lat: float, lng: float) -> Key:
    return ("l", order_id, round(float(lat), 6), round(float(lng), 6))


def key_of(event: str, payload: Any) -> Key | None:
    """The key of a payload of our contract; None when it has too little to be matched at all
    (a team's file: `reader.Reader.key`)."""
    from .reader import reference_reader  # noqa: PLC0415  (reader imports records: a cycle at load time)

    reader = reference_reader()
    return reader.key(reader.event(event, payload))


def _wire_key(key: Key) -> list[Any]:
    return list(key)


@dataclass(frozen=True)
class ChangeRecord:
    """A change the run caused, and where each of its events must go."""

    key: Key
    order_id: str
    #: (event name, rooms) for every event the change must produce.
    emissions: tuple[tuple[str, tuple[str, ...]], ...]
    trigger_ms: float
    process: str
    #: The server may or may not have made it (its ack was lost to a dropped connection):
    #: its events count as delivered where they arrive, and as nothing where they do not.
    uncertain: bool = False
    #: When its answer came (None: at the trigger). The server makes the change, and emits
    #: its events, somewhere between the trigger and a little after the answer: on a busy
    #: server or generator that can be seconds after the trigger.
    answered_ms: float | None = None

    @property
    def settled_from_ms(self) -> float:
        """From when on the change's events must have been emitted, but for the settle time."""
        return self.trigger_ms if self.answered_ms is None else max(self.trigger_ms, self.answered_ms)

    def to_wire(self) -> list[Any]:
        return [_wire_key(self.key), self.order_id,
                [[e, list(rooms)] for e, rooms in self.emissions], self.trigger_ms, self.process,
                self.uncertain, self.answered_ms]

    @classmethod
    def from_wire(cls, w: list[Any]) -> ChangeRecord:
        return cls(tuple(w[0]), w[1], tuple((e, tuple(r)) for e, r in w[2]), w[3], w[4],
                   bool(w[5]) if len(w) > 5 else False, w[6] if len(w) > 6 else None)


_Flat = TypeVar("_Flat", bound="_FlatRecord")


class _FlatRecord:
    """A record of plain fields only: its wire form is its fields, in order."""

    def to_wire(self) -> list[Any]:
        return list(astuple(self))  # type: ignore[call-overload]  # subclasses are dataclasses

    @classmethod
    def from_wire(cls: type[_Flat], w: list[Any]) -> _Flat:
        return cls(*w)


@dataclass(frozen=True)
class Unanswered(_FlatRecord):
    """A change sent whose answer never came: the run stopped its user mid-request, the
    connection failed, or the answer could not be read. The server may have made it, so the
    events it would explain are judged neither delivered nor leaked.

    `order_id` is None for an order placed whose answer (and so whose id) never came."""

    order_id: str | None
    sent_ms: float
    process: str


@dataclass(frozen=True)
class Receipt:
    """The first copy of one event at one socket (later copies are judged where they land)."""

    socket: str
    event: str
    key: Key
    received_ms: float
    #: Already judged a leak by the socket itself (the master must not count it again).
    leaked: bool = False

    def to_wire(self) -> list[Any]:
        return [self.socket, self.event, _wire_key(self.key), self.received_ms, self.leaked]

    @classmethod
    def from_wire(cls, w: list[Any]) -> Receipt:
        return cls(w[0], w[1], tuple(w[2]), w[3], bool(w[4]))


@dataclass(frozen=True)
class Presence:
    """A socket slot (one user's connection, across reconnects) in its rooms for a while."""

    socket: str
    rooms: tuple[str, ...]
    since_ms: float
    until_ms: float | None = None  # None: still connected

    def to_wire(self) -> list[Any]:
        return [self.socket, list(self.rooms), self.since_ms, self.until_ms]

    @classmethod
    def from_wire(cls, w: list[Any]) -> Presence:
        return cls(w[0], tuple(w[1]), w[2], w[3])


@dataclass(frozen=True)
class CatchUp(_FlatRecord):
    """A read of an order after a reconnect: it recovers what was missed up to `version`."""

    socket: str
    order_id: str
    version: int
    at_ms: float


@dataclass
class Counts:
    """The seven verdict counts of one event type, under exactly these names (issue 3)."""

    expected: int = 0
    delivered: int = 0
    missing: int = 0
    duplicate: int = 0
    out_of_order: int = 0
    leaked: int = 0
    invalid: int = 0

    def add(self, other: Counts) -> None:
        for name in COUNT_NAMES:
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def as_dict(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in COUNT_NAMES}

    @classmethod
    def from_dict(cls, d: dict[str, int]) -> Counts:
        return cls(**{name: int(d.get(name, 0)) for name in COUNT_NAMES})


#: The verdict names, in report order; no other count in a report uses them.
COUNT_NAMES: Final = tuple(f.name for f in fields(Counts))


@dataclass
class CountsByEvent:
    by_event: dict[str, Counts] = field(default_factory=dict)

    def __getitem__(self, event: str) -> Counts:
        counts = self.by_event.get(event)
        if counts is None:
            counts = self.by_event[event] = Counts()
        return counts

    def add(self, other: CountsByEvent) -> None:
        for event, counts in other.by_event.items():
            self[event].add(counts)

    def total(self) -> Counts:
        out = Counts()
        for counts in self.by_event.values():
            out.add(counts)
        return out

    def as_dict(self) -> dict[str, dict[str, int]]:
        return {event: c.as_dict() for event, c in sorted(self.by_event.items())}

    @classmethod
    def from_dict(cls, d: dict[str, dict[str, int]]) -> CountsByEvent:
        return cls({event: Counts.from_dict(c) for event, c in d.items()})
