r"""The cost of each fusion (and of the sentence-overlap signal) on the question path, side by
side over one built index.

    .venv/bin/python benchmarks/fusion_ab.py --corpus /tmp/b/10000-random/corpus \
        --index /tmp/b/10000-random/index
    .venv/bin/python benchmarks/fusion_ab.py \
        --config /tmp/squad/config.toml   # an index a config names

Each dev-set question is embedded once; then ``retrieve.search`` runs for every variant in
turn, the order rotating from question to question so that a busy moment of the machine falls
on each alike, for several rounds. Printed: p50/p95 of the search alone per variant, and of the
question embedding for scale (a question costs embedding + search + quoting).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import time
from pathlib import Path

import numpy as np

from tipbot import retrieve
from tipbot.archive import Archive
from tipbot.config import Fusion, load_config, parse_config

ROOT = Path(__file__).resolve().parent.parent
# name → the [retrieval] settings each variant changes.
VARIANTS = {
    "rrf": {"fusion": Fusion.RRF},
    "weighted": {"fusion": Fusion.WEIGHTED},
    "zscore, overlap_weight = 0": {"fusion": Fusion.ZSCORE, "overlap_weight": 0.0},
    "zscore (the default)": {"fusion": Fusion.ZSCORE},
}


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", type=Path, help="a tipbot config.toml (its index is used)")
    ap.add_argument("--corpus", type=Path, help="without --config: the corpus folder…")
    ap.add_argument("--index", type=Path, help="…and the index folder")
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    if args.config:
        cfg = load_config(args.config)
    else:
        raw = {"corpus": {"paths": [str(args.corpus)]}, "index": {"dir": str(args.index)}}
        cfg = parse_config(raw, Path.cwd())
    # The model and index as `tipbot ask` loads them (the config's model folder included).
    archive = Archive.open(cfg, build_if_needed=False)
    data, embedder, r = archive.data, archive.embedder, cfg.retrieval
    lines = (ROOT / "tests/data/devset.jsonl").read_text().splitlines()
    questions = [json.loads(x)["question"] for x in lines]

    settings = {name: dataclasses.replace(r, **changes) for name, changes in VARIANTS.items()}

    def search(q: str, v: np.ndarray, variant: str) -> None:
        retrieve.search(data, v, q, r.k, settings[variant])

    names = list(VARIANTS)
    timings: dict[str, list[float]] = {f: [] for f in (*names, "embedding")}
    for q in questions[:3]:  # warm-up: caches, lazy loads
        v = embedder.encode_one(q)
        for f in names:
            search(q, v, f)
    for round_ in range(args.rounds):
        for i, q in enumerate(questions):
            t = time.perf_counter()
            v = embedder.encode_one(q)
            timings["embedding"].append((time.perf_counter() - t) * 1000)
            shift = (i + round_) % len(names)
            for f in names[shift:] + names[:shift]:
                t = time.perf_counter()
                search(q, v, f)
                timings[f].append((time.perf_counter() - t) * 1000)
    print(
        f"{len(data.posts)} posts, {len(data.chunk_post)} chunks, {data.manifest['index_kind']}; "
        f"{len(questions)} questions × {args.rounds} rounds"
    )
    print("| step | p50 ms | p95 ms |")
    print("| --- | --- | --- |")
    for name, ms in timings.items():
        label = f"search, {name}" if name in VARIANTS else "question embedding"
        print(f"| {label} | {statistics.median(ms):.2f} | {pct(ms, 95):.2f} |")


if __name__ == "__main__":
    main()
