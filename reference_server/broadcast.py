"""Send events to rooms, one emit per event (one `eventId` for all its rooms), with faults.

`emittedAt` is stamped here, just before the emit. Without faults this is a straight
`sio.emit(event, payload, to=rooms)`; each fault bends exactly one rule (see `faults`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import Any

import socketio

from harness.contract import Event, customer_room
from harness.contract.routing import STATUS_EVENTS

from .change_events import Outgoing
from .faults import REORDER_WINDOW_S, Faults

log = logging.getLogger(__name__)
_CUSTOMER_PREFIX = customer_room("")


def now_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass
class _Send:
    event: Event
    payload: dict[str, Any]
    rooms: list[str] | None  # None: every connected client


@dataclass
class _Held:
    sends: list[_Send] = field(default_factory=list)
    timer: asyncio.TimerHandle | None = None


class Broadcaster:
    def __init__(self, sio: socketio.AsyncServer, faults: Faults) -> None:
        self._sio = sio
        self._faults = faults
        self._delayed: asyncio.Queue[tuple[float, _Send]] | None = None
        self._delay_task: asyncio.Task[None] | None = None
        self._held: dict[str, _Held] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    async def publish(self, outgoing: list[Outgoing]) -> None:
        """Send every event of one change, in order."""
        if not outgoing:
            return
        order_id = outgoing[0].order_id
        now_sends: list[_Send] = []
        customer_sends: list[_Send] = []
        for item in outgoing:
            event = item.emission.event
            if event in self._faults.drop:
                continue
            rooms: list[str] | None = list(item.emission.rooms)
            if self._faults.room_leak and event in STATUS_EVENTS:
                rooms = None
            copies = 2 if event in self._faults.duplicate else 1
            for _ in range(copies):
                if self._faults.reorder and event in STATUS_EVENTS and rooms is not None:
                    mine = [r for r in rooms if r.startswith(_CUSTOMER_PREFIX)]
                    others = [r for r in rooms if not r.startswith(_CUSTOMER_PREFIX)]
                    if others:
                        now_sends.append(_Send(event, item.payload, others))
                    if mine:
                        customer_sends.append(_Send(event, item.payload, mine))
                else:
                    now_sends.append(_Send(event, item.payload, rooms))
        for send in now_sends:
            await self._send(send)
        if customer_sends:
            await self._reorder(order_id, customer_sends)

    async def _reorder(self, order_id: str, sends: list[_Send]) -> None:
        """Hold status events to customer rooms; a later change within the window overtakes them."""
        held = self._held.pop(order_id, None)
        if held is None:
            held = _Held(sends)
            held.timer = asyncio.get_running_loop().call_later(
                REORDER_WINDOW_S, self._spawn_flush, order_id)
            self._held[order_id] = held
            return
        if held.timer:
            held.timer.cancel()
        for send in sends + held.sends:
            await self._send(send)

    def _spawn_flush(self, order_id: str) -> None:
        held = self._held.pop(order_id, None)
        if held:
            task = asyncio.ensure_future(self._send_all(held.sends))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _send_all(self, sends: list[_Send]) -> None:
        for send in sends:
            await self._send(send)

    async def _send(self, send: _Send) -> None:
        payload = {**send.payload, "emittedAt": now_ms()}
        if self._faults.delay_ms:
            await self._enqueue_delayed(_Send(send.event, payload, send.rooms))
            return
        await self._emit(send.event, payload, send.rooms)

    async def _emit(self, event: Event, payload: dict[str, Any], rooms: list[str] | None) -> None:
        try:
            await self._sio.emit(event.value, payload, to=rooms)
        except Exception:  # one failed emit must not stop the feed
            log.exception("emit of %s failed", event.value)

    async def _enqueue_delayed(self, send: _Send) -> None:
        # One FIFO queue keeps the order of emits while each waits its `delay` (the
        # `emittedAt` is already stamped), without holding up the change feed.
        if self._delayed is None:
            self._delayed = asyncio.Queue()
            self._delay_task = asyncio.ensure_future(self._drain_delayed())
        due = time.monotonic() + self._faults.delay_ms / 1000.0
        await self._delayed.put((due, send))

    async def _drain_delayed(self) -> None:
        assert self._delayed is not None
        while True:
            due, send = await self._delayed.get()
            wait = due - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            await self._emit(send.event, send.payload, send.rooms)

    async def close(self) -> None:
        for held in self._held.values():
            if held.timer:
                held.timer.cancel()
        self._held.clear()
        tasks = [t for t in [self._delay_task, *self._tasks] if t]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

