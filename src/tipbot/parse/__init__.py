"""Read the archive: one reader per input format, picked by sniffing each file.

Every reader is a pure function ``read(source, text, base_url) -> (posts, issues)``: it never
raises for bad content, it reports what it skipped as ``ReadIssue`` records naming file and
line. This module walks the corpus paths, decodes files, picks the reader, and drops duplicates.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from tipbot.parse import atom, blogger_text, jsonl, markdown
from tipbot.types import Post, ReadIssue

Reader = Callable[[str, str, str], tuple[list[Post], list[ReadIssue]]]

# Files larger than this are not read at all: nothing in a blog archive is this big, and reading
# it would only cost memory.
MAX_FILE_BYTES = 64 * 1024 * 1024
_SKIP_SUFFIXES = {".gz", ".zip", ".png", ".jpg", ".jpeg", ".gif", ".pdf", ".pyc"}


@dataclass(frozen=True, slots=True)
class CorpusRead:
    posts: tuple[Post, ...]
    issues: tuple[ReadIssue, ...]
    files: tuple[str, ...]  # every file looked at, read or not


def corpus_files(paths: Iterable[Path]) -> list[Path]:
    """Files under the corpus paths, sorted, hidden files and folders left out."""
    found: list[Path] = []
    for p in paths:
        if p.is_file():
            found.append(p)
        elif p.is_dir():
            for root, dirs, files in os.walk(p):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                found.extend(Path(root, f) for f in sorted(files) if not f.startswith("."))
    return found


def decode(data: bytes) -> tuple[str | None, str | None]:
    """Bytes → (text, problem). UTF-8 first; a legacy 8-bit file is read as cp1252/Latin-1."""
    if b"\x00" in data[:8192]:
        return None, "binary file (NUL bytes), skipped"
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        try:
            text = data.decode("cp1252")
        except UnicodeDecodeError:
            text = data.decode("latin-1")
    sample = text[:8192]
    controls = sum(1 for c in sample if ord(c) < 32 and c not in "\t\n\r\f")
    if sample and controls / len(sample) > 0.05:
        return None, "binary file (control characters), skipped"
    return text, None


def pick_reader(path: Path, text: str) -> Reader | None:
    head = text.lstrip()[:2048]
    suffix = path.suffix.lower()
    if suffix in {".jsonl", ".ndjson"} or (suffix in {"", ".json"} and head.startswith("{")):
        return jsonl.read
    if suffix in {".xml", ".atom"} or head.startswith("<?xml") or "<feed" in head[:500]:
        return atom.read
    if suffix in {".md", ".markdown"} or (suffix in {".html", ".htm"} and head.startswith("---")):
        return markdown.read
    if blogger_text.sniff(text):
        return blogger_text.read
    return None


def read_file(path: Path, base_url: str) -> tuple[list[Post], list[ReadIssue]]:
    source = str(path)
    if path.suffix.lower() in _SKIP_SUFFIXES:
        return [], [ReadIssue(source, f"not a text format tipbot reads ({path.suffix}), skipped")]
    try:
        size = path.stat().st_size
        if size == 0:
            return [], [ReadIssue(source, "empty file, skipped")]
        if size > MAX_FILE_BYTES:
            return [], [
                ReadIssue(source, f"{size} bytes is over the {MAX_FILE_BYTES} limit, skipped")
            ]
        data = path.read_bytes()
    except OSError as e:
        return [], [ReadIssue(source, f"cannot read: {e.strerror or e}")]
    text, problem = decode(data)
    if text is None:
        return [], [ReadIssue(source, problem or "cannot decode")]
    if not text.strip():
        return [], [ReadIssue(source, "empty file, skipped")]
    reader = pick_reader(path, text)
    if reader is None:
        return [], [
            ReadIssue(
                source,
                "format not recognised (expected a Blogger label page, Blogger Atom export, "
                "JSONL or Markdown with front matter), skipped",
            )
        ]
    return reader(source, text, base_url)


def read_corpus(paths: Iterable[Path], base_url: str) -> CorpusRead:
    """Read every file under ``paths``; the same post met twice is kept once (first wins)."""
    files = corpus_files(paths)
    posts: dict[str, Post] = {}
    issues: list[ReadIssue] = []
    for path in files:
        found, problems = read_file(path, base_url)
        issues.extend(problems)
        for post in found:
            if post.id in posts:
                if posts[post.id].fingerprint != post.fingerprint:
                    issues.append(
                        ReadIssue(
                            post.source,
                            f"post id {post.id!r} already read from "
                            f"{posts[post.id].source} with other content; first kept",
                        )
                    )
                continue
            posts[post.id] = post
    return CorpusRead(tuple(posts.values()), tuple(issues), tuple(str(f) for f in files))
