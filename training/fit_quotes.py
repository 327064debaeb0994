"""How the reader's quotes are put together, chosen on held-out SQuAD *train* articles.

    .venv/bin/python training/fit_quotes.py --config /work/val/config.toml \
        --questions /work/val/questions.jsonl --sample 1000 --seed 1

``--config`` and ``--questions`` are the validation archive (``squad_posts.write_archive`` of
the 40 held-out articles, indexed with ``tipbot index build``). The sentences of a quote are
scored by the hand weights, by the reader, or by both (``[answer] quotes``); the rules of
``extract.choose_sentences`` (companions by their share of the best score, a sentence between
brought in, a long companion cut at clauses) then add up to two more to the best. Those rules
were set by hand on tests/data for the hand-weighted scores. This script runs the whole
pipeline (``Archive.ask``, no abstention) on validation questions with each variant and
prints, for the first quote, how often it holds the answer and its mean length, so each rule
is kept only if it earns its place.
"""

from __future__ import annotations

import argparse
import dataclasses
import pickle
import random
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from tipbot import extract, reading
from tipbot.archive import Archive
from tipbot.config import QuoteSource, Rerank, load_config
from tipbot.evaluate import answer_in_quote
from tipbot.evaluate_io import load_questions

HAND, READER, BLEND = QuoteSource.HAND, QuoteSource.READER, QuoteSource.BLEND


@dataclass(frozen=True)
class Variant:
    quotes: QuoteSource
    reader: dict[str, Any] = field(default_factory=dict)  # changes to the reader's settings
    quote: dict[str, Any] = field(default_factory=dict)  # changes to the quote settings
    unread_gap: float = reading.UNREAD_GAP
    hand_companions: bool = False  # blend: the best by the blend, companions by hand weights


def blend(weight: float, reader: dict[str, Any] | None = None, **kw: Any) -> Variant:
    """A ``quotes = "blend"`` variant with the reader's logit at ``weight``."""
    return Variant(BLEND, {"quote_reader_weight": weight, **(reader or {})}, **kw)


VARIANTS: dict[str, Variant] = {
    "hand-weighted scores": Variant(HAND),
    "the reader's sentence alone": Variant(READER, quote={"max_sentences": 1}),
    "reader, companions by the hand rules (share 0.3 beside, 0.6 apart)": Variant(READER),
    "reader, companions beside it at share 0.1": Variant(
        READER, quote={"min_ratio": 0.1, "min_ratio_apart": 1.01}
    ),
    "hand + 0.1 × reader logit": blend(0.1),
    "hand + 0.2 × reader logit": blend(0.2),
    "hand + 0.3 × reader logit": blend(0.3),
    "hand + 0.5 × reader logit": blend(0.5),
    "hand + 0.1 × reader logit, unread sentences at the lowest logit": blend(0.1, unread_gap=0.0),
    "hand + 0.1 × reader logit, unread sentences 3 below it": blend(0.1, unread_gap=3.0),
    "hand + 0.1 × reader logit, only sentences read": blend(0.1, unread_gap=10.0),
    "hand + 0.1 × reader logit, companions by the hand weights": blend(0.1, hand_companions=True),
    "hand + 0.3 × reader logit, companions by the hand weights": blend(0.3, hand_companions=True),
    "hand + 0.3 × reader logit, no lede discount": blend(0.3, quote={"w_lead": 0.0}),
    "hand + 0.3 × reader logit, no title discount": blend(0.3, quote={"w_title": 0.0}),
    "hand + 0.3 × reader logit, neither discount": blend(
        0.3, quote={"w_lead": 0.0, "w_title": 0.0}
    ),
    "hand + 0.3 × reader logit, 6 sentences read a post": blend(0.3, reader={"per_post": 6}),
    "hand + 0.1 × reader logit, posts ranked by the rule before (rerank = weight)": blend(
        0.1, reader={"rerank": Rerank.WEIGHT}
    ),
}

_BLENDED = reading.blended_scored


def _set(v: Variant) -> None:
    """The module-level parts of a variant: the unread gap, and companions by hand weights."""
    reading.UNREAD_GAP = v.unread_gap

    def hand_companions(
        f: extract.Features,
        chosen: np.ndarray,
        z: np.ndarray,
        s: extract.QuoteSettings,
        weight: float,
    ) -> extract.Scored:
        sc = _BLENDED(f, chosen, z, s, weight)
        return replace(sc, scores=extract.hand_scores(f, s)[0])

    reading.blended_scored = hand_companions if v.hand_companions else _BLENDED


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--config", type=Path, required=True)
    ap.add_argument("--questions", type=Path, required=True)
    ap.add_argument("--sample", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=1, help="of the sample")
    ap.add_argument("--only", nargs="*", type=int, help="variants by number, from 0")
    ap.add_argument(
        "--exclude",
        type=Path,
        help="a collect.py table whose questions are left out (those a model was fitted on)",
    )
    args = ap.parse_args()
    archive = Archive.open(load_config(args.config), build_if_needed=False)
    qs = [q for q in load_questions(args.questions).questions if q.answerable]
    if args.exclude:
        seen = {q["qid"] for q in pickle.loads(args.exclude.read_bytes())["questions"]}
        qs = [q for q in qs if q.qid not in seen]
    qs = random.Random(args.seed).sample(qs, min(args.sample, len(qs)))
    base, settings = archive.quote_settings, archive.reader_settings
    print(f"{len(qs)} validation questions (seed {args.seed})\n")
    print("| quotes | answer in first quote | in first three | first quote chars |")
    print("| --- | --- | --- | --- |")
    for i, (name, v) in enumerate(VARIANTS.items()):
        if args.only and i not in args.only:
            continue
        archive.reader_settings = dataclasses.replace(settings, quotes=v.quotes, **v.reader)
        archive.quote_settings = dataclasses.replace(base, **v.quote)
        _set(v)
        at1 = at3 = chars = 0
        for q in qs:
            shown = [(r.post_id, r.text) for r in archive.ask(q.text, 3, abstain=False).results]
            at1 += answer_in_quote(q, shown, 1)
            at3 += answer_in_quote(q, shown, 3)
            chars += len(shown[0][1]) if shown else 0
        n = len(qs)
        print(f"| {name} | {at1 / n:.3f} | {at3 / n:.3f} | {chars / n:.0f} |", flush=True)
    archive.quote_settings, archive.reader_settings = base, settings
    _set(Variant(HAND))


if __name__ == "__main__":
    main()
