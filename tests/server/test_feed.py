"""The change-feed consumer keeps going when the history it would resume from is gone."""

from __future__ import annotations

import asyncio
import logging

import pytest
import socketio

from reference_server.broadcast import Broadcaster
from reference_server.faults import Faults
from reference_server.feed import ChangeFeedConsumer
from reference_server.store import ChangeStreamHistoryLost, EmbeddedStore


async def _wait_for(predicate, timeout: float = 2.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.01)


async def test_resume_from_lost_history_goes_on_from_now(caplog: pytest.LogCaptureFixture) -> None:
    store = EmbeddedStore(history_size=2)
    consumer = ChangeFeedConsumer(store, Broadcaster(socketio.AsyncServer(), Faults()))
    old = store.watch_orders()
    token = old.resume_token
    await old.close()
    await consumer.start()
    try:
        for i in range(5):
            await store.orders.insert_one({"_id": f"o{i}", "noise": i})
        await _wait_for(lambda: consumer.changes_seen == 5)
        with pytest.raises(ChangeStreamHistoryLost):
            store.watch_orders(resume_after=token)
        with caplog.at_level(logging.ERROR, logger="reference_server.feed"):
            await consumer._reopen(token)
        assert "history lost" in caplog.text
        await store.orders.insert_one({"_id": "after", "noise": 0})
        await _wait_for(lambda: consumer.changes_seen == 6)
    finally:
        await consumer.stop()
        await store.close()
