"""Compiled validators for the contract's schemas.

fastjsonschema compiles each schema to Python once; the harness validates every event it
receives, thousands a second, so the compiled form matters. Every function returns the
first problem as one line (None when valid) instead of raising: callers turn it into a
verdict, an HTTP 400 or a failed check.
"""

from __future__ import annotations

from typing import Any, Callable

import fastjsonschema

from .model import LEGACY_STATUSES, Event
from .schemas import EVENT_PAYLOADS, Schema

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
        where = exc.name.replace("data", "", 1).lstrip(".") or "body"
        return f"{where}: {exc.message.replace(exc.name + ' ', '', 1)}"
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
