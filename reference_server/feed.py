"""The change-feed consumer: the only place events are emitted from.

Like the Node.js backend it stands for, the server does not emit from its HTTP handlers: it
watches the `orders` collection and emits what each change means, so a write by another
instance or a script that bypasses the API is pushed too.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from .broadcast import Broadcaster
from .change_events import ChangeInterpreter
from .store import ChangeStream, ChangeStreamHistoryLost, Store

log = logging.getLogger(__name__)


class ChangeFeedConsumer:
    def __init__(self, store: Store, broadcaster: Broadcaster,
                 interpreter: ChangeInterpreter | None = None) -> None:
        self._store = store
        self._broadcaster = broadcaster
        self._interpreter = interpreter or ChangeInterpreter()
        self._stream: ChangeStream | None = None
        self._task: asyncio.Task[None] | None = None
        self.changes_seen = 0

    async def start(self) -> None:
        """Open the stream before the server takes requests, so no change is missed."""
        self._stream = self._store.watch_orders()
        await self._stream.ready()
        self._task = asyncio.create_task(self._run(), name="change-feed")

    async def _run(self) -> None:
        backoff = 0.1
        while True:
            assert self._stream is not None
            lost = False
            try:
                async for change in self._stream:
                    self.changes_seen += 1
                    backoff = 0.1
                    try:
                        outgoing = self._interpreter.interpret(change)
                    except Exception:
                        log.exception("could not interpret change %r; skipped", change.get("_id"))
                        continue
                    await self._broadcaster.publish(outgoing)
                log.warning("change stream ended; reopening")
            except asyncio.CancelledError:
                raise
            except ChangeStreamHistoryLost:
                lost = True
            except Exception:
                log.exception("change stream failed; reopening in %.1f s", backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
            await self._reopen(None if lost else self._stream.resume_token)

    async def _reopen(self, token: dict[str, Any] | None) -> None:
        """Resume after `token`; when that history is gone, go on from now, loudly."""
        assert self._stream is not None
        await self._stream.close()
        if token is not None:
            try:
                self._stream = self._store.watch_orders(resume_after=token)
                await self._stream.ready()
                return
            except ChangeStreamHistoryLost:
                pass
        log.error("change stream history lost: some changes were not pushed; "
                  "continuing from the current position")
        self._stream = self._store.watch_orders()
        await self._stream.ready()

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self._stream:
            await self._stream.close()
        await self._broadcaster.close()
