"""Router values survive the log: what is encoded decodes equal."""

from __future__ import annotations

import pytest

import router as r
from cluster import DecodeError, decode, encode


def test_events_and_commands_round_trip():
    item = r.WorkItem(
        "c1",
        "email",
        1.5,
        queue="vip",
        skills=(r.SkillRequirement("billing", 3, optional=True),),
        priority=2,
        attributes={"customer": {"id": "x", "@": "not a tag"}, "tags": ["a", 1]},
    )
    values = [
        r.ItemArrived(item),
        r.AgentUpserted(
            "a1",
            "Ann",
            skills={"billing": 4},
            capacity=r.CapacityProfile(channels={"email": 2}),
            queues=frozenset({"vip", "default"}),
        ),
        r.AgentUpserted("a2", capacity="standard"),
        r.Transferred("c1", "a1", "vip", skills=None),
        r.Rejected(r.OfferAccepted("o-1", "a1"), "offer_expired", "late"),
        r.OfferMade("o-1", "c1", "a1", "vip", 12.25),
        r.Tick(),
    ]
    assert decode(encode(values)) == values


@pytest.mark.parametrize(
    "raw",
    [
        b"{",
        b"{}",
        b'[{"@": "Popen", "f": {}}]',
        b'[{"plain": 1}]',
        b'[{"@": "Tick", "f": {"x": 1}}]',
    ],
)
def test_anything_else_is_refused(raw):
    with pytest.raises(DecodeError):
        decode(raw)
