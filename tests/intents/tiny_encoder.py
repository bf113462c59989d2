"""A tiny, randomly initialised BERT saved to a directory, so the skill
finder's transformers backend is tested without any download: two layers of
a few dimensions, and a WordPiece vocabulary of the words the test examples
use (saved with the model, as a real one ships it)."""

from __future__ import annotations

import re
from pathlib import Path

from tests.intents.examples import HELD_OUT, examples

SPECIAL = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")


def vocabulary() -> list[str]:
    texts = [t for t, _ in examples()] + list(HELD_OUT)
    words = sorted({w for t in texts for w in re.findall(r"\w+|[^\w\s]", t.lower())})
    return [*SPECIAL, *words, "hi", "hello", "zzqx", "blorp"]


def build_tiny_encoder(directory: Path, *, seed: int = 0, hidden: int = 32) -> Path:
    import torch
    from transformers import BertConfig, BertModel, BertTokenizer
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    directory.mkdir(parents=True, exist_ok=True)
    tokenizer = BertTokenizer(vocab={token: i for i, token in enumerate(vocabulary())})
    config = BertConfig(  # type: ignore[call-arg]
        vocab_size=len(vocabulary()),
        hidden_size=hidden,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=2 * hidden,
        max_position_embeddings=64,
    )
    torch.manual_seed(seed)
    model = BertModel(config).eval()  # type: ignore[no-untyped-call]
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory
