"""The intent model: what it learns, how sure it is, and its file."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfVectorizer

from intents import IntentModel, ModelFileError
from intents.features import char_grams, word_grams
from intents.training import TrainingOptions, train
from tests.intents.examples import HELD_OUT, examples


@pytest.mark.parametrize(("text", "intent"), sorted(HELD_OUT.items()))
def test_held_out_phrasings_get_their_intent(model: IntentModel, text: str, intent: str):
    found = model.classify(text)
    assert found.intent == intent
    assert 0.4 < found.confidence <= 1.0


def test_words_never_seen_give_no_confidence(model: IntentModel):
    assert model.classify("zzqx blorp").confidence == 0.0
    assert model.classify("").confidence == 0.0
    assert model.classify("!!!").confidence == 0.0


def test_scores_are_the_linear_model_on_tfidf_features(model: IntentModel):
    """The fast path computes what scikit-learn's vectorizers would."""
    rows = examples()
    texts = [t for t, _ in rows]
    word = TfidfVectorizer(analyzer=word_grams, sublinear_tf=True).fit(texts)
    char = TfidfVectorizer(analyzer=char_grams, sublinear_tf=True, min_df=2).fit(texts)
    sample = [*HELD_OUT, "my card my card my card", "Ünïcode CARD!"]
    matrix = sp.hstack([word.transform(sample), char.transform(sample)]).tocsr()
    expected = matrix @ model.coef + model.intercept
    got = np.vstack([model.scores(t) for t in sample])
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)


def test_probabilities_sum_to_one(model: IntentModel):
    probs = model.probabilities("where is my card")
    assert probs.shape == (4,)
    assert probs.sum() == pytest.approx(1.0, abs=1e-5)


def test_saved_model_loads_and_classifies_the_same(model: IntentModel, model_file: Path):
    loaded = IntentModel.load(model_file)
    assert loaded.classes == model.classes
    assert loaded.scale == pytest.approx(model.scale)
    for text in HELD_OUT:
        assert loaded.classify(text) == model.classify(text)
    assert loaded.meta["examples"] == len(examples())


def test_missing_file_is_a_clear_error(tmp_path: Path):
    with pytest.raises(ModelFileError, match="no such model file"):
        IntentModel.load(tmp_path / "absent.npz")


def test_a_file_that_is_not_a_model_is_refused(tmp_path: Path):
    text = tmp_path / "notes.npz"
    text.write_text("hello")
    with pytest.raises(ModelFileError, match="not a readable skill finder model"):
        IntentModel.load(text)
    other = tmp_path / "other.npz"
    np.savez(other, meta=np.array('{"format": "something-else/3"}'))
    with pytest.raises(ModelFileError, match="not a skill finder model"):
        IntentModel.load(other)


def test_a_file_with_pickled_objects_is_refused_not_unpickled(tmp_path: Path):
    path = tmp_path / "evil.npz"
    buffer = io.BytesIO()
    np.save(buffer, np.array([object()], dtype=object), allow_pickle=True)
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("meta.npy", buffer.getvalue())
    with pytest.raises(ModelFileError):
        IntentModel.load(path)


def test_two_intents_work_as_well():
    texts = ["my card is lost", "lost my card", "card stolen", "refund please", "money back"]
    labels = ["lost", "lost", "lost", "refund", "refund"]
    model = train(texts, labels, TrainingOptions(calibration_share=0))
    assert model.coef.shape[1] == 2
    assert model.classify("I lost the card").intent == "lost"
    assert model.classify("give my money back").intent == "refund"
