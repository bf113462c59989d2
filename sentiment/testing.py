"""Tiny, locally built transformers models for tests and benchmarks.

No model hub is reachable (or wanted) in tests, so the transformers backend is
exercised on a model made here: a BERT with a handful of dimensions, a
hand-written WordPiece vocabulary, and optionally its ONNX export. Its
classifier can be pinned so that its output probabilities are known exactly,
which is what lets a test check the label-to-score mapping; left random, it
still gives each text its own logits, which is what batching tests need.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

from sentiment.transformer import ONNX_FILE

SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
WORDS = (
    "the", "service", "is", "was", "not", "good", "bad", "great", "awful", "my",
    "order", "still", "waiting", "thanks", "help", "refund", "i", "you", "it",
    "love", "hate", "fixed", "broken", "slow", "fast", "very", "##s", "##ed", "##ing",
)  # fmt: skip


def build_tiny_model(
    directory: str | Path,
    labels: Sequence[str] = ("negative", "neutral", "positive"),
    *,
    probabilities: Sequence[float] | None = None,
    seed: int = 0,
    init_range: float = 0.5,
    onnx: bool = False,
) -> Path:
    """Save a tiny BERT sequence classifier with `labels` to `directory` and return it.

    Args:
        labels: class names in index order (become `id2label`).
        probabilities: if given, the classifier ignores its input and always
            predicts exactly these class probabilities.
        seed: torch seed for the random weights.
        init_range: std of the random weights; large enough that different
            texts get visibly different logits.
        onnx: also export `model.onnx` (needs the `onnx` package).
    """
    import torch
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizer
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()  # type: ignore[no-untyped-call]

    path = Path(directory)
    path.mkdir(parents=True, exist_ok=True)
    vocab = {token: i for i, token in enumerate((*SPECIAL_TOKENS, *WORDS))}
    tokenizer = BertTokenizer(vocab=vocab)
    config = BertConfig(  # type: ignore[call-arg]
        vocab_size=len(vocab),
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=64,
        initializer_range=init_range,
        num_labels=len(labels),
        id2label=dict(enumerate(labels)),
        label2id={label: i for i, label in enumerate(labels)},
    )
    torch.manual_seed(seed)
    model = BertForSequenceClassification(config).eval()  # type: ignore[no-untyped-call]
    if probabilities is not None:
        if len(probabilities) != len(labels) or not math.isclose(sum(probabilities), 1.0):
            raise ValueError("probabilities must sum to 1, one per label")
        with torch.no_grad():
            model.classifier.weight.zero_()
            model.classifier.bias.copy_(torch.log(torch.tensor(probabilities)))
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    if onnx:
        export_onnx(model, tokenizer, path / ONNX_FILE)
    return path


def export_onnx(model: object, tokenizer: object, target: Path) -> None:
    """Export `model` with dynamic batch and sequence axes, inputs named as the tokenizer's."""
    import inspect
    import warnings

    import torch

    encoded = tokenizer(["the service is good", "bad"], padding=True, return_tensors="pt")  # type: ignore[operator]
    # The exporter passes inputs positionally: order them as forward() takes them.
    parameters = list(inspect.signature(model.forward).parameters)  # type: ignore[attr-defined]
    names = sorted(encoded.keys(), key=parameters.index)
    axes = {name: {0: "batch", 1: "sequence"} for name in names}
    with warnings.catch_warnings():
        # The TorchScript exporter warns about itself and about tracing; the
        # traced graph is checked against eager torch by the tests.
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model,  # type: ignore[arg-type]
            tuple(encoded[name] for name in names),
            str(target),
            input_names=names,
            output_names=["logits"],
            dynamic_axes={**axes, "logits": {0: "batch"}},
            opset_version=17,
            dynamo=False,
        )
