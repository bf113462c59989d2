import pytest

from sentiment import BACKENDS, ModelNotFoundError, Scorer, UnknownBackendError, get_scorer


def test_unknown_backend_names_the_known_ones() -> None:
    with pytest.raises(UnknownBackendError, match=r"'nope'.*lexicon, vader, transformers"):
        get_scorer("nope")


def test_transformers_backend_without_a_model_says_so() -> None:
    with pytest.raises(ModelNotFoundError, match="needs a model"):
        get_scorer("transformers")


def test_missing_model_directory_is_reported() -> None:
    with pytest.raises(ModelNotFoundError, match="does not exist"):
        get_scorer("transformers", "/no/such/model/dir")


@pytest.mark.parametrize("backend", ["lexicon", "vader"])
def test_builtin_backends_need_no_model(backend: str) -> None:
    scorer = get_scorer(backend)
    assert isinstance(scorer, Scorer)
    assert scorer.name == backend
    assert backend in BACKENDS
