"""A soak load on a real cluster: nodes on PostgreSQL and Redis, web chat
visitors and agents over websockets, one node SIGKILLed and restarted.

Shared by ``bench/soak.py`` (long, prints figures) and
``tests/cluster/test_soak.py`` (short, asserts only that nothing
acknowledged is lost and no client is shown a message twice).

Every client behaves as a real one would: it resends a message that has no
ack yet with the same ``client_msg_id`` after any reconnect (or after
``ACK_TIMEOUT``), and resumes with ``after_seq`` set to the highest ``seq``
it has seen, so a second copy of a message on one client is the server's
doing, not the client's.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import signal
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import websockets

from tests.support.server import Server

PASSWORD = "soak password"
ACK_TIMEOUT = 15.0
"""A message with no ack after this long is sent again (same client id)."""
WAIT = 120.0
"""The longest any client waits for the other side (offers included)."""
START_TIMEOUT = 600.0
"""A node's start-up imports scikit-learn; on a loaded two-core machine that
has taken minutes."""
TEXT = "hello, my order has not arrived yet and I need it by Friday"


@dataclass
class Plan:
    conversations: int = 1000
    agents: int = 100
    seconds: float = 600.0
    """Arrivals are spread over the first ``arrival_share`` of this."""
    arrival_share: float = 0.75
    messages: tuple[int, int] = (2, 5)
    """Customer messages per conversation, drawn uniformly."""
    think: tuple[float, float] = (0.2, 1.5)
    visitor_reconnects: float = 0.2
    """Share of visitors who drop their socket once mid-conversation."""
    agent_reconnect_every: float = 30.0
    """Each agent drops and reopens its socket about this often (mean seconds)."""
    kill_at: float = 0.5
    """Share of ``seconds`` at which a node is SIGKILLed (the router's)."""
    down: float = 5.0
    """Seconds the killed node stays down."""
    grace: float = 90.0
    """After ``seconds``, how long unfinished conversations may still run."""
    seed: int = 1


@dataclass
class Tally:
    sent: set[str] = field(default_factory=set)
    """client_msg_ids sent (each once, however often it was resent)."""
    resent: int = 0
    acked: dict[str, tuple[str, str]] = field(default_factory=dict)
    """message_id -> (conversation_id, sender role)."""
    to_agent: set[str] = field(default_factory=set)
    """customer message ids some agent client was shown."""
    to_visitor: set[str] = field(default_factory=set)
    """agent message ids the conversation's visitor was shown."""
    duplicates: list[tuple[str, str]] = field(default_factory=list)
    """(client, message_id) shown twice to one client."""
    gave_up: set[str] = field(default_factory=set)
    """conversations whose visitor stopped waiting (no reply, no close)."""
    assigned: set[str] = field(default_factory=set)
    """conversations some agent client was given (assigned, or in a welcome)."""
    first_offer: dict[str, float] = field(default_factory=dict)
    waiting_since: dict[str, float] = field(default_factory=dict)
    offers: int = 0
    revoked: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    reconnects: Counter[str] = field(default_factory=Counter)
    finished: int = 0
    lag: list[float] = field(default_factory=list)
    """How late the load generator's own loop ran (seconds, sampled every
    0.5 s): when it is seconds, the figures measure a starved client."""
    open_now: int = 0
    peak_open: int = 0
    """Conversations agents held at once, at most (capacity: 3 per agent)."""
    stuck: Counter[str] = field(default_factory=Counter)


class Nodes:
    """The cluster, and the load balancer's view of which nodes are up."""

    def __init__(self, servers: list[Server]) -> None:
        self.servers = servers
        self.up = list(servers)
        self.rng = random.Random(7)
        self.http: httpx.AsyncClient | None = None
        """One client for the run's HTTP calls (a client per call costs an
        SSL context each: milliseconds of the load generator's CPU)."""

    def pick(self) -> Server:
        return self.rng.choice(self.up or self.servers)

    def router(self) -> Server | None:
        for node in self.up:
            try:
                reply = httpx.get(node.http + "/api/v1/cluster", headers=self.admin, timeout=30)
                view = reply.json()
            except (httpx.HTTPError, ValueError):
                continue  # a loaded node; ask the next
            if any(n["id"] == view["self"] and n["router"] for n in view["nodes"]):
                return node
        return None

    admin: dict[str, str] = {}


def users_env(agents: int) -> str:
    seeds = [
        {"username": f"agent{i}", "role": "agent", "password_env": "SOAK_PASSWORD"}
        for i in range(agents)
    ]
    seeds.append({"username": "root", "role": "admin", "password_env": "SOAK_PASSWORD"})
    return json.dumps(seeds)


@contextlib.contextmanager
def cluster(
    workdir: Path, database_url: str, redis_url: str, nodes: int, agents: int, **env: str
) -> Iterator[Nodes]:
    """``nodes`` gateway processes on one database and one Redis, started together."""
    servers = [
        Server(
            workdir,
            database_url,
            SWITCHBOARD_REDIS_URL=redis_url,
            SWITCHBOARD_USERS=users_env(agents),
            SOAK_PASSWORD=PASSWORD,
            **env,
        )
        for _ in range(nodes)
    ]
    try:
        with ThreadPoolExecutor(nodes) as pool:
            for future in [pool.submit(s.start, START_TIMEOUT) for s in servers]:
                future.result()
        reply = httpx.post(
            servers[0].http + "/api/v1/auth/token",
            json={"username": "root", "password": PASSWORD},
            timeout=30,
        )
        reply.raise_for_status()
        Nodes.admin = {"Authorization": f"Bearer {reply.json()['access_token']}"}
        yield Nodes(servers)
    finally:
        for s in servers:
            if s.process is not None:
                s.stop()


class Client:
    """One user's websocket across reconnects: resend what has no ack,
    resume after the highest ``seq`` seen, count what is shown twice."""

    path = ""

    def __init__(self, name: str, nodes: Nodes, tally: Tally) -> None:
        self.name = name
        self.nodes = nodes
        self.tally = tally
        self.ws: Any = None
        self.changed = asyncio.Condition()
        self.pending: dict[str, dict[str, Any]] = {}
        self.acks: dict[str, str] = {}
        self.shown: set[str] = set()
        self.last_seq: dict[str, int] = {}
        self.statuses: dict[str, str] = {}
        self.stopping = False
        self.roles: dict[str, str] = {}
        """message_id -> sender role, of what this client was shown."""
        self._reader: asyncio.Task[None] | None = None
        self._connecting = asyncio.Lock()

    def hello(self) -> dict[str, Any]:
        raise NotImplementedError

    async def on_frame(self, frame: dict[str, Any]) -> None:
        return None

    async def connect(self) -> None:
        """(Re)connect to some node that is up, retrying until one answers,
        then send again whatever has no ack yet."""
        async with self._connecting:
            old, self.ws = self.ws, None  # its reader sees it replaced and stops
            if old is not None:
                with contextlib.suppress(Exception):
                    await old.close()
            delay = 0.1
            while not self.stopping:
                node = self.nodes.pick()
                try:
                    ws = await websockets.connect(
                        node.ws + self.path, max_queue=None, open_timeout=10
                    )
                    await ws.send(json.dumps(self.hello()))
                    while True:
                        frame = json.loads(await asyncio.wait_for(ws.recv(), 15))
                        if frame.get("type") == "welcome":
                            break
                        await self.dispatch(frame)
                except (OSError, TimeoutError, websockets.WebSocketException):
                    await asyncio.sleep(delay + random.random() * delay)
                    delay = min(delay * 2, 2.0)
                    continue
                self.ws = ws
                await self.on_welcome(frame)
                self._reader = asyncio.create_task(self._read(ws))
                for pending in list(self.pending.values()):
                    self.tally.resent += 1
                    await self.send(pending)
                return

    async def on_welcome(self, frame: dict[str, Any]) -> None:
        return None

    async def _read(self, ws: Any) -> None:
        try:
            async for raw in ws:
                await self.dispatch(json.loads(raw))
        except websockets.WebSocketException:
            pass
        if not self.stopping and ws is self.ws:
            self.tally.reconnects[f"{self.kind()} dropped"] += 1
            await self.connect()

    def kind(self) -> str:
        return type(self).__name__.lower()

    async def dispatch(self, frame: dict[str, Any]) -> None:
        kind = frame.get("type")
        if kind == "message":
            cid, mid = frame["conversation_id"], frame["message_id"]
            if mid in self.shown:
                self.tally.duplicates.append((self.name, mid))
            self.shown.add(mid)
            self.roles[mid] = frame["sender"]["role"]
            self.last_seq[cid] = max(self.last_seq.get(cid, 0), frame["seq"])
            role = frame["sender"]["role"]
            if role == "customer" and isinstance(self, Agent):
                self.tally.to_agent.add(mid)
            elif role == "agent" and isinstance(self, Visitor):
                self.tally.to_visitor.add(mid)
        elif kind == "ack":
            cmid = frame["client_msg_id"]
            if self.pending.pop(cmid, None) is not None or cmid not in self.acks:
                self.acks[cmid] = frame["message_id"]
                role = "customer" if isinstance(self, Visitor) else "agent"
                self.tally.acked[frame["message_id"]] = (frame["conversation_id"], role)
        elif kind == "status":
            self.statuses[frame["conversation_id"]] = frame["status"]
        elif kind == "error":
            self.tally.errors[frame.get("code", "?")] += 1
        await self.on_frame(frame)
        async with self.changed:
            self.changed.notify_all()

    async def send(self, frame: dict[str, Any]) -> None:
        with contextlib.suppress(websockets.WebSocketException, AttributeError):
            await self.ws.send(json.dumps(frame))

    async def message(self, cmid: str, frame: dict[str, Any]) -> str:
        """Send until acknowledged; the stored message's id."""
        self.tally.sent.add(cmid)
        self.pending[cmid] = frame
        await self.send(frame)
        deadline = time.monotonic() + WAIT
        while cmid not in self.acks:
            if time.monotonic() > deadline:
                raise Stuck("no ack")
            if not await self.until(lambda: cmid in self.acks, ACK_TIMEOUT):
                self.tally.resent += 1
                await self.send(frame)
        return self.acks[cmid]

    async def until(self, check: Callable[[], bool], timeout: float) -> bool:
        # ``asyncio.timeout``, not ``wait_for``: on Python 3.11 a cancelled
        # ``wait_for`` around a condition can leave its lock released twice.
        with contextlib.suppress(TimeoutError):
            async with self.changed, asyncio.timeout(timeout):
                await self.changed.wait_for(check)
        return check()

    async def stop(self) -> None:
        self.stopping = True
        if self._reader is not None:
            self._reader.cancel()
        if self.ws is not None:
            with contextlib.suppress(Exception):
                await self.ws.close()


class Stuck(Exception):
    pass


class Visitor(Client):
    path = "/ws/visitor"

    def __init__(self, n: int, nodes: Nodes, tally: Tally, token: str, cid: str) -> None:
        super().__init__(f"visitor{n}", nodes, tally)
        self.token, self.cid = token, cid

    def hello(self) -> dict[str, Any]:
        return {"type": "hello", "token": self.token, "after_seq": self.last_seq.get(self.cid, 0)}

    def replies(self) -> int:
        return sum(1 for role in self.roles.values() if role == "agent")


class Agent(Client):
    path = "/ws/agent"

    def __init__(self, n: int, nodes: Nodes, tally: Tally, token: str, plans: dict[str, int]):
        super().__init__(f"agent{n}", nodes, tally)
        self.token = token
        self.plans = plans
        self.working: dict[str, asyncio.Task[None]] = {}
        self.customer: dict[str, set[str]] = {}

    def hello(self) -> dict[str, Any]:
        return {"type": "hello", "token": self.token, "after_seq": dict(self.last_seq)}

    async def on_welcome(self, frame: dict[str, Any]) -> None:
        for conversation in frame.get("conversations", []):
            self.work(conversation["id"])

    async def on_frame(self, frame: dict[str, Any]) -> None:
        kind = frame.get("type")
        if kind == "offer":
            self.tally.offers += 1
            cid = frame["conversation_id"]
            if cid not in self.tally.first_offer and cid in self.tally.waiting_since:
                self.tally.first_offer[cid] = time.monotonic() - self.tally.waiting_since[cid]
            await self.send({"type": "accept", "offer_id": frame["offer_id"]})
        elif kind == "offer_revoked":
            self.tally.revoked[frame.get("reason", "?")] += 1
        elif kind == "assigned":
            self.work(frame["conversation_id"])
        elif kind == "message" and frame["sender"]["role"] == "customer":
            self.customer.setdefault(frame["conversation_id"], set()).add(frame["message_id"])

    def work(self, cid: str) -> None:
        self.tally.assigned.add(cid)
        if cid not in self.working:
            self.working[cid] = asyncio.create_task(self._converse(cid))

    async def _converse(self, cid: str) -> None:
        """Answer each customer message once (the reply's client id is made
        from the message's id, so a repeat is idempotent); close once the
        customer has said all the plan says and every reply has its ack."""
        answered: set[str] = set()
        deadline = time.monotonic() + WAIT * 3
        self.tally.open_now += 1
        self.tally.peak_open = max(self.tally.peak_open, self.tally.open_now)
        try:
            while time.monotonic() < deadline:
                todo = sorted(self.customer.get(cid, set()) - answered)
                for mid in todo:
                    cmid = f"r-{mid}"
                    await self.message(
                        cmid,
                        {
                            "type": "message",
                            "conversation_id": cid,
                            "client_msg_id": cmid,
                            "text": f"reply to {mid}",
                        },
                    )
                    answered.add(mid)
                if len(answered) >= self.plans.get(cid, 1 << 30):
                    await self._close(cid)
                    return
                await self.until(lambda: bool(self.customer.get(cid, set()) - answered), 10)
            raise Stuck("agent never saw the whole conversation")
        except Stuck as exc:
            self.tally.stuck[f"agent: {exc}"] += 1
        finally:
            self.tally.open_now -= 1

    async def _close(self, cid: str) -> None:
        for _ in range(10):
            await self.send({"type": "close", "conversation_id": cid})
            if await self.until(lambda: self.statuses.get(cid) == "closed", 10):
                return
            # Closed by an earlier try whose status frame a drop swallowed?
            with contextlib.suppress(httpx.HTTPError):
                assert self.nodes.http is not None
                reply = await self.nodes.http.get(
                    self.nodes.pick().http + f"/api/v1/conversations/{cid}", headers=Nodes.admin
                )
                if reply.status_code == 200 and reply.json()["status"] == "closed":
                    return
        raise Stuck("could not close")


async def _post(nodes: Nodes, path: str, body: dict[str, Any]) -> dict[str, Any]:
    """POST to some node that is up; retried across nodes."""
    for attempt in range(60):
        assert nodes.http is not None
        try:
            reply = await nodes.http.post(nodes.pick().http + path, json=body)
            if reply.status_code < 500:
                reply.raise_for_status()
                data: dict[str, Any] = reply.json()
                return data
        except httpx.TransportError:
            pass
        await asyncio.sleep(min(2.0, 0.1 * (attempt + 1)))
    raise Stuck(f"POST {path} failed everywhere")


async def _conversation(
    n: int, nodes: Nodes, tally: Tally, plan: Plan, plans: dict[str, int], rng: random.Random
) -> None:
    count = rng.randint(*plan.messages)
    thinks = [rng.uniform(*plan.think) for _ in range(count)]
    drop_at = rng.randrange(count) if rng.random() < plan.visitor_reconnects else -1
    visitor: Visitor | None = None
    try:
        session = await _post(nodes, "/api/v1/webchat/sessions", {"name": f"soak visitor {n}"})
        cid = session["conversation_id"]
        plans[cid] = count
        visitor = Visitor(n, nodes, tally, session["visitor_token"], cid)
        await visitor.connect()
        deadline = time.monotonic() + WAIT * 3
        for i in range(count):
            cmid = f"{cid}-c{i}"
            frame = {"type": "message", "client_msg_id": cmid, "text": f"{i} {TEXT}"}
            if i == 0:
                tally.waiting_since[cid] = time.monotonic()
            await visitor.message(cmid, frame)
            replies = i + 1
            if not await visitor.until(lambda r=replies: visitor.replies() >= r, WAIT):
                raise Stuck("no reply")
            if i == drop_at:
                tally.reconnects["visitor (planned)"] += 1
                await visitor.connect()
            await asyncio.sleep(thinks[i])
        left = max(1.0, deadline - time.monotonic())
        if not await visitor.until(lambda: visitor.statuses.get(cid) == "closed", left):
            raise Stuck("never closed")
        # Everything the agent had acknowledged is shown here.
        theirs = lambda: {  # noqa: E731
            m for m, (c, role) in tally.acked.items() if c == cid and role == "agent"
        }
        if not await visitor.until(lambda: theirs() <= visitor.shown, 30):
            raise Stuck("agent messages missing at the visitor")
        tally.finished += 1
    except Stuck as exc:
        tally.stuck[f"visitor: {exc}"] += 1
        if visitor is not None:
            tally.gave_up.add(visitor.cid)
    finally:
        if visitor is not None:
            await visitor.stop()


async def _token(nodes: Nodes, username: str) -> str:
    data = await _post(nodes, "/api/v1/auth/token", {"username": username, "password": PASSWORD})
    return str(data["access_token"])


async def _agent_churn(agent: Agent, mean: float, rng: random.Random) -> None:
    while not agent.stopping:
        await asyncio.sleep(rng.expovariate(1 / mean))
        if agent.stopping:
            return
        agent.tally.reconnects["agent (planned)"] += 1
        await agent.connect()


async def _watch_lag(tally: Tally) -> None:
    while True:
        began = time.monotonic()
        await asyncio.sleep(0.5)
        tally.lag.append(time.monotonic() - began - 0.5)


async def _kill(nodes: Nodes, at: float, down: float, log: Callable[[str], None]) -> None:
    await asyncio.sleep(at)
    victim = await asyncio.to_thread(nodes.router) or nodes.servers[0]
    nodes.up.remove(victim)
    victim.stop(signal.SIGKILL)
    log(f"SIGKILLed the routing node on port {victim.port}")
    await asyncio.sleep(down)
    await asyncio.to_thread(victim.start, START_TIMEOUT)
    nodes.up.append(victim)
    log(f"restarted it ({down:g} s down)")


async def run(nodes: Nodes, plan: Plan, log: Callable[[str], None] = print) -> Tally:
    """Drive ``plan`` against ``nodes``; the tally, checked against the store."""
    async with httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=200)) as http:
        nodes.http = http
        return await _run(nodes, plan, log)


async def _run(nodes: Nodes, plan: Plan, log: Callable[[str], None]) -> Tally:
    tally = Tally()
    plans: dict[str, int] = {}
    logins = asyncio.Semaphore(4)  # password hashing is slow on purpose

    async def login(username: str) -> str:
        async with logins:
            return await _token(nodes, username)

    tokens = await asyncio.gather(*(login(f"agent{i}") for i in range(plan.agents)))
    agents = [Agent(i, nodes, tally, tok, plans) for i, tok in enumerate(tokens)]
    await asyncio.gather(*(a.connect() for a in agents))
    log(f"{len(agents)} agents connected")
    churn = [
        asyncio.create_task(_agent_churn(a, plan.agent_reconnect_every, random.Random(i)))
        for i, a in enumerate(agents)
    ]
    killer = asyncio.create_task(_kill(nodes, plan.seconds * plan.kill_at, plan.down, log))
    lag = asyncio.create_task(_watch_lag(tally))
    start = time.monotonic()
    spread = plan.seconds * plan.arrival_share
    conversations = []
    for n in range(plan.conversations):
        await asyncio.sleep(max(0.0, start + n * spread / plan.conversations - time.monotonic()))
        conversations.append(
            asyncio.create_task(
                _conversation(n, nodes, tally, plan, plans, random.Random(plan.seed * 100_003 + n))
            )
        )
    log(f"{plan.conversations} conversations started")
    left = start + plan.seconds + plan.grace - time.monotonic()
    _, late = await asyncio.wait(conversations, timeout=max(1.0, left))
    for task in late:
        task.cancel()
    if late:
        tally.stuck["unfinished at the deadline"] += len(late)
    try:
        await killer
    except Exception as exc:  # said, not hidden: a run without its kill is not this soak
        log(f"the node kill failed: {exc!r}")
    lag.cancel()
    for task in churn:
        task.cancel()
    await asyncio.gather(*(a.stop() for a in agents))
    working = [task for a in agents for task in a.working.values()]
    for task in working:
        task.cancel()
    await asyncio.gather(*working, *late, *churn, lag, return_exceptions=True)
    return tally


def stored_ids(database_url: str) -> set[str]:
    import psycopg

    with psycopg.connect(database_url) as db:
        return {row[0] for row in db.execute("SELECT id FROM messages").fetchall()}


def statuses(database_url: str) -> dict[str, int]:
    """Conversations in the store by status, at the end."""
    import psycopg

    with psycopg.connect(database_url) as db:
        rows = db.execute("SELECT status, count(*) FROM conversations GROUP BY status").fetchall()
    return {str(status): int(count) for status, count in rows}


@dataclass
class Outcome:
    sent: int
    acked: int
    delivered: int
    stored: int
    lost: list[str]
    undelivered: list[str]
    duplicates: list[tuple[str, str]]


def outcome(tally: Tally, stored: set[str]) -> Outcome:
    """Lost: acknowledged but not in the store. Undelivered: acknowledged,
    stored, and never shown to the other side: customer messages to the
    agent of a conversation some agent was given, agent messages to the
    visitor. (A conversation never given to an agent has nobody to deliver
    to, nor does one whose visitor stopped waiting: the run's unfinished
    conversations say how many.)"""
    acked = set(tally.acked)
    delivered = {
        m
        for m, (_, role) in tally.acked.items()
        if (m in tally.to_agent if role == "customer" else m in tally.to_visitor)
    }
    waiting = {
        m
        for m, (cid, _) in tally.acked.items()
        if cid not in tally.assigned or cid in tally.gave_up
    }
    return Outcome(
        sent=len(tally.sent),
        acked=len(acked),
        delivered=len(delivered),
        stored=len(acked & stored),
        lost=sorted(acked - stored),
        undelivered=sorted((acked & stored) - delivered - waiting),
        duplicates=tally.duplicates,
    )


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")
