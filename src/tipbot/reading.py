"""Hits → what the reader makes of them: which sentences answer, in which posts, how surely.

For each of the first ``depth`` posts retrieval found, the linear scorer (``tipbot.scorer``)
picks the ``per_post`` sentences most worth reading; the reader reads them all with the
question in one batch. Each post's highest logit

- reranks the posts, with the post's other evidence (``Reranker``: retrieval's score
  standardised over these posts, the logit and the best sentence's cosine, weighted as fitted
  on validation), or by the rule before it (``rerank = "weight"``:
  retrieval's score plus ``rerank_weight`` times the logit);
- is the first post's evidence for answering at all (``abstain.ReaderAbstention``, against
  ``min_answer``);
- decides which posts to show: a later post whose probability is below ``min_shown`` is left
  out rather than quoted for a passage that does not answer.

The sentences to quote are scored by the hand weights plus ``quote_reader_weight`` times the
reader's logit (``quotes = "blend"``, the default; a sentence not read counts as reading one
below the post's lowest logit), by the hand weights alone (``"hand"``), or by the reader alone
(``"reader"``: its probability for each sentence it read, nothing for the rest, the quote built
around the sentence with the highest logit plus ``scorer_weight`` times the linear score).

Every constant here was chosen on held-out SQuAD *train* articles (``training/fit_pipeline.py``,
``fit_abstain.py``, ``fit_quotes.py``; figures in README "The reader").
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import NamedTuple

import numpy as np

from tipbot import extract
from tipbot.config import AnswerConfig, QuoteSource, Rerank
from tipbot.index.store import IndexData
from tipbot.reader import Reader
from tipbot.scorer import LinearScorer, load_linear
from tipbot.types import Hit

RERANK_FILE = Path(__file__).resolve().parent / "models" / "rerank.json"


@dataclass(frozen=True)
class ReaderSettings:
    """From ``[answer]`` in config.toml (``reader_posts``, ``reader_sentences``, …), where the
    defaults live."""

    depth: int
    per_post: int
    rerank: Rerank
    rerank_weight: float
    scorer_weight: float
    quotes: QuoteSource  # whose scores build the quotes
    quote_reader_weight: float  # the reader's share in "blend" quotes
    min_answer: float
    min_shown: float

    @classmethod
    def from_config(cls, a: AnswerConfig) -> ReaderSettings:
        return cls(
            a.reader_posts,
            a.reader_sentences,
            a.rerank,
            a.rerank_weight,
            a.scorer_weight,
            a.quotes,
            a.quote_reader_weight,
            a.min_answer,
            a.min_shown,
        )


@dataclass(frozen=True)
class Reading:
    """One post as read: its hit, its sentences scored for quoting, and the verdict."""

    hit: Hit
    scored: extract.Scored
    logit: float  # the reader's highest logit among the post's sentences
    rank: float  # the score posts are reranked by

    @property
    def answer(self) -> float:
        """The probability that the post answers: its highest logit, through a sigmoid."""
        return float(_sigmoid(np.array(self.logit)))

    def evidence(self, unknown_name: bool) -> np.ndarray:
        """The columns of ``abstain.COLUMNS`` for this post."""
        sc = self.scored
        return np.array(
            [self.logit, sc.dense.max(), self.hit.dense, sc.lexical.max(), float(unknown_name)]
        )


class Reranker:
    """A read post's rank: a weighted sum of ``COLUMNS``, fitted with a softmax over each
    validation question's posts (``training/fit_rerank.py``, which may leave a column at
    zero). The post's best sentence cosine beside the logit puts the right post first more
    often than the logit alone (README, "Reranking the posts read")."""

    # Retrieval's score standardised over the posts read, then ``Reading.evidence``'s first
    # four columns (the last, an unknown name, is the question's, the same for every post).
    COLUMNS = ("retrieval", "reader", "dense", "chunk_dense", "lexical")

    def __init__(self, path: Path = RERANK_FILE) -> None:
        # No bias: a constant added to every post ranks nothing.
        self.weights, _ = load_linear(path, self.COLUMNS)

    def rank(self, retrieval: float, reading: Reading) -> float:
        evidence = reading.evidence(unknown_name=False)[:4]
        return float(self.weights[0] * retrieval + evidence @ self.weights[1:])


class Read(NamedTuple):
    """One post as the reader read it for one question: its sentences' features, their linear
    scores, the sentences read and the reader's logits for them."""

    features: extract.Features
    linear: np.ndarray
    chosen: np.ndarray
    logits: np.ndarray


@dataclass
class ReadCache:
    """What one question's readings share: posts read (by post and matched chunk) and each
    sentence's logit (by sentence row)."""

    posts: dict[tuple[int, int], Read] = field(default_factory=dict)
    logits: dict[int, float] = field(default_factory=dict)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    p: np.ndarray = 1.0 / (1.0 + np.exp(-np.clip(z, -30.0, 30.0)))
    return p


def _standardise(x: np.ndarray) -> np.ndarray:
    spread = float(x.std())
    return (x - x.mean()) / spread if spread > 0 else np.zeros_like(x)


def _reader_scored(
    f: extract.Features, chosen: np.ndarray, z: np.ndarray, linear: np.ndarray, weight: float
) -> extract.Scored:
    """The sentences read, scored by the reader's probability (the rest 0), built around the
    one with the highest logit plus ``weight`` times its linear score: the reader alone picks
    the answer's sentence less often than with the scorer's view of the whole post added
    (README, "The reader")."""
    probs = np.zeros(len(f.rows), dtype=np.float32)
    probs[chosen] = _sigmoid(z)
    best = int(chosen[int(np.argmax(z + weight * linear))])
    return extract.Scored(f.rows, probs, f.dense, f.lexical, best, best, f.query)


# In a blended quote, a sentence the linear scorer did not pick for reading counts as reading
# this much below the lowest logit read. On validation (three samples of 1,000 questions,
# weight 0.1) the first quote held the answer for 0.824 with no gap, 0.827 with 1, 0.828 with
# 3 and with 10 (only sentences read are quoted; quotes 30 characters longer): 1 is the
# smallest gap on the plateau (README, "The reader").
UNREAD_GAP = 1.0


def blended_scored(
    f: extract.Features, chosen: np.ndarray, z: np.ndarray, s: extract.QuoteSettings, weight: float
) -> extract.Scored:
    """The hand-weighted scores plus ``weight`` times the reader's logit, quoted around the
    highest, its companions chosen by the same scores. The reader finds the answer's sentence
    more often than the hand weights; the hand weights score every sentence, read or not
    (README, "The reader")."""
    hand = extract.hand_scored(f, s)
    logits = np.full(len(f.rows), float(z.min()) - UNREAD_GAP, dtype=np.float32)
    logits[chosen] = z
    blended = (hand.scores + weight * logits).astype(np.float32)
    return replace(hand, scores=blended, best=int(np.argmax(blended)))


def read(
    data: IndexData,
    hits: list[Hit],
    qvec: np.ndarray,
    question: str,
    reader: Reader,
    scorer: LinearScorer,
    quote_settings: extract.QuoteSettings,
    s: ReaderSettings,
    term_ids: np.ndarray,
    idf: np.ndarray,
    threads: int = 1,
    *,
    reranker: Reranker | None = None,
    bonus: dict[int, float] | None = None,
    cache: ReadCache | None = None,
) -> list[Reading]:
    """The posts of ``hits`` (best first, as retrieval ranked them) read and reranked.

    ``reranker``: the fitted ranking, needed when ``s.rerank`` is "model".
    ``bonus``: post index → added to its rank (a conversation's earlier posts). ``cache``:
    posts already read for this question (same text, same vector), by (post, chunk matched:
    the quote scores favour its sentences), filled as posts are read, so a second retrieval for
    the same question reads only the posts the first did not."""
    if not hits:
        return []
    cache = ReadCache() if cache is None else cache
    todo = [hit for hit in hits if (hit.post_index, hit.chunk_index) not in cache.posts]
    feats = [
        extract.sentence_features(data, hit, qvec, question, term_ids, idf, quote_settings)
        for hit in todo
    ]
    linear = [scorer.scores(f) for f in feats]
    picks = [np.argsort(-lin, kind="stable")[: s.per_post] for lin in linear]
    # A sentence read for one chunk is not read again for another: its logit is the same.
    wanted = [
        (int(f.rows[int(i)]), data.posts[hit.post_index].title, f.sentences[int(i)])
        for hit, f, chosen in zip(todo, feats, picks, strict=True)
        for i in chosen
    ]
    fresh = {row: (title, text) for row, title, text in wanted if row not in cache.logits}
    if fresh:
        got = reader.logits(question, list(fresh.values()), threads)
        cache.logits.update(zip(fresh, got.tolist(), strict=True))
    for hit, f, lin, chosen in zip(todo, feats, linear, picks, strict=True):
        z = np.array([cache.logits[int(f.rows[int(i)])] for i in chosen], dtype=np.float32)
        cache.posts[hit.post_index, hit.chunk_index] = Read(f, lin, chosen, z)
    out = []
    retrieval = _standardise(np.array([h.score for h in hits], dtype=np.float64))
    bonus = bonus or {}
    for hit, from_retrieval in zip(hits, retrieval, strict=True):
        f, lin, chosen, z = cache.posts[hit.post_index, hit.chunk_index]
        top = float(z.max())
        if s.quotes == QuoteSource.BLEND:
            scored = blended_scored(f, chosen, z, quote_settings, s.quote_reader_weight)
        elif s.quotes == QuoteSource.HAND:
            scored = extract.hand_scored(f, quote_settings)
        else:
            scored = _reader_scored(f, chosen, z, lin[chosen], s.scorer_weight)
        post = Reading(hit, scored, top, 0.0)
        if s.rerank == Rerank.MODEL:
            assert reranker is not None, 'rerank = "model" needs the fitted Reranker'
            rank = reranker.rank(float(from_retrieval), post)
        else:
            rank = float(from_retrieval) + s.rerank_weight * top
        out.append(replace(post, rank=rank + bonus.get(hit.post_index, 0.0)))
    # Equal scores keep retrieval's order (a stable sort).
    return sorted(out, key=lambda r: -r.rank)
