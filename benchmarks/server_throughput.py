"""How much one reference-server process holds and pushes: connections, then events per second.

Not a test: it prints figures. It starts `python -m reference_server` (embedded store) as a
subprocess on loopback, connects `--sockets` Socket.IO clients from this process (customers,
5 store owners, 10 drivers, tokens minted with the server's secret), drives `--orders`
delivery orders through their whole lifecycle over HTTP with `--concurrency` in flight, and
counts what every socket received against what the routing table says it must.

    .venv/bin/python benchmarks/server_throughput.py --sockets 2000 --orders 400

Client and server share this machine's two cores, so the figures are a floor for the server.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import aiohttp
import jwt
import socketio

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness import payloads  # noqa: E402
from harness.api import OrdersApi  # noqa: E402
from harness.contract import (  # noqa: E402
    JWT_ALGORITHM,
    ChangeKind,
    OrderChange,
    OrderType,
    Role,
    Status,
    emissions_for,
    lifecycle,
    rooms_for,
)

SECRET = "benchmark-secret-for-loopback-only-0123"
OWNERS, DRIVERS = 5, 10


def mint(sub: str, role: Role) -> str:
    now = int(time.time())
    return jwt.encode({"sub": sub, "role": role.value, "name": sub, "iat": now, "exp": now + 3600},
                      SECRET, algorithm=JWT_ALGORITHM)


def proc_stats(pid: int) -> tuple[float, float]:
    """(CPU seconds, RSS MiB) of a process, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    rss = next(int(line.split()[1]) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
               if line.startswith("VmRSS:"))
    return cpu, rss / 1024


def start_server() -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "reference_server", "--port", "0", "--jwt-secret", SECRET,
         "--password-cost", "4", "--ping-timeout", "120", "--log-level", "WARNING"],
        stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    match = re.search(r"listening on (http://\S+)", line)
    if not match:
        proc.kill()
        raise SystemExit(f"server did not start: {line!r}")
    return proc, match.group(1)


async def run(args: argparse.Namespace) -> None:
    proc, url = start_server()
    try:
        await measure(args, proc.pid, url)
    finally:
        proc.terminate()
        proc.wait(10)


async def measure(args: argparse.Namespace, pid: int, url: str) -> None:
    received: Counter[str] = Counter()
    http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
    api = OrdersApi(url, timeout=60)
    drivers = [await api.register(f"bench driver {i}", f"bench-driver-{i}-{os.getpid()}@example.test",
                                  "benchmark-pass", Role.DRIVER) for i in range(DRIVERS)]
    n_customers = max(1, args.sockets - OWNERS - DRIVERS)
    identities = ([(f"bench-cust-{i}", Role.CUSTOMER) for i in range(n_customers)]
                  + [(f"bench-owner-{i}", Role.STORE_OWNER) for i in range(OWNERS)]
                  + [(d.user_id, Role.DRIVER) for d in drivers])
    clients: list[socketio.AsyncClient] = []

    async def connect(sub: str, role: Role, gate: asyncio.Semaphore) -> None:
        client = socketio.AsyncClient(reconnection=False, http_session=http)
        room = rooms_for(role, sub)[0]

        @client.on("*")
        async def _count(event: str, data: object = None) -> None:
            received[room] += 1

        async with gate:
            await client.connect(url, auth={"token": mint(sub, role)}, transports=["websocket"],
                                 wait_timeout=60)
        clients.append(client)

    cpu0, rss0 = proc_stats(pid)
    t0 = time.perf_counter()
    gate = asyncio.Semaphore(100)
    await asyncio.gather(*(connect(sub, role, gate) for sub, role in identities))
    t_connect = time.perf_counter() - t0
    cpu1, rss1 = proc_stats(pid)
    print(f"sockets held:        {len(clients)} (connected in {t_connect:.1f} s; server CPU "
          f"{cpu1 - cpu0:.1f} s; server RSS {rss0:.0f} -> {rss1:.0f} MiB, "
          f"{(rss1 - rss0) / max(1, len(clients)) * 1024:.0f} KiB per socket)")

    expected: Counter[str] = Counter()
    owner_tok = mint("bench-owner-0", Role.STORE_OWNER)
    gate = asyncio.Semaphore(args.concurrency)
    members = Counter(rooms_for(role, sub)[0] for sub, role in identities)
    changes = emits = 0

    def expect(kind: ChangeKind, order: dict, status: str, driver: str | None) -> None:
        nonlocal changes, emits
        changes += 1
        change = OrderChange(kind, order["id"], order["customerId"], OrderType.DELIVERY, status, driver)
        for emission in emissions_for(change):
            emits += 1
            for room in emission.rooms:
                expected[room] += members[room]

    async def one_order(i: int) -> None:
        async with gate:
            cust = f"bench-cust-{i % n_customers}"
            driver = drivers[i % DRIVERS]
            order = await api.checkout(mint(cust, Role.CUSTOMER), payloads.checkout(OrderType.DELIVERY))
            expect(ChangeKind.CREATED, order, Status.PENDING.value, None)
            for step in lifecycle(OrderType.DELIVERY):
                if step.target is Status.DRIVER_ASSIGNED:
                    order = await api.assign_driver(owner_tok, order["id"], driver.user_id)
                elif step.source in (Status.PENDING, Status.PROCESSING):
                    order = await api.set_status(owner_tok, order["id"], step.target.value)
                else:
                    order = await api.set_status(driver.token, order["id"], step.target.value)
                expect(ChangeKind.STATUS, order, step.target.value, order["driverId"])

    t1 = time.perf_counter()
    await asyncio.gather(*(one_order(i) for i in range(args.orders)))
    t_http = time.perf_counter() - t1
    want = sum(expected.values())
    deadline = time.perf_counter() + 60
    while sum(received.values()) < want and time.perf_counter() < deadline:
        await asyncio.sleep(0.05)
    t_all = time.perf_counter() - t1
    cpu2, rss2 = proc_stats(pid)
    got = sum(received.values())
    print(f"orders:              {args.orders} delivery lifecycles, {changes} changes in {t_http:.1f} s "
          f"({changes / t_http:.0f} changes/s over HTTP, {args.concurrency} in flight)")
    print(f"events emitted:      {emits} ({emits / t_all:.0f} emits/s)")
    print(f"deliveries:          {got} of {want} expected in {t_all:.1f} s ({got / t_all:.0f}/s); "
          f"mismatched rooms: {sum(1 for r in expected if expected[r] != received[r])}")
    for room in sorted(r for r in set(expected) | set(received) if expected[r] != received[r])[:10]:
        print(f"  mismatch in {room}: expected {expected[room]}, received {received[room]}")
    print(f"server during load:  CPU {cpu2 - cpu1:.1f} s ({(cpu2 - cpu1) / t_all * 100:.0f}% of one core), "
          f"RSS {rss2:.0f} MiB")
    for client in clients:
        await client.disconnect()
    await http.close()
    await api.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sockets", type=int, default=2000)
    parser.add_argument("--orders", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=20)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
