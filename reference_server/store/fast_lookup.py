"""Route a mongomock Collection's queries through its IndexedCollectionStore.

Every mongomock read and write (find, find_one, count_documents, update_*, delete_*,
find_one_and_*, unique-index checks) selects documents through the one instance method
`Collection._iter_documents(filter)`. Replacing it on the instance with a version that
asks the store for candidates and still applies mongomock's `filter_applies` to each keeps
mongomock's filter semantics and makes `_id` / indexed-field lookups independent of the
collection size. Updates mutate stored documents in place, so the two methods that do it
are wrapped to refresh the indexes right after (before mongomock's unique check runs).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from mongomock import filtering
from mongomock.collection import Collection

from .indexed_store import IndexedCollectionStore, document_key

_IN_PLACE_UPDATERS = ("_apply_update_document", "_apply_update_pipeline")

#: mongomock's matcher (unannotated there): does the document match the filter?
filter_applies: Callable[[Any, Mapping[str, Any]], bool] = filtering.filter_applies


def enable_fast_lookup(collection: Collection) -> None:
    """Patch one mongomock Collection instance (idempotent)."""
    if getattr(collection, "_fast_lookup_enabled", False):
        return
    if not isinstance(collection._store, IndexedCollectionStore):
        raise TypeError("enable_fast_lookup needs install_indexed_store() on this collection first")
    scan: Callable[[Any], Iterator[dict[str, Any]]] = collection._iter_documents

    def _iter_documents(filter: Any) -> Iterator[dict[str, Any]]:
        store = collection._store
        docs = store.candidates(filter) if isinstance(store, IndexedCollectionStore) else None
        if docs is None:
            return scan(filter)
        if not docs:
            filter_applies(filter, {})  # mongomock validates the filter even with no document
        return (doc for doc in docs if filter_applies(filter, doc))

    collection._iter_documents = _iter_documents  # type: ignore[method-assign]  # patched in place
    for name in _IN_PLACE_UPDATERS:
        setattr(collection, name, _reindexing(collection, getattr(collection, name)))
    collection._fast_lookup_enabled = True  # type: ignore[attr-defined]  # our mark on it


def _reindexing(collection: Collection, apply: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(apply)
    def wrapper(existing_document: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        store = collection._store
        stored = isinstance(store, IndexedCollectionStore) and store.holds(existing_document)
        key = document_key(existing_document.get("_id")) if stored else None
        try:
            return apply(existing_document, *args, **kwargs)
        finally:
            if stored:
                store.reindex(key)

    return wrapper
