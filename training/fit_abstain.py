"""Fit when tipbot declines (``abstain.ReaderAbstention``) and when it leaves a post out.

    .venv/bin/python training/fit_abstain.py --train trainsub.pkl --train-off off_train.pkl \
        --val val.pkl --val-off off_val.pkl --out src/tipbot/models/abstain.json

All four tables come from ``collect.py`` with the reader. Training: questions of 60 SQuAD v1.1
train articles asked of an archive of those articles (answerable), and questions of other
training articles asked of it (nothing answers them). Validation: the same over the 40
held-out articles. A logistic regression over the first post's evidence (``abstain.COLUMNS``,
after the reader's reranking with the pipeline's settings) says how likely the archive
answers. The script prints, on validation, the share of off-topic and of answerable questions
declined at each ``min_answer``, and for ``min_shown`` how many later posts (2nd, 3rd) are
kept and how many of those hold an answer.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from scipy.optimize import minimize

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fit_pipeline import prepare, simulate

from tipbot.abstain import COLUMNS
from tipbot.scorer import SCORER_FILE, LinearScorer


def rows(path: Path, scorer, args) -> np.ndarray:
    """(questions, len(COLUMNS)): the first post's evidence after reranking."""
    out = []
    sim = simulate(
        prepare(path, scorer), args.posts, args.sentences, args.weight, args.scorer_weight
    )
    for ranked, _, _ in sim:
        p, _, logit = ranked[0]
        out.append([logit, p["dense"], p["chunk_dense"], p["lexical"], p["unknown_name"]])
    return np.array(out, dtype=np.float64)


def fit(x: np.ndarray, y: np.ndarray, l2: float = 1e-3) -> tuple[np.ndarray, float]:
    mu, sd = x.mean(axis=0), x.std(axis=0) + 1e-9
    z = (x - mu) / sd

    def loss(wb):
        w, b = wb[:-1], wb[-1]
        t = z @ w + b
        p = 1 / (1 + np.exp(-t))
        eps = 1e-12
        value = -np.mean(y * np.log(p + eps) + (1 - y) * np.log(1 - p + eps)) + l2 * w @ w
        g = p - y
        return value, np.append(z.T @ g / len(y) + 2 * l2 * w, g.mean())

    wb = minimize(loss, np.zeros(x.shape[1] + 1), jac=True, method="L-BFGS-B").x
    w = wb[:-1] / sd
    return w, float(wb[-1] - (mu / sd) @ wb[:-1])


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    for name in ("train", "train-off", "val", "val-off"):
        ap.add_argument(f"--{name}", type=Path, required=True)
    ap.add_argument("--posts", type=int, default=5)
    ap.add_argument("--sentences", type=int, default=4)
    ap.add_argument("--weight", type=float, default=1.0)
    ap.add_argument("--scorer-weight", type=float, default=0.75)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    scorer = LinearScorer(SCORER_FILE)
    tr, tr_off = rows(args.train, scorer, args), rows(args.train_off, scorer, args)
    va, va_off = rows(args.val, scorer, args), rows(args.val_off, scorer, args)
    x = np.vstack([tr, tr_off])
    y = np.concatenate([np.ones(len(tr)), np.zeros(len(tr_off))])
    w, b = fit(x, y)
    print("weights:", dict(zip(COLUMNS, np.round(w, 3).tolist(), strict=True)), "bias", round(b, 3))

    def prob(m):
        return 1 / (1 + np.exp(-(m @ w + b)))

    pv, po = prob(va), prob(va_off)
    reader_only = (va[:, 0], va_off[:, 0])
    print(f"\nvalidation: {len(va)} answerable, {len(va_off)} off-topic")
    print(
        "| min_answer | off-topic declined | answerable declined "
        "| reader logit alone, at the same off-topic share: answerable declined |"
    )
    print("| --- | --- | --- | --- |")
    for t in (0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95):
        off = (po < t).mean()
        cut = np.quantile(reader_only[1], off) if 0 < off < 1 else (-np.inf if off == 0 else np.inf)
        print(f"| {t} | {off:.4f} | {(pv < t).mean():.4f} | {(reader_only[0] < cut).mean():.4f} |")
    # The rule that sets min_answer: decline at most 2 % of answerable validation questions,
    # the share the hand rules declined on SQuAD (off-topic questions from other Wikipedia
    # articles are far closer to the archive than a real user's off-topic question).
    for share in (0.01, 0.02, 0.03):
        t = float(np.quantile(pv, share))
        print(
            f"declining {share:.0%} of validation answerable: min_answer {t:.3f}, "
            f"off-topic declined {(po < t).mean():.4f}"
        )
    for share in (0.95, 0.99, 0.995):
        t = float(np.quantile(po, share))
        print(
            f"declining {share:.1%} of validation off-topic: min_answer {t:.3f}, "
            f"answerable declined {(pv < t).mean():.4f}"
        )

    # Later posts: kept when the reader's probability for their best sentence is at least t.
    later = []
    sim = simulate(
        prepare(args.val, scorer), args.posts, args.sentences, args.weight, args.scorer_weight
    )
    for ranked, _, _ in sim:
        for p, best, logit in ranked[1:3]:
            holds = bool(p["gold"] and best is not None and p["labels"][best])
            later.append((1 / (1 + np.exp(-logit)), holds))
    lp = np.array([a for a, _ in later])
    lh = np.array([h for _, h in later])
    print(
        f"\nlater posts (2nd and 3rd): {len(later)}, "
        f"{lh.sum()} with the answer in their best sentence"
    )
    print("| min_shown | kept | kept holding an answer | answers lost | F1 |")
    print("| --- | --- | --- | --- | --- |")
    # The rule that sets min_shown: lose at most a tenth of the answers later posts hold.
    for t in (0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.6, 0.7):
        kept = lp >= t
        tp = (kept & lh).sum()
        prec = tp / max(kept.sum(), 1)
        rec = tp / max(lh.sum(), 1)
        f1 = 2 * prec * rec / max(prec + rec, 1e-9)
        print(f"| {t} | {kept.mean():.3f} | {prec:.3f} | {1 - rec:.3f} | {f1:.3f} |")
    if args.out:
        args.out.write_text(
            json.dumps(
                {
                    "columns": list(COLUMNS),
                    "weights": [round(float(v), 6) for v in w],
                    "bias": round(b, 6),
                    "fitted_on": "SQuAD v1.1 train (CC BY-SA 4.0), training/fit_abstain.py",
                    "pipeline": {
                        "reader_posts": args.posts,
                        "reader_sentences": args.sentences,
                        "rerank_weight": args.weight,
                        "scorer_weight": args.scorer_weight,
                    },
                },
                indent=2,
            )
            + "\n"
        )
        print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
