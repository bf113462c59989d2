"""The `transformers` backend: any local sequence-classification model.

The model directory is whatever `save_pretrained` wrote (config.json, weights,
tokenizer files). Nothing is fetched: every load passes
`local_files_only=True`. If the directory also holds `model.onnx` (an export
taking the tokenizer's outputs as inputs and returning logits), inference runs
on ONNX Runtime, which is lighter and faster on CPU than eager torch; the
tokenizer and `config.json` still come from the directory.

The score is the expected value of the label under the model's probabilities,
each label given a value in [-1, 1] read from `id2label` (`label_values`): for
negative/neutral/positive models this is P(positive) - P(negative); for star
ratings, 1 star is -1 and the top star +1.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from sentiment.errors import ModelLoadError, ModelNotFoundError, ScoringError
from sentiment.scorer import DEFAULT_NEUTRAL_BAND, Sentiment, check_languages

ONNX_FILE = "model.onnx"

_STARS = re.compile(r"^(\d+)(?: stars?)?$")
_POLARITY = {
    "negative": -1.0,
    "neg": -1.0,
    "neutral": 0.0,
    "neu": 0.0,
    "mixed": 0.0,
    "positive": 1.0,
    "pos": 1.0,
}


def label_values(id2label: Mapping[int, str]) -> list[float]:
    """The value in [-1, 1] of each class, in class-index order, read from `id2label`.

    Understands negative/neutral/positive (and neg/neu/pos, mixed), the
    five-point "very negative" .. "very positive" scale, and star or
    number ratings ("1 star" .. "5 stars", "1" .. "10").

    Raises:
        ModelLoadError: a label it cannot place, such as the generic "LABEL_0".
    """
    if not id2label:
        raise ModelLoadError("the model's config has no id2label; cannot map classes to a score")
    names = {
        int(i): re.sub(r"[\s_-]+", " ", str(label).strip().lower()) for i, label in id2label.items()
    }
    if sorted(names) != list(range(len(names))):
        raise ModelLoadError(f"id2label indices must be 0..{len(names) - 1}, got {sorted(names)}")
    ordered = [names[i] for i in range(len(names))]

    stars = [_STARS.match(name) for name in ordered]
    if all(stars) and len(ordered) >= 2:
        ranks = [int(match.group(1)) for match in stars if match]
        low, high = min(ranks), max(ranks)
        if low == high:
            raise ModelLoadError(f"rating labels must differ, got {ordered}")
        return [2.0 * (rank - low) / (high - low) - 1.0 for rank in ranks]

    # On a five-point scale plain "negative" sits halfway to "very negative".
    five_point = "very negative" in ordered or "very positive" in ordered
    values: list[float] = []
    for name in ordered:
        if name.startswith("very "):
            base = _POLARITY.get(name.removeprefix("very "))
            value = base if base is not None and base != 0.0 else None
        else:
            base = _POLARITY.get(name)
            value = None if base is None else base * (0.5 if five_point else 1.0)
        if value is None:
            raise ModelLoadError(
                f"cannot tell what label {name!r} means in id2label {dict(id2label)}; "
                "name the classes negative/neutral/positive or 'N stars' in config.json"
            )
        values.append(value)
    if len(set(values)) < 2:
        raise ModelLoadError(f"labels {ordered} do not span negative to positive")
    return values


class _Runtime(Protocol):
    def logits(self, encoded: Mapping[str, npt.NDArray[np.int64]]) -> npt.NDArray[np.float32]: ...


class _TorchRuntime:
    """Eager torch on CPU, without autograd bookkeeping."""

    def __init__(self, model_dir: Path) -> None:
        import torch
        from transformers import AutoModelForSequenceClassification

        self._torch = torch
        self._model = AutoModelForSequenceClassification.from_pretrained(
            model_dir, local_files_only=True
        )
        self._model.eval()

    def logits(self, encoded: Mapping[str, npt.NDArray[np.int64]]) -> npt.NDArray[np.float32]:
        torch = self._torch
        inputs = {name: torch.from_numpy(array) for name, array in encoded.items()}
        with torch.no_grad():
            output = self._model(**inputs).logits
        result: npt.NDArray[np.float32] = output.float().numpy()
        return result


class _OnnxRuntime:
    """ONNX Runtime on CPU, fed the tokenizer's arrays by input name."""

    def __init__(self, path: Path, threads: int | None) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        if threads is not None:
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
        self._session = ort.InferenceSession(
            str(path), sess_options=options, providers=["CPUExecutionProvider"]
        )
        self._inputs = [node.name for node in self._session.get_inputs()]

    def logits(self, encoded: Mapping[str, npt.NDArray[np.int64]]) -> npt.NDArray[np.float32]:
        shape = encoded["input_ids"].shape
        feed = {
            # Exports of BERT-like models often take token_type_ids that
            # single-segment input leaves at zero.
            name: encoded[name] if name in encoded else np.zeros(shape, dtype=np.int64)
            for name in self._inputs
        }
        result: npt.NDArray[np.float32] = np.asarray(self._session.run(None, feed)[0])
        return result


def _softmax(logits: npt.NDArray[np.float32]) -> npt.NDArray[np.float64]:
    shifted = logits.astype(np.float64) - logits.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    result: npt.NDArray[np.float64] = exp / exp.sum(axis=-1, keepdims=True)
    return result


class TransformerScorer:
    """A `Scorer` over a local sequence-classification model; see the module docstring.

    Args:
        model_dir: the directory `save_pretrained` wrote.
        neutral_band: |score| below this is labelled neutral.
        batch_size: texts per forward pass; texts are grouped by length so
            that little padding is computed.
        max_length: tokens per text; longer texts are truncated.
        use_onnx: run `model.onnx` when the directory has one.
        threads: ONNX Runtime intra-op threads (torch's are set process-wide
            with `torch.set_num_threads` by whoever owns the process).

    Raises:
        ModelNotFoundError: `model_dir` is not a directory with a config.json.
        ModelLoadError: the optional ML dependencies are missing, or the model
            cannot be loaded or its labels cannot be mapped to a score.
    """

    name = "transformers"

    def __init__(
        self,
        model_dir: str | Path,
        *,
        neutral_band: float = DEFAULT_NEUTRAL_BAND,
        batch_size: int = 32,
        max_length: int = 256,
        use_onnx: bool = True,
        threads: int | None = None,
    ) -> None:
        path = Path(model_dir).expanduser()
        if not path.is_dir():
            raise ModelNotFoundError(f"model directory {str(path)!r} does not exist")
        if not (path / "config.json").is_file():
            raise ModelNotFoundError(
                f"{str(path)!r} is not a model directory: it has no config.json "
                "(expected the output of save_pretrained)"
            )
        try:
            from transformers import AutoConfig, AutoTokenizer
            from transformers.utils import logging as transformers_logging
        except ImportError as error:
            raise ModelLoadError(
                "the transformers backend needs the ML extras: pip install 'switchboard[ml]'"
            ) from error
        transformers_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
        self.model_dir = path
        self._neutral_band = neutral_band
        self._batch_size = batch_size
        try:
            config = AutoConfig.from_pretrained(path, local_files_only=True)
            self.label_values = label_values(config.id2label)
            self._tokenizer: Any = AutoTokenizer.from_pretrained(path, local_files_only=True)
            # Never feed more positions than the model has embeddings for.
            limits = [max_length, getattr(config, "max_position_embeddings", None)]
            limits.append(getattr(self._tokenizer, "model_max_length", None))
            self._max_length = min(n for n in limits if isinstance(n, int) and 0 < n < 1_000_000)
            onnx_path = path / ONNX_FILE
            self.runtime = "onnx" if use_onnx and onnx_path.is_file() else "torch"
            self._runtime: _Runtime = (
                _OnnxRuntime(onnx_path, threads) if self.runtime == "onnx" else _TorchRuntime(path)
            )
        except ModelLoadError:
            raise
        except Exception as error:  # transformers raises OSError, ValueError, KeyError...
            raise ModelLoadError(f"cannot load the model in {str(path)!r}: {error}") from error
        self._values = np.asarray(self.label_values, dtype=np.float64)

    def score(self, text: str, language: str | None = None) -> Sentiment:
        return self.score_batch([text])[0]

    def score_batch(
        self, texts: Sequence[str], languages: Sequence[str | None] | None = None
    ) -> list[Sentiment]:
        # The model reads the language from the text itself; `languages` is only checked.
        check_languages(texts, languages)
        scores = [0.0] * len(texts)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        for start in range(0, len(order), self._batch_size):
            chunk = order[start : start + self._batch_size]
            for i, score in zip(chunk, self._score_chunk([texts[i] for i in chunk]), strict=True):
                scores[i] = score
        return [Sentiment.from_score(score, self._neutral_band) for score in scores]

    def _score_chunk(self, texts: list[str]) -> list[float]:
        encoded = self._tokenizer(
            texts,
            padding=True,
            truncation=True,
            max_length=self._max_length,
            return_tensors="np",
        )
        arrays = {name: np.asarray(value, dtype=np.int64) for name, value in encoded.items()}
        probabilities = _softmax(self._runtime.logits(arrays))
        if probabilities.shape[-1] != len(self._values):
            raise ModelLoadError(
                f"the model returned {probabilities.shape[-1]} classes "
                f"but its config names {len(self._values)}"
            )
        expected = probabilities @ self._values
        if not np.isfinite(expected).all():
            raise ScoringError(f"the model in {str(self.model_dir)!r} returned non-finite logits")
        return [float(value) for value in expected]
