"""The FAISS side of the index: choosing the index type, building and searching it.

Vectors are L2-normalised, so inner product is cosine similarity. Small archives get an exact
flat index; past ``exact_up_to`` vectors, ``kind = "auto"`` picks HNSW, whose recall@10 against
exact search the benchmark measures.
"""

from __future__ import annotations

from pathlib import Path

import faiss
import numpy as np

from tipbot.config import IndexKind

HNSW_M = 32  # graph degree: recall vs memory
HNSW_EF_CONSTRUCTION = 80
HNSW_EF_SEARCH = 128
IVF_MIN_POINTS_PER_LIST = 39  # FAISS warns below this many training points per list


def choose_kind(kind: IndexKind, n_vectors: int, exact_up_to: int) -> IndexKind:
    """The kind to build: ``kind`` itself, or for ``auto`` exact search up to ``exact_up_to``."""
    if kind != IndexKind.AUTO:
        return IndexKind(kind)
    return IndexKind.FLAT if n_vectors <= exact_up_to else IndexKind.HNSW


def _flat(vectors: np.ndarray) -> faiss.Index:
    return faiss.IndexFlatIP(vectors.shape[1])


def _hnsw(vectors: np.ndarray) -> faiss.Index:
    index = faiss.IndexHNSWFlat(vectors.shape[1], HNSW_M, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
    index.hnsw.efSearch = HNSW_EF_SEARCH
    return index


def _ivf(vectors: np.ndarray) -> faiss.Index:
    nlist = max(1, min(int(np.sqrt(len(vectors)) * 4), len(vectors) // IVF_MIN_POINTS_PER_LIST))
    quantizer = faiss.IndexFlatIP(vectors.shape[1])
    index = faiss.IndexIVFFlat(quantizer, vectors.shape[1], nlist, faiss.METRIC_INNER_PRODUCT)
    index.train(vectors)
    index.nprobe = max(1, nlist // 8)
    return index


# Each kind that is built (``auto`` is resolved first by choose_kind).
_BUILDERS = {IndexKind.FLAT: _flat, IndexKind.HNSW: _hnsw, IndexKind.IVF: _ivf}


def build(vectors: np.ndarray, kind: IndexKind) -> faiss.Index:
    """float32 (n, dim) unit rows → a FAISS index of ``kind`` (flat | hnsw | ivf)."""
    builder = _BUILDERS.get(kind)
    if builder is None:
        valid = ", ".join(_BUILDERS)
        raise ValueError(f"cannot build an index of kind '{kind}': use one of {valid}")
    index = builder(vectors)
    if len(vectors):
        index.add(vectors)
    return index


def write(index: faiss.Index, path: Path) -> None:
    faiss.write_index(index, str(path))


def read(path: Path, kind: str) -> faiss.Index:
    """The index at ``path``, of ``kind`` as the manifest records it."""
    # Flat codes can be memory-mapped: the OS pages vectors in on demand and shares them
    # between processes; the other kinds are read into memory.
    flags = faiss.IO_FLAG_MMAP_IFC if kind == IndexKind.FLAT else 0
    index = faiss.read_index(str(path), flags)
    inner = faiss.downcast_index(index)
    if isinstance(inner, faiss.IndexHNSW):  # the search breadth is not stored in the file
        inner.hnsw.efSearch = HNSW_EF_SEARCH
    return index


def search(index: faiss.Index, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Top ``k`` rows for one query vector: (scores float32 (k',), ids int64 (k',)), k' ≤ k."""
    k = min(k, index.ntotal)
    if k <= 0:
        return np.zeros(0, np.float32), np.zeros(0, np.int64)
    scores, ids = index.search(query.reshape(1, -1), k)
    keep = ids[0] >= 0
    return scores[0][keep], ids[0][keep]


def rows(index: faiss.Index, vectors: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """float32 (len(ids), dim): the vectors of rows ``ids``.

    An HNSW index holds every vector in memory; ``vectors`` (the build's array, memory-mapped)
    is read from disk page by page until the OS has cached it. A question needs a few hundred
    scattered rows, each a disk read on a cold page cache; from the index's own copy they cost
    what a warm read does (both ~0.2 ms for 200 rows).
    """
    inner = faiss.downcast_index(index)
    if isinstance(inner, faiss.IndexHNSWFlat) and len(ids):
        return inner.reconstruct_batch(np.asarray(ids, dtype=np.int64))
    return np.asarray(vectors[ids])


# Up to this many allowed rows, a filtered search scores them exactly: cheaper than steering an
# approximate index, and exact (HNSW and IVF miss allowed rows under a selective filter).
EXACT_SUBSET = 200_000


def search_subset(
    index: faiss.Index, vectors: np.ndarray, query: np.ndarray, k: int, mask: np.ndarray
) -> np.ndarray:
    """Top ``k`` row ids among rows where ``mask`` (bool (n,)) is set, best first."""
    allowed = np.flatnonzero(mask)
    if allowed.size == 0:
        return allowed.astype(np.int64)
    k = min(k, allowed.size)
    if allowed.size <= EXACT_SUBSET:
        scores = np.asarray(vectors[allowed]) @ query
        top = np.argpartition(-scores, k - 1)[:k]
        return allowed[top[np.argsort(-scores[top], kind="stable")]].astype(np.int64)
    bitmap = np.packbits(mask, bitorder="little")
    selector = faiss.IDSelectorBitmap(len(mask), faiss.swig_ptr(bitmap))
    inner = faiss.downcast_index(index)
    # faiss's bundled type hints leave out SearchParametersHNSW and the keyword arguments its
    # SWIG wrappers accept for every SearchParameters class (the filtered-search tests run
    # each of these three).
    params: faiss.SearchParameters
    if isinstance(inner, faiss.IndexHNSW):
        efs = max(HNSW_EF_SEARCH, 4 * k)
        params = faiss.SearchParametersHNSW(sel=selector, efSearch=efs)  # type: ignore[attr-defined]
    elif isinstance(inner, faiss.IndexIVF):
        params = faiss.SearchParametersIVF(sel=selector, nprobe=inner.nprobe)  # type: ignore[call-arg]
    else:
        params = faiss.SearchParameters(sel=selector)  # type: ignore[call-arg]
    _, ids = index.search(query.reshape(1, -1), k, params=params)
    found: np.ndarray = ids[0][ids[0] >= 0]
    return found
