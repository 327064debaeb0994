"""A deterministic synthetic archive: JSONL posts shaped like the real one.

Sentences are drawn from the seed archive and re-combined, with names, places and numbers
swapped in, so texts read like the archive (lengths, vocabulary, numbers) while every post is
different. Post lengths follow a log-normal fitted to the seed (median ≈ 2,500 characters).

    python benchmarks/synth.py --posts 10000 --seed 1 -o /tmp/synth-10k.jsonl
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import re
from pathlib import Path

SEED_CORPUS = (
    Path(__file__).resolve().parent.parent / "corpus" / "intergovernmental-organizations.txt"
)
PLACES = (
    "Albania Moldova Kenya Nepal Serbia Ukraine Nigeria Cambodia Bosnia Egypt Trinidad Peru Laos "
    "Ghana Chile Romania Vietnam Bolivia Jordan Malawi"
).split()
ORGS = "UNODC IOM OSCE ILO UNICEF UNHCR Europol Interpol ASTRA UN.GIFT".split()
NAMES = (
    "Amara Boris Chen Dana Elif Farid Greta Hugo Ines Jonas Kira Luis Mira Nadia Omar Petra "
    "Rafael Sofia Tariq Vera"
).split()
TOPICS = (
    "forced labour;sexual exploitation;child trafficking;border control;victim support;"
    "prosecution;awareness campaign;organ trafficking;domestic servitude;supply chains"
).split(";")


def seed_sentences() -> list[str]:
    from tipbot.parse.blogger_text import read
    from tipbot.sentences import split_sentences

    posts, _ = read(str(SEED_CORPUS), SEED_CORPUS.read_text(encoding="utf-8"), "https://x")
    out = []
    for p in posts:
        out.extend(
            p.text[s.start : s.end]
            for s in split_sentences(p.text)
            if len(p.text[s.start : s.end]) > 40
        )
    return out


def _vary(sentence: str, rng: random.Random) -> str:
    sentence = re.sub(r"\b\d[\d,.]*\b", lambda m: f"{rng.randint(2, 9_999):,}", sentence)
    for pool in (PLACES, ORGS):
        for word in pool:
            if word in sentence and rng.random() < 0.5:
                sentence = sentence.replace(word, rng.choice(pool))
    return sentence


def generate(n_posts: int, seed: int = 1) -> list[dict]:
    rng = random.Random(seed)
    sentences = seed_sentences()
    posts = []
    start = dt.date(2005, 1, 1)
    for i in range(n_posts):
        target = min(15_000, max(300, int(rng.lognormvariate(7.8, 0.6))))
        paras, length = [], 0
        while length < target:
            para = " ".join(_vary(rng.choice(sentences), rng) for _ in range(rng.randint(1, 4)))
            paras.append(para)
            length += len(para) + 2
        topic, place = rng.choice(TOPICS), rng.choice(PLACES)
        title = f"{rng.choice(ORGS)} on {topic} in {place}: {rng.choice(NAMES)} reports #{i}"
        posts.append(
            {
                "id": f"synth-{seed}-{i:06d}",
                "title": title,
                "date": (start + dt.timedelta(days=rng.randint(0, 7000))).isoformat(),
                "labels": [rng.choice(ORGS)],
                "text": "\n".join(paras),
            }
        )
    return posts


def write(posts: list[dict], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        for p in posts:
            f.write(json.dumps(p, ensure_ascii=False) + "\n")


PER_FILE = 10_000  # ≈ 33 MB of JSONL: under the reader's per-file limit, like a real export


def write_folder(posts: list[dict], folder: Path) -> None:
    """The archive as posts-000.jsonl, posts-001.jsonl, … of PER_FILE posts each. A file whose
    posts did not change is left untouched, so an update sees one changed file."""
    folder.mkdir(parents=True, exist_ok=True)
    for k in range(0, max(len(posts), 1), PER_FILE):
        path = folder / f"posts-{k // PER_FILE:03d}.jsonl"
        text = "".join(json.dumps(p, ensure_ascii=False) + "\n" for p in posts[k : k + PER_FILE])
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--posts", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("-o", "--out", type=Path, required=True)
    args = ap.parse_args()
    write(generate(args.posts, args.seed), args.out)
