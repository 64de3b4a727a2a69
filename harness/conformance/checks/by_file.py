"""Checks that speak the target through its contract file (`harness conformance --contract`).

A team's server follows the idea of our contract, not its letter; what its file states is
what these checks hold it to. They share one walk (`contract_check.Walk`: a customer, a
store owner, a driver and a second customer, signed up and connected as the file says): a
delivery and a pickup order through every step of the file's lifecycle, and one order moved
quickly. The ledger, reading the same file, judges every event the parties got.
"""

from __future__ import annotations

from ...contract import OrderType
from ...contract.teamfile import at
from ...contract_check import BYSTANDER
from ...ledger import CountsByEvent
from ..model import CheckSkipped, expect
from ..registry import check
from ..target import Target

#: An order id no server has given out (24 hex digits: the shape of MongoDB's ids).
UNKNOWN_ID = "0" * 24
_LIFECYCLE = ("walks every step of the file's lifecycle; each step's answer and events are "
              "as the file says, and reach exactly the rooms it names")


async def _lifecycle(target: Target, kind: OrderType) -> str:
    walked = await target.file_walk()
    mismatch = walked.mismatches.get(kind)
    lines = walked.lines.get(kind, [])
    expect(mismatch is None, mismatch or "", got=lines[-40:])
    return f"{len(walked.contract.lifecycle(kind))} steps, {walked.events.get(kind, 0)} events as the file says"


@check("file.lifecycle.delivery", "file", f"a delivery order {_LIFECYCLE}", by_file=True)
async def lifecycle_delivery(target: Target) -> str:
    return await _lifecycle(target, OrderType.DELIVERY)


@check("file.lifecycle.pickup", "file", f"a pickup order {_LIFECYCLE}", by_file=True)
async def lifecycle_pickup(target: Target) -> str:
    return await _lifecycle(target, OrderType.PICKUP)


def _none(judged: dict[str, CountsByEvent], verdict: str, what: str) -> None:
    """Fail when any party's events have the verdict (`duplicate`, ...), with every count."""
    found = {party: getattr(counts.total(), verdict) for party, counts in judged.items()
             if getattr(counts.total(), verdict)}
    expect(not found, f"{what}: {found} (by party)",
           got={party: counts.as_dict() for party, counts in judged.items()})


@check("file.isolation.customers", "file",
       "a second customer's socket gets nothing of another customer's orders", by_file=True)
async def isolation(target: Target) -> str:
    walked = await target.file_walk()
    got = walked.walk.received_by(BYSTANDER)
    expect(not got, f"the other customer got {len(got)} events of orders not theirs: a room leak",
           got=[{"event": r.event, "payload": r.payload} for r in got[:5]])
    return "the other customer got nothing of the walked orders"


@check("file.ordering.burst", "file",
       "an order moved quickly (each change sent as soon as the last is answered) reaches each "
       "party in order (without versions: by the status's place in the file's flow)", by_file=True)
async def burst(target: Target) -> str:
    walked = await target.file_walk()
    if not walked.walk.contract.lifecycle(OrderType.PICKUP):
        raise CheckSkipped("the file's lifecycle has no step for a pickup order")
    await walked.walk.burst(OrderType.PICKUP)
    _none(walked.walk.judged(), "out_of_order", "events out of order")
    return "every party got the quick changes in order"


@check("file.events.once", "file",
       "every event comes once to each party (without event ids: the same event, order and status "
       "twice is a duplicate)", by_file=True)
async def once(target: Target) -> str:
    walked = await target.file_walk()
    judged = walked.walk.judged()
    _none(judged, "duplicate", "events came twice")
    got = sum(len(walked.walk.received_by(party)) for party in judged)
    return f"{got} events, none twice"


@check("file.events.valid", "file",
       "every event carries the order id and status where the file places them", by_file=True)
async def valid(target: Target) -> str:
    walked = await target.file_walk()
    _none(walked.walk.judged(), "invalid", "events without a field the file places")
    return "every event has its order id and status where the file says"


@check("file.errors.shape", "file",
       "a read of an order that does not exist, and one without a token, are refused (4xx) with "
       "an error body where the file's [errors] places its message (and code)", by_file=True)
async def error_shape(target: Target) -> str:
    walked = await target.file_walk()
    contract = walked.contract
    if contract.error_message is None:
        raise CheckSkipped("the file states no [errors] message: nothing to hold the error body to")
    token = walked.walk.accounts["customer"].token
    seen = []
    for what, answer in (
            ("an unknown order", await walked.client.attempt("get_order", token=token, order_id=UNKNOWN_ID)),
            ("no token", await walked.client.attempt("get_order", order_id=UNKNOWN_ID))):
        expect(400 <= answer.status < 500, f"{what}: {answer.method} {answer.path} answered "
               f"{answer.status}, not a refusal (4xx)", got=answer.answer)
        message = at(answer.answer, contract.error_message, None)
        expect(isinstance(message, str) and bool(message),
               f"{what}: the error body has no message at {contract.error_message!r} (errors.message)",
               got=answer.answer)
        if contract.error_code is not None:
            code = at(answer.answer, contract.error_code, None)
            expect(code is not None, f"{what}: the error body has no code at "
                   f"{contract.error_code!r} (errors.code)", got=answer.answer)
        seen.append(f"{what}: {answer.status} {message!r}")
    return "; ".join(seen)
