"""What the skill finder reads in a message: word and character n-grams.

Training (scikit-learn) and classification (``intents.model``) share these
analyzers, so a saved model sees exactly the features it was trained on.
Words give the topic ("card", "arrive"); character n-grams inside words
absorb typos and inflections ("arived", "arrival"), which customers' first
messages are full of.
"""

import re
import unicodedata
from itertools import pairwise

_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)?")
CHAR_MIN, CHAR_MAX = 2, 5


def normalize(text: str) -> str:
    """Case-folded, NFKC-normalized text (full-width digits, ligatures)."""
    return unicodedata.normalize("NFKC", text).casefold()


def words(text: str) -> list[str]:
    return _WORD.findall(normalize(text))


def word_grams(text: str) -> list[str]:
    """Word unigrams and bigrams, in order."""
    tokens = words(text)
    return tokens + [f"{a} {b}" for a, b in pairwise(tokens)]


def char_grams(text: str) -> list[str]:
    """Character n-grams (2 to 5) inside each word padded with spaces."""
    grams: list[str] = []
    for token in words(text):
        padded = f" {token} "
        size = len(padded)
        for n in range(CHAR_MIN, min(CHAR_MAX, size) + 1):
            grams.extend(padded[i : i + n] for i in range(size - n + 1))
    return grams
