"""HTTP exchanges as conformance evidence: one request and its answer, and the assertions
the status, transition and HTTP-error checks share (the contract's error shape, `details`
of 422 and 409 answers, an order left unchanged)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Collection
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from ..api import Session
from ..contract import (
    BY_OPERATION,
    LEGACY_STATUSES,
    TRANSITIONS,
    Actor,
    Operation,
    OrderType,
    Status,
    Transition,
    Via,
    problem,
)
from ..contract.schemas import ERROR_OUT
from .model import expect
from .target import Target

#: The nine valid statuses, as the wire spells them.
VALID_STATUSES = [s.value for s in Status]
_CLIP = 400


def _clip(text: str, limit: int = _CLIP) -> str:
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text):,} characters)"


def who(user: Session) -> str:
    """How evidence names a user: role and the run-prefixed name."""
    return f"{user.role.value} {user.name}"


@dataclass(frozen=True)
class Exchange:
    """One request and its answer, kept as the evidence a failure shows."""

    method: str
    path: str
    who: str
    #: What was sent: the JSON body, a description of raw bytes, or None (no body).
    body: Any
    status: int
    #: The answer: its JSON, or (not JSON) its text.
    answer: Any

    @property
    def request(self) -> str:
        return f"{self.method} {self.path} as {self.who}"

    @property
    def sent(self) -> str:
        if self.body is None:
            return self.request
        text = self.body if isinstance(self.body, str) else json.dumps(self.body)
        return f"{self.request} {_clip(text)}"

    @property
    def got(self) -> dict[str, Any]:
        answer = _clip(self.answer) if isinstance(self.answer, str) else self.answer
        return {"status": self.status, "body": answer}

    @property
    def error(self) -> dict[str, Any]:
        """The answer's `error` object ({} when there is none)."""
        error = self.answer.get("error") if isinstance(self.answer, dict) else None
        return error if isinstance(error, dict) else {}

    @property
    def details(self) -> dict[str, Any]:
        details = self.error.get("details")
        return details if isinstance(details, dict) else {}

    @property
    def order(self) -> dict[str, Any]:
        """The answer's `order` ({} when there is none)."""
        order = self.answer.get("order") if isinstance(self.answer, dict) else None
        return order if isinstance(order, dict) else {}


_NO_JSON = object()


async def send(target: Target, method: str, path: str, user: Session | None, *,
               json_body: Any = _NO_JSON, content: bytes | AsyncIterator[bytes] | None = None,
               shown: str | None = None, params: dict[str, Any] | None = None,
               token: str | None = None, as_whom: str | None = None) -> Exchange:
    """One request as `user` (None: no token; `token` overrides), answered as an Exchange.

    `json_body` is sent as JSON; `content` as raw bytes (or chunks) labelled JSON, shown in
    the evidence as `shown`.
    """
    token = token if token is not None else (user.token if user is not None else None)
    whom = as_whom or (who(user) if user is not None else "nobody (no token)")
    shown_path = f"{path}?{urlencode(params)}" if params else path
    if content is not None:
        response = await target.api.request(method, path, token=token, content=content,
                                            params=params,
                                            headers={"Content-Type": "application/json"})
        body: Any = shown or "<raw bytes>"
    else:
        response = await target.api.request(
            method, path, token=token, params=params,
            json=None if json_body is _NO_JSON else json_body)
        body = None if json_body is _NO_JSON else json_body
    try:
        answer: Any = response.json()
    except ValueError:
        answer = response.text
    return Exchange(method, shown_path, whom, body, response.status_code, answer)


def endpoint(operation: Operation, **path_params: str) -> tuple[str, str]:
    """The method and path of an operation (from the contract's endpoint table)."""
    ep = BY_OPERATION[operation]
    return ep.method, ep.url_path(**path_params)


def _either(statuses: Collection[int]) -> str:
    return " or ".join(str(s) for s in sorted(statuses))


def expect_answer(ex: Exchange, statuses: int | Collection[int], summary: str) -> None:
    """The answer's HTTP status is one of `statuses`; a failure shows the whole exchange."""
    wanted = {statuses} if isinstance(statuses, int) else set(statuses)
    expect(ex.status in wanted, f"{summary}: {ex.request} answered {ex.status}, not "
           f"{_either(wanted)}", sent=ex.sent, expected=_either(wanted), got=ex.got)


def expect_error(ex: Exchange, statuses: int | Collection[int], summary: str) -> dict[str, Any]:
    """An error answer with one of `statuses` and the contract's error shape; its `error`."""
    expect_answer(ex, statuses, summary)
    found = problem(ERROR_OUT, ex.answer)
    expect(found is None, f"{summary}: the {ex.status} answer to {ex.request} is not the "
           f"contract's error shape ({found})", sent=ex.sent,
           expected='{"error": {"code": "...", "message": "...", "details": ...}}', got=ex.got)
    return ex.error


def expect_valid_statuses(ex: Exchange, summary: str) -> None:
    """A 422 on a status lists exactly the nine valid statuses in `details.validStatuses`."""
    listed = ex.details.get("validStatuses")
    expect(isinstance(listed, list) and len(listed) == len(VALID_STATUSES)
           and sorted(map(str, listed)) == sorted(VALID_STATUSES),
           f"{summary}: details.validStatuses of the 422 to {ex.request} is not the nine valid "
           f"statuses", sent=ex.sent, expected={"validStatuses": VALID_STATUSES}, got=ex.got)


def allowed_next_readings(current: Status, order_type: OrderType, via: Via,
                          actor: Actor) -> dict[str, list[str]]:
    """What `allowedNext` may list, by each reasonable reading of section 8 (which names the
    field but not its scope): every move the table has from `current` for this order type
    (the reference server's), or only those of this request (PATCH or assign-driver), or only
    those this user may make, or both narrowings. Reading -> the statuses, sorted."""
    moves = [t for t in TRANSITIONS if t.source is current and order_type in t.order_types]
    narrowings: dict[str, Callable[[Transition], bool]] = {
        "every move from the current status": lambda t: True,
        "the moves this request can make": lambda t: t.via is via,
        "the moves this user may make": lambda t: actor in t.actors,
        "the moves this user may make with this request":
            lambda t: t.via is via and actor in t.actors,
    }
    return {name: sorted({t.target.value for t in moves if keep(t)})
            for name, keep in narrowings.items()}


def expect_transition_details(ex: Exchange, current: Status, order_type: OrderType,
                              summary: str, *, via: Via = Via.PATCH_STATUS,
                              actor: Actor = Actor.STORE_OWNER) -> frozenset[str]:
    """A 409 names `details.currentStatus` and `details.allowedNext` (section 8): the current
    status, and the next ones by any reading of `allowed_next_readings`. The readings that
    fit this answer (for the evidence: `readings_seen`)."""
    readings = allowed_next_readings(current, order_type, via, actor)
    listed = ex.details.get("allowedNext")
    got = sorted(map(str, listed)) if isinstance(listed, list) else None
    matched = [name for name, nexts in readings.items() if got == nexts]
    ok = ex.details.get("currentStatus") == current.value and bool(matched)
    expect(ok, f"{summary}: the 409 to {ex.request} does not name currentStatus "
           f"{current.value} and an allowedNext the table gives from it", sent=ex.sent,
           expected={"currentStatus": current.value,
                     "allowedNext (any of)": {name: nexts for name, nexts in readings.items()}},
           got=ex.got)
    return frozenset(matched)


def readings_seen(fits: list[frozenset[str]]) -> str:
    """The allowedNext readings that fit every 409 answer, for the evidence."""
    if not fits:
        return "no 409 seen"
    common = frozenset.intersection(*fits)
    if not common:
        return "no one reading fits every answer (each fits one)"
    order = list(allowed_next_readings(Status.PENDING, OrderType.DELIVERY, Via.PATCH_STATUS,
                                       Actor.STORE_OWNER))
    return " = ".join(name for name in order if name in common)


def legacy_note(value: Any) -> str:
    """ ` (a legacy value, ...)` when `value` is one of the legacy statuses."""
    if isinstance(value, str) and value in LEGACY_STATUSES:
        return (" (a legacy value, replaced by "
                + " or ".join(s.value for s in LEGACY_STATUSES[value]) + ")")
    return ""


async def expect_unchanged(target: Target, user: Session, order: dict[str, Any],
                           after_what: str) -> dict[str, Any]:
    """The order as `user` reads it now is still at the status and version of `order`."""
    now = await target.api.order(user.token, order["id"])
    expect(now.get("status") == order["status"] and now.get("version") == order["version"],
           f"{after_what} changed order {order['id']}",
           expected={"status": order["status"], "version": order["version"]},
           got={"status": now.get("status"), "version": now.get("version")})
    return now
