"""Retrieval's array helpers, checked against plain full sorts."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from tipbot.index import dense
from tipbot.retrieve import _rank_in, _top


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
    for a, b in zip(got[:-1], got[1:], strict=True):
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
