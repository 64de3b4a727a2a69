"""The walk the file.* checks share: parties signed up and connected through the target's
contract file, and a delivery and a pickup order walked through the file's lifecycle, once
per run (signing up is slow on a real server, and every check reads the same events)."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..contract import OrderType
from ..contract.teamfile import TeamContract
from ..contract_check import Walk
from ..errors import FileMismatch
from ..teamclient import TeamClient


@dataclass
class FileWalk:
    client: TeamClient
    walk: Walk
    #: Per order type: the first mismatch with the file (None: it walked clean), the walk's
    #: lines (requests, answers, events) and the events its parties got.
    mismatches: dict[OrderType, str | None] = field(default_factory=dict)
    lines: dict[OrderType, list[str]] = field(default_factory=dict)
    events: dict[OrderType, int] = field(default_factory=dict)

    @property
    def contract(self) -> TeamContract:
        return self.walk.contract

    @classmethod
    async def start(cls, url: str, contract: TeamContract, *, timeout_s: float,
                    jwt_secret: str | None, verify: bool) -> FileWalk:
        """Sign up and connect the parties (FileMismatch when even that fails), then walk a
        delivery and a pickup order, keeping each one's first mismatch."""
        lines: list[str] = []
        client = TeamClient(url, contract, timeout=timeout_s * 2, verify=verify)
        walk = Walk(client, contract, timeout_s=timeout_s, jwt_secret=jwt_secret, say=lines.append)
        walked = cls(client, walk)
        try:
            await walk.sign_up()
            await walk.connect()
        except BaseException:
            await walked.close()
            raise
        for kind in OrderType:
            lines.clear()
            before = walk.events
            try:
                await walk.order(kind)
                walked.mismatches[kind] = None
            except FileMismatch as exc:
                walked.mismatches[kind] = str(exc)
            walked.lines[kind] = list(lines)
            walked.events[kind] = walk.events - before
        return walked

    async def close(self) -> None:
        await self.walk.close()
        await self.client.__aexit__(None, None, None)
