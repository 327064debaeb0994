"""BM25 over chunks, on a sparse term-count matrix.

The index stores raw term counts (chunks × terms, CSC) and chunk lengths, not BM25 weights:
weights depend on corpus-wide statistics (document frequency, average length), so storing
counts lets ``index update`` append and drop rows without recomputing every weight, and a query
computes weights for its own few terms only — one vectorised pass over their postings.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
import Stemmer

K1 = 1.2  # term-frequency saturation
B = 0.75  # length normalisation

_STOPWORDS = frozenset(
    """
    a an and are as at be been but by can could did do does for from had has have how i if in
    into is it its me my of on or our she should so than that the their them then there these
    they this those to was we were what when where which who whom why will with would you your
    he his her him about after also any because before being both each few more most other
    some such only own same too very just over under again further once here all am were not
    no nor tell know say said
    """.split()
)
# Words, numbers with separators ("300,000", "2.4"), dotted names ("AU.COMMIT", "UN.GIFT").
TOKEN = re.compile(r"[^\W_]+(?:[.,'’\-][^\W_]+)*")
_SPLIT = re.compile(r"[.,'’\-]")
_stemmer = Stemmer.Stemmer("english")


def analyze(text: str, parts: bool = True) -> list[str]:
    """Text → index terms: lowercased, stopwords dropped, stemmed.

    A token with inner punctuation yields its joined form and (with ``parts``) its parts, so
    "$300,000" matches "300,000" and "300000", and "UN-OSCE" matches "UN OSCE".
    """
    terms: list[str] = []
    for tok in TOKEN.findall(text.lower()):
        if _SPLIT.search(tok):
            pieces = [p for p in _SPLIT.split(tok) if p]
            terms.append("".join(pieces))
            if parts:
                terms.extend(p for p in pieces if p not in _STOPWORDS and len(pieces) > 1)
        elif tok not in _STOPWORDS:
            terms.append(tok)
    stemmed: list[str] = _stemmer.stemWords(terms)  # PyStemmer has no types
    return stemmed


def term_ids(vocab: dict[str, int], terms: Iterable[str]) -> npt.NDArray[np.int64]:
    """The distinct ids of ``terms`` known to ``vocab``, sorted, int64."""
    return np.array(sorted({vocab[t] for t in terms if t in vocab}), dtype=np.int64)


@dataclass(frozen=True)
class LexicalIndex:
    counts: sp.csc_matrix  # (n_chunks, n_terms) int32 term counts
    lengths: npt.NDArray[np.float32]  # (n_chunks,) terms per chunk
    vocab: dict[str, int]

    @property
    def n_docs(self) -> int:
        return self.counts.shape[0]

    def term_ids(self, terms: Iterable[str]) -> npt.NDArray[np.int64]:
        return term_ids(self.vocab, terms)

    def df(self, term_ids: np.ndarray) -> npt.NDArray[np.int64]:
        """Chunks holding each term (int64), read off the column pointers of these terms only."""
        ptr = self.counts.indptr
        df: npt.NDArray[np.int64] = (ptr[term_ids + 1] - ptr[term_ids]).astype(np.int64)
        return df

    def idf(self, term_ids: np.ndarray) -> np.ndarray:
        df = self.df(term_ids).astype(np.float64)
        return np.log1p((self.n_docs - df + 0.5) / (df + 0.5))

    @cached_property
    def weights(self) -> sp.csc_matrix:
        """BM25's per-posting factor, idf aside: tf·(k1+1) / (tf + k1·(1 − b + b·len/avgdl)).

        It depends on the whole index (avgdl), so it is computed once per loaded index — one
        vectorised pass over the postings — rather than stored: an update changes avgdl and
        with it every weight. A question then costs one sparse matrix-vector product over its
        terms' columns, a single loop in C, instead of half a dozen numpy passes with
        temporaries over the same postings (README, "Performance", has both costs). Shares
        ``indices``/``indptr`` with ``counts``: the extra memory is one float32 per posting.
        """
        c = self.counts
        avgdl = max(float(self.lengths.mean()), 1.0) if self.n_docs else 1.0
        norm = (K1 * (1 - B + B * self.lengths / avgdl)).astype(np.float32)
        tf = c.data.astype(np.float32)
        w = tf * (K1 + 1) / (tf + norm[c.indices])
        return sp.csc_matrix((w, c.indices, c.indptr), shape=c.shape, copy=False)

    def scores(self, query: str) -> npt.NDArray[np.float32]:
        """BM25 score of every chunk for ``query``: float32 (n_chunks,), 0 where no term matches."""
        return self.scores_for(self.term_ids(analyze(query)))

    def scores_for(self, ids: np.ndarray) -> npt.NDArray[np.float32]:
        """``scores`` for the query's distinct term ids (from ``term_ids``)."""
        if ids.size == 0 or self.n_docs == 0:
            return np.zeros(self.n_docs, dtype=np.float32)
        idf = self.idf(ids).astype(np.float32)
        return np.asarray(self.weights[:, ids] @ idf, dtype=np.float32).ravel()


def count_matrix(
    docs: Sequence[list[str]], vocab: dict[str, int] | None = None
) -> tuple[sp.csr_matrix, dict[str, int]]:
    """Analyzed docs → (term counts CSR (n_docs, n_terms), vocab).

    ``vocab`` is extended in place and returned. (A copy per call made a build quadratic: two
    calls per post, each copying a vocabulary that grows with the archive.)
    """
    vocab = {} if vocab is None else vocab
    rows, cols = [], []
    for i, terms in enumerate(docs):
        for t in terms:
            j = vocab.get(t)
            if j is None:
                j = vocab[t] = len(vocab)
            rows.append(i)
            cols.append(j)
    data = np.ones(len(rows), dtype=np.int32)
    m = sp.csr_matrix((data, (rows, cols)), shape=(len(docs), len(vocab)), dtype=np.int32)
    m.sum_duplicates()
    return m, vocab


def terms_present(
    terms: sp.csr_matrix, s0: int, s1: int, term_ids: np.ndarray
) -> npt.NDArray[np.float32]:
    """float32 (s1 - s0, len(term_ids)): 1 where row s0 + i of ``terms`` holds term_ids[j].

    Read straight off the CSR arrays (term_ids sorted), in time proportional to the rows'
    entries: scipy's column indexing costs time in the matrix's full width (the vocabulary)
    on every call, and its row-then-column slicing builds two intermediate matrices.
    """
    has = np.zeros((s1 - s0, len(term_ids)), dtype=np.float32)
    if len(term_ids) == 0 or s1 <= s0:
        return has
    ptr = terms.indptr[s0 : s1 + 1]
    cols = terms.indices[ptr[0] : ptr[-1]]
    pos = np.minimum(np.searchsorted(term_ids, cols), len(term_ids) - 1)
    hit = term_ids[pos] == cols
    rows = np.repeat(np.arange(s1 - s0), np.diff(ptr))
    has[rows[hit], pos[hit]] = 1.0
    return has


def rows_term_mass(
    terms: sp.csr_matrix, rows: np.ndarray, term_ids: np.ndarray, weights: np.ndarray
) -> np.ndarray:
    """float64 (len(rows),): the summed ``weights`` of the term_ids (sorted) each row holds.

    Like ``terms_present`` but for scattered rows (sentences of many chunks), read off the CSR
    arrays in time proportional to those rows' entries."""
    if rows.size == 0 or term_ids.size == 0:
        return np.zeros(rows.size, dtype=np.float64)
    starts, ends = terms.indptr[rows], terms.indptr[rows + 1]
    counts = (ends - starts).astype(np.int64)
    offsets = np.concatenate(([0], np.cumsum(counts)[:-1]))
    entries = np.repeat(starts - offsets, counts) + np.arange(int(counts.sum()))
    cols = terms.indices[entries]
    pos = np.minimum(np.searchsorted(term_ids, cols), term_ids.size - 1)
    hit = term_ids[pos] == cols
    owner = np.repeat(np.arange(rows.size), counts)[hit]
    return np.bincount(owner, weights=weights[pos[hit]], minlength=rows.size)


def stack_rows(blocks: Sequence[sp.csr_matrix], n_terms: int) -> sp.csr_matrix:
    """Row blocks counted against prefixes of one vocab → one CSR matrix (rows, n_terms)."""
    if not blocks:
        # scipy-stubs only types an empty (shape) matrix as float64; scipy takes any dtype.
        return sp.csr_matrix((0, n_terms), dtype=np.int32)  # type: ignore[arg-type]
    widened = [
        sp.csr_matrix((m.data, m.indices, m.indptr), shape=(m.shape[0], n_terms)) for m in blocks
    ]
    stacked: sp.csr_matrix = sp.vstack(widened, format="csr", dtype=np.int32)
    return stacked


def stack(parts: Sequence[tuple[sp.csr_matrix, np.ndarray]], vocab: dict[str, int]) -> LexicalIndex:
    """Join row blocks (each counted against a prefix of ``vocab``) into one index."""
    counts = stack_rows([m for m, _ in parts], len(vocab)).tocsc()
    lengths = np.concatenate([ln for _, ln in parts]) if parts else np.zeros(0, np.float32)
    return LexicalIndex(counts, lengths.astype(np.float32), vocab)


def prune_vocabulary(index: LexicalIndex) -> tuple[LexicalIndex, npt.NDArray[np.bool_]]:
    """Drop terms no chunk holds any more (an update removed or changed their posts).

    Without this an updated index would know words that a full build of the same corpus does
    not, and answer differently. Returns the pruned index and the kept columns (bool mask).
    """
    keep = np.diff(index.counts.indptr) > 0
    if keep.all():
        return index, keep
    new_id = np.cumsum(keep) - 1
    vocab = {t: int(new_id[i]) for t, i in index.vocab.items() if keep[i]}
    return LexicalIndex(index.counts[:, keep].tocsc(), index.lengths, vocab), keep
