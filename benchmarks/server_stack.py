"""Fan-out benchmark: which stack should the reference server's Socket.IO server run on?

Exists to choose the reference server's stack, by measuring the same python-socketio
``AsyncServer`` on:

  (a) aiohttp: ``socketio.AsyncServer(async_mode="aiohttp")`` attached to an
      ``aiohttp.web.Application``;
  (b) ASGI:    ``socketio.AsyncServer(async_mode="asgi")`` wrapped in ``socketio.ASGIApp``,
      served by uvicorn with its default ("auto") protocol choices.  The script prints
      which websocket/HTTP implementation "auto" resolved to in this environment.

For each stack it starts the server in a subprocess on 127.0.0.1 (an OS-assigned port),
connects C python-socketio ``AsyncClient``s (websocket transport only) from ONE client
subprocess, then asks the server (``GET /emit?n=E``) to emit E ~300-byte JSON events to
room "all" (every connecting socket joins it), awaiting each ``sio.emit``.  It reports
connect time, server CPU seconds per phase (from /proc/<pid>/stat utime+stime), server
RSS (/proc/<pid>/status), deliveries/second and per-delivery latency percentiles.

Latency = client receive time minus a server-side ``time.time()`` stamp taken just
before each ``sio.emit`` (same machine, same clock).  It includes server queueing
and client processing backlog, so it is a burst-drain latency, not an idle round trip.

Both processes share the machine: if the client's CPU time during the emit phase is
close to the wall time, the client (not the server) bounds deliveries/s, and the
server CPU per delivery is the more telling figure.

Run (from the repository root):

    .venv/bin/python benchmarks/server_stack.py --clients 1000 --events 200

Other flags: --stacks aiohttp,asgi  --connect-concurrency 50  --connect-timeout 90
--emit-timeout 60  --ping-timeout S (server heartbeat; default = library's 20 s).
If the box is overloaded, clients are dropped by the server's heartbeat; the script
reports those drops as "client disconnects in emit phase".
Internal flag --role server|client is used for the subprocesses.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import sys
import tempfile
import time

ROOM = "all"
LISTEN_BACKLOG = 2048  # same for both stacks (uvicorn's default; aiohttp's is 128)
PAYLOAD_BYTES = 300
CLK_TCK = os.sysconf("SC_CLK_TCK")


# ---------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------


def _die_with_parent(parent_pid: int | None) -> None:
    """Ask Linux to SIGKILL this child if the orchestrator dies (no orphans)."""
    if not parent_pid:
        return
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except Exception:
        pass
    if os.getppid() != parent_pid:  # parent already gone before prctl took effect
        os._exit(1)


def proc_cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # after "pid (comm)": state is fields[0]; utime = field 14, stime = 15 (1-based overall)
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def proc_status_kb(pid: int, key: str) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return -1


def make_payload(seq: int) -> dict:
    """~300-byte JSON object, shaped like an order-status update."""
    base = {
        "seq": seq,
        "ts": time.time(),
        "order_id": "ord_0123456789abcdef",
        "status": "out_for_delivery",
        "courier": {"id": "cr_42", "lat": 52.520008, "lon": 13.404954},
        "eta_s": 420,
        "pad": "",
    }
    base["pad"] = "x" * max(0, PAYLOAD_BYTES - len(json.dumps(base)))
    return base


def pct(sorted_vals: list[float], p: float) -> float:
    if not sorted_vals:
        return float("nan")
    k = min(len(sorted_vals) - 1, max(0, round(p / 100.0 * (len(sorted_vals) - 1))))
    return sorted_vals[k]


# ---------------------------------------------------------------------------------------
# server subprocess
# ---------------------------------------------------------------------------------------


def build_sio(async_mode: str, ping_timeout: float | None = None):
    import socketio

    extra = {} if ping_timeout is None else {"ping_timeout": ping_timeout}
    sio = socketio.AsyncServer(
        async_mode=async_mode, logger=False, engineio_logger=False, cors_allowed_origins="*",
        **extra,
    )

    @sio.event
    async def connect(sid, environ, auth=None):
        await sio.enter_room(sid, ROOM)

    async def emit_n(n: int) -> dict:
        recipients = sum(1 for _ in sio.manager.get_participants("/", ROOM))
        t0 = time.perf_counter()
        for i in range(n):
            await sio.emit("tick", make_payload(i), room=ROOM)
        return {"emitted": n, "recipients": recipients, "emit_loop_s": time.perf_counter() - t0}

    return sio, emit_n


def _bound_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))  # free port chosen by the kernel, no race
    return sock


async def serve_aiohttp(ping_timeout: float | None) -> None:
    from aiohttp import web

    sio, emit_n = build_sio("aiohttp", ping_timeout)
    app = web.Application()
    sio.attach(app)

    async def emit_handler(request: web.Request) -> web.Response:
        n = int(request.query.get("n", "1"))
        return web.json_response(await emit_n(n))

    app.router.add_get("/emit", emit_handler)
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    sock = _bound_socket()
    site = web.SockSite(runner, sock, backlog=LISTEN_BACKLOG)
    await site.start()
    import aiohttp

    print("READY " + json.dumps({"port": sock.getsockname()[1],
                                 "impl": f"aiohttp {aiohttp.__version__} web server + WebSocketResponse"}),
          flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()


async def serve_asgi(ping_timeout: float | None) -> None:
    import uvicorn
    from uvicorn.protocols.http.auto import AutoHTTPProtocol
    from uvicorn.protocols.websockets.auto import AutoWebSocketsProtocol
    import socketio

    sio, emit_n = build_sio("asgi", ping_timeout)

    async def http_app(scope, receive, send):
        if scope["type"] == "lifespan":
            while True:
                msg = await receive()
                if msg["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif msg["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] == "http" and scope["path"] == "/emit":
            from urllib.parse import parse_qs

            q = parse_qs(scope.get("query_string", b"").decode())
            body = json.dumps(await emit_n(int(q.get("n", ["1"])[0]))).encode()
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(b"content-type", b"application/json")]})
            await send({"type": "http.response.body", "body": body})
            return
        await send({"type": "http.response.start", "status": 404, "headers": []})
        await send({"type": "http.response.body", "body": b"not found"})

    app = socketio.ASGIApp(sio, other_asgi_app=http_app)
    # Everything left at uvicorn defaults (ws="auto", http="auto", loop="auto",
    # ws_per_message_deflate, ping intervals...) except logging and the backlog.
    config = uvicorn.Config(app, log_level="warning", access_log=False, backlog=LISTEN_BACKLOG)
    server = uvicorn.Server(config)
    sock = _bound_socket()
    task = asyncio.create_task(server.serve(sockets=[sock]))
    for _ in range(200):
        if server.started or task.done():
            break
        await asyncio.sleep(0.05)
    if not server.started:
        raise SystemExit("uvicorn did not start")
    impl = (f"uvicorn {uvicorn.__version__}, ws=auto -> "
            f"{getattr(AutoWebSocketsProtocol, '__module__', None)}.{getattr(AutoWebSocketsProtocol, '__name__', None)}, "
            f"http=auto -> {AutoHTTPProtocol.__module__}.{AutoHTTPProtocol.__name__}, "
            f"loop={type(asyncio.get_running_loop()).__module__}.{type(asyncio.get_running_loop()).__name__}")
    print("READY " + json.dumps({"port": sock.getsockname()[1], "impl": impl}), flush=True)
    await task  # uvicorn handles SIGTERM itself


def run_server(args) -> None:
    _die_with_parent(args.parent_pid)
    serve = serve_aiohttp if args.stack == "aiohttp" else serve_asgi
    asyncio.run(serve(args.ping_timeout))


# ---------------------------------------------------------------------------------------
# client subprocess
# ---------------------------------------------------------------------------------------


async def client_main(args) -> None:
    import aiohttp
    import socketio

    base = f"http://127.0.0.1:{args.port}"
    # One session for everything, with no connection cap (the default connector caps at
    # 100 concurrent connections, which makes client #101 hang).
    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
    n_events = args.events
    counts = [0] * args.clients
    latencies: list[float] = []
    state = {"received": 0, "expected": None}
    all_in = asyncio.Event()
    drops: dict[str, int] = {}  # disconnect reason -> count, during the emit phase

    def make_client(idx: int):
        c = socketio.AsyncClient(reconnection=False, http_session=session,
                                 handle_sigint=False, request_timeout=10)

        async def on_tick(data):
            now = time.time()
            latencies.append(now - data["ts"])
            counts[idx] += 1
            state["received"] += 1
            if state["expected"] is not None and state["received"] >= state["expected"]:
                all_in.set()

        async def on_disconnect(reason=None):
            if state["expected"] is not None:  # only count drops after GO
                key = str(reason)
                drops[key] = drops.get(key, 0) + 1

        c.on("tick", on_tick)
        c.on("disconnect", on_disconnect)
        return c

    clients = [make_client(i) for i in range(args.clients)]
    sem = asyncio.Semaphore(args.connect_concurrency)
    errors: dict[str, int] = {}

    async def connect_one(c) -> bool:
        async with sem:
            try:
                await asyncio.wait_for(
                    c.connect(base, transports=["websocket"], wait_timeout=15), 20)
                return True
            except Exception as e:  # noqa: BLE001 - benchmark: count and carry on
                key = f"{type(e).__name__}: {e}"[:120]
                errors[key] = errors.get(key, 0) + 1
                return False

    t0 = time.perf_counter()
    try:
        ok = await asyncio.wait_for(asyncio.gather(*(connect_one(c) for c in clients)),
                                    args.connect_timeout)
    except asyncio.TimeoutError:
        ok = [c.connected for c in clients]
        errors["connect phase timeout"] = ok.count(False)
    connect_s = time.perf_counter() - t0
    n_ok = sum(ok)
    connected_idx = [i for i, good in enumerate(ok) if good]
    print("CONNECTED " + json.dumps({"connected": n_ok, "connect_s": connect_s,
                                     "errors": errors}), flush=True)

    loop = asyncio.get_running_loop()
    go = await asyncio.wait_for(loop.run_in_executor(None, sys.stdin.readline), 120)
    if go.strip() != "GO":
        return

    state["expected"] = n_ok * n_events
    result: dict = {"expected": state["expected"]}
    if state["expected"] == 0:
        result.update(received=0, error="no clients connected")
        print("DONE " + json.dumps(result), flush=True)
        return

    t0 = time.perf_counter()
    wall0 = time.time()
    emit_req = asyncio.create_task(session.get(
        f"{base}/emit", params={"n": str(n_events)},
        timeout=aiohttp.ClientTimeout(total=args.emit_timeout + 30)))
    try:
        await asyncio.wait_for(all_in.wait(), args.emit_timeout)
        result["complete"] = True
    except asyncio.TimeoutError:
        result["complete"] = False
    drain_s = time.perf_counter() - t0
    try:
        resp = await asyncio.wait_for(emit_req, 10)
        result["server"] = await resp.json()
    except Exception as e:  # noqa: BLE001
        emit_req.cancel()
        result["server"] = {"error": f"{type(e).__name__}: {e}"}
    lat = sorted(latencies)
    got = [counts[i] for i in connected_idx]
    result.update(
        received=state["received"],
        drain_s=drain_s,
        deliveries_per_s=state["received"] / drain_s if drain_s > 0 else 0.0,
        lat_p50_ms=pct(lat, 50) * 1000,
        lat_p99_ms=pct(lat, 99) * 1000,
        lat_max_ms=(lat[-1] * 1000) if lat else float("nan"),
        clients_with_all_events=sum(1 for g in got if g == n_events),
        min_events_per_client=min(got) if got else 0,
        disconnects=drops,
        wall_start=wall0,
    )
    print("DONE " + json.dumps(result), flush=True)
    # Wait to be killed by the orchestrator (it samples /proc first); EOF also ends us.
    await asyncio.wait_for(loop.run_in_executor(None, sys.stdin.readline), 120)


def run_client(args) -> None:
    _die_with_parent(args.parent_pid)
    rc = 0
    try:
        asyncio.run(client_main(args))
    except BaseException:  # noqa: BLE001 - report, then exit hard below
        import traceback

        traceback.print_exc()
        rc = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(rc)  # skip closing 1000s of websockets one by one


# ---------------------------------------------------------------------------------------
# orchestrator
# ---------------------------------------------------------------------------------------


async def _read_tagged(stream: asyncio.StreamReader, tag: str, timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"timed out waiting for {tag}")
        line = await asyncio.wait_for(stream.readline(), remaining)
        if not line:
            raise RuntimeError(f"child exited before {tag}")
        text = line.decode(errors="replace").strip()
        if text.startswith(tag + " "):
            return json.loads(text[len(tag) + 1:])


async def _stop(proc: asyncio.subprocess.Process | None, grace: float = 3.0) -> None:
    if proc is None or proc.returncode is not None:
        return
    try:
        proc.terminate()
        await asyncio.wait_for(proc.wait(), grace)
    except (ProcessLookupError, asyncio.TimeoutError):
        try:
            proc.kill()
        except ProcessLookupError:
            pass
        try:
            await asyncio.wait_for(proc.wait(), grace)
        except asyncio.TimeoutError:
            pass


def _tail(path: str, n: int = 15) -> str:
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-n:])
    except OSError:
        return ""


async def run_stack(stack: str, args) -> dict:
    me = os.path.abspath(__file__)
    common = ["--parent-pid", str(os.getpid())]
    srv_err = tempfile.NamedTemporaryFile("w+", prefix=f"stack-{stack}-srv-", suffix=".log", delete=False)
    cli_err = tempfile.NamedTemporaryFile("w+", prefix=f"stack-{stack}-cli-", suffix=".log", delete=False)
    server = client = None
    out: dict = {"stack": stack}
    try:
        server = await asyncio.create_subprocess_exec(
            sys.executable, me, "--role", "server", "--stack", stack, *common,
            *([] if args.ping_timeout is None else ["--ping-timeout", str(args.ping_timeout)]),
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=srv_err)
        ready = await _read_tagged(server.stdout, "READY", 30)
        out["impl"] = ready["impl"]
        out["srv_rss_idle_kb"] = proc_status_kb(server.pid, "VmRSS")
        s_cpu0 = proc_cpu_seconds(server.pid)

        client = await asyncio.create_subprocess_exec(
            sys.executable, me, "--role", "client", "--port", str(ready["port"]),
            "--clients", str(args.clients), "--events", str(args.events),
            "--connect-concurrency", str(args.connect_concurrency),
            "--connect-timeout", str(args.connect_timeout), "--emit-timeout", str(args.emit_timeout),
            *common,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=cli_err)
        conn = await _read_tagged(client.stdout, "CONNECTED", args.connect_timeout + 30)
        s_cpu1 = proc_cpu_seconds(server.pid)
        c_cpu1 = proc_cpu_seconds(client.pid)
        out.update(conn)
        out["srv_cpu_connect_s"] = s_cpu1 - s_cpu0
        out["srv_rss_connected_kb"] = proc_status_kb(server.pid, "VmRSS")

        client.stdin.write(b"GO\n")
        await client.stdin.drain()
        done = await _read_tagged(client.stdout, "DONE", args.emit_timeout + 45)
        s_cpu2 = proc_cpu_seconds(server.pid)
        c_cpu2 = proc_cpu_seconds(client.pid)
        out.update(done)
        out["srv_cpu_emit_s"] = s_cpu2 - s_cpu1
        out["cli_cpu_emit_s"] = c_cpu2 - c_cpu1
        out["srv_rss_after_emit_kb"] = proc_status_kb(server.pid, "VmRSS")
        out["srv_rss_peak_kb"] = proc_status_kb(server.pid, "VmHWM")
    except Exception as e:  # noqa: BLE001 - report and continue with the next stack
        out["failure"] = f"{type(e).__name__}: {e}"
        out["server_stderr_tail"] = _tail(srv_err.name)
        out["client_stderr_tail"] = _tail(cli_err.name)
    finally:
        await _stop(client)
        await _stop(server)
        for f in (srv_err, cli_err):
            f.close()
            if "failure" not in out:
                os.unlink(f.name)
    return out


def _fmt(r: dict, args) -> str:
    lines = [f"=== stack: {r['stack']} ==="]
    if "impl" in r:
        lines.append(f"  implementation:               {r['impl']}")
    if "connected" in r:
        lines.append(f"  clients connected:            {r['connected']} / {args.clients}"
                     f"  (connect concurrency {args.connect_concurrency})")
        lines.append(f"  time to connect all:          {r['connect_s']:.2f} s")
        if r.get("errors"):
            lines.append(f"  connect errors:               {r['errors']}")
        lines.append(f"  server CPU, connect phase:    {r['srv_cpu_connect_s']:.2f} s")
    if "received" in r:
        srv = r.get("server", {})
        lines.append(f"  server CPU, emit phase:       {r['srv_cpu_emit_s']:.2f} s"
                     f"  ({r['srv_cpu_emit_s'] / r['drain_s'] * 100:.0f}% of one core;"
                     f" {r['srv_cpu_emit_s'] / max(1, r['received']) * 1e6:.1f} us/delivery)")
        lines.append(f"  client CPU, emit phase:       {r['cli_cpu_emit_s']:.2f} s"
                     f"  ({r['cli_cpu_emit_s'] / r['drain_s'] * 100:.0f}% of one core)")
        lines.append(f"  server RSS (VmRSS):           idle {r['srv_rss_idle_kb'] / 1024:.1f} MiB,"
                     f" connected {r['srv_rss_connected_kb'] / 1024:.1f} MiB,"
                     f" after emit {r['srv_rss_after_emit_kb'] / 1024:.1f} MiB,"
                     f" peak (VmHWM) {r['srv_rss_peak_kb'] / 1024:.1f} MiB")
        lines.append(f"  server emit loop:             {srv.get('emit_loop_s', float('nan')):.2f} s"
                     f" for {srv.get('emitted', '?')} emits to {srv.get('recipients', '?')} recipients"
                     + (f"  [{srv['error']}]" if "error" in srv else ""))
        lines.append(f"  deliveries:                   {r['received']} / {r['expected']}"
                     f" in {r['drain_s']:.2f} s {'(complete)' if r.get('complete') else '(TIMED OUT)'};"
                     f" clients with all events: {r['clients_with_all_events']}")
        if r.get("disconnects"):
            lines.append(f"  client disconnects in emit phase: {r['disconnects']}")
        lines.append(f"  deliveries/s:                 {r['deliveries_per_s']:,.0f}")
        lines.append(f"  delivery latency p50 / p99:   {r['lat_p50_ms']:.0f} ms / {r['lat_p99_ms']:.0f} ms"
                     f"  (max {r['lat_max_ms']:.0f} ms)")
    if "failure" in r:
        lines.append(f"  FAILED: {r['failure']}")
        for k in ("server_stderr_tail", "client_stderr_tail"):
            if r.get(k):
                lines.append(f"  --- {k} ---\n" + r[k].rstrip())
    return "\n".join(lines)


async def orchestrate(args) -> int:
    print(f"server_stack benchmark: {args.clients} clients x {args.events} events "
          f"(~{PAYLOAD_BYTES}-byte JSON), python {sys.version.split()[0]}, {os.cpu_count()} CPUs",
          flush=True)
    print("latency = client receive time.time() - server time.time() stamped just before each "
          "sio.emit (same machine, same clock); includes queueing during the burst.", flush=True)
    results = []
    for stack in args.stacks.split(","):
        t0 = time.perf_counter()
        r = await run_stack(stack.strip(), args)
        results.append(r)
        print(_fmt(r, args), flush=True)
        print(f"  (stack wall time incl. start/stop: {time.perf_counter() - t0:.1f} s)", flush=True)
    ok = [r for r in results if "deliveries_per_s" in r]
    if len(ok) > 1:
        print("=== summary ===")
        print(f"  {'stack':8} {'connect s':>9} {'srvCPU conn':>11} {'srvCPU emit':>11} "
              f"{'us/deliv':>8} {'peak MiB':>8} {'deliv/s':>9} {'p50 ms':>7} {'p99 ms':>7}")
        for r in ok:
            print(f"  {r['stack']:8} {r['connect_s']:9.2f} {r['srv_cpu_connect_s']:11.2f} "
                  f"{r['srv_cpu_emit_s']:11.2f} {r['srv_cpu_emit_s'] / max(1, r['received']) * 1e6:8.1f} "
                  f"{r['srv_rss_peak_kb'] / 1024:8.1f} {r['deliveries_per_s']:9,.0f} "
                  f"{r['lat_p50_ms']:7.0f} {r['lat_p99_ms']:7.0f}")
    return 0 if all("failure" not in r and r.get("complete") for r in results) else 1


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--clients", type=int, default=1000)
    p.add_argument("--events", type=int, default=200)
    p.add_argument("--stacks", default="aiohttp,asgi", help="comma list of: aiohttp, asgi")
    p.add_argument("--connect-concurrency", type=int, default=50,
                   help="max websocket handshakes in flight at once")
    p.add_argument("--connect-timeout", type=float, default=90.0)
    p.add_argument("--emit-timeout", type=float, default=60.0,
                   help="seconds to wait for all deliveries after triggering the emits")
    p.add_argument("--ping-timeout", type=float, default=None,
                   help="server Engine.IO ping_timeout in s (default: library default, 20)")
    p.add_argument("--role", choices=["orchestrator", "server", "client"], default="orchestrator",
                   help=argparse.SUPPRESS)
    p.add_argument("--stack", choices=["aiohttp", "asgi"], help=argparse.SUPPRESS)
    p.add_argument("--port", type=int, help=argparse.SUPPRESS)
    p.add_argument("--parent-pid", type=int, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.role == "server":
        run_server(args)
        return 0
    if args.role == "client":
        run_client(args)
        return 0
    for s in args.stacks.split(","):
        if s.strip() not in ("aiohttp", "asgi"):
            p.error(f"unknown stack {s!r}")
    return asyncio.run(orchestrate(args))


if __name__ == "__main__":
    sys.exit(main())
