"""Train an ``IntentModel`` from labelled examples with scikit-learn.

``train_on_encoder`` fits the same classifier, calibrated the same way, on
the embeddings a local transformers model makes of the examples instead
(``[skill_finder] backend = "transformers"``).

Examples are a CSV file with a header and the columns ``text`` and
``label`` (``category`` is accepted for ``label``, as BANKING77 names it).
The classifier is a linear SVM (``LinearSVC``) over word 1-2-grams and
character 2-5-grams, TF-IDF weighted; its scores become a confidence by
temperature scaling fitted on the scores of held-out examples, so the
confidence that ``min_confidence`` compares means what it says.
"""

from __future__ import annotations

import csv
import io
import warnings
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse as sp
from scipy.optimize import minimize_scalar
from sklearn.exceptions import ConvergenceWarning
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.model_selection import StratifiedShuffleSplit
from sklearn.svm import LinearSVC

from intents.errors import ExamplesError
from intents.model import ANALYZERS, Block, IntentModel, softmax_nll

if TYPE_CHECKING:
    from intents.embedded import EmbeddingIntentModel
    from intents.encoder import Encoder

LABEL_COLUMNS = ("label", "category", "intent")
MAX_TEXT = 10_000


@dataclass(frozen=True, slots=True)
class TrainingOptions:
    c: float = 0.5
    """Inverse regularisation of the SVM."""
    char_min_df: int = 2
    """Character n-grams seen in fewer examples are dropped (smaller file)."""
    calibration_share: float = 0.2
    """Share of the examples held out once to fit the confidence on; 0: none
    (one extra fit on the rest, not k folds: a third of the training time)."""
    seed: int = 0


def read_examples(path: str | Path) -> tuple[list[str], list[str]]:
    """Texts and labels from a CSV file; raises ``ExamplesError`` naming the line."""
    try:
        content = Path(path).read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise ExamplesError(f"{path}: cannot read ({exc.strerror or exc})") from None
    except UnicodeDecodeError:
        raise ExamplesError(f"{path}: not UTF-8 text") from None
    texts: list[str] = []
    labels: list[str] = []
    reader = csv.DictReader(io.StringIO(content, newline=""))
    header = [h.strip().lower() for h in reader.fieldnames or []]
    label_column = next((c for c in LABEL_COLUMNS if c in header), None)
    if "text" not in header or label_column is None:
        raise ExamplesError(
            f"{path}: expected a header with the columns text,label; found {header}"
        )
    reader.fieldnames = header
    try:
        for row in reader:
            line = reader.line_num
            text = (row.get("text") or "").strip()
            label = (row.get(label_column) or "").strip()
            if not text and not label:
                continue
            if not text:
                raise ExamplesError(f"{path}, line {line}: the text is empty")
            if not label:
                raise ExamplesError(f"{path}, line {line}: the label is empty")
            if len(text) > MAX_TEXT:
                raise ExamplesError(f"{path}, line {line}: text over {MAX_TEXT} characters")
            texts.append(text)
            labels.append(label)
    except csv.Error as exc:
        raise ExamplesError(f"{path}, line {reader.line_num}: not valid CSV ({exc})") from None
    check_examples(texts, labels)
    return texts, labels


def check_examples(texts: Sequence[str], labels: Sequence[str]) -> None:
    if len(texts) != len(labels):
        raise ExamplesError(f"{len(texts)} texts but {len(labels)} labels")
    if len(set(labels)) < 2:
        raise ExamplesError(f"need examples of at least 2 intents, got {sorted(set(labels))}")


def _vectorizers(options: TrainingOptions) -> list[TfidfVectorizer]:
    return [
        TfidfVectorizer(analyzer=ANALYZERS["word"], sublinear_tf=True, dtype=np.float32),
        TfidfVectorizer(
            analyzer=ANALYZERS["char"],
            sublinear_tf=True,
            min_df=options.char_min_df,
            dtype=np.float32,
        ),
    ]


def _svm(options: TrainingOptions) -> LinearSVC:
    return LinearSVC(C=options.c, random_state=options.seed)


def _two_columns(scores: np.ndarray) -> np.ndarray:
    """A binary SVM scores one side; softmax over [-s/2, s/2] is its sigmoid."""
    return np.column_stack([-scores / 2, scores / 2]) if scores.ndim == 1 else scores


def _fit_scale(scores: np.ndarray, truth: np.ndarray) -> float:
    found = minimize_scalar(
        lambda log_scale: softmax_nll(scores, truth, float(np.exp(log_scale))),
        bounds=(-3.0, 6.0),
        method="bounded",
    )
    return float(np.exp(found.x))


def train(
    texts: Sequence[str], labels: Sequence[str], options: TrainingOptions | None = None
) -> IntentModel:
    """Fit a model on every example (and its confidence on held-out examples)."""
    options = options or TrainingOptions()
    check_examples(texts, labels)
    vectorizers = _vectorizers(options)
    matrix = sp.hstack([v.fit_transform(texts) for v in vectorizers]).tocsr()
    target = np.asarray(labels)
    svm, scale = _fit_linear(matrix, target, len(set(labels)), options)
    classes = [str(c) for c in svm.classes_]
    coef, intercept = _columns(svm)
    blocks: list[Block] = []
    offset = 0
    for name, vectorizer in zip(("word", "char"), vectorizers, strict=True):
        vocabulary = {str(k): int(v) for k, v in vectorizer.vocabulary_.items()}
        blocks.append(Block(name, vocabulary, vectorizer.idf_.astype(np.float32), offset))
        offset += len(vocabulary)
    meta = {"examples": len(texts), "intents": len(classes), "c": options.c}
    return IntentModel(classes, blocks, coef, intercept, scale, meta)


def _fit_linear(
    matrix: Any, target: np.ndarray, classes_count: int, options: TrainingOptions
) -> tuple[LinearSVC, float]:
    """The SVM on every example and the softmax scale fitted on held-out ones."""
    labels = [str(t) for t in target]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        svm = _svm(options).fit(matrix, target)
        scale = 1.0
        held = round(len(labels) * options.calibration_share)
        if held >= classes_count and min(Counter(labels).values()) >= 2:
            split = StratifiedShuffleSplit(1, test_size=held, random_state=options.seed)
            fit_at, held_at = next(split.split(matrix, target))
            scores = _svm(options).fit(matrix[fit_at], target[fit_at])
            held_out = scores.decision_function(matrix[held_at])
            truth = np.searchsorted(np.asarray([str(c) for c in svm.classes_]), target[held_at])
            scale = _fit_scale(_two_columns(held_out), truth)
    return svm, scale


def _columns(svm: LinearSVC) -> tuple[np.ndarray, np.ndarray]:
    """Coefficients (features x classes) and intercepts; a binary SVM's one
    score becomes two symmetric columns."""
    coef = svm.coef_.T.astype(np.float32)
    intercept = np.atleast_1d(svm.intercept_).astype(np.float32)
    if len(svm.classes_) == 2:
        coef = np.column_stack([-coef[:, 0] / 2, coef[:, 0] / 2])
        intercept = np.array([-intercept[0] / 2, intercept[0] / 2], np.float32)
    return coef, intercept


def train_on_encoder(
    texts: Sequence[str],
    labels: Sequence[str],
    encoder: Encoder,
    options: TrainingOptions | None = None,
) -> EmbeddingIntentModel:
    """Fit a linear classifier on the encoder's embeddings of the examples
    (and its confidence on held-out examples)."""
    from intents.embedded import EmbeddingIntentModel
    from intents.encoder import PROBE

    options = options or TrainingOptions()
    check_examples(texts, labels)
    embedded = encoder.embed(list(texts)).astype(np.float64)
    # Mean-pooled hidden states share a large common direction (they are
    # anisotropic); standardizing each dimension lets a linear model see
    # what differs between messages. Folded into the weights afterwards, so
    # classifying is one product with the raw embedding.
    mean = embedded.mean(axis=0)
    spread = embedded.std(axis=0) + 1e-6
    target = np.asarray(labels)
    classes = sorted(set(labels))
    svm, scale = _fit_linear((embedded - mean) / spread, target, len(classes), options)
    standard_coef, standard_intercept = _columns(svm)
    coef = (standard_coef / spread[:, None]).astype(np.float32)
    intercept = (standard_intercept - (mean / spread) @ standard_coef).astype(np.float32)
    meta = {
        "examples": len(texts),
        "intents": len(classes),
        "c": options.c,
        "encoder": encoder.model_dir.name,
    }
    probe = encoder.embed([PROBE])[0]
    return EmbeddingIntentModel(
        encoder, [str(c) for c in svm.classes_], coef, intercept, scale, probe, meta
    )
