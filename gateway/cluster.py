"""The cluster's Redis side: the routing log, the router lease, membership.

With ``SWITCHBOARD_REDIS_URL`` every node appends routing inputs to one
Redis Stream; the node that holds the lease runs the router and reads it.
Each piece is a Lua script, so what must change together does:

* ``append``: ``XADD`` the entry and, in the same step, the node's agent
  connection counts and the agents' chosen statuses. A new router takes
  these with the stream's last id in one step (``snapshot``), so it knows
  exactly which connections the log before that id made.
* ``acquire``/``renew``/``release``: the lease of ``cluster.lease`` on one
  key (``SET NX PX`` plus ``INCR`` of the fencing token). The store checks
  the token on every offer and assignment (``Store.raise_fence``); a token
  not above the store's fence (Redis restarted empty) is let go, and
  ``lift`` moves the counter past the fence.
* ``record``: the router's progress (the last entry it carried out, and
  its number: ``log_lag`` is entries appended minus entries carried out)
  and the presence it set, effective and chosen (an offer that timed out
  makes its agent ``away``): the next router starts from these, and takes
  the arrivals between that entry and its snapshot from the log
  (``entries_between``): what intake read in them is not in the store.
* heartbeats in one hash; the router drops the connections of a node not
  heard from within the lease TTL.
* the router's queues and agents, published for the other nodes
  (``/api/v1/queues``, ``/api/v1/agents``, proactive invitations).

Keys are named by the cluster's id (kept in the shared database), so two
clusters sharing one Redis stay apart.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import router as r
from cluster import DecodeError, decode, encode

MAXLEN = 100_000

_APPEND = """
local k = redis.call('INCR', KEYS[4])
local id = redis.call(
  'XADD', KEYS[1], 'MAXLEN', '~', ARGV[3], '*', 'e', ARGV[1], 'n', ARGV[2], 'k', k)
for i = 4, #ARGV, 3 do
  if ARGV[i] == 'c' then
    if redis.call('HINCRBY', KEYS[2], ARGV[i+1], tonumber(ARGV[i+2])) <= 0 then
      redis.call('HDEL', KEYS[2], ARGV[i+1])
    end
  else
    redis.call('HSET', KEYS[3], ARGV[i+1], ARGV[i+2])
  end
end
return id
"""

_ACQUIRE = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local token = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], ARGV[1] .. '|' .. token, 'PX', ARGV[2])
return token
"""

_LIFT = """
if tonumber(redis.call('GET', KEYS[1]) or '0') < tonumber(ARGV[1]) then
  redis.call('SET', KEYS[1], ARGV[1])
end
return 1
"""

_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""

_RECORD = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if ARGV[2] ~= '' then redis.call('SET', KEYS[2], ARGV[2]) end
if ARGV[3] ~= '' then redis.call('SET', KEYS[3], ARGV[3]) end
for i = 4, #ARGV, 3 do
  if ARGV[i] == 'p' then
    redis.call('HSET', KEYS[4], ARGV[i+1], ARGV[i+2])
  else
    redis.call('HSET', KEYS[5], ARGV[i+1], ARGV[i+2])
  end
end
return 1
"""

_SNAPSHOT = """
local last = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
local lastid = '0-0'
if #last > 0 then lastid = last[1][1] end
local nodes = redis.call('HGETALL', KEYS[2])
local conns = {}
for i = 1, #nodes, 2 do
  conns[#conns + 1] = nodes[i]
  conns[#conns + 1] = redis.call('HGETALL', ARGV[1] .. nodes[i])
end
local appended = redis.call('GET', KEYS[4]) or '0'
return {lastid, nodes, redis.call('HGETALL', KEYS[3]), conns, appended}
"""


def entry_key(entry_id: str) -> tuple[int, int]:
    """A stream id (``ms-seq``) as something that orders."""
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


def new_node_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


def _pairs(flat: Sequence[Any]) -> dict[str, str]:
    items = [x.decode() if isinstance(x, bytes) else str(x) for x in flat]
    return dict(zip(items[::2], items[1::2], strict=True))


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What a new router starts from, besides the store, as of ``last_id``."""

    last_id: str
    nodes: dict[str, dict[str, Any]]
    chosen: dict[str, str]
    conns: dict[str, dict[str, int]]
    appended: int = 0


def _s(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class RedisCluster:
    def __init__(self, url: str, node_id: str, ttl: float, cluster_id: str = "default") -> None:
        import redis.asyncio as redis

        self.node_id = node_id
        self.ttl = ttl
        p = f"switchboard:cluster:{cluster_id}:"
        self.stream, self.lease, self.token = p + "log", p + "lease", p + "token"
        self.position, self.handled, self.appended = p + "position", p + "handled", p + "appended"
        self.nodes_key, self.chosen, self.presence = p + "nodes", p + "chosen", p + "presence"
        self.conns, self.state_key = p + "conns:", p + "state"
        self._redis: Any = redis.from_url(url, socket_timeout=max(1.0, ttl / 2))
        # XREAD BLOCK holds its connection: a client of its own.
        self._reader: Any = redis.from_url(url)
        self._append = self._redis.register_script(_APPEND)
        self._acquire = self._redis.register_script(_ACQUIRE)
        self._lift = self._redis.register_script(_LIFT)
        self._renew = self._redis.register_script(_RENEW)
        self._release = self._redis.register_script(_RELEASE)
        self._record = self._redis.register_script(_RECORD)
        self._snapshot = self._redis.register_script(_SNAPSHOT)

    async def close(self) -> None:
        await self._redis.aclose()
        await self._reader.aclose()

    # -- the log ---------------------------------------------------------------

    async def append(self, events: Sequence[r.Event]) -> str:
        args: list[Any] = [encode(events), self.node_id, MAXLEN]
        for e in events:
            if isinstance(e, r.AgentConnected):
                args += ["c", e.agent_id, 1]
            elif isinstance(e, r.AgentDisconnected):
                args += ["c", e.agent_id, -1]
            elif isinstance(e, r.PresenceChanged):
                args += ["s", e.agent_id, e.status]
        keys = [self.stream, self.conns + self.node_id, self.chosen, self.appended]
        return _s(await self._append(keys=keys, args=args))

    async def read(self, after: str, block_ms: int) -> list[tuple[str, int, list[r.Event]]]:
        """Entries after ``after``: id, number in the log, events."""
        found = await self._reader.xread({self.stream: after}, count=200, block=block_ms)
        entries = []
        for _, rows in found or ():
            for entry_id, fields in rows:
                number = int(fields.get(b"k", 0))
                entries.append((_s(entry_id), number, decode(fields[b"e"])))
        return entries

    async def record(
        self,
        token: int,
        *,
        entry_id: str = "",
        number: int | None = None,
        presence: dict[str, str] | None = None,
        chosen: dict[str, str] | None = None,
    ) -> bool:
        """The router's progress (the last entry it carried out) and the
        presence it set itself, while it holds the lease."""
        args: list[Any] = [f"{self.node_id}|{token}", entry_id, "" if number is None else number]
        for agent_id, status in (presence or {}).items():
            args += ["p", agent_id, status]
        for agent_id, status in (chosen or {}).items():
            args += ["s", agent_id, status]
        keys = [self.lease, self.position, self.handled, self.presence, self.chosen]
        return bool(await self._record(keys=keys, args=args))

    async def entries_between(
        self, after: str | None, upto: str
    ) -> list[tuple[str, list[r.Event]]]:
        """The entries after ``after`` (None: from the start) up to ``upto``
        included, in order; an undecodable one is skipped (and logged by
        the caller's reader when it is read live)."""
        entries: list[tuple[str, list[r.Event]]] = []
        start = "-" if after is None else "(" + after
        if upto == "0-0":
            return entries
        while True:
            rows = await self._redis.xrange(self.stream, min=start, max=upto, count=1000)
            for entry_id, fields in rows:
                with contextlib.suppress(DecodeError):
                    entries.append((_s(entry_id), decode(fields[b"e"])))
            if len(rows) < 1000:
                return entries
            start = "(" + _s(rows[-1][0])

    async def handled_position(self) -> str | None:
        value = await self._redis.get(self.position)
        return _s(value) if value is not None else None

    async def presence_of(self, agent_id: str) -> str | None:
        value = await self._redis.hget(self.presence, agent_id)
        return _s(value) if value is not None else None

    async def snapshot(self) -> Snapshot:
        last, nodes, chosen, conns, appended = await self._snapshot(
            keys=[self.stream, self.nodes_key, self.chosen, self.appended], args=[self.conns]
        )
        flat = list(conns)
        return Snapshot(
            _s(last),
            {k: json.loads(v) for k, v in _pairs(nodes).items()},
            _pairs(chosen),
            {
                _s(flat[i]): {a: int(n) for a, n in _pairs(flat[i + 1]).items()}
                for i in range(0, len(flat), 2)
            },
            int(appended),
        )

    # -- the router's view, for the other nodes ------------------------------------

    async def publish_state(self, state: dict[str, Any]) -> None:
        await self._redis.set(self.state_key, json.dumps(state), px=int(self.ttl * 4000))

    async def state(self) -> dict[str, Any] | None:
        raw = await self._redis.get(self.state_key)
        return json.loads(raw) if raw else None

    # -- the lease ---------------------------------------------------------------

    async def acquire(self) -> int | None:
        token = int(
            await self._acquire(keys=[self.lease, self.token], args=[self.node_id, self._ms])
        )
        return token or None

    async def lift_token(self, at_least: int) -> None:
        """Make the next grant's token exceed ``at_least`` (the store's fence):
        a Redis that restarted without its data counts from 1 again."""
        await self._lift(keys=[self.token], args=[at_least])

    async def renew(self, token: int) -> bool:
        return bool(
            await self._renew(keys=[self.lease], args=[f"{self.node_id}|{token}", self._ms])
        )

    async def release(self, token: int) -> None:
        await self._release(keys=[self.lease], args=[f"{self.node_id}|{token}"])

    @property
    def _ms(self) -> int:
        return int(self.ttl * 1000)

    # -- membership ----------------------------------------------------------------

    async def beat(self, agents: int) -> bool:
        """Say this node is alive; False if it was not a member (it joined,
        or the router dropped it as lost)."""
        info = json.dumps({"last_seen": time.time(), "agents": agents})
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hexists(self.nodes_key, self.node_id)
            pipe.hset(self.nodes_key, self.node_id, info)
            member, _ = await pipe.execute()
        return bool(member)

    async def nodes(self) -> dict[str, dict[str, Any]]:
        return {
            k: json.loads(v)
            for k, v in _pairs(_flat(await self._redis.hgetall(self.nodes_key))).items()
        }

    async def drop(self, node: str) -> dict[str, int]:
        """Forget a lost node; the agent connections it held."""
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hgetall(self.conns + node)
            pipe.delete(self.conns + node)
            pipe.hdel(self.nodes_key, node)
            conns, _, _ = await pipe.execute()
        return {a: int(n) for a, n in _pairs(_flat(conns)).items()}

    async def leave(self) -> None:
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.delete(self.conns + self.node_id)
            pipe.hdel(self.nodes_key, self.node_id)
            await pipe.execute()

    async def status(self) -> dict[str, Any]:
        """Nodes, the lease holder and the log's lag (``GET /api/v1/cluster``):
        entries appended that the router has not carried out yet."""
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.hgetall(self.nodes_key)
            pipe.get(self.lease)
            pipe.get(self.appended)
            pipe.get(self.handled)
            nodes, lease, appended, handled = await pipe.execute()
        holder = _s(lease).rpartition("|")[0] if lease else None
        members = {k: json.loads(v) for k, v in _pairs(_flat(nodes)).items()}
        lag = max(0, int(appended or 0) - int(handled or 0))
        return {"holder": holder, "nodes": members, "log_lag": lag}


def _flat(mapping: dict[Any, Any]) -> list[Any]:
    return [x for kv in mapping.items() for x in kv]
