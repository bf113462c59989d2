"""The skill finder over a local transformers encoder (``backend =
"transformers"``): a tiny random BERT built in the test, never a download."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from intents import IntentModel, ModelFileError, SkillFinderConfig, load_skill_finder
from intents.cli import main
from intents.embedded import EmbeddingIntentModel
from intents.encoder import Encoder, load_encoder
from intents.training import train_on_encoder
from tests.intents.examples import examples, write_csv
from tests.intents.tiny_encoder import build_tiny_encoder


@pytest.fixture(scope="module")
def embedded(encoder_dir: Path) -> EmbeddingIntentModel:
    rows = examples()
    return train_on_encoder(
        [t for t, _ in rows], [label for _, label in rows], Encoder(encoder_dir)
    )


@pytest.fixture(scope="module")
def embedded_file(embedded: EmbeddingIntentModel, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("embedded") / "skill_finder.npz"
    embedded.save(path)
    return path


def test_mean_pooled_embeddings_are_unit_rows_and_do_not_depend_on_padding(encoder_dir: Path):
    encoder = Encoder(encoder_dir)
    alone = encoder.embed(["refund"])
    batched = encoder.embed(["refund", "my new card has not arrived after two weeks"])
    assert alone.shape == (1, encoder.dimension) == (1, 32)
    assert batched[0] == pytest.approx(alone[0], abs=1e-5)
    assert (batched**2).sum(axis=1) == pytest.approx([1.0, 1.0], abs=1e-5)


def test_a_classifier_on_the_encoder_learns_the_examples(embedded: EmbeddingIntentModel):
    rows = examples()
    right = sum(embedded.classify(text).intent == label for text, label in rows)
    assert right / len(rows) >= 0.9
    assert embedded.classes == ("card_arrival", "lost_card", "opening_hours", "refund")
    assert 0.0 <= embedded.classify("I want a refund for my order").confidence <= 1.0


def test_the_file_loads_back_with_the_same_encoder(
    embedded: EmbeddingIntentModel, embedded_file: Path, encoder_dir: Path
):
    loaded = EmbeddingIntentModel.load(embedded_file, Encoder(encoder_dir))
    for text, _ in examples()[::7]:
        assert loaded.classify(text) == pytest.approx(embedded.classify(text))


def test_another_encoder_is_refused(embedded_file: Path, tmp_path: Path):
    other = build_tiny_encoder(tmp_path / "other", seed=1)
    with pytest.raises(ModelFileError, match="not the one this model was trained with"):
        EmbeddingIntentModel.load(embedded_file, Encoder(other))
    narrow = build_tiny_encoder(tmp_path / "narrow", hidden=16)
    with pytest.raises(ModelFileError, match="32-dimensional embeddings, but the encoder"):
        EmbeddingIntentModel.load(embedded_file, Encoder(narrow))


def test_each_backend_refuses_the_others_file(
    embedded_file: Path, model_file: Path, encoder_dir: Path
):
    with pytest.raises(ModelFileError, match="backend = 'transformers'"):
        IntentModel.load(embedded_file)
    with pytest.raises(ModelFileError, match="a TF-IDF skill finder model"):
        EmbeddingIntentModel.load(model_file, Encoder(encoder_dir))


def test_the_config_pairs_the_backend_and_the_encoder(tmp_path: Path):
    with pytest.raises(ValidationError, match="needs encoder"):
        SkillFinderConfig(model=tmp_path / "m.npz", backend="transformers")
    with pytest.raises(ValidationError, match="only for backend = 'transformers'"):
        SkillFinderConfig(model=tmp_path / "m.npz", encoder=tmp_path)
    with pytest.raises(ValidationError, match="backend"):
        SkillFinderConfig.model_validate({"backend": "bert"})


def test_a_bad_encoder_directory_is_a_clear_error(embedded_file: Path, tmp_path: Path):
    def load(encoder: Path) -> object:
        config = SkillFinderConfig(model=embedded_file, backend="transformers", encoder=encoder)
        return load_skill_finder(config)

    with pytest.raises(ModelFileError, match=r"skill_finder.encoder: .*gone: no such model"):
        load(tmp_path / "gone")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelFileError, match=r"skill_finder\.encoder: .*no config\.json"):
        load(tmp_path / "empty")
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "config.json").write_text('{"model_type": "bert"}')
    with pytest.raises(ModelFileError, match=r"skill_finder\.encoder: .*cannot load the model"):
        load(tmp_path / "broken")


def test_the_finder_over_an_encoder_runs_off_the_event_loop(
    embedded_file: Path, model_file: Path, encoder_dir: Path
):
    config = SkillFinderConfig(model=embedded_file, backend="transformers", encoder=encoder_dir)
    finder = load_skill_finder(config)
    assert finder is not None and not finder.inline
    assert finder.find("I want a refund for my order").guess == "refund"
    tfidf = load_skill_finder(SkillFinderConfig(model=model_file))
    assert tfidf is not None and tfidf.inline
    assert load_encoder(encoder_dir) is load_encoder(encoder_dir)  # loaded once per process


def test_the_cli_trains_and_classifies_over_an_encoder(encoder_dir: Path, tmp_path: Path):
    csv = write_csv(tmp_path / "examples.csv")
    out, model = io.StringIO(), tmp_path / "m.npz"
    argv = ["train", str(csv), "--encoder", str(encoder_dir), "--out", str(model)]
    assert main(argv, stdout=out) == 0
    assert "trained 4 intents on 100 examples" in out.getvalue()
    answers = io.StringIO()
    lines = io.StringIO("I want a refund for my order\n")
    assert main(["classify", str(model), "--encoder", str(encoder_dir)], lines, answers) == 0
    assert json.loads(answers.getvalue())["intent"] == "refund"


def test_the_cli_names_a_missing_encoder(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    csv = write_csv(tmp_path / "examples.csv")
    argv = ["train", str(csv), "--encoder", str(tmp_path / "nope"), "--out", str(tmp_path / "m")]
    assert main(argv) == 1
    assert "nope: no such model directory" in capsys.readouterr().err
