"""Socket.IO handlers: token-only rooms on connect, and the two acked client events.

There is deliberately no handler that joins a room (contract section 3); unknown events,
`join` included, are ignored. Only the `join_idor` fault adds one.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import socketio

from harness.contract import (
    LAT_RANGE,
    LNG_RANGE,
    LOCATION_REPORT_STATUSES,
    ROOM_JOIN_ATTEMPTS,
    ClientEvent,
    problem,
    rooms_for,
)
from harness.contract.schemas import DRIVER_LOCATION_IN

from .broadcast import now_ms
from .faults import Faults
from .orders import current_status
from .repository import OrderRepository
from .security import Identity, TokenRejected, TokenService

log = logging.getLogger(__name__)
_LOCATION_ATTEMPTS = 5


class SocketHandlers:
    def __init__(self, sio: socketio.AsyncServer, *, tokens: TokenService,
                 orders: OrderRepository, faults: Faults) -> None:
        self._sio = sio
        self._tokens = tokens
        self._orders = orders
        self._identities: dict[str, Identity] = {}
        sio.on("connect", self.connect)
        sio.on("disconnect", self.disconnect)
        self._faults = faults
        sio.on(ClientEvent.DRIVER_LOCATION.value, self.driver_location)
        sio.on(ClientEvent.TIME_SYNC.value, self.time_sync)
        if faults.join_idor:
            sio.on(ROOM_JOIN_ATTEMPTS[0], self.join_room_unsafely)

    @property
    def connected(self) -> int:
        return len(self._identities)

    async def connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        token = auth.get("token") if isinstance(auth, dict) else None
        try:
            identity = self._tokens.verify(token)
        except TokenRejected as exc:
            raise socketio.exceptions.ConnectionRefusedError(exc.reason.value) from None
        self._identities[sid] = identity
        for room in rooms_for(identity.role, identity.sub):
            await self._sio.enter_room(sid, room)

    async def disconnect(self, sid: str, reason: Any = None) -> None:
        self._identities.pop(sid, None)

    async def time_sync(self, sid: str, *args: Any) -> dict[str, int]:
        return {"serverTime": now_ms()}

    async def driver_location(self, sid: str, data: Any = None) -> dict[str, Any]:
        """A driver's location report; its ack says whether it was stored. The `slow_request`
        and `slow_answer` faults hold it before it is handled and its ack once it is stored."""
        return await self._faults.slow_change(lambda: self._report_location(sid, data),
                                              lambda ack: ack.get("ok") is True)

    async def _report_location(self, sid: str, data: Any) -> dict[str, Any]:
        identity = self._identities.get(sid)
        if identity is None:
            return {"ok": False, "error": "not connected"}
        found = problem(DRIVER_LOCATION_IN, data)
        if found:
            return {"ok": False, "error": f"invalid payload: {found}"}
        lat, lng = float(data["lat"]), float(data["lng"])
        if not (math.isfinite(lat) and math.isfinite(lng)
                and LAT_RANGE[0] <= lat <= LAT_RANGE[1] and LNG_RANGE[0] <= lng <= LNG_RANGE[1]):
            return {"ok": False, "error": "lat must be in [-90, 90] and lng in [-180, 180]"}
        for _ in range(_LOCATION_ATTEMPTS):
            order = await self._orders.get(data["orderId"])
            if order is None or order.get("driverId") != identity.sub:
                return {"ok": False, "error": "order not assigned to this driver"}
            if current_status(order) not in LOCATION_REPORT_STATUSES:
                return {"ok": False, "error": f"order is {order['status']}: no location reports"}
            if await self._orders.report_location(order, lat, lng) is not None:
                return {"ok": True}
        return {"ok": False, "error": "the order kept changing; try again"}

    async def join_room_unsafely(self, sid: str, data: Any = None) -> None:
        """The `join_idor` fault: honour a client's request to join any room."""
        room = data.get("room") if isinstance(data, dict) else data
        if isinstance(room, str) and room:
            log.warning("FAULT join_idor: %s joins %s", sid, room)
            await self._sio.enter_room(sid, room)
