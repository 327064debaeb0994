"""Corpus → index build: full, or incremental (re-embed only what changed).

Both paths assemble rows in corpus order, so an update yields the same arrays a full build of
the same corpus would (vectors of unchanged posts are reused, not recomputed).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

import tipbot
from tipbot.chunk import Segmented, embed_text, enforce_model_limit, segment
from tipbot.config import Config, IndexKind
from tipbot.embed import Embedder
from tipbot.errors import CorpusError, IndexError_, IndexMismatch
from tipbot.index import dense, store
from tipbot.lexical import (
    analyze,
    count_matrix,
    prune_vocabulary,
    stack,
    stack_rows,
    term_ids,
    terms_present,
)
from tipbot.parse import CorpusRead, corpus_files, read_corpus
from tipbot.textutil import content_hash
from tipbot.tokens import encoding
from tipbot.types import Post, ReadIssue

Progress = Callable[[str, int, int], None]  # (stage, done so far, total)


@dataclass(frozen=True)
class BuildReport:
    build_dir: Path
    posts: int
    chunks: int
    sentences: int
    embedded_chunks: int  # chunks that went through the model this time
    reused_posts: int
    seconds: float
    issues: tuple[ReadIssue, ...]


def _stamp(path: Path) -> dict[str, Any]:
    """Size, mtime and sha256 of a corpus file; an unreadable file is stamped as such."""
    try:
        st = path.stat()
        return {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": _sha256(path)}
    except OSError as e:
        return {"unreadable": e.strerror or str(e)}


def file_stamps(cfg: Config) -> dict[str, dict[str, Any]]:
    """Every corpus file's stamp: what 'stale' is judged against."""
    return {str(p.resolve()): _stamp(p) for p in corpus_files(cfg.corpus.paths)}


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def corpus_changed(cfg: Config, manifest: dict[str, Any]) -> bool:
    """True when the corpus files differ from those the index was built from.

    Cheap on the common path: a file whose size and mtime match is not hashed again. A
    manifest that cannot tell counts as changed.
    """
    old = manifest.get("corpus_files")
    if not isinstance(old, dict):
        return True
    paths = corpus_files(cfg.corpus.paths)
    if {str(p.resolve()) for p in paths} != set(old):
        return True
    for p in paths:
        entry = old[str(p.resolve())]
        if not isinstance(entry, dict) or "unreadable" in entry or "size" not in entry:
            return True
        try:
            st = p.stat()
            if st.st_size != entry["size"]:
                return True
            if st.st_mtime_ns != entry.get("mtime_ns") and _sha256(p) != entry.get("sha256"):
                return True
        except OSError:
            return True
    return False


def corpus_present(cfg: Config) -> bool:
    return any(p.exists() for p in cfg.corpus.paths)


def settings(cfg: Config, embedder_name: str) -> dict[str, Any]:
    """The settings an index is only valid for: a change in any of them needs a full build."""
    return {
        "model": embedder_name,
        "tokenizer": str(cfg.chunking.tokenizer),  # the name, as the manifest holds it
        "max_tokens": cfg.chunking.max_tokens,
        "overlap_tokens": cfg.chunking.overlap_tokens,
    }


def check_settings(cfg: Config, manifest: dict[str, Any], embedder_name: str) -> None:
    want = settings(cfg, embedder_name)
    have = {k: manifest.get(k) for k in want}
    diff = [
        f"{k}: index has {have[k]!r}, config says {want[k]!r}" for k in want if have[k] != want[k]
    ]
    if diff:
        raise IndexMismatch(
            f"the index was built with other settings ({'; '.join(diff)}): run `tipbot index build`"
        )


def _read(cfg: Config, strict: bool) -> CorpusRead:
    config = cfg.source or "the config"
    missing = [p for p in cfg.corpus.paths if not p.exists()]
    if missing:
        # Checked first: a mistyped folder would otherwise silently drop its posts, or read as
        # an empty archive.
        names = ", ".join(str(p) for p in missing)
        raise CorpusError(
            f"corpus path {names} does not exist ([corpus] paths in {config}): create it and "
            "put the archive there, or set [corpus] paths to the folder that holds it"
        )
    read = read_corpus(cfg.corpus.paths, cfg.corpus.base_url)
    if not read.posts:
        where = ", ".join(str(p) for p in cfg.corpus.paths)
        first = f"; first: {read.issues[0]}" if read.issues else ""
        raise CorpusError(
            f"no posts found in {where} ({len(read.files)} files, {len(read.issues)} problems"
            f"{first}): put the archive there or set [corpus] paths in {config}"
        )
    if strict and read.issues:
        raise CorpusError(
            f"{len(read.issues)} problems in the corpus and --strict is set; "
            f"first: {read.issues[0]}"
        )
    return read


def _segment_all(cfg: Config, posts: Sequence[Post], embedder: Embedder) -> list[Segmented]:
    enc = encoding(cfg.chunking.tokenizer)
    segs = [segment(p, enc, cfg.chunking.max_tokens, cfg.chunking.overlap_tokens) for p in posts]
    return enforce_model_limit(segs, embedder.count_pieces, embedder.max_pieces)


def _embed(
    segs: Sequence[Segmented], embedder: Embedder, progress: Progress | None
) -> tuple[list[npt.NDArray[np.float32]], list[npt.NDArray[np.float32]]]:
    """Chunk and sentence vectors per post, from one length-sorted pass over the chunks.

    Sentence vectors are pooled from the chunk's own token vectors (see
    ``Embedder.encode_with_spans``), so quoting costs no second pass through the model. A
    sentence no chunk token covers (possible only when the model had to cut a chunk) is
    embedded on its own.
    """
    texts: list[str] = []
    spans: list[list[tuple[int, int, int]]] = []
    first_sentence = np.cumsum([0] + [len(s.sentences) for s in segs])
    for k, s in enumerate(segs):
        for c in s.chunks:
            shift = len(s.post.title) + 1 - c.start  # post offset → embed_text offset
            texts.append(embed_text(s.post, c))
            # The chunk's own sentences; one cut across two chunks (too long for the model)
            # pools the tokens it has in each.
            spans.append(
                [
                    (int(first_sentence[k]) + i, x.start + shift, x.end + shift)
                    for i in range(c.sentence_start, c.sentence_end)
                    for x in (s.sentences[i],)
                ]
            )
    n_sents = int(first_sentence[-1])
    done = 0

    def tick(n: int) -> None:
        nonlocal done
        done += n
        if progress:
            progress("embedding", done, len(texts))

    if not texts and n_sents == 0:
        # Only removals (or nothing) to apply: no reason to load the model.
        empty = np.zeros((0, embedder.dim), np.float32)
        return [empty] * len(segs), [empty] * len(segs)
    if progress:
        # Importing torch and sentence-transformers takes seconds: shown as its own step so
        # the embedding bar does not sit at zero meanwhile.
        progress("model", 0, 1)
    embedder.load()
    if progress:
        progress("model", 1, 1)
        progress("embedding", 0, len(texts))
    chunk_vecs, sent_vecs, counts = embedder.encode_with_spans(texts, spans, n_sents, tick)
    missing = np.flatnonzero(counts == 0)
    if missing.size:
        flat = [(s.post, x) for s in segs for x in s.sentences]
        sent_vecs[missing] = embedder.encode(
            [flat[i][0].text[flat[i][1].start : flat[i][1].end] for i in missing]
        )
    per_chunk, per_sent, ci = [], [], 0
    for k, s in enumerate(segs):
        per_chunk.append(chunk_vecs[ci : ci + len(s.chunks)])
        per_sent.append(sent_vecs[first_sentence[k] : first_sentence[k + 1]])
        ci += len(s.chunks)
    return per_chunk, per_sent


@dataclass
class _PostRows:
    """Everything the index holds about one post, ready to be stacked."""

    post: Post
    chunk_start: npt.NDArray[np.int32]
    chunk_end: npt.NDArray[np.int32]
    chunk_sent_start: npt.NDArray[np.int32]  # relative to the post's first sentence
    chunk_sent_end: npt.NDArray[np.int32]
    sent_start: npt.NDArray[np.int32]
    sent_end: npt.NDArray[np.int32]
    chunk_vectors: npt.NDArray[np.float32]
    sentence_vectors: npt.NDArray[np.float32]
    counts: sp.csr_matrix  # rows against the vocab
    sentence_terms: sp.csr_matrix  # which terms each sentence holds
    sent_title_share: npt.NDArray[np.float32]  # share of the title's terms each sentence repeats


def _rows_from_segment(
    seg: Segmented,
    cv: npt.NDArray[np.float32],
    sv: npt.NDArray[np.float32],
    vocab: dict[str, int],
) -> tuple[_PostRows, dict[str, int]]:
    chunks, sents = seg.chunks, seg.sentences
    counts, vocab = count_matrix([analyze(embed_text(seg.post, c)) for c in chunks], vocab)
    # Analysed once here so that quoting never runs the analyser over sentences per question.
    terms, vocab = count_matrix([analyze(seg.post.text[x.start : x.end]) for x in sents], vocab)
    title_ids = term_ids(vocab, analyze(seg.post.title))
    title_share = (
        terms_present(terms, 0, len(sents), title_ids).mean(axis=1)
        if title_ids.size
        else np.zeros(len(sents))
    )
    rows = _PostRows(
        post=seg.post,
        chunk_start=np.array([c.start for c in chunks], np.int32),
        chunk_end=np.array([c.end for c in chunks], np.int32),
        chunk_sent_start=np.array([c.sentence_start for c in chunks], np.int32),
        chunk_sent_end=np.array([c.sentence_end for c in chunks], np.int32),
        sent_start=np.array([s.start for s in sents], np.int32),
        sent_end=np.array([s.end for s in sents], np.int32),
        chunk_vectors=cv,
        sentence_vectors=sv,
        counts=counts,
        sentence_terms=terms,
        sent_title_share=title_share.astype(np.float32),
    )
    return rows, vocab


class _Reuse:
    """Rows of a previous build, sliced per post without scanning the whole index each time.

    Chunks and sentences are stored grouped by post, so a post's rows are one slice; the term
    counts are turned into row-major form once, so each slice is cheap.
    """

    def __init__(self, old: store.IndexData) -> None:
        self.old = old
        self.post_chunk = np.searchsorted(old.chunk_post, np.arange(len(old.posts) + 1))
        self.counts = old.lexical.counts.tocsr()
        self.index = {p.id: i for i, p in enumerate(old.posts)}

    def unchanged(self, post: Post) -> bool:
        i = self.index.get(post.id)
        return i is not None and self.old.posts[i].fingerprint == post.fingerprint

    def rows(self, post_id: str) -> _PostRows:
        old, i = self.old, self.index[post_id]
        c0, c1 = int(self.post_chunk[i]), int(self.post_chunk[i + 1])
        s0, s1 = int(old.post_sent[i]), int(old.post_sent[i + 1])
        return _PostRows(
            post=old.posts[i],
            chunk_start=old.chunk_start[c0:c1],
            chunk_end=old.chunk_end[c0:c1],
            chunk_sent_start=old.chunk_sent_start[c0:c1] - s0,
            chunk_sent_end=old.chunk_sent_end[c0:c1] - s0,
            sent_start=old.sent_start[s0:s1],
            sent_end=old.sent_end[s0:s1],
            chunk_vectors=np.asarray(old.chunk_vectors[c0:c1]),
            sentence_vectors=np.asarray(old.sentence_vectors[s0:s1]),
            counts=self.counts[c0:c1],
            sentence_terms=old.sentence_terms[s0:s1],
            sent_title_share=old.sent_title_share[s0:s1],
        )


def _assemble(
    rows: Sequence[_PostRows],
    vocab: dict[str, int],
    dim: int,
    manifest: dict[str, Any],
    kind: IndexKind,
) -> store.IndexData:
    n_chunks = [len(r.chunk_start) for r in rows]
    n_sents = [len(r.sent_start) for r in rows]
    post_sent = np.concatenate([[0], np.cumsum(n_sents)]).astype(np.int32)
    sent_offset = np.repeat(post_sent[:-1], n_chunks)
    epoch = dt.date(1970, 1, 1)
    vectors = (
        np.concatenate([r.chunk_vectors for r in rows]).astype(np.float32)
        if rows
        else np.zeros((0, dim), np.float32)
    )
    kind = dense.choose_kind(kind, len(vectors), manifest["exact_up_to"])
    manifest = {
        **manifest,
        "index_kind": kind,
        "posts": len(rows),
        "chunks": int(sum(n_chunks)),
        "sentences": int(sum(n_sents)),
    }
    lengths = [np.asarray(r.counts.sum(axis=1)).ravel().astype(np.float32) for r in rows]
    lexical = stack([(r.counts, ln) for r, ln in zip(rows, lengths, strict=True)], vocab)
    lexical, keep = prune_vocabulary(lexical)
    sentence_terms = stack_rows([r.sentence_terms for r in rows], len(vocab))[:, keep]
    return store.IndexData(
        manifest=manifest,
        posts=tuple(r.post for r in rows),
        chunk_post=np.repeat(np.arange(len(rows), dtype=np.int32), n_chunks),
        chunk_start=np.concatenate([r.chunk_start for r in rows]).astype(np.int32),
        chunk_end=np.concatenate([r.chunk_end for r in rows]).astype(np.int32),
        chunk_sent_start=(np.concatenate([r.chunk_sent_start for r in rows]) + sent_offset).astype(
            np.int32
        ),
        chunk_sent_end=(np.concatenate([r.chunk_sent_end for r in rows]) + sent_offset).astype(
            np.int32
        ),
        sent_post=np.repeat(np.arange(len(rows), dtype=np.int32), n_sents),
        sent_start=np.concatenate([r.sent_start for r in rows]).astype(np.int32),
        sent_end=np.concatenate([r.sent_end for r in rows]).astype(np.int32),
        post_sent=post_sent,
        post_days=np.array(
            [(r.post.date - epoch).days if r.post.date else store.NO_DATE for r in rows], np.int32
        ),
        chunk_vectors=vectors,
        sentence_vectors=np.concatenate([r.sentence_vectors for r in rows]).astype(np.float32),
        sent_title_share=np.concatenate([r.sent_title_share for r in rows]).astype(np.float32),
        dense=dense.build(vectors, kind),
        lexical=lexical,
        sentence_terms=sentence_terms.tocsr(),
    )


def _manifest(cfg: Config, embedder: Embedder, read: CorpusRead) -> dict[str, Any]:
    return {
        "format": store.FORMAT,
        "build_id": store.new_build_id(),
        "tipbot_version": tipbot.__version__,
        **settings(cfg, embedder.name),
        "dim": embedder.dim,
        "max_pieces": embedder.max_pieces,
        "exact_up_to": cfg.index.exact_up_to,
        "requested_kind": cfg.index.kind,
        "corpus_fingerprint": content_hash(*sorted(p.fingerprint for p in read.posts)),
        "corpus_files": file_stamps(cfg),
        "read_issues": len(read.issues),
        "built_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }


def _up_to_date(cfg: Config, manifest: dict[str, Any]) -> bool:
    """The published build is what an update would produce now."""
    return (
        manifest.get("requested_kind") == cfg.index.kind
        and manifest.get("exact_up_to") == cfg.index.exact_up_to
        and not corpus_changed(cfg, manifest)
    )


def build_index(
    cfg: Config,
    embedder: Embedder,
    progress: Progress | None = None,
    *,
    incremental: bool = False,
    strict: bool = False,
    wait: bool = False,
) -> BuildReport:
    """Build (or, with ``incremental``, update) the index in ``cfg.index.dir`` and publish it."""
    t0 = time.perf_counter()
    root = cfg.index.dir
    with store.build_lock(root, wait=wait):
        read = _read(cfg, strict)
        old = None
        if incremental:
            try:
                old = store.load_current(root)
                check_settings(cfg, old.manifest, embedder.name)
            except IndexError_:
                old = None  # nothing usable to reuse: a full build
        if old is not None and _up_to_date(cfg, old.manifest):
            # Nothing to do: typically another process built it while this one waited for the
            # lock (two `tipbot ask` started on a stale index). Publishing a copy would cost a
            # re-assembly (an HNSW graph rebuild at scale) and a reload in every bot.
            assert old.path is not None  # a loaded build knows its folder
            return BuildReport(
                build_dir=Path(old.path),
                posts=len(old.posts),
                chunks=int(old.manifest["chunks"]),
                sentences=int(old.manifest["sentences"]),
                embedded_chunks=0,
                reused_posts=len(old.posts),
                seconds=time.perf_counter() - t0,
                issues=read.issues,
            )
        reuse = _Reuse(old) if old is not None else None
        todo = [p for p in read.posts if reuse is None or not reuse.unchanged(p)]
        if progress:
            progress("chunking", 0, len(todo))
        segs = _segment_all(cfg, todo, embedder)
        if progress:
            progress("chunking", len(todo), len(todo))
        chunk_vecs, sent_vecs = _embed(segs, embedder, progress)
        fresh = {
            s.post.id: (s, cv, sv) for s, cv, sv in zip(segs, chunk_vecs, sent_vecs, strict=True)
        }
        vocab: dict[str, int] = dict(old.lexical.vocab) if old is not None else {}
        rows = []
        for post in read.posts:
            if post.id in fresh:
                r, vocab = _rows_from_segment(*fresh[post.id], vocab)
            else:
                assert reuse is not None  # only an unchanged post is not fresh
                r = reuse.rows(post.id)
            rows.append(r)
        data = _assemble(rows, vocab, embedder.dim, _manifest(cfg, embedder, read), cfg.index.kind)
        if progress:
            progress("writing", 0, 1)
        seconds = time.perf_counter() - t0
        data = dataclasses.replace(
            data, manifest={**data.manifest, "build_seconds": round(seconds, 2)}
        )
        try:
            build_dir = store.write_build(data, root)
            store.publish(root, build_dir)
        except OSError as e:
            # Disk full, permissions: the previous build still answers; say where and why.
            raise IndexError_(
                f"cannot write the index in {root} ({e.strerror or e}); the previous index "
                "still answers: free space or fix permissions, then run `tipbot index build`"
            ) from None
        if progress:
            progress("writing", 1, 1)
    return BuildReport(
        build_dir=build_dir,
        posts=len(rows),
        chunks=int(data.manifest["chunks"]),
        sentences=int(data.manifest["sentences"]),
        embedded_chunks=sum(len(s.chunks) for s in segs),
        reused_posts=len(read.posts) - len(todo),
        seconds=time.perf_counter() - t0,
        issues=read.issues,
    )
