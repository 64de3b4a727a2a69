"""The contract as a file a team writes: its format, and loading it with clear errors.

Staging servers follow the idea of our contract, not its letter: their own routes, bodies
and answer envelopes, their own token claims and role names, `_id` for ids, events that carry
the whole order and no `eventId`, `version` or `emittedAt`. A contract file says where each
thing sits on their server; the harness reads the file and nothing else about the target.

The format is TOML (README, "Testing your own backend"): it has comments, a team writes it
by hand in minutes, and Python reads it with no dependency (`tomllib`). Our own contract is
the default file, rendered from `harness.contract` (`documents.contract_file()`, written to
`docs/contract.toml` by `harness contract export`), and loaded through this same module.

Templates: a path is formatted with the action's values (`/api/orders/{order_id}`); in a
body, a string that is exactly one placeholder (`"{items}"`) is replaced by the value itself
(a list, a number; a key whose value the harness has none for, such as the address of a
pickup order, is left out), any other string is formatted. Answer and payload paths are dotted
(`order._id`, `data.order.status`); an empty path is the whole document.
"""

from __future__ import annotations

import re
import string
import time
import tomllib
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from ..errors import ContractFileError
from .model import TOKEN_LIFETIME_S, Event, OrderType, Role
from .routing import Audience, ChangeKind

#: The format this harness reads (`format = 1` at the top of the file).
FORMAT: Final = 1

AUTH_MODES: Final = ("register", "mint")
SOCKET_TOKEN_PLACES: Final = ("auth", "query", "header")
METHODS: Final = ("GET", "POST", "PUT", "PATCH", "DELETE")

#: Every action simulated users take, and the values its templates may use.
ACTION_VALUES: Final[dict[str, frozenset[str]]] = {
    "register": frozenset({"name", "email", "password", "role"}),
    "login": frozenset({"email", "password"}),
    "checkout": frozenset({"items", "order_type", "address", "card", "store_id"}),
    "checkout_saved": frozenset({"items", "order_type", "address", "payment_method_id", "store_id"}),
    "guest_checkout": frozenset({"guest", "items", "order_type", "address", "card", "store_id"}),
    "get_order": frozenset({"order_id"}),
    "list_orders": frozenset(),
    "update_status": frozenset({"order_id", "status"}),
    "assign_driver": frozenset({"order_id", "driver_id"}),
    "list_drivers": frozenset(),
}
#: Actions a file must state (the others are optional: users skip what the server lacks).
REQUIRED_ACTIONS: Final = ("checkout", "get_order", "update_status")
#: What each action's answer must locate (`answer = { order = "order" }`).
ANSWER_KEYS: Final[dict[str, tuple[str, ...]]] = {
    "register": ("token", "user_id"),
    "login": ("token", "user_id"),
    "checkout": ("order",),
    "checkout_saved": ("order",),
    "guest_checkout": ("order", "token"),
    "get_order": ("order",),
    "list_orders": ("orders",),
    "update_status": ("order",),
    "assign_driver": ("order",),
    "list_drivers": ("drivers", "driver_id"),
}
#: Answer paths that are read inside each item of a list the answer holds, not from its top.
ITEM_ANSWER_KEYS: Final[dict[str, tuple[str, ...]]] = {"list_drivers": ("driver_id",)}
#: Where an order document keeps what the harness reads (`[order]`); `version` is optional.
ORDER_FIELDS: Final = ("id", "status", "customer_id", "driver_id", "order_type")
#: `items`: the order's item list, where a load run finds the product ids that mark its own
#: orders (without it, on a server others use too, store owners move every order they hear
#: of); `created_at`: an ISO 8601 time, which bounds a catch-up's listing of new orders.
OPTIONAL_ORDER_FIELDS: Final = ("version", "items", "created_at")
#: Where an event's payload keeps what the harness reads (`fields`).
EVENT_FIELDS: Final = ("order_id", "status")
#: Optional: without them the harness degrades (README, "Testing your own backend").
#: `location` is where a location report's payload keeps `{lat, lng}`; `kind` a field whose
#: value `location_kind` marks a location report (when status events carry a location too).
#: `order`: where the payload keeps the whole order document (`""`: it is the payload),
#: read by the `[order]` paths; a store owner then needs no read of an order it hears of.
OPTIONAL_EVENT_FIELDS: Final = ("customer_id", "driver_id", "event_id", "version", "emitted_at",
                                "location", "kind", "order")




@dataclass(frozen=True)
class Action:
    """One request: method, path template, body template, and where the answer keeps what
    the harness needs (`answer`: name -> dotted path)."""

    name: str
    method: str
    path: str
    body: Any
    answer: Mapping[str, str]
    #: The success status, when the file states one (else any 2xx).
    status: int | None = None

    def ok(self, status: int) -> bool:
        """Whether an answer's status is the success the file states (any 2xx if none)."""
        return status == self.status if self.status is not None else status // 100 == 2

    def url_path(self, **values: Any) -> str:
        return self.path.format(**{k: str(v) for k, v in values.items()})

    def render_body(self, **values: Any) -> Any:
        return fill(self.body, values)


@dataclass(frozen=True)
class Auth:
    mode: str
    http_header: str
    http_value: str
    socket: str
    socket_key: str
    socket_value: str
    claim_user_id: str
    claim_role: str
    #: Our role -> the target's name for it (in tokens and bodies).
    roles: Mapping[Role, str]


@dataclass(frozen=True)
class TransitionRule:
    source: str
    target: str
    by: frozenset[Role]
    order_types: frozenset[OrderType]
    action: str


@dataclass(frozen=True)
class EventRule:
    """One event: the target's name for it, the rooms it goes to, which changes produce it,
    and where its payload keeps each field (`None`: the payload does not carry it)."""

    event: Event
    name: str
    rooms: tuple[Audience, ...]
    on: frozenset[ChangeKind]
    fields: Mapping[str, str | None]
    #: Status changes produce it only into these statuses, on these order types (empty: all).
    statuses: frozenset[str] = frozenset()
    order_types: frozenset[OrderType] = frozenset()
    #: The value of the `kind` field that marks a location report (see OPTIONAL_EVENT_FIELDS).
    location_kind: str | None = None


@dataclass(frozen=True)
class LocationReport:
    name: str
    body: Any
    #: Dotted path of the ack's success flag (must be true), or None: any ack is success.
    ack_ok: str | None


@dataclass(frozen=True)
class TeamContract:
    """A contract file, loaded and checked."""

    source: str
    name: str
    socketio_path: str
    auth: Auth
    actions: Mapping[str, Action]
    order: Mapping[str, str | None]
    order_types: Mapping[OrderType, str]
    statuses: tuple[str, ...]
    first_status: str
    terminal: frozenset[str]
    #: The status an order is cancelled into, if the lifecycle has one.
    cancelled: str | None
    transitions: tuple[TransitionRule, ...]
    rooms: Mapping[Audience, str]
    events: Mapping[Event, EventRule]
    location: LocationReport | None
    error_message: str | None
    error_code: str | None
    #: Values the file fixes for every action (a store id, a product catalogue).
    values: Mapping[str, Any] = field(default_factory=dict)
    #: A Python module for what a file cannot say (`harness.target`: HOOKS), absolute path.
    hooks: str | None = None

    def action(self, name: str) -> Action | None:
        return self.actions.get(name)

    def claims(self, user_id: str, role: Role, name: str | None = None,
               lifetime_s: int = TOKEN_LIFETIME_S) -> dict[str, Any]:
        """The claims of a token minted for a user (`auth.claims`, `auth.roles`)."""
        now = int(time.time())
        out: dict[str, Any] = {self.auth.claim_user_id: user_id, self.auth.claim_role: self.auth.roles[role],
                               "iat": now, "exp": now + lifetime_s}
        if name is not None:
            out["name"] = name
        return out

    def mint(self, secret: str, user_id: str, role: Role, name: str | None = None) -> str:
        """A token for a user, with the file's claims, signed with the target's secret."""
        import jwt  # noqa: PLC0415  (only minting needs it)

        from .model import JWT_ALGORITHM  # noqa: PLC0415  (beside jwt, for the same reason)

        return jwt.encode(self.claims(user_id, role, name), secret, algorithm=JWT_ALGORITHM)

    def room(self, audience: Audience, user_id: str = "") -> str:
        return self.rooms[audience].format(id=user_id)

    def produced_by(self, kind: ChangeKind, status: str | None,
                    order_type: OrderType) -> list[EventRule]:
        """The events one change produces, in the file's order (a status change only those
        whose `statuses` name the new status, when they name any)."""
        return [rule for rule in self.events.values()
                if kind in rule.on
                and not (kind is ChangeKind.STATUS and rule.statuses and status not in rule.statuses)
                and not (rule.order_types and order_type not in rule.order_types)]

    def lifecycle(self, order_type: OrderType) -> list[TransitionRule]:
        """The happy path from the first status to the end, in order (never the cancel)."""
        path: list[TransitionRule] = []
        status = self.first_status
        while status not in self.terminal and len(path) <= len(self.statuses):
            step = next((t for t in self.transitions if t.source == status
                         and order_type in t.order_types and t.target != self.cancelled), None)
            if step is None:
                break
            path.append(step)
            status = step.target
        return path


# --- templates and paths ------------------------------------------------------------------------

_ONE_PLACEHOLDER = re.compile(r"^\{([a-z_][a-z0-9_]*)\}$")


def placeholders(template: Any) -> set[str]:
    """Every `{name}` a template (a string, or a body of nested tables and lists) uses."""
    if isinstance(template, str):
        return {name for _, name, _, _ in string.Formatter().parse(template) if name}
    if isinstance(template, dict):
        return set().union(*(placeholders(v) for v in template.values())) if template else set()
    if isinstance(template, list):
        return set().union(*(placeholders(v) for v in template)) if template else set()
    return set()


def fill(template: Any, values: Mapping[str, Any]) -> Any:
    """A body template with the values in (see the module docstring)."""
    if isinstance(template, str):
        whole = _ONE_PLACEHOLDER.match(template)
        if whole:
            return values[whole.group(1)]
        return template.format(**values)
    if isinstance(template, dict):
        filled = {k: fill(v, values) for k, v in template.items()}
        return {k: v for k, v in filled.items() if v is not None}
    if isinstance(template, list):
        return [fill(v, values) for v in template]
    return template


_MISSING: Final = object()

#: A dotted path, split once: () is the whole document, None a path the file does not give.
Steps = tuple[str, ...] | None


def compile_path(path: str | None) -> Steps:
    if path is None:
        return None
    return tuple(path.split(".")) if path else ()


def walk(document: Any, steps: Steps, missing: Any = None) -> Any:
    """The value at `steps` (list items by index), or `missing` where a step is not there."""
    if steps is None:
        return missing
    if len(steps) == 1:  # the usual case, on every received event
        return document.get(steps[0], missing) if isinstance(document, dict) else missing
    value = document
    for step in steps:
        if isinstance(value, dict) and step in value:
            value = value[step]
        elif isinstance(value, list) and step.isdigit() and int(step) < len(value):
            value = value[int(step)]
        else:
            return missing
    return value


def at(document: Any, path: str | None, default: Any = _MISSING) -> Any:
    """The value at a dotted path (`order._id`; list items by index: `orders.0`). A missing
    step raises KeyError naming the path, unless a default is given."""
    if path is None and default is _MISSING:
        raise KeyError("the contract file gives no path")
    value = walk(document, compile_path(path), _MISSING)
    if value is _MISSING:
        if default is _MISSING:
            raise KeyError(path)
        return default
    return value


# --- loading --------------------------------------------------------------------------------------

class _Reader:
    """Reads one table of the file; every complaint names the file and the key."""

    def __init__(self, source: str, table: Any, where: str) -> None:
        self.source, self.where = source, where
        if not isinstance(table, dict):
            raise self.error("", f"must be a table, not {type(table).__name__}")
        self.table = table

    def error(self, key: str, problem: str) -> ContractFileError:
        name = ".".join(p for p in (self.where, key) if p)
        return ContractFileError(f"{self.source}: {name or 'the file'}: {problem}")

    def sub(self, key: str, required: bool = True) -> _Reader | None:
        if key not in self.table:
            if required:
                raise self.error(key, "missing")
            return None
        return _Reader(self.source, self.table[key], ".".join(p for p in (self.where, key) if p))

    def text(self, key: str, default: str | None = None, *, choices: tuple[str, ...] = (),
             empty: bool = False) -> str:
        value = self.table.get(key, default)
        if value is None:
            raise self.error(key, "missing")
        if not isinstance(value, str) or (not value and not empty):
            raise self.error(key, f"must be a non-empty string, not {value!r}")
        if choices and value not in choices:
            raise self.error(key, f"must be one of {', '.join(choices)}, not {value!r}")
        return value

    def optional_text(self, key: str) -> str | None:
        return self.text(key, empty=True) if key in self.table else None

    def texts(self, key: str, default: list[str] | None = None) -> list[str]:
        value = self.table.get(key, default)
        if value is None:
            raise self.error(key, "missing")
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise self.error(key, f"must be a list of strings, not {value!r}")
        return value

    def known(self, keys: Collection[str]) -> None:
        unknown = sorted(set(self.table) - set(keys))
        if unknown:
            raise self.error(unknown[0], f"unknown key (known here: {', '.join(sorted(keys))})")


def load(path: str | Path) -> TeamContract:
    """Read and check a contract file; ContractFileError says what is wrong and where."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise ContractFileError(f"{file}: cannot read the contract file: {exc.strerror or exc}") from None
    return loads(text, source=str(file))


def loads(text: str, *, source: str = "<contract>") -> TeamContract:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ContractFileError(f"{source}: not valid TOML: {exc}") from None
    top = _Reader(source, data, "")
    top.known({"format", "name", "socketio_path", "auth", "actions", "order", "lifecycle", "rooms",
               "events", "client_events", "errors", "values", "hooks"})
    if data.get("format") != FORMAT:
        raise top.error("format", f"must be {FORMAT} (the format this harness reads), "
                                  f"not {data.get('format')!r}")
    roles = _roles(top)
    auth = _auth(top, roles)
    actions = _actions(top)
    order, order_types = _order(top)
    statuses, first, terminal, cancelled, transitions = _lifecycle(top, actions)
    rooms = _rooms(top)
    events = _events(top, statuses)
    location = _location(top)
    errors = top.sub("errors", required=False)
    if errors is not None:
        errors.known({"message", "code"})
    values = data.get("values", {})
    if not isinstance(values, dict):
        raise top.error("values", "must be a table")
    for name, action in actions.items():
        unknown = (placeholders(action.path) | placeholders(action.body)) - ACTION_VALUES[name] - set(values)
        if unknown:
            raise top.error(f"actions.{name}", f"uses {{{sorted(unknown)[0]}}}, which the harness "
                            f"does not fill here (it fills: {', '.join(sorted(ACTION_VALUES[name]))}; "
                            "or set it under [values])")
    if location is not None:
        unknown = placeholders(location.body) - {"order_id", "lat", "lng"} - set(values)
        if unknown:
            raise top.error("client_events.location.body", f"uses {{{sorted(unknown)[0]}}}, "
                            "which the harness does not fill (it fills: lat, lng, order_id)")
    return TeamContract(
        source=source, name=top.text("name", default=source),
        socketio_path=top.text("socketio_path", default="/socket.io/"), auth=auth, actions=actions,
        order=order, order_types=order_types, statuses=statuses, first_status=first,
        terminal=terminal, cancelled=cancelled, transitions=transitions, rooms=rooms, events=events,
        location=location,
        error_message=errors.optional_text("message") if errors else None,
        error_code=errors.optional_text("code") if errors else None, values=values,
        hooks=_hooks(top, source))


def _hooks(top: _Reader, source: str) -> str | None:
    """The hooks module's absolute path (`hooks = "team_hooks.py"`, beside the file)."""
    given = top.optional_text("hooks")
    if given is None:
        return None
    path = Path(given).expanduser()
    if not path.is_absolute():
        base = Path(source).parent if Path(source).is_file() else Path.cwd()
        path = base / path
    if not path.is_file() or path.suffix != ".py":
        raise top.error("hooks", f"{given!r}: no such Python file ({path})")
    return str(path.resolve())


def _roles(top: _Reader) -> dict[Role, str]:
    auth = top.sub("auth")
    assert auth is not None
    table = auth.sub("roles", required=False)
    if table is None:
        return {r: r.value for r in Role}
    table.known({r.value for r in Role})
    return {r: table.text(r.value, default=r.value) for r in Role}


def _auth(top: _Reader, roles: dict[Role, str]) -> Auth:
    auth = top.sub("auth")
    assert auth is not None
    auth.known({"mode", "http_header", "http_value", "socket", "socket_key", "socket_value",
                "claims", "roles"})
    claims = auth.sub("claims", required=False)
    if claims is not None:
        claims.known({"user_id", "role"})
    http_value = auth.text("http_value", default="Bearer {token}")
    socket_value = auth.text("socket_value", default="{token}")
    for key, value in (("http_value", http_value), ("socket_value", socket_value)):
        if placeholders(value) != {"token"}:
            raise auth.error(key, f"must use {{token}} and nothing else, not {value!r}")
    return Auth(
        mode=auth.text("mode", default="register", choices=AUTH_MODES),
        http_header=auth.text("http_header", default="Authorization"),
        http_value=http_value,
        socket=auth.text("socket", default="auth", choices=SOCKET_TOKEN_PLACES),
        socket_key=auth.text("socket_key", default="token"),
        socket_value=socket_value,
        claim_user_id=claims.text("user_id", default="sub") if claims else "sub",
        claim_role=claims.text("role", default="role") if claims else "role",
        roles=roles)


def _actions(top: _Reader) -> dict[str, Action]:
    table = top.sub("actions")
    assert table is not None
    table.known(ACTION_VALUES)
    for name in REQUIRED_ACTIONS:
        if name not in table.table:
            raise table.error(name, "missing (every contract file states it)")
    auth_mode = top.table.get("auth", {}).get("mode", "register")
    if auth_mode == "register":
        for name in ("register", "login"):
            if name not in table.table:
                raise table.error(name, 'missing (auth.mode is "register")')
    out: dict[str, Action] = {}
    for name in table.table:
        a = table.sub(name)
        assert a is not None
        a.known({"method", "path", "body", "answer", "status"})
        method = a.text("method", choices=METHODS)
        path = a.text("path")
        if not path.startswith("/"):
            raise a.error("path", f"must start with /, not {path!r}")
        answer = a.sub("answer")
        assert answer is not None
        answer.known(ANSWER_KEYS[name])
        paths = {key: answer.text(key, empty=True) for key in ANSWER_KEYS[name] if key in answer.table}
        missing = [key for key in ANSWER_KEYS[name] if key not in paths]
        if missing:
            raise answer.error(missing[0], "missing (where the answer keeps it; \"\" for the whole answer)")
        status = a.table.get("status")
        if status is not None and not (isinstance(status, int) and 200 <= status <= 299):
            raise a.error("status", f"must be a 2xx status, not {status!r}")
        body = a.table.get("body")
        if body is not None and method == "GET":
            raise a.error("body", "a GET sends no body")
        out[name] = Action(name, method, path, body, paths, status)
    return out


def _order(top: _Reader) -> tuple[dict[str, str | None], dict[OrderType, str]]:
    table = top.sub("order")
    assert table is not None
    table.known({*ORDER_FIELDS, *OPTIONAL_ORDER_FIELDS, "types"})
    fields: dict[str, str | None] = {key: table.text(key) for key in ORDER_FIELDS}
    fields.update({key: table.optional_text(key) for key in OPTIONAL_ORDER_FIELDS})
    types = table.sub("types", required=False)
    if types is None:
        return fields, {t: t.value for t in OrderType}
    types.known({t.value for t in OrderType})
    return fields, {t: types.text(t.value, default=t.value) for t in OrderType}


def _lifecycle(top: _Reader, actions: dict[str, Action]
               ) -> tuple[tuple[str, ...], str, frozenset[str], str | None, tuple[TransitionRule, ...]]:
    table = top.sub("lifecycle")
    assert table is not None
    table.known({"statuses", "first", "terminal", "cancelled", "transitions"})
    statuses = tuple(table.texts("statuses"))
    if len(set(statuses)) != len(statuses):
        raise table.error("statuses", "names a status twice")
    first = table.text("first")
    terminal = table.texts("terminal")
    cancelled = table.optional_text("cancelled")
    for key, named in (("first", [first]), ("terminal", terminal), ("cancelled", [cancelled] if cancelled else [])):
        for status in named:
            if status not in statuses:
                raise table.error(key, f"{status!r} is not one of lifecycle.statuses")
    rows = table.table.get("transitions")
    if not isinstance(rows, list) or not rows:
        raise table.error("transitions", "must be a non-empty array of tables ([[lifecycle.transitions]])")
    by_name = {r.value: r for r in Role}
    transitions = []
    for i, row in enumerate(rows):
        t = _Reader(table.source, row, f"lifecycle.transitions[{i}]")
        t.known({"from", "to", "by", "order_types", "action"})
        source, target = t.text("from"), t.text("to")
        for key, status in (("from", source), ("to", target)):
            if status not in statuses:
                raise t.error(key, f"{status!r} is not one of lifecycle.statuses")
        by = t.texts("by")
        for role in by:
            if role not in by_name:
                raise t.error("by", f"{role!r} is not a role (roles: {', '.join(by_name)})")
        kinds = t.texts("order_types", default=[o.value for o in OrderType])
        for kind in kinds:
            if kind not in {o.value for o in OrderType}:
                raise t.error("order_types", f"{kind!r} is not an order type (delivery, pickup)")
        action = t.text("action", default="update_status")
        if action not in ("update_status", "assign_driver"):
            raise t.error("action", f"must be update_status or assign_driver, not {action!r}")
        if action not in actions:
            raise t.error("action", f"names actions.{action}, which the file does not state")
        transitions.append(TransitionRule(source, target, frozenset(by_name[r] for r in by),
                                          frozenset(OrderType(k) for k in kinds), action))
    return statuses, first, frozenset(terminal), cancelled, tuple(transitions)


def _rooms(top: _Reader) -> dict[Audience, str]:
    table = top.sub("rooms")
    assert table is not None
    keys = {a.name.lower(): a for a in Audience}
    table.known(keys)
    rooms = {}
    for key, audience in keys.items():
        value = table.text(key)
        expected = set() if audience is Audience.STORE_OWNERS else {"id"}
        if placeholders(value) != expected:
            raise table.error(key, "must use {id} (the user's id)" if expected
                              else "names one room for every store owner: no placeholder")
        rooms[audience] = value
    return rooms


def _events(top: _Reader, statuses: tuple[str, ...]) -> dict[Event, EventRule]:
    table = top.sub("events")
    assert table is not None
    keys = {e.name.lower(): e for e in Event}
    table.known(keys)
    audiences = {a.name.lower(): a for a in Audience}
    kinds = {k.value: k for k in ChangeKind}
    events: dict[Event, EventRule] = {}
    for key, event in keys.items():
        e = table.sub(key, required=False)
        if e is None:
            continue
        e.known({"name", "rooms", "on", "fields", "statuses", "order_types", "location_kind"})
        rooms = e.texts("rooms")
        for room in rooms:
            if room not in audiences:
                raise e.error("rooms", f"{room!r} is not a room of [rooms] ({', '.join(audiences)})")
        on = e.texts("on")
        for kind in on:
            if kind not in kinds:
                raise e.error("on", f"{kind!r} is not a change ({', '.join(kinds)})")
        only = e.texts("statuses", default=[])
        for status in only:
            if status not in statuses:
                raise e.error("statuses", f"{status!r} is not one of lifecycle.statuses")
        types = e.texts("order_types", default=[])
        for kind in types:
            if kind not in {o.value for o in OrderType}:
                raise e.error("order_types", f"{kind!r} is not an order type (delivery, pickup)")
        f = e.sub("fields")
        assert f is not None
        f.known({*EVENT_FIELDS, *OPTIONAL_EVENT_FIELDS})
        fields: dict[str, str | None] = {key: f.text(key, empty=True) for key in EVENT_FIELDS}
        fields.update({key: f.optional_text(key) for key in OPTIONAL_EVENT_FIELDS})
        location_kind = e.optional_text("location_kind")
        if location_kind is not None and fields.get("kind") is None:
            raise e.error("location_kind", "needs fields.kind (where the payload keeps it)")
        if ChangeKind.LOCATION.value in on and fields.get("location") is None:
            raise f.error("location", "missing: an event that location reports produce must say "
                                      "where its payload keeps the location")
        events[event] = EventRule(event, e.text("name"), tuple(audiences[r] for r in rooms),
                                  frozenset(kinds[k] for k in on), fields, frozenset(only),
                                  frozenset(OrderType(k) for k in types), location_kind)
    if not events:
        raise table.error("", "names no event")
    return events


def _location(top: _Reader) -> LocationReport | None:
    table = top.sub("client_events", required=False)
    if table is None:
        return None
    table.known({"location"})
    loc = table.sub("location", required=False)
    if loc is None:
        return None
    loc.known({"name", "body", "ack_ok"})
    body = loc.table.get("body")
    if not isinstance(body, dict):
        raise loc.error("body", "must be a table (the report's payload template)")
    return LocationReport(loc.text("name"), body, loc.optional_text("ack_ok"))
