"""Retrieval: array helpers against full sorts and loops; how fusion weighs its signals."""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import replace

import faiss
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tipbot.config import Fusion, IndexKind
from tipbot.index import dense
from tipbot.lexical import analyze, rows_term_mass
from tipbot.retrieve import (
    FUSIONS,
    Filters,
    Mode,
    Pool,
    _rank_in,
    _standardise,
    _top,
    best_sentence_cosine,
    best_sentence_overlap,
    search,
    with_posts,
)


@st.composite
def scores_and_n(draw):
    n = draw(st.integers(1, 40))
    # Sizes on both sides of the sampled-threshold path (size ≥ 128·n), and few distinct
    # values, so ties at the threshold and at the n-th place are common.
    size = draw(st.sampled_from([0, 1, n, 200, 128 * n, 128 * n + 37, 5_000]))
    seed = draw(st.integers(0, 2**32 - 1))
    distinct = draw(st.sampled_from([2, 5, 1_000_000]))
    rng = np.random.default_rng(seed)
    scores = rng.integers(0, distinct, size).astype(np.float32)
    if draw(st.booleans()):
        scores[rng.random(size) < 0.9] = 0.0  # mostly zeros, like BM25 over rare terms
    return scores, n


@settings(deadline=None, max_examples=300)
@given(scores_and_n())
def test_top_is_the_n_largest_best_first(case):
    scores, n = case
    got = _top(scores, n)
    want = min(n, scores.size)
    assert got.dtype == np.int64 and got.size == want and np.unique(got).size == want
    # The same score values as a full sort (which rows win a tie at the n-th place may differ)…
    expected = np.sort(scores)[::-1][:want]
    assert np.array_equal(scores[got], expected)
    # …and equal scores listed by row.
    for a, b in itertools.pairwise(got):
        assert scores[a] > scores[b] or (scores[a] == scores[b] and a < b)


@settings(deadline=None)
@given(
    st.lists(st.integers(0, 500), unique=True, max_size=60),
    st.lists(st.integers(0, 500), unique=True, max_size=60),
)
def test_rank_in_matches_a_lookup_table(candidates, rows):
    c, r = np.array(candidates, dtype=np.int64), np.array(rows, dtype=np.int64)
    table = {row: rank for rank, row in enumerate(candidates)}
    assert _rank_in(c, r).tolist() == [table.get(x, -1) for x in rows]


def test_rows_come_from_the_hnsw_copy_else_from_the_array():
    rng = np.random.default_rng(3)
    vectors = rng.standard_normal((500, 16)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    ids = np.array([0, 7, 7, 499, 250], dtype=np.int64)
    # HNSW holds the vectors itself: a blank array beside it is never read.
    hnsw = dense.build(vectors, "hnsw")
    np.testing.assert_array_equal(dense.rows(hnsw, np.zeros_like(vectors), ids), vectors[ids])
    # A flat index is memory-mapped like the array: the array is what is read.
    flat = dense.build(vectors, "flat")
    np.testing.assert_array_equal(dense.rows(flat, 2 * vectors, ids), 2 * vectors[ids])
    assert dense.rows(hnsw, vectors, ids[:0]).shape == (0, 16)


def _unit_rows(n: int, dim: int = 16, seed: int = 5) -> np.ndarray:
    rng = np.random.default_rng(seed)
    vectors = rng.standard_normal((n, dim)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


@pytest.mark.parametrize("kind", list(IndexKind.__members__.values())[1:])  # all but auto
def test_each_index_kind_finds_the_exact_neighbours(kind):
    vectors = _unit_rows(4000)
    index = dense.build(vectors, kind)
    found = 0
    for q in vectors[:50]:
        exact = np.argsort(-(vectors @ q), kind="stable")[:10]
        scores, ids = dense.search(index, q, 10)
        assert (np.diff(scores) <= 1e-6).all()  # best first
        found += len(set(ids.tolist()) & set(exact.tolist()))
    # Exact search finds every neighbour; the approximate kinds most (IVF probes an eighth
    # of its lists, so it misses some by design: 0.85 here).
    assert found / 500 >= {IndexKind.FLAT: 1.0, IndexKind.HNSW: 0.95, IndexKind.IVF: 0.75}[kind]


@pytest.mark.parametrize("kind", list(IndexKind.__members__.values())[1:])
def test_a_filtered_search_past_the_exact_limit_goes_through_the_faiss_selector(kind, monkeypatch):
    vectors = _unit_rows(4000)
    index = dense.build(vectors, kind)
    mask = np.random.default_rng(1).random(len(vectors)) < 0.3
    allowed = np.flatnonzero(mask)
    q = vectors[1]
    exact = allowed[np.argsort(-(vectors[allowed] @ q), kind="stable")[:10]]
    assert (dense.search_subset(index, vectors, q, 10, mask) == exact).all()  # exact: scored
    selected = []
    real = faiss.IDSelectorBitmap
    monkeypatch.setattr(dense, "EXACT_SUBSET", 100)  # fewer allowed rows than this: exact
    monkeypatch.setattr(faiss, "IDSelectorBitmap", lambda *a: selected.append(a) or real(*a))
    ids = dense.search_subset(index, vectors, q, 10, mask)
    assert selected, "the selector path was not taken"
    assert mask[ids].all() and len(ids) == 10  # only allowed rows, as many as asked
    if kind == IndexKind.FLAT:
        assert ids.tolist() == exact.tolist()
    else:
        assert len(set(ids.tolist()) & set(exact.tolist())) >= 5


def test_an_unknown_index_kind_is_named():
    with pytest.raises(ValueError, match="cannot build an index of kind 'annoy': use one of"):
        dense.build(_unit_rows(10), "annoy")


def test_auto_is_exact_up_to_the_limit():
    assert dense.choose_kind(IndexKind.AUTO, 10, 10) == IndexKind.FLAT
    assert dense.choose_kind(IndexKind.AUTO, 11, 10) == IndexKind.HNSW
    assert dense.choose_kind(IndexKind.IVF, 11, 10) == IndexKind.IVF


def test_standardise_centres_and_scales_and_leaves_a_flat_pool_at_zero():
    z = _standardise(np.array([1.0, 2.0, 3.0, 10.0], dtype=np.float32))
    assert abs(float(z.mean())) < 1e-6 and abs(float(z.std()) - 1) < 1e-6
    assert np.argsort(z).tolist() == [0, 1, 2, 3]
    assert _standardise(np.full(4, 0.7, dtype=np.float32)).tolist() == [0.0] * 4


def test_best_sentence_cosine_is_each_chunks_best_sentence(archive):
    data = archive.data
    qvec = archive.embedder.encode_one("Who funds the training of police officers in Ukraine?")
    rng = np.random.default_rng(0)
    # Repeats and neighbours (overlapping chunks share sentences) among random chunks.
    chunks = np.concatenate([rng.integers(0, len(data.chunk_post), 40), [0, 0, 1, 2]])
    want = [
        max(
            float(np.asarray(data.sentence_vectors[r]) @ qvec)
            for r in range(int(data.chunk_sent_start[c]), int(data.chunk_sent_end[c]))
        )
        for c in chunks
    ]
    np.testing.assert_allclose(best_sentence_cosine(data, chunks, qvec), want, atol=1e-6)


QUESTION = "How many police officers will the OSCE train in Ukraine?"


def _ranked(archive, mode: Mode = Mode.HYBRID, **settings) -> list[str]:
    qvec = archive.embedder.encode_one(QUESTION)
    r = replace(archive.cfg.retrieval, **settings)
    hits = search(archive.data, qvec, QUESTION, 10, r, mode)
    return [archive.data.posts[h.post_index].id for h in hits]


def test_zscore_fusion_with_one_signal_ranks_as_that_signal(archive):
    # All weight on the chunk cosine: the dense ranking; none on it or on sentences: BM25's.
    alone = dict(fusion=Fusion.ZSCORE, sentence_weight=0.0, overlap_weight=0.0)
    dense_only = _ranked(archive, dense_weight=1.0, **alone)
    lexical_only = _ranked(archive, dense_weight=0.0, **alone)
    assert dense_only == _ranked(archive, mode=Mode.DENSE)
    assert lexical_only == _ranked(archive, mode=Mode.LEXICAL)
    assert dense_only != lexical_only  # else the two checks above prove nothing
    # The default mixes the three and finds the post that answers.
    assert _ranked(archive)[0] == "2008-07-16-osce-project-co-ordinator-in-ukraine"


def test_weighted_fusion_with_one_signal_ranks_as_that_signal(archive):
    dense_only = _ranked(archive, fusion=Fusion.WEIGHTED, dense_weight=1.0)
    lexical_only = _ranked(archive, fusion=Fusion.WEIGHTED, dense_weight=0.0)
    assert dense_only == _ranked(archive, mode=Mode.DENSE)
    assert lexical_only == _ranked(archive, mode=Mode.LEXICAL)
    assert dense_only != lexical_only
    # Half and half, the post that answers is among the first.
    assert (
        "2008-07-16-osce-project-co-ordinator-in-ukraine"
        in _ranked(archive, fusion=Fusion.WEIGHTED)[:3]
    )


def test_rrf_sums_reciprocal_ranks(archive):
    # Chunk 2 is second in the dense ranking and first in the lexical one; 9 is dense only.
    rows = np.array([2, 5, 7, 9])
    dense_ids, lex_ids = np.array([5, 2, 9]), np.array([2, 7])
    zeros = np.zeros(4)
    settings = replace(archive.cfg.retrieval, fusion=Fusion.RRF, rrf_k=60)
    pool = Pool(archive.data, zeros, "", rows, zeros, zeros, dense_ids, lex_ids, settings)
    fused, post_score = FUSIONS[Fusion.RRF](pool)
    want = [1 / 62 + 1 / 61, 1 / 61, 1 / 62, 1 / 63]
    np.testing.assert_allclose(fused, want)
    assert post_score is None


def test_every_fusion_has_a_function():
    assert set(FUSIONS) == set(Fusion)


def test_best_sentence_cosine_gives_a_chunk_without_sentences_the_lowest(archive):
    data = archive.data
    qvec = archive.embedder.encode_one("Who funds the training of police officers in Ukraine?")
    chunks = np.array([3, 1, 2], dtype=np.int64)
    want = best_sentence_cosine(data, chunks, qvec)
    # The same data with chunk 1 emptied: chunks 3 and 2 keep their values.
    empty_start = data.chunk_sent_start.copy()
    empty_start[1] = data.chunk_sent_end[1]
    got = best_sentence_cosine(replace(data, chunk_sent_start=empty_start), chunks, qvec)
    assert got[1] == -1.0
    np.testing.assert_allclose(got[[0, 2]], want[[0, 2]], atol=1e-6)


@settings(deadline=None, max_examples=200)
@given(st.integers(0, 2**32 - 1), st.integers(1, 30), st.integers(0, 12))
def test_rows_term_mass_matches_a_dense_matrix(seed, n_rows, n_query):
    import scipy.sparse as sp

    rng = np.random.default_rng(seed)
    counts = rng.integers(0, 3, (n_rows, 20)) * (rng.random((n_rows, 20)) < 0.3)
    terms = sp.csr_matrix(counts.astype(np.int32))
    ids = np.sort(rng.choice(20, n_query, replace=False)).astype(np.int64)
    weights = rng.random(n_query)
    rows = rng.integers(0, n_rows, rng.integers(0, 2 * n_rows))  # repeats, any order
    want = [(counts[r, ids] > 0) @ weights for r in rows]
    np.testing.assert_allclose(rows_term_mass(terms, rows, ids, weights), want, atol=1e-12)


def test_best_sentence_overlap_is_the_idf_share_of_each_chunks_best_sentence(archive):
    data, lex = archive.data, archive.data.lexical
    question = "Who funds the training of precinct police inspectors in Ukraine?"
    ids = lex.term_ids(analyze(question))
    idf = lex.idf(ids)
    # Every chunk, in a shuffled order, with repeats.
    everything = np.random.default_rng(1).permutation(len(data.chunk_post))
    chunks = np.concatenate([everything, [0, 0, 1]])

    def share(row: int) -> float:
        # From the sentence's text, not from the index's term matrix.
        post = data.posts[int(data.sent_post[row])]
        held = set(lex.term_ids(analyze(post.text[data.sent_start[row] : data.sent_end[row]])))
        return sum(w for t, w in zip(ids, idf, strict=True) if t in held) / idf.sum()

    want = [
        max(share(r) for r in range(int(data.chunk_sent_start[c]), int(data.chunk_sent_end[c])))
        for c in chunks
    ]
    got = best_sentence_overlap(data, chunks, ids, idf)
    np.testing.assert_allclose(got, want, atol=1e-6)
    assert got.max() > 0.5  # the question's words are in the archive: the check has teeth


def test_sentence_overlap_ranks_posts_but_keeps_each_posts_chunk(archive):
    data = archive.data
    question = "roughly how many people are exploited by traffickers at any one time?"
    qvec = archive.embedder.encode_one(question)
    r = archive.cfg.retrieval
    without = search(data, qvec, question, 20, replace(r, overlap_weight=0.0))
    with_it = search(data, qvec, question, 20, replace(r, overlap_weight=1.0))
    # The ranking of posts changes…
    assert [h.post_index for h in without] != [h.post_index for h in with_it]
    # …but each post is quoted from the chunk the other signals chose.
    chunk_of = {h.post_index: h.chunk_index for h in without}
    assert all(chunk_of[h.post_index] == h.chunk_index for h in with_it if h.post_index in chunk_of)


def test_with_posts_places_the_posts_the_first_hits_miss_right_after_them(archive):
    data, cfg = archive.data, archive.cfg.retrieval
    qvec = archive.embed("police training in Ukraine")
    hits = search(data, qvec, "police training in Ukraine", 8, cfg)
    deep = hits[6].post_index  # found, past the first three
    found = {h.post_index for h in hits}
    missing = next(p for p in range(len(data.posts)) if p not in found)
    kept = hits[0].post_index  # already among the first three: stays where it is
    out, added = with_posts(data, hits, [kept, deep, missing, deep], qvec, 3)
    assert added == 2
    assert out[:3] == hits[:3]
    assert out[3] == hits[6]  # a post found deeper keeps its hit
    placed = out[4]
    assert placed.post_index == missing and placed.score == hits[-1].score
    chunks = np.flatnonzero(data.chunk_post == missing)
    cos = data.chunk_vectors[chunks] @ qvec
    assert placed.chunk_index == chunks[int(np.argmax(cos))]
    assert placed.dense == pytest.approx(float(cos.max()), abs=1e-5)
    assert [h.post_index for h in out].count(deep) == 1 and len(out) == len(hits) + 1
    # Nothing to add, or a post the filters leave out: the hits as they were.
    assert with_posts(data, hits, [kept], qvec, 3) == (hits, 0)
    none_pass = Filters(since=dt.date(2999, 1, 1))
    assert with_posts(data, hits, [missing], qvec, 3, none_pass) == (hits, 0)
