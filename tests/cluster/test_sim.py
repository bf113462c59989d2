"""The seeded cluster simulator: its invariants hold, and they can fail."""

from __future__ import annotations

import dataclasses

import pytest

from cluster.sim import SimConfig, Simulation, Violation


@pytest.mark.parametrize("seed", range(1, 21))
def test_invariants_hold_through_crashes_pauses_and_partitions(seed):
    run = Simulation(seed).run()
    assert run.arrived > 20 and run.closed == run.arrived
    assert run.failovers > 1


def test_stale_routers_are_fenced_out_somewhere():
    refused = sum(Simulation(seed).run().refused for seed in range(1, 21))
    assert refused > 0


def test_a_seed_replays_exactly():
    assert Simulation(5).run() == Simulation(5).run()
    assert Simulation(5).run().digest != Simulation(6).run().digest


def test_without_fencing_a_stale_router_is_caught_and_the_failure_replays():
    cfg = SimConfig(fencing=False)
    failures = []
    for seed in range(1, 30):
        try:
            Simulation(seed, cfg).run()
        except Violation as exc:
            failures.append((seed, str(exc)))
            break
    assert failures, "no seed showed what fencing prevents"
    seed, message = failures[0]
    assert "stale token" in message or "capacity" in message
    with pytest.raises(Violation) as again:
        Simulation(seed, cfg).run()
    assert str(again.value) == message


def test_config_is_a_frozen_value():
    with pytest.raises(dataclasses.FrozenInstanceError):
        SimConfig().ttl = 1.0  # type: ignore[misc]
