"""Choose the reader's pipeline constants on held-out SQuAD *train* articles.

    .venv/bin/python training/fit_pipeline.py --val val.pkl --offtopic off.pkl

Both tables come from ``collect.py`` with the reader: ``--val`` the validation articles'
questions over an archive of those articles, ``--offtopic`` questions of other training
articles asked of the same archive (nothing there answers them). For each setting of

- ``reader_posts`` (posts read and reranked) and ``reader_sentences`` (sentences read in each,
  the linear scorer's first), which set the cost: posts × sentences pairs a question;
- ``rerank_weight``: a post's rank is retrieval's standardised score plus this times its best
  sentence's logit;

it prints success@1 (a gold post first), recall@5, and the share of questions whose first
post is gold with the answer in the sentence the reader puts first (the quote is built around
it). Then, for the chosen setting, the share of off-topic and of answerable questions declined
at each ``min_answer``. Nothing here reads SQuAD dev, tests/data or the seed archive.
"""

from __future__ import annotations

import argparse
import pickle
from pathlib import Path

import numpy as np

from tipbot.config import AnswerConfig
from tipbot.extract import Features, QuoteSettings, hand_scores
from tipbot.scorer import SCORER_FILE, LinearScorer, design_from


def _std(x: np.ndarray) -> np.ndarray:
    sd = float(x.std())
    return (x - x.mean()) / sd if sd > 0 else np.zeros_like(x)


def _hand(features: np.ndarray, s: QuoteSettings) -> np.ndarray:
    """The hand-weighted scores (lede discount included) of a post's (n, 6) feature table."""
    n = features.shape[0]
    cols = [features[:, i].astype(np.float32) for i in range(6)]
    return hand_scores(Features(np.arange(n), [""] * n, *cols, {}), s)[0]


def prepare(path: Path, scorer: LinearScorer) -> list[list[dict]]:
    """Per question, per retrieved post: retrieval score, gold, the scorer's order of its
    sentences, reader logits, labels."""
    out = []
    hand = QuoteSettings.from_config(AnswerConfig())
    for q in pickle.loads(path.read_bytes())["questions"]:
        posts = []
        for p in q["posts"]:
            lin = design_from(p["features"], p["chars"]) @ scorer.weights
            posts.append(
                {
                    "score": p["score"],
                    "gold": p["gold"],
                    "linear": lin,
                    "order": np.argsort(-lin, kind="stable"),
                    "hand": _hand(p["features"], hand),
                    "reader": p["reader"],
                    "labels": p["labels"],
                    "chars": p["chars"],
                    "dense": float(p["features"][:, 0].max()),
                    "lexical": float(p["features"][:, 1].max()),
                    "chunk_dense": p["chunk_dense"],
                    "unknown_name": float(bool(q.get("missing"))),
                }
            )
        out.append(posts)
    return out


def simulate(questions, depth: int, per_post: int, weight: float, scorer_weight: float = 0.0):
    """Per question: (posts in the pipeline's order, first post's best logit, the best
    sentence of each post). A post's best sentence is the one read with the highest reader
    logit plus ``scorer_weight`` times its linear score; its evidence, the highest logit."""
    out = []
    for posts in questions:
        if not posts:
            out.append(([], -np.inf, []))
            continue
        read = posts[:depth]
        base = _std(np.array([p["score"] for p in read], dtype=np.float64))
        best, logit = [], []
        for p in read:
            chosen = p["order"][:per_post]
            z = p["reader"][chosen]
            pick = z + scorer_weight * p["linear"][chosen]
            best.append(int(chosen[int(np.argmax(pick))]))
            logit.append(float(z.max()))
        rank = base + weight * np.array(logit)
        order = np.argsort(-rank, kind="stable")
        ranked = [(read[i], best[i], logit[i]) for i in order] + [
            (p, None, None) for p in posts[depth:]
        ]
        out.append((ranked, ranked[0][2], ranked))
    return out


def metrics(sim) -> dict[str, float]:
    s1 = r5 = aiq = 0
    for ranked, _, _ in sim:
        if not ranked:
            continue
        first, best, _ = ranked[0]
        s1 += first["gold"]
        r5 += any(p["gold"] for p, _, _ in ranked[:5])
        aiq += bool(first["gold"] and best is not None and first["labels"][best])
    n = len(sim)
    return {"success@1": s1 / n, "recall@5": r5 / n, "answer_first_sentence": aiq / n}


def hand_first_sentence(sim) -> float:
    """The share of questions whose first post is gold with the answer in the sentence the
    hand weights put first (the rival of the reader's choice)."""
    hits = 0
    for ranked, _, _ in sim:
        if ranked:
            first = ranked[0][0]
            hits += bool(first["gold"] and first["labels"][int(np.argmax(first["hand"]))])
    return hits / len(sim)


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--val", type=Path, required=True)
    ap.add_argument("--offtopic", type=Path, required=True)
    ap.add_argument("--scorer", type=Path, default=SCORER_FILE)
    ap.add_argument("--posts", type=int, default=5, help="reader_posts for the abstention table")
    ap.add_argument("--sentences", type=int, default=4, help="reader_sentences for it")
    ap.add_argument("--weight", type=float, default=1.0, help="rerank_weight for it")
    ap.add_argument(
        "--scorer-weight", type=float, default=0.75, help="g for the grid and abstention"
    )
    args = ap.parse_args()
    scorer = LinearScorer(args.scorer)
    val, off = prepare(args.val, scorer), prepare(args.offtopic, scorer)
    print(f"{len(val)} validation questions, {len(off)} off-topic\n")
    none = metrics(simulate(val, 1, 1, 0.0))
    print(f"retrieval alone: success@1 {none['success@1']:.3f}, recall@5 {none['recall@5']:.3f}\n")
    print(
        "| sentence chosen by reader + g × linear, g = "
        "| answer in best sentence (5 posts, 4 sentences) |"
    )
    print("| --- | --- |")
    for g in (0.0, 0.1, 0.25, 0.5, 1.0, 2.0, 100.0):
        m = metrics(simulate(val, 5, 4, args.weight, g))
        print(f"| {g} | {m['answer_first_sentence']:.3f} |")
    hand = hand_first_sentence(simulate(val, 5, 4, args.weight))
    print(f"| (the hand weights' best sentence instead) | {hand:.3f} |")
    print()
    print("| posts | sentences | pairs | weight | success@1 | recall@5 | answer in best sentence |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for depth in (3, 5, 8):
        for per_post in (2, 3, 4, 6, 8):
            for w in (0.0, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0):
                m = metrics(simulate(val, depth, per_post, w, args.scorer_weight))
                print(
                    f"| {depth} | {per_post} | {depth * min(per_post, 16)} | {w} "
                    f"| {m['success@1']:.3f} | {m['recall@5']:.3f} "
                    f"| {m['answer_first_sentence']:.3f} |"
                )
    sv = simulate(val, args.posts, args.sentences, args.weight, args.scorer_weight)
    so = simulate(off, args.posts, args.sentences, args.weight, args.scorer_weight)
    first_val = np.array([z for _, z, _ in sv])
    first_off = np.array([z for _, z, _ in so])
    print(f"\nabstention at posts {args.posts}, sentences {args.sentences}, weight {args.weight}:")
    print("| min_answer | off-topic declined | answerable declined |")
    print("| --- | --- | --- |")
    for t in (0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9):
        logit = np.log(t / (1 - t))
        print(f"| {t} | {(first_off < logit).mean():.4f} | {(first_val < logit).mean():.4f} |")
    for share in (0.99, 0.995, 0.999):
        z = float(np.quantile(first_off, share))
        p = 1 / (1 + np.exp(-z))
        print(
            f"declining {share:.1%} of off-topic needs min_answer ≥ {p:.3f} "
            f"(answerable declined {(first_val < z).mean():.4f})"
        )


if __name__ == "__main__":
    main()
