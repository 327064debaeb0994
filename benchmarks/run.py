"""tipbot's speed and size, measured side by side with the bare model in one run.

    .venv/bin/python benchmarks/run.py --posts 1000 --posts 10000

For each archive size (a synthetic archive from benchmarks/synth.py) it measures: the full
build against the bare model embedding the same chunk texts (the floor); `index update` after
one post changes; warm question latency against embedding the question alone (the floor);
cold start (process start → first answer) and peak RSS in a fresh process; index size on disk;
and recall@10 of the approximate FAISS index (HNSW) against exact search. It prints a table
and writes benchmarks/out/results.json. Timings are wall-clock on a shared machine: compare
the ratios, which are measured side by side, rather than the absolute seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import faiss
import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

import synth  # noqa: E402

from tipbot.archive import Archive  # noqa: E402
from tipbot.chunk import embed_text  # noqa: E402
from tipbot.config import parse_config  # noqa: E402
from tipbot.conversation import Turn  # noqa: E402
from tipbot.embed import Embedder, torch_threads  # noqa: E402
from tipbot.index import build_index, load_current  # noqa: E402
from tipbot.index import dense as dense_index  # noqa: E402
from tipbot.types import Chunk  # noqa: E402

QUESTIONS = [
    json.loads(x)["question"] for x in (ROOT / "tests/data/devset.jsonl").read_text().splitlines()
]

# Follow-ups as chat users type them, each asked after one of QUESTIONS with it as context.
FOLLOWUPS = [
    "How many took part?",
    "Who paid for it?",
    "And in which countries?",
    "When did that start?",
    "What did they say about it?",
    "Did the OSCE do the same?",
]

COLD_START = """
import sys, time
t0 = float(sys.argv[1])
from tipbot.archive import Archive
from tipbot.config import parse_config
from pathlib import Path
cfg = parse_config(
    {"corpus": {"paths": [sys.argv[2]]}, "index": {"dir": sys.argv[3]}}, Path(sys.argv[3])
)
Archive.open(cfg, build_if_needed=False).ask("Who funds victims of trafficking?")
elapsed = time.time() - t0
# VmHWM is this process's own peak; ru_maxrss would include the parent's, inherited at fork.
hwm = next(l for l in open("/proc/self/status") if l.startswith("VmHWM:")).split()[1]
print(elapsed, int(hwm) * 1024)
"""


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def dir_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def chunk_texts(data) -> list[str]:
    return [
        embed_text(data.posts[p], Chunk("", 0, int(s), int(e), 0, 0, 0))
        for p, s, e in zip(data.chunk_post, data.chunk_start, data.chunk_end, strict=True)
    ]


def ann_recall(vectors: np.ndarray, queries: np.ndarray, built, k: int = 10) -> dict:
    """HNSW's recall@10 against exact search: the index's own when it is HNSW, else one built
    over the same vectors."""
    exact = dense_index.build(vectors, "flat")
    approx = built if isinstance(built, faiss.IndexHNSW) else dense_index.build(vectors, "hnsw")
    _, truth = exact.search(queries, k)
    t = time.perf_counter()
    _, got = approx.search(queries, k)
    hnsw_ms = (time.perf_counter() - t) / len(queries) * 1000
    t = time.perf_counter()
    exact.search(queries, k)
    flat_ms = (time.perf_counter() - t) / len(queries) * 1000
    recall = np.mean([len(set(a) & set(b)) / k for a, b in zip(truth, got, strict=True)])
    return {
        "recall@10": round(float(recall), 4),
        "hnsw_ms": round(hnsw_ms, 3),
        "flat_ms": round(flat_ms, 3),
    }


class RandomVectors:
    """Stands in for the model at build time only, for sizes the model cannot embed in a
    session (100k posts ≈ 5–7 h here): seeded random unit vectors, everything else real
    (parsing, chunking, BM25, FAISS). Questions are still embedded by the real model, and the
    question path does the same work whatever the vectors hold. HNSW recall means nothing over
    random vectors (they have no neighbourhoods), so the ANN figure is skipped in this mode."""

    def __init__(self, real: Embedder) -> None:
        self.dim, self.max_pieces, self.name = real.dim, real.max_pieces, real.name
        self.count_pieces = real.count_pieces
        self.rng = np.random.default_rng(7)

    def _unit(self, n: int) -> np.ndarray:
        v = self.rng.standard_normal((n, self.dim), dtype=np.float32)
        return v / np.linalg.norm(v, axis=1, keepdims=True)

    def load(self) -> None:
        pass

    def encode(self, texts, progress=None) -> np.ndarray:
        return self._unit(len(texts))

    def encode_with_spans(self, texts, spans, n_spans, progress=None):
        if progress:
            progress(len(texts))
        return self._unit(len(texts)), self._unit(n_spans), np.ones(n_spans, dtype=np.int64)


def measure_build(cfg, corpus: Path, posts: list[dict], embedder: Embedder) -> dict:
    """Full build vs the bare model on the same chunk texts; then an update after one change."""
    # Load averages (1 min) at the end of each half: this run's own threads count ~2 on 2 cores;
    # more means something else shared the machine while that half ran.
    t = time.perf_counter()
    report = build_index(cfg, embedder)
    build_s = time.perf_counter() - t
    load_build = os.getloadavg()[0]
    texts = chunk_texts(load_current(cfg.index.dir))
    # The floor: the bare model embedding the same chunk texts, nothing else.
    t = time.perf_counter()
    embedder.model.encode(texts, batch_size=embedder.batch_size, show_progress_bar=False)
    bare_s = time.perf_counter() - t
    load_bare = os.getloadavg()[0]

    # One post changes: update vs full build.
    posts[len(posts) // 2]["text"] += "\nA sentence added for the update benchmark."
    synth.write_folder(posts, corpus)
    t = time.perf_counter()
    upd = build_index(cfg, embedder, incremental=True)
    update_s = time.perf_counter() - t
    return {
        "build_s": round(build_s, 1),
        "chunks_per_s": round(report.chunks / build_s, 1),
        "bare_embed_s": round(bare_s, 1),
        "build_over_bare": round(build_s / bare_s, 3),
        "update_s": round(update_s, 2),
        "update_embedded_chunks": upd.embedded_chunks,
        "update_over_build": round(update_s / build_s, 4),
        "load_1min_after_build_and_bare": [round(load_build, 2), round(load_bare, 2)],
    }


def bench(
    n_posts: int, embedder: Embedder, workdir: Path, n_questions: int, reuse: bool, random: bool
) -> dict:
    root = workdir / f"{n_posts}{'-random' if random else ''}"
    corpus = root / "corpus"
    cfg = parse_config(
        {"corpus": {"paths": [str(corpus)]}, "index": {"dir": str(root / "index")}}, root
    )
    if reuse and (root / "index" / "CURRENT").exists():
        # Questions, cold start and ANN only, over the index a previous run left in --workdir.
        built = {}
    elif random:
        posts = synth.generate(n_posts, seed=1)
        synth.write_folder(posts, corpus)
        t = time.perf_counter()
        build_index(cfg, RandomVectors(embedder))
        built = {"build_s": round(time.perf_counter() - t, 1)}  # no model: not comparable
    else:
        posts = synth.generate(n_posts, seed=1)
        synth.write_folder(posts, corpus)
        built = measure_build(cfg, corpus, posts, embedder)
    data = load_current(cfg.index.dir)

    archive = Archive(cfg, embedder, load_current(cfg.index.dir))
    questions = (QUESTIONS * (n_questions // len(QUESTIONS) + 1))[:n_questions]
    archive.ask(questions[0])  # warm-up
    st_one = lambda q: embedder.model.encode(q, normalize_embeddings=True, show_progress_bar=False)
    st_one(questions[0])
    ask_ms, plain_ms, embed_ms, st_ms, follow_ms, alone_ms = [], [], [], [], [], []
    for i, q in enumerate(questions):
        # Each timed question is embedded as a new one is: the archive keeps the vectors of
        # questions asked (for the follow-ups that continue them), and the list repeats.
        archive.forget_vectors()
        t = time.perf_counter()
        answer = archive.ask(q)
        ask_ms.append((time.perf_counter() - t) * 1000)
        # A follow-up asked alone, then with the question before it as context: side by side.
        # With context, the earlier question's vector is kept from when it was asked, as in use.
        f = FOLLOWUPS[i % len(FOLLOWUPS)]
        archive.forget_vectors()
        t = time.perf_counter()
        archive.ask(f)
        alone_ms.append((time.perf_counter() - t) * 1000)
        archive.forget_vectors()
        archive.embed(archive.clean_question(q)[0])
        t = time.perf_counter()
        archive.ask(f, context=(Turn.of(answer),))
        follow_ms.append((time.perf_counter() - t) * 1000)
        archive.forget_vectors()
        t = time.perf_counter()
        archive.ask(q, reader=False)  # the same question without the reader: its cost apart
        plain_ms.append((time.perf_counter() - t) * 1000)
        t = time.perf_counter()
        embedder.encode_one(q)  # the floor: the question encoder tipbot uses, alone
        embed_ms.append((time.perf_counter() - t) * 1000)
        t = time.perf_counter()
        with torch_threads(embedder.query_threads):
            st_one(q)  # for reference: the same vector from sentence-transformers
        st_ms.append((time.perf_counter() - t) * 1000)

    cold = subprocess.run(
        [sys.executable, "-c", COLD_START, str(time.time()), str(corpus), str(cfg.index.dir)],
        capture_output=True,
        text=True,
        check=True,
    )
    cold_s, rss = (float(x) for x in cold.stdout.split()[-2:])

    vectors = np.asarray(data.chunk_vectors)
    return {
        "posts": n_posts,
        "chunks": len(data.chunk_post),
        "sentences": len(data.sent_post),
        **{k: built.get(k) for k in BUILD_KEYS},
        "ask_p50_ms": round(pct(ask_ms, 50), 1),
        "ask_p95_ms": round(pct(ask_ms, 95), 1),
        "ask_no_reader_p50_ms": round(pct(plain_ms, 50), 1),
        "ask_no_reader_p95_ms": round(pct(plain_ms, 95), 1),
        "followup_p50_ms": round(pct(follow_ms, 50), 1),
        "followup_p95_ms": round(pct(follow_ms, 95), 1),
        "followup_alone_p50_ms": round(pct(alone_ms, 50), 1),
        "followup_over_alone_p50": round(
            statistics.median(follow_ms) / statistics.median(alone_ms), 3
        ),
        "embed_q_p50_ms": round(pct(embed_ms, 50), 1),
        "st_q_p50_ms": round(pct(st_ms, 50), 1),
        "ask_over_embed_p50": round(statistics.median(ask_ms) / statistics.median(embed_ms), 3),
        "cold_start_s": round(cold_s, 2),
        "peak_rss_mb": round(rss / 2**20, 1),
        "index_mb": round(dir_size(Path(data.path)) / 2**20, 1),
        "vectors_mb": round(vectors.nbytes / 2**20, 1),
        "ann": None
        if random
        else ann_recall(vectors, embedder.encode(questions), faiss.downcast_index(data.dense)),
        "index_kind": data.manifest["index_kind"],
        "vectors": "random (model-free build)" if random else "model",
    }


BUILD_KEYS = (
    "build_s",
    "chunks_per_s",
    "bare_embed_s",
    "build_over_bare",
    "update_s",
    "update_embedded_chunks",
    "update_over_build",
    "load_1min_after_build_and_bare",
)

COLUMNS = [
    ("posts", "posts"),
    ("chunks", "chunks"),
    ("build_s", "build s"),
    ("bare_embed_s", "bare s"),
    ("build_over_bare", "build/bare"),
    ("update_s", "update s"),
    ("update_over_build", "update/build"),
    ("ask_p50_ms", "ask p50 ms"),
    ("ask_p95_ms", "ask p95 ms"),
    ("ask_no_reader_p50_ms", "no reader p50 ms"),
    ("followup_p50_ms", "follow-up p50 ms"),
    ("followup_p95_ms", "follow-up p95 ms"),
    ("followup_over_alone_p50", "follow-up/alone"),
    ("embed_q_p50_ms", "embed q ms"),
    ("st_q_p50_ms", "ST q ms"),
    ("ask_over_embed_p50", "ask/embed"),
    ("cold_start_s", "cold s"),
    ("peak_rss_mb", "RSS MB"),
    ("index_mb", "index MB"),
]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--posts", type=int, action="append", help="archive size (repeatable)")
    ap.add_argument("--questions", type=int, default=60)
    ap.add_argument("--out", type=Path, default=HERE / "out" / "results.json")
    ap.add_argument(
        "--random-vectors",
        action="store_true",
        help="build with random vectors instead of the model (question path at large sizes)",
    )
    ap.add_argument(
        "--workdir", type=Path, help="keep archives and indexes here (default: a temp dir)"
    )
    ap.add_argument(
        "--reuse",
        action="store_true",
        help="with --workdir: skip the build figures when an index is already there",
    )
    args = ap.parse_args()
    sizes = args.posts or [1000]
    embedder = Embedder()
    embedder.model  # noqa: B018 - load sentence-transformers now, outside every timed section
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        workdir = args.workdir or Path(tmp)
        for n in sizes:
            print(f"benchmarking {n} posts…", file=sys.stderr, flush=True)
            results.append(
                bench(n, embedder, workdir, args.questions, args.reuse, args.random_vectors)
            )
    machine = {
        "cores": os.cpu_count(),
        "machine": platform.machine(),
        "python": platform.python_version(),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"machine": machine, "results": results}, indent=2))
    print(f"machine: {machine['cores']} cores, {machine['machine']}, Python {machine['python']}")
    print("| " + " | ".join(h for _, h in COLUMNS) + " | ANN recall@10 |")
    print("|" + "---|" * (len(COLUMNS) + 1))
    for r in results:
        cells = [str(r[k]) for k, _ in COLUMNS] + [
            str(r["ann"]["recall@10"] if r["ann"] else "n/a")
        ]
        print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
