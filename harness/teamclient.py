"""A client for any target, driven by its contract file (harness/contract/teamfile.py).

Where `api.OrdersApi` speaks our contract's routes, this one speaks whatever the file says:
its routes and bodies, where the answer keeps the token or the order, how the socket takes
the token. Every exchange is kept (`exchanges`), so a tool can show what was sent and what
came back when the target and the file disagree.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from .contract import Role
from .contract.teamfile import Action, TeamContract, at
from .errors import AnswerMismatch, FileMismatch
from .ledger.reader import OrderFacts, Reader
from .realtime import RealtimeClient
from .target import Target


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
        self.target = Target(contract, Reader(contract))
        self.exchanges: list[Exchange] = []
        self._http = httpx.AsyncClient(base_url=self.base_url, timeout=timeout, verify=verify)

    async def __aenter__(self) -> TeamClient:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self._http.aclose()

    async def attempt(self, name: str, /, *, token: str | None = None, **values: Any) -> Exchange:
        """Send one action's request and keep the exchange, whatever the answer (a check of a
        refusal reads it); FileMismatch only when no answer came."""
        if self.contract.action(name) is None:
            raise FileMismatch(f"the contract file states no actions.{name}")
        request = self.target.request(name, token=token, **values)
        body = request.body_kwargs()
        try:
            response = await self._http.request(request.method, request.path,
                                                headers=request.headers, **body)
        except httpx.HTTPError as exc:
            raise FileMismatch(f"{request.method} {request.path}: no answer "
                               f"({type(exc).__name__}: {exc})") from None
        try:
            answer: Any = response.json()
        except ValueError:
            answer = response.text
        exchange = Exchange(request.method, request.path, request.body, response.status_code, answer)
        self.exchanges.append(exchange)
        return exchange

    async def act(self, name: str, /, *, token: str | None = None, **values: Any) -> dict[str, Any]:
        """Take one action; its answer's named parts (`answer` paths of the file). Raises
        FileMismatch when the answer's status or a stated path is not as the file says."""
        exchange = await self.attempt(name, token=token, **values)
        _check_status(self.contract.actions[name], exchange.path, exchange.status, exchange.answer,
                      self.contract)
        try:
            return self.target.parts(name, exchange.answer)
        except AnswerMismatch as exc:
            raise FileMismatch(f"{exc}; its keys: {_keys(exchange.answer)}") from None

    # --- what the harness reads in an order -------------------------------------------------------

    def order(self, document: Any) -> OrderFacts:
        """An order document, read by the file's `[order]` paths; FileMismatch names what is
        not where the file says."""
        try:
            return self.target.reader.order(document)
        except ValueError as exc:
            raise FileMismatch(f"{exc}; its keys: {_keys(document)}") from None

    # --- sockets ---------------------------------------------------------------------------------

    def socket(self, token: str) -> RealtimeClient:
        """A socket that presents `token` where the file says (auth payload, query, header)."""
        target = self.target
        return RealtimeClient(target.socket_url(self.base_url, token), None,
                              path=self.contract.socketio_path,
                              auth=target.socket_auth(token) or {},
                              headers=target.socket_headers(token))


def _check_status(action: Action, path: str, status: int, answer: Any, contract: TeamContract) -> None:
    if action.ok(status):
        return
    said = f"the file says {action.status}" if action.status is not None else "the file expects a 2xx"
    message = at(answer, contract.error_message, None) if contract.error_message else None
    raise FileMismatch(f"{action.method} {path}: answered {status} ({said})"
                       + (f": {message}" if message else f": {str(answer)[:300]}"))


def _keys(document: Any) -> str:
    if isinstance(document, dict):
        return ", ".join(sorted(map(str, document))) or "none"
    return f"not an object ({type(document).__name__})"
