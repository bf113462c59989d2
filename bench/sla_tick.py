"""SLA clocks at scale: 100,000 running KPI instances on one node.

Three measurements, each against a baseline in the same run:

1. Business-time arithmetic: ``Calendar.add`` (walks open ranges) against
   stepping minute by minute, for due times 2 minutes to 2 days of business
   time out in an office calendar with a holiday (Europe/Rome).
2. The timer tick: ``KpiBoard.due(now)`` (a heap) with 100,000 running
   instances, when nothing is due and when a slice falls due, against a
   linear scan of every instance per tick.
3. The message path: what the SLA runtime's commit listener costs per
   message (p50/p99) with those instances loaded, against a listener that
   does nothing. Starting and completing clocks happens in tasks off this
   path (not counted here; they cost one store write each).
4. Delivery through the real store: a message's submit-to-commit latency
   (SQLite, the message writer, the commit hooks) with the SLA runtime
   running (those instances on its board, real clocks starting and
   completing in the same database) against the same without it, in
   alternating rounds (the conversations open while it runs, as in
   service, so their clocks need no read). Twice: with the 100 conversations of a round
   starting one every 20 messages (steady, as chats arrive), and all at
   once (a burst: 100 clocks start within the first ~100 ms).

    python bench/sla_tick.py [--instances 100000] [--ticks 200] [--messages 2000]
"""

import argparse
import asyncio
import dataclasses
import gc
import random
import statistics
import sys
import time
from datetime import UTC, date, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import create_engine

from conversations.models import AppendResult, Message
from gateway.sla_runtime import SlaRuntime
from sla import clock
from sla.calendar import Calendar
from sla.clock import KpiBoard, KpiInstance
from sla.config import CalendarConfig, SlaPolicy

OFFICE = CalendarConfig(
    name="office",
    timezone="Europe/Rome",
    holidays=[date(2026, 12, 8)],
    **{d: ["09:00-13:00", "14:00-18:00"] for d in ("monday", "tuesday", "wednesday", "thursday")},
    friday=["09:00-13:00"],
)
START = datetime(2026, 12, 4, 11, 30, tzinfo=UTC).timestamp()  # a Friday


def minute_stepping_add(calendar: Calendar, start: float, seconds: float) -> float:
    """The obvious way: count open minutes one at a time."""
    t, left = start, seconds
    while left > 0:
        if calendar.is_open(datetime.fromtimestamp(t, UTC)):
            left -= 60
        t += 60
    return t


def bench_arithmetic(rng: random.Random) -> None:
    calendar = OFFICE.build()
    durations = [rng.choice([2, 30, 240, 960, 2880]) * 60.0 for _ in range(200)]
    starts = [START + rng.randrange(0, 7 * 86400, 60) for _ in durations]
    began = time.perf_counter()
    walked = [calendar.add_seconds(s, d) for s, d in zip(starts, durations, strict=True)]
    walk = (time.perf_counter() - began) / len(durations)
    few = 40
    began = time.perf_counter()
    stepped = [
        minute_stepping_add(calendar, s, d)
        for s, d in zip(starts[:few], durations[:few], strict=True)
    ]
    step = (time.perf_counter() - began) / few
    assert walked[:few] == stepped, "the walk and the minute count disagree"
    print("business-time add (2m..2d of office hours, Europe/Rome)")
    print(f"  walk over open ranges   {walk * 1e6:10.1f} us")
    print(f"  minute stepping         {step * 1e6:10.1f} us   (baseline)")
    print(f"  ratio                   {step / walk:10.0f}x faster")


def instances(n: int, rng: random.Random) -> list[KpiInstance]:
    calendar = OFFICE.build()
    out = []
    for i in range(n):
        warn = rng.choice([120, 600, 3600, 4 * 3600])
        out.append(
            clock.start(
                id=f"kpi_{i}",
                subject_kind="conversation",
                subject_id=f"conv_{i}",
                sla="chat",
                kpi="first_response" if i % 2 else "resolution",
                warn_after=warn,
                fail_after=warn * 2,
                hours=calendar,
                now=START + rng.uniform(0, 3600),
            )
        )
    return out


def linear_due(items: dict[str, KpiInstance], now: float) -> list[tuple[str, Any]]:
    fired = []
    for key, instance in items.items():
        due = instance.next_due()
        while due is not None and due[0] <= now:  # a warning, then maybe the failure too
            warning = due[1] is clock.KpiEvent.WARN
            instance = clock.warn(instance, now) if warning else clock.fail(instance, now)
            items[key] = instance
            fired.append((key, due[1]))
            due = instance.next_due()
    return fired


def bench_tick(all_instances: list[KpiInstance], ticks: int) -> KpiBoard:
    board = KpiBoard()
    began = time.perf_counter()
    board.put_all(all_instances)
    load = time.perf_counter() - began
    linear = {i.id: i for i in all_instances}
    first = min(i.warning_at or 0 for i in all_instances)
    horizon = max(i.failure_at or 0 for i in all_instances)
    step = (horizon - first) / ticks
    idle_heap, idle_scan = [], []
    busy_heap, busy_scan, fired_total = 0.0, 0.0, 0
    now = first - 1
    gc.disable()
    for _ in range(ticks):
        began = time.perf_counter()
        assert board.due(now) == []
        idle_heap.append(time.perf_counter() - began)
        began = time.perf_counter()
        linear_due(linear, now)
        idle_scan.append(time.perf_counter() - began)
        now += step
        began = time.perf_counter()
        changes = board.due(now)
        busy_heap += time.perf_counter() - began
        began = time.perf_counter()
        fired = linear_due(linear, now)
        busy_scan += time.perf_counter() - began
        assert sorted((c.before.id, c.event) for c in changes) == sorted(fired)
        fired_total += len(changes)
    gc.enable()
    print(f"\ntimer tick with {len(all_instances):,} running instances ({ticks} ticks)")
    print(f"  board load (start-up)    {load * 1e3:10.1f} ms")
    print(f"  idle tick: heap          {statistics.median(idle_heap) * 1e6:10.1f} us")
    print(f"  idle tick: linear scan   {statistics.median(idle_scan) * 1e6:10.1f} us   (baseline)")
    idle_ratio = statistics.median(idle_scan) / max(statistics.median(idle_heap), 1e-9)
    print(f"  ratio                    {idle_ratio:10.0f}x")
    per_heap = busy_heap / max(fired_total, 1)
    per_scan = busy_scan / max(fired_total, 1)
    print(f"  per fired event: heap    {per_heap * 1e6:10.2f} us   ({fired_total:,} fired)")
    print(f"  per fired event: scan    {per_scan * 1e6:10.2f} us   (baseline)")
    print(f"  ratio                    {per_scan / per_heap:10.1f}x")
    return board


def message(i: int, cid: str, role: str) -> AppendResult:
    return AppendResult(
        Message(
            id=f"msg_{i}",
            conversation_id=cid,
            seq=i,
            sender_role=role,
            sender_id=None,
            sender_name=None,
            text="hello",
            channel="webchat",
            created_at=datetime.now(UTC),
        ),
        duplicate=False,
    )


async def bench_message_path(all_instances: list[KpiInstance], rounds: int) -> None:
    services: Any = SimpleNamespace(
        settings=SimpleNamespace(
            redis_url=None,
            calendars=[OFFICE],
            sla=[
                SlaPolicy.model_validate(
                    {
                        "name": "chat",
                        "calendar": "office",
                        "kpis": [{"kpi": "first_response", "warn_after": "2m", "fail_after": "5m"}],
                    }
                )
            ],
        ),
        # Nothing is written on this path: the store only needs a dialect.
        store=SimpleNamespace(
            engines=SimpleNamespace(batch=create_engine("sqlite://")), write_beside=None
        ),
        commit_listeners=[],
        status_listeners=[],
    )
    runtime = SlaRuntime(services)
    runtime.board.put_all(all_instances)
    spawned = 0

    def off_path(work: Any) -> None:  # the task would run after the message is delivered
        nonlocal spawned
        spawned += 1
        work.close()

    runtime._spawn = off_path  # type: ignore[method-assign]
    rng = random.Random(3)
    n = len(all_instances)
    batches = []
    for r in range(rounds):
        batch = []
        for j in range(8):  # a commit batch of 8 messages
            k = rng.randrange(n)
            role = rng.choice(["customer", "customer", "agent", "bot"])
            cid = f"conv_{k}" if rng.random() < 0.9 else f"new_{r}_{j}"
            batch.append(message(r * 8 + j, cid, role))
        batches.append(batch)

    def nothing(results: Any) -> None:
        pass

    sla_times, base_times = [], []
    gc.disable()
    for batch in batches:
        began = time.perf_counter()
        runtime._on_commit(batch)
        sla_times.append((time.perf_counter() - began) / len(batch))
        began = time.perf_counter()
        nothing(batch)
        base_times.append((time.perf_counter() - began) / len(batch))
    gc.enable()
    sla_times.sort()
    base_times.sort()

    def pct(values: list[float], p: float) -> float:
        return values[min(int(len(values) * p), len(values) - 1)]

    print(f"\nmessage path: the commit listener per message ({rounds * 8:,} messages)")
    for label, values in (("SLA listener", sla_times), ("no-op listener", base_times)):
        p50, p99 = pct(values, 0.5) * 1e6, pct(values, 0.99) * 1e6
        note = "   (baseline)" if values is base_times else ""
        print(f"  {label + ' p50/p99':<24} {p50:8.2f} / {p99:.2f} us{note}")
    added = pct(sla_times, 0.99) - pct(base_times, 0.99)
    print(f"  added at p99             {added * 1e3:10.4f} ms   (target under 2 ms)")
    print(f"  clock work sent off the path: {spawned:,} tasks")


async def bench_delivery(
    all_instances: list[KpiInstance], messages: int, rounds: int, arrivals: str
) -> None:
    import tempfile

    from conversations import AppendRequest
    from gateway.server import SWITCH_INTERVAL_S
    from gateway.services import Services
    from gateway.settings import Settings

    policy = SlaPolicy.model_validate(
        {
            "name": "chat",
            "calendar": "office",
            "kpis": [
                {"kpi": "first_response", "warn_after": "2m", "fail_after": "5m"},
                {"kpi": "resolution", "warn_after": "4h", "fail_after": "8h"},
            ],
        }
    )
    sys.setswitchinterval(SWITCH_INTERVAL_S)  # the server's, for the message writer
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            database_url=f"sqlite:///{tmp}/bench.sqlite3",
            secret_key="k" * 40,
            calendars=[OFFICE],
            sla=[policy],
        )
        services = await Services.start(settings)
        rng = random.Random(5)
        latencies: dict[str, list[list[float]]] = {"off": [], "on": []}
        per = messages // 100  # messages per new conversation
        try:
            for round_ in range(rounds * 2):
                mode = "on" if round_ % 2 else "off"
                runtime = None
                latencies[mode].append([])
                if mode == "on":
                    runtime = SlaRuntime(services)
                    runtime.board.put_all(all_instances)
                    await runtime.start()
                    gc.freeze()  # as the server does once start-up has loaded the board
                conversations = [
                    (await services.open_conversation(channel="webchat", name=f"b{round_}")).id
                    for _ in range(100)
                ]

                sent = 0

                def pick(conversations: list[str], sent: int, per: int) -> str:
                    """Steady: a conversation's first message every ``per``
                    messages, each talking on among the 6 newest; burst: all
                    at once (each first message within the first ~100)."""
                    if arrivals == "burst":
                        return rng.choice(conversations)
                    newest = min(len(conversations), sent // per + 1)
                    return rng.choice(conversations[max(0, newest - 6) : newest])

                async def sender(share: int, conversations: list[str], mode: str) -> None:
                    nonlocal sent
                    for _ in range(share):
                        cid = pick(conversations, sent, per)
                        sent += 1
                        role = rng.choice(["customer", "agent"])
                        began = time.perf_counter()
                        await services.submit_message(
                            AppendRequest(
                                conversation_id=cid,
                                sender_role=role,
                                sender_id=None,
                                sender_name=role,
                                text="hello, where is my order?",
                                channel="webchat",
                            )
                        )
                        latencies[mode][-1].append(time.perf_counter() - began)

                await asyncio.gather(
                    *(sender(messages // 8, conversations, mode) for _ in range(8))
                )
                if runtime is not None:
                    await runtime.settled()
                    await runtime.stop()
        finally:
            await services.stop()

    def pct(values: list[float], p: float) -> float:
        ordered = sorted(values)
        return ordered[min(int(len(ordered) * p), len(ordered) - 1)] * 1e3

    print(
        f"\ndelivery, {arrivals} arrivals: submit to commit through SQLite,"
        f" {rounds} rounds each, 8 senders, 100 new conversations per {messages:,} messages"
    )
    for mode, label in (("on", "with SLA tracking"), ("off", "without (baseline)")):
        every = [v for r in latencies[mode] for v in r]
        p99s = ", ".join(f"{pct(r, 0.99):.1f}" for r in latencies[mode])
        print(f"  {label:<22} p50 {pct(every, 0.5):6.2f} ms  p99 by round {p99s} ms")
    added = statistics.median(
        pct(on, 0.99) - pct(off, 0.99)
        for on, off in zip(latencies["on"], latencies["off"], strict=True)
    )
    print(f"  added at p99 (median of the rounds)  {added:6.2f} ms   (target under 2 ms)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=100_000)
    parser.add_argument("--ticks", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--messages", type=int, default=2_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    bench_arithmetic(rng)
    began = time.perf_counter()
    made = instances(args.instances, rng)
    each = (time.perf_counter() - began) * 1e6 / args.instances
    print(f"\nstarting {args.instances:,} clocks (business-time due times): {each:.1f} us each")
    board = bench_tick(made, args.ticks)
    del board
    asyncio.run(bench_message_path(made, 5_000))
    far = [
        dataclasses.replace(
            i, warning_at=i.warning_at + 86400 * 30, failure_at=i.failure_at + 86400 * 30
        )
        for i in made
    ]
    for arrivals in ("steady", "burst"):
        asyncio.run(bench_delivery(far, args.messages, args.rounds, arrivals))


if __name__ == "__main__":
    main()
