"""The witness process: a few python-socketio `AsyncClient`s that only timestamp events.

It runs beside a load (started by `harness.load.witness_link`), on the same machine as the
process that keeps the run's books, and talks JSON lines:

* stdin, one command a line: `{"op": "watch", "tab": ID, "url": URL, "token": JWT,
  "path": "/socket.io/", "verify_tls": true, "contract": FILE}` opens a tab (a socket with
  that user's token, presented where the target's contract file says, null: ours, so the
  server puts it in that user's rooms). End of input closes every tab and exits.
* stdout, one fact a line: `{"tab": ID, "e": EVENT, "k": KEY, "t": WALL_MS, "em": EMITTED_AT}`
  for every event (KEY as the ledger keys it, read by the same file: `ledger.reader.Reader`);
  `{"tab": ID, "up": WALL_MS}` / `{"tab": ID, "down": WALL_MS}` / `{"tab": ID, "error": TEXT}`;
  `{"clock": {"offset_ms": X, "rtt_ms": Y}}` whenever its estimate of the server's clock
  improves (contract section 7's `time_sync`, best round trip; `null` when the target has none);
  first of all `{"priority_raised": BOOL}`: whether it could run at a higher priority than
  the processes beside it (it tries, so that its receive times do not wait for a core).

It does nothing else, so its receive times are what the server delivered; everything it
imports is free of gevent and Locust.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from collections.abc import Callable
from typing import Any

import socketio

from ..clock import ClockOffset
from ..contract import ClientEvent
from ..target import Target

_SYNC_FIRST = 5
_SYNC_EVERY_S = 10.0
CLOSE_WAIT_S = 3.0


class Witness:
    def __init__(self, write: Callable[[dict[str, Any]], None]) -> None:
        self.write = write
        self.tabs: dict[str, socketio.AsyncClient] = {}
        self.clock = ClockOffset()
        self._clock_task: asyncio.Task[None] | None = None
        self._best: tuple[float, float] | None = None
        self._targets: dict[str | None, Target] = {}

    def _target(self, contract: str | None) -> Target:
        target = self._targets.get(contract)
        if target is None:
            target = self._targets[contract] = Target.from_file(contract)
        return target

    async def watch(self, tab: str, url: str, token: str, path: str = "/socket.io/",
                    verify_tls: bool = True, contract: str | None = None) -> None:
        """Open a tab: a socket with a user's token, presented where the target's contract
        file says (ours: None); its events are keyed as the load's ledger keys them."""
        if tab in self.tabs:
            return
        target = self._target(contract)
        reader = target.reader
        sio = socketio.AsyncClient(reconnection=True, logger=False, engineio_logger=False,
                                   ssl_verify=verify_tls)
        self.tabs[tab] = sio

        async def on_any(event: str, data: Any = None) -> None:
            received = time.time() * 1000.0
            facts = reader.event(event, data)
            key = reader.key(facts)
            self.write({"tab": tab, "e": event, "k": list(key) if key is not None else None,
                        "t": received, "em": facts.emitted_at})

        async def on_connect() -> None:
            self.write({"tab": tab, "up": time.time() * 1000.0})

        async def on_disconnect(reason: Any = None) -> None:
            self.write({"tab": tab, "down": time.time() * 1000.0})

        sio.on("*", on_any)
        sio.on("connect", on_connect)
        sio.on("disconnect", on_disconnect)
        try:
            await sio.connect(target.socket_url(url, token), auth=target.socket_auth(token),
                              headers=target.socket_headers(token), transports=["websocket"],
                              socketio_path=path, wait_timeout=10)
        except Exception as exc:  # noqa: BLE001  (a refused or failed connect is reported, never fatal)
            self.write({"tab": tab, "error": str(exc)[:300] or type(exc).__name__})
            return
        if self._clock_task is None and target.reference:  # the first tab up keeps the clock
            self._clock_task = asyncio.create_task(self._keep_clock(sio))

    async def _keep_clock(self, sio: socketio.AsyncClient) -> None:
        samples = 0
        while sio.connected:
            sent = time.time() * 1000.0
            try:
                ack = await sio.call(ClientEvent.TIME_SYNC.value, {"clientTime": sent}, timeout=5)
            except Exception:  # noqa: BLE001  (a server without time_sync: no offset)
                if samples == 0:
                    self.write({"clock": None})
                return
            received = time.time() * 1000.0
            if isinstance(ack, dict) and isinstance(ack.get("serverTime"), (int, float)):
                self.clock.add(sent, float(ack["serverTime"]), received)
                best = self.clock.best()
                if best is not None and (best.offset_ms, best.rtt_ms) != self._best:
                    self._best = (best.offset_ms, best.rtt_ms)
                    self.write({"clock": {"offset_ms": best.offset_ms, "rtt_ms": best.rtt_ms}})
            samples += 1
            await asyncio.sleep(0.2 if samples < _SYNC_FIRST else _SYNC_EVERY_S)

    async def close(self) -> None:
        if self._clock_task is not None:
            self._clock_task.cancel()
        # Bounded: a tab whose connection is already dead must not keep the process alive.
        closing = asyncio.gather(*(sio.disconnect() for sio in self.tabs.values()),
                                 return_exceptions=True)
        try:
            await asyncio.wait_for(closing, CLOSE_WAIT_S)
        except TimeoutError:
            pass


def _writer(stream: Any) -> Callable[[dict[str, Any]], None]:
    def write(fact: dict[str, Any]) -> None:
        try:
            stream.write(json.dumps(fact, separators=(",", ":")) + "\n")
            stream.flush()
        except (BrokenPipeError, ValueError):
            pass  # the load run is gone; the end of stdin follows
    return write


async def serve(lines: asyncio.StreamReader, write: Callable[[dict[str, Any]], None]) -> None:
    witness = Witness(write)
    pending: set[asyncio.Task[None]] = set()
    try:
        while True:
            line = await lines.readline()
            if not line:
                break
            try:
                command = json.loads(line)
            except ValueError:
                write({"error": f"not a command: {line[:100]!r}"})
                continue
            if isinstance(command, dict) and command.get("op") == "watch":
                task = asyncio.create_task(witness.watch(
                    str(command["tab"]), str(command["url"]), str(command["token"]),
                    str(command.get("path") or "/socket.io/"), bool(command.get("verify_tls", True)),
                    command.get("contract")))
                pending.add(task)
                task.add_done_callback(pending.discard)
    finally:
        await witness.close()


async def _amain() -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=1 << 20)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    await serve(reader, _writer(sys.stdout))


#: How much the witness raises its scheduling priority where it may (root, or CAP_SYS_NICE):
#: its receive times must not wait behind the load generator and the server for a core.
PRIORITY_BOOST = 10


def raise_priority() -> bool:
    """Run ahead of the busy processes beside it (a light process, so this costs them
    nothing); where that is not allowed, run as is and say so."""
    try:
        os.nice(-PRIORITY_BOOST)
    except (PermissionError, OSError, AttributeError):
        return False
    return True


def main() -> int:
    boosted = raise_priority()
    _writer(sys.stdout)({"priority_raised": boosted})
    try:
        asyncio.run(_amain())
    except KeyboardInterrupt:
        pass  # Ctrl-C reaches the whole process group; the load run stops the witness
    return 0
