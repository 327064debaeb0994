"""Fit the linear sentence scorer (``tipbot.scorer``) on collected training questions.

    .venv/bin/python training/fit_scorer.py --train trainsub.pkl --val val.pkl \
        --out src/tipbot/models/scorer.json

``--train``: ``collect.py`` over an archive of SQuAD v1.1 *train* articles (60 articles, seed 5,
none of the 40 validation ones); ``--val``: over the validation articles. Each question whose
gold post was retrieved contributes that post's sentences; the loss is a softmax over them
(which one holds the answer) with a small L2 penalty. Prints, on the validation questions,
how often the top sentence of the gold post holds the answer by the hand weights, by this
scorer and (when collected) by the reader, and how often the answer is among each one's first
m sentences: the reader's preselection depth is read off that table.
"""

from __future__ import annotations

import argparse
import json
import pickle
import sys
from pathlib import Path

import numpy as np
from scipy.optimize import minimize

sys.path.insert(0, str(Path(__file__).resolve().parent))

from tipbot.config import AnswerConfig
from tipbot.extract import QuoteSettings
from tipbot.scorer import COLUMNS, design_from


def gold_posts(path: Path):
    """(design matrix, labels, hand scores, reader logits or None) per question whose gold
    post was retrieved and holds an answer sentence."""
    rows = pickle.loads(path.read_bytes())["questions"]
    s = QuoteSettings.from_config(AnswerConfig())
    hand_w = np.array(
        [s.w_dense, s.w_lexical, s.w_local, s.w_in_chunk, s.w_answer_type, -s.w_title]
    )
    out = []
    for q in rows:
        for p in q["posts"]:
            if p["gold"] and p["labels"].any():
                x = design_from(p["features"], p["chars"])
                hand = p["features"] @ hand_w
                hand[0] -= s.w_lead
                out.append((x, p["labels"], hand, p["reader"]))
                break
    return out


def fit(groups, l2: float) -> tuple[np.ndarray, float]:
    """(weights, bias) over the columns of each group's (n, columns) table: a softmax over the
    group's rows (which hold the answer: ``g[1]``), columns standardised while fitting, with
    an L2 penalty. ``fit_rerank.py`` fits its posts the same way."""
    xs = [g[0] for g in groups]
    ys = [g[1].astype(np.float64) / g[1].sum() for g in groups]
    mu = np.concatenate(xs).mean(axis=0)
    sd = np.concatenate(xs).std(axis=0) + 1e-9

    def loss(w):
        total, grad = 0.0, np.zeros_like(w)
        for x, y in zip(xs, ys, strict=True):
            z = ((x - mu) / sd) @ w
            z -= z.max()
            p = np.exp(z)
            p /= p.sum()
            total -= float(y @ np.log(p + 1e-12))
            grad += ((x - mu) / sd).T @ (p - y)
        n = len(xs)
        return total / n + l2 * w @ w, grad / n + 2 * l2 * w

    w = minimize(loss, np.zeros(xs[0].shape[1]), jac=True, method="L-BFGS-B").x
    # Back to raw columns: the bias only shifts every sentence of a post alike.
    return w / sd, float(-(mu / sd) @ w)


def topm(groups, score, m: int) -> float:
    hit = 0
    for g in groups:
        s = score(g)
        order = np.argsort(-s, kind="stable")[:m]
        hit += bool(g[1][order].any())
    return hit / len(groups)


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--train", type=Path, required=True)
    ap.add_argument("--val", type=Path, required=True)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    train, val = gold_posts(args.train), gold_posts(args.val)
    print(f"{len(train)} training and {len(val)} validation questions with their gold post")
    best = None
    for l2 in (1e-4, 1e-3, 1e-2):
        w, b = fit(train, l2)
        acc = topm(val, lambda g, w=w: g[0] @ w, 1)
        print(f"l2 {l2:g}: validation top-1 {acc:.3f}")
        if best is None or acc > best[0]:
            best = (acc, l2, w, b)
    _, l2, w, b = best
    scorers = {"hand weights": lambda g: g[2], "learned linear": lambda g: g[0] @ w}
    if val and val[0][3] is not None:
        scorers["reader"] = lambda g: g[3]
    print(
        "\n| sentence chosen by | "
        + " | ".join(f"answer in top {m}" for m in (1, 2, 3, 4, 6, 8))
        + " |"
    )
    print("| --- |" + " --- |" * 6)
    for name, f in scorers.items():
        print(
            f"| {name} | " + " | ".join(f"{topm(val, f, m):.3f}" for m in (1, 2, 3, 4, 6, 8)) + " |"
        )
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(
            json.dumps(
                {
                    "columns": list(COLUMNS),
                    "weights": [round(float(x), 6) for x in w],
                    "bias": round(b, 6),
                    "l2": l2,
                    "fitted_on": "SQuAD v1.1 train (CC BY-SA 4.0), training/fit_scorer.py",
                },
                indent=2,
            )
            + "\n"
        )
        print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
