"""Sentence scoring helpers, checked against straightforward scipy / numpy versions; the part of
a long sentence that is quoted."""

from __future__ import annotations

from dataclasses import replace
from types import SimpleNamespace

import numpy as np
import scipy.sparse as sp
from hypothesis import given
from hypothesis import strategies as st

from tipbot.config import AnswerConfig
from tipbot.extract import (
    QuoteSettings,
    Scored,
    answer_type_evidence,
    choose_sentences,
    clause_window,
    common_in_archive,
)
from tipbot.lexical import analyze, count_matrix, stack, terms_present


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


# ---- the part of a long sentence ---------------------------------------------------------------

LIST = (
    "The network includes Russian policemen, an Israeli lawyer, a Turkish shelter, "
    "priests, travel agents; and an anti-trafficking group called La Strada, which has "
    "offices downstairs from Rotaru's."
)


def _window(archive, question: str, budget: int, text: str = LIST) -> str | None:
    lex = archive.data.lexical
    ids = lex.term_ids(analyze(question))
    query = dict(zip(ids.tolist(), lex.idf(ids).tolist(), strict=True))
    found = clause_window(text, 0, len(text), budget, archive.data, query)
    return None if found is None else text[found[0] : found[1]]


def test_clause_window_holds_the_questions_words_within_the_budget(archive):
    part = _window(archive, "which group has offices downstairs from Rotaru?", 120)
    # The earliest run of clauses that fits and holds them all.
    assert part == (
        "priests, travel agents; and an anti-trafficking group called La Strada, which has "
        "offices downstairs from Rotaru's."
    )
    assert len(part) <= 120 and part in LIST
    tight = _window(archive, "which group has offices downstairs from Rotaru?", 95)
    assert (
        tight == "and an anti-trafficking group called La Strada, which has offices downstairs "
        "from Rotaru's."
    )


def test_clause_window_without_the_questions_words_keeps_the_opening(archive):
    # No word of the question is in the sentence: its opening (subject and verb) is quoted,
    # as many whole clauses as fit, the last clause mark dropped so the cut shows.
    part = _window(archive, "what channel aired it?", 70)
    assert part == "The network includes Russian policemen, an Israeli lawyer"
    assert _window(archive, "what channel aired it?", 5) is None  # no clause fits
    assert _window(archive, "anything", 500, text="One clause only") == "One clause only"


def _scored_post(archive, scores):
    """A post's first sentences (each of 6+ words, under 200 characters) with given scores."""
    data = archive.data
    n = len(scores)
    for p in range(len(data.posts)):
        s0 = int(data.post_sent[p])
        if int(data.post_sent[p + 1]) - s0 < n:
            continue
        rows = np.arange(s0, s0 + n)
        texts = [data.posts[p].text[data.sent_start[r] : data.sent_end[r]] for r in rows]
        if all(len(t.split()) >= 6 and len(t) < 200 for t in texts):
            sc = np.array(scores, dtype=np.float32)
            best = int(np.argmax(sc))
            return Scored(rows, sc, sc, sc, best, best, {}), rows
    raise AssertionError("no post with such sentences in the seed archive")


def _chosen(archive, scores, **settings):
    sc, _ = _scored_post(archive, scores)
    s = replace(QuoteSettings.from_config(AnswerConfig()), **{"max_chars": 10_000, **settings})
    return [i for i, _, _ in choose_sentences(archive.data, sc, s)]


def test_a_sentence_one_away_brings_the_sentence_between(archive):
    # Sentence 2 would be quoted apart from the best (0); the one between could join on its
    # own merits (share 0.5 >= min_ratio), so it goes in first and the quote reads on: 0, 1, 2
    # fill the three places before 4 (0.85, apart) is reached.
    assert _chosen(archive, [1.0, 0.5, 0.9, 0.0, 0.85]) == [0, 1, 2]
    # One between that could not join on its own stays out: the quote keeps its gaps.
    assert _chosen(archive, [1.0, 0.1, 0.9, 0.0, 0.85]) == [0, 2, 4]


def test_the_sentence_between_goes_first_when_only_one_fits(archive):
    _sc, rows = _scored_post(archive, [1.0, 0.5, 0.9, 0.0, 0.0])
    data = archive.data
    length = [int(data.sent_end[r] - data.sent_start[r]) for r in rows]
    # Room for the best and one more whole sentence (and too little to cut the third).
    budget = length[0] + max(length[1], length[2]) + 5
    assert _chosen(archive, [1.0, 0.5, 0.9, 0.0, 0.0], max_chars=budget, min_trim_chars=500) == [
        0,
        1,
    ]


def test_no_sentence_is_quoted_twice(archive):
    # Best 1, then 0 beside it, then 2: beside 1 and two away from 0. 2 must not bring "the
    # sentence between" (1, already quoted) a second time.
    assert _chosen(archive, [0.8, 1.0, 0.7, 0.0, 0.0]) == [0, 1, 2]
