"""Ordering: a burst of changes to one order, sent without waiting, arrives at every
recipient in `version` order and without duplicates (sections 6, 8)."""

from __future__ import annotations

import asyncio
from typing import Any

from ...contract import ClientEvent, Status
from ...errors import HttpError
from ..model import expect
from ..registry import check
from ..scene import arrival_problems, delivery_scene, wait_until
from ..target import Target

LOCATIONS = 4


@check("ordering.burst", "6",
       "status moves and location reports to one order, sent without waiting, arrive at "
       "every recipient in version order, none twice")
async def burst(target: Target) -> str:
    scene = await delivery_scene(target, "burst", Status.DRIVER_ASSIGNED)
    owner, driver, order = scene.owner, scene.driver, scene.order
    order_id, token = order["id"], driver.session.token

    async def move(status: Status) -> Any:
        try:
            return await target.api.set_status(token, order_id, status.value)
        except HttpError as exc:  # a move that lost the race to the other is refused: fine
            return exc.status

    async def locate(i: int) -> Any:
        return await driver.client.call(ClientEvent.DRIVER_LOCATION.value,
                                        {"orderId": order_id, "lat": 50.0 + i / 1000, "lng": 8.0})

    sent = [move(Status.PICKED_UP)] + [locate(i) for i in range(LOCATIONS // 2)] \
        + [move(Status.IN_TRANSIT)] + [locate(i) for i in range(LOCATIONS // 2, LOCATIONS)]
    answers = await asyncio.gather(*sent)
    final = await target.api.order(owner.session.token, order_id)
    last = final["version"]
    recipients = scene.parties
    await wait_until(lambda: all(any(isinstance(r.payload, dict) and r.payload.get("version") == last
                                     for r in p.got(order_id)) for p in recipients),
                     target.config.event_timeout_s)
    await target.quiet()
    problems = [msg for p in recipients for msg in arrival_problems(p, order_id)]
    arrived = {p.label: [f"{r.event} v{r.payload.get('version')}" for r in p.got(order_id)
                         if isinstance(r.payload, dict)] for p in recipients}
    expect(not problems, f"{len(problems)} ordering problem(s): {problems[0] if problems else ''}",
           sent=f"PATCH picked_up, {LOCATIONS // 2} locations, PATCH in_transit, "
                f"{LOCATIONS // 2} locations, without waiting",
           expected="at every recipient, versions never going back, no event twice",
           got={"problems": problems[:20], "arrived": arrived})
    short = [p.label for p in recipients
             if not any(r.payload.get("version") == last for r in p.got(order_id)
                        if isinstance(r.payload, dict))]
    expect(not short, f"the last change (v{last}) never reached {', '.join(short)}",
           got={"answers": [a if not isinstance(a, dict) or "id" not in a else a.get("status")
                            for a in answers], "arrived": arrived})
    return (f"{last - order['version']} changes in a burst; {sum(map(len, arrived.values()))} "
            f"events at 3 recipients, each in version order, none twice")
