"""The transformers backend on tiny models this test builds: real loading and inference."""

import os
from pathlib import Path

import pytest

from sentiment import Label, ModelLoadError, ModelNotFoundError, get_scorer
from sentiment.transformer import TransformerScorer, label_values

os.environ["HF_HUB_OFFLINE"] = "1"
pytest.importorskip("torch")
pytest.importorskip("transformers")
testing = pytest.importorskip("sentiment.testing")

TEXTS = ["the service is good", "bad", "i love it very much", "", "still waiting for my refund"]


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("models")
    build = testing.build_tiny_model
    return {
        "pinned": build(root / "pinned", probabilities=[0.1, 0.2, 0.7]),
        "reversed": build(
            root / "reversed", ["positive", "neutral", "negative"], probabilities=[0.1, 0.2, 0.7]
        ),
        "stars": build(
            root / "stars",
            ["1 star", "2 stars", "3 stars", "4 stars", "5 stars"],
            probabilities=[0.1, 0.1, 0.2, 0.2, 0.4],
        ),
        "random": build(root / "random", ["NEGATIVE", "POSITIVE"], seed=3, onnx=True),
        "generic": build(root / "generic", ["LABEL_0", "LABEL_1"]),
    }


@pytest.mark.parametrize(
    ("labels", "values"),
    [
        (["negative", "neutral", "positive"], [-1.0, 0.0, 1.0]),
        (["NEGATIVE", "POSITIVE"], [-1.0, 1.0]),
        (["pos", "neg"], [1.0, -1.0]),
        (["1 star", "2 stars", "3 stars", "4 stars", "5 stars"], [-1.0, -0.5, 0.0, 0.5, 1.0]),
        (["1", "2", "3"], [-1.0, 0.0, 1.0]),
        (
            ["very negative", "negative", "neutral", "positive", "very positive"],
            [-1.0, -0.5, 0.0, 0.5, 1.0],
        ),
    ],
)
def test_label_values_are_read_from_id2label(labels: list[str], values: list[float]) -> None:
    assert label_values(dict(enumerate(labels))) == values


@pytest.mark.parametrize("labels", [["LABEL_0", "LABEL_1"], ["neutral"], ["toxic", "clean"]])
def test_labels_that_cannot_be_placed_are_an_error(labels: list[str]) -> None:
    with pytest.raises(ModelLoadError):
        label_values(dict(enumerate(labels)))


def test_three_class_score_is_p_positive_minus_p_negative(models: dict[str, Path]) -> None:
    scorer = get_scorer("transformers", models["pinned"])
    for sentiment in scorer.score_batch(TEXTS):
        assert sentiment.score == pytest.approx(0.7 - 0.1, abs=1e-6)
        assert sentiment.label is Label.POSITIVE


def test_class_order_comes_from_the_config_not_from_position(models: dict[str, Path]) -> None:
    scorer = get_scorer("transformers", models["reversed"])
    assert scorer.score("good").score == pytest.approx(0.1 - 0.7, abs=1e-6)


def test_star_ratings_map_to_the_expected_star(models: dict[str, Path]) -> None:
    scorer = get_scorer("transformers", models["stars"])
    expected = 0.1 * -1 + 0.1 * -0.5 + 0.2 * 0 + 0.2 * 0.5 + 0.4 * 1
    assert scorer.score("bad").score == pytest.approx(expected, abs=1e-6)


def test_batched_scores_equal_one_by_one_scores(models: dict[str, Path]) -> None:
    scorer = TransformerScorer(models["random"], use_onnx=False, batch_size=3)
    assert scorer.runtime == "torch"
    batched = [s.score for s in scorer.score_batch(TEXTS)]
    single = [scorer.score(text).score for text in TEXTS]
    assert batched == pytest.approx(single, abs=1e-5)
    # Random weights still tell texts apart, or the comparison above proves nothing.
    assert len({round(score, 4) for score in batched}) == len(TEXTS)


def test_onnx_export_is_used_when_present_and_agrees_with_torch(models: dict[str, Path]) -> None:
    onnx = TransformerScorer(models["random"])
    torch = TransformerScorer(models["random"], use_onnx=False)
    assert (onnx.runtime, torch.runtime) == ("onnx", "torch")
    assert [s.score for s in onnx.score_batch(TEXTS)] == pytest.approx(
        [s.score for s in torch.score_batch(TEXTS)], abs=1e-4
    )


def test_generic_labels_fail_at_load_with_the_labels_named(models: dict[str, Path]) -> None:
    with pytest.raises(ModelLoadError, match="LABEL_0"):
        get_scorer("transformers", models["generic"])


def test_a_directory_without_a_model_is_not_found(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFoundError, match=r"no config\.json"):
        get_scorer("transformers", tmp_path)


def test_a_broken_model_directory_is_a_load_error(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(ModelLoadError, match="cannot load"):
        get_scorer("transformers", tmp_path)


def test_texts_longer_than_the_model_are_truncated(models: dict[str, Path]) -> None:
    scorer = get_scorer("transformers", models["random"])
    long_text = " ".join(["the service was good"] * 100)  # 400+ tokens; the model has 64 positions
    assert -1.0 <= scorer.score(long_text).score <= 1.0
