"""A client for any target, driven by its contract file (harness/contract/teamfile.py).

Where `api.OrdersApi` speaks our contract's routes, this one speaks whatever the file says:
its routes and bodies, where the answer keeps the token or the order, how the socket takes
the token. Every exchange is kept (`exchanges`), so a tool can show what was sent and what
came back when the target and the file disagree.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx

from .contract import OrderType, Role
from .contract.teamfile import ITEM_ANSWER_KEYS, Action, TeamContract, at
from .realtime import RealtimeClient


class FileMismatch(Exception):
    """The target answered other than the contract file says."""


@dataclass(frozen=True)
class Exchange:
    """One request and its answer, as sent and received."""

    method: str
    path: str
    body: Any
    status: int
    answer: Any


@dataclass(frozen=True)
class Account:
    role: Role
    token: str
    user_id: str


class TeamClient:
    """`async with TeamClient(url, contract) as client:`; one connection pool per instance."""

    def __init__(self, base_url: str, contract: TeamContract, *, timeout: float = 10.0,
                 verify: bool = True) -> None:
        self.base_url = base_url.rstrip("/")
        self.contract = contract
        self.exchanges: list[Exchange] = []
        self._http = httpx.AsyncClient(base_url=self.base_url, timeout=timeout, verify=verify)

    async def __aenter__(self) -> "TeamClient":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self._http.aclose()

    def _values(self, given: dict[str, Any]) -> dict[str, Any]:
        """The file's fixed values, then what the caller gives (the caller wins)."""
        return {**self.contract.values, **given}

    async def act(self, name: str, /, *, token: str | None = None, **values: Any) -> dict[str, Any]:
        """Take one action; its answer's named parts (`answer` paths of the file). Raises
        FileMismatch when the answer's status or a stated path is not as the file says."""
        action = self.contract.action(name)
        if action is None:
            raise FileMismatch(f"the contract file states no actions.{name}")
        vals = self._values(values)
        path = action.url_path(**{k: quote(str(v), safe="") for k, v in vals.items()
                                  if isinstance(v, (str, int, float))})
        body = action.render_body(**vals) if action.body is not None else None
        headers = {}
        if token is not None:
            auth = self.contract.auth
            headers[auth.http_header] = auth.http_value.format(token=token)
        try:
            response = await self._http.request(action.method, path, json=body, headers=headers)
        except httpx.HTTPError as exc:
            raise FileMismatch(f"{action.method} {path}: no answer ({type(exc).__name__}: {exc})") from None
        try:
            answer: Any = response.json()
        except ValueError:
            answer = response.text
        self.exchanges.append(Exchange(action.method, path, body, response.status_code, answer))
        _check_status(action, path, response.status_code, answer, self.contract)
        parts = {}
        for key, where in action.answer.items():
            if key in ITEM_ANSWER_KEYS.get(name, ()):
                continue  # read inside each listed item by the caller
            try:
                parts[key] = at(answer, where)
            except KeyError:
                raise FileMismatch(
                    f"{action.method} {path}: the answer has no {where!r} (actions.{name}.answer."
                    f"{key}); its keys: {_keys(answer)}") from None
        return parts

    # --- what the harness reads in an order -------------------------------------------------------

    def order_field(self, order: Any, name: str) -> Any:
        """A field of an order document (`[order]` paths); FileMismatch when it is not there."""
        where = self.contract.order.get(name)
        try:
            return at(order, where)
        except KeyError:
            raise FileMismatch(f"an order has no {where!r} (order.{name}); its keys: {_keys(order)}") from None

    def order_type_value(self, kind: OrderType) -> str:
        return self.contract.order_types[kind]

    # --- sockets ---------------------------------------------------------------------------------

    def socket(self, token: str) -> RealtimeClient:
        """A socket that presents `token` where the file says (auth payload, query, header)."""
        auth = self.contract.auth
        value = auth.socket_value.format(token=token)
        url = self.base_url
        if auth.socket == "auth":
            return RealtimeClient(url, token, path=self.contract.socketio_path,
                                  auth={auth.socket_key: value})
        if auth.socket == "query":
            joiner = "&" if "?" in url else "?"
            return RealtimeClient(f"{url}{joiner}{quote(auth.socket_key)}={quote(value)}", None,
                                  path=self.contract.socketio_path, auth={})
        return RealtimeClient(url, None, path=self.contract.socketio_path,
                              headers={auth.socket_key: value}, auth={})


def _check_status(action: Action, path: str, status: int, answer: Any, contract: TeamContract) -> None:
    ok = status == action.status if action.status is not None else status // 100 == 2
    if ok:
        return
    said = f"the file says {action.status}" if action.status is not None else "the file expects a 2xx"
    message = at(answer, contract.error_message, None) if contract.error_message else None
    raise FileMismatch(f"{action.method} {path}: answered {status} ({said})"
                       + (f": {message}" if message else f": {str(answer)[:300]}"))


def _keys(document: Any) -> str:
    if isinstance(document, dict):
        return ", ".join(sorted(map(str, document))) or "none"
    return f"not an object ({type(document).__name__})"
