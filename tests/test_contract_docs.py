"""The published contract documents, the contract's schemas, and the package boundaries.

- docs/ is exactly what `harness.contract.documents.rendered()` makes (else: `make docs`);
- the OpenAPI document is valid OpenAPI, every schema in it, in the AsyncAPI document and in
  `harness.contract.schemas` is a valid draft-07 JSON Schema, and every `$ref` resolves;
- fastjsonschema (what the harness validates with) and jsonschema agree on event payloads;
- boundaries, checked on the syntax tree: harness never imports reference_server, the server
  uses only `harness.contract`, the contract imports neither locust nor gevent, and event,
  status and legacy-status names are spelled only in `harness/contract/`.

Known divergences of the two validators, outside what the agreement test generates (see the
strategies below): a `pattern` ending in `$` (jsonschema uses Python's `re`, where `$` also
matches before a final newline; fastjsonschema follows ECMA-262) and a leap second `:60` in a
`date-time`, the year 0000 and an offset without a colon (`+0000`, ISO 8601's basic form):
fastjsonschema accepts all three, rfc3339-validator does not.
"""

from __future__ import annotations

import ast
import copy
import json
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from jsonschema import Draft7Validator
from openapi_spec_validator import validate as validate_openapi

import harness.contract.schemas as schemas
from harness import payloads
from harness.contract import (
    LEGACY_STATUSES,
    ClientEvent,
    DeliveryKind,
    Event,
    OrderType,
    Status,
    problem,
)
from harness.contract.documents import rendered
from harness.contract.schemas import EVENT_PAYLOADS
from tests.support.json_paths import json_paths

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
ASYNCAPI = json.loads((DOCS / "asyncapi.json").read_text(encoding="utf-8"))
OPENAPI = json.loads((DOCS / "openapi.json").read_text(encoding="utf-8"))

# --- the committed documents -------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(rendered()))
def test_committed_docs_are_up_to_date(name: str) -> None:
    path = DOCS / name
    assert path.exists(), f"docs/{name} is missing: run `make docs`"
    assert path.read_text(encoding="utf-8") == rendered()[name], (
        f"docs/{name} is out of date with harness/contract: run `make docs` and commit the result")


def test_openapi_document_is_valid_openapi() -> None:
    validate_openapi(OPENAPI)


# --- every schema is a schema --------------------------------------------------------------------

#: Keys whose value is one JSON Schema, and keys whose value maps names to schemas.
_SCHEMA_KEYS = ("schema", "payload", "items", "not", "if", "then", "else", "additionalProperties",
                "contains", "propertyNames")
_SCHEMA_MAP_KEYS = ("properties", "patternProperties", "definitions")
_SCHEMA_LIST_KEYS = ("oneOf", "anyOf", "allOf")


def _schemas_in_document(doc: Any, where: str = "#") -> Iterator[tuple[str, Any]]:
    """Every top-level schema of an OpenAPI/AsyncAPI document (`schema`, `payload`, components)."""
    if isinstance(doc, dict):
        for key, value in doc.items():
            here = f"{where}/{key}"
            if key in ("schema", "payload"):
                yield here, value
            elif key == "schemas" and where.endswith("components") and isinstance(value, dict):
                for name, schema in value.items():
                    yield f"{here}/{name}", schema
            else:
                yield from _schemas_in_document(value, here)
    elif isinstance(doc, list):
        for i, value in enumerate(doc):
            yield from _schemas_in_document(value, f"{where}/{i}")


def _contract_schemas() -> Iterator[tuple[str, Any]]:
    for name, value in vars(schemas).items():
        if name.startswith("_") or not isinstance(value, dict):
            continue
        if name == "EVENT_PAYLOADS":
            for event, schema in value.items():
                yield f"schemas.EVENT_PAYLOADS[{event.value}]", schema
        else:
            yield f"schemas.{name}", value


ALL_SCHEMAS = ([(f"asyncapi.json {w}", s) for w, s in _schemas_in_document(ASYNCAPI)]
               + [(f"openapi.json {w}", s) for w, s in _schemas_in_document(OPENAPI)]
               + list(_contract_schemas()))


def test_schemas_were_found() -> None:
    # Guards the walk itself: an empty list would make the check below pass vacuously.
    kinds = {where.split(" ")[0].split(".")[0] for where, _ in ALL_SCHEMAS}
    assert {"asyncapi", "openapi", "schemas"} <= kinds, kinds
    assert len(ALL_SCHEMAS) > 30


@pytest.mark.parametrize("where, schema", ALL_SCHEMAS, ids=[w for w, _ in ALL_SCHEMAS])
def test_every_schema_is_valid_draft07(where: str, schema: Any) -> None:
    Draft7Validator.check_schema(schema)


def _refs(doc: Any, where: str = "#") -> Iterator[tuple[str, str]]:
    if isinstance(doc, dict):
        for key, value in doc.items():
            if key == "$ref" and isinstance(value, str):
                yield where, value
            else:
                yield from _refs(value, f"{where}/{key}")
    elif isinstance(doc, list):
        for i, value in enumerate(doc):
            yield from _refs(value, f"{where}/{i}")


def _resolve(doc: Any, ref: str) -> Any:
    assert ref.startswith("#/"), f"{ref!r} is not a local JSON pointer"
    node = doc
    for raw in ref[2:].split("/"):
        part = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(node, list):
            node = node[int(part)]
        else:
            assert isinstance(node, dict) and part in node, f"{ref!r}: no {part!r}"
            node = node[part]
    return node


@pytest.mark.parametrize("name, doc", [("asyncapi.json", ASYNCAPI), ("openapi.json", OPENAPI)])
def test_every_ref_resolves(name: str, doc: dict[str, Any]) -> None:
    refs = list(_refs(doc))
    if name == "asyncapi.json":
        assert refs, "asyncapi.json has no $ref at all"
    broken = []
    for where, ref in refs:
        try:
            _resolve(doc, ref)
        except (AssertionError, IndexError, ValueError) as exc:
            broken.append(f"{where}: {exc}")
    assert not broken, f"unresolvable $ref in {name}:\n" + "\n".join(broken)


def test_asyncapi_has_a_message_for_every_event() -> None:
    messages = ASYNCAPI["components"]["messages"]
    for event in Event:
        assert event.value in messages, f"no message for server event {event.value}"
        assert messages[event.value]["payload"] == EVENT_PAYLOADS[event]
    for client_event in ClientEvent:
        assert client_event.value in messages, f"no message for client event {client_event.value}"
        assert f"{client_event.value}Ack" in messages, f"no ack message for {client_event.value}"
    channels_with = {ref["$ref"].rsplit("/", 1)[1]
                     for channel in ASYNCAPI["channels"].values()
                     for ref in channel["messages"].values()}
    missing = {e.value for e in Event} - channels_with
    assert not missing, f"events in no channel: {missing}"


# --- fastjsonschema and jsonschema agree ---------------------------------------------------------

_FORMAT_CHECKER = Draft7Validator.FORMAT_CHECKER


def test_jsonschema_really_checks_date_time() -> None:
    # Without rfc3339-validator installed, jsonschema passes any "date-time" silently and the
    # agreement test below would compare against a weaker validator.
    bad = {"type": "string", "format": "date-time"}
    assert not Draft7Validator(bad, format_checker=_FORMAT_CHECKER).is_valid("yesterday"), \
        "jsonschema does not check date-time: install rfc3339-validator (openapi-spec-validator brings it)"


_TS = "2026-01-02T03:04:05.678Z"
_ORDER = {
    "id": "o1", "orderNumber": "ORD-1", "customerId": "c1", "storeId": "store-1",
    "orderType": OrderType.DELIVERY.value, "items": payloads.items(), "total": 22.5,
    "status": Status.PENDING.value, "driverId": None, "deliveryAddress": payloads.address(),
    "statusHistory": [{"status": Status.PENDING.value, "at": _TS}], "version": 1,
    "createdAt": _TS, "updatedAt": _TS,
}
_COMMON = {"eventId": "e1", "orderId": "o1", "customerId": "c1", "status": Status.PROCESSING.value,
           "version": 2, "emittedAt": 1_780_000_000_000}
VALID_EXAMPLES: dict[str, tuple[dict[str, Any], Any]] = {
    Event.NEW_ORDER.value: (EVENT_PAYLOADS[Event.NEW_ORDER],
                            {**_COMMON, "status": Status.PENDING.value, "version": 1, "order": _ORDER}),
    Event.ORDER_STATUS_UPDATED.value: (EVENT_PAYLOADS[Event.ORDER_STATUS_UPDATED],
                                       {**_COMMON, "previousStatus": Status.PENDING.value,
                                        "updatedAt": _TS}),
    Event.CUSTOMER_ORDER_UPDATE.value: (EVENT_PAYLOADS[Event.CUSTOMER_ORDER_UPDATE],
                                        {**_COMMON, "previousStatus": Status.PENDING.value,
                                         "message": "The store is preparing your order."}),
    Event.DELIVERY_UPDATE.value: (EVENT_PAYLOADS[Event.DELIVERY_UPDATE],
                                  {**_COMMON, "status": Status.IN_TRANSIT.value, "driverId": "d1",
                                   "kind": DeliveryKind.LOCATION.value,
                                   "location": {"lat": 52.5, "lng": 13.4}, "eta": 120.5}),
    ClientEvent.DRIVER_LOCATION.value: (schemas.DRIVER_LOCATION_IN,
                                        {"orderId": "o1", "lat": 52.5, "lng": 13.4}),
    f"{ClientEvent.DRIVER_LOCATION.value}Ack": (schemas.DRIVER_LOCATION_ACK,
                                                {"ok": False, "error": "not yours"}),
    ClientEvent.TIME_SYNC.value: (schemas.TIME_SYNC_IN, {"clientTime": 1_780_000_000_000}),
    f"{ClientEvent.TIME_SYNC.value}Ack": (schemas.TIME_SYNC_ACK, {"serverTime": 1_780_000_000_000}),
}

_json_scalar = (st.none() | st.booleans() | st.integers()
                | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=12))
JSON = st.recursive(_json_scalar,
                    lambda kids: st.lists(kids, max_size=4)
                    | st.dictionaries(st.text(max_size=8), kids, max_size=4),
                    max_leaves=12)
#: Values near the schemas' edges: every status and legacy status, bounds, timestamps.
EDGES = st.sampled_from([
    *[s.value for s in Status], *LEGACY_STATUSES, *[k.value for k in DeliveryKind],
    *[t.value for t in OrderType], "", "x" * 201, 0, -1, 1, 1.0, 1.5, -0.0, 90, 90.0001, -90.0001,
    180, 180.5, -180.5, 100, 101, 1_000_000, 1_000_000.01, 2**53, True, False, None, [], {},
    _TS, "2026-01-02T03:04:05Z", "2026-01-02T03:04:05+02:00", "2026-01-02 03:04:05Z",
    "2026-01-02T03:04:05", "2026-02-30T03:04:05Z", "2026-01-02T24:00:00Z", "2026-1-2T3:4:5Z",
])
TIMESTAMPS = st.builds(
    lambda y, mo, d, h, mi, s, frac, tz: f"{y:04d}-{mo:02d}-{d:02d}T{h:02d}:{mi:02d}:{s:02d}{frac}{tz}",
    st.integers(1, 9999),  # year 0000: the validators disagree (see the module docstring)
    st.sampled_from([*range(1, 13), 0, 13]),
    st.sampled_from([*range(1, 32), 0, 32]), st.sampled_from([*range(24), 24]),
    st.sampled_from([*range(60), 60]),
    st.integers(0, 59),  # seconds stop at 59: see the module docstring
    st.sampled_from(["", ".5", ".123", ".123456789", "."]),
    st.sampled_from(["Z", "z", "+00:00", "-05:30", "+24:00", ""]),  # "+0000": see the docstring
)


@st.composite
def mutated(draw: st.DrawFn, valid: Any) -> Any:
    """A valid example with a few of its parts replaced, deleted or added to."""
    data = copy.deepcopy(valid)
    for _ in range(draw(st.integers(0, 3))):
        paths = json_paths(data)
        if not paths:
            return draw(JSON | EDGES)
        path = draw(st.sampled_from(paths))
        parent = data
        for step in path[:-1]:
            parent = parent[step]
        last = path[-1]
        action = draw(st.sampled_from(["replace", "edge", "timestamp", "delete", "add"]))
        if action == "delete":
            del parent[last]
        elif action == "add" and isinstance(parent, dict):
            parent[draw(st.text(max_size=8))] = draw(JSON)
        elif action == "timestamp":
            parent[last] = draw(TIMESTAMPS)
        elif action == "edge":
            parent[last] = draw(EDGES)
        else:
            parent[last] = draw(JSON)
    return data


@pytest.mark.parametrize("name", list(VALID_EXAMPLES))
def test_valid_examples_are_valid(name: str) -> None:
    schema, example = VALID_EXAMPLES[name]
    assert problem(schema, example) is None
    assert Draft7Validator(schema, format_checker=_FORMAT_CHECKER).is_valid(example)


@pytest.mark.parametrize("name", list(VALID_EXAMPLES))
@settings(max_examples=100, deadline=None, derandomize=False,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_fastjsonschema_and_jsonschema_agree(name: str, data: st.DataObject) -> None:
    schema, example = VALID_EXAMPLES[name]
    payload = data.draw(mutated(example) | JSON, label="payload")
    fast = problem(schema, payload)
    event("valid" if fast is None else "invalid")
    reference = sorted(e.message for e in
                       Draft7Validator(schema, format_checker=_FORMAT_CHECKER).iter_errors(payload))
    assert (fast is None) == (not reference), (
        f"validators disagree on {name}: fastjsonschema says {fast!r}, jsonschema says "
        f"{reference!r} for {payload!r}")


# --- boundaries, by syntax tree -----------------------------------------------------------------


def _python_files(package: str) -> list[Path]:
    files = sorted((ROOT / package).rglob("*.py"))
    assert files, f"no Python files under {package}/"
    return files


def _imports(path: Path) -> Iterator[tuple[int, str, tuple[str, ...]]]:
    """(line, absolute module, imported names) for every import; relative ones resolved."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package_parts = list(path.relative_to(ROOT).with_suffix("").parts)[:-1]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name, ()
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package_parts[: len(package_parts) - (node.level - 1)]
                module = ".".join([*base, *([node.module] if node.module else [])])
            else:
                module = node.module or ""
            yield node.lineno, module, tuple(a.name for a in node.names)


def _rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


def test_harness_never_imports_reference_server() -> None:
    offenders = [f"{_rel(p)}:{line} imports {module}"
                 for p in _python_files("harness") for line, module, _ in _imports(p)
                 if module == "reference_server" or module.startswith("reference_server.")]
    assert not offenders, "harness/ must not import the reference server:\n" + "\n".join(offenders)


def _is_contract(module: str, names: tuple[str, ...]) -> bool:
    if module == "harness.contract" or module.startswith("harness.contract."):
        return True
    return module == "harness" and bool(names) and all(n == "contract" for n in names)


def test_reference_server_uses_only_harness_contract() -> None:
    offenders = [f"{_rel(p)}:{line} imports {module} {names or ''}".rstrip()
                 for p in _python_files("reference_server") for line, module, names in _imports(p)
                 if (module == "harness" or module.startswith("harness."))
                 and not _is_contract(module, names)]
    assert not offenders, ("reference_server/ may import only harness.contract from the harness:\n"
                           + "\n".join(offenders))


def test_contract_imports_neither_locust_nor_gevent() -> None:
    offenders = [f"{_rel(p)}:{line} imports {module}"
                 for p in _python_files("harness/contract") for line, module, _ in _imports(p)
                 if module.split(".")[0] in ("locust", "gevent")]
    assert not offenders, "harness/contract must stay free of locust and gevent:\n" + "\n".join(offenders)


@pytest.mark.parametrize("modules", [
    "harness.contract, harness.contract.documents",
    # The pure load modules harness/load/__init__.py names, tested in the tests' own process.
    "harness.load.followed, harness.load.share, harness.load.workers, harness.load.in_flight, "
    "harness.load.outbox, harness.load.drain, harness.load.triggers, harness.load.user_random, "
    "harness.load.options, harness.load.open_files, harness.load.unpatched",
])
def test_importing_the_contract_loads_neither_locust_nor_gevent(modules: str) -> None:
    code = (f"import sys, {modules}; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('gevent', 'locust')))")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]", f"importing {modules} loaded {result.stdout.strip()}"


#: Wire names that only harness/contract may spell.
SPELLED_ONLY_IN_CONTRACT = ({e.value: "Event" for e in Event}
                            | {s.value: "Status" for s in Status}
                            | {k: "legacy status" for k in LEGACY_STATUSES})


def test_wire_names_are_spelled_only_in_the_contract() -> None:
    contract_dir = ROOT / "harness" / "contract"
    offenders = []
    for package in ("harness", "reference_server"):
        for path in _python_files(package):
            if contract_dir in path.parents:
                continue
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
            for node in ast.walk(tree):
                if (isinstance(node, ast.Constant) and isinstance(node.value, str)
                        and node.value in SPELLED_ONLY_IN_CONTRACT):
                    offenders.append(f"{_rel(path)}:{node.lineno}: {node.value!r} "
                                     f"({SPELLED_ONLY_IN_CONTRACT[node.value]})")
    assert not offenders, (
        "single-source rule broken: these literals spell an Event, Status or legacy status "
        "outside harness/contract/; use the enum or table from harness.contract instead:\n"
        + "\n".join(offenders))
