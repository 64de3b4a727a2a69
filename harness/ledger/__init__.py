"""The delivery ledger: who must receive which event, who must not, and what happened.

`SocketLedger` judges what one socket can alone (invalid, duplicate, out of order, plain
leaks) the moment an event lands; `Reconciler` keeps the run's books from the records of
every process (changes caused, first receipts, presence in rooms, catch-up reads).
"""

from .expect import change_record
from .reconcile import AwayStats, Reconciler
from .records import (
    COUNT_NAMES,
    CatchUp,
    ChangeRecord,
    Counts,
    CountsByEvent,
    Key,
    Presence,
    Receipt,
    Unanswered,
    key_of,
    location_key,
    process_of,
    socket_id,
    version_key,
)
from .socket_checks import Judgement, Leak, SocketLedger

__all__ = [
    "COUNT_NAMES",
    "AwayStats",
    "CatchUp",
    "ChangeRecord",
    "Counts",
    "CountsByEvent",
    "Judgement",
    "Key",
    "Leak",
    "Presence",
    "Receipt",
    "Reconciler",
    "SocketLedger",
    "Unanswered",
    "change_record",
    "key_of",
    "location_key",
    "process_of",
    "socket_id",
    "version_key",
]
