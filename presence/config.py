"""Presence settings, the ``[routing.presence]`` table of the config file."""

from typing import Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from presence.statuses import BUILTIN_STATUSES


class CustomStatus(BaseModel):
    """A deployment's own status, e.g. ``lunch`` (no work) or ``back-office``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=40, pattern=r"^[a-z][a-z0-9_-]*$")
    accepts_work: bool = False


class PresenceSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    statuses: list[CustomStatus] = Field(default_factory=list)
    # Seconds an agent whose last websocket dropped keeps their status before
    # going offline; their open offers go back at once regardless.
    grace: float = Field(default=30.0, ge=0)
    # Show an agent as busy while they have no free capacity on any channel.
    busy_at_capacity: bool = False
    # Status an offline agent gets when they connect (None: stay offline
    # until they pick one).
    on_connect: str | None = "available"
    # Status set after an agent lets an offer time out (None: unchanged).
    on_offer_timeout: str | None = None

    @model_validator(mode="after")
    def _check_names(self) -> Self:
        seen: set[str] = set()
        for status in self.statuses:
            if status.name in BUILTIN_STATUSES:
                raise ValueError(f"custom status {status.name!r} clashes with a built-in status")
            if status.name in seen:
                raise ValueError(f"custom status {status.name!r} is defined twice")
            seen.add(status.name)
        known = set(BUILTIN_STATUSES) | seen
        for key in ("on_connect", "on_offer_timeout"):
            value = getattr(self, key)
            if value is not None and value not in known:
                raise ValueError(
                    f"{key} = {value!r} is not a known status; expected one of {sorted(known)}"
                )
        return self

    def custom_pairs(self) -> list[tuple[str, bool]]:
        return [(s.name, s.accepts_work) for s in self.statuses]
