"""Queues: who waits, in which order, indexed so a free agent finds work fast.

Order is priority first, then arrival (FIFO), with aging: waiting ``aging``
seconds is worth one priority level, so low-priority work cannot starve.
Because aging is linear in time, the order of two waiting items never
changes while they wait, so every item gets a fixed sort key on entry::

    key = (arrival / aging - priority, arrival, seq)      # aging on
    key = (-priority, arrival, seq)                       # aging off

Items are grouped in buckets of identical needs (channel + skill
requirements). A free agent walks bucket heads in key order and stops as
soon as no remaining bucket can beat the best item found, so the cost of a
decision grows with the number of distinct needs, not with waiting items or
agents.
"""

from bisect import bisect_left, insort
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from router.items import Channel
from router.skills import Requirements, satisfies

SortKey = tuple[float, float, int]


@dataclass(slots=True)
class Bucket:
    id: int
    channel: Channel
    reqs: Requirements
    entries: list[tuple[SortKey, str]] = field(default_factory=list)

    @property
    def head(self) -> SortKey:
        return self.entries[0][0]


class Queue:
    """The waiting items of one queue."""

    def __init__(self, name: str, aging: float) -> None:
        self.name = name
        self.aging = aging
        self._buckets: dict[tuple[Channel, Requirements], Bucket] = {}
        self._heads: list[tuple[SortKey, int]] = []
        self._by_id: dict[int, Bucket] = {}
        # Bucket ids by each skill they require; buckets that require none.
        self._by_skill: dict[str, set[int]] = {}
        self._plain: set[int] = set()
        self._next_bucket = 0
        self.by_priority: Counter[int] = Counter()
        self.offered = 0

    def __len__(self) -> int:
        return self.by_priority.total()

    def key(self, priority: int, arrived_at: float, seq: int) -> SortKey:
        if self.aging > 0:
            return (arrived_at / self.aging - priority, arrived_at, seq)
        return (float(-priority), arrived_at, seq)

    def effective_key(self, key: SortKey, priority: int, now: float) -> SortKey:
        """A key comparable across queues with different aging, at ``now``."""
        arrived_at, seq = key[1], key[2]
        boost = (now - arrived_at) / self.aging if self.aging > 0 else 0.0
        return (-(priority + boost), arrived_at, seq)

    def add(
        self, item_id: str, key: SortKey, channel: Channel, reqs: Requirements, priority: int
    ) -> None:
        bucket = self._buckets.get((channel, reqs))
        if bucket is None:
            bucket = Bucket(self._next_bucket, channel, reqs)
            self._next_bucket += 1
            self._buckets[(channel, reqs)] = bucket
            self._by_id[bucket.id] = bucket
            for req in reqs:
                self._by_skill.setdefault(req.name, set()).add(bucket.id)
            if not reqs:
                self._plain.add(bucket.id)
        old_head = bucket.head if bucket.entries else None
        insort(bucket.entries, (key, item_id))
        if old_head is None or key < old_head:
            if old_head is not None:
                self._drop_head(old_head, bucket.id)
            insort(self._heads, (key, bucket.id))
        self.by_priority[priority] += 1

    def remove(
        self, item_id: str, key: SortKey, channel: Channel, reqs: Requirements, priority: int
    ) -> None:
        bucket = self._buckets[(channel, reqs)]
        entries = bucket.entries
        i = bisect_left(entries, (key, item_id))
        if i == len(entries) or entries[i][1] != item_id:
            raise KeyError(item_id)
        del entries[i]
        if i == 0:
            self._drop_head(key, bucket.id)
            if entries:
                insort(self._heads, (entries[0][0], bucket.id))
        if not entries:
            del self._buckets[(channel, reqs)]
            del self._by_id[bucket.id]
            for req in reqs:
                self._by_skill[req.name].discard(bucket.id)
            self._plain.discard(bucket.id)
        self.by_priority[priority] -= 1
        if not self.by_priority[priority]:
            del self.by_priority[priority]

    def _drop_head(self, key: SortKey, bucket_id: int) -> None:
        i = bisect_left(self._heads, (key, bucket_id))
        del self._heads[i]

    def best(
        self,
        skills: Mapping[str, int],
        channels: frozenset[Channel],
        item_ok: Callable[[str], bool],
    ) -> tuple[SortKey, str] | None:
        """The first item, in queue order, an agent with ``skills`` can take.

        Only buckets on ``channels`` whose requirements the skills satisfy
        count; ``item_ok`` rules out single items (declined by this agent).
        The buckets to look at come from the skill index when that is the
        smaller set, else from a walk over all bucket heads in order.
        """
        touching = sum(len(self._by_skill.get(s, ())) for s in skills) + len(self._plain)
        if touching < len(self._heads):
            ids = set(self._plain)
            for s in skills:
                ids.update(self._by_skill.get(s, ()))
            buckets: Iterable[Bucket] = (self._by_id[i] for i in ids)
            ordered = False
        else:
            buckets = (self._by_id[i] for _, i in self._heads)
            ordered = True
        best: tuple[SortKey, str] | None = None
        for bucket in buckets:
            if best is not None and bucket.head >= best[0]:
                if ordered:
                    break  # heads come in order: nothing later can win
                continue
            if bucket.channel not in channels or not satisfies(skills, bucket.reqs):
                continue
            for key, item_id in bucket.entries:
                if best is not None and key >= best[0]:
                    break
                if item_ok(item_id):
                    best = (key, item_id)
                    break
        return best

    def waiting(self) -> list[tuple[SortKey, str]]:
        """Every waiting item in queue order (for snapshots and checks)."""
        merged = [e for b in self._buckets.values() for e in b.entries]
        merged.sort()
        return merged

    def bucket_count(self) -> int:
        return len(self._buckets)
