"""Authentication (contract section 2, and the token rules of section 8).

Every bad token is tried on HTTP and on the Socket.IO handshake, with the exact `code` /
`connect_error` message the contract names. Tokens are made by hand here, never by the
server's own token service, so a server that shares a bug with it cannot pass by accident.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any, Callable

import jwt
import pytest

from harness import payloads
from harness.contract import (
    STORE_OWNERS_ROOM,
    TOKEN_LIFETIME_S,
    ClientEvent,
    ConnectError,
    ErrorCode,
    Event,
    OrderType,
    Role,
    Status,
    customer_room,
    driver_room,
    event_problem,
    problem,
)
from harness.errors import ConnectRefused
from harness.contract.schemas import AUTH_OUT, GUEST_CHECKOUT_OUT, ORDER_LIST_OUT
from harness.realtime import RealtimeClient
from tests.support.actors import PASSWORD, World
from tests.support.probes import (
    OTHER_SECRET,
    RawSocket,
    alg_none,
    assert_error,
    claims,
    decode,
    hand_signed,
    room_members,
    signed,
)

# HS384/HS512 with the server's (short) secret is the point of two of the bad tokens.
pytestmark = pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")

ORDERS = "/api/orders"
U, X = ConnectError.UNAUTHORIZED, ConnectError.TOKEN_EXPIRED

# name -> (token factory taking (sub, role), the error the contract names)
BAD_TOKENS: dict[str, tuple[Callable[[str, str], str], ConnectError]] = {
    "garbage": (lambda sub, role: "garbage", U),
    "three_garbage_segments": (lambda sub, role: "abc.def.ghi", U),
    "forged_signature": (lambda sub, role: signed(claims(sub, role), secret=OTHER_SECRET), U),
    "alg_none": (lambda sub, role: alg_none(claims(sub, role)), U),
    "alg_None_capitalised": (lambda sub, role: alg_none(claims(sub, role), alg="None"), U),
    "rs256_header_hmac_signed": (lambda sub, role: hand_signed(claims(sub, role), "RS256"), U),
    "alg_none_with_signature_stripped": (
        lambda sub, role: signed(claims(sub, role)).rsplit(".", 1)[0] + ".", U),
    "hs512_right_secret": (lambda sub, role: signed(claims(sub, role), alg="HS512"), U),
    "hs384_right_secret": (lambda sub, role: signed(claims(sub, role), alg="HS384"), U),
    "expired": (lambda sub, role: signed(claims(sub, role, ttl=-120)), X),
    "forged_and_expired": (
        lambda sub, role: signed(claims(sub, role, ttl=-120), secret=OTHER_SECRET), U),
    "missing_exp": (lambda sub, role: signed(claims(sub, role, drop=("exp",))), U),
    "exp_not_a_number": (lambda sub, role: signed({**claims(sub, role), "exp": "tomorrow"}), U),
    "unknown_role": (lambda sub, role: signed(claims(sub, "admin")), U),
    "role_in_capitals": (lambda sub, role: signed(claims(sub, role.upper())), U),
    "missing_role": (lambda sub, role: signed(claims(sub, role, drop=("role",))), U),
    "missing_sub": (lambda sub, role: signed(claims(sub, role, drop=("sub",))), U),
    "empty_sub": (lambda sub, role: signed(claims("", role)), U),
    "sub_not_a_string": (lambda sub, role: signed({**claims(sub, role), "sub": 12345}), U),
}


@pytest.fixture
async def w(server):
    async with World(server.url) as world:
        yield world


def _no_password_anywhere(value: Any, password: str) -> None:
    text = value if isinstance(value, str) else json.dumps(value)
    assert password not in text, text
    if isinstance(value, dict):
        for key, inner in value.items():
            assert "password" not in key.lower(), value
            _no_password_anywhere(inner, password)
    elif isinstance(value, list):
        for inner in value:
            _no_password_anywhere(inner, password)


# --- HTTP ------------------------------------------------------------------------------------------

async def test_valid_token_is_accepted_on_http(w):
    """The control for the matrix below: the same request with a good token is a 200,
    whether the server issued it or it was signed here (HS256, the right secret)."""
    customer = await w.customer()
    for token in (customer.token, signed(claims(customer.user_id, "customer")),
                  hand_signed(claims(customer.user_id, "customer"), "HS256")):
        r = await w.api.request("GET", ORDERS, token=token)
        assert r.status_code == 200, r.text
        assert problem(ORDER_LIST_OUT, r.json()) is None


@pytest.mark.parametrize("name", sorted(BAD_TOKENS))
async def test_bad_token_on_http_is_401(w, name):
    customer = await w.customer()
    make, expected = BAD_TOKENS[name]
    r = await w.api.request("GET", ORDERS, token=make(customer.user_id, "customer"))
    assert_error(r, 401, ErrorCode(expected.value))


@pytest.mark.parametrize("header", [None, "", "Bearer", "Basic dXNlcjpwYXNz",
                                    "Token {token}", "{token}"])
async def test_missing_or_malformed_authorization_header_is_401(w, header):
    customer = await w.customer()
    headers = {} if header is None else {"Authorization": header.format(token=customer.token)}
    r = await w.api.request("GET", ORDERS, headers=headers)
    assert_error(r, 401, ErrorCode.UNAUTHORIZED)


async def test_expired_token_on_every_authenticated_endpoint_is_token_expired(w):
    customer = await w.customer()
    expired = signed(claims(customer.user_id, "customer", ttl=-10))
    for method, path, body in [
        ("GET", ORDERS, None),
        ("GET", f"{ORDERS}/whatever", None),
        ("PATCH", f"{ORDERS}/whatever/status", {"status": "cancelled"}),
        ("POST", "/api/checkout", payloads.checkout()),
        ("GET", "/api/drivers", None),
        ("POST", f"{ORDERS}/whatever/assign-driver", {"driverId": "x"}),
    ]:
        r = await w.api.request(method, path, token=expired, json=body)
        assert_error(r, 401, ErrorCode.TOKEN_EXPIRED)


# --- Socket.IO handshake -----------------------------------------------------------------------

async def test_valid_token_connects(w):
    customer = await w.customer()
    sock = await w.socket(customer.token)
    assert sock.sio.connected
    ack = await sock.call(ClientEvent.TIME_SYNC.value, {})
    assert isinstance(ack, dict) and isinstance(ack.get("serverTime"), int)


@pytest.mark.parametrize("name", sorted(BAD_TOKENS))
async def test_bad_token_on_socket_is_refused(w, server, name):
    customer = await w.customer()
    make, expected = BAD_TOKENS[name]
    client = RealtimeClient(server.url, make(customer.user_id, "customer"))
    with pytest.raises(ConnectRefused) as refused:
        await client.connect(timeout=5)
    assert refused.value.message == expected.value
    assert not client.sio.connected
    assert room_members(server, customer_room(customer.user_id)) == set()


async def test_no_token_on_socket_is_refused_unauthorized(server):
    client = RealtimeClient(server.url, None)
    with pytest.raises(ConnectRefused) as refused:
        await client.connect(timeout=5)
    assert refused.value.message == ConnectError.UNAUTHORIZED.value


@pytest.mark.parametrize("auth", [None, {}, {"token": None}, {"token": 12345}, {"token": ""},
                                  {"token": ["a"]}, {"jwt": "x"}])
async def test_malformed_handshake_auth_is_refused_unauthorized(server, auth):
    raw = await RawSocket(server.url).open()
    try:
        answer = await raw.connect_namespace(auth)
        assert answer.startswith("4"), answer  # CONNECT_ERROR
        assert json.loads(answer[1:]) == {"message": ConnectError.UNAUTHORIZED.value}
    finally:
        await raw.close()


async def test_refused_clients_are_in_no_room_and_receive_nothing(w, server):
    """Refused clients (a library client, and raw ones that keep their transport open and
    then ask to join rooms) get none of the events of an order they were after."""
    customer, owner, driver = await w.customer(), await w.store_owner(), await w.driver()
    raws: list[RawSocket] = []
    library_clients: list[RealtimeClient] = []
    owners_before = room_members(server, STORE_OWNERS_ROOM)
    try:
        for name, (make, expected) in BAD_TOKENS.items():
            for sub, role in [(customer.user_id, "customer"), (owner.user_id, "store_owner"),
                              (driver.user_id, "driver")]:
                raw = await RawSocket(server.url).open()
                raws.append(raw)
                answer = await raw.connect_namespace({"token": make(sub, role)})
                assert answer.startswith("4"), (name, answer)  # CONNECT_ERROR
                assert json.loads(answer[1:]) == {"message": expected.value}, (name, answer)
                for event in ("join", "joinRoom", "subscribe"):
                    for room in (customer_room(customer.user_id), STORE_OWNERS_ROOM,
                                 driver_room(driver.user_id)):
                        await raw.emit(event, room)
                        await raw.emit(event, {"room": room})
            client = RealtimeClient(server.url, make(customer.user_id, "customer"))
            library_clients.append(client)
            with pytest.raises(ConnectRefused):
                await client.connect(timeout=5)

        assert room_members(server, customer_room(customer.user_id)) == set()
        assert room_members(server, driver_room(driver.user_id)) == set()
        assert room_members(server, STORE_OWNERS_ROOM) == owners_before
        watcher = await w.socket(owner.token)  # the control: events do go out
        order = await w.order(customer, OrderType.DELIVERY)
        await w.advance(order, Status.IN_TRANSIT, owner=owner, driver=driver)
        assert await watcher.wait_for(
            lambda r: any(e.payload.get("orderId") == order["id"]
                          and e.payload.get("status") == Status.IN_TRANSIT for e in r), timeout=3)
        await asyncio.sleep(0.3)
        for raw in raws:
            assert raw.events() == [], raw.events()
        for client in library_clients:
            assert client.received == []
        assert room_members(server, customer_room(customer.user_id)) == set()
    finally:
        for raw in raws:
            await raw.close()


async def test_an_open_socket_survives_its_token_expiring(w, server):
    customer, owner = await w.customer(), await w.store_owner()
    short = signed(claims(customer.user_id, "customer", ttl=2))
    exp = decode(short)["exp"]
    sock = await w.socket(short)
    await asyncio.sleep(max(0.0, exp - time.time()) + 0.3)
    assert time.time() > exp
    assert sock.sio.connected
    ack = await sock.call(ClientEvent.TIME_SYNC.value, {})
    assert isinstance(ack.get("serverTime"), int)
    order = await w.order(customer, OrderType.PICKUP)
    await w.api.set_status(owner.token, order["id"], Status.PROCESSING.value)
    assert await sock.wait_for(lambda r: any(e.event == Event.CUSTOMER_ORDER_UPDATE for e in r), 2)


# --- register / login ----------------------------------------------------------------------------

def _unique_email(tag: str) -> str:
    return f"{tag}-{time.time_ns()}@example.test"


@pytest.mark.parametrize("role", list(Role))
async def test_register_and_login_answer_the_contract_shape(w, role):
    email, password = _unique_email(f"reg-{role.value}"), "s3cret-pass-" + role.value
    before = int(time.time())
    r = await w.api.request("POST", "/api/auth/register",
                            json={"name": "Reg User", "email": email, "password": password,
                                  "role": role.value})
    assert r.status_code == 201, r.text
    body = r.json()
    assert problem(AUTH_OUT, body) is None, problem(AUTH_OUT, body)
    user = body["user"]
    assert set(user) >= {"id", "name", "email", "role"}
    assert (user["name"], user["email"].lower(), user["role"]) == ("Reg User", email.lower(), role.value)
    _no_password_anywhere(body, password)

    tok = decode(body["token"])
    assert jwt.get_unverified_header(body["token"])["alg"] == "HS256"
    assert (tok["sub"], tok["role"]) == (user["id"], role.value)
    assert tok["exp"] - tok["iat"] == TOKEN_LIFETIME_S == 3600
    assert before - 2 <= tok["iat"] <= time.time() + 2
    _no_password_anywhere(tok, password)

    r = await w.api.request("POST", "/api/auth/login", json={"email": email, "password": password})
    assert r.status_code == 200, r.text
    login = r.json()
    assert problem(AUTH_OUT, login) is None, problem(AUTH_OUT, login)
    assert login["user"]["id"] == user["id"]
    assert login["user"]["role"] == role.value
    _no_password_anywhere(login, password)
    tok = decode(login["token"])
    assert (tok["sub"], tok["role"]) == (user["id"], role.value)
    assert tok["exp"] - tok["iat"] == 3600

    # the token it hands out is one the server accepts, on HTTP and on the socket
    r = await w.api.request("GET", ORDERS, token=login["token"])
    assert r.status_code == 200, r.text
    sock = await w.socket(login["token"])
    assert sock.sio.connected


async def test_wrong_password_and_unknown_email_are_the_same_401(w):
    customer = await w.customer()
    wrong = await w.api.request("POST", "/api/auth/login",
                                json={"email": customer.email, "password": PASSWORD + "x"})
    err = assert_error(wrong, 401, ErrorCode.INVALID_CREDENTIALS)
    unknown = await w.api.request("POST", "/api/auth/login",
                                  json={"email": _unique_email("nobody"), "password": PASSWORD})
    assert assert_error(unknown, 401, ErrorCode.INVALID_CREDENTIALS) == err
    for r in (wrong, unknown):
        assert PASSWORD not in r.text
        assert "token" not in r.json()


async def test_duplicate_email_is_409_case_insensitively_and_changes_nothing(w):
    email = _unique_email("Dup.User")
    first = await w.api.request("POST", "/api/auth/register",
                                json={"name": "First", "email": email, "password": "first-password",
                                      "role": "customer"})
    assert first.status_code == 201, first.text
    for variant, role in [(email, "customer"), (email.upper(), "driver"),
                          (email.lower(), "store_owner"), (email.swapcase(), "customer")]:
        r = await w.api.request("POST", "/api/auth/register",
                                json={"name": "Second", "email": variant,
                                      "password": "second-password", "role": role})
        assert_error(r, 409, ErrorCode.EMAIL_TAKEN)
        assert "second-password" not in r.text and "first-password" not in r.text
    ok = await w.api.request("POST", "/api/auth/login",
                             json={"email": email, "password": "first-password"})
    assert ok.status_code == 200, ok.text
    assert ok.json()["user"]["id"] == first.json()["user"]["id"]
    assert ok.json()["user"]["role"] == "customer"
    bad = await w.api.request("POST", "/api/auth/login",
                              json={"email": email, "password": "second-password"})
    assert_error(bad, 401, ErrorCode.INVALID_CREDENTIALS)


@pytest.mark.parametrize("body", [
    {"name": "N", "email": "bad-email", "password": "long-enough-1", "role": "customer"},
    {"name": "N", "email": "{email}", "password": "short", "role": "customer"},
    {"name": "N", "email": "{email}", "password": "long-enough-1", "role": "admin"},
    {"name": "N", "email": "{email}", "password": "long-enough-1"},
    {"name": "N", "email": "{email}", "password": 12345678, "role": "customer"},
    {"email": "{email}", "password": "long-enough-1", "role": "customer"},
])
async def test_register_with_a_bad_body_is_400_and_creates_nobody(w, body):
    email = _unique_email("bad-reg")
    sent = {k: (v.format(email=email) if isinstance(v, str) else v) for k, v in body.items()}
    r = await w.api.request("POST", "/api/auth/register", json=sent)
    assert_error(r, 400, ErrorCode.INVALID_BODY)
    if isinstance(sent.get("password"), str):
        assert sent["password"] not in r.text
    login = await w.api.request("POST", "/api/auth/login",
                                json={"email": email, "password": str(sent.get("password"))})
    assert_error(login, 401, ErrorCode.INVALID_CREDENTIALS)


async def test_password_and_its_hash_never_leave_the_server(w, caplog):
    caplog.set_level(logging.DEBUG)
    owner = await w.store_owner()
    email, password = _unique_email("drv"), "hunter2-hunter2"
    r = await w.api.request("POST", "/api/auth/register",
                            json={"name": "Leaky Driver", "email": email, "password": password,
                                  "role": "driver"})
    assert r.status_code == 201
    driver_id = r.json()["user"]["id"]
    seen = [r]
    seen.append(await w.api.request("POST", "/api/auth/login",
                                    json={"email": email, "password": password}))
    seen.append(await w.api.request("GET", "/api/drivers", token=owner.token))
    assert any(d["id"] == driver_id for d in seen[-1].json()["drivers"])
    for answer in seen:
        assert answer.status_code in (200, 201)
        _no_password_anywhere(answer.json(), password)
        assert "scrypt" not in answer.text and "hash" not in answer.text.lower()
    # ... nor into the logs, even when the request fails
    await w.api.request("POST", "/api/auth/login", json={"email": email, "password": password + "!"})
    await w.api.request("POST", "/api/auth/register",
                        json={"name": "Again", "email": email, "password": password, "role": "driver"})
    await w.api.request("POST", "/api/auth/register",
                        json={"name": "Bad", "email": "not-an-email", "password": password,
                              "role": "driver"})
    for record in caplog.records:
        assert password not in record.getMessage(), record.getMessage()


# --- guest tokens ------------------------------------------------------------------------------

async def test_guest_token_is_a_one_hour_customer_token_for_the_order(w):
    owner = await w.store_owner()
    owner_sock = await w.socket(owner.token)
    r = await w.api.request("POST", "/api/guest/checkout",
                            json=payloads.guest_checkout(OrderType.PICKUP,
                                                         email=_unique_email("guest")))
    assert r.status_code == 201, r.text
    body = r.json()
    assert problem(GUEST_CHECKOUT_OUT, body) is None, problem(GUEST_CHECKOUT_OUT, body)
    order, token = body["order"], body["token"]
    assert order["status"] == Status.PENDING
    claims_ = decode(token)
    assert jwt.get_unverified_header(token)["alg"] == "HS256"
    assert claims_["guest"] is True
    assert claims_["role"] == Role.CUSTOMER.value
    assert claims_["sub"] == order["customerId"]
    assert claims_["exp"] - claims_["iat"] == 3600

    # the guest sees exactly its order, and its socket is in its customer room
    r = await w.api.request("GET", f"{ORDERS}/{order['id']}", token=token)
    assert r.status_code == 200 and r.json()["order"]["id"] == order["id"]
    listed = (await w.api.request("GET", ORDERS, token=token)).json()
    assert [o["id"] for o in listed["orders"]] == [order["id"]] and listed["total"] == 1
    guest_sock = await w.socket(token)
    await w.api.set_status(owner.token, order["id"], Status.PROCESSING.value)
    assert await guest_sock.wait_for(
        lambda rs: {e.event for e in rs if e.payload.get("orderId") == order["id"]}
        >= {Event.ORDER_STATUS_UPDATED, Event.CUSTOMER_ORDER_UPDATE}, timeout=2)
    for e in guest_sock.received:
        assert event_problem(e.event, e.payload) is None, (e.event, event_problem(e.event, e.payload))
        assert e.event != Event.NEW_ORDER
    assert await owner_sock.wait_for(
        lambda rs: any(e.event == Event.NEW_ORDER and e.payload["orderId"] == order["id"]
                       for e in rs), timeout=2)


async def test_a_guest_token_is_not_a_key_to_other_orders(w):
    customer = await w.customer()
    other = await w.order(customer, OrderType.PICKUP)
    r = await w.api.request("POST", "/api/guest/checkout",
                            json=payloads.guest_checkout(OrderType.PICKUP,
                                                         email=_unique_email("guest2")))
    token = r.json()["token"]
    got = await w.api.request("GET", f"{ORDERS}/{other['id']}", token=token)
    assert_error(got, 404, ErrorCode.NOT_FOUND)
    cancel = await w.api.request("PATCH", f"{ORDERS}/{other['id']}/status", token=token,
                                 json={"status": "cancelled"})
    assert_error(cancel, 404, ErrorCode.NOT_FOUND)
    drivers = await w.api.request("GET", "/api/drivers", token=token)
    assert_error(drivers, 403, ErrorCode.FORBIDDEN)
