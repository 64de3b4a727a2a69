"""`harness contract check`: walk one delivery and one pickup order through a target by its
contract file, show every exchange and every event each party got, and stop at the first
place where the target and the file disagree.

This is how a team writes its file: run it, read the first mismatch (a wrong path, a field
not where the file says, an event that never came or came to the wrong room), fix the file
or the server, run it again.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from . import payloads
from .contract import OrderType, Role
from .contract.routing import Audience, ChangeKind
from .contract.teamfile import EventRule, TeamContract, TransitionRule, at, fill
from .errors import ConnectRefused, FileMismatch
from .ledger import CountsByEvent, SocketLedger
from .ledger.reader import Reader
from .realtime import RealtimeClient, Received
from .teamclient import Account, TeamClient

#: Who takes a step when the file lets several roles make it.
_PREFERRED = (Role.STORE_OWNER, Role.DRIVER, Role.CUSTOMER)
_PARTY = {Role.CUSTOMER: "customer", Role.STORE_OWNER: "store owner", Role.DRIVER: "driver"}
#: A second customer, whose socket must get nothing of the walked orders (a room leak).
BYSTANDER = "other customer"
#: Every party: its name in the output, and its role.
_PARTIES = (*((name, role) for role, name in _PARTY.items()), (BYSTANDER, Role.CUSTOMER))
_AUDIENCE_ROLE = {Audience.STORE_OWNERS: Role.STORE_OWNER, Audience.CUSTOMER: Role.CUSTOMER,
                  Audience.DRIVER: Role.DRIVER}
#: After the expected events came, how long to wait for any that should not come.
GRACE_S = 0.3


@dataclass
class CheckResult:
    ok: bool
    requests: int = 0
    events: int = 0
    mismatch: str | None = None
    lines: list[str] = field(default_factory=list)
    #: Every event each party's socket got (by party: "customer", "store owner", ...), and
    #: the party's user id.
    received: dict[str, list[Received]] = field(default_factory=dict)
    user_ids: dict[str, str] = field(default_factory=dict)


def _short(value: Any, limit: int = 240) -> str:
    text = json.dumps(value, default=str, separators=(",", ":")) if not isinstance(value, str) else value
    return text if len(text) <= limit else text[:limit] + "…"


class Walk:
    """Parties signed up and connected through a contract file, walking orders and keeping
    every event their sockets got (`harness contract check`; the file.* conformance checks)."""

    def __init__(self, client: TeamClient, contract: TeamContract, *, timeout_s: float,
                 jwt_secret: str | None, say: Callable[[str], None]) -> None:
        self.client, self.contract = client, contract
        self.timeout_s, self.jwt_secret = timeout_s, jwt_secret
        self.say = say
        self.accounts: dict[str, Account] = {}
        self.sockets: dict[str, RealtimeClient] = {}
        self.seen: dict[str, int] = {}
        self.events = 0
        self.names = {rule.name: rule for rule in contract.events.values()}

    # --- requests ------------------------------------------------------------------------------

    async def act(self, action: str, role: Role | None, /, **values: Any) -> dict[str, Any]:
        token = self.accounts[_PARTY[role]].token if role is not None else None
        before = len(self.client.exchanges)
        try:
            return await self.client.act(action, token=token, **values)
        finally:
            for ex in self.client.exchanges[before:]:
                who = f" as the {_PARTY[role]}" if role is not None else ""
                self.say(f"  -> {ex.method} {ex.path}{who}" + (f" {_short(ex.body)}" if ex.body is not None else ""))
                self.say(f"  <- {ex.status} {_short(ex.answer)}")

    async def sign_up(self) -> None:
        self.say("accounts")
        for party, role in _PARTIES:
            wire_role = self.contract.auth.roles[role]
            if self.contract.auth.mode == "mint":
                if not self.jwt_secret:
                    raise FileMismatch('auth.mode is "mint": give the target\'s secret (--jwt-secret)')
                user_id = f"harness-{role.value}-{secrets.token_hex(4)}"
                if role is Role.DRIVER and self.contract.action("list_drivers") is not None:
                    user_id = await self._listed_driver()
                token = self.client.target.mint(self.jwt_secret, user_id, role)
                self.say(f"  minted a token for the {party} ({self.contract.auth.claim_user_id}={user_id})")
            else:
                email = f"check-{role.value}-{secrets.token_hex(4)}@example.test"
                parts = await self.act("register", None, name=f"Contract check {role.value}",
                                       email=email, password="contract-check-1", role=wire_role)
                token, user_id = str(parts["token"]), str(parts["user_id"])
            self.accounts[party] = Account(role, token, user_id)

    async def _listed_driver(self) -> str:
        """A driver the target knows (minted tokens speak for users it may not know: a driver
        must be one it can assign)."""
        listed = await self.act("list_drivers", Role.STORE_OWNER)
        where = self.contract.actions["list_drivers"].answer["driver_id"]
        ids = [str(at(d, where, "")) for d in listed["drivers"] or []]
        ids = [i for i in ids if i]
        if not ids:
            raise FileMismatch(f'auth.mode is "mint" and list_drivers lists no driver with an id at '
                               f"{where!r}: register one first")
        return ids[0]

    async def connect(self) -> None:
        auth = self.contract.auth
        self.say(f"sockets (token in the handshake's {auth.socket} as {auth.socket_key!r})")
        for party, account in self.accounts.items():
            sock = self.client.socket(account.token)
            try:
                await sock.connect(timeout=self.timeout_s)
            except ConnectRefused as exc:
                raise FileMismatch(f"the {party}'s socket was refused: {exc.message} "
                                   f"(auth.socket, auth.socket_key, auth.socket_value)") from None
            self.sockets[party] = sock
            self.seen[party] = 0
            self.say(f"  the {party} connected")

    async def close(self) -> None:
        for sock in self.sockets.values():
            await sock.disconnect()

    # --- events --------------------------------------------------------------------------------

    def _expected(self, kind: ChangeKind, status: str | None, order_type: OrderType,
                  driver_assigned: bool) -> list[tuple[Role, EventRule]]:
        out = []
        for rule in self.contract.produced_by(kind, status, order_type):
            for audience in rule.rooms:
                role = _AUDIENCE_ROLE[audience]
                if role is Role.DRIVER and not driver_assigned:
                    continue
                out.append((role, rule))
        return out

    def _of_order(self, party: str, order_id: str) -> list[tuple[str, Any]]:
        """Events of this order the party got since last looked (by the file's names)."""
        got = []
        for r in self.sockets[party].received[self.seen[party]:]:
            rule = self.names.get(r.event)
            if rule is None:
                continue
            if str(at(r.payload, rule.fields["order_id"], None)) == order_id:
                got.append((r.event, r.payload))
        return got

    async def expect(self, what: str, order_id: str, expected: list[tuple[Role, EventRule]],
                     status: str | None) -> None:
        deadline = time.monotonic() + self.timeout_s
        want = {(_PARTY[role], rule.name) for role, rule in expected}
        while time.monotonic() < deadline:
            have = {(party, name) for party in self.sockets for name, _ in self._of_order(party, order_id)}
            if want <= have:
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(GRACE_S)
        for party, role in _PARTIES:
            got = self._of_order(party, order_id)
            self.seen[party] = len(self.sockets[party].received)
            for name, payload in got:
                self.events += 1
                rule = self.names[name]
                self.say(f"  the {party} got {name} {_short(payload, 160)}")
                if party == BYSTANDER:
                    raise FileMismatch(f"{what}: {name} came to another customer, whose room "
                                       f"({self.contract.room(Audience.CUSTOMER, self.accounts[party].user_id)!r}) "
                                       "must get nothing of this order: a room leak")
                if (party, name) not in want:
                    raise FileMismatch(
                        f"{what}: {name} came to the {party}, whose room the file does not "
                        f"name for it (events.{rule.event.name.lower()}.rooms = "
                        f"{[a.name.lower() for a in rule.rooms]})")
                if status is not None:
                    said = at(payload, rule.fields["status"], None)
                    if said != status:
                        raise FileMismatch(
                            f"{what}: {name} to the {party} has {said!r} at "
                            f"{rule.fields['status']!r} (events.{rule.event.name.lower()}.fields.status), "
                            f"not {status!r}")
            missing = [name for p, name in sorted(want) if p == party and name not in {n for n, _ in got}]
            if missing:
                rule = self.names[missing[0]]
                room = self.contract.rooms[next(a for a in rule.rooms if _AUDIENCE_ROLE[a] is role)]
                raise FileMismatch(
                    f"{what}: {missing[0]} never came to the {party} (room {room!r}) within "
                    f"{self.timeout_s:g} s, or came without this order's id at "
                    f"{rule.fields['order_id']!r} (events.{rule.event.name.lower()}.fields.order_id)")

    # --- one order -----------------------------------------------------------------------------

    def _checkout(self, kind: OrderType) -> dict[str, Any]:
        return {"items": payloads.items(), "order_type": self.contract.order_types[kind],
                "address": payloads.address() if kind is OrderType.DELIVERY else None,
                "card": payloads.card()}

    async def order(self, kind: OrderType) -> None:
        c = self.contract
        self.say(f"a {kind.value} order")
        order = self.client.order((await self.act("checkout", Role.CUSTOMER, **self._checkout(kind)))["order"])
        order_id, status, customer = order.id, order.status, order.customer_id
        if status != c.first_status:
            raise FileMismatch(f"a new order's status is {status!r}, not lifecycle.first {c.first_status!r}")
        if customer != self.accounts[_PARTY[Role.CUSTOMER]].user_id:
            raise FileMismatch(f"the order's customer ({c.order['customer_id']!r}: {customer!r}) is not "
                               f"the customer's id from its sign-up ({self.accounts[_PARTY[Role.CUSTOMER]].user_id!r})")
        await self.expect(f"the new {kind.value} order", order_id,
                          self._expected(ChangeKind.CREATED, status, kind, False), None)
        read = self.client.order((await self.act("get_order", Role.CUSTOMER, order_id=order_id))["order"])
        if read.id != order_id:
            raise FileMismatch("get_order answered another order")
        assigned = False
        for step in c.lifecycle(kind):
            assigned = await self.step(kind, order_id, step, assigned)
        if not c.lifecycle(kind):
            raise FileMismatch(f"the file's lifecycle has no way forward for a {kind.value} order "
                               f"from {c.first_status!r}")

    async def step(self, kind: OrderType, order_id: str, step: TransitionRule, assigned: bool) -> bool:
        role = next(r for r in _PREFERRED if r in step.by)
        what = f"{step.source} -> {step.target}"
        self.say(f" {what} by the {_PARTY[role]}")
        if step.action == "assign_driver":
            driver_id = self.accounts[_PARTY[Role.DRIVER]].user_id
            if self.contract.action("list_drivers") is not None:
                listed = await self.act("list_drivers", Role.STORE_OWNER)
                ids = [str(at(d, self.contract.actions["list_drivers"].answer["driver_id"], None))
                       for d in listed["drivers"] or []]
                if driver_id not in ids:
                    raise FileMismatch(f"list_drivers does not list the driver {driver_id!r} at "
                                       f"{self.contract.actions['list_drivers'].answer['driver_id']!r}: {ids[:5]}")
            order = (await self.act("assign_driver", role, order_id=order_id, driver_id=driver_id,
                                    status=step.target))["order"]
            assigned = True
        else:
            order = (await self.act("update_status", role, order_id=order_id, status=step.target))["order"]
        status = self.client.order(order).status
        if status != step.target:
            raise FileMismatch(f"{what}: the answer's order is {status!r} at "
                               f"{self.contract.order['status']!r}, not {step.target!r}")
        await self.expect(what, order_id, self._expected(ChangeKind.STATUS, step.target, kind, assigned),
                          step.target)
        if step.action == "assign_driver" and self.contract.location is not None:
            await self.location(kind, order_id)
        return assigned

    async def burst(self, kind: OrderType) -> str:
        """A new order moved through the first party's steps of the lifecycle back to back
        (each request sent as soon as the last is answered), then every party's events of it
        awaited: events that go out of order under quick changes show here. Its id."""
        c = self.contract
        self.say(f"a {kind.value} order, moved quickly")
        order = self.client.order((await self.act("checkout", Role.CUSTOMER, **self._checkout(kind)))["order"])
        order_id = order.id
        path = c.lifecycle(kind)
        role = next((r for r in _PREFERRED if path and r in path[0].by), None)
        steps = []
        for step in path:
            if step.action != "update_status" or role not in step.by:
                break
            steps.append(step)
        expected = self._expected(ChangeKind.CREATED, c.first_status, kind, False)
        for step in steps:
            await self.act("update_status", role, order_id=order_id, status=step.target)
            expected += self._expected(ChangeKind.STATUS, step.target, kind, False)
        want: dict[str, int] = {}
        for party_role, _ in expected:
            want[_PARTY[party_role]] = want.get(_PARTY[party_role], 0) + 1
        deadline = time.monotonic() + self.timeout_s
        while time.monotonic() < deadline and any(
                len(self._of_order(party, order_id)) < n for party, n in want.items()):
            await asyncio.sleep(0.05)
        await asyncio.sleep(GRACE_S)
        for party in self.sockets:
            self.seen[party] = len(self.sockets[party].received)
        return order_id

    def received_by(self, party: str) -> list[Received]:
        return list(self.sockets[party].received) if party in self.sockets else []

    def judged(self) -> dict[str, CountsByEvent]:
        """Every party's events as the ledger judges them by the file, by party."""
        return judge(self.contract, {party: sock.received for party, sock in self.sockets.items()},
                     {party: account.user_id for party, account in self.accounts.items()})

    async def location(self, kind: OrderType, order_id: str) -> None:
        report = self.contract.location
        assert report is not None
        payload = fill(report.body, {**self.contract.values, "order_id": order_id, "lat": 52.5, "lng": 13.4})
        self.say(f" a location report ({report.name}) by the driver")
        self.say(f"  -> {report.name} {_short(payload)}")
        try:
            ack = await self.sockets[_PARTY[Role.DRIVER]].sio.call(report.name, payload, timeout=self.timeout_s)
        except Exception as exc:  # noqa: BLE001  (socketio's timeout, or a dropped socket)
            raise FileMismatch(f"{report.name}: no ack within {self.timeout_s:g} s ({type(exc).__name__})") from None
        self.say(f"  <- ack {_short(ack)}")
        if report.ack_ok is not None and at(ack, report.ack_ok, None) is not True:
            raise FileMismatch(f"{report.name}: the ack has no true at {report.ack_ok!r} "
                               f"(client_events.location.ack_ok): {_short(ack)}")
        await self.expect("the location report", order_id,
                          self._expected(ChangeKind.LOCATION, None, kind, True), None)


def judge(contract: TeamContract, received: dict[str, list[Received]],
          user_ids: dict[str, str]) -> dict[str, CountsByEvent]:
    """What the ledger, reading the file, makes of every event each party got (duplicates,
    order, payloads, leaks), by party ("customer", "store owner", ...)."""
    reader = Reader(contract)
    out = {}
    for party, role in _PARTIES:
        if party not in received:
            continue
        counts = CountsByEvent()
        ledger = SocketLedger(party, role, user_ids[party], counts, reader=reader)
        for r in received[party]:
            ledger.receive(r.event, r.payload, r.at * 1000.0)
        out[party] = counts
    return out


async def check(target: str, contract: TeamContract, *, timeout_s: float = 5.0,
                jwt_secret: str | None = None, say: Callable[[str], None] = print,
                verify: bool = True) -> CheckResult:
    """Walk a delivery and a pickup order; the result says whether the target matched the file."""
    result = CheckResult(ok=False)

    def keep(line: str) -> None:
        result.lines.append(line)
        say(line)

    async with TeamClient(target, contract, timeout=timeout_s * 2, verify=verify) as client:
        walk = Walk(client, contract, timeout_s=timeout_s, jwt_secret=jwt_secret, say=keep)
        try:
            await walk.sign_up()
            await walk.connect()
            for kind in OrderType:
                await walk.order(kind)
            result.ok = True
        except FileMismatch as exc:
            result.mismatch = str(exc)
        finally:
            await walk.close()
            result.requests, result.events = len(client.exchanges), walk.events
            result.received = {party: list(sock.received) for party, sock in walk.sockets.items()}
            result.user_ids = {party: account.user_id for party, account in walk.accounts.items()}
    return result
