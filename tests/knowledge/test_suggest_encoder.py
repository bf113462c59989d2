"""Suggestions with ``[knowledge] encoder``: the index embeds articles with a
local transformers model (a tiny random BERT built here, never a download)
and answers fused queries."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from gateway.settings import check_file
from knowledge.suggest import Entry, SuggestionIndex


@pytest.fixture(scope="module")
def encoder_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.intents.tiny_encoder import build_tiny_encoder

    return build_tiny_encoder(tmp_path_factory.mktemp("encoder") / "tiny-bert")


ENTRIES = [
    Entry("arrival", "Card arrival", "", "my card has not arrived yet"),
    Entry("refund", "Refund", "", "i would like a refund for this"),
    Entry("pin", "Blocked PIN", "", "my pin is blocked"),
]


def test_the_index_embeds_its_articles_and_answers_with_the_encoder(
    encoder_dir: Path, tmp_path: Path
) -> None:
    config = tmp_path / "switchboard.toml"
    config.write_text(f'[knowledge]\nencoder = "{encoder_dir}"\n')
    settings = check_file(config)
    assert settings.knowledge.encoder == encoder_dir

    from intents.encoder import load_encoder

    encoder = load_encoder(encoder_dir)  # the one the config check loaded
    index = SuggestionIndex(ENTRIES, embed=encoder.embed)
    assert index._vectors is not None and index._vectors.shape == (3, encoder.dimension)
    assert np.allclose(np.linalg.norm(index._vectors, axis=1), 1, atol=1e-5)
    vector = index.query_vector("my card has not arrived")
    assert vector is not None and vector.shape == (encoder.dimension,)
    found = index.query("my card has not arrived", k=3, vector=vector)
    assert found and len(found) == 3  # the cosine ranking brings every article
    assert all(0 < score <= 1 for _, score in found)
    # Random weights rank by chance; words still put the article sharing
    # most of them in the top two of three.
    assert "arrival" in [e.id for e, _ in found[:2]]
    again = SuggestionIndex([*ENTRIES[:2]], previous=index, embed=encoder.embed)
    assert again._vectors is not None
    assert np.array_equal(again._vectors, index._vectors[:2])  # reused, not embedded again
