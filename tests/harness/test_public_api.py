"""The harness's public names and its one error tree (issue 12), guarded as httpx guards its own
(`tests/test_exported_members.py`): a name leaves `__all__` only on purpose.

Read from the source (ast) where importing would pull Locust and gevent into the test
process (`harness/load`).
"""

from __future__ import annotations

import ast
import importlib
import types
from pathlib import Path

import pytest

import harness.errors as errors
from tests.support.child_processes import ROOT

PACKAGES = ["harness.contract", "harness.ledger", "harness.conformance", "harness.errors",
            "reference_server.store"]

#: Exceptions that end a conformance check with its verdict: signals, not errors.
VERDICT_SIGNALS = {("harness/conformance/model.py", "CheckFailed"),
                   ("harness/conformance/model.py", "CheckSkipped")}
_EXCEPTION_BASES = {"Exception", "BaseException", "ValueError", "RuntimeError", "AssertionError",
                    "KeyError", "LookupError", "TypeError", "OSError", "ConnectionError"}


@pytest.mark.parametrize("name", PACKAGES)
def test_all_is_written_by_hand_and_names_every_public_member(name: str) -> None:
    module = importlib.import_module(name)
    source = Path(module.__file__ or "").read_text()
    literal = [node for node in ast.walk(ast.parse(source))
               if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "__all__"
                                                       for t in node.targets)]
    assert literal and isinstance(literal[0].value, ast.List), f"{name}: __all__ is not a list literal"
    exported = module.__all__
    assert len(exported) == len(set(exported)), f"{name}: a name listed twice"
    missing = [n for n in exported if not hasattr(module, n)]
    assert not missing, f"{name}.__all__ names what the module lacks: {missing}"
    # Public: what the package binds that is its own (imported helpers such as `Callable`
    # or `urlsplit` are not; constants carry no module and count).
    public = {n for n, value in vars(module).items()
              if not n.startswith("_") and not isinstance(value, types.ModuleType)
              and str(getattr(value, "__module__", name)).startswith(name)
              and n != "annotations"}
    assert public - set(exported) == set(), f"{name}: public but not in __all__"


def test_every_error_is_in_the_one_tree() -> None:
    classes = [getattr(errors, n) for n in errors.__all__ if isinstance(getattr(errors, n), type)]
    assert all(issubclass(c, errors.HarnessError) for c in classes)
    config = [c for c in classes if issubclass(c, errors.ConfigError)]
    assert {c.__name__ for c in config} == {"ConfigError", "ContractFileError", "ThresholdConfigError",
                                            "LoadConfigError", "LoadSetupError", "UnknownPattern"}
    # Callers that caught the ValueError these were still catch them.
    assert all(issubclass(c, ValueError) for c in config)


def test_no_module_defines_an_exception_outside_the_tree() -> None:
    """An exception class anywhere else in `harness/` must subclass one of the tree's (as the
    load's `OutageBackoff`, a Locust `RescheduleTask` that is a `TargetUnreachable`)."""
    tree = set(errors.__all__)
    strays = []
    for path in sorted((ROOT / "harness").rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        if rel == "harness/errors.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.ClassDef):
                continue
            bases = {b.id if isinstance(b, ast.Name) else b.attr if isinstance(b, ast.Attribute)
                     else "" for b in node.bases}
            exceptional = bases & _EXCEPTION_BASES or {b for b in bases if b.endswith(("Error", "Exception"))}
            if exceptional and not bases & tree and (rel, node.name) not in VERDICT_SIGNALS:
                strays.append(f"{rel}: {node.name}({', '.join(sorted(bases))})")
            if node.name in tree:
                strays.append(f"{rel}: {node.name} is the tree's name, defined again")
    assert strays == []


def test_an_http_error_says_which_request_and_what_came() -> None:
    full = errors.HttpError(409, {"error": {"code": "INVALID_TRANSITION", "details": {"from": "x"}}},
                            method="PATCH", path="/api/orders/1/status", action="update_status")
    assert (full.status, full.code, full.details, full.action) == (409, "INVALID_TRANSITION", {"from": "x"},
                                                                   "update_status")
    assert str(full) == "PATCH /api/orders/1/status -> 409 'INVALID_TRANSITION'"
    bare = errors.HttpError(500, "oops")
    assert bare.code is None and str(bare) == "HTTP 500 'oops'"
