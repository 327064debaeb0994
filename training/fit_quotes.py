"""How the reader's quotes are put together, chosen on held-out SQuAD *train* articles.

    .venv/bin/python training/fit_quotes.py --config /work/val/config.toml \
        --questions /work/val/questions.jsonl --sample 600

The reader names the sentence a quote is built around; the rules of ``extract.choose_sentences``
(companions by their share of the best score, a sentence between brought in, a long companion
cut at clauses) then add up to two more. Those rules were set by hand on tests/data for the
hand-weighted scores. This script runs the whole pipeline (``Archive.ask``, no abstention) on
validation questions with each variant and prints, for the first quote, how often it holds the
answer and its mean length, so each rule is kept only if it earns its place.
"""

from __future__ import annotations

import argparse
import dataclasses
import random
from pathlib import Path

from tipbot.archive import Archive
from tipbot.config import QuoteSource, load_config
from tipbot.evaluate import answer_in_quote
from tipbot.evaluate_io import load_questions

VARIANTS = {
    "hand-weighted scores, no reader (the rival)": None,
    "the reader's sentence alone": {"max_sentences": 1},
    "companions by the hand rules (share 0.3 beside, 0.6 apart)": {},
    "companions only beside it (none apart)": {"min_ratio_apart": 1.01},
    "companions beside it at share 0.1": {"min_ratio": 0.1, "min_ratio_apart": 1.01},
    "any read sentence at share 0.1": {"min_ratio": 0.1, "min_ratio_apart": 0.1},
    "no sentence between, no cut companion": {"trim_share": 1.01},
    "the hand scores' quotes of the posts as the reader ranks them": "hand",
}


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--config", type=Path, required=True)
    ap.add_argument("--questions", type=Path, required=True)
    ap.add_argument("--sample", type=int, default=600)
    ap.add_argument("--only", nargs="*", type=int, help="variants by number, from 0")
    args = ap.parse_args()
    archive = Archive.open(load_config(args.config), build_if_needed=False)
    qs = [q for q in load_questions(args.questions).questions if q.answerable]
    qs = random.Random(0).sample(qs, min(args.sample, len(qs)))
    base, settings = archive.quote_settings, archive.reader_settings
    print(f"{len(qs)} validation questions\n")
    print("| quotes | answer in first quote | in first three | first quote chars |")
    print("| --- | --- | --- | --- |")
    for i, (name, change) in enumerate(VARIANTS.items()):
        if args.only and i not in args.only:
            continue
        archive.reader_settings = dataclasses.replace(
            settings, quotes=QuoteSource.HAND if change == "hand" else QuoteSource.READER
        )
        archive.quote_settings = dataclasses.replace(
            base, **(change if isinstance(change, dict) else {})
        )
        at1 = at3 = chars = 0
        for q in qs:
            shown = [
                (r.post_id, r.text)
                for r in archive.ask(q.text, 3, abstain=False, reader=change is not None).results
            ]
            at1 += answer_in_quote(q, shown, 1)
            at3 += answer_in_quote(q, shown, 3)
            chars += len(shown[0][1]) if shown else 0
        n = len(qs)
        print(f"| {name} | {at1 / n:.3f} | {at3 / n:.3f} | {chars / n:.0f} |", flush=True)
    archive.quote_settings = base


if __name__ == "__main__":
    main()
