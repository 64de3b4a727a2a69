"""The real JavaScript client (socket.io-client 4.x, tests/js/listen.js) against the reference server.

A customer, a store owner and the driver each listen with the JS client, connected exactly
as the seed's frontend connects; a delivery order is driven through its whole lifecycle over
the HTTP API, and each peer must print exactly the events that the contract's routing table
(`harness.contract.emissions_for`) gives its room, each a valid payload. Node.js is required:
a missing `node` fails (it does not skip); `make test` installs tests/js with `npm ci`.
"""

from __future__ import annotations

import json
import shutil
import time
from collections import Counter
from typing import Any, Iterator

import httpx
import jwt
import pytest

from harness import payloads
from harness.contract import (
    BY_OPERATION,
    JWT_ALGORITHM,
    STORE_OWNERS_ROOM,
    Actor,
    ChangeKind,
    ClientEvent,
    ConnectError,
    Event,
    Operation,
    OrderChange,
    OrderType,
    Role,
    Status,
    Via,
    customer_room,
    driver_room,
    emissions_for,
    event_problem,
    lifecycle,
    problem,
)
from harness.contract.schemas import TIME_SYNC_ACK
from tests.support.child_processes import ROOT, Child
from tests.support.server import ServerThread

JS_DIR = ROOT / "tests" / "js"
LISTEN = JS_DIR / "listen.js"
CONNECT_TIMEOUT = 15.0
EVENTS_TIMEOUT = 10.0
#: After the expected events have arrived, how long to keep listening for unexpected ones.
GRACE_S = 0.5
PASSWORD = "correct horse battery"


@pytest.fixture(scope="module")
def node() -> str:
    found = shutil.which("node")
    if found is None:
        pytest.fail("Node.js (`node`) is not on PATH: the interop tests need Node.js 20 and "
                    "tests/js installed (`make test` runs `npm ci --prefix tests/js`)")
    if not (JS_DIR / "node_modules" / "socket.io-client").is_dir():
        pytest.fail("tests/js/node_modules is missing: run `npm ci --prefix tests/js` "
                    "(`make test` does it)")
    return found


def _records(peer: Child) -> list[dict[str, Any]]:
    try:
        return peer.json_lines()
    except json.JSONDecodeError as exc:
        raise AssertionError(f"the JS peer printed a line that is not JSON: {exc}\n"
                             f"{peer.describe()}") from None


def _of_type(peer: Child, kind: str) -> list[dict[str, Any]]:
    return [r for r in _records(peer) if r.get("type") == kind]


def _start(node: str, url: str, token: str, *emit: str) -> Child:
    return Child([node, str(LISTEN), url, token, *emit], cwd=JS_DIR)


def _wait_connected(peer: Child) -> dict[str, Any]:
    peer.wait_until(lambda: bool(_of_type(peer, "connect") or _of_type(peer, "connect_error")),
                    CONNECT_TIMEOUT, "the JS peer's connect line")
    refused = _of_type(peer, "connect_error")
    assert not refused, f"the JS peer was refused: {refused}\n{peer.describe()}"
    connect = _of_type(peer, "connect")[0]
    assert connect.get("transport") == "websocket", (
        f"the JS client connected over {connect.get('transport')!r}, not websocket")
    return connect


# --- HTTP, sync ---------------------------------------------------------------------------------


def _call(http: httpx.Client, operation: Operation, token: str | None = None, body: Any = None,
          **path: str) -> dict[str, Any]:
    ep = BY_OPERATION[operation]
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = http.request(ep.method, ep.url_path(**path), json=body, headers=headers)
    assert response.status_code == ep.success_status, f"{ep.method} {ep.path}: {response.text}"
    return response.json()


_n = [0]


def _register(http: httpx.Client, role: Role) -> dict[str, Any]:
    _n[0] += 1
    stamp = f"{time.time_ns()}-{_n[0]}"
    return _call(http, Operation.REGISTER, body={
        "name": f"js {role.value}", "email": f"js-{role.value}-{stamp}@example.test",
        "password": PASSWORD, "role": role.value})


@pytest.fixture(scope="module")
def http(server: ServerThread) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=15.0) as client:
        yield client


# --- the lifecycle ------------------------------------------------------------------------------


def _expected(changes: list[tuple[OrderChange, int]], rooms: dict[str, str]) -> dict[str, Counter]:
    """peer name -> Counter of (event, status, version, kind) the routing table sends it."""
    want: dict[str, Counter] = {name: Counter() for name in set(rooms.values())}
    for change, version in changes:
        for emission in emissions_for(change):
            kind = emission.delivery_kind.value if emission.delivery_kind else None
            for room in emission.rooms:
                if room in rooms:
                    want[rooms[room]][(emission.event.value, change.status, version, kind)] += 1
    return want


def _got(peer: Child, order_id: str) -> list[dict[str, Any]]:
    return [r for r in _of_type(peer, "event")
            if isinstance(r.get("payload"), dict) and r["payload"].get("orderId") == order_id]


def _key(record: dict[str, Any]) -> tuple[Any, ...]:
    p = record["payload"]
    return (record["event"], p.get("status"), p.get("version"),
            p.get("kind") if record["event"] == Event.DELIVERY_UPDATE.value else None)


def test_js_peers_receive_exactly_their_rooms_events(node: str, server: ServerThread,
                                                     http: httpx.Client) -> None:
    customer, owner, driver = (_register(http, r) for r in
                               (Role.CUSTOMER, Role.STORE_OWNER, Role.DRIVER))
    customer_id, driver_id = customer["user"]["id"], driver["user"]["id"]
    peers = {name: _start(node, server.url, who["token"])
             for name, who in (("customer", customer), ("owner", owner), ("driver", driver))}
    try:
        for peer in peers.values():
            _wait_connected(peer)

        order = _call(http, Operation.CHECKOUT, customer["token"],
                      payloads.checkout(OrderType.DELIVERY))["order"]
        order_id = order["id"]
        assert order["status"] == Status.PENDING.value and order["version"] == 1
        changes = [(OrderChange(ChangeKind.CREATED, order_id, customer_id, OrderType.DELIVERY,
                                Status.PENDING.value), 1)]
        assigned: str | None = None
        for step in lifecycle(OrderType.DELIVERY):
            if step.via is Via.ASSIGN_DRIVER:
                order = _call(http, Operation.ASSIGN_DRIVER, owner["token"], {"driverId": driver_id},
                              order_id=order_id)["order"]
                assigned = driver_id
            else:
                actor = owner if Actor.STORE_OWNER in step.actors else driver
                order = _call(http, Operation.UPDATE_STATUS, actor["token"],
                              {"status": step.target.value}, order_id=order_id)["order"]
            assert order["status"] == step.target.value
            changes.append((OrderChange(ChangeKind.STATUS, order_id, customer_id,
                                        OrderType.DELIVERY, step.target.value, assigned),
                            order["version"]))
        assert order["status"] == Status.DELIVERED.value

        rooms = {customer_room(customer_id): "customer", STORE_OWNERS_ROOM: "owner",
                 driver_room(driver_id): "driver"}
        want = _expected(changes, rooms)
        for name, peer in peers.items():
            total = sum(want[name].values())
            peer.wait_until(lambda p=peer, t=total: len(_got(p, order_id)) >= t, EVENTS_TIMEOUT,
                            f"{total} events for the {name}")
        time.sleep(GRACE_S)  # anything more that arrives now is an event too many

        for name, peer in peers.items():
            events = _of_type(peer, "event")
            if name != "owner":  # fresh users: every event they get must be about this order
                strays = [e for e in events if not isinstance(e.get("payload"), dict)
                          or e["payload"].get("orderId") != order_id]
                assert not strays, f"the {name} got events about other orders: {strays}"
            mine = _got(peer, order_id)
            for record in mine:
                found = event_problem(record["event"], record["payload"])
                assert found is None, f"{name} got an invalid {record['event']}: {found}: {record}"
                assert record["payload"]["customerId"] == customer_id
            got = Counter(_key(r) for r in mine)
            assert got == want[name], (
                f"the {name} got the wrong events.\nmissing: {want[name] - got}\n"
                f"unexpected: {got - want[name]}")
            versions = [r["payload"]["version"] for r in mine]
            assert versions == sorted(versions), f"the {name} got events out of version order: {versions}"
            ids = [r["payload"]["eventId"] for r in mine]
            assert len(ids) == len(set(ids)), f"the {name} got an event twice: {ids}"

        # The routing table in plain words, so a wrong table cannot hide behind `_expected`.
        received = {name: {r["event"] for r in _got(peer, order_id)} for name, peer in peers.items()}
        assert Event.NEW_ORDER.value in received["owner"]
        assert Event.NEW_ORDER.value not in received["customer"] | received["driver"]
        assert Event.CUSTOMER_ORDER_UPDATE.value in received["customer"]
        assert Event.CUSTOMER_ORDER_UPDATE.value not in received["owner"] | received["driver"]
        assert {Event.ORDER_STATUS_UPDATED.value, Event.DELIVERY_UPDATE.value} <= received["driver"]
        first_for_driver = min(r["payload"]["version"] for r in _got(peers["driver"], order_id))
        assigned_version = next(v for c, v in changes if c.status == Status.DRIVER_ASSIGNED.value)
        assert first_for_driver == assigned_version, "the driver heard of the order before assignment"
        for name, peer in peers.items():
            assert not _of_type(peer, "disconnect"), f"the {name}'s JS client was disconnected"
    finally:
        for peer in peers.values():
            peer.close()


def _token(secret: str, *, exp_in: int) -> str:
    now = int(time.time())
    claims = {"sub": "js-someone", "role": Role.CUSTOMER.value, "name": "JS",
              "iat": now - 7200, "exp": now + exp_in}
    return jwt.encode(claims, secret, algorithm=JWT_ALGORITHM)


@pytest.mark.parametrize("kind", ["garbage", "forged", "expired"])
def test_js_client_gets_connect_error_for_a_bad_token(kind: str, node: str,
                                                      server: ServerThread) -> None:
    secret = server.config.jwt_secret
    token, message = {
        "garbage": ("not-a-jwt", ConnectError.UNAUTHORIZED),
        "forged": (_token(secret + "-not-really", exp_in=600), ConnectError.UNAUTHORIZED),
        "expired": (_token(secret, exp_in=-600), ConnectError.TOKEN_EXPIRED),
    }[kind]
    with _start(node, server.url, token) as peer:
        peer.wait_until(lambda: bool(_of_type(peer, "connect_error") or _of_type(peer, "connect")),
                        CONNECT_TIMEOUT, "a connect_error line")
        assert not _of_type(peer, "connect"), f"a {kind} token was let in\n{peer.describe()}"
        errors = _of_type(peer, "connect_error")
        assert errors[0]["message"] == message.value, errors
        time.sleep(0.3)
        assert not _of_type(peer, "event"), "a refused client received events"


def test_js_client_time_sync_ack(node: str, server: ServerThread, http: httpx.Client) -> None:
    customer = _register(http, Role.CUSTOMER)
    low = time.time_ns() // 1_000_000
    with _start(node, server.url, customer["token"], ClientEvent.TIME_SYNC.value,
                json.dumps({"clientTime": low})) as peer:
        _wait_connected(peer)
        peer.wait_until(lambda: bool(_of_type(peer, "ack")), CONNECT_TIMEOUT, "the time_sync ack")
        high = time.time_ns() // 1_000_000
        record = _of_type(peer, "ack")[0]
        assert record["event"] == ClientEvent.TIME_SYNC.value
        found = problem(TIME_SYNC_ACK, record["ack"])
        assert found is None, f"bad time_sync ack {record['ack']!r}: {found}"
        assert low - 1000 <= record["ack"]["serverTime"] <= high + 1000, (record, low, high)
