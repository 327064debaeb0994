"""The index on disk: layout, atomic publication, locking, loading with checks.

    index/
      CURRENT                 name of the build that answers questions (replaced atomically)
      .lock                   held by the one build running (flock: freed if the build dies)
      builds/<build-id>/      one complete build, never changed once published
        manifest.json         versions, settings, counts, corpus fingerprint, file sizes
        posts.jsonl           the posts, text included: quotes are cut from it
        arrays.npz            chunk and sentence offsets, per-sentence title share
        chunk_vectors.npy     float32 (chunks, dim), unit rows
        sentence_vectors.npy  float32 (sentences, dim), unit rows
        dense.faiss           FAISS index over chunk vectors
        lexical.npz           BM25 term counts (CSC) and chunk lengths
        sentence_terms.npz    which terms each sentence holds (CSR), for quoting
        vocab.json            term → column

A build is written into ``builds/<id>.tmp``, renamed to ``builds/<id>`` when complete, and only
then named in CURRENT (write a temp file, fsync, ``os.replace``). A build killed at any moment
therefore leaves CURRENT naming the previous complete build, and a process that loaded the old
build keeps answering from it. The previous build is kept one generation for readers that were
loading it while a new one was published; older ones and stale ``.tmp`` folders are removed by
the next build, under the lock.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
import shutil
import time
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import faiss
import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from tipbot.errors import IndexBusy, IndexDamaged, IndexError_, IndexMissing
from tipbot.index import dense
from tipbot.lexical import LexicalIndex
from tipbot.types import Post

FORMAT = 3
CURRENT = "CURRENT"
BUILDS = "builds"
FILES = (
    "manifest.json",
    "posts.jsonl",
    "arrays.npz",
    "chunk_vectors.npy",
    "sentence_vectors.npy",
    "dense.faiss",
    "lexical.npz",
    "sentence_terms.npz",
    "vocab.json",
)
REBUILD = "run `tipbot index build`"
# What every reader of a manifest may rely on.
MANIFEST_KEYS = (
    "format",
    "build_id",
    "model",
    "dim",
    "tokenizer",
    "max_tokens",
    "overlap_tokens",
    "index_kind",
    "posts",
    "chunks",
    "sentences",
    "built_at",
    "corpus_files",
)


@dataclass(frozen=True, eq=False)
class IndexData:
    """A loaded build. Arrays are indexed by chunk or sentence row; all int32 unless noted.

    chunk_post, chunk_start, chunk_end: the chunk is ``posts[chunk_post].text[start:end]``
    chunk_sent_start, chunk_sent_end: its sentences, as global sentence rows
    sent_post, sent_start, sent_end: the sentence is ``posts[sent_post].text[start:end]``
    post_sent: (posts + 1,) sentences of post i are rows post_sent[i]:post_sent[i + 1]
    post_days: (posts,) days since 1970-01-01, or a very small number for undated posts
    sent_title_share: float32 (sentences,) share of the post title's terms the sentence repeats
    """

    manifest: dict[str, Any]
    posts: tuple[Post, ...]
    chunk_post: npt.NDArray[np.int32]
    chunk_start: npt.NDArray[np.int32]
    chunk_end: npt.NDArray[np.int32]
    chunk_sent_start: npt.NDArray[np.int32]
    chunk_sent_end: npt.NDArray[np.int32]
    sent_post: npt.NDArray[np.int32]
    sent_start: npt.NDArray[np.int32]
    sent_end: npt.NDArray[np.int32]
    post_sent: npt.NDArray[np.int32]
    post_days: npt.NDArray[np.int32]
    sent_title_share: npt.NDArray[np.float32]
    chunk_vectors: npt.NDArray[np.float32]
    sentence_vectors: npt.NDArray[np.float32]
    dense: faiss.Index
    lexical: LexicalIndex
    sentence_terms: sp.csr_matrix  # (sentences, terms): term counts per sentence
    path: Path | None = None

    @property
    def build_id(self) -> str:
        build_id: str = self.manifest.get("build_id", "")
        return build_id

    @cached_property
    def post_rows(self) -> dict[str, int]:
        """Post id → its row in ``posts`` (built on first use)."""
        return {post.id: i for i, post in enumerate(self.posts)}

    @cached_property
    def label_posts(self) -> dict[str, npt.NDArray[np.int64]]:
        """Case-folded label → the post rows that carry it (int64, ascending). Built on the
        first question with a label filter, then a dictionary lookup for every other."""
        rows: dict[str, list[int]] = {}
        for i, post in enumerate(self.posts):
            for label in {lb.casefold() for lb in post.labels}:
                rows.setdefault(label, []).append(i)
        return {k: np.asarray(v, dtype=np.int64) for k, v in rows.items()}


NO_DATE = np.iinfo(np.int32).min
_ARRAYS = (
    "chunk_post",
    "chunk_start",
    "chunk_end",
    "chunk_sent_start",
    "chunk_sent_end",
    "sent_post",
    "sent_start",
    "sent_end",
    "post_sent",
    "post_days",
    "sent_title_share",
)


def post_to_json(p: Post) -> str:
    return json.dumps(
        {
            "id": p.id,
            "title": p.title,
            "date": p.date.isoformat() if p.date else None,
            "url": p.url,
            "labels": list(p.labels),
            "text": p.text,
            "source": p.source,
        },
        ensure_ascii=False,
    )


def post_from_json(line: str) -> Post:
    d = json.loads(line)
    date = dt.date.fromisoformat(d["date"]) if d["date"] else None
    return Post(d["id"], d["title"], date, d["url"], tuple(d["labels"]), d["text"], d["source"])


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_file(path: Path, data: bytes | str) -> None:
    mode = "wb" if isinstance(data, bytes) else "w"
    with open(path, mode, encoding=None if isinstance(data, bytes) else "utf-8") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def _save_npy(path: Path, array: np.ndarray) -> None:
    with open(path, "wb") as f:
        np.save(f, np.ascontiguousarray(array))
        f.flush()
        os.fsync(f.fileno())


def write_build(data: IndexData, root: Path) -> Path:
    """Write ``data`` as a new complete build under ``root/builds`` and return its folder.

    Not yet published: call ``publish`` to make it the one that answers.
    """
    builds = root / BUILDS
    builds.mkdir(parents=True, exist_ok=True)
    build_id: str = data.manifest["build_id"]
    tmp = builds / f"{build_id}.tmp"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    _write_file(tmp / "posts.jsonl", "".join(post_to_json(p) + "\n" for p in data.posts))
    with open(tmp / "arrays.npz", "wb") as f:
        np.savez(f, **{name: getattr(data, name) for name in _ARRAYS})
        f.flush()
        os.fsync(f.fileno())
    _save_npy(tmp / "chunk_vectors.npy", data.chunk_vectors)
    _save_npy(tmp / "sentence_vectors.npy", data.sentence_vectors)
    dense.write(data.dense, tmp / "dense.faiss")
    lex = data.lexical
    with open(tmp / "lexical.npz", "wb") as f:
        np.savez(
            f,
            data=lex.counts.data,
            indices=lex.counts.indices,
            indptr=lex.counts.indptr,
            shape=np.array(lex.counts.shape),
            lengths=lex.lengths,
        )
        f.flush()
        os.fsync(f.fileno())
    st = data.sentence_terms
    with open(tmp / "sentence_terms.npz", "wb") as f:
        np.savez(f, data=st.data, indices=st.indices, indptr=st.indptr, shape=np.array(st.shape))
        f.flush()
        os.fsync(f.fileno())
    _write_file(tmp / "vocab.json", json.dumps(list(lex.vocab), ensure_ascii=False))
    # The manifest goes last and records every file's size, so a truncated file is caught.
    manifest = dict(data.manifest)
    manifest["files"] = {
        name: (tmp / name).stat().st_size for name in FILES if name != "manifest.json"
    }
    _write_file(tmp / "manifest.json", json.dumps(manifest, indent=2, ensure_ascii=False))
    _fsync_dir(tmp)
    final = builds / build_id
    os.replace(tmp, final)
    _fsync_dir(builds)
    return final


def publish(root: Path, build_dir: Path) -> None:
    """Make ``build_dir`` the build that answers, atomically, and prune old builds."""
    previous = current_build_name(root)
    tmp = root / f"{CURRENT}.{os.getpid()}.tmp"
    _write_file(tmp, build_dir.name + "\n")
    os.replace(tmp, root / CURRENT)
    _fsync_dir(root)
    keep = {build_dir.name, previous}
    for entry in (root / BUILDS).iterdir():
        if entry.name not in keep:
            shutil.rmtree(entry, ignore_errors=True)


def current_build_name(root: Path) -> str | None:
    try:
        name = (root / CURRENT).read_text(encoding="utf-8").strip()
    except (FileNotFoundError, NotADirectoryError):
        return None
    except (OSError, UnicodeDecodeError) as e:
        raise IndexDamaged(f"{root / CURRENT} cannot be read ({e}): {REBUILD}") from None
    return name or None


def current_build_dir(root: Path) -> Path:
    name = current_build_name(root)
    if name is None:
        raise IndexMissing(f"no index in {root}: {REBUILD}")
    path = root / BUILDS / name
    if not path.is_dir():
        raise IndexDamaged(f"{root / CURRENT} names build {name!r}, which is missing: {REBUILD}")
    return path


def read_manifest(build_dir: Path) -> dict[str, Any]:
    try:
        manifest = json.loads((build_dir / "manifest.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise IndexDamaged(f"{build_dir} has no manifest.json: {REBUILD}") from None
    except (OSError, ValueError) as e:
        raise IndexDamaged(
            f"{build_dir / 'manifest.json'} is unreadable ({e}): {REBUILD}"
        ) from None
    if isinstance(manifest, dict) and not isinstance(manifest.get("files"), dict):
        raise IndexDamaged(f"{build_dir / 'manifest.json'} lists no files: {REBUILD}")
    missing = [k for k in MANIFEST_KEYS if isinstance(manifest, dict) and k not in manifest]
    if missing:
        raise IndexDamaged(f"{build_dir / 'manifest.json'} lacks {', '.join(missing)}: {REBUILD}")
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise IndexDamaged(
            f"{build_dir} has index format "
            f"{manifest.get('format') if isinstance(manifest, dict) else '?'}, "
            f"this tipbot reads format {FORMAT}: {REBUILD}"
        )
    return manifest


def _check_files(build_dir: Path, manifest: dict[str, Any]) -> None:
    for name, size in manifest.get("files", {}).items():
        path = build_dir / name
        if not path.exists():
            raise IndexDamaged(f"index file {path} is missing: {REBUILD}")
        actual = path.stat().st_size
        if actual != size:
            raise IndexDamaged(
                f"index file {path} is {actual} bytes, the manifest says {size} "
                f"(truncated or changed): {REBUILD}"
            )


def load_build(build_dir: Path) -> IndexData:
    """Load and cross-check one build; any inconsistency is IndexDamaged, never a half index."""
    manifest = read_manifest(build_dir)
    _check_files(build_dir, manifest)
    try:
        posts = tuple(
            post_from_json(line)
            for line in (build_dir / "posts.jsonl").read_text(encoding="utf-8").splitlines()
        )
        with np.load(build_dir / "arrays.npz") as z:
            arrays = {name: z[name] for name in _ARRAYS}
        chunk_vectors = np.load(build_dir / "chunk_vectors.npy", mmap_mode="r")
        sentence_vectors = np.load(build_dir / "sentence_vectors.npy", mmap_mode="r")
        index = dense.read(build_dir / "dense.faiss", manifest["index_kind"])
        with np.load(build_dir / "lexical.npz") as z:
            counts = sp.csc_matrix((z["data"], z["indices"], z["indptr"]), shape=tuple(z["shape"]))
            lengths = z["lengths"]
        with np.load(build_dir / "sentence_terms.npz") as z:
            sentence_terms = sp.csr_matrix(
                (z["data"], z["indices"], z["indptr"]), shape=tuple(z["shape"])
            )
        terms = json.loads((build_dir / "vocab.json").read_text(encoding="utf-8"))
    except IndexDamaged:
        raise
    except (
        OSError,
        ValueError,
        KeyError,
        TypeError,
        AttributeError,
        EOFError,
        RuntimeError,
        zipfile.BadZipFile,
    ) as e:
        raise IndexDamaged(f"index in {build_dir} cannot be read ({e}): {REBUILD}") from None
    data = IndexData(
        manifest=manifest,
        posts=posts,
        **arrays,
        chunk_vectors=chunk_vectors,
        sentence_vectors=sentence_vectors,
        dense=index,
        lexical=LexicalIndex(counts, lengths, {t: i for i, t in enumerate(terms)}),
        sentence_terms=sentence_terms,
        path=build_dir,
    )
    _check_consistency(data)
    return data


def _check_consistency(d: IndexData) -> None:
    n_posts, n_chunks, n_sents = len(d.posts), len(d.chunk_post), len(d.sent_post)
    problems = []
    if d.manifest.get("posts") != n_posts or d.manifest.get("chunks") != n_chunks:
        problems.append("post or chunk counts differ from the manifest")
    if d.chunk_vectors.shape != (n_chunks, d.manifest.get("dim")):
        problems.append(f"chunk vectors have shape {d.chunk_vectors.shape}")
    if d.sentence_vectors.shape[0] != n_sents:
        problems.append(f"sentence vectors have {d.sentence_vectors.shape[0]} rows for {n_sents}")
    if d.dense.ntotal != n_chunks or d.lexical.n_docs != n_chunks:
        problems.append("FAISS or lexical index size differs from the chunk count")
    if d.sentence_terms.shape[0] != n_sents or len(d.sent_title_share) != n_sents:
        problems.append("sentence term rows differ from the sentence count")
    if len(d.post_sent) != n_posts + 1 or len(d.post_days) != n_posts:
        problems.append("per-post arrays have the wrong length")
    if n_chunks and (d.chunk_post.max() >= n_posts or d.chunk_sent_end.max() > n_sents):
        problems.append("chunk rows point past the posts or sentences")
    if problems:
        raise IndexDamaged(f"index in {d.path} is inconsistent ({'; '.join(problems)}): {REBUILD}")


def load_current(root: Path) -> IndexData:
    return load_build(current_build_dir(root))


def new_build_id() -> str:
    return (
        time.strftime("%Y%m%dT%H%M%S", time.gmtime())
        + f"-{os.getpid()}-{time.monotonic_ns() % 10**6:06d}"
    )


@contextmanager
def build_lock(root: Path, wait: bool = False) -> Iterator[None]:
    """Only one build at a time per index folder. The OS frees the lock if the holder dies."""
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise IndexError_(
            f"cannot create the index folder {root} ({e.strerror or e}): set [index] dir "
            "to a writable folder"
        ) from None
    path = root / ".lock"
    with open(path, "a+", encoding="utf-8") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            f.seek(0)
            holder = f.read().strip() or "another process"
            raise IndexBusy(
                f"another build is running on {root} ({holder}): wait for it to finish, "
                "or pass --wait to queue behind it"
            ) from None
        f.seek(0)
        f.truncate()
        f.write(f"pid {os.getpid()}")
        f.flush()
        try:
            yield
        finally:
            f.seek(0)
            f.truncate()
            fcntl.flock(f, fcntl.LOCK_UN)
