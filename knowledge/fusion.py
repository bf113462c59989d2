"""Reciprocal rank fusion: one ranking of the articles out of several.

Each ranking gives an article ``1 / (RRF_K + rank)`` (rank 1 the best) and
the sums rank the fused list (Cormack, Clarke and Buettcher, SIGIR 2009).
Only ranks count, so rankings on different scales (BM25F plus n-grams,
cosine of embeddings) fuse without calibration; an article near the top of
both beats one first in one ranking and absent from the other.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

RRF_K = 60
"""The constant of the paper, which its authors found robust across
collections: the larger it is, the less the first places outweigh the rest.
Not tuned here (no local sentence model was at hand to tune it on)."""


def reciprocal_rank_fusion(
    rankings: Sequence[np.ndarray], size: int, k: float = RRF_K
) -> np.ndarray:
    """The fused score of each of ``size`` articles, scaled so that an
    article first in every ranking scores 1 (0: in no ranking).

    Args:
        rankings: per ranking, article rows best first (no row twice).
        size: how many articles there are; rows are below it.
        k: the rank constant.
    """
    fused = np.zeros(size, dtype=np.float64)
    for ranking in rankings:
        rows = np.asarray(ranking, dtype=np.int64)
        fused[rows] += 1.0 / (k + np.arange(1, len(rows) + 1))
    if rankings:
        fused *= (k + 1) / len(rankings)
    return fused
