"""Idle websockets on one node: memory per connection, then a connect storm.

One real ``switchboard serve`` on the embedded default (SQLite file, no
Redis). The sockets are visitors' (``/ws/visitor``), each on its own web
chat session: what a site with the chat widget open on many pages holds.
An agent socket costs more (it is routed, and welcomed with its work) and
there are far fewer of them.

1. ``--idle`` (default 10,000) visitors connect, say ``hello`` and get their
   ``welcome``, then stay idle (keepalive pings only). The server process's
   RSS is read from ``/proc`` before and after; the difference over the
   number of sockets is the memory per connection, beside Centrifugo's
   published 30-50 KB per connection for comparison.
2. With those still open, ``--storm`` (default 2,000) more visitors connect
   at once, each sending ``hello`` and waiting for its ``welcome``: errors
   (must be 0), time per connect (p50/p99, from starting the TCP connect to
   the welcome) and the total time until the last welcome.

Clients run in ``--procs`` separate processes (one asyncio loop each), so
the server is not measured through a client starved of CPU; on a two-core
machine they still share the cores with it, which the latencies include.
RLIMIT_NOFILE is raised to its hard limit here and inherited by the server.

    python bench/idle_sockets.py [--idle 10000] [--storm 2000] [--procs 4]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import resource
import sys
import tempfile
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import httpx
import websockets

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.server import Server  # noqa: E402

CENTRIFUGO_KB = (30, 50)


def loadavg() -> str:
    return "load " + ", ".join(f"{x:.2f}" for x in os.getloadavg())


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


async def _hello(url: str, token: str) -> tuple[Any, float]:
    start = time.perf_counter()
    ws = await websockets.connect(url, open_timeout=60, max_queue=16)
    await ws.send(json.dumps({"type": "hello", "token": token}))
    while True:
        frame = json.loads(await asyncio.wait_for(ws.recv(), 60))
        if frame["type"] == "welcome":
            return ws, time.perf_counter() - start


async def _client(pipe: Connection, url: str, tokens: list[str], storm: bool) -> None:
    """Connect ``tokens`` (paced, or all at once on "go" when ``storm``),
    report, then hold the sockets open until told to close them."""
    loop = asyncio.get_running_loop()
    if storm:
        pipe.send("ready")
        await loop.run_in_executor(None, pipe.recv)
    slots = asyncio.Semaphore(len(tokens) if storm else 50)
    sockets: list[Any] = []
    times: list[float] = []
    errors: list[str] = []

    async def one(token: str) -> None:
        async with slots:
            try:
                ws, seconds = await _hello(url, token)
            except Exception as exc:
                errors.append(f"{type(exc).__name__}: {exc}"[:200])
                return
            sockets.append(ws)
            times.append(seconds)

    began = time.perf_counter()
    await asyncio.gather(*(one(t) for t in tokens))
    pipe.send({"times": times, "errors": errors, "seconds": time.perf_counter() - began})
    await loop.run_in_executor(None, pipe.recv)
    # Still open? (A server that dropped idle sockets would show here.)
    alive = sum(1 for ws in sockets if ws.state is websockets.protocol.State.OPEN)
    await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)
    pipe.send(alive)


def _client_main(pipe: Connection, url: str, tokens: list[str], storm: bool) -> None:
    asyncio.run(_client(pipe, url, tokens, storm))


async def _sessions(http: str, count: int) -> list[str]:
    tokens: list[str] = []
    slots = asyncio.Semaphore(16)
    async with httpx.AsyncClient(base_url=http, timeout=60) as client:

        async def one(n: int) -> None:
            async with slots:
                reply = await client.post("/api/v1/webchat/sessions", json={"name": f"idle {n}"})
                reply.raise_for_status()
                tokens.append(reply.json()["visitor_token"])

        await asyncio.gather(*(one(n) for n in range(count)))
    return tokens


def _spawn(
    url: str, tokens: list[str], procs: int, storm: bool
) -> list[tuple[multiprocessing.Process, Connection]]:
    out = []
    for i in range(procs):
        mine, theirs = multiprocessing.Pipe()
        share = tokens[i::procs]
        p = multiprocessing.Process(target=_client_main, args=(theirs, url, share, storm))
        p.start()
        out.append((p, mine))
    return out


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000 if ordered else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--idle", type=int, default=10_000, help="idle visitor sockets")
    parser.add_argument("--storm", type=int, default=2_000, help="concurrent connects")
    parser.add_argument("--procs", type=int, default=4, help="client processes")
    args = parser.parse_args()

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = args.idle + args.storm + 1000
    if hard != resource.RLIM_INFINITY and hard < want:
        print(f"(RLIMIT_NOFILE hard limit {hard} < {want}: fewer sockets may fit)")
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    print(
        f"idle sockets: one node, SQLite (embedded default), visitor sockets on web chat"
        f" sessions; RLIMIT_NOFILE {soft} -> {hard}; {loadavg()}"
    )

    with tempfile.TemporaryDirectory() as tmp:
        srv = Server(Path(tmp), f"sqlite:///{tmp}/idle.sqlite3")
        with srv:
            assert srv.process is not None
            pid = srv.process.pid
            start = time.perf_counter()
            tokens = asyncio.run(_sessions(srv.http, args.idle + args.storm))
            print(
                f"{len(tokens)} web chat sessions made in {time.perf_counter() - start:.0f} s;"
                f" {loadavg()}"
            )
            idle, storm = tokens[: args.idle], tokens[args.idle :]
            url = srv.ws + "/ws/visitor"
            time.sleep(2)
            before = rss_kb(pid)

            start = time.perf_counter()
            holders = _spawn(url, idle, args.procs, storm=False)
            results = [pipe.recv() for _, pipe in holders]
            opened = sum(len(r["times"]) for r in results)
            idle_errors = [e for r in results for e in r["errors"]]
            took = time.perf_counter() - start
            time.sleep(5)  # let the server settle (allocator, pending frames)
            after = rss_kb(pid)
            per = (after - before) / max(1, opened)
            print(
                f"idle: {opened} of {args.idle} open ({len(idle_errors)} errors) in {took:.0f} s;"
                f" server RSS {before / 1024:.0f} MB -> {after / 1024:.0f} MB:"
                f" {per:.1f} KB per connection (Centrifugo: {CENTRIFUGO_KB[0]}-{CENTRIFUGO_KB[1]}"
                f" KB); {loadavg()}"
            )
            for e in idle_errors[:3]:
                print(f"  error: {e}")

            stormers = _spawn(url, storm, args.procs, storm=True)
            for _, pipe in stormers:
                assert pipe.recv() == "ready"
            start = time.perf_counter()
            for _, pipe in stormers:
                pipe.send("go")
            results = [pipe.recv() for _, pipe in stormers]
            total = time.perf_counter() - start
            times = [t for r in results for t in r["times"]]
            errors = [e for r in results for e in r["errors"]]
            peak = rss_kb(pid)
            print(
                f"storm: {len(storm)} concurrent connects + hello on top of {opened} idle:"
                f" {len(errors)} errors (must be 0); per connect p50 {pct(times, 0.5):.0f} ms,"
                f" p99 {pct(times, 0.99):.0f} ms; all {len(times)} welcomed in {total:.2f} s;"
                f" server RSS {peak / 1024:.0f} MB; {loadavg()}"
            )
            for e in errors[:3]:
                print(f"  error: {e}")

            alive = 0
            for p, pipe in holders + stormers:
                pipe.send("close")
                alive += pipe.recv()
                p.join(60)
            print(f"still open at the end: {alive} of {opened + len(times)}")


if __name__ == "__main__":
    main()
