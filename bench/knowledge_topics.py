"""Topic clustering quality against human intents, and its speed at 100,000 messages.

On BANKING77 (../shared/data/intents/), cluster the 10,003 customer messages
into 77 topics and measure agreement with the 77 human intents: adjusted
mutual information (AMI), adjusted Rand index (ARI) and purity. Ours is
``knowledge.topics.TopicModel`` (TF-IDF of words and word pairs, LSA, k-means);
the baseline is k-means on plain TF-IDF. Same k, same seed, same run.

Then the time to cluster 100,000 messages (the set ten times over, each copy
with a different word dropped so copies differ) into 20 topics.

Usage: .venv/bin/python bench/knowledge_topics.py [--data DIR]
"""

from __future__ import annotations

import argparse
import csv
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from sklearn.cluster import KMeans
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.metrics import adjusted_mutual_info_score, adjusted_rand_score

from knowledge.topics import TopicModel

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "intents"


def purity(truth: Sequence[str], found: Sequence[int]) -> float:
    groups: dict[int, Counter[str]] = {}
    for label, cluster in zip(truth, found, strict=True):
        groups.setdefault(cluster, Counter())[label] += 1
    return sum(c.most_common(1)[0][1] for c in groups.values()) / len(truth)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    args = parser.parse_args()
    with (args.data / "banking77_train.csv").open(newline="") as handle:
        rows = [(r["text"], r["category"]) for r in csv.DictReader(handle)]
    texts, truth = [t for t, _ in rows], [c for _, c in rows]
    k = len(set(truth))
    print(f"BANKING77: {len(texts)} messages, {k} intents, k = {k}")

    start = time.perf_counter()
    baseline = KMeans(k, random_state=0, n_init=3).fit_predict(
        TfidfVectorizer().fit_transform(texts)
    )
    base_s = time.perf_counter() - start
    start = time.perf_counter()
    ours = TopicModel(texts, k).assignments
    ours_s = time.perf_counter() - start

    print(f"{'method':<26} {'AMI':>6} {'ARI':>6} {'purity':>7} {'seconds':>8}")
    results = {}
    for name, found, seconds in (
        ("k-means on TF-IDF (base)", baseline, base_s),
        ("TF-IDF+LSA k-means (ours)", ours, ours_s),
    ):
        ami = adjusted_mutual_info_score(truth, found)
        ari = adjusted_rand_score(truth, found)
        results[name] = (ami, ari)
        print(
            f"{name:<26} {ami:>6.3f} {ari:>6.3f} {purity(truth, list(found)):>7.3f} {seconds:>8.1f}"
        )
    (b_ami, b_ari), (o_ami, o_ari) = results.values()
    print(f"ratio ours/base: AMI {o_ami / b_ami:.2f}x, ARI {o_ari / b_ari:.2f}x")

    big = []
    for copy in range(10):
        for text in texts:
            words = text.split()
            if len(words) > 3:
                del words[copy % len(words)]
            big.append(" ".join(words))
    start = time.perf_counter()
    model = TopicModel(big, 20)
    elapsed = time.perf_counter() - start
    print(f"\n{len(big):,} messages into {len(model.topics)} topics: {elapsed:.1f} s")
    for topic in model.topics[:5]:
        print(f"  {len(topic.members):>6}  {topic.label}")


if __name__ == "__main__":
    main()
