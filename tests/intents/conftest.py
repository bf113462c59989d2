from __future__ import annotations

from pathlib import Path

import pytest

from intents import IntentModel
from intents.training import train
from tests.intents.examples import examples


@pytest.fixture(scope="session")
def model() -> IntentModel:
    rows = examples()
    return train([t for t, _ in rows], [label for _, label in rows])


@pytest.fixture(scope="session")
def model_file(model: IntentModel, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("model") / "skill_finder.npz"
    model.save(path)
    return path


@pytest.fixture(scope="session")
def encoder_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random BERT saved locally: the transformers backend, no download."""
    from tests.intents.tiny_encoder import build_tiny_encoder

    return build_tiny_encoder(tmp_path_factory.mktemp("encoder") / "tiny-bert")
