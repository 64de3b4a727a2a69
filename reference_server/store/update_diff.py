"""MongoDB's `updateDescription` for one modified document, from its before/after images.

mongomock applies updates in place and says nothing about what changed, so the embedded
change feed recomputes it the way MongoDB 7 reports it:

* a top-level field that changed (or appeared) -> `{"field": new}`;
* a change inside a sub-document -> dotted paths (`"driverLocation.lat"`), recursively;
* elements appended to an array (`$push`, `$addToSet`) -> `"arr.N"` per new element, and
  changed elements -> `"arr.N"` (or deeper); a shrunk array is reported whole;
* a path that a `$set` of the update targeted as a whole (`{"$set": {"driverLocation": {..}}}`)
  is reported whole, as MongoDB logs the operator's own path;
* removed fields -> `removedFields` (dotted when nested);
* values equal to what was there (same BSON type and value) are not reported.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

#: Operators whose target path receives a whole new value (reported whole by MongoDB).
_WHOLE_VALUE_OPERATORS = ("$set", "$setOnInsert")


def same_value(a: Any, b: Any) -> bool:
    """BSON-like equality: `1`, `1.0` and `True` differ; sub-documents compare by field."""
    if type(a) is not type(b):
        return False
    if isinstance(a, Mapping):
        return a.keys() == b.keys() and all(same_value(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same_value(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and a != a and b != b:  # NaN equals NaN in BSON comparisons
        return True
    return bool(a == b)


def is_replacement(update: Any) -> bool:
    """True for a replacement document (no `$` operators), False for operators or a pipeline."""
    return isinstance(update, Mapping) and not any(str(k).startswith("$") for k in update)


def whole_value_paths(update: Any) -> frozenset[str]:
    """Paths that the update's `$set`-like operators overwrite as a whole."""
    if not isinstance(update, Mapping):
        return frozenset()
    paths: set[str] = set()
    for op in _WHOLE_VALUE_OPERATORS:
        fields = update.get(op)
        if isinstance(fields, Mapping):
            paths.update(p for p in fields if "$" not in p)
    return frozenset(paths)


class _Diff:
    def __init__(self, whole: frozenset[str]) -> None:
        self.whole = whole
        self.updated: dict[str, Any] = {}
        self.removed: list[str] = []

    def document(self, prefix: str, before: Mapping[str, Any], after: Mapping[str, Any]) -> None:
        for key, new in after.items():
            path = f"{prefix}{key}"
            if key not in before:
                self.updated[path] = copy.deepcopy(new)
            else:
                self.value(path, before[key], new)
        for key in before:
            if key not in after:
                self.removed.append(f"{prefix}{key}")

    def value(self, path: str, old: Any, new: Any) -> None:
        if same_value(old, new):
            return
        if path not in self.whole:
            if isinstance(old, Mapping) and isinstance(new, Mapping):
                self.document(f"{path}.", old, new)
                return
            if isinstance(old, list) and isinstance(new, list) and len(new) >= len(old):
                for i, item in enumerate(new):
                    if i < len(old):
                        self.value(f"{path}.{i}", old[i], item)
                    else:
                        self.updated[f"{path}.{i}"] = copy.deepcopy(item)
                return
        self.updated[path] = copy.deepcopy(new)


def update_description(before: Mapping[str, Any], after: Mapping[str, Any],
                       update: Any = None) -> dict[str, Any] | None:
    """The `updateDescription` turning `before` into `after`; None when nothing changed.

    `update` is the update document that was applied (operators or a pipeline); it only
    decides which `$set` paths are reported whole.
    """
    diff = _Diff(whole_value_paths(update))
    diff.document("", before, after)
    if not diff.updated and not diff.removed:
        return None
    return {"updatedFields": diff.updated, "removedFields": diff.removed, "truncatedArrays": []}
