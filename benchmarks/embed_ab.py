"""The build's embedding step against the bare model, interleaved so machine noise hits both.

    .venv/bin/python benchmarks/embed_ab.py --index /tmp/b/10000/index --chunks 4000

Takes a seeded sample of a built index's chunks and embeds it in blocks, alternating which
side goes first: tipbot's ``encode_with_spans`` (chunk vectors plus pooled sentence vectors,
what a build runs) and sentence-transformers' ``encode`` on the same texts (the floor). On a
shared machine whose speed drifts over an hour, a full build and a full bare run taken one
after the other can differ for reasons that are not tipbot's; this ratio cannot.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from tipbot.chunk import embed_text
from tipbot.embed import Embedder
from tipbot.index import load_current
from tipbot.types import Chunk


def sample(index_dir: Path, n: int, seed: int = 0):
    d = load_current(index_dir)
    rows = np.sort(np.random.default_rng(seed).choice(len(d.chunk_post), n, replace=False))
    texts, spans = [], []
    for c in rows:
        post = d.posts[d.chunk_post[c]]
        start, end = int(d.chunk_start[c]), int(d.chunk_end[c])
        texts.append(embed_text(post, Chunk("", 0, start, end, 0, 0, 0)))
        shift = len(post.title) + 1 - start  # post offsets → offsets in the embedded text
        spans.append(
            [
                (int(s), int(d.sent_start[s]) + shift, int(d.sent_end[s]) + shift)
                for s in range(d.chunk_sent_start[c], d.chunk_sent_end[c])
            ]
        )
    return texts, spans, len(d.sent_post)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--index", type=Path, required=True, help="a built index folder")
    ap.add_argument("--chunks", type=int, default=4000)
    ap.add_argument("--block", type=int, default=1000)
    args = ap.parse_args()
    texts, spans, n_spans = sample(args.index, args.chunks)
    embedder = Embedder()
    embedder.load()
    # Warm both paths (first forward passes allocate and pick kernels) before any timing.
    embedder.encode_with_spans(texts[:16], spans[:16], n_spans)
    embedder.model.encode(texts[:16], batch_size=embedder.batch_size, show_progress_bar=False)
    ours = bare = 0.0
    print("| chunks | tipbot s | bare s | ratio |\n|---|---|---|---|")
    for b, i in enumerate(range(0, len(texts), args.block)):
        block, block_spans = texts[i : i + args.block], spans[i : i + args.block]
        for side in ("ours", "bare") if b % 2 == 0 else ("bare", "ours"):
            t = time.perf_counter()
            if side == "ours":
                embedder.encode_with_spans(block, block_spans, n_spans)
                ours += time.perf_counter() - t
            else:
                embedder.model.encode(
                    block, batch_size=embedder.batch_size, show_progress_bar=False
                )
                bare += time.perf_counter() - t
        print(f"| {i + len(block)} | {ours:.1f} | {bare:.1f} | {ours / bare:.3f} |", flush=True)


if __name__ == "__main__":
    main()
