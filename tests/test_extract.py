"""Sentence scoring helpers, checked against straightforward scipy / numpy versions."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import scipy.sparse as sp
from hypothesis import given
from hypothesis import strategies as st

from tipbot.extract import answer_type_evidence, common_in_archive
from tipbot.lexical import count_matrix, stack, terms_present


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


def test_names_most_of_the_archive_mentions_are_not_answers():
    # "who" asks for a name; the lede's "United Nations" is in most posts, "Nassir" in one.
    sentences = [
        "Today the United Nations called for more effort.",
        "Their president, Nassir Al-Nasser, said so in New York.",
    ]
    common = {"United", "Nations", "New", "York"}.__contains__
    q = "who told the ministerial to try harder?"
    assert answer_type_evidence("name", q, sentences).tolist() == [1.0, 1.0]
    assert answer_type_evidence("name", q, sentences, common).tolist() == [0.0, 1.0]
    # Numbers are never ruled out as common.
    assert answer_type_evidence("number", "how many?", ["It had 12 staff."], common).tolist() == [
        1.0
    ]


def test_common_in_archive_uses_the_share_of_chunks():
    docs = [["unit", "nation", "nassir"]] + [["unit", "nation"]] * 9 + [["quota"]] * 10
    counts, vocab = count_matrix(docs)
    lengths = np.array([len(d) for d in docs], dtype=np.float32)
    data = SimpleNamespace(lexical=stack([(counts, lengths)], vocab))
    common = common_in_archive(data, share=0.2)  # 20 chunks: common past 4
    assert common("United Nations")  # both words in 10 of 20 chunks
    assert not common("Nassir")  # in 1
    assert not common("United Nassir")  # the rarest word decides
    assert not common("Unheard")  # unknown to the archive
