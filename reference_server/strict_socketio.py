"""python-socketio's server, strict where the contract is (section 7), prompt where the
JavaScript server is.

- python-socketio logs a packet it cannot decode and keeps the connection; the contract (and
  the JavaScript server) close that one connection. An event packet must be a non-empty
  list whose first element is the event's name.
- When a polling client says goodbye (Engine.IO CLOSE), python-engineio leaves the client's
  pending long-poll GET unanswered until it times out (ping interval + timeout), and the
  client's disconnect waits that long; the JavaScript server answers it at once. Here the
  poll is woken when the session ends.
"""

from __future__ import annotations

import logging
from typing import Any

import socketio
from socketio import packet

log = logging.getLogger("reference_server.sockets")


def _well_formed(pkt: Any) -> bool:
    if pkt.packet_type in (packet.EVENT, packet.BINARY_EVENT):
        return isinstance(pkt.data, list) and bool(pkt.data) and isinstance(pkt.data[0], str)
    return pkt.packet_type in (packet.CONNECT, packet.DISCONNECT, packet.ACK, packet.BINARY_ACK)


class StrictAsyncServer(socketio.AsyncServer):  # type: ignore[misc]  # python-socketio ships no types
    async def _handle_eio_message(self, eio_sid: str, data: Any) -> None:
        if eio_sid not in self._binary_packet:  # not an attachment of a binary packet
            try:
                well_formed = _well_formed(self.packet_class(encoded_packet=data))
            except (ValueError, TypeError, IndexError):
                well_formed = False
            if not well_formed:
                log.info("malformed packet from %s: closing that connection", eio_sid)
                await self.eio.disconnect(eio_sid)
                return
        await super()._handle_eio_message(eio_sid, data)

    async def _handle_eio_disconnect(self, eio_sid: str, reason: Any) -> None:
        await super()._handle_eio_disconnect(eio_sid, reason)
        session = self.eio.sockets.get(eio_sid)
        if session is not None and not session.upgraded:
            session.queue.put_nowait(None)  # ends a pending poll: it answers with no packets
