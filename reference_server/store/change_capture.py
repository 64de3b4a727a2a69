"""Report every committed write of a mongomock Collection to a sink, as MongoDB's oplog would.

Hooks sit on the Collection instance's internal choke points rather than on its public
methods, so every entry point is covered (insert_one/many, update_one/many, replace_one,
find_one_and_*, delete_one/many, bulk_write, upserts):

* `_insert(doc)` -> one insert per stored document (insert_many recurses into it per item,
  an upsert calls it for the new document); a rolled-back insert raises and reports nothing;
* `_update(spec, update)` -> before-images are taken as mongomock modifies stored documents
  in place; when `_update` returns or raises, each touched document is compared with what is
  stored now, so rolled-back changes (unique-index violations) and no-ops report nothing;
* `_delete(filter)` -> the documents its store removed.

Must be installed after mongomock-motor wrapped the collection, and after `enable_fast_lookup`.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable, Hashable, Mapping
from typing import Any, Protocol

from mongomock.collection import Collection

from .indexed_store import IndexedCollectionStore, document_key


class ChangeSink(Protocol):
    def inserted(self, doc: Mapping[str, Any]) -> None: ...

    def modified(self, before: Mapping[str, Any], after: Mapping[str, Any], update: Any) -> None: ...

    def deleted(self, doc_id: Any) -> None: ...


def capture_changes(collection: Collection, sink: ChangeSink) -> None:
    """Patch one mongomock Collection instance so that its writes reach `sink` in order."""
    if getattr(collection, "_change_capture_enabled", False):
        raise RuntimeError("changes of this collection are already captured")
    store = collection._store
    if not isinstance(store, IndexedCollectionStore):
        raise TypeError("capture_changes needs install_indexed_store() on this collection first")
    touched_stack: list[list[tuple[Hashable, dict[str, Any]]]] = []

    # (typed here: mongomock's methods are unannotated)
    insert: Callable[..., Any] = collection._insert

    @functools.wraps(insert)
    def _insert(data: Any, *args: Any, **kwargs: Any) -> Any:
        inserted_id = insert(data, *args, **kwargs)
        if isinstance(data, Mapping):  # a list recurses into this wrapper per document
            doc = store.get_document(inserted_id)
            if doc is not None:
                sink.inserted(doc)
        return inserted_id

    update: Callable[..., Any] = collection._update

    @functools.wraps(update)
    def _update(spec: Any, document: Any, *args: Any, **kwargs: Any) -> Any:
        touched: list[tuple[Hashable, dict[str, Any]]] = []
        touched_stack.append(touched)
        try:
            return update(spec, document, *args, **kwargs)
        finally:
            touched_stack.pop()
            for key, before in touched:
                after = store._documents.get(key)
                if after is not None:
                    sink.modified(before, after, document)

    def _snapshotting(apply: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(apply)
        def wrapper(existing_document: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
            if touched_stack and store.holds(existing_document):
                key = document_key(existing_document.get("_id"))
                touched_stack[-1].append((key, copy.deepcopy(existing_document)))
            return apply(existing_document, *args, **kwargs)

        return wrapper

    delete: Callable[..., Any] = collection._delete

    @functools.wraps(delete)
    def _delete(*args: Any, **kwargs: Any) -> Any:
        with store.recording_deletes() as removed:
            try:
                return delete(*args, **kwargs)
            finally:
                for _key, doc in removed:
                    sink.deleted(doc.get("_id"))

    # mongomock's collection is patched in place: its methods replaced, a mark set (mypy
    # forbids both, hence the ignores below).
    collection._insert = _insert  # type: ignore[method-assign]
    collection._update = _update  # type: ignore[method-assign]
    collection._delete = _delete  # type: ignore[method-assign]
    collection._apply_update_document = _snapshotting(collection._apply_update_document)  # type: ignore[method-assign]
    collection._apply_update_pipeline = _snapshotting(collection._apply_update_pipeline)  # type: ignore[method-assign]
    collection._change_capture_enabled = True  # type: ignore[attr-defined]
