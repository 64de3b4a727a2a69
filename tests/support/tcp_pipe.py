"""One direction of a TCP front's connection, for tests that put a proxy before a server."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Sequence


async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter, *,
               abort_after: int | None = None,
               abort: Sequence[asyncio.StreamWriter] = ()) -> None:
    """Copy `source` to `sink` until the stream ends, then close `sink`. Past `abort_after`
    bytes, abort the transports of `abort` (a reset, the rest unread) instead."""
    sent = 0
    try:
        while data := await source.read(65536):
            sent += len(data)
            if abort_after is not None and sent > abort_after:
                for writer in abort:
                    writer.transport.abort()
                return
            sink.write(data)
            await sink.drain()
    except (ConnectionError, ssl.SSLError, asyncio.CancelledError):
        pass
    finally:
        sink.close()
