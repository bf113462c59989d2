"""Customer -> agent delivery through the gateway, against the raw relay.

Same load shape as ``../shared/bench/relay_limit.py`` (pairs of visitor and
agent websockets, a window of messages in flight per pair, latency measured
from the visitor's send to the agent's receipt), run against the relay and
against a real ``switchboard serve`` in one run. The gateway stores every
message durably (SQLite WAL, synchronous=FULL) before it is delivered or
acknowledged.

    python bench/delivery.py --pairs 100 --messages 200 --window 4
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import websockets

ROOT = Path(__file__).resolve().parents[1]
RELAY = ROOT.parent / "shared" / "bench" / "relay_limit.py"
sys.path.insert(0, str(ROOT))

from tests.support.server import Server  # noqa: E402

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


async def _setup(srv: Server, pairs: int) -> list[tuple[str, str]]:
    """One agent per pair, each with one assigned conversation."""
    async with httpx.AsyncClient(base_url=srv.http, timeout=60) as http:
        admin = (
            await http.post(
                "/api/v1/auth/token", json={"username": "bench-admin", "password": PASSWORD}
            )
        ).json()
        auth = {"Authorization": f"Bearer {admin['access_token']}"}
        out = []
        for p in range(pairs):
            name = f"bench-agent-{p}"
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
            out.append((tok["access_token"], session["visitor_token"]))
        return out


async def _load(
    srv: Server, creds: list[tuple[str, str]], messages: int, window: int
) -> dict[str, float]:
    latencies: list[float] = []

    async def pair(agent_token: str, visitor_token: str) -> None:
        async with (
            websockets.connect(srv.ws + "/ws/agent", max_queue=None) as agent,
            websockets.connect(srv.ws + "/ws/visitor", max_queue=None) as visitor,
        ):
            await agent.send(json.dumps({"type": "hello", "token": agent_token}))
            await visitor.send(json.dumps({"type": "hello", "token": visitor_token}))
            while json.loads(await agent.recv())["type"] != "welcome":
                pass
            slots = asyncio.Semaphore(window)
            sent: dict[str, float] = {}

            async def receive() -> None:
                got = 0
                while got < messages:
                    frame = json.loads(await agent.recv())
                    if frame["type"] == "message":
                        latencies.append(time.perf_counter() - sent.pop(frame["text"]))
                        got += 1
                        slots.release()

            async def drain_acks() -> None:
                acks = 0
                while acks < messages:
                    if json.loads(await visitor.recv())["type"] == "ack":
                        acks += 1

            tasks = [asyncio.create_task(receive()), asyncio.create_task(drain_acks())]
            for i in range(messages):
                await slots.acquire()
                text = f"{i} {TEXT}"
                sent[text] = time.perf_counter()
                await visitor.send(
                    json.dumps({"type": "message", "client_msg_id": f"b{i}", "text": text})
                )
            await asyncio.gather(*tasks)

    start = time.perf_counter()
    await asyncio.gather(*(pair(a, v) for a, v in creds))
    seconds = time.perf_counter() - start
    latencies.sort()

    def pct(f: float) -> float:
        return round(latencies[min(len(latencies) - 1, int(f * len(latencies)))] * 1000, 2)

    return {
        "pairs": len(creds),
        "messages": len(latencies),
        "seconds": round(seconds, 3),
        "msgs_per_s": round(len(latencies) / seconds, 1),
        "p50_ms": pct(0.5),
        "p99_ms": pct(0.99),
    }


def gateway(pairs: int, messages: int, window: int, database_url: str | None) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        url = database_url or f"sqlite:///{tmp}/bench.sqlite3"
        srv = Server(
            Path(tmp),
            url,
            SWITCHBOARD_SQLITE_SYNCHRONOUS="FULL",
            SWITCHBOARD_LIMITS__FRAMES_PER_SECOND="100000",
            SWITCHBOARD_LIMITS__FRAME_BURST="100000",
        )
        srv.add_user("bench-admin", PASSWORD, "admin")
        with srv:
            creds = asyncio.run(_setup(srv, pairs))
            return asyncio.run(_load(srv, creds, messages, window))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--pairs", type=int, default=100)
    parser.add_argument("--messages", type=int, default=200, help="messages per pair")
    parser.add_argument("--window", type=int, default=4, help="messages in flight per pair")
    parser.add_argument(
        "--database-url",
        default=os.environ.get("BENCH_DATABASE_URL"),
        help="default: a fresh SQLite file (synchronous=FULL)",
    )
    args = parser.parse_args()

    base = relay(args.pairs, args.messages, args.window)
    ours = gateway(args.pairs, args.messages, args.window, args.database_url)
    rows = [("raw relay", base), ("gateway", ours)]
    print(f"{'':12}{'msgs/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'messages':>10}")
    for name, r in rows:
        if r is not None:
            print(
                f"{name:12}{r['msgs_per_s']:>10.0f}{r['p50_ms']:>9.2f}{r['p99_ms']:>9.2f}"
                f"{r['messages']:>10.0f}"
            )
    if base is not None:
        print(
            f"ratio gateway/relay: throughput {ours['msgs_per_s'] / base['msgs_per_s']:.2f}"
            f" (target >= 0.40), p99 {ours['p99_ms'] / base['p99_ms']:.2f}x;"
            f" gateway p99 {ours['p99_ms']:.1f} ms (target < 50 ms)"
        )
    print(json.dumps({"relay": base, "gateway": ours}))


if __name__ == "__main__":
    main()
