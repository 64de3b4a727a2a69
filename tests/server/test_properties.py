"""Hypothesis against the running reference server: bad input never breaks it or changes data.

HTTP (every endpoint with a body): arbitrary JSON, near-valid bodies (a valid body from
`harness.payloads` with one part replaced, deleted or made huge) and raw bytes never get a
500; a non-2xx answer is the contract's JSON error with a code the endpoint declares, and a
rejected request changes nothing (a fingerprint of the `orders` and `users` collections, read
on the server's own loop, is the same before and after). Socket.IO: with a real
python-socketio client connected as a driver, `driver_location` and `time_sync` always ack,
whatever the payload, and unknown events are ignored; none of it closes the connection.

Sync tests on the session `server` over loopback; the examples of one test share state (an
order moved by an accepted near-valid request stays moved), which the properties allow for.
"""

from __future__ import annotations

import copy
import itertools
import json
import os
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterator

import httpx
import pytest
import socketio
from hypothesis import HealthCheck, event, given, settings
from hypothesis.control import currently_in_test_context
from hypothesis import strategies as st

from harness import payloads
from harness.contract import (
    BY_OPERATION,
    DEFAULT_STORE_ID,
    HTTP_STATUS,
    LEGACY_STATUSES,
    MAX_BODY_BYTES,
    ROOM_JOIN_ATTEMPTS,
    ClientEvent,
    Endpoint,
    ErrorCode,
    Event,
    Operation,
    OrderType,
    Role,
    Status,
    problem,
)
from harness.contract.schemas import DRIVER_LOCATION_ACK, ERROR_OUT, TIME_SYNC_ACK
from tests.support.server import ServerThread
from tests.support.json_paths import json_paths

Json = Any
_run = os.urandom(3).hex()
_ids = itertools.count()
PASSWORD = "correct horse battery"


def _settings(examples: int) -> settings:
    return settings(max_examples=examples, deadline=None, derandomize=False,
                    suppress_health_check=[HealthCheck.function_scoped_fixture,
                                           HealthCheck.too_slow, HealthCheck.data_too_large])


# --- strategies ---------------------------------------------------------------------------------

#: Text with the awkward parts of Unicode too: lone surrogates (sent as `\ud800` escapes),
#: digits that are not ASCII, controls and odd spaces.
TEXT = st.text(max_size=20) | st.text(
    st.characters(categories=["Cs", "Nd", "No", "Cc", "Zs", "Cf"]), max_size=20)
_scalar = (st.none() | st.booleans() | st.integers()
           | st.floats(allow_nan=False, allow_infinity=False) | TEXT)
JSON = st.recursive(_scalar,
                    lambda kids: st.lists(kids, max_size=4)
                    | st.dictionaries(TEXT, kids, max_size=4),
                    max_leaves=15)
HUGE = st.builds(lambda ch, n: ch * n, st.sampled_from(["x", "é", "😀", "7"]),
                 st.sampled_from([201, 255, 4_000, MAX_BODY_BYTES + 10]))
#: Values a validator must be careful with.
EDGES = st.sampled_from([
    *[s.value for s in Status], *LEGACY_STATUSES, "", " ", 0, -1, 1.0, 1.5, 100, 101, 2**63,
    -(2**63), 1e308, -1e308, 5e-324, True, False, None, [], {}, "4242 4242 4242 4242",
])


@st.composite
def near_valid(draw: st.DrawFn, valid: Json) -> Json:
    """`valid` with one part (at any depth) replaced by arbitrary JSON, deleted, or made huge."""
    body = copy.deepcopy(valid)
    path = draw(st.sampled_from(json_paths(body)))
    parent = body
    for step in path[:-1]:
        parent = parent[step]
    action = draw(st.sampled_from(["json", "edge", "delete", "huge"]))
    if action == "delete":
        del parent[path[-1]]
    else:
        parent[path[-1]] = draw({"json": JSON, "edge": EDGES, "huge": HUGE}[action])
    return body


# --- the server's data, fingerprinted -----------------------------------------------------------


class Fingerprint:
    """What the `orders` and `users` collections hold, read on the server's loop.

    Within one test the reading after a rejected request is kept as the reading before the
    next one (nothing else writes meanwhile); an accepted request drops it.
    """

    def __init__(self, server: ServerThread) -> None:
        self._server = server
        self._last: tuple[Any, ...] | None = None

    def read(self) -> tuple[Any, ...]:
        assert self._server.server is not None
        store = self._server.server.store

        async def snapshot() -> tuple[Any, ...]:
            orders = await store.orders.find({}, {"version": 1, "status": 1}).to_list(None)
            users = await store.users.find({}, {"email": 1, "role": 1}).to_list(None)
            return (len(orders),
                    sorted((str(o["_id"]), o.get("version"), o.get("status")) for o in orders),
                    len(users),
                    sorted((str(u["_id"]), u.get("email"), u.get("role")) for u in users))

        return self._server.call(snapshot)

    def before(self) -> tuple[Any, ...]:
        if self._last is None:
            self._last = self.read()
        return self._last

    def assert_unchanged(self, before: tuple[Any, ...], what: str) -> None:
        after = self.read()
        self._last = after
        if after != before:
            orders_before = {o[0]: o for o in before[1]}
            changed = [o for o in after[1] if orders_before.get(o[0]) != o]
            raise AssertionError(
                f"{what} changed data: orders {before[0]} -> {after[0]}, users {before[2]} -> "
                f"{after[2]}; new or changed orders: {changed[:5]}")

    def changed(self) -> None:
        self._last = None


@pytest.fixture
def fingerprint(server: ServerThread) -> Fingerprint:
    return Fingerprint(server)


# --- users and orders to aim at -----------------------------------------------------------------


@dataclass
class Scene:
    customer_token: str
    owner_token: str
    driver_id: str
    driver_token: str
    login_body: dict[str, Any]
    patch_order_id: str
    assign_order_id: str
    located_order_id: str


def _register(http: httpx.Client, role: Role) -> dict[str, Any]:
    n = next(_ids)
    body = {"name": f"prop {role.value} {n}", "email": f"prop-{role.value}-{_run}-{n}@example.test",
            "password": PASSWORD, "role": role.value}
    response = http.post(BY_OPERATION[Operation.REGISTER].path, json=body)
    assert response.status_code == 201, response.text
    return {**response.json(), "body": body}


def _call(http: httpx.Client, operation: Operation, token: str | None, body: Json = None,
          **path: str) -> dict[str, Any]:
    ep = BY_OPERATION[operation]
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = http.request(ep.method, ep.url_path(**path), json=body, headers=headers)
    assert response.status_code == ep.success_status, response.text
    return response.json()


def _order_at(http: httpx.Client, customer: str, owner: str, driver_id: str | None,
              steps: list[Status]) -> str:
    order = _call(http, Operation.CHECKOUT, customer, payloads.checkout(OrderType.DELIVERY))["order"]
    for target in steps:
        if target is Status.DRIVER_ASSIGNED:
            assert driver_id
            _call(http, Operation.ASSIGN_DRIVER, owner, {"driverId": driver_id}, order_id=order["id"])
        else:
            _call(http, Operation.UPDATE_STATUS, owner, {"status": target.value}, order_id=order["id"])
    return order["id"]


@pytest.fixture(scope="module")
def http(server: ServerThread) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=15.0) as client:
        yield client


@pytest.fixture(scope="module")
def scene(http: httpx.Client) -> Scene:
    customer = _register(http, Role.CUSTOMER)
    owner = _register(http, Role.STORE_OWNER)
    driver = _register(http, Role.DRIVER)
    c, o, d = customer["token"], owner["token"], driver["user"]["id"]
    ready = [Status.PROCESSING, Status.READY_FOR_DELIVERY]
    return Scene(
        customer_token=c, owner_token=o, driver_id=d, driver_token=driver["token"],
        login_body={"email": customer["body"]["email"], "password": PASSWORD},
        patch_order_id=_order_at(http, c, o, None, []),
        assign_order_id=_order_at(http, c, o, None, ready),
        located_order_id=_order_at(http, c, o, d, [*ready, Status.DRIVER_ASSIGNED]),
    )


@dataclass(frozen=True)
class Target:
    """One endpoint with a body, how to call it, and a valid body to start from."""

    operation: Operation
    token: Callable[[Scene], str | None]
    path: Callable[[Scene], dict[str, str]]
    valid: Callable[[Scene], list[Json]]

    @property
    def endpoint(self) -> Endpoint:
        return BY_OPERATION[self.operation]


def _register_body(scene: Scene) -> list[Json]:
    # An e-mail already taken: a body that stays valid is a 409, so it changes nothing either.
    return [{"name": "Someone", "email": scene.login_body["email"], "password": PASSWORD,
             "role": Role.CUSTOMER.value}]


def _checkouts(scene: Scene) -> list[Json]:
    return [payloads.checkout(OrderType.DELIVERY, storeId=DEFAULT_STORE_ID),
            payloads.checkout(OrderType.PICKUP, payment=payloads.saved_payment())]


def _guest_checkouts(scene: Scene) -> list[Json]:
    return [payloads.guest_checkout(OrderType.DELIVERY, storeId=DEFAULT_STORE_ID),
            payloads.guest_checkout(OrderType.PICKUP, payment=payloads.saved_payment())]


TARGETS = {
    "register": Target(Operation.REGISTER, lambda s: None, lambda s: {}, _register_body),
    "login": Target(Operation.LOGIN, lambda s: None, lambda s: {}, lambda s: [s.login_body]),
    "checkout": Target(Operation.CHECKOUT, lambda s: s.customer_token, lambda s: {}, _checkouts),
    "guest-checkout": Target(Operation.GUEST_CHECKOUT, lambda s: None, lambda s: {},
                             _guest_checkouts),
    "patch-status": Target(Operation.UPDATE_STATUS, lambda s: s.owner_token,
                           lambda s: {"order_id": s.patch_order_id},
                           lambda s: [{"status": Status.PROCESSING.value},
                                      {"status": Status.CANCELLED.value}]),
    "assign-driver": Target(Operation.ASSIGN_DRIVER, lambda s: s.owner_token,
                            lambda s: {"order_id": s.assign_order_id},
                            lambda s: [{"driverId": s.driver_id}]),
}
TARGET_IDS = list(TARGETS)


def _send(http: httpx.Client, target: Target, scene: Scene, content: bytes) -> httpx.Response:
    headers = {"Content-Type": "application/json"}
    token = target.token(scene)
    if token:
        headers["Authorization"] = f"Bearer {token}"
    ep = target.endpoint
    return http.request(ep.method, ep.url_path(**target.path(scene)), content=content,
                        headers=headers)


def _check_answer(target: Target, response: httpx.Response, sent: object,
                  fingerprint: Fingerprint, before: tuple[Any, ...]) -> None:
    ep = target.endpoint
    what = f"{ep.method} {ep.path} with {str(sent)[:300]!r}"
    if currently_in_test_context():  # hypothesis statistics: which answers the examples got
        event(f"HTTP {response.status_code}")
    assert response.status_code < 500, f"{what} -> {response.status_code} {response.text[:300]}"
    try:
        body = response.json()
    except ValueError:
        raise AssertionError(f"{what} -> {response.status_code}, not JSON: {response.text[:300]!r}")
    if 200 <= response.status_code < 300:
        fingerprint.changed()
        assert response.status_code == ep.success_status, f"{what} -> {response.status_code}"
        found = problem(ep.response, body)
        assert found is None, f"{what} -> {response.status_code}, body invalid: {found}"
        return
    found = problem(ERROR_OUT, body)
    assert found is None, f"{what} -> {response.status_code}, not the error shape: {found}: {body}"
    code = body["error"]["code"]
    assert code in {c.value for c in ep.errors}, (
        f"{what} -> {response.status_code} {code!r}, which {ep.operation.value} does not declare "
        f"({sorted(c.value for c in ep.errors)})")
    assert HTTP_STATUS[ErrorCode(code)] == response.status_code, f"{what}: {code} with {response.status_code}"
    fingerprint.assert_unchanged(before, what)


def _exchange(http: httpx.Client, target: Target, scene: Scene, fingerprint: Fingerprint,
              body: Json) -> httpx.Response:
    before = fingerprint.before()
    content = json.dumps(body).encode("ascii")
    response = _send(http, target, scene, content)
    _check_answer(target, response, body, fingerprint, before)
    return response


# --- HTTP properties ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", TARGET_IDS)
@_settings(70)
@given(body=JSON)
def test_arbitrary_json_bodies_are_refused_cleanly(name: str, body: Json, http: httpx.Client,
                                                   scene: Scene, fingerprint: Fingerprint) -> None:
    _exchange(http, TARGETS[name], scene, fingerprint, body)


@pytest.mark.parametrize("name", TARGET_IDS)
@_settings(80)
@given(data=st.data())
def test_near_valid_bodies_never_break_the_server(name: str, data: st.DataObject,
                                                  http: httpx.Client, scene: Scene,
                                                  fingerprint: Fingerprint) -> None:
    target = TARGETS[name]
    valid = data.draw(st.sampled_from(target.valid(scene)), label="valid body")
    body = data.draw(near_valid(valid), label="body")
    _exchange(http, target, scene, fingerprint, body)


_BAD_UTF8 = [b"\xff", b"\xfe\xff", b"\x80", b"\xc3", b"\xc0\xaf", b"\xed\xa0\x80",
             b"\xf4\x90\x80\x80", b"\xe2\x82"]


@st.composite
def raw_bad_bytes(draw: st.DrawFn, valid: Json) -> bytes:
    """Bytes that are not a JSON text: non-UTF-8, or a valid body cut short."""
    encoded = json.dumps(valid, ensure_ascii=False).encode("utf-8")
    kind = draw(st.sampled_from(["insert", "truncate", "binary"]))
    if kind == "truncate":
        return encoded[: draw(st.integers(0, len(encoded) - 1))]
    if kind == "insert":
        at = draw(st.integers(0, len(encoded)))
        return encoded[:at] + draw(st.sampled_from(_BAD_UTF8)) + encoded[at:]
    raw = draw(st.binary(min_size=1, max_size=200))
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw
    return raw + b"\xff"


@pytest.mark.parametrize("name", TARGET_IDS)
@_settings(60)
@given(data=st.data())
def test_raw_bytes_that_are_not_json_are_400(name: str, data: st.DataObject, http: httpx.Client,
                                             scene: Scene, fingerprint: Fingerprint) -> None:
    target = TARGETS[name]
    valid = data.draw(st.sampled_from(target.valid(scene)), label="valid body")
    content = data.draw(raw_bad_bytes(valid), label="bytes")
    before = fingerprint.before()
    response = _send(http, target, scene, content)
    _check_answer(target, response, content, fingerprint, before)
    assert response.status_code == 400, f"{content[:200]!r} -> {response.status_code} {response.text}"


# Fixed cases that random generation is unlikely to reach, each a class of input that once
# made the server answer 500 or accept a body that is not UTF-8 JSON.


@pytest.mark.parametrize("name", TARGET_IDS)
@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-32"])
def test_a_valid_body_in_another_encoding_than_utf8_is_400(name: str, encoding: str,
                                                           http: httpx.Client, scene: Scene,
                                                           fingerprint: Fingerprint) -> None:
    target = TARGETS[name]
    valid = target.valid(scene)[-1]
    before = fingerprint.before()
    response = _send(http, target, scene, json.dumps(valid).encode(encoding))
    _check_answer(target, response, f"{valid!r} in {encoding}", fingerprint, before)
    assert response.status_code == 400, (
        f"a {encoding} body was answered {response.status_code}: JSON bodies are UTF-8 (RFC 8259)")


@pytest.mark.parametrize("name", TARGET_IDS)
def test_deeply_nested_json_is_400(name: str, http: httpx.Client, scene: Scene,
                                   fingerprint: Fingerprint) -> None:
    depth = (MAX_BODY_BYTES - 100) // 2
    before = fingerprint.before()
    response = _send(http, TARGETS[name], scene, b"[" * depth + b"]" * depth)
    _check_answer(TARGETS[name], response, f"[ * {depth}", fingerprint, before)
    assert response.status_code == 400


LONE_SURROGATE = "\ud800"


@pytest.mark.parametrize("field, name", [
    ("password", "register"), ("name", "register"), ("password", "login"),
])
def test_strings_with_lone_surrogates_are_refused_cleanly(field: str, name: str,
                                                          http: httpx.Client, scene: Scene,
                                                          fingerprint: Fingerprint) -> None:
    target = TARGETS[name]
    body = {**target.valid(scene)[0], field: f"{LONE_SURROGATE}-long-enough-{next(_ids)}"}
    if name == "register":
        body["email"] = f"prop-surrogate-{_run}-{next(_ids)}@example.test"
    response = _exchange(http, target, scene, fingerprint, body)
    assert response.status_code // 100 == 4, response.text


@pytest.mark.parametrize("number", ["424242424242424\u00b2", "4242 4242 4242 424\u2462"])
def test_a_card_number_of_non_ascii_digits_is_402(number: str, http: httpx.Client,
                                                  scene: Scene, fingerprint: Fingerprint) -> None:
    body = payloads.checkout(OrderType.PICKUP, payment=payloads.card_payment(number=number))
    response = _exchange(http, TARGETS["checkout"], scene, fingerprint, body)
    assert response.status_code == 402, response.text
    assert response.json()["error"]["code"] == ErrorCode.CARD_INVALID.value


# --- Socket.IO properties -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def driver_socket(server: ServerThread, scene: Scene) -> Iterator[socketio.SimpleClient]:
    client = socketio.SimpleClient(reconnection=False)
    client.connect(server.url, auth={"token": scene.driver_token}, transports=["websocket"],
                   wait_timeout=10)
    try:
        yield client
    finally:
        client.disconnect()


_ACK_TIMEOUT = 5.0


def _still_the_same_connection(client: socketio.SimpleClient, sid: str, after: str) -> None:
    assert client.connected and client.sid == sid, f"the connection closed or changed after {after}"


def _short(value: Json) -> str:
    text = repr(value)
    return text if len(text) <= 300 else f"{text[:300]}... ({len(text)} characters)"


def _ack(client: socketio.SimpleClient, event: str, payload: Json) -> Json:
    try:
        return client.call(event, payload, timeout=_ACK_TIMEOUT)
    except socketio.exceptions.TimeoutError:
        raise AssertionError(f"no ack for {event} with {_short(payload)} within {_ACK_TIMEOUT} s") from None


@st.composite
def location_payloads(draw: st.DrawFn, order_id: str) -> Json:
    valid = {"orderId": order_id, "lat": 48.85, "lng": 2.35}
    return draw(JSON | near_valid(valid) | st.just(valid))


@_settings(100)
@given(data=st.data())
def test_driver_location_always_acks(data: st.DataObject, driver_socket: socketio.SimpleClient,
                                     scene: Scene, fingerprint: Fingerprint) -> None:
    sid = driver_socket.sid
    payload = data.draw(location_payloads(scene.located_order_id), label="payload")
    before = fingerprint.before()
    ack = _ack(driver_socket, ClientEvent.DRIVER_LOCATION.value, payload)
    found = problem(DRIVER_LOCATION_ACK, ack)
    assert found is None, f"bad ack {ack!r} for {_short(payload)}: {found}"
    event(f"ok: {ack['ok']}")
    if ack["ok"]:
        fingerprint.changed()
    else:
        fingerprint.assert_unchanged(before, f"driver_location {_short(payload)} (acked ok: false)")
    _still_the_same_connection(driver_socket, sid, f"driver_location {_short(payload)}")


def test_a_valid_location_report_is_accepted(driver_socket: socketio.SimpleClient,
                                             scene: Scene) -> None:
    # Guards the property above from passing by refusing everything.
    ack = _ack(driver_socket, ClientEvent.DRIVER_LOCATION.value,
               {"orderId": scene.located_order_id, "lat": 48.85, "lng": 2.35})
    assert ack == {"ok": True}


def _assert_time_sync(client: socketio.SimpleClient, payload: Json) -> None:
    low = time.time_ns() // 1_000_000
    ack = _ack(client, ClientEvent.TIME_SYNC.value, payload)
    high = time.time_ns() // 1_000_000
    found = problem(TIME_SYNC_ACK, ack)
    assert found is None, f"bad time_sync ack {ack!r} for {_short(payload)}: {found}"
    # Same machine, same clock: the server's reading falls between ours (1 s of slack).
    assert low - 1000 <= ack["serverTime"] <= high + 1000, (ack, low, high)


@_settings(80)
@given(payload=JSON)
def test_time_sync_always_acks(payload: Json, driver_socket: socketio.SimpleClient,
                               fingerprint: Fingerprint) -> None:
    sid = driver_socket.sid
    before = fingerprint.before()
    _assert_time_sync(driver_socket, payload)
    fingerprint.assert_unchanged(before, f"time_sync {_short(payload)}")
    _still_the_same_connection(driver_socket, sid, f"time_sync {_short(payload)}")


@pytest.mark.parametrize("number", [10**100, -(10**1000), 10**4000], ids=["1e100", "-1e1000", "1e4000"])
def test_huge_integers_in_a_payload_still_get_an_ack(number: int, scene: Scene,
                                                     driver_socket: socketio.SimpleClient,
                                                     fingerprint: Fingerprint) -> None:
    # JSON has no integer limit and a JavaScript server reads these as floats; a packet that
    # is dropped unanswered (neither acked nor closed) is what section 7 rules out.
    sid = driver_socket.sid
    before = fingerprint.before()
    _assert_time_sync(driver_socket, {"clientTime": number})
    ack = _ack(driver_socket, ClientEvent.DRIVER_LOCATION.value,
               {"orderId": scene.located_order_id, "lat": number, "lng": 0})
    assert ack.get("ok") is False and ack.get("error"), ack
    fingerprint.assert_unchanged(before, f"a payload with {str(number)[:20]}...")
    _still_the_same_connection(driver_socket, sid, "a huge integer")


EVENT_NAMES = (st.sampled_from([*ROOM_JOIN_ATTEMPTS, "message", "joinRoom", "leave", "leaveRoom",
                                *[e.value for e in Event], "driverLocation", "timeSync"])
               | st.text(min_size=1, max_size=30))


@_settings(80)
@given(name=EVENT_NAMES.filter(lambda n: n not in socketio.Client.reserved_events
                               and n not in {e.value for e in ClientEvent}),
       payload=JSON)
def test_unknown_events_are_ignored(name: str, payload: Json, driver_socket: socketio.SimpleClient,
                                    fingerprint: Fingerprint) -> None:
    sid = driver_socket.sid
    before = fingerprint.before()
    driver_socket.emit(name, payload)
    _assert_time_sync(driver_socket, None)  # answered after the unknown event: still served
    fingerprint.assert_unchanged(before, f"unknown event {name!r} with {_short(payload)}")
    _still_the_same_connection(driver_socket, sid, f"unknown event {name!r}")
