"""Customer -> agent delivery through the gateway, against the raw relay.

Same load shape as ``../shared/bench/relay_limit.py`` (pairs of visitor and
agent websockets, a window of messages in flight per pair, latency measured
from the visitor's send to the agent's receipt), run against the relay and
against a real ``switchboard serve`` in one run. The gateway stores every
message durably (SQLite WAL, synchronous=FULL) before it is delivered or
acknowledged.

    python bench/delivery.py --pairs 100 --messages 200 --window 4 --rounds 3

A closed loop measures throughput. This machine's speed drifts by tens of
percent from one minute to the next, so the relay and the gateway take turns,
``--rounds`` times, and the ratio reported is the median of the rounds' ratios.
A closed loop's but its latency is set by Little's law
(messages in flight / throughput), so latency is also measured open loop: each
pair sends at a fixed rate whatever the replies, against the relay and the
gateway with sentiment scoring off and on (the added p99 of scoring).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import json
import multiprocessing
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import websockets

ROOT = Path(__file__).resolve().parents[1]
RELAY = ROOT.parent / "shared" / "bench" / "relay_limit.py"
sys.path.insert(0, str(ROOT))

from tests.support.server import Server, free_port  # noqa: E402

TEXT = "hello, my order has not arrived yet and I need it by Friday"
PASSWORD = "benchmark password"


def relay(pairs: int, messages: int, window: int) -> dict[str, float] | None:
    if not RELAY.exists():
        print(f"(no relay baseline: {RELAY} is absent)")
        return None
    out = subprocess.run(
        [
            sys.executable,
            str(RELAY),
            "--pairs",
            str(pairs),
            "--messages",
            str(messages),
            "--window",
            str(window),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


async def _setup(srv: Server, pairs: int, run: str) -> list[tuple[str, str, str]]:
    """One agent per pair, each with one assigned conversation; ``run`` names
    the accounts, so that runs sharing a database (``--database-url``) keep
    apart."""
    async with httpx.AsyncClient(base_url=srv.http, timeout=60) as http:
        admin = (
            await http.post(
                "/api/v1/auth/token", json={"username": f"{run}-admin", "password": PASSWORD}
            )
        ).json()
        auth = {"Authorization": f"Bearer {admin['access_token']}"}
        out = []
        for p in range(pairs):
            name = f"{run}-agent-{p}"
            await http.post(
                "/api/v1/users", headers=auth, json={"username": name, "password": PASSWORD}
            )
            tok = (
                await http.post("/api/v1/auth/token", json={"username": name, "password": PASSWORD})
            ).json()
            session = (await http.post("/api/v1/webchat/sessions", json={"name": f"v{p}"})).json()
            reply = await http.post(
                f"/api/v1/conversations/{session['conversation_id']}/assign",
                headers={"Authorization": f"Bearer {tok['access_token']}"},
            )
            reply.raise_for_status()
            out.append((tok["access_token"], session["visitor_token"], session["conversation_id"]))
        return out


Pair = tuple[websockets.ClientConnection, websockets.ClientConnection]


Seen = dict[str, int]
"""The last ``seq`` acknowledged per conversation."""


async def _connect(srv: Server, cred: tuple[str, str, str], seen: Seen) -> Pair:
    """An agent and a visitor on one conversation, both past their welcome.

    Both resume after the conversation's last message, as a chat page and a
    console that already show it would: what an earlier phase or round sent
    is not replayed inside this one's measurement (the relay has no history
    to replay either).
    """
    agent_token, visitor_token, conversation_id = cred
    visitor = await websockets.connect(srv.ws + "/ws/visitor", max_queue=None)
    after_seq = seen.get(conversation_id, 0)
    await visitor.send(
        json.dumps({"type": "hello", "token": visitor_token, "after_seq": after_seq})
    )
    welcome = json.loads(await visitor.recv())
    agent = await websockets.connect(srv.ws + "/ws/agent", max_queue=None)
    after = {conversation_id: welcome["last_seq"]}
    await agent.send(json.dumps({"type": "hello", "token": agent_token, "after_seq": after}))
    while json.loads(await agent.recv())["type"] != "welcome":
        pass
    return agent, visitor


async def _load(
    srv: Server,
    creds: list[tuple[str, str, str]],
    seen: Seen,
    messages: int,
    window: int,
    tag: str,
) -> dict[str, float]:
    """One closed-loop round; ``tag`` keeps its client ids apart from other rounds'."""
    latencies: list[float] = []

    async def pair(cred: tuple[str, str, str]) -> None:
        agent, visitor = await _connect(srv, cred, seen)
        async with agent, visitor:
            slots = asyncio.Semaphore(window)
            sent: dict[str, float] = {}

            async def receive() -> None:
                got = 0
                while got < messages:
                    frame = json.loads(await agent.recv())
                    # Only this round's: a message of the round before that was
                    # still on its way when its sockets closed arrives live too.
                    if frame["type"] == "message" and frame["text"] in sent:
                        latencies.append(time.perf_counter() - sent.pop(frame["text"]))
                        got += 1
                        slots.release()

            async def drain_acks() -> None:
                acks = 0
                while acks < messages:
                    frame = json.loads(await visitor.recv())
                    if frame["type"] == "ack":
                        acks += 1
                        seen[cred[2]] = max(seen.get(cred[2], 0), frame["seq"])

            tasks = [asyncio.create_task(receive()), asyncio.create_task(drain_acks())]
            for i in range(messages):
                await slots.acquire()
                text = f"{i} {TEXT}"
                sent[text] = time.perf_counter()
                await visitor.send(
                    json.dumps({"type": "message", "client_msg_id": f"{tag}{i}", "text": text})
                )
            await asyncio.gather(*tasks)

    start = time.perf_counter()
    await asyncio.gather(*(pair(cred) for cred in creds))
    return _summary(latencies, time.perf_counter() - start, len(creds))


def _summary(latencies: list[float], seconds: float, pairs: int) -> dict[str, float]:
    latencies.sort()

    def pct(f: float) -> float:
        return round(latencies[min(len(latencies) - 1, int(f * len(latencies)))] * 1000, 2)

    return {
        "pairs": pairs,
        "messages": len(latencies),
        "seconds": round(seconds, 3),
        "msgs_per_s": round(len(latencies) / seconds, 1),
        "p50_ms": pct(0.5),
        "p99_ms": pct(0.99),
    }


Connect = Callable[
    [int],
    Awaitable[
        tuple[
            Callable[[str], Awaitable[None]],
            Callable[[], Awaitable[str]],
            Callable[[], Awaitable[None]],
        ]
    ],
]


WARMUP_S = 1.0
"""Open loop: each pair first sends this long at the same rate, unmeasured, so
that the figures are the steady state rather than first-message work (the
first message of a conversation loads its state)."""


async def _paced(connect: Connect, pairs: int, rate: float, seconds: float) -> dict[str, float]:
    """Open loop: every pair sends ``rate`` messages a second for ``seconds``."""
    latencies: list[float] = []
    count = int(rate * seconds)
    warmup = int(rate * WARMUP_S)
    links = [await connect(p) for p in range(pairs)]

    async def pair(p: int) -> None:
        send, receive, close = links[p]
        sent: dict[str, float] = {}

        async def receiver() -> None:
            got = 0
            while got < count:
                key = await receive()
                if key in sent:  # else a warm-up message
                    latencies.append(time.perf_counter() - sent.pop(key))
                    got += 1

        task = asyncio.create_task(receiver())
        start = time.perf_counter() + random.random() / rate
        for i in range(warmup + count):
            await asyncio.sleep(max(0.0, start + i / rate - time.perf_counter()))
            key = f"{p}-{i}"
            if i >= warmup:
                sent[key] = time.perf_counter()
            await send(key)
        await asyncio.wait_for(task, 60)
        await close()

    began = time.perf_counter() + WARMUP_S
    await asyncio.gather(*(pair(p) for p in range(pairs)))
    return _summary(latencies, time.perf_counter() - began, pairs)


def _relay_server(port: int) -> None:
    spec = importlib.util.spec_from_file_location("relay_limit", RELAY)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module._serve(port)


def relay_paced(pairs: int, rate: float, seconds: float) -> dict[str, float] | None:
    """The relay's own server, driven by the same open-loop load."""
    if not RELAY.exists():
        return None
    port = free_port()
    server = multiprocessing.Process(target=_relay_server, args=(port,), daemon=True)
    server.start()
    try:
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.05)

        async def connect(p: int):  # type: ignore[no-untyped-def]
            agent = await websockets.connect(f"ws://127.0.0.1:{port}/ws/agent/{p}")
            customer = await websockets.connect(f"ws://127.0.0.1:{port}/ws/customer/{p}")

            async def send(key: str) -> None:
                await customer.send(json.dumps({"text": f"{key} {TEXT}"}))

            async def receive() -> str:
                return str(json.loads(await agent.recv())["text"].split(" ", 1)[0])

            async def close() -> None:
                await asyncio.gather(customer.close(), agent.close())

            return send, receive, close

        return asyncio.run(_paced(connect, pairs, rate, seconds))
    finally:
        server.terminate()


def _gateway_paced(
    srv: Server, creds: list[tuple[str, str, str]], seen: Seen, rate: float, seconds: float
) -> dict[str, float]:
    async def connect(p: int):  # type: ignore[no-untyped-def]
        cid = creds[p][2]
        agent, visitor = await _connect(srv, creds[p], seen)

        async def drain() -> None:
            with contextlib.suppress(websockets.ConnectionClosed):
                async for raw in visitor:
                    frame = json.loads(raw)
                    if frame["type"] == "ack":
                        seen[cid] = max(seen.get(cid, 0), frame["seq"])

        drainer = asyncio.create_task(drain())

        async def send(key: str) -> None:
            frame = {"type": "message", "client_msg_id": key, "text": f"{key} {TEXT}"}
            await visitor.send(json.dumps(frame))

        async def receive() -> str:
            while True:
                frame = json.loads(await agent.recv())
                if frame["type"] == "message" and frame["sender"]["role"] == "customer":
                    return str(frame["text"].split(" ", 1)[0])

        async def close() -> None:
            await asyncio.gather(visitor.close(), agent.close())
            await drainer

        return send, receive, close

    return asyncio.run(_paced(connect, len(creds), rate, seconds))


@contextlib.contextmanager
def _fresh(database_url: str | None) -> Iterator[str | None]:
    """A scratch database made on ``database_url``'s server for one server
    run, and dropped after it: the users and conversations of earlier runs
    would otherwise weigh on the router (every agent is in its snapshots)."""
    if database_url is None:
        yield None
        return
    os.environ["SWITCHBOARD_TEST_DATABASE_URL"] = database_url  # read on import
    from tests.support.services import scratch_postgres

    with scratch_postgres() as url:
        yield url


def _analyze(url: str) -> None:
    """What autovacuum does as tables grow (it is off on some machines, this
    one included): without fresh statistics PostgreSQL keeps planning for
    the empty tables it started with, and a check that probes an index
    scans every message instead, slower each round."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("ANALYZE")


def gateway(
    pairs: int,
    messages: int,
    window: int,
    database_url: str | None,
    rate: float,
    seconds: float,
    scoring: bool,
    rounds: int,
    between: Callable[[], None] = lambda: None,
    workers: int = 1,
    redis_url: str | None = None,
) -> dict[str, Any]:
    """Open-loop latency, then closed-loop throughput, against one fresh server
    (``workers`` processes); ``between`` runs before each closed-loop round
    (the relay's turn)."""
    with tempfile.TemporaryDirectory() as tmp, _fresh(database_url) as scratch:
        url = scratch or f"sqlite:///{tmp}/bench.sqlite3"
        run = f"bench-{os.getpid()}-{'scored' if scoring else 'stored'}-w{workers}"
        cluster = {"SWITCHBOARD_REDIS_URL": redis_url} if redis_url else {}
        admin = {"username": f"{run}-admin", "role": "admin", "password_env": "BENCH_PASSWORD"}
        srv = Server(
            Path(tmp),
            url,
            SWITCHBOARD_SQLITE_SYNCHRONOUS="FULL",
            SWITCHBOARD_LIMITS__FRAMES_PER_SECOND="100000",
            SWITCHBOARD_LIMITS__FRAME_BURST="100000",
            SWITCHBOARD_SENTIMENT__ENABLED=str(scoring).lower(),
            # The admin is made at start-up (no CLI process to start: seconds
            # on a loaded machine).
            SWITCHBOARD_USERS=json.dumps([admin]),
            BENCH_PASSWORD=PASSWORD,
            serve_args=("--workers", str(workers)),
            **cluster,
        )
        # Start-up imports scikit-learn: minutes on a loaded two-core machine.
        srv.start(timeout=600.0)
        try:
            creds = asyncio.run(_setup(srv, pairs, run))
            seen: Seen = {}
            out: dict[str, Any] = {"paced": _gateway_paced(srv, creds, seen, rate, seconds)}
            out["closed"] = []
            for r in range(rounds if messages else 0):
                between()
                if scratch is not None:
                    _analyze(scratch)
                round_ = _load(srv, creds, seen, messages, window, f"r{r}-")
                out["closed"].append(asyncio.run(round_))
            return out
        finally:
            srv.stop()


def _median(results: list[dict[str, float]]) -> dict[str, float] | None:
    """The round with the median throughput."""
    ranked = sorted(results, key=lambda r: r["msgs_per_s"])
    return ranked[len(ranked) // 2] if ranked else None


def _table(title: str, rows: list[tuple[str, dict[str, float] | None]]) -> None:
    print(title)
    print(f"  {'':26}{'msgs/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'messages':>10}")
    for name, r in rows:
        if r is not None:
            print(
                f"  {name:26}{r['msgs_per_s']:>10.0f}{r['p50_ms']:>9.2f}{r['p99_ms']:>9.2f}"
                f"{r['messages']:>10.0f}"
            )


def compare_workers(args: argparse.Namespace, counts: list[int]) -> None:
    """Closed-loop throughput of the same gateway run as 1, 2, ... processes
    (``serve --workers``), each round against a relay round, side by side."""
    rows: list[tuple[str, dict[str, float] | None]] = []
    ratios: list[str] = []
    for n in counts:
        relays: list[dict[str, float]] = []

        def relay_round(into: list[dict[str, float]] = relays) -> None:
            result = relay(args.pairs, args.messages, args.window)
            if result is not None:
                into.append(result)

        ran = gateway(
            args.pairs,
            args.messages,
            args.window,
            args.database_url,
            args.rate,
            1.0,  # a second of open loop: not reported here
            scoring=False,
            rounds=args.rounds,
            between=relay_round,
            workers=n,
            redis_url=args.redis_url,
        )
        ours = _median(ran["closed"])
        rows += [(f"raw relay (with {n})", _median(relays)), (f"gateway, {n} worker(s)", ours)]
        each = sorted(
            g["msgs_per_s"] / r["msgs_per_s"] for r, g in zip(relays, ran["closed"], strict=True)
        )
        if each:
            ratios.append(f"{n} worker(s) {each[len(each) // 2]:.2f}")
    where = "PostgreSQL + Redis" if args.redis_url else "one node"
    _table(f"closed loop, {where}: {args.pairs} pairs, window {args.window}", rows)
    print("throughput gateway/relay (median round): " + ", ".join(ratios))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--pairs", type=int, default=100)
    parser.add_argument("--messages", type=int, default=200, help="messages per pair")
    parser.add_argument("--window", type=int, default=4, help="messages in flight per pair")
    parser.add_argument(
        "--rate", type=float, default=5.0, help="open loop: messages a second per pair"
    )
    parser.add_argument("--seconds", type=float, default=8.0, help="open loop: duration")
    parser.add_argument("--rounds", type=int, default=3, help="closed loop: turns each")
    parser.add_argument(
        "--database-url",
        default=os.environ.get("BENCH_DATABASE_URL"),
        help="PostgreSQL to make a scratch database in (default: a fresh SQLite file,"
        " synchronous=FULL)",
    )
    parser.add_argument(
        "--redis-url",
        default=os.environ.get("BENCH_REDIS_URL"),
        help="a cluster: the gateway's Redis (with --database-url on PostgreSQL)",
    )
    parser.add_argument(
        "--workers",
        default="1",
        help="processes (serve --workers); several, e.g. 1,2: closed loop only, side by side",
    )
    args = parser.parse_args()
    counts = [int(n) for n in args.workers.split(",")]
    if len(counts) > 1:
        compare_workers(args, counts)
        return

    relays: list[dict[str, float]] = []

    def relay_round() -> None:
        result = relay(args.pairs, args.messages, args.window)
        if result is not None:
            relays.append(result)

    base_paced = relay_paced(args.pairs, args.rate, args.seconds)
    common = (args.pairs, args.messages, args.window, args.database_url, args.rate, args.seconds)
    cluster = {"workers": counts[0], "redis_url": args.redis_url}
    unscored = gateway(*common, scoring=False, rounds=args.rounds, between=relay_round, **cluster)
    ours = gateway(*common, scoring=True, rounds=args.rounds, **cluster)
    base = _median(relays)
    _table(
        f"closed loop: {args.pairs} pairs, window {args.window} (median of {args.rounds} rounds)",
        [
            ("raw relay", base),
            ("gateway, stored", _median(unscored["closed"])),
            ("gateway, stored, scored", _median(ours["closed"])),
        ],
    )
    _table(
        f"open loop: {args.pairs} pairs x {args.rate:g} msgs/s for {args.seconds:g} s",
        [
            ("raw relay", base_paced),
            ("gateway, scoring off", unscored["paced"]),
            ("gateway, scoring on", ours["paced"]),
        ],
    )
    if base is not None and unscored["closed"]:
        ratios = [
            g["msgs_per_s"] / r["msgs_per_s"]
            for r, g in zip(relays, unscored["closed"], strict=True)
        ]
        print(
            "rounds, relay -> gateway stored msgs/s: "
            + ", ".join(
                f"{r['msgs_per_s']:.0f} -> {g['msgs_per_s']:.0f} ({x:.2f})"
                for r, g, x in zip(relays, unscored["closed"], ratios, strict=True)
            )
        )
        scored = _median(ours["closed"])
        assert scored is not None
        print(
            f"throughput gateway/relay: {sorted(ratios)[len(ratios) // 2]:.2f} stored "
            f"(median round), {scored['msgs_per_s'] / base['msgs_per_s']:.2f} stored and scored "
            "(target >= 0.40)"
        )
    print(
        f"open-loop p99: gateway {ours['paced']['p99_ms']:.1f} ms (target < 50 ms);"
        f" scoring adds {ours['paced']['p99_ms'] - unscored['paced']['p99_ms']:+.1f} ms"
        " (target < 5 ms)"
    )
    print(
        json.dumps(
            {
                "relay": relays,
                "relay_paced": base_paced,
                "gateway": ours,
                "gateway_unscored": unscored,
            }
        )
    )


if __name__ == "__main__":
    main()
