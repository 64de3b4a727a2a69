"""The target as its contract file describes it (`--contract`; ours by default).

Simulated users never spell a route, a field or a status: they ask this for the request an
action makes, the parts of its answer, the rooms a user is in, the token's claims, and the
next moves of an order. The ledger reads what the target sends through the same file
(`ledger.reader.Reader`), so a server that follows the idea of our contract, not its letter,
is loaded and judged by what its own file states. `harness load` (its users and its
pre-flight), the witness and `harness contract check` all build their requests here.

What a file cannot say goes in a hooks module (`hooks = "team_hooks.py"` in the file), which
may define (see HOOKS and `examples/team_hooks.py`):

* `before_request(request)`: called with every request as a dict (`action`, `method`,
  `path`, `body`, `headers`) before it is sent; it may change any of them, or set `content`
  (bytes) to send exactly those bytes as the body: a signed request, say;
* `mint(claims, secret)`: the token for a user, when the target's tokens are not HS256 over
  the file's claims.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import quote

from .contract import OrderType, Role
from .contract.reference_file import default
from .contract.routing import Audience
from .contract.teamfile import ITEM_ANSWER_KEYS, Action, TeamContract, TransitionRule, at, load
from .errors import AnswerMismatch, ContractFileError
from .ledger.reader import OrderFacts, Reader, reference_reader

_AUDIENCE_OF_ROLE = {Role.CUSTOMER: Audience.CUSTOMER, Role.STORE_OWNER: Audience.STORE_OWNERS,
                     Role.DRIVER: Audience.DRIVER}




#: What a hooks module may define.
HOOKS = ("before_request", "mint")


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    #: The JSON body (None: none), or `content`: the exact bytes to send instead (a hook's).
    body: Any
    headers: dict[str, str]
    content: bytes | None = None

    def body_kwargs(self, raw: str = "content") -> dict[str, Any]:
        """The body as an HTTP client's keyword: the hook's exact bytes under `raw` (httpx's
        `content`, Locust's `data`), else the JSON body."""
        return {raw: self.content} if self.content is not None else {"json": self.body}


def load_hooks(path: str) -> ModuleType:
    """The hooks module at `path`; ContractFileError when it cannot be used."""
    spec = importlib.util.spec_from_file_location(f"harness_hooks_{abs(hash(path)):x}", path)
    if spec is None or spec.loader is None:
        raise ContractFileError(f"{path}: cannot be loaded as a hooks module")
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as exc:  # noqa: BLE001  (whatever a team's hooks module raises is a config error)
        raise ContractFileError(f"{path}: the hooks module failed to load: "
                                f"{type(exc).__name__}: {exc}") from None
    if not any(callable(getattr(module, name, None)) for name in HOOKS):
        raise ContractFileError(f"{path}: a hooks module defines at least one of {', '.join(HOOKS)}")
    return module


class Target:
    """One contract file, as the users of a load run use it."""

    def __init__(self, contract: TeamContract, reader: Reader) -> None:
        self.contract = contract
        self.reader = reader
        hooks = load_hooks(contract.hooks) if contract.hooks else None
        self._before_request = getattr(hooks, "before_request", None)
        self._mint = getattr(hooks, "mint", None)

    @classmethod
    def from_file(cls, path: str | Path | None) -> Target:
        """The file at `path` (ContractFileError when it cannot be used), or ours."""
        if path is None:
            return cls(default(), reference_reader())
        contract = load(path)
        return cls(contract, Reader(contract))

    @property
    def reference(self) -> bool:
        """Our own contract: it has `time_sync` and the room-joining events adversaries try."""
        return self.reader.reference

    # --- actions ---------------------------------------------------------------------------------

    def has(self, action: str) -> bool:
        return action in self.contract.actions

    def action(self, name: str) -> Action:
        action = self.contract.action(name)
        if action is None:
            raise AnswerMismatch(f"the contract file states no actions.{name}")
        return action

    def request(self, action: str, /, *, token: str | None = None, **values: Any) -> Request:
        """The request an action makes with these values (the file's fixed values first),
        with the token where the file says, as the hooks module leaves it."""
        rule = self.action(action)
        vals = {**self.contract.values, **values}
        path = rule.url_path(**{k: quote(str(v), safe="") for k, v in vals.items()
                                if isinstance(v, (str, int, float))})
        body = rule.render_body(**vals) if rule.body is not None else None
        headers = self.http_headers(token) if token is not None else {}
        if self._before_request is None:
            return Request(rule.method, path, body, headers)
        draft: dict[str, Any] = {"action": action, "method": rule.method, "path": path,
                                 "body": body, "headers": headers, "content": None}
        self._before_request(draft)
        content = draft.get("content")
        return Request(str(draft["method"]), str(draft["path"]), draft.get("body"),
                       dict(draft.get("headers") or {}), bytes(content) if content is not None else None)

    def mint(self, secret: str, user_id: str, role: Role, name: str | None = None) -> str:
        """A token for a user: the hooks module's `mint`, else HS256 over the file's claims."""
        if self._mint is not None:
            return str(self._mint(self.contract.claims(user_id, role, name), secret))
        return self.contract.mint(secret, user_id, role, name)

    def parts(self, name: str, answer: Any) -> dict[str, Any]:
        """The named parts of an action's answer (`answer` paths of the file)."""
        action = self.action(name)
        out = {}
        for key, where in action.answer.items():
            if key in ITEM_ANSWER_KEYS.get(name, ()):
                continue
            try:
                out[key] = at(answer, where)
            except KeyError:
                raise AnswerMismatch(f"{action.method} {action.path}: the answer has no {where!r} "
                                     f"(actions.{name}.answer.{key})") from None
        return out

    def listed_ids(self, name: str, items: Any) -> list[str]:
        """The ids read inside each item of a list an answer holds (`list_drivers`)."""
        (key,) = ITEM_ANSWER_KEYS[name]
        where = self.action(name).answer[key]
        if not isinstance(items, list):
            return []
        return [str(v) for v in (at(item, where, None) for item in items) if isinstance(v, (str, int))]

    def status_ok(self, name: str, status: int) -> bool:
        return self.action(name).ok(status)

    # --- users, tokens, rooms ---------------------------------------------------------------------

    def role_name(self, role: Role) -> str:
        return self.contract.auth.roles[role]

    def rooms(self, role: Role, user_id: str) -> tuple[str, ...]:
        audience = _AUDIENCE_OF_ROLE[role]
        return (self.contract.room(audience, user_id),)

    def http_headers(self, token: str) -> dict[str, str]:
        auth = self.contract.auth
        return {auth.http_header: auth.http_value.format(token=token)}

    def socket_url(self, host: str, token: str) -> str:
        """The URL a socket connects to (with the token, when the file says the query
        string carries it)."""
        auth = self.contract.auth
        if auth.socket != "query":
            return host
        joiner = "&" if "?" in host else "?"
        return f"{host}{joiner}{quote(auth.socket_key)}={quote(auth.socket_value.format(token=token))}"

    def socket_auth(self, token: str) -> dict[str, str] | None:
        """The Socket.IO `auth` payload, when the file says the token goes there."""
        auth = self.contract.auth
        return {auth.socket_key: auth.socket_value.format(token=token)} if auth.socket == "auth" else None

    def socket_headers(self, token: str) -> dict[str, str]:
        auth = self.contract.auth
        return {auth.socket_key: auth.socket_value.format(token=token)} if auth.socket == "header" else {}

    # --- the order lifecycle ---------------------------------------------------------------------

    def order_type(self, kind: OrderType) -> str:
        return self.contract.order_types[kind]

    def moves(self, order: OrderFacts, role: Role) -> list[TransitionRule]:
        """The happy path's next steps from where the order stands that `role` makes, up to
        the first one another role makes."""
        path = self.contract.lifecycle(order.order_type)
        start = next((i for i, step in enumerate(path) if step.source == order.status), None)
        out: list[TransitionRule] = []
        for step in path[start:] if start is not None else ():
            if role not in step.by:
                break
            out.append(step)
        return out

    @cached_property
    def assigned_status(self) -> str | None:
        """The status an order reaches when a driver is assigned to it (the step made by
        `assign_driver`): a driver's work begins there."""
        return next((t.target for t in self.contract.transitions if t.action == "assign_driver"), None)

    def terminal(self, status: str | None) -> bool:
        return status in self.contract.terminal

    def ours(self, document: Any, product_prefix: str) -> bool:
        """Whether this run placed the order: an item with a product id it chose. A file that
        does not say where an order keeps its items cannot tell: every order is the run's."""
        if not self.reader.states_items():
            return True
        items = self.reader.items(document) or []
        return bool(items) and any(
            isinstance(item, dict) and any(isinstance(v, str) and v.startswith(product_prefix)
                                           for v in item.values())
            for item in items)
