"""BM25 scoring, checked against the textbook formula written out term by term in Python; the
analyzer's terms."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from tipbot.lexical import K1, B, analyze, count_matrix, prune_vocabulary, stack

WORDS = ["visa", "quota", "broker", "harbour", "ledger", "permit", "convoy", "tariff"]


def textbook_bm25(docs: list[list[str]], query: list[str]) -> list[float]:
    n = len(docs)
    avgdl = max(sum(len(d) for d in docs) / n, 1.0)
    out = []
    for d in docs:
        score = 0.0
        for term in set(query):
            df = sum(term in other for other in docs)
            tf = d.count(term)
            if df == 0 or tf == 0:
                continue
            idf = math.log(1 + (n - df + 0.5) / (df + 0.5))
            score += idf * tf * (K1 + 1) / (tf + K1 * (1 - B + B * len(d) / avgdl))
        out.append(score)
    return out


def index_of(docs: list[list[str]]):
    counts, vocab = count_matrix(docs)
    lengths = np.array([len(d) for d in docs], dtype=np.float32)
    return stack([(counts, lengths)], vocab)


docs_strategy = st.lists(
    st.lists(st.sampled_from(WORDS), min_size=0, max_size=25), min_size=1, max_size=30
)


@settings(deadline=None)
@given(docs_strategy, st.lists(st.sampled_from([*WORDS, "absent"]), min_size=1, max_size=5))
def test_scores_match_textbook_bm25(docs, query):
    # Words in WORDS are their own stems and no stopwords, so analyze() keeps them as they are.
    got = index_of(docs).scores(" ".join(query))
    assert got.dtype == np.float32 and got.shape == (len(docs),)
    np.testing.assert_allclose(got, textbook_bm25(docs, query), rtol=1e-5, atol=1e-6)


def test_weights_follow_the_index_after_pruning():
    # Dropping the only post holding "convoy" changes avgdl and drops a term; the pruned index
    # must score like one built from the remaining posts alone (no stale per-posting weights).
    docs = [["visa", "convoy", "convoy"], ["visa", "quota"], ["quota", "quota", "broker", "visa"]]
    full = index_of(docs)
    full.scores("visa")  # computes and caches the weights of the full index
    counts = full.counts.tocsr()[1:]
    kept, _ = prune_vocabulary(type(full)(counts.tocsc(), full.lengths[1:], full.vocab))
    np.testing.assert_allclose(
        kept.scores("visa quota broker"),
        textbook_bm25(docs[1:], ["visa", "quota", "broker"]),
        rtol=1e-5,
    )
    assert "convoy" not in kept.vocab


def test_no_known_terms_scores_zero():
    idx = index_of([["visa"], ["quota"]])
    assert not idx.scores("nothing here matches").any()


def test_analyze_yields_joined_forms_and_parts_or_joined_forms_only():
    text = "UN-OSCE anti-trafficking billboards cost $300,000"
    assert analyze(text) == [
        "unosc",
        "un",
        "osc",
        "antitraffick",
        "anti",
        "traffick",
        "billboard",
        "cost",
        "300000",
        "300",
        "000",
    ]
    # Each word once (the sentence-overlap signal counts words, not the forms BM25 matches).
    assert analyze(text, parts=False) == ["unosc", "antitraffick", "billboard", "cost", "300000"]
