"""Suggested-article accuracy and latency, as smart assist ranks them.

On BANKING77 (../shared/data/intents/), each intent is one article: its name
as the title and ``--per-article`` of its training messages (default 10,
one per line) as the body. The held-out messages are the customer messages;
the suggestion is right when the intent's article is ranked first (top-1)
or in the first three (top-3). 5-fold cross-validation, stratified by
intent; an article only ever holds messages of the training folds.

Ranked by:
- ``fused``: what the server suggests with (``knowledge.suggest``): BM25F
  over Porter-stemmed words fused with character 3/4-gram TF-IDF cosine,
  with the defaults the server runs.
- ``fused-tuned``: the same, its parameters (k1, title weight, character
  weight) chosen per outer fold on that fold's training data only: the
  articles as above, the remaining training messages as queries. This is
  the estimate free of any choice made by looking at the held-out messages.
- ``bm25f-words``: the fused ranking without characters.
- ``fts5-bm25``: what staff and public search do on SQLite: the same query
  words (``knowledge.text.terms``), an FTS5 table with porter stemming,
  BM25 with the store's column weights; in memory.
- ``keywords`` (baseline): plain keyword matching, the number of the
  message's words the article contains.
- ``fused+encoder`` (with ``--encoder DIR``, a local transformers sentence
  model directory): ``fused`` and the cosine of the encoder's embeddings,
  by reciprocal rank fusion, as the server ranks with ``[knowledge]
  encoder``. Each message is embedded once for all folds; with it the
  10,000-article timings add the index build (every article embedded) and
  a query including the embedding of the message.

Then latency at 10,000 synthetic articles (topical: an intent's name and 8
of its messages each; or uniformly random words, a worst case): one
suggestion query p50/p99, building the index, and rebuilding it after one
article changed. Last, end to end on a real server (SQLite) holding 10,000
published articles and some closed conversations: from a customer's message
sent over the visitor websocket to the ``suggestions`` frame at the agent's
websocket (``--no-server`` skips it).

Usage: .venv/bin/python bench/knowledge_suggest.py [--data DIR] [--per-article N]
       [--no-server] [--samples N] [--profile FILE] [--encoder DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import random
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from knowledge.bm25 import Bm25Params  # noqa: E402
from knowledge.suggest import (  # noqa: E402
    EMBEDDED_QUERY_CHARS,
    Embed,
    Entry,
    SuggestionIndex,
    SuggestParams,
)
from knowledge.text import fts5_match, terms  # noqa: E402

DEFAULT_DATA = ROOT.parent / "shared" / "data" / "intents"
FOLDS = 5
TUNE_QUERIES = 1500
TUNE_GRID = [
    SuggestParams(Bm25Params(k1=k1, weights=(title, 2.0, 1.0)), char_weight)
    for k1 in (1.2, 2.0)
    for title in (3.0, 5.0)
    for char_weight in (0.3, 0.4, 0.5)
]
Rows = list[tuple[str, str]]


def load(data: Path) -> Rows:
    with (data / "banking77_train.csv").open(newline="") as handle:
        return [(row["text"], row["category"]) for row in csv.DictReader(handle)]


def folds(rows: Rows, k: int, seed: int = 7) -> list[list[int]]:
    by_intent: dict[str, list[int]] = defaultdict(list)
    for i, (_, intent) in enumerate(rows):
        by_intent[intent].append(i)
    rng = random.Random(seed)
    out: list[list[int]] = [[] for _ in range(k)]
    for members in by_intent.values():
        rng.shuffle(members)
        for j, i in enumerate(members):
            out[j % k].append(i)
    return out


def title(intent: str) -> str:
    return intent.replace("_", " ")


class Fts:
    def __init__(self, articles: dict[str, str]) -> None:
        self.db = sqlite3.connect(":memory:")
        self.db.execute(
            "CREATE VIRTUAL TABLE article_fts USING fts5("
            "title, body, keywords, tokenize = 'porter unicode61')"
        )
        self.names = list(articles)
        self.db.executemany(
            "INSERT INTO article_fts (rowid, title, body, keywords) VALUES (?, ?, ?, '')",
            [(i + 1, title(name), text) for i, (name, text) in enumerate(articles.items())],
        )

    def rank(self, message: str, limit: int = 3) -> list[str]:
        words = terms(message[-1000:])
        if not words:
            return []
        rows = self.db.execute(
            "SELECT rowid FROM article_fts WHERE article_fts MATCH ? "
            "ORDER BY bm25(article_fts, 10.0, 1.0, 5.0) LIMIT ?",
            (fts5_match(words), limit),
        ).fetchall()
        return [self.names[r[0] - 1] for r in rows]


class Memory:
    """What the server ranks suggestions with: ``knowledge.suggest.SuggestionIndex``
    (with ``embed``: fused with the embeddings, as with ``[knowledge] encoder``)."""

    def __init__(
        self,
        articles: dict[str, str],
        params: SuggestParams | None = None,
        previous: Memory | None = None,
        embed: Embed | None = None,
    ) -> None:
        self.index: SuggestionIndex = SuggestionIndex(
            [Entry(name, title(name), "", text) for name, text in articles.items()],
            previous=None if previous is None else previous.index,
            params=params,
            embed=embed,
        )

    def rank(self, message: str, limit: int = 3) -> list[str]:
        vector = self.index.query_vector(message)
        return [e.id for e, _ in self.index.query(message, k=limit, vector=vector)]


class Remembered:
    """An encoder's ``embed`` that embeds each distinct text once: the
    messages are embedded in one batch up front, then looked up per fold."""

    def __init__(self, embed: Embed) -> None:
        self.embed = embed
        self._rows: dict[str, np.ndarray] = {}

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        missing = [t for t in dict.fromkeys(texts) if t not in self._rows]
        if missing:
            self._rows.update(zip(missing, self.embed(missing), strict=True))
        return np.stack([self._rows[t] for t in texts])


def encoder_embed(directory: Path, rows: Rows) -> Remembered:
    from intents.encoder import load_encoder

    start = time.perf_counter()
    embed = Remembered(load_encoder(directory).embed)
    embed([text[-EMBEDDED_QUERY_CHARS:] for text, _ in rows])
    print(f"embedded {len(rows)} messages with {directory} in {time.perf_counter() - start:.1f} s")
    return embed


class Keywords:
    def __init__(self, articles: dict[str, str]) -> None:
        self.vocab = {
            name: set(terms(title(name) + " " + text, limit=10**6))
            for name, text in articles.items()
        }

    def rank(self, message: str, limit: int = 3) -> list[str]:
        words = set(terms(message))
        scored = sorted(self.vocab, key=lambda n: -len(words & self.vocab[n]))
        return scored[:limit]


def articles_of(rows: Rows, indices: list[int], per_article: int) -> dict[str, str]:
    texts: dict[str, list[str]] = defaultdict(list)
    for i in indices:
        text, intent = rows[i]
        texts[intent].append(text)
    return {
        intent: "\n".join(msgs if per_article == 0 else msgs[:per_article])
        for intent, msgs in sorted(texts.items())
    }


def hits(ranker: Memory | Fts | Keywords, queries: list[tuple[str, str]]) -> tuple[int, int]:
    top1 = top3 = 0
    for text, intent in queries:
        top = ranker.rank(text)
        top1 += top[:1] == [intent]
        top3 += intent in top
    return top1, top3


def tune(rows: Rows, training: list[int], per_article: int) -> SuggestParams:
    """The grid point with the best top-3 (then top-1) on ``training`` alone:
    articles from each intent's first messages there, queries from the rest."""
    used: set[int] = set()
    count: dict[str, int] = defaultdict(int)
    for i in training:
        intent = rows[i][1]
        if per_article == 0 or count[intent] < per_article:
            used.add(i)
            count[intent] += 1
    if per_article == 0:  # every training message is in an article: hold some out
        rest = random.Random(11).sample(sorted(used), len(used) // 5)
        used -= set(rest)
    else:
        rest = [i for i in training if i not in used]
    queries = [rows[i] for i in random.Random(5).sample(rest, min(TUNE_QUERIES, len(rest)))]
    articles = articles_of(rows, sorted(used), 0)
    best: tuple[tuple[int, int], SuggestParams] | None = None
    previous = None
    for params in TUNE_GRID:
        previous = Memory(articles, params, previous)
        top1, top3 = hits(previous, queries)
        if best is None or (top3, top1) > best[0]:
            best = ((top3, top1), params)
    assert best is not None
    return best[1]


def evaluate(
    rows: Rows, per_article: int, embed: Embed | None = None
) -> tuple[dict[str, tuple[float, float]], list[str]]:
    names = ["fused", "fused-tuned", "bm25f-words", "fts5-bm25", "keywords"]
    if embed is not None:
        names.append("fused+encoder")
    found = {name: [0, 0] for name in names}
    chosen = []
    total = 0
    parts = folds(rows, FOLDS)
    for held in parts:
        held_set = set(held)
        training = [i for i in range(len(rows)) if i not in held_set]
        articles = articles_of(rows, training, per_article)
        tuned = tune(rows, training, per_article)
        chosen.append(f"k1={tuned.bm25.k1} title={tuned.bm25.weights[0]} chars={tuned.char_weight}")
        fused = Memory(articles)
        rankers: dict[str, Memory | Fts | Keywords] = {
            "fused": fused,
            "fused-tuned": Memory(articles, tuned),
            "bm25f-words": Memory(articles, replace(SuggestParams(), char_weight=0.0), fused),
            "fts5-bm25": Fts(articles),
            "keywords": Keywords(articles),
        }
        if embed is not None:
            rankers["fused+encoder"] = Memory(articles, previous=fused, embed=embed)
        queries = [rows[i] for i in held]
        total += len(queries)
        for name, ranker in rankers.items():
            top1, top3 = hits(ranker, queries)
            found[name][0] += top1
            found[name][1] += top3
    return {name: (h[0] / total, h[1] / total) for name, h in found.items()}, chosen


def synthetic(rows: Rows, topical: bool, n_articles: int = 10_000) -> dict[str, str]:
    """``topical``: each article an intent's name and 8 of its messages, so
    words cluster by subject as in a real knowledge base. Otherwise 120 words
    drawn uniformly from the whole vocabulary: a worst case where a query
    matches about half of all articles."""
    rng = random.Random(3)
    if topical:
        by_intent: dict[str, list[str]] = defaultdict(list)
        for text, intent in rows:
            by_intent[intent].append(text)
        intents = sorted(by_intent)
        articles = {}
        for i in range(n_articles):
            intent = intents[i % len(intents)]
            articles[f"{intent}#{i}"] = "\n".join(rng.sample(by_intent[intent], 8))
        return articles
    vocab = sorted({w for text, _ in rows for w in terms(text, limit=10**6)})
    return {f"a{i}": " ".join(rng.choices(vocab, k=120)) for i in range(n_articles)}


def percentiles(samples: list[float]) -> tuple[float, float]:
    samples = sorted(samples)
    return statistics.median(samples), samples[max(0, int(len(samples) * 0.99) - 1)]


def latency(rows: Rows, articles: dict[str, str], ranker: Callable[[str], object]) -> list[float]:
    rng = random.Random(4)
    samples = []
    for text, _ in rng.sample(rows, 2_000):
        start = time.perf_counter()
        ranker(text)
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def index_timings(rows: Rows, embed: Embed | None = None) -> None:
    """``embed``: also time the index with an encoder (embedding every
    article at build, and each message in the query)."""
    print("\nat 10,000 articles (target: a suggestion update under 20 ms p99)")
    for topical, kind in ((True, "topical"), (False, "random words")):
        articles = synthetic(rows, topical)
        start = time.perf_counter()
        memory = Memory(articles)
        built = time.perf_counter() - start
        changed = dict(articles)
        first = next(iter(changed))
        changed[first] = changed[first] + " edited"
        start = time.perf_counter()
        Memory(changed, previous=memory)
        rebuilt = time.perf_counter() - start
        p50, p99 = percentiles(latency(rows, articles, lambda t, m=memory: m.index.query(t, k=5)))
        print(
            f"  fused query, {kind:<13} p50 {p50:6.2f} ms  p99 {p99:6.2f} ms   "
            f"build {built:5.2f} s, rebuild after one edit {rebuilt:5.2f} s"
        )
        if topical:
            fts = Fts(articles)
            p50, p99 = percentiles(latency(rows, articles, lambda t, f=fts: f.rank(t, 5)))
            print(f"  fts5-bm25 query, {kind:<9} p50 {p50:6.2f} ms  p99 {p99:6.2f} ms")
        if topical and embed is not None:
            start = time.perf_counter()
            dense = Memory(articles, embed=embed)
            built = time.perf_counter() - start
            p50, p99 = percentiles(latency(rows, articles, partial(dense.rank, limit=5)))
            print(
                f"  fused+encoder query (embedding the message included), {kind} "
                f"p50 {p50:6.2f} ms  p99 {p99:6.2f} ms   build {built:6.1f} s"
            )


# -- end to end, on a running server ----------------------------------------------

PASSWORD = "benchmark password"


def seed_articles(database_url: str, articles: dict[str, str]) -> None:
    """Write published articles straight into the (migrated) database, as
    10,000 trips through the HTTP lifecycle would leave them."""
    from sqlalchemy import create_engine, insert, text

    from knowledge import tables as t

    now = datetime.now(UTC)
    engine = create_engine(database_url)
    with engine.begin() as conn:
        for start in range(0, len(articles), 1000):
            chunk = list(articles.items())[start : start + 1000]
            conn.execute(
                insert(t.articles),
                [
                    {
                        "id": f"art_bench{i + start}",
                        "status": "published",
                        "version": 1,
                        "last_version": 1,
                        "published_version": 1,
                        "language": "en",
                        "product": None,
                        "translation_of": None,
                        "publish_at": None,
                        "expires_at": None,
                        "views": 0,
                        "helpful": 0,
                        "not_helpful": 0,
                        "created_by": None,
                        "created_at": now,
                        "updated_at": now,
                    }
                    for i in range(len(chunk))
                ],
            )
            conn.execute(
                insert(t.article_versions),
                [
                    {
                        "article_id": f"art_bench{i + start}",
                        "number": 1,
                        "title": title(name.split("#")[0]),
                        "body": body,
                        "keywords": [],
                        "keywords_text": "",
                        "plain": body,
                        "author_id": None,
                        "created_at": now,
                        "updated_at": now,
                    }
                    for i, (name, body) in enumerate(chunk)
                ],
            )
        conn.execute(
            text(
                "INSERT INTO article_fts (rowid, title, body, keywords) "
                "SELECT id, title, plain, keywords_text FROM article_versions"
            )
        )
    engine.dispose()


async def end_to_end(
    server_http: str,
    server_ws: str,
    rows: Rows,
    samples: int,
    measuring: Callable[[], object] = lambda: None,
) -> tuple[list[float], list[float]]:
    import httpx
    import websockets

    rng = random.Random(6)
    async with httpx.AsyncClient(base_url=server_http, timeout=60) as http:
        tok = (
            await http.post(
                "/api/v1/auth/token", json={"username": "bench-agent", "password": PASSWORD}
            )
        ).json()["access_token"]
        auth = {"Authorization": f"Bearer {tok}"}

        async def conversation() -> tuple[str, str]:
            session = (await http.post("/api/v1/webchat/sessions", json={"name": "v"})).json()
            cid = session["conversation_id"]
            (
                await http.post(f"/api/v1/conversations/{cid}/assign", headers=auth)
            ).raise_for_status()
            return cid, session["visitor_token"]

        async def say(ws: websockets.ClientConnection, text: str) -> None:
            frame = {"type": "message", "client_msg_id": f"b{rng.random()}", "text": text}
            await ws.send(json.dumps(frame))

        # Closed conversations, so similar-conversation search has work to do.
        for text, _ in rng.sample(rows, 300):
            cid, visitor_token = await conversation()
            async with websockets.connect(server_ws + "/ws/visitor") as v:
                await v.send(json.dumps({"type": "hello", "token": visitor_token}))
                await v.recv()
                await say(v, text)
                while json.loads(await v.recv())["type"] != "ack":
                    pass
            (await http.post(f"/api/v1/conversations/{cid}/close", headers=auth)).raise_for_status()

        open_ = [await conversation() for _ in range(5)]
        agent = await websockets.connect(server_ws + "/ws/agent", max_queue=None)
        await agent.send(json.dumps({"type": "hello", "token": tok}))
        while json.loads(await agent.recv())["type"] != "welcome":
            pass
        visitors = []
        for _, visitor_token in open_:
            v = await websockets.connect(server_ws + "/ws/visitor", max_queue=None)
            await v.send(json.dumps({"type": "hello", "token": visitor_token}))
            await v.recv()
            visitors.append(v)

        async def drain(v: websockets.ClientConnection) -> None:
            async for _ in v:
                pass

        drains = [asyncio.create_task(drain(v)) for v in visitors]
        delivered: list[float] = []
        suggested: list[float] = []
        warmup = 10
        for n in range(samples + warmup):
            if n == warmup:
                measuring()
            which = n % len(open_)
            cid = open_[which][0]
            start = time.perf_counter()
            await say(visitors[which], rng.choice(rows)[0])
            message_at = None
            while True:
                frame = json.loads(await asyncio.wait_for(agent.recv(), 30))
                if frame.get("conversation_id") != cid:
                    continue
                if frame.get("type") == "message" and message_at is None:
                    message_at = time.perf_counter()
                if frame.get("type") == "suggestions":
                    break
            if n >= warmup and message_at is not None:
                delivered.append((message_at - start) * 1000)
                suggested.append((time.perf_counter() - start) * 1000)
        for task in drains:
            task.cancel()
        await agent.close()
        for v in visitors:
            await v.close()
        return delivered, suggested


def server_timings(rows: Rows, samples: int, profile: Path | None = None) -> None:
    """``profile``: py-spy samples the server while it is measured, written
    there as collapsed stacks (``flamegraph.pl`` or speedscope read them)."""
    from tests.support.server import Server

    articles = synthetic(rows, topical=True)
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/bench.sqlite3"
        srv = Server(
            Path(tmp),
            url,
            SWITCHBOARD_LIMITS__FRAMES_PER_SECOND="100000",
            SWITCHBOARD_LIMITS__FRAME_BURST="100000",
        )
        srv.add_user("bench-agent", PASSWORD, "agent")
        seed_articles(url, articles)
        with srv:
            spy: list[subprocess.Popen[bytes]] = []

            def measuring() -> None:
                if profile is not None and srv.process is not None:
                    command = ["py-spy", "record", "--pid", str(srv.process.pid), "--rate", "100"]
                    command += ["--format", "raw", "--output", str(profile), "--nonblocking"]
                    spy.append(
                        subprocess.Popen(
                            [str(Path(sys.executable).parent / command[0]), *command[1:]]
                        )
                    )

            delivered, suggested = asyncio.run(
                end_to_end(srv.http, srv.ws, rows, samples, measuring)
            )
            for process in spy:
                process.send_signal(signal.SIGINT)
                process.wait(30)
    print(
        f"  end to end on a server (SQLite; 10,000 articles, 300 closed conversations; "
        f"{len(suggested)} customer messages, one at a time):"
    )
    for what, samples_ in (
        ("customer message -> the agent has the message", delivered),
        ("customer message -> the agent has its suggestions", suggested),
        (
            "the suggestions' lag behind the message",
            [b - a for a, b in zip(delivered, suggested, strict=True)],
        ),
    ):
        p50, p99 = percentiles(samples_)
        print(f"    {what:<50} p50 {p50:7.2f} ms  p99 {p99:7.2f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--per-article", type=int, default=10)
    parser.add_argument("--no-server", action="store_true")
    parser.add_argument("--samples", type=int, default=500)
    parser.add_argument("--profile", type=Path, help="py-spy the server into this file")
    parser.add_argument(
        "--encoder", type=Path, help="a local transformers model directory: also fused+encoder"
    )
    args = parser.parse_args()
    rows = load(args.data)
    embed = None if args.encoder is None else encoder_embed(args.encoder, rows)
    print(
        f"BANKING77: {len(rows)} messages, {len({c for _, c in rows})} intents, "
        f"{FOLDS}-fold cross-validation"
    )
    for per in dict.fromkeys([args.per_article, 0]):
        label = "all fold messages" if per == 0 else f"{per} messages"
        results, chosen = evaluate(rows, per, embed)
        print(f"\narticle = intent name + {label}")
        print(f"{'ranker':<13} {'top-1':>7} {'top-3':>7}")
        for name, (top1, top3) in results.items():
            print(f"{name:<13} {top1:>7.2%} {top3:>7.2%}")
        base = results["keywords"]
        for name in ("fused", "fused-tuned", "fts5-bm25", "fused+encoder"):
            if name not in results:
                continue
            ours = results[name]
            print(
                f"ratio {name}/keywords: top-1 {ours[0] / base[0]:.2f}x, "
                f"top-3 {ours[1] / base[1]:.2f}x"
            )
        print("fused-tuned chose, per fold: " + "; ".join(chosen))
    # The encoder's own embed for timings: every article and message goes
    # through the model, as on the server.
    index_timings(rows, None if embed is None else embed.embed)
    if not args.no_server:
        server_timings(rows, args.samples, args.profile)


if __name__ == "__main__":
    main()
