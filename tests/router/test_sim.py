"""The seeded simulator: short runs in the suite; see router.sim for long ones."""

import pytest

from router.sim import Simulation, main


@pytest.mark.parametrize("seed", [1, 7, 21, 42])
def test_simulation_keeps_invariants(seed: int) -> None:
    sim = Simulation(seed)
    stats = sim.run(15_000)
    assert stats.offers > 1000
    assert stats.assigned > 1000
    assert stats.revoked > 50


def test_same_seed_replays_exactly() -> None:
    runs = []
    for _ in range(2):
        sim = Simulation(3)
        sim.run(2_000)
        runs.append((sim.stats, sorted(sim.open), sorted(sim.offers), sim.now))
    assert runs[0] == runs[1]


def test_cli_reports_success(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--events", "500", "--seed", "5"]) == 0
    assert "invariants held after every event" in capsys.readouterr().out
