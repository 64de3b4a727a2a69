"""An equality index of one top-level field: value -> keys of the documents holding it.

It answers "which documents could match `{field: v}`" with a SUPERSET of the true matches
(the caller still runs mongomock's own filter on each candidate), so it may be loose but
never miss one. Python hashing puts `1`, `1.0` and `True` in one bucket: harmless, the
filter sorts them out. Arrays are indexed by element (MongoDB's multikey equality).
Values whose matching rules it does not model go to an always-returned `loose` set.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import Any

from bson import ObjectId

_MISSING = object()


def is_simple(value: Any) -> bool:
    """A scalar whose MongoDB equality is Python equality within one hash bucket."""
    if isinstance(value, float):
        return value == value  # NaN has no usable hash equality
    return isinstance(value, (str, int, ObjectId))


def _index_values(value: Any) -> tuple[frozenset[Hashable], bool]:
    """(bucket values, loose?) for one stored field value."""
    if value is _MISSING or value is None or isinstance(value, Mapping):
        return frozenset(), False  # cannot equal a simple scalar
    if is_simple(value):
        return frozenset((value,)), False
    if isinstance(value, list):
        values: set[Hashable] = set()
        loose = False
        for item in value:
            if is_simple(item):
                values.add(item)
            elif not (item is None or isinstance(item, Mapping)):
                loose = True
        return frozenset(values), loose
    return frozenset(), True


class FieldIndex:
    """Keys of the documents by the value (or array elements) of one top-level field."""

    def __init__(self, field: str) -> None:
        self.field = field
        self._buckets: dict[Hashable, set[Hashable]] = {}
        self._loose: set[Hashable] = set()
        self._entries: dict[Hashable, tuple[frozenset[Hashable], bool]] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def add(self, key: Hashable, doc: Mapping[str, Any]) -> None:
        """(Re)index one document under its current value."""
        entry = _index_values(doc.get(self.field, _MISSING))
        if self._entries.get(key) == entry:
            return
        self.remove(key)
        values, loose = entry
        for value in values:
            self._buckets.setdefault(value, set()).add(key)
        if loose:
            self._loose.add(key)
        self._entries[key] = entry

    def remove(self, key: Hashable) -> None:
        entry = self._entries.pop(key, None)
        if entry is None:
            return
        values, loose = entry
        for value in values:
            bucket = self._buckets[value]
            bucket.discard(key)
            if not bucket:
                del self._buckets[value]
        if loose:
            self._loose.discard(key)

    def lookup(self, value: Hashable) -> set[Hashable]:
        """Keys that may hold `value` (do not mutate the result)."""
        bucket = self._buckets.get(value)
        if not self._loose:
            return bucket if bucket is not None else set()
        return (bucket or set()) | self._loose

    def clear(self) -> None:
        self._buckets.clear()
        self._loose.clear()
        self._entries.clear()
