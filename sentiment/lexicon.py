"""The default backend: VADER tuned for customer-service chat.

`ChatAnalyzer` subclasses VADER's `SentimentIntensityAnalyzer` and keeps its
rules (booster words, negation, ALL CAPS, "but", punctuation emphasis) and
its summing and normalisation, adding what chat text needs:

- clause-local rules: negation and boosters stop at , ; : . ! ? (VADER's
  three-word window crosses them: "not bad, great" read "great" as negated);
- emoji normalised (variation selectors, skin tones, ZWJ sequences), and
  chat emoji VADER leaves at zero given a valence;
- elongated words read as their base word with emphasis ("sooo goood");
- trailing punctuation stripped from short words ("ok." is "ok");
- "like" as comparison or request is not fondness ("looks like it's lost");
- customer-service words, phrases and expected service events
  (`sentiment.chat_lexicon`);
- a whole message in capitals is shouting: its sentiment words get VADER's
  caps emphasis, and with none it reads as mild anger; a question mark run
  ("where is it???") with no sentiment words reads as impatience;
- VADER's "but" rule fixed (it located words by value, so repeated
  valences were weighted on the wrong side of "but").

Also here: `VaderScorer`, plain VADER, the baseline the benchmarks compare to.
"""

from __future__ import annotations

import re
import string
from collections.abc import Sequence
from typing import Any, Final

from vaderSentiment.vaderSentiment import (
    B_INCR,
    BOOSTER_DICT,
    N_SCALAR,
    NEGATE,
    SentimentIntensityAnalyzer,
)

from sentiment import chat_lexicon
from sentiment.scorer import DEFAULT_NEUTRAL_BAND, Sentiment, check_languages

_CLAUSE_END: Final = frozenset(".,;:!?")
_CLOSERS: Final = "\"')]}*"
_ELONGATED: Final = re.compile(r"(\w)\1{2,}")
_QUESTION_RUN: Final = re.compile(r"\?\s*[?!]|!\s*\?")
_NEGATORS: Final = frozenset(NEGATE) | chat_lexicon.EXTRA_NEGATIONS
#: Raw valences of the two no-sentiment cues (VADER scale), kept mild: a
#: shouted or impatient question is annoyed, not furious.
_SHOUT_VALENCE: Final = -1.0
_IMPATIENCE_VALENCE: Final = -0.9
_PHRASE_JOINER: Final = "_"


def _phrase_token(words: Sequence[str]) -> str:
    return _PHRASE_JOINER.join(words)


def _is_negator(word: str) -> bool:
    return word in _NEGATORS or word == "no" or "n't" in word


class _Clause:
    """The two attributes of VADER's `SentiText` that its rules read, for one clause.

    Handing VADER's per-word rules a clause instead of the whole text is what
    keeps negation and boosters from crossing punctuation.
    """

    __slots__ = ("is_cap_diff", "words_and_emoticons")

    def __init__(self, words: list[str], is_cap_diff: bool) -> None:
        self.words_and_emoticons = words
        self.is_cap_diff = is_cap_diff


class ChatAnalyzer(SentimentIntensityAnalyzer):  # type: ignore[misc]
    """VADER with the customer-service chat rules described in the module docstring.

    `polarity_scores` keeps VADER's contract (a dict with neg, neu, pos and
    compound), so it can stand in wherever VADER is used.
    """

    def __init__(self) -> None:
        super().__init__()
        self.lexicon.update(chat_lexicon.WORDS)
        self._phrases: dict[tuple[str, ...], str] = {}
        for phrase, valence in chat_lexicon.PHRASES.items():
            words = tuple(phrase.split())
            self._phrases[words] = _phrase_token(words)
            self.lexicon[_phrase_token(words)] = valence
        for phrase, word in chat_lexicon.NEGATION_ALIASES.items():
            self._phrases[tuple(phrase.split())] = word
        self._max_phrase = max(len(words) for words in self._phrases)
        self._phrase_starts = frozenset(words[0] for words in self._phrases)
        self._emoji_table = self._make_emoji_table()

    def _make_emoji_table(self) -> dict[int, str]:
        """Map each emoji code point to " description " (or a scored token), for str.translate."""
        table: dict[int, str] = {}
        for emoji, description in self.emojis.items():
            if len(emoji) == 1:
                table[ord(emoji)] = f" {description} "
        for emoji, valence in chat_lexicon.EMOJI.items():
            token = f"emoji-{ord(emoji):x}"
            self.lexicon[token] = valence
            table[ord(emoji)] = f" {token} "
        for codepoint in chat_lexicon.EMOJI_DECORATIONS:
            table[codepoint] = ""
        table[chat_lexicon.ZWJ] = " "
        return table

    # -- tokenising -----------------------------------------------------------------

    def _word(self, token: str) -> str:
        """Strip surrounding punctuation unless the token is an emoticon or a lexicon entry."""
        if token.lower() in self.lexicon:
            return token
        stripped = token.strip(string.punctuation)
        return stripped if stripped else token

    def _base_form(self, lower: str) -> str | None:
        """The known word an elongated token stands for ("goooood" -> "good"), if any."""
        for repeat in (r"\1\1", r"\1"):
            candidate = _ELONGATED.sub(repeat, lower)
            if candidate in self.lexicon or candidate in BOOSTER_DICT or candidate in _NEGATORS:
                return candidate
        return None

    def _clauses(self, text: str) -> tuple[list[list[str]], set[tuple[int, int]]]:
        """Split text into clauses of words; also return (clause, index) of elongated words."""
        clauses: list[list[str]] = []
        current: list[str] = []
        emphasised: set[tuple[int, int]] = set()
        for raw in text.split():
            word = self._word(raw)
            lower = word.lower()
            if lower not in self.lexicon and _ELONGATED.search(lower):
                base = self._base_form(lower)
                if base is not None:
                    emphasised.add((len(clauses), len(current)))
                    word = base.upper() if word.isupper() else base
            current.append(word)
            if (
                raw[-1:] in _CLAUSE_END or raw.rstrip(_CLOSERS)[-1:] in _CLAUSE_END
            ) and raw.lower() not in self.lexicon:
                clauses.append(current)
                current = []
        if current:
            clauses.append(current)
        return [self._merge_phrases(clause) for clause in clauses], emphasised

    def _merge_phrases(self, words: list[str]) -> list[str]:
        """Replace known multi-word phrases by one token, longest match first."""
        lowered = [word.lower() for word in words]
        if not self._phrase_starts.intersection(lowered):
            return words
        merged: list[str] = []
        i = 0
        while i < len(words):
            if lowered[i] in self._phrase_starts:
                for length in range(min(self._max_phrase, len(words) - i), 1, -1):
                    token = self._phrases.get(tuple(lowered[i : i + length]))
                    if token is not None:
                        shouted = all(word.isupper() for word in words[i : i + length])
                        merged.append(token.upper() if shouted else token)
                        i += length
                        break
                else:
                    merged.append(words[i])
                    i += 1
            else:
                merged.append(words[i])
                i += 1
        return merged

    # -- scoring ---------------------------------------------------------------------

    def polarity_scores(self, text: str) -> dict[str, float]:
        """Score `text` as VADER does, with the chat rules applied."""
        text = text.translate(self._emoji_table)
        clauses, emphasised = self._clauses(text)
        words = [word for clause in clauses for word in clause]
        letter_words = [word for word in words if sum(ch.isalpha() for ch in word) >= 2]
        shouting = len(letter_words) >= 2 and all(word.isupper() for word in letter_words)
        some_caps = any(word.isupper() for word in words) and not all(
            word.isupper() for word in words
        )
        is_cap_diff = shouting or some_caps

        sentiments: list[float] = []
        for c, clause in enumerate(clauses):
            view = _Clause(clause, is_cap_diff)
            lowered = [word.lower() for word in clause]
            # An elongated booster ("sooo bad") passes its emphasis to the next
            # sentiment word within VADER's three-word booster reach.
            boosted_until = -1
            for i, item in enumerate(clause):
                lower = lowered[i]
                if lower in BOOSTER_DICT and (c, i) in emphasised:
                    boosted_until = i + 3
                if lower in BOOSTER_DICT or (
                    lower == "kind" and i + 1 < len(clause) and lowered[i + 1] == "of"
                ):
                    sentiments.append(0.0)
                    continue
                if lower in chat_lexicon.EXPECTED_EVENTS:
                    stated, negated = chat_lexicon.EXPECTED_EVENTS[lower]
                    window = lowered[max(0, i - 3) : i]
                    sentiments.append(negated if any(map(_is_negator, window)) else stated)
                    continue
                if (
                    lower == "like"
                    and i > 0
                    and lowered[i - 1] in chat_lexicon.LIKE_NOT_FONDNESS_AFTER
                ):
                    sentiments.append(0.0)
                    continue
                self.sentiment_valence(0.0, view, item, i, sentiments)
                if ((c, i) in emphasised or i <= boosted_until) and sentiments[-1] != 0:
                    sentiments[-1] += B_INCR if sentiments[-1] > 0 else -B_INCR
                    boosted_until = -1

        sentiments = self._but_check(words, sentiments)
        if sentiments and not any(sentiments):
            if shouting:
                sentiments.append(_SHOUT_VALENCE)
            if _QUESTION_RUN.search(text):
                sentiments.append(_IMPATIENCE_VALENCE)
        result: dict[str, float] = self.score_valence(sentiments, text)
        return result

    def _negation_check(
        self, valence: float, words_and_emoticons: list[str], start_i: int, i: int
    ) -> float:
        """VADER's negation check, plus the negators its list lacks ("nobody")."""
        valence = float(
            SentimentIntensityAnalyzer._negation_check(valence, words_and_emoticons, start_i, i)
        )
        if words_and_emoticons[i - (start_i + 1)].lower() in chat_lexicon.EXTRA_NEGATIONS:
            valence *= N_SCALAR
        return valence

    @staticmethod
    def _but_check(words_and_emoticons: list[str], sentiments: list[float]) -> list[float]:
        """VADER's "but" rule (halve before, 1.5x after), by position rather than by value."""
        lowered = [str(word).lower() for word in words_and_emoticons]
        if "but" not in lowered:
            return sentiments
        but_index = lowered.index("but")
        return [
            s * 0.5 if i < but_index else s * 1.5 if i > but_index else s
            for i, s in enumerate(sentiments)
        ]


class _VaderBackedScorer:
    """A `Scorer` over any analyzer with VADER's `polarity_scores` contract."""

    name: str
    languages: frozenset[str] = frozenset({"en"})

    def __init__(self, analyzer: Any, neutral_band: float = DEFAULT_NEUTRAL_BAND) -> None:
        self._analyzer = analyzer
        self._neutral_band = neutral_band

    def score(self, text: str, language: str | None = None) -> Sentiment:
        if language is not None and language.split("-")[0].lower() not in self.languages:
            text = self._language_independent_cues(text)
        compound = float(self._analyzer.polarity_scores(text)["compound"])
        return Sentiment.from_score(compound, self._neutral_band)

    def score_batch(
        self, texts: Sequence[str], languages: Sequence[str | None] | None = None
    ) -> list[Sentiment]:
        # Pure Python: batching saves nothing per text, so it is a plain loop.
        return [
            self.score(text, language)
            for text, language in zip(texts, check_languages(texts, languages), strict=True)
        ]

    def _language_independent_cues(self, text: str) -> str:
        """Keep only emoji and emoticons: the words of a language the lexicon cannot read
        would be noise (a Spanish "no" is not an English negation)."""
        emojis: dict[str, str] = self._analyzer.emojis
        lexicon: dict[str, float] = self._analyzer.lexicon
        kept = [
            token
            for token in text.split()
            if (token in lexicon and not token.isalpha()) or any(ch in emojis for ch in token)
        ]
        return " ".join(kept)


class LexiconScorer(_VaderBackedScorer):
    """The default backend: `ChatAnalyzer`. English; other languages score emoji and emoticons."""

    name = "lexicon"

    def __init__(self, neutral_band: float = DEFAULT_NEUTRAL_BAND) -> None:
        super().__init__(ChatAnalyzer(), neutral_band)


class VaderScorer(_VaderBackedScorer):
    """Plain VADER 3.3.2, unchanged: the baseline the benchmarks measure against."""

    name = "vader"

    def __init__(self, neutral_band: float = DEFAULT_NEUTRAL_BAND) -> None:
        super().__init__(SentimentIntensityAnalyzer(), neutral_band)
