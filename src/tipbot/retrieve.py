"""Question → the best posts: dense (FAISS) and lexical (BM25) candidates, fused, one per post.

Everything on this path is array work over candidate sets; no Python loop touches every chunk.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum

import numpy as np

from tipbot.config import Fusion, RetrievalConfig
from tipbot.index import dense
from tipbot.index.store import NO_DATE, IndexData
from tipbot.lexical import analyze, rows_term_mass
from tipbot.types import Hit


class Mode(StrEnum):
    """Which retrieval signals rank the posts. ``hybrid`` is what ``ask`` uses."""

    LEXICAL = "lexical"
    DENSE = "dense"
    HYBRID = "hybrid"


@dataclass(frozen=True)
class Filters:
    since: dt.date | None = None
    until: dt.date | None = None
    label: str | None = None

    @property
    def active(self) -> bool:
        return self.since is not None or self.until is not None or bool(self.label)

    def post_mask(self, data: IndexData) -> np.ndarray:
        """bool (posts,): posts that pass. Undated posts fail any date bound."""
        mask = np.ones(len(data.posts), dtype=bool)
        epoch = dt.date(1970, 1, 1)
        if self.since is not None:
            mask &= data.post_days >= (self.since - epoch).days
        if self.until is not None:
            mask &= (data.post_days <= (self.until - epoch).days) & (data.post_days != NO_DATE)
        if self.label:
            labelled = np.zeros(len(data.posts), dtype=bool)
            labelled[data.label_posts.get(self.label.casefold(), np.zeros(0, np.int64))] = True
            mask &= labelled
        return mask


_SAMPLE_STEP = 16


def _top(scores: np.ndarray, n: int) -> np.ndarray:
    """Indices of the ``n`` largest scores, best first (equal scores by index)."""
    n = min(n, scores.size)
    if n <= 0:
        return np.zeros(0, dtype=np.int64)
    if scores.size >= _SAMPLE_STEP * 8 * n:
        # A selection over a whole large archive's scores is the slow part of BM25's top n
        # (README, "Performance"). A threshold from every 16th score keeps about 2n of them in
        # expectation; one comparison pass then leaves a short list to select from. If fewer
        # than n pass, the guess was unlucky and the whole array is searched: exact either way.
        sample = scores[::_SAMPLE_STEP]
        m = min(sample.size, 2 * n // _SAMPLE_STEP + 1)
        threshold = np.partition(sample, sample.size - m)[sample.size - m]
        passed = np.flatnonzero(scores >= threshold)
        if passed.size >= n:
            return _best(scores, passed, n)
    return _best(scores, np.arange(scores.size), n)


def _best(scores: np.ndarray, rows: np.ndarray, n: int) -> np.ndarray:
    sub = scores[rows]
    part = np.argpartition(-sub, n - 1)[:n] if n < sub.size else np.arange(sub.size)
    picked = rows[part]
    return picked[np.lexsort((picked, -scores[picked]))]


def lexical_candidates(scores: np.ndarray, n: int, chunk_mask: np.ndarray | None) -> np.ndarray:
    masked = scores if chunk_mask is None else np.where(chunk_mask, scores, 0.0)
    top = _top(masked, n)
    kept: np.ndarray = top[masked[top] > 0]
    return kept


def _rank_in(candidates: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Rank (0 = best) of each of ``rows`` in ``candidates`` (best first); -1 where absent.

    Searched in the few hundred candidates rather than looked up in a table as long as the
    archive, which would mean allocating and filling two arrays of 900,000 rows per question at
    100,000 posts."""
    if candidates.size == 0:
        return np.full(rows.size, -1, dtype=np.int64)
    order = np.argsort(candidates, kind="stable")
    ordered = candidates[order]
    pos = np.minimum(np.searchsorted(ordered, rows), ordered.size - 1)
    return np.where(ordered[pos] == rows, order[pos], -1)


def _standardise(x: np.ndarray) -> np.ndarray:
    """Scores as z-scores over the candidate pool: 0 mean, unit spread (all 0 when flat)."""
    spread = float(x.std())
    return (x - x.mean()) / spread if spread > 0 else np.zeros_like(x)


SentenceRows = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def _sentence_rows(data: IndexData, chunks: np.ndarray) -> SentenceRows:
    """The sentence rows of ``chunks``, chunk after chunk: (distinct rows sorted, each listed
    row's place among them, sentences per chunk, each chunk's first place in the list).

    Overlapping chunks share sentences, so each distinct row is read once (in order: a
    memory-mapped array reads fastest that way) and spread back to the chunks."""
    starts = data.chunk_sent_start[chunks].astype(np.int64)
    lengths = data.chunk_sent_end[chunks].astype(np.int64) - starts
    offsets = np.concatenate(([0], np.cumsum(lengths)[:-1]))
    rows = np.repeat(starts - offsets, lengths) + np.arange(int(lengths.sum()))
    distinct, back = np.unique(rows, return_inverse=True)
    return distinct, back, lengths, offsets


def _best_per_chunk(
    values: np.ndarray, lengths: np.ndarray, offsets: np.ndarray, empty: float
) -> np.ndarray:
    """Each chunk's largest value over its segment of ``values``. A chunk without sentences
    cannot be built, but an index is data read from disk: such a chunk gets ``empty``
    instead of shifting every later chunk's segment."""
    best = np.full(lengths.size, empty, dtype=np.float32)
    some = lengths > 0
    if some.any():
        best[some] = np.maximum.reduceat(values, offsets[some])
    return best


def best_sentence_cosine(
    data: IndexData, chunks: np.ndarray, qvec: np.ndarray, rows: SentenceRows | None = None
) -> np.ndarray:
    """float32 (len(chunks),): each chunk's highest sentence cosine with the question.
    ``rows``: ``_sentence_rows(data, chunks)`` when the caller has it already.

    A chunk's vector averages several sentences; a question usually paraphrases one of them,
    which the sentence's own vector (computed at build time for quoting) matches better.
    """
    distinct, back, lengths, offsets = rows or _sentence_rows(data, chunks)
    sims: np.ndarray = (np.asarray(data.sentence_vectors[distinct]) @ qvec)[back]
    return _best_per_chunk(sims, lengths, offsets, -1.0)


def best_sentence_overlap(
    data: IndexData,
    chunks: np.ndarray,
    term_ids: np.ndarray,
    idf: np.ndarray,
    rows: SentenceRows | None = None,
) -> np.ndarray:
    """float32 (len(chunks),): the largest share of the question's idf that one sentence of
    each chunk holds (0–1). term_ids sorted, idf theirs; ``rows`` as for best_sentence_cosine.

    BM25 counts the question's words anywhere in the chunk; a question is usually written
    from one sentence, so its rare words gathered in one sentence are further evidence."""
    total = float(idf.sum())
    if term_ids.size == 0 or total <= 0:
        return np.zeros(chunks.size, dtype=np.float32)
    distinct, back, lengths, offsets = rows or _sentence_rows(data, chunks)
    mass = rows_term_mass(data.sentence_terms, distinct, term_ids, idf.astype(np.float64))
    shares: np.ndarray = (mass / total)[back]
    return _best_per_chunk(shares, lengths, offsets, 0.0)


def _one_per_post(
    data: IndexData,
    pool: np.ndarray,
    chunk_score: np.ndarray,
    k: int,
    post_score: np.ndarray | None = None,
) -> list[tuple[int, int, float]]:
    """(post, position in pool of its chunk, post's score) for the ``k`` best posts.

    A post's chunk is its best by ``chunk_score``; posts rank by their best ``post_score``
    (by their chunk's ``chunk_score`` when there is none)."""
    posts = data.chunk_post[pool]
    order = np.argsort(-chunk_score, kind="stable")
    distinct, first = np.unique(posts[order], return_index=True)
    chunk_of = order[first]  # each distinct post's chunk, posts in id order
    if post_score is None:
        best = chunk_score[chunk_of]
    else:
        best = np.full(distinct.size, -np.inf)
        np.maximum.at(best, np.searchsorted(distinct, posts), post_score)
    # Equal scores keep the earlier post (by its chunk's place in the chunk ranking).
    ranked = np.lexsort((first, -best))[:k]
    return [(int(distinct[j]), int(chunk_of[j]), float(best[j])) for j in ranked]


@dataclass(frozen=True)
class Pool:
    """The candidate chunks of one question, with what every fusion reads."""

    data: IndexData
    qvec: np.ndarray
    question: str
    rows: np.ndarray  # chunk rows, sorted
    cos: np.ndarray  # each row's chunk cosine with the question
    bm25: np.ndarray  # each row's BM25 score
    dense_ids: np.ndarray  # the dense candidates, best first
    lex_ids: np.ndarray  # the lexical candidates, best first
    settings: RetrievalConfig


# (chunk scores that pick each post's chunk, post scores that rank the posts or None to rank
# them by their chunk's score)
Fused = tuple[np.ndarray, np.ndarray | None]


def _zscore(p: Pool) -> Fused:
    """Each signal standardised over the candidate pool, so a BM25 score and a cosine weigh
    alike whatever the question's length or the archive's size, then summed with weights
    (README, "Evaluating": against RRF on SQuAD v1.1 dev and the seed archive's sets)."""
    s, data = p.settings, p.data
    sentences = _sentence_rows(data, p.rows)  # read by both sentence signals
    fused = (
        s.dense_weight * _standardise(p.cos)
        + (1 - s.dense_weight) * _standardise(p.bm25)
        + s.sentence_weight * _standardise(best_sentence_cosine(data, p.rows, p.qvec, sentences))
    )
    if not s.overlap_weight:
        return fused, None
    # The question's words gathered in one sentence rank the posts but do not pick the chunk
    # to quote: that sentence often restates the question, while the chunk the other signals
    # favour holds the answer (README, "Evaluating").
    # Each word counts once ("anti-trafficking" without its parts, which BM25 wants so that it
    # matches "anti trafficking"): counted thrice it outweighs the rare word a question turns on.
    words = data.lexical.term_ids(analyze(p.question, parts=False))
    overlap = best_sentence_overlap(data, p.rows, words, data.lexical.idf(words), sentences)
    return fused, fused + s.overlap_weight * _standardise(overlap)


def _rrf(p: Pool) -> Fused:
    """Reciprocal rank fusion (Cormack et al. 2009): 1 / (rrf_k + rank) summed over the two
    rankings; rrf_k = 60 damps the weight of the very top ranks, as in the paper."""
    rd, rl = _rank_in(p.dense_ids, p.rows), _rank_in(p.lex_ids, p.rows)
    k = p.settings.rrf_k
    fused = np.where(rd >= 0, 1.0 / (k + rd + 1), 0.0) + np.where(rl >= 0, 1.0 / (k + rl + 1), 0.0)
    return fused, None


def _weighted(p: Pool) -> Fused:
    """The cosine and BM25 scaled by the pool's best BM25, summed with ``dense_weight``."""
    top_bm25 = float(p.bm25.max()) or 1.0
    w = p.settings.dense_weight
    return w * p.cos + (1 - w) * p.bm25 / top_bm25, None


FUSIONS: dict[Fusion, Callable[[Pool], Fused]] = {
    Fusion.ZSCORE: _zscore,
    Fusion.RRF: _rrf,
    Fusion.WEIGHTED: _weighted,
}


def search(
    data: IndexData,
    qvec: np.ndarray,
    question: str,
    k: int,
    settings: RetrievalConfig,
    mode: Mode = Mode.HYBRID,
    filters: Filters | None = None,
) -> list[Hit]:
    """The ``k`` best posts for a question, each with its best chunk, best first.

    ``qvec``: float32 (dim,) unit vector of the question; ``settings``: ``[retrieval]``.
    """
    if len(data.chunk_post) == 0:
        return []
    chunk_mask = None
    if filters is not None and filters.active:
        chunk_mask = filters.post_mask(data)[data.chunk_post]
        if not chunk_mask.any():
            return []
    n = settings.candidates
    bm25 = data.lexical.scores_for(data.lexical.term_ids(analyze(question)))
    dense_ids = lex_ids = np.zeros(0, np.int64)
    if mode != Mode.LEXICAL:
        dense_ids = (
            dense.search(data.dense, qvec, n)[1]
            if chunk_mask is None
            else dense.search_subset(data.dense, data.chunk_vectors, qvec, n, chunk_mask)
        )
    if mode != Mode.DENSE:
        lex_ids = lexical_candidates(bm25, n, chunk_mask)
    rows = np.union1d(dense_ids, lex_ids)
    if rows.size == 0:
        return []
    cos = dense.rows(data.dense, data.chunk_vectors, rows) @ qvec
    pool = Pool(data, qvec, question, rows, cos, bm25[rows], dense_ids, lex_ids, settings)
    if mode == Mode.DENSE:
        fused, post_score = cos, None
    elif mode == Mode.LEXICAL:
        fused, post_score = pool.bm25, None
    else:
        fused, post_score = FUSIONS[settings.fusion](pool)
    best = _one_per_post(data, rows, fused, k, post_score)
    return [
        Hit(post_index=post, chunk_index=int(rows[i]), score=score, dense=float(cos[i]))
        for post, i, score in best
    ]


def with_posts(
    data: IndexData,
    hits: list[Hit],
    posts: Sequence[int],
    qvec: np.ndarray,
    depth: int,
    filters: Filters | None = None,
) -> tuple[list[Hit], int]:
    """``hits`` with each of ``posts`` that the first ``depth`` miss placed right after them,
    and how many were placed: a follow-up's earlier posts are read even when its widened
    search ranks them lower. A post found deeper keeps its hit; one not found at all gets its
    chunk nearest ``qvec``, scored as the last hit (it ranks after every post found). Posts
    the filters leave out stay out."""
    first = {h.post_index for h in hits[:depth]}
    wanted = [p for p in dict.fromkeys(posts) if p not in first]
    if filters is not None and filters.active and wanted:
        mask = filters.post_mask(data)
        wanted = [p for p in wanted if mask[p]]
    if not wanted or not hits:
        return hits, 0
    deeper = {h.post_index: h for h in hits[depth:]}
    floor = hits[-1].score
    placed = []
    for post in wanted:
        hit = deeper.get(post)
        if hit is None:
            chunks = np.flatnonzero(data.chunk_post == post)
            if chunks.size == 0:
                continue
            cos = dense.rows(data.dense, data.chunk_vectors, chunks) @ qvec
            best = int(np.argmax(cos))
            hit = Hit(post, int(chunks[best]), floor, float(cos[best]))
        placed.append(hit)
    moved = {h.post_index for h in placed}
    rest = [h for h in hits[depth:] if h.post_index not in moved]
    return [*hits[:depth], *placed, *rest], len(placed)
