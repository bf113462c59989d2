"""Router events and commands as JSON, for the Redis Stream and pub/sub.

Every value is tagged so it decodes to exactly what was encoded: a
dataclass of the router as ``{"@": name, "f": {...}}``, a mapping as
``{"@d": {...}}``, a tuple as ``{"@t": [...]}``, a frozenset as
``{"@s": [...]}``, a capacity profile as ``{"@cap": {...}}``. Only the
router's own types decode (``DecodeError`` otherwise): nothing in the log
can make a node build an arbitrary object.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import orjson

import router as r
from cluster.errors import DecodeError

_TYPES: dict[str, type[Any]] = {
    cls.__name__: cls
    for cls in (
        r.AgentConnected,
        r.AgentDisconnected,
        r.AgentRemoved,
        r.AgentUpserted,
        r.ItemArrived,
        r.ItemAssigned,
        r.ItemCancelled,
        r.ItemClosed,
        r.ItemOverflowed,
        r.ItemQueued,
        r.ItemRequeued,
        r.ManualAssign,
        r.OfferAccepted,
        r.OfferMade,
        r.OfferRejected,
        r.OfferRevoked,
        r.PresenceChanged,
        r.PresenceUpdated,
        r.PriorityChanged,
        r.Rejected,
        r.Tick,
        r.Transferred,
        r.WorkItem,
        r.SkillRequirement,
    )
}


def _enc(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, r.CapacityProfile):
        return {"@cap": value.model_dump(mode="json")}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        name = type(value).__name__
        if _TYPES.get(name) is not type(value):
            raise DecodeError(f"not a router value: {value!r}")
        fields = {f.name: _enc(getattr(value, f.name)) for f in dataclasses.fields(value)}
        return {"@": name, "f": fields}
    if isinstance(value, Mapping):
        return {"@d": {str(k): _enc(v) for k, v in value.items()}}
    if isinstance(value, tuple):
        return {"@t": [_enc(v) for v in value]}
    if isinstance(value, frozenset | set):
        return {"@s": [_enc(v) for v in sorted(value)]}
    if isinstance(value, list):
        return [_enc(v) for v in value]
    raise DecodeError(f"cannot encode {type(value).__name__}: {value!r}")


def _dec(value: Any) -> Any:
    if isinstance(value, list):
        return [_dec(v) for v in value]
    if not isinstance(value, dict):
        return value
    if "@" in value:
        cls = _TYPES.get(value["@"])
        if cls is None or not isinstance(value.get("f"), dict):
            raise DecodeError(f"unknown tagged value {value.get('@')!r}")
        try:
            return cls(**{k: _dec(v) for k, v in value["f"].items()})
        except (TypeError, ValueError) as exc:
            raise DecodeError(f"bad {value['@']}: {exc}") from None
    if "@d" in value:
        return {k: _dec(v) for k, v in value["@d"].items()}
    if "@t" in value:
        return tuple(_dec(v) for v in value["@t"])
    if "@s" in value:
        return frozenset(_dec(v) for v in value["@s"])
    if "@cap" in value:
        return r.CapacityProfile.model_validate(value["@cap"])
    raise DecodeError(f"untagged object in a log entry: {sorted(value)}")


def encode(values: Sequence[Any]) -> bytes:
    """Encode a sequence of router events or commands."""
    return orjson.dumps([_enc(v) for v in values])


def decode(raw: bytes | str) -> list[Any]:
    """Decode what ``encode`` made; ``DecodeError`` for anything else."""
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise DecodeError(f"not JSON: {exc}") from None
    if not isinstance(data, list):
        raise DecodeError("a log entry is a list of values")
    return [_dec(v) for v in data]
