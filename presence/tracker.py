"""Presence as a sans-I/O state holder.

Rules that live here:

* An agent has a *chosen* status (what they or a supervisor picked) and an
  *effective* status (what supervisors see). They differ only when
  ``busy_at_capacity`` is on and the agent is full: then an accepting
  status shows as ``busy``.
* An agent may have several websocket connections (tabs); they count as
  disconnected only when the last one drops. Dropping starts a grace period;
  reconnecting within it changes nothing, otherwise they go ``offline``.
* Only a connected agent in an accepting chosen status may get new offers.

The tracker never reads a clock: callers pass ``now`` and get deadlines back.
"""

from dataclasses import dataclass

from presence.config import PresenceSettings
from presence.errors import UnknownAgent
from presence.statuses import StatusCatalog


@dataclass(slots=True)
class _Record:
    chosen: str = "offline"
    connections: int = 0
    full: bool = False
    # Bumped on every disconnect so a stale grace deadline is recognised.
    epoch: int = 0
    grace_until: float | None = None


class PresenceTracker:
    """Chosen status, connections and grace periods of every agent."""

    def __init__(self, settings: PresenceSettings | None = None) -> None:
        self.settings = settings or PresenceSettings()
        self.catalog = StatusCatalog(self.settings.custom_pairs())
        self._records: dict[str, _Record] = {}

    def __contains__(self, agent_id: object) -> bool:
        return agent_id in self._records

    def _get(self, agent_id: str) -> _Record:
        try:
            return self._records[agent_id]
        except KeyError:
            raise UnknownAgent(agent_id) from None

    def add(self, agent_id: str) -> None:
        """Start tracking an agent: offline and not connected."""
        self._records.setdefault(agent_id, _Record())

    def remove(self, agent_id: str) -> None:
        self._records.pop(agent_id, None)

    def effective(self, agent_id: str) -> str:
        rec = self._get(agent_id)
        if self.settings.busy_at_capacity and rec.full and self.catalog.accepts(rec.chosen):
            return "busy"
        return rec.chosen

    def chosen(self, agent_id: str) -> str:
        return self._get(agent_id).chosen

    def is_connected(self, agent_id: str) -> bool:
        return self._get(agent_id).connections > 0

    def takes_work(self, agent_id: str) -> bool:
        """Connected and in a status that accepts new work."""
        rec = self._get(agent_id)
        return rec.connections > 0 and self.catalog.accepts(rec.chosen)

    def grace_epoch(self, agent_id: str) -> int:
        return self._get(agent_id).epoch

    def set_status(self, agent_id: str, status: str) -> str | None:
        """Set the chosen status. Returns the new effective status if it changed.

        Raises ``UnknownStatus`` for a status the catalog does not know.
        """
        self.catalog.check(status)
        rec = self._get(agent_id)
        before = self.effective(agent_id)
        rec.chosen = status
        after = self.effective(agent_id)
        return after if after != before else None

    def connect(self, agent_id: str) -> str | None:
        """Count a new connection; cancels any grace period.

        An offline agent takes ``on_connect``. Returns the new effective
        status if it changed.
        """
        rec = self._get(agent_id)
        rec.connections += 1
        rec.grace_until = None
        rec.epoch += 1
        if rec.chosen == "offline" and self.settings.on_connect is not None:
            return self.set_status(agent_id, self.settings.on_connect)
        return None

    def disconnect(self, agent_id: str, now: float) -> float | None:
        """Count a dropped connection.

        Returns the grace deadline when the last connection dropped, else
        None. A disconnect with no open connection is ignored (duplicate
        close notifications are common at the edge).
        """
        rec = self._get(agent_id)
        if rec.connections == 0:
            return None
        rec.connections -= 1
        if rec.connections > 0:
            return None
        rec.epoch += 1
        rec.grace_until = now + self.settings.grace
        return rec.grace_until

    def expire_grace(self, agent_id: str, epoch: int, now: float) -> str | None:
        """End a grace period that is due. Returns the new effective status."""
        rec = self._records.get(agent_id)
        if rec is None or rec.epoch != epoch or rec.connections > 0:
            return None
        if rec.grace_until is None or rec.grace_until > now:
            return None
        rec.grace_until = None
        return self.set_status(agent_id, "offline")

    def set_full(self, agent_id: str, full: bool) -> str | None:
        """Record whether the agent has no free capacity left anywhere."""
        rec = self._get(agent_id)
        if rec.full == full:
            return None
        before = self.effective(agent_id)
        rec.full = full
        after = self.effective(agent_id)
        return after if after != before else None
