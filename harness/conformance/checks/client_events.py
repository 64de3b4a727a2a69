"""Client-to-server events and the drivers list: `driver_location` (assigned driver only,
sane numbers only, no event on refusal), `time_sync`, `GET /api/drivers` (sections 5, 7, 8)."""

from __future__ import annotations

import time
from typing import Any

from ...contract import (
    BY_OPERATION,
    ClientEvent,
    DeliveryKind,
    Event,
    Operation,
    Role,
    Status,
)
from ..model import expect
from ..registry import check
from ..scene import delivery_scene, party, wait_until
from ..target import Target

#: Reports that must be refused with `ok: false` (section 8: lat in [-90, 90], lng in [-180, 180]).
BAD_NUMBERS: dict[str, dict[str, Any]] = {
    "lat above 90": {"lat": 90.5, "lng": 10.0},
    "lat below -90": {"lat": -91.0, "lng": 10.0},
    "lng above 180": {"lat": 10.0, "lng": 180.5},
    "lng below -180": {"lat": 10.0, "lng": -181.0},
    "lat a string": {"lat": "52.5", "lng": 10.0},
    "lng missing": {"lat": 10.0},
    "lat null": {"lat": None, "lng": 10.0},
}


def _locations(p: Any, order_id: str) -> list[dict[str, Any]]:
    return [r.payload for r in p.client.events(Event.DELIVERY_UPDATE.value, order_id=order_id)
            if isinstance(r.payload, dict) and r.payload.get("kind") == DeliveryKind.LOCATION.value]


def _same_place(location: Any, report: dict[str, Any]) -> bool:
    return (isinstance(location, dict) and location.get("lat") == report["lat"]
            and location.get("lng") == report["lng"])


@check("client.driver_location.assigned_only", "7",
       "only the assigned driver's location report is accepted and pushed; another driver's "
       "is refused and pushes nothing")
async def assigned_only(target: Target) -> str:
    other = await party(target, Role.DRIVER, "loc-other-driver")
    scene = await delivery_scene(target, "loc", Status.DRIVER_ASSIGNED)
    owner, customer, driver, order = scene.owner, scene.customer, scene.driver, scene.order
    report = {"orderId": order["id"], "lat": 45.0, "lng": 7.5}
    refused = await other.client.call(ClientEvent.DRIVER_LOCATION.value, report)
    expect(isinstance(refused, dict) and refused.get("ok") is False,
           "another driver's location report was not refused", sent=report,
           expected={"ok": False, "error": "..."}, got=refused)
    await target.quiet()
    pushed = _locations(owner, order["id"])
    expect(not pushed, "a refused location report was pushed", got=pushed)
    accepted = await driver.client.call(ClientEvent.DRIVER_LOCATION.value, report)
    expect(isinstance(accepted, dict) and accepted.get("ok") is True,
           "the assigned driver's location report was refused", sent=report,
           expected={"ok": True}, got=accepted)
    recipients = [owner, customer, driver]
    await wait_until(lambda: all(_locations(p, order["id"]) for p in recipients),
                     target.config.event_timeout_s)
    got = {p.label: _locations(p, order["id"]) for p in recipients}
    expect(all(got.values()), "the accepted location report did not reach every room",
           expected="delivery_update kind location at customer, store owners and driver", got=got)
    # `location {lat, lng}`: further fields (a timestamp, an accuracy) are allowed (section 6).
    wrong = {k: v[0].get("location") for k, v in got.items()
             if not _same_place(v[0].get("location"), report)}
    expect(not wrong, "the pushed location is not the one reported", expected=report, got=wrong)
    return "another driver: ok false, nothing pushed; the assigned driver: ok true, pushed to 3 rooms"


@check("client.driver_location.bad_numbers", "8",
       "location reports with numbers out of range or of the wrong type are refused, and "
       "push nothing")
async def bad_numbers(target: Target) -> str:
    scene = await delivery_scene(target, "loc", Status.PICKED_UP)
    owner, driver, order = scene.owner, scene.driver, scene.order
    accepted = []
    for what, numbers in BAD_NUMBERS.items():
        ack = await driver.client.call(ClientEvent.DRIVER_LOCATION.value,
                                       {"orderId": order["id"], **numbers})
        if not (isinstance(ack, dict) and ack.get("ok") is False):
            accepted.append({"case": what, "ack": ack})
    await target.quiet()
    pushed = _locations(owner, order["id"])
    expect(not accepted, f"{len(accepted)} bad report(s) not refused: {accepted[0]['case'] if accepted else ''}",
           expected={"ok": False}, got=accepted)
    expect(not pushed, "a refused location report was pushed", got=pushed)
    return f"{len(BAD_NUMBERS)} bad reports refused, none pushed"


@check("client.time_sync", "7", "time_sync answers {serverTime}: the server clock in ms (whole or not)")
async def time_sync(target: Target) -> str:
    user = await target.user(Role.CUSTOMER)
    client = await target.socket(user.token)
    before = time.time() * 1000
    ack = await client.call(ClientEvent.TIME_SYNC.value, {"clientTime": int(before)},
                            timeout=target.config.event_timeout_s)
    after = time.time() * 1000
    server_time = ack.get("serverTime") if isinstance(ack, dict) else None
    # Section 7 says milliseconds since the epoch, not that they are whole (unlike emittedAt):
    # `performance.timeOrigin + performance.now()` is as right as `Date.now()`.
    expect(isinstance(server_time, (int, float)) and not isinstance(server_time, bool),
           "time_sync did not answer a numeric serverTime", sent={"clientTime": int(before)},
           expected={"serverTime": "ms since the epoch (a number)"}, got=ack)
    assert isinstance(server_time, (int, float))
    kind = "whole" if isinstance(server_time, int) else "fractional"
    # Any clock will do (the harness measures the offset), but it must be milliseconds.
    expect(abs(server_time - before) < 86_400_000, "serverTime is not in milliseconds since "
           "the epoch (more than a day from this machine's clock)", got=server_time)
    return (f"serverTime {server_time} ({kind} ms); offset from this machine about "
            f"{server_time - (before + after) / 2:+.0f} ms")


@check("http.drivers_list", "5",
       "GET /api/drivers lists registered drivers {id, name} to store owners only (403 otherwise)")
async def drivers_list(target: Target) -> str:
    owner = await target.user(Role.STORE_OWNER, "owner")
    driver = await target.user(Role.DRIVER, "loc-driver")
    customer = await target.user(Role.CUSTOMER)
    path = BY_OPERATION[Operation.LIST_DRIVERS].path
    drivers = await target.api.drivers(owner.token)
    mine = [d for d in drivers if str(d.get("id")) == driver.user_id]
    expect(bool(mine) and mine[0].get("name") == driver.name,
           "a registered driver is not in the store owner's list", expected={"id": driver.user_id,
           "name": driver.name}, got=drivers[:20])
    refused = {}
    for who in (customer, driver):
        response = await target.api.request("GET", path, token=who.token)
        refused[who.role.value] = response.status_code
    expect(all(code == 403 for code in refused.values()), "GET /api/drivers was not 403 for "
           "a role other than store owner", expected=403, got=refused)
    return f"store owner: {len(drivers)} drivers listed; customer and driver: 403"
