"""Generate the published documents of the contract: AsyncAPI 3.0, OpenAPI 3.1, Markdown
tables, and the contract file (the default `--contract`).

They are written to `docs/` and kept in the repository (a test fails when they are out of
date): `harness contract export` rewrites them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from . import reference_file
from . import schemas as s
from .endpoints import ENDPOINTS
from .errors import HTTP_STATUS, PRECEDENCE
from .model import (
    JWT_ALGORITHM,
    LEGACY_STATUSES,
    SOCKETIO_PATH,
    ClientEvent,
    ConnectError,
    Event,
    Role,
    Status,
    rooms_for,
)
from .routing import ROUTES, Audience
from .transitions import TRANSITIONS

VERSION = "1.0.0"
TITLE = "Order-tracking realtime contract"

_AUDIENCE_CHANNEL = {
    Audience.STORE_OWNERS: ("storeOwners", "store-owners", None),
    Audience.CUSTOMER: ("customer", "customer_{customerId}", "customerId"),
    Audience.DRIVER: ("driver", "driver_{driverId}", "driverId"),
}
_CLIENT_EVENTS = {
    ClientEvent.DRIVER_LOCATION: (s.DRIVER_LOCATION_IN, s.DRIVER_LOCATION_ACK,
                                  "A driver reports where it is; only for its assigned order."),
    ClientEvent.TIME_SYNC: (s.TIME_SYNC_IN, s.TIME_SYNC_ACK,
                            "Returns the server clock so a client can estimate its offset."),
}


def _transitions() -> list[dict[str, Any]]:
    return [
        {"from": t.source.value, "to": t.target.value, "who": sorted(a.value for a in t.actors),
         "orderTypes": sorted(o.value for o in t.order_types), "via": t.via.value}
        for t in TRANSITIONS
    ]


def _vocabulary() -> dict[str, Any]:
    """The parts of the contract that are not schemas, as `x-` extensions."""
    return {
        "x-statuses": [st.value for st in Status],
        "x-legacy-statuses": {k: [v.value for v in vs] for k, vs in LEGACY_STATUSES.items()},
        "x-transitions": _transitions(),
        "x-routing": {e.value: [a.value for a in aud] for e, aud in ROUTES.items()},
        "x-rooms": {r.value: rooms_for(r, "{sub}")[0] for r in Role},
    }


def asyncapi() -> dict[str, Any]:
    """The Socket.IO API: one channel per room kind, one per client-to-server event."""
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    for audience, (key, address, param) in _AUDIENCE_CHANNEL.items():
        events = [e for e, auds in ROUTES.items() if audience in auds]
        channel: dict[str, Any] = {
            "address": address,
            "description": f"Socket.IO room `{address}`, joined by the server from the token only.",
            "messages": {e.value: {"$ref": f"#/components/messages/{e.value}"} for e in events},
        }
        if param:
            channel["parameters"] = {param: {"description": "the token's `sub`"}}
        channels[key] = channel
        operations[f"receiveIn_{key}"] = {
            "action": "receive",
            "channel": {"$ref": f"#/channels/{key}"},
            "messages": [{"$ref": f"#/channels/{key}/messages/{e.value}"} for e in events],
        }
    messages: dict[str, Any] = {
        e.value: {"name": e.value, "payload": s.EVENT_PAYLOADS[e]} for e in Event
    }
    for event, (payload, ack, summary) in _CLIENT_EVENTS.items():
        channels[event.value] = {
            "address": event.value,
            "description": "A client-to-server Socket.IO event answered with an ack.",
            "messages": {
                event.value: {"$ref": f"#/components/messages/{event.value}"},
                f"{event.value}Ack": {"$ref": f"#/components/messages/{event.value}Ack"},
            },
        }
        operations[f"send_{event.value}"] = {
            "action": "send",
            "summary": summary,
            "channel": {"$ref": f"#/channels/{event.value}"},
            "messages": [{"$ref": f"#/channels/{event.value}/messages/{event.value}"}],
            "reply": {"messages": [{"$ref": f"#/channels/{event.value}/messages/{event.value}Ack"}]},
        }
        messages[event.value] = {"name": event.value, "payload": payload}
        messages[f"{event.value}Ack"] = {"name": f"{event.value} ack", "payload": ack}
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": TITLE,
            "version": VERSION,
            "description": (
                "Socket.IO v5 protocol, namespace `/`, path `" + SOCKETIO_PATH + "`. Authenticate "
                "with the handshake auth payload `{\"token\": \"<jwt>\"}`; a refused handshake "
                "gets `connect_error` with message " +
                " or ".join(f"`{c.value}`" for c in ConnectError) + "."
            ),
        },
        "defaultContentType": "application/json",
        "channels": channels,
        "operations": operations,
        "components": {
            "messages": messages,
            "securitySchemes": {
                "handshakeToken": {"type": "httpApiKey", "name": "token", "in": "query",
                                   "description": f"JWT ({JWT_ALGORITHM}) sent as the handshake "
                                                  "`auth.token`, not in the query."}
            },
        },
        **_vocabulary(),
    }


def _error_response(codes: tuple[Any, ...]) -> dict[str, Any]:
    by_status: dict[int, list[str]] = {}
    for code in codes:
        by_status.setdefault(HTTP_STATUS[code], []).append(code.value)
    return {
        str(st): {"description": "error code " + ", ".join(cs),
                  "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
        for st, cs in sorted(by_status.items())
    }


def openapi() -> dict[str, Any]:
    paths: dict[str, Any] = {}
    for ep in ENDPOINTS:
        op: dict[str, Any] = {
            "operationId": ep.operation.value,
            "summary": ep.summary,
            "responses": {
                str(ep.success_status): {"description": "success",
                                         "content": {"application/json": {"schema": ep.response}}},
                **_error_response(ep.errors),
            },
        }
        if ep.roles is not None:
            op["security"] = [{"bearer": []}]
            op["x-roles"] = sorted(r.value for r in ep.roles)
        if ep.request is not None:
            op["requestBody"] = {"required": True,
                                 "content": {"application/json": {"schema": ep.request}}}
        if "{order_id}" in ep.path:
            op["parameters"] = [{"name": "order_id", "in": "path", "required": True,
                                 "schema": {"type": "string"}}]
        paths.setdefault(ep.path, {})[ep.method.lower()] = op
    return {
        "openapi": "3.1.0",
        "info": {"title": TITLE + " (HTTP API)", "version": VERSION},
        "paths": paths,
        "components": {
            "schemas": {"Error": s.ERROR_OUT, "Order": s.ORDER},
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                                           "bearerFormat": f"JWT ({JWT_ALGORITHM})"}},
        },
        "x-error-precedence": [[c.value for c in step] for step in PRECEDENCE],
        **_vocabulary(),
    }


def markdown() -> str:
    """Readable tables of the machine-readable contract, for people."""
    out = [f"# {TITLE}: generated tables", "",
           "Generated from `harness/contract` by `harness contract export`; do not edit.", "",
           "## Statuses", "", ", ".join(f"`{st.value}`" for st in Status), "",
           "Legacy values, refused with 422 and never emitted: " +
           ", ".join(f"`{k}`" for k in LEGACY_STATUSES), "",
           "## Transitions", "", "| from | to | who | order types | via |", "|---|---|---|---|---|"]
    for t in _transitions():
        out.append(f"| {t['from']} | {t['to']} | {', '.join(t['who'])} | "
                   f"{', '.join(t['orderTypes'])} | {t['via']} |")
    out += ["", "## Routing", "", "| event | rooms |", "|---|---|"]
    for e, auds in ROUTES.items():
        out.append(f"| `{e.value}` | {', '.join(_AUDIENCE_CHANNEL[a][1] for a in auds)} |")
    out += ["", "## HTTP endpoints", "", "| method | path | roles | success | errors |",
            "|---|---|---|---|---|"]
    for ep in ENDPOINTS:
        roles = "anyone" if ep.roles is None else ", ".join(sorted(r.value for r in ep.roles))
        errs = ", ".join(sorted({f"{HTTP_STATUS[c]} {c.value}" for c in ep.errors}))
        out.append(f"| {ep.method} | `{ep.path}` | {roles} | {ep.success_status} | {errs} |")
    out += ["", "## Error precedence", ""]
    out += [f"{i}. " + ", ".join(f"{HTTP_STATUS[c]} `{c.value}`" for c in step)
            for i, step in enumerate(PRECEDENCE, 1)]
    return "\n".join(out) + "\n"


def rendered() -> dict[str, str]:
    """File name -> content, exactly as written to `docs/`."""
    return {
        "asyncapi.json": json.dumps(asyncapi(), indent=2) + "\n",
        "openapi.json": json.dumps(openapi(), indent=2) + "\n",
        "contract-tables.md": markdown(),
        "contract.toml": reference_file.text(),
    }


def export(directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in rendered().items():
        path = directory / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written
