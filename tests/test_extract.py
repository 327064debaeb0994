"""Sentence scoring helpers, checked against straightforward scipy / numpy versions."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from hypothesis import given
from hypothesis import strategies as st

from tipbot.lexical import terms_present


@st.composite
def csr_and_query(draw):
    rows = draw(st.integers(1, 30))
    cols = draw(st.integers(1, 40))
    cells = draw(
        st.sets(st.tuples(st.integers(0, rows - 1), st.integers(0, cols - 1)), max_size=200)
    )
    r = np.array([c[0] for c in cells], dtype=np.int64)
    c = np.array([c[1] for c in cells], dtype=np.int64)
    m = sp.csr_matrix((np.ones(len(cells)), (r, c)), shape=(rows, cols))
    s0 = draw(st.integers(0, rows))
    s1 = draw(st.integers(s0, rows))
    ids = sorted(draw(st.sets(st.integers(0, cols - 1), max_size=10)))
    return m, s0, s1, np.array(ids, dtype=np.int64)


@given(csr_and_query())
def test_terms_present_matches_scipy_slicing(case):
    m, s0, s1, ids = case
    expected = (m[s0:s1][:, ids].toarray() > 0).astype(np.float32)
    got = terms_present(m, s0, s1, ids)
    assert got.dtype == np.float32 and got.shape == expected.shape
    assert np.array_equal(got, expected)
