"""Sorted + limited finds that neither sort nor copy the whole result set.

mongomock's cursor materialises a query by sorting every matching document with Python-level
BSON comparisons and deep-copying (and tz-converting) each one, and only then applies
skip/limit: a 20-order page of a 20k-order collection costs ~0.9 s on the event loop. This
cursor picks the `skip + limit` first documents with a heap (native keys when every sort
value is a plain string or number, mongomock's BSON comparison otherwise) and copies only the
page. The order is the one mongomock's successive stable sorts give: lexicographic by the
sort keys, ties in natural order. Anything else (no sort or no limit, `$natural`, dotted
keys with native values...) takes mongomock's own path.
"""

from __future__ import annotations

import functools
import heapq
from collections.abc import Callable, Sequence
from typing import Any, cast

from mongomock.collection import Collection, Cursor
from mongomock.filtering import resolve_sort_key
from mongomock.helpers import make_datetime_timezone_aware_in_document

_MISSING = object()


def _sort_spec(sort: Any) -> list[tuple[str, int]] | None:
    spec = list(sort.items()) if isinstance(sort, dict) else list(sort or [])
    if not spec or any(not isinstance(k, str) or k.startswith("$") for k, _ in spec):
        return None
    return spec


def _native_keys(docs: Sequence[dict[str, Any]], spec: list[tuple[str, int]]) -> list[tuple[Any, ...]] | None:
    """Per-document key tuples usable with `<`, if each sort field holds only strings or only numbers."""
    columns = []
    for field, _ in spec:
        if "." in field:
            return None
        values = [doc.get(field, _MISSING) for doc in docs]
        kinds = {type(v) for v in values}
        if kinds == {str}:
            pass
        elif kinds <= {int, float}:
            if float in kinds and any(v != v for v in values):  # NaN
                return None
        else:
            return None
        columns.append(values)
    return list(zip(*columns, strict=True))


def top_k(docs: Sequence[dict[str, Any]], spec: list[tuple[str, int]], n: int) -> list[dict[str, Any]]:
    """The first `n` of `docs` in mongomock's sort order for `spec`."""
    indices = range(len(docs))
    directions = [d for _, d in spec]
    native = _native_keys(docs, spec)
    if native is not None and len({d < 0 for d in directions}) == 1:
        pick = heapq.nlargest if directions[0] < 0 else heapq.nsmallest
        return [docs[i] for i in pick(n, indices, key=native.__getitem__)]
    keys = [tuple(resolve_sort_key(field, doc) for field, _ in spec) for doc in docs]

    def compare(i: int, j: int) -> int:
        for a, b, direction in zip(keys[i], keys[j], directions, strict=True):
            if a < b:
                return 1 if direction < 0 else -1
            if b < a:
                return -1 if direction < 0 else 1
        return (i > j) - (i < j)

    return [docs[i] for i in heapq.nsmallest(n, indices, key=functools.cmp_to_key(compare))]


class TopKCursor(Cursor):
    """mongomock Cursor whose sorted, limited results are computed by `top_k`."""

    def _compute_results(self, with_limit_and_skip: bool = False) -> list[Any]:
        spec = _sort_spec(self._sort)
        if not with_limit_and_skip or not self._limit or spec is None:
            return cast(list[Any], super()._compute_results(with_limit_and_skip))
        state = (self._factory, self._skip, self._limit)
        cached: tuple[tuple[Any, ...], list[Any]] | None = getattr(self, "_top_k_cached", None)
        if cached is not None and cached[0] == state:
            return cached[1]
        collection = self.collection
        docs = list(collection._iter_documents(self._spec))
        picked = top_k(docs, spec, self._skip + abs(self._limit))[self._skip:]
        results = [collection._copy_only_fields(doc, self._projection, dict) for doc in picked]
        if collection.codec_options.tz_aware:
            results = [make_datetime_timezone_aware_in_document(doc) for doc in results]
        self._top_k_cached = (state, results)
        return results


def enable_top_k(collection: Collection) -> None:
    """Make this Collection instance's `find` return TopKCursors."""
    if getattr(collection, "_top_k_enabled", False):
        return
    find: Callable[..., Cursor] = collection.find

    @functools.wraps(find)
    def _find(*args: Any, **kwargs: Any) -> Cursor:
        cursor = find(*args, **kwargs)
        if type(cursor) is Cursor:
            cursor.__class__ = TopKCursor
        return cursor

    collection.find = _find  # type: ignore[method-assign]  # mongomock's, patched in place
    collection._top_k_enabled = True  # type: ignore[attr-defined]  # our mark on it
