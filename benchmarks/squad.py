r"""tipbot on a public reading-comprehension benchmark: SQuAD v1.1's development set.

    .venv/bin/python benchmarks/squad.py --squad dev-v1.1.json --workdir /tmp/squad
    .venv/bin/python benchmarks/squad.py --squad dev-v1.1.json --workdir /tmp/squad \
        --questions 0  # all 10,570
    .venv/bin/python benchmarks/squad.py --squad dev-v1.1.json --workdir /tmp/long \
        --questions 0 --post-chars 3000
    .venv/bin/python benchmarks/squad.py --squad dev-v1.1.json --workdir /tmp/off \
        --offtopic corpus --questions 1000

Each Wikipedia paragraph becomes a post (2,067 of them, titled by their article, so the other
paragraphs of the same article are the hard distractors), and each crowd-written question asks
for the post of its paragraph, with the crowd's answer spans as gold answers. The script writes
that archive as JSONL and the questions as a tipbot question file, builds the index with
`tipbot index build`, and runs `tipbot eval` on it: the same commands an evaluator runs. Beside
them, on the same hybrid retrieval, it scores a plain baseline: quoting the single sentence of
each result that is most similar to the question (cosine of the build's sentence vectors).

With ``--post-chars N`` consecutive paragraphs of an article are joined into posts of about N
characters (blank lines between), the archive's shape: the quote must then be found among ~20
sentences, not ~5. With ``--offtopic CORPUS`` the questions are asked of another archive
(e.g. the seed archive in ``corpus/``) with no gold post, so the report's
declined_unanswerable is the share of unrelated questions tipbot declines.

SQuAD has no off-topic questions of its own, so otherwise the abstention figure here is only
the share of answerable questions tipbot answers. The data is not shipped with tipbot
(CC BY-SA 4.0); pass the path of ``dev-v1.1.json``. Results go to ``WORKDIR/results.json`` and
a table is printed.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from tipbot import retrieve
from tipbot.archive import Archive
from tipbot.config import load_config
from tipbot.evaluate import contains_answer
from tipbot.retrieve import Filters, Mode

CONFIG = """\
# Written by benchmarks/squad.py: SQuAD paragraphs as posts, every other setting at its default.
[corpus]
paths = ["corpus"]
[index]
dir = "index"
"""


def slug(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")


def _groups(paragraphs: list[dict], post_chars: int) -> list[list[dict]]:
    """Consecutive paragraphs in runs of about ``post_chars`` characters; 0: one per post."""
    if post_chars <= 0:
        return [[p] for p in paragraphs]
    groups: list[list[dict]] = [[]]
    size = 0
    for para in paragraphs:
        if groups[-1] and size + len(para["context"]) > post_chars:
            groups.append([])
            size = 0
        groups[-1].append(para)
        size += len(para["context"]) + 2
    return groups


def convert(
    squad: Path,
    workdir: Path,
    n_questions: int,
    seed: int,
    post_chars: int = 0,
    offtopic: Path | None = None,
) -> tuple[int, int]:
    """SQuAD JSON → workdir/corpus/squad.jsonl (posts) and workdir/questions.jsonl.
    Returns (posts, questions). ``offtopic``: the questions go without gold, and the config
    reads that corpus instead of the SQuAD posts."""
    data = json.loads(squad.read_text(encoding="utf-8"))["data"]
    posts, questions = [], []
    for article in data:
        title = article["title"].replace("_", " ")
        for i, group in enumerate(_groups(article["paragraphs"], post_chars)):
            pid = f"{slug(article['title'])}-{i:03d}"
            posts.append(
                {
                    "id": pid,
                    "title": title,
                    # Paragraph i of the article: the link's fragment finds the quote on the page.
                    "url": f"https://en.wikipedia.org/wiki/{article['title'].replace(' ', '_')}",
                    "text": "\n\n".join(para["context"] for para in group),
                }
            )
            for qa in (qa for para in group for qa in para["qas"]):
                answers = list(dict.fromkeys(a["text"].strip() for a in qa["answers"]))
                questions.append(
                    {
                        "id": qa["id"],
                        "question": qa["question"].strip(),
                        "gold": [] if offtopic else [pid],
                        "answers": [] if offtopic else answers,
                    }
                )
    if 0 < n_questions < len(questions):
        questions = random.Random(seed).sample(questions, n_questions)
    (workdir / "corpus").mkdir(parents=True, exist_ok=True)
    with open(workdir / "corpus" / "squad.jsonl", "w", encoding="utf-8") as f:
        for p in posts:
            f.write(json.dumps(p, ensure_ascii=False) + "\n")
    with open(workdir / "questions.jsonl", "w", encoding="utf-8") as f:
        for q in questions:
            f.write(json.dumps(q, ensure_ascii=False) + "\n")
    config = CONFIG
    if offtopic:
        config = config.replace(
            'paths = ["corpus"]', f"paths = [{json.dumps(str(offtopic.resolve()))}]"
        )
    (workdir / "config.toml").write_text(config)
    return len(posts), len(questions)


def tipbot(*args: str) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).with_name("tipbot")
    done = subprocess.run([str(exe), *args], capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"tipbot {' '.join(args)} failed:\n{done.stderr.strip()}")
    return done


def baseline(config: Path, questions: list[dict], k: int = 3) -> dict:
    """Answer-in-quote when each of the first k hybrid results quotes only its sentence most
    similar to the question (no abstention): the figure the extraction has to beat, and the
    mean length of those sentences."""
    archive = Archive.open(load_config(config), build_if_needed=False)
    data = archive.data
    at1 = at3 = chars = 0
    for q in questions:
        # The hits ask(abstain=False) quotes from, with the question's vector kept.
        text, _ = archive.clean_question(q["question"])
        qvec = archive.embedder.encode_one(text)
        hits = retrieve.search(data, qvec, text, k, archive.cfg.retrieval, Mode.HYBRID, Filters())
        found = []
        for hit in hits:
            p = hit.post_index
            s0, s1 = int(data.post_sent[p]), int(data.post_sent[p + 1])
            best = s0 + int(np.argmax(np.asarray(data.sentence_vectors[s0:s1]) @ qvec))
            sentence = data.posts[p].text[int(data.sent_start[best]) : int(data.sent_end[best])]
            gold = data.posts[p].id in q["gold"]
            found.append(gold and contains_answer(sentence, q["answers"]))
            if len(found) == 1:
                chars += len(sentence)
        at1 += bool(found[:1] and found[0])
        at3 += any(found)
    n = len(questions)
    return {
        "answer_in_quote@1": at1 / n,
        "answer_in_quote@3": at3 / n,
        "mean_first_quote_chars": chars / n,
    }


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--squad", type=Path, required=True, help="SQuAD v1.1 dev-v1.1.json")
    ap.add_argument("--workdir", type=Path, required=True)
    ap.add_argument("--questions", type=int, default=2000, help="seeded sample; 0 for all")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--reuse", action="store_true", help="keep an index already in WORKDIR")
    ap.add_argument(
        "--post-chars", type=int, default=0, help="join paragraphs into posts of ~N characters"
    )
    ap.add_argument(
        "--offtopic", type=Path, help="ask the questions of this corpus instead, without gold"
    )
    args = ap.parse_args()
    work = args.workdir.resolve()
    n_posts, n_q = convert(
        args.squad, work, args.questions, args.seed, args.post_chars, args.offtopic
    )
    config = work / "config.toml"
    print(f"{n_posts} posts, {n_q} questions in {work}", flush=True)
    t0 = time.perf_counter()
    if not (args.reuse and (work / "index" / "CURRENT").exists()):
        tipbot("--config", str(config), "index", "build")
    build_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    out = tipbot("--config", str(config), "eval", "run", str(work / "questions.jsonl"), "--json")
    eval_s = time.perf_counter() - t0
    report = json.loads(out.stdout)
    questions = [json.loads(x) for x in (work / "questions.jsonl").read_text().splitlines()]
    base = None if args.offtopic else baseline(config, questions)
    results = {
        "posts": n_posts,
        "questions": n_q,
        "seed": args.seed,
        "post_chars": args.post_chars,
        "offtopic": str(args.offtopic) if args.offtopic else None,
        "build_s": round(build_s, 1),
        "eval_s": round(eval_s, 1),
        "report": report,
        "single_sentence_baseline": base,
    }
    (work / "results.json").write_text(json.dumps(results, indent=2))
    print_tables(results)


def print_tables(results: dict) -> None:
    report = results["report"]
    m, modes, ab = report["metrics"], report["modes"], report["abstention"]
    plain = report.get("pipeline_no_reader")
    shape = (
        f"posts of ~{results['post_chars']} characters"
        if results["post_chars"]
        else "paragraphs as posts"
    )
    print(
        f"\nSQuAD v1.1 dev: {results['posts']} {shape}, {results['questions']} questions "
        f"(seed {results['seed']})\n"
    )
    if results["offtopic"]:
        print(
            f"asked of {results['offtopic']} without gold: "
            f"declined {ab['declined_unanswerable']:.4f}",
            end="",
        )
        if plain:
            print(f" (without the reader {plain['declined_unanswerable']:.4f})", end="")
        print(f"; latency p50 {report['latency_ms'].get('p50')} ms")
        return
    print("| ranking | success@1 | recall@1 | recall@5 | mrr@10 |")
    print("| --- | --- | --- | --- | --- |")
    for mode, r in modes.items():
        print(
            f"| {mode} | {r['success@1']:.3f} | {r['recall@1']:.3f} | {r['recall@5']:.3f} "
            f"| {r['mrr@10']:.3f} |"
        )
    print("\n| quotes | answer in first | in first three | first quote chars |")
    print("| --- | --- | --- | --- |")
    base = results["single_sentence_baseline"]
    print(
        "| single most similar sentence (hybrid, no abstention) "
        f"| {base['answer_in_quote@1']:.3f} | {base['answer_in_quote@3']:.3f} "
        f"| {base['mean_first_quote_chars']:.0f} |"
    )
    for mode, r in modes.items():
        print(
            f"| {mode}, no abstention | {r['answer_in_quote@1']:.3f} "
            f"| {r['answer_in_quote@3']:.3f} | {r['quote_chars']:.0f} |"
        )
    if plain:
        print(
            f"| tipbot ask without the reader | {plain['answer_in_quote@1']:.3f} "
            f"| {plain['answer_in_quote@3']:.3f} | {plain['quote_chars']:.0f} |"
        )
    print(
        f"| tipbot ask | {m['answer_in_quote@1']:.3f} | {m['answer_in_quote@3']:.3f} "
        f"| {m['quote_chars']:.0f} |"
    )
    print(
        f"\nanswered {ab.get('answered_answerable')}, "
        f"latency p50 {report['latency_ms'].get('p50')} ms"
    )
    print(f"build {results['build_s']:.0f} s, eval {results['eval_s']:.0f} s")


if __name__ == "__main__":
    main()
