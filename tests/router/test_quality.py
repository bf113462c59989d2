"""Routing quality on short runs of bench/routing_quality.py (seeded, deterministic)."""

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "routing_quality.py"


@pytest.fixture(scope="module")
def quality() -> ModuleType:
    spec = importlib.util.spec_from_file_location("routing_quality", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["routing_quality"] = module
    spec.loader.exec_module(module)
    return module


def test_erlang_c_formula_matches_a_known_value(quality: ModuleType) -> None:
    # Textbook case: 10 agents, 8 Erlangs -> P(wait) = 0.409, ASA = 0.409*180/2 s.
    assert quality.erlang_c_wait_probability(10, 8.0) == pytest.approx(0.4092, abs=1e-4)
    assert quality.erlang_c_asa(10, 8.0 / 180, 180.0) == pytest.approx(36.83, abs=0.05)


def test_single_skill_queue_agrees_with_erlang_c(quality: ModuleType) -> None:
    # Short runs: P(wait) converges fast, ASA slowly (about +-10% per 15k
    # arrivals), so ASA is pooled over four seeds with a wider margin here;
    # the benchmark's long run holds it to 10%.
    runs = [quality.erlang_check(8, 0.75, 300.0, 15_000, seed) for seed in range(1, 5)]
    for run in runs:
        assert run.waited == pytest.approx(run.waited_exact, abs=0.03)
    asa = sum(r.asa for r in runs) / len(runs)
    assert asa == pytest.approx(runs[0].asa_exact, rel=0.2)


def test_skill_routing_beats_skill_blind_baselines_on_service_level(quality: ModuleType) -> None:
    results = quality.multi_skill(
        hours=2, seeds=1, rate_per_hour=450, handle_time=300.0, patience=120.0
    )
    level = {name: outcomes[0].service_level() for name, outcomes in results.items()}
    ours = max(v for k, v in level.items() if k.startswith("ours"))
    for name, value in level.items():
        if not name.startswith("ours"):
            assert ours > value, name
