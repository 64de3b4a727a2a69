"""The storage seam (issue 12): a backend is chosen by its URL's scheme, and the repositories use
no more of a collection than `store.base.Collection` declares, which both backends provide.
"""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest

from reference_server.config import ConfigError, parse_config
from reference_server.store import (
    BACKENDS,
    Collection,
    Cursor,
    EmbeddedStore,
    MongoStore,
    backend_of,
    open_store,
)

ROOT = Path(__file__).resolve().parents[2]


def _methods(protocol: type) -> set[str]:
    return {name for name, value in vars(protocol).items()
            if not name.startswith("_") and inspect.isfunction(value)}


def test_the_url_scheme_picks_the_backend() -> None:
    assert isinstance(open_store(), EmbeddedStore) and isinstance(open_store("memory://"), EmbeddedStore)
    assert isinstance(open_store("mongodb://127.0.0.1:1/orders"), MongoStore)  # the client connects lazily
    assert backend_of("mongodb+srv://cluster.example/db") is MongoStore
    assert set(BACKENDS) == {"memory", "mongodb", "mongodb+srv"}
    with pytest.raises(ValueError, match="memory://, mongodb://, mongodb\\+srv://"):
        backend_of("postgres://db.example/orders")


def test_the_server_takes_a_store_url_and_refuses_what_names_no_backend() -> None:
    assert parse_config(["--dev"]).store_url == "memory://"
    assert parse_config(["--dev", "--store", "mongodb://h/db"]).store_url == "mongodb://h/db"
    assert parse_config(["--dev", "--mongo-url", "mongodb://h/db"]).store_url == "mongodb://h/db"
    with pytest.raises(ConfigError, match="postgres"):
        parse_config(["--dev", "--store", "postgres://h/db"])
    with pytest.raises(ConfigError, match="not both"):
        parse_config(["--dev", "--store", "memory://", "--mongo-url", "mongodb://h/db"])


@pytest.mark.parametrize("url", ["memory://", "mongodb://127.0.0.1:1/orders"])
def test_both_backends_provide_every_call_the_seam_declares(url: str) -> None:
    store = open_store(url)
    for collection in (store.orders, store.users):
        missing = [name for name in _methods(Collection) if not callable(getattr(collection, name, None))]
        assert missing == [], f"{type(store).__name__}: {missing}"
    cursor = store.orders.find({})
    assert [name for name in _methods(Cursor) if not callable(getattr(cursor, name, None))] == []


def test_the_repositories_use_only_what_the_seam_declares() -> None:
    """A call the Protocol does not list is a call a new backend would not know to provide."""
    declared = _methods(Collection)
    source = (ROOT / "reference_server" / "repository.py").read_text()
    used = {node.func.attr for node in ast.walk(ast.parse(source))
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
            and isinstance(node.func.value, ast.Attribute) and node.func.value.attr in ("_orders", "_users")}
    assert used and used <= declared, used - declared
