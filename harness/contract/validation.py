"""Compiled validators for the contract's schemas.

fastjsonschema compiles each schema to Python once; the harness validates every event it
receives, thousands a second, so the compiled form matters. Every function returns the
first problem as one line (None when valid) instead of raising: callers turn it into a
verdict, an HTTP 400 or a failed check.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import fastjsonschema

from .model import LEGACY_STATUSES, Event
from .schemas import EPOCH_MS, EVENT_PAYLOADS, TIMESTAMP, Schema

_compiled: dict[int, tuple[Schema, Callable[[Any], Any]]] = {}


def _validator(schema: Schema) -> Callable[[Any], Any]:
    # Keyed by identity: the schemas are module constants, and keeping the schema in the
    # value pins it so the id cannot be reused.
    hit = _compiled.get(id(schema))
    if hit is None:
        hit = (schema, fastjsonschema.compile(schema))
        _compiled[id(schema)] = hit
    return hit[1]


def problem(schema: Schema, data: Any) -> str | None:
    """Why `data` does not match `schema`, or None."""
    try:
        _validator(schema)(data)
    except fastjsonschema.JsonSchemaValueException as exc:
        name = exc.name or "data"
        where = name.replace("data", "", 1).lstrip(".") or "body"
        return f"{where}: {exc.message.replace(name + ' ', '', 1)}"
    return None


def event_problem(event: str, payload: Any) -> str | None:
    """Why a received payload is not a valid `event`, naming legacy statuses as such."""
    try:
        schema = EVENT_PAYLOADS[Event(event)]
    except ValueError:
        return f"unknown event {event!r}"
    found = problem(schema, payload)
    if found is None:
        return None
    if isinstance(payload, dict):
        for key in ("status", "previousStatus"):
            if payload.get(key) in LEGACY_STATUSES:
                return f"{key}: legacy status {payload[key]!r}"
    return found


# --- what the prose states of a payload ---------------------------------------------------------
#
# The contract's schemas also hold the reference server's own decisions where the prose is
# silent: timestamps are ISO 8601 strings, a `statusHistory` entry is `{status, at}`. Another
# server is judged (by the conformance checks, and by a load run's ledger) only for what the
# prose states, so received payloads are checked against these schemas with those decisions
# opened up: a timestamp may be an ISO 8601 string or epoch milliseconds, `statusHistory` is
# any array. `event_problem` keeps the reference server to its own decisions.

#: A timestamp as any careful server may send it: an ISO 8601 string or ms since the epoch.
ANY_TIMESTAMP: Schema = {"anyOf": [TIMESTAMP, {**EPOCH_MS, "type": "number"}]}


def _open_up(schema: Any) -> Any:
    if schema == TIMESTAMP:
        return ANY_TIMESTAMP
    if isinstance(schema, dict):
        out = {k: _open_up(v) for k, v in schema.items()}
        history = out.get("properties", {}).get("statusHistory")
        if isinstance(history, dict):
            out["properties"]["statusHistory"] = {"type": "array"}
        return out
    if isinstance(schema, list):
        return [_open_up(v) for v in schema]
    return schema


#: Event payload schemas with only the prose's requirements.
STATED_PAYLOADS: dict[Event, Schema] = {event: _open_up(schema)
                                        for event, schema in EVENT_PAYLOADS.items()}


def stated_problem(event: str, payload: Any) -> str | None:
    """Why a received payload breaks what the prose states of `event` (legacy statuses named)."""
    schema = STATED_PAYLOADS.get(event)  # type: ignore[call-overload]  # a StrEnum key
    if schema is None:
        return event_problem(event, payload)  # an unknown event, in its words
    found = problem(schema, payload)
    legacy = [f"{key}: legacy status {payload[key]!r}" for key in ("status", "previousStatus")
              if found and isinstance(payload, dict) and payload.get(key) in LEGACY_STATUSES]
    return legacy[0] if legacy else found


def compile_all() -> None:
    """Compile every payload schema now, not at the first event that needs one (compiling
    imports a codec: in a process out of open files, that event's handler failed)."""
    for schema in (*EVENT_PAYLOADS.values(), *STATED_PAYLOADS.values()):
        _validator(schema)
