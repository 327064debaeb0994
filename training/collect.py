"""Everything the pipeline's choices need about a question set over a built archive, once.

    .venv/bin/python training/collect.py --config /work/val/config.toml \
        --questions /work/val/questions.jsonl --reader src/tipbot/models/reader --out val.pkl

For each question: the first ``--depth`` posts of hybrid retrieval (the hits ``tipbot ask``
starts from), and for every sentence of each of those posts its features (``extract.Features``),
whether it holds a gold answer in a gold post, and the reader's logit for the linear scorer's
first ``--read`` sentences (NaN for the rest, which the pipeline never reads). ``fit_scorer.py`` and
``fit_pipeline.py`` then try every weight and threshold on these tables without running a model
again. Off-topic questions (``--offtopic``: questions of other articles asked of this archive)
are collected the same way, with nothing to find.
"""

from __future__ import annotations

import argparse
import pickle
import random
import sys
import time
from pathlib import Path

import numpy as np

from tipbot import extract, retrieve
from tipbot.abstain import unknown_names
from tipbot.archive import Archive
from tipbot.config import load_config
from tipbot.evaluate import contains_answer
from tipbot.evaluate_io import load_questions
from tipbot.lexical import analyze
from tipbot.reader import Reader
from tipbot.retrieve import Filters, Mode
from tipbot.scorer import LinearScorer

FEATURES = ("dense", "lexical", "local", "in_chunk", "typed", "title")


def collect(
    archive: Archive, reader: Reader | None, questions, depth: int, read: int
) -> list[dict]:
    data = archive.data
    s = archive.quote_settings
    scorer = LinearScorer()
    out = []
    t0 = time.time()
    for n, q in enumerate(questions, 1):
        text, _ = archive.clean_question(q.text)
        qvec = archive.embedder.encode_one(text)
        hits = retrieve.search(
            data, qvec, text, depth, archive.cfg.retrieval, Mode.HYBRID, Filters()
        )
        term_ids, idf = extract.query_terms(data, analyze(text))
        posts = []
        for hit in hits:
            f = extract.sentence_features(data, hit, qvec, text, term_ids, idf, s)
            post = data.posts[hit.post_index]
            gold = post.id in q.relevant
            labels = np.array(
                [gold and contains_answer(x, q.answers) for x in f.sentences], dtype=bool
            )
            logits = None
            if reader is not None:
                # Only the linear scorer's first ``read`` sentences: the pipeline reads no more.
                chosen = np.argsort(-scorer.scores(f), kind="stable")[:read]
                logits = np.full(len(f.sentences), np.nan)
                logits[chosen] = reader.logits(text, [(post.title, f.sentences[i]) for i in chosen])
            posts.append(
                {
                    "post": hit.post_index,
                    "id": post.id,
                    "gold": gold,
                    "score": hit.score,
                    "chunk_dense": hit.dense,
                    "features": np.stack([getattr(f, name) for name in FEATURES], axis=1),
                    "chars": np.array([len(x) for x in f.sentences], dtype=np.int32),
                    "words": np.array([len(x.split()) for x in f.sentences], dtype=np.int32),
                    "labels": labels,
                    "reader": logits,
                }
            )
        missing = unknown_names(text, data.lexical)  # names and numbers the archive lacks
        out.append(
            {
                "qid": q.qid,
                "question": text,
                "answers": list(q.answers),
                "gold": sorted(q.relevant),
                "posts": posts,
                "missing": missing,
            }
        )
        if n % 200 == 0:
            print(f"{n}/{len(questions)} {time.time() - t0:.0f} s", file=sys.stderr, flush=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--config", type=Path, required=True)
    ap.add_argument("--questions", type=Path, required=True)
    ap.add_argument("--reader", type=Path, help="a reader folder; none: features only")
    ap.add_argument("--sample", type=int, default=0, help="seeded sample of the questions")
    ap.add_argument("--offtopic", action="store_true", help="drop gold: nothing here answers")
    ap.add_argument("--depth", type=int, default=5)
    ap.add_argument("--read", type=int, default=8, help="sentences read per post")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    # The reader is run here on every sentence, not through the pipeline.
    cfg = load_config(args.config).with_changes(answer={"reader": False})
    archive = Archive.open(cfg, build_if_needed=False)
    reader = Reader(args.reader, word=archive.embedder.questions.word) if args.reader else None
    questions = load_questions(args.questions).questions
    if args.sample:
        questions = random.Random(0).sample(questions, min(args.sample, len(questions)))
    if args.offtopic:
        from dataclasses import replace

        questions = [replace(q, gold={}, answers=()) for q in questions]
    rows = collect(archive, reader, questions, args.depth, args.read)
    args.out.write_bytes(pickle.dumps({"features": FEATURES, "questions": rows}))
    print(f"{len(rows)} questions → {args.out}")


if __name__ == "__main__":
    main()
