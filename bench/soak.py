"""Soak: a three-node cluster under web chat load, one node SIGKILLed mid-run.

Three real ``switchboard serve`` processes on one fresh PostgreSQL database
and one Redis. 1,000 web chat conversations arrive evenly over the first
three quarters of the run: each visitor opens a session over HTTP at some
node, says 2-5 things over ``/ws/visitor`` and waits for each answer; 100
agents over ``/ws/agent`` accept every offer, answer each customer message
and close the conversation once the customer is done. A fifth of the
visitors drop their socket once mid-conversation; every agent drops and
reopens its socket about every 30 s; clients reconnect to a random node that
is up, resume with ``after_seq`` and resend what has no ack with the same
``client_msg_id``. Halfway through, the routing node is SIGKILLed and
restarted 5 s later. (The load itself is ``tests/support/soak.py``, which
``tests/cluster/test_soak.py`` also runs, shorter.)

Prints: messages sent, acknowledged, delivered (shown to the other side),
stored; lost (acknowledged but not stored, or never shown to the other
side: must be 0); duplicates (one message id shown twice to one client:
must be 0); offer latency p50/p99 (the visitor's first message sent to the
first offer frame at an agent: the routing delay a customer waits through,
including the takeover for those caught by the kill); and the load average.
No baseline applies; nothing is asserted.

    python bench/soak.py                      # 10 minutes
    python bench/soak.py --seconds 90         # a short run
    python bench/soak.py --minutes 3 --conversations 300 --agents 40

Needs PostgreSQL (``--database-url``, default ``SWITCHBOARD_TEST_DATABASE_URL``
or the local one; a scratch database is made and dropped) and Redis
(``--redis-url``, default ``BENCH_REDIS_URL`` or ``SWITCHBOARD_TEST_REDIS_URL``).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.soak import (  # noqa: E402
    Plan,
    cluster,
    outcome,
    percentile,
    run,
    statuses,
    stored_ids,
)


def loadavg() -> str:
    return "load average " + ", ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    length = parser.add_mutually_exclusive_group()
    length.add_argument("--minutes", type=float, default=10.0)
    length.add_argument("--seconds", type=float)
    parser.add_argument("--conversations", type=int, default=1000)
    parser.add_argument("--agents", type=int, default=100)
    parser.add_argument("--nodes", type=int, default=3)
    parser.add_argument("--down", type=float, default=5.0, help="seconds the killed node is down")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--logs", type=Path, help="keep the nodes' logs in this directory")
    parser.add_argument(
        "--lease-ttl", type=float, default=5.0, help="router lease TTL, seconds (default 5)"
    )
    parser.add_argument(
        "--database-url",
        default=os.environ.get(
            "SWITCHBOARD_TEST_DATABASE_URL",
            "postgresql://postgres:postgres@127.0.0.1:5432/postgres",
        ),
        help="PostgreSQL to make a scratch database in",
    )
    parser.add_argument(
        "--redis-url",
        default=os.environ.get(
            "BENCH_REDIS_URL",
            os.environ.get("SWITCHBOARD_TEST_REDIS_URL", "redis://127.0.0.1:6379/0"),
        ),
    )
    args = parser.parse_args()
    seconds = args.seconds if args.seconds is not None else args.minutes * 60
    plan = Plan(
        conversations=args.conversations,
        agents=args.agents,
        seconds=seconds,
        down=args.down,
        seed=args.seed,
    )
    # The services module reads these when imported.
    os.environ["SWITCHBOARD_TEST_DATABASE_URL"] = args.database_url
    os.environ["SWITCHBOARD_TEST_REDIS_URL"] = args.redis_url
    from tests.support.services import scratch_postgres

    print(
        f"soak: {args.nodes} nodes on PostgreSQL + Redis, {plan.conversations} conversations"
        f" over {seconds:g} s, {plan.agents} agents; {loadavg()}"
    )
    began = time.monotonic()

    def log(line: str) -> None:
        print(f"  [{time.monotonic() - began:6.1f} s] {line}  ({loadavg()})", flush=True)

    with tempfile.TemporaryDirectory() as tmp, scratch_postgres() as database:
        env = {"SWITCHBOARD_ROUTER_LEASE_TTL_S": str(args.lease_ttl)}
        workdir = Path(tmp)
        if args.logs is not None:
            args.logs.mkdir(parents=True, exist_ok=True)
            workdir = args.logs
        with cluster(workdir, database, args.redis_url, args.nodes, plan.agents, **env) as nodes:
            log("cluster up")
            tally = asyncio.run(run(nodes, plan, log))
            log("load done")
            result = outcome(tally, stored_ids(database))
            at_end = statuses(database)
    offers = list(tally.first_offer.values())
    print(
        f"conversations   {plan.conversations} started, {tally.finished} finished,"
        f" {len(tally.assigned)} given to an agent; in the store at the end: {at_end};"
        f" at most {tally.peak_open} held at once (capacity {3 * plan.agents})"
    )
    if tally.stuck:
        print(f"  not finished: {dict(tally.stuck)}")
    print(
        f"messages        sent {result.sent}, acknowledged {result.acked},"
        f" delivered {result.delivered}, stored {result.stored} (resends {tally.resent})"
    )
    print(
        f"lost            {len(result.lost) + len(result.undelivered)}"
        f" (not stored {len(result.lost)}, never shown to the other side"
        f" {len(result.undelivered)})  must be 0"
    )
    print(f"duplicates      {len(result.duplicates)}  must be 0")
    print(
        f"offer latency   p50 {percentile(offers, 0.5) * 1000:.0f} ms,"
        f" p99 {percentile(offers, 0.99) * 1000:.0f} ms, max {max(offers, default=0):.1f} s"
        f" ({len(offers)} first offers, {tally.offers} offers in all,"
        f" revoked {dict(tally.revoked)})"
    )
    print(f"reconnects      {dict(tally.reconnects)}")
    print(
        f"client loop lag p50 {percentile(tally.lag, 0.5) * 1000:.0f} ms,"
        f" p99 {percentile(tally.lag, 0.99) * 1000:.0f} ms (the load generator's own delay)"
    )
    print(f"error frames    {dict(tally.errors)}")
    for name, mid in result.duplicates[:5]:
        print(f"  duplicate: {mid} at {name}")
    for mid in (result.lost + result.undelivered)[:5]:
        print(f"  lost: {mid} {tally.acked[mid]}")
    print(f"took {time.monotonic() - began:.0f} s; {loadavg()}")


if __name__ == "__main__":
    main()
