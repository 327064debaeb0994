"""What each way of choosing quotes costs a question, interleaved so machine noise hits all.

    .venv/bin/python benchmarks/quotes_ab.py --config config.toml \
        --questions tests/data/devset.jsonl --rounds 4

Asks every question of the file once per round with each ``[answer] quotes`` setting ("hand",
"blend", "reader"), the order of the settings rotating from round to round, each question's
vector forgotten first so every ask embeds it anew. Prints p50 and p95 per setting and each
p50 as a ratio of the hand weights'.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import time
from pathlib import Path

from tipbot.archive import Archive
from tipbot.config import QuoteSource, load_config
from tipbot.evaluate_io import load_questions


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--config", type=Path, default=Path("config.toml"))
    ap.add_argument("--questions", type=Path, default=Path("tests/data/devset.jsonl"))
    ap.add_argument("--rounds", type=int, default=4)
    args = ap.parse_args()
    archive = Archive.open(load_config(args.config), build_if_needed=False)
    questions = [q.text for q in load_questions(args.questions).questions]
    base = archive.reader_settings
    sources = list(QuoteSource)
    times: dict[QuoteSource, list[float]] = {s: [] for s in sources}
    for q in questions:  # warm: the model's first calls and the index's pages
        archive.ask(q)
    for r in range(args.rounds):
        for source in sources[r % len(sources) :] + sources[: r % len(sources)]:
            archive.reader_settings = dataclasses.replace(base, quotes=source)
            for q in questions:
                archive.forget_vectors()
                t0 = time.perf_counter()
                archive.ask(q)
                times[source].append(time.perf_counter() - t0)
    hand = statistics.median(times[QuoteSource.HAND])
    print(f"{len(questions)} questions × {args.rounds} rounds\n")
    print("| quotes | p50 (ms) | p95 (ms) | p50 / hand |")
    print("| --- | --- | --- | --- |")
    for source in sources:
        v = sorted(times[source])
        p50, p95 = statistics.median(v), v[int(0.95 * (len(v) - 1))]
        print(f"| {source} | {p50 * 1000:.1f} | {p95 * 1000:.1f} | {p50 / hand:.2f} |")


if __name__ == "__main__":
    main()
