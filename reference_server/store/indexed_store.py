"""A mongomock `CollectionStore` that can find candidate documents without a full scan.

mongomock keeps a collection's documents in an OrderedDict keyed by `_id` but answers every
query by running its filter over all of them (~2 ms per `find_one` at 2k documents, ~10 ms
at 10k, on the event loop). This store adds what a query planner needs:

* `_id` equality -> the OrderedDict itself;
* equality on a field declared with `create_index` -> a `FieldIndex` kept current on every
  insert, delete, rollback and in-place update (the collection reports the latter through
  `reindex`, see `fast_lookup`);
* an insertion sequence per document, so candidates come back in natural order, exactly
  as a scan would return them.

`candidates(filter)` returns None when no equality it can use is in the filter; callers
then fall back to the scan. It returns a superset of the matches: callers keep filtering.
"""

from __future__ import annotations

import contextlib
from collections.abc import Hashable, Iterator, Mapping
from typing import Any

from mongomock import helpers
from mongomock.store import CollectionStore, DatabaseStore

from .field_index import FieldIndex, is_simple


def document_key(doc_id: Any) -> Hashable:
    """The OrderedDict key mongomock files a document under."""
    return helpers.hashdict(doc_id) if isinstance(doc_id, dict) else doc_id


def _equality_values(condition: Any) -> tuple[Hashable, ...] | None:
    """The values a field condition requires equality with, or None if not an equality."""
    if is_simple(condition):
        return (condition,)
    if isinstance(condition, Mapping) and condition and all(str(k).startswith("$") for k in condition):
        if "$eq" in condition and is_simple(condition["$eq"]):
            return (condition["$eq"],)
        values = condition.get("$in")
        if isinstance(values, (list, tuple)) and all(is_simple(v) for v in values):
            return tuple(values)
    return None


def _indexable_field(index: Mapping[str, Any]) -> str | None:
    """The field a declared index lets us look up by equality: its first, top-level key."""
    keys = index.get("key") or []
    if not keys:
        return None
    field: str = keys[0][0]
    if field == "_id" or "." in field or field.startswith("$"):
        return None
    return field


class IndexedCollectionStore(CollectionStore):
    """CollectionStore + equality indexes + natural-order sequence numbers."""

    def __init__(self, name: str) -> None:
        self._declared: dict[str, Any] = {}
        self._field_indexes: dict[str, FieldIndex] = {}
        self._order: dict[Hashable, int] = {}
        self._next_order = 0
        self._delete_log: list[tuple[Hashable, dict[str, Any]]] | None = None
        super().__init__(name)

    # -- declared indexes (mongomock mutates or reassigns `indexes`) ------------------------
    @property
    def indexes(self) -> dict[str, Any]:
        return self._declared

    @indexes.setter
    def indexes(self, value: dict[str, Any]) -> None:
        self._declared = value
        self._sync_field_indexes()

    def create_index(self, index_name: str, index_dict: dict[str, Any]) -> None:
        super().create_index(index_name, index_dict)
        self._sync_field_indexes()

    def drop_index(self, index_name: str) -> None:
        super().drop_index(index_name)
        self._sync_field_indexes()

    def _sync_field_indexes(self) -> None:
        wanted = {f for f in map(_indexable_field, self._declared.values()) if f}
        for field in set(self._field_indexes) - wanted:
            del self._field_indexes[field]
        for field in wanted - set(self._field_indexes):
            index = self._field_indexes[field] = FieldIndex(field)
            for key, doc in getattr(self, "_documents", {}).items():
                index.add(key, doc)

    @property
    def indexed_fields(self) -> frozenset[str]:
        return frozenset(self._field_indexes)

    # -- document writes --------------------------------------------------------------------
    def __setitem__(self, key: Hashable, val: dict[str, Any]) -> None:
        super().__setitem__(key, val)
        if key not in self._order:
            self._order[key] = self._next_order
            self._next_order += 1
        for index in self._field_indexes.values():
            index.add(key, val)

    def __delitem__(self, key: Hashable) -> None:
        doc = self._documents.get(key)
        super().__delitem__(key)
        self._order.pop(key, None)
        for index in self._field_indexes.values():
            index.remove(key)
        if self._delete_log is not None and doc is not None:
            self._delete_log.append((key, doc))

    def drop(self) -> None:
        super().drop()
        self._order.clear()
        for index in self._field_indexes.values():
            index.clear()

    def reindex(self, key: Hashable) -> None:
        """Refresh the indexes of a document mongomock modified in place."""
        doc = self._documents.get(key)
        for index in self._field_indexes.values():
            if doc is None:
                index.remove(key)
            else:
                index.add(key, doc)

    @contextlib.contextmanager
    def recording_deletes(self) -> Iterator[list[tuple[Hashable, dict[str, Any]]]]:
        """Collect (key, document) of every document deleted inside the block."""
        outer, self._delete_log = self._delete_log, []
        try:
            yield self._delete_log
        finally:
            self._delete_log = outer

    def holds(self, doc: Mapping[str, Any]) -> bool:
        """Is this very object the stored document (not a copy or an upsert draft)?"""
        try:
            return self._documents.get(document_key(doc.get("_id"))) is doc
        except TypeError:
            return False

    def get_document(self, doc_id: Any) -> dict[str, Any] | None:
        """The stored document (not a copy) with this `_id`, if any."""
        try:
            return self._documents.get(document_key(doc_id))
        except TypeError:
            return None

    # -- reads ------------------------------------------------------------------------------
    def candidates(self, filter: Any) -> list[dict[str, Any]] | None:
        """Stored documents that may match `filter`, in natural order; None: scan instead."""
        self._remove_expired_documents()
        keys = self._candidate_keys(filter)
        if keys is None:
            return None
        docs = self._documents
        found = [k for k in keys if k in docs]
        if len(found) > 1:
            found.sort(key=self._order.__getitem__)
        return [docs[k] for k in found]

    def _candidate_keys(self, filter: Any) -> set[Hashable] | None:
        if not isinstance(filter, Mapping):
            return None
        best: set[Hashable] | None = None
        for field, condition in filter.items():
            if field == "$and" and isinstance(condition, list):
                options = [self._candidate_keys(clause) for clause in condition]
            elif field == "_id" or field in self._field_indexes:
                values = _equality_values(condition)
                if values is None:
                    continue
                options = [self._keys_for(field, values)]
            else:
                continue
            for keys in options:
                if keys is not None and (best is None or len(keys) < len(best)):
                    best = keys
            if best is not None and not best:
                break
        return best

    def _keys_for(self, field: str, values: tuple[Hashable, ...]) -> set[Hashable]:
        if field == "_id":
            return {v for v in values if v in self._documents}
        index = self._field_indexes[field]
        if len(values) == 1:
            return index.lookup(values[0])
        keys: set[Hashable] = set()
        for value in values:
            keys |= index.lookup(value)
        return keys


def install_indexed_store(db_store: DatabaseStore, name: str) -> IndexedCollectionStore:
    """Make collection `name` of a mongomock database use an IndexedCollectionStore.

    Must run before any Collection object is used; documents and indexes already there
    are carried over.
    """
    current = db_store._collections.get(name)
    if isinstance(current, IndexedCollectionStore):
        return current
    store = IndexedCollectionStore(name)
    if current is not None:
        store._is_force_created = current._is_force_created
        store._ttl_indexes = dict(current._ttl_indexes)
        for key, doc in current._documents.items():
            store[key] = doc
        store.indexes = dict(current.indexes)
    db_store._collections[name] = store
    return store
